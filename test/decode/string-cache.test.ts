import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../bench/fixtures.ts';
import { MAX_INTERNED_BYTES, StringCache } from '../../src/decode/string-cache.ts';

function countingCache() {
  const counter = { decodes: 0 };
  const cache = new StringCache((buffer, start, end) => {
    counter.decodes++;
    return Buffer.from(buffer.buffer, buffer.byteOffset + start, end - start).toString('utf8');
  });
  return { cache, counter };
}

/** Lays strings out in one buffer, as they sit in a protobuf body, and returns where each one is. */
function layout(strings: readonly string[]): { buffer: Buffer; spans: Array<[number, number]> } {
  const parts = strings.map((s) => Buffer.from(s, 'utf8'));
  const spans: Array<[number, number]> = [];
  let at = 0;
  for (const part of parts) {
    spans.push([at, at + part.length]);
    at += part.length;
  }
  return { buffer: Buffer.concat(parts), spans };
}

describe('StringCache', () => {
  it('always returns the string of the bytes asked for, among thousands of colliding strings', () => {
    const random = seededRandom(99);
    // 20,000 distinct short strings over 4,096 slots: many share a slot; each is asked for several times.
    const pool = Array.from({ length: 20_000 }, (_, i) => `k${i}.${Math.floor(random() * 1e6).toString(36)}`);
    const asked = Array.from({ length: 100_000 }, () => pool[Math.floor(random() ** 2 * pool.length)] as string);
    const { buffer, spans } = layout(asked);
    const { cache } = countingCache();
    for (let i = 0; i < asked.length; i++) {
      const [start, end] = spans[i] as [number, number];
      assert.equal(cache.get(buffer, start, end), asked[i]);
    }
  });

  it('decodes a repeated key once, not once per occurrence', () => {
    const keys = ['gen_ai.usage.input_tokens', 'user.id', 'gen_ai.request.model', 'naïve 日本'];
    const { buffer, spans } = layout(Array.from({ length: 400 }, (_, i) => keys[i % keys.length] as string));
    const { cache, counter } = countingCache();
    for (const [start, end] of spans) cache.get(buffer, start, end);
    assert.equal(counter.decodes, keys.length);
  });

  it('keeps a string seen on every span when unique strings pass through the same slots', () => {
    const random = seededRandom(5);
    const { cache, counter } = countingCache();
    const key = 'llm_user_metrics.property.plan';
    const sequence: string[] = [];
    for (let i = 0; i < 5000; i++) sequence.push(key, `chatcmpl-${Math.floor(random() * 1e15).toString(36)}`);
    const { buffer, spans } = layout(sequence);
    for (const [start, end] of spans) cache.get(buffer, start, end);
    // One decode for the key; every unique id is decoded, none of them evicts the key.
    assert.equal(counter.decodes, 1 + 5000);
  });

  it('decodes strings past the length limit every time, and returns empty strings without decoding', () => {
    const long = 'x'.repeat(MAX_INTERNED_BYTES + 1);
    const { buffer, spans } = layout([long, long, '']);
    const { cache, counter } = countingCache();
    for (const [start, end] of spans.slice(0, 2)) assert.equal(cache.get(buffer, start, end), long);
    assert.equal(cache.get(buffer, spans[2]?.[0] ?? 0, spans[2]?.[1] ?? 0), '');
    assert.equal(counter.decodes, 2);
  });
});
