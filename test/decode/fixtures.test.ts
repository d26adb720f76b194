/** The benchmark and test batches: reproducible, realistic in the ways the processor cares about. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeBatch, serializeJson, serializeProtobuf } from '../../bench/fixtures.ts';

describe('makeBatch', () => {
  it('makes the same bytes from the same seed, and other bytes from another', () => {
    const a = serializeProtobuf(makeBatch({ spans: 100, users: 20, seed: 4 }));
    const b = serializeProtobuf(makeBatch({ spans: 100, users: 20, seed: 4 }));
    const c = serializeProtobuf(makeBatch({ spans: 100, users: 20, seed: 5 }));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('makes a 512-span batch of LLM calls with ~16 attributes, users spread over the requested count, HTTP spans mixed in', () => {
    const spans = makeBatch({ spans: 512, users: 1000, seed: 1 });
    assert.equal(spans.length, 512);
    const llm = spans.filter((span) => span.attributes['gen_ai.operation.name'] !== undefined);
    const http = spans.filter((span) => span.attributes['http.request.method'] !== undefined);
    assert.equal(llm.length + http.length, 512);
    assert.ok(http.length >= 25 && http.length <= 80, `${http.length} HTTP spans`);
    const meanAttributes = llm.reduce((sum, span) => sum + Object.keys(span.attributes).length, 0) / llm.length;
    assert.ok(meanAttributes >= 14 && meanAttributes <= 18, `mean ${meanAttributes} attributes per LLM span`);

    const users = new Set(llm.map((span) => span.attributes['user.id']));
    assert.ok(users.size > 100 && users.size <= 1000, `${users.size} distinct users`);
    const models = new Set(llm.map((span) => span.attributes['gen_ai.request.model']));
    assert.deepEqual([...models].sort(), ['claude-3-5-haiku-20241022', 'claude-sonnet-4-20250514', 'gpt-4.1', 'gpt-4o-mini', 'text-embedding-3-small']);
    assert.deepEqual(new Set(llm.map((span) => span.attributes['gen_ai.provider.name'])), new Set(['openai', 'anthropic']));
    assert.deepEqual(new Set(llm.map((span) => span.attributes['llm_user_metrics.property.plan'])), new Set(['free', 'pro', 'premium']));
    assert.ok(llm.some((span) => span.attributes['gen_ai.usage.cache_read.input_tokens'] !== undefined));
    assert.ok(llm.some((span) => span.attributes['gen_ai.operation.name'] === 'embeddings'));

    // LLM calls run under the HTTP request of their trace.
    const httpIds = new Set(http.map((span) => span.spanContext().spanId));
    assert.ok(llm.every((span) => httpIds.has(span.parentSpanContext?.spanId ?? '')));
  });

  it('gives each user one plan', () => {
    const plans = new Map<unknown, Set<unknown>>();
    for (const span of makeBatch({ spans: 2000, users: 50, seed: 2 })) {
      const user = span.attributes['user.id'];
      if (user === undefined) continue;
      if (!plans.has(user)) plans.set(user, new Set());
      plans.get(user)?.add(span.attributes['llm_user_metrics.property.plan']);
    }
    for (const [user, set] of plans) assert.equal(set.size, 1, `${String(user)} has plans ${[...set].join(', ')}`);
  });

  it('serializes to protobuf and JSON of the expected sizes', () => {
    const spans = makeBatch({ spans: 512, users: 1000 });
    const protobuf = serializeProtobuf(spans);
    const json = serializeJson(spans);
    assert.ok(protobuf.length > 250_000 && protobuf.length < 450_000, `${protobuf.length} protobuf bytes`);
    assert.ok(json.length > protobuf.length * 1.5, `${json.length} JSON bytes`);
    assert.equal(JSON.parse(new TextDecoder().decode(json)).resourceSpans[0].scopeSpans.length, 2);
  });

  it('refuses nonsense counts', () => {
    assert.throws(() => makeBatch({ spans: -1, users: 1 }), RangeError);
    assert.throws(() => makeBatch({ spans: 10, users: 0 }), RangeError);
  });
});
