/**
 * The mixed-source benchmark batch (bench/mixed-sources.ts) measures what it claims: every source's shapes are in
 * it, each recognised by its own module, with whole traces, so that every call is decided within the export (none
 * waits for an ancestor) and the spans that are not calls (AI SDK parents, agents, the Anthropic SDK's span beneath
 * another instrumentation's) are not counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serializeJson, serializeProtobuf } from '../../bench/fixtures.ts';
import { makeMixedBatch, MIXED_SOURCES } from '../../bench/mixed-sources.ts';
import { CallAttributor } from '../../src/attribution/attributor.ts';
import { decodeJson } from '../../src/decode/json.ts';
import { decodeProtobuf } from '../../src/decode/protobuf.ts';
import { ANTHROPIC_SDK_SCOPE } from '../../src/sources/anthropic-sdk.ts';
import { createSpanReader } from '../../src/sources/index.ts';

const read = createSpanReader();

describe('the mixed-source benchmark batch', () => {
  const spans = makeMixedBatch({ spans: 512, users: 1000, seed: 7 });
  const body = serializeProtobuf(spans);
  const decoded = decodeProtobuf(body);

  it('has exactly the spans asked for, decodes without rejections, and is the same for the same seed', () => {
    assert.equal(spans.length, 512);
    assert.equal(decoded.spans.length, 512);
    assert.deepEqual(decoded.rejected, []);
    assert.deepEqual(serializeProtobuf(makeMixedBatch({ spans: 512, users: 1000, seed: 7 })), body);
    assert.notDeepEqual(serializeProtobuf(makeMixedBatch({ spans: 512, users: 1000, seed: 8 })), body);
    assert.equal(decodeJson(serializeJson(spans)).spans.length, 512, 'the JSON form too');
  });

  it('contains a call of every supported source, each read by its own module', () => {
    const sources = new Map<string, number>();
    for (const span of decoded.spans) {
      const source = read(span).call?.record.source;
      if (source !== undefined) sources.set(source, (sources.get(source) ?? 0) + 1);
    }
    for (const source of MIXED_SOURCES) assert.ok((sources.get(source) ?? 0) >= 5, `${source}: ${sources.get(source) ?? 0} calls`);
    assert.equal(sources.get('genai'), undefined, 'no span fell through to the plain conventions');
  });

  it('decides every call within the export: users from ancestors, the wrapped Anthropic SDK spans as duplicates', () => {
    const readings = decoded.spans.map(read);
    const attributor = new CallAttributor({ waitMs: 30_000, maxSpans: 100_000 });
    const { ready, waiting, duplicates } = attributor.accept(readings, Date.now());
    assert.equal(waiting.length, 0, 'no call waits for a later export');
    assert.equal(attributor.waitingCalls, 0);
    const wrapped = decoded.spans.filter((span) => span.scopeName === ANTHROPIC_SDK_SCOPE && span.parentSpanId !== '').length;
    assert.ok(wrapped > 0);
    assert.equal(duplicates, wrapped);
    const calls = readings.filter((reading) => reading.call !== undefined).length;
    assert.equal(ready.length, calls - wrapped, 'every other call counted once');
    // Only OpenLIT's failed calls name no user anywhere in their trace (it drops user.id on failures).
    const withoutUser = ready.filter((record) => record.userId === undefined);
    assert.ok(withoutUser.every((record) => record.source === 'openlit' && record.isError), JSON.stringify(withoutUser.map((r) => r.source)));
    const vercel7 = ready.filter((record) => record.source === 'vercel-ai7');
    assert.ok(vercel7.length > 0 && vercel7.every((record) => record.userId !== undefined), 'AI SDK 7 chat spans took the user of invoke_agent/step');
  });

  it('rejects impossible options with a clear error', () => {
    assert.throws(() => makeMixedBatch({ spans: -1, users: 10 }), /spans must be a non-negative integer/);
    assert.throws(() => makeMixedBatch({ spans: 10, users: 0 }), /users must be a positive integer/);
    assert.throws(() => makeMixedBatch({ spans: 10, users: 10, errorShare: 2 }), /errorShare must be within 0..1/);
  });
});
