import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallAttributor } from '../../src/attribution/attributor.ts';
import type { DecodedSpan } from '../../src/decode/span.ts';
import { createSpanReader } from '../../src/sources/index.ts';
import { span } from '../helpers/spans.ts';

const read = createSpanReader();
const TRACE = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const id = (n: number) => n.toString(16).padStart(16, '0');

function at(n: number, parent: number | '', attributes: DecodedSpan['attributes'], extra: Partial<DecodedSpan> = {}): DecodedSpan {
  return span(attributes, { traceId: TRACE, spanId: id(n), parentSpanId: parent === '' ? '' : id(parent), ...extra });
}

const chatCall = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 };
const T0 = 1_000_000;

describe('attributing calls to users on ancestor spans', () => {
  it('counts a call that names its user at once, and a root call without user at once', () => {
    const attributor = new CallAttributor({ waitMs: 30_000, maxSpans: 100 });
    const { ready } = attributor.accept([at(1, 9, { ...chatCall, 'user.id': 'u' }), at(2, '', chatCall)].map(read), T0);
    assert.deepEqual(ready.map((r) => r.userId), ['u', undefined]);
    assert.equal(attributor.waitingCalls, 0);
  });

  it('waits for a later export with the ancestor (AI SDK 7: chat > step > invoke_agent), through a span without user', () => {
    const attributor = new CallAttributor({ waitMs: 30_000, maxSpans: 100 });
    assert.equal(attributor.accept([at(3, 2, chatCall, { scopeName: 'gen_ai' })].map(read), T0).ready.length, 0);
    assert.equal(attributor.waitingCalls, 1);
    const middle = attributor.accept([at(2, 1, { 'gen_ai.operation.name': 'agent_step' }, { scopeName: 'gen_ai' })].map(read), T0 + 10);
    assert.equal(middle.ready.length, 0, 'the step names no user: keep waiting for its parent');
    const { ready } = attributor.accept([at(1, '', {
      'gen_ai.operation.name': 'invoke_agent', 'gen_ai.usage.input_tokens': 10, 'ai.settings.context.userId': 'alice', 'ai.settings.context.plan': 'pro',
    }, { scopeName: 'gen_ai' })].map(read), T0 + 20);
    assert.equal(ready.length, 1, 'one call counted, not the agent span too');
    assert.equal(ready[0]!.userId, 'alice');
    assert.deepEqual(ready[0]!.properties, { plan: 'pro' });
    assert.equal(attributor.waitingCalls, 0);
  });

  it('uses an ancestor that arrived first (another service exporting earlier), and the same export in any order', () => {
    const attributor = new CallAttributor({ waitMs: 30_000, maxSpans: 100 });
    attributor.accept([at(1, '', { 'http.request.method': 'POST', 'enduser.id': 'bob' }, { kind: 2 })].map(read), T0);
    assert.equal(attributor.accept([at(2, 1, chatCall)].map(read), T0 + 5).ready[0]?.userId, 'bob');
    const other = new CallAttributor({ waitMs: 30_000, maxSpans: 100 });
    const { ready } = other.accept([at(5, 4, chatCall), at(4, '', { 'enduser.id': 'carol' })].map(read), T0);
    assert.equal(ready[0]?.userId, 'carol');
  });

  it('counts a call under no user when its ancestor never comes, once, after the wait', () => {
    const attributor = new CallAttributor({ waitMs: 5_000, maxSpans: 100 });
    attributor.accept([at(2, 1, chatCall)].map(read), T0);
    assert.deepEqual(attributor.expire(T0 + 4_999), []);
    const expired = attributor.expire(T0 + 5_000);
    assert.equal(expired.length, 1);
    assert.equal(expired[0]!.userId, undefined);
    assert.deepEqual(attributor.expire(T0 + 60_000), []);
    assert.equal(attributor.accept([at(1, '', { 'user.id': 'late' })].map(read), T0 + 6_000).ready.length, 0, 'not counted again');
  });

  it('drops the Anthropic SDK span inside another instrumentation span of the same call, keeps it alone', () => {
    const sdk = { 'gen_ai.provider.name': 'anthropic', 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'claude-sonnet-4-20250514', 'gen_ai.usage.input_tokens': 2400, 'gen_ai.usage.output_tokens': 1000 };
    const attributor = new CallAttributor({ waitMs: 30_000, maxSpans: 100 });
    const first = attributor.accept([at(2, 1, { ...sdk, 'user.id': 'from-baggage' }, { scopeName: 'com.anthropic.sdk.typescript' })].map(read), T0);
    assert.equal(first.ready.length, 0, 'waits for its parent even with a user');
    const second = attributor.accept([at(1, '', { ...sdk, 'gen_ai.usage.input_tokens': 2000, 'user.id': 'u', 'llm_user_metrics.instrumented': true })].map(read), T0 + 1);
    assert.equal(second.duplicates, 1);
    assert.deepEqual(second.ready.map((r) => r.source), ['llm-user-metrics']);

    const alone = new CallAttributor({ waitMs: 30_000, maxSpans: 100 });
    const sdkSpans = [at(11, 10, sdk, { scopeName: 'com.anthropic.sdk.typescript' }), at(10, '', { 'user.id': 'app-user' }, { name: 'handle request' })];
    const { ready, duplicates } = alone.accept(sdkSpans.map(read), T0);
    assert.equal(duplicates, 0);
    assert.deepEqual(ready.map((r) => [r.source, r.userId]), [['anthropic-sdk', 'app-user']]);
  });

  it('keeps memory bounded: forgets old spans first, then counts the oldest waiting calls as they are', () => {
    const attributor = new CallAttributor({ waitMs: 60_000, maxSpans: 10 });
    let released = 0;
    for (let n = 0; n < 40; n++) {
      const traceId = n.toString(16).padStart(32, '0');
      released += attributor.accept([read(span(chatCall, { traceId, spanId: id(n + 100), parentSpanId: id(n + 1000) }))], T0 + n).ready.length;
      assert.ok(attributor.waitingCalls + attributor.rememberedSpans <= 10);
    }
    assert.equal(released + attributor.waitingCalls, 40, 'no call lost');
    assert.equal(attributor.releaseAll().length + released, 40);
  });

  it('forgets remembered spans after the wait', () => {
    const attributor = new CallAttributor({ waitMs: 1_000, maxSpans: 100 });
    attributor.accept([at(1, '', { 'user.id': 'u' })].map(read), T0);
    assert.equal(attributor.rememberedSpans, 1);
    attributor.expire(T0 + 2_000);
    assert.equal(attributor.rememberedSpans, 0);
  });

  it('ends a walk through cyclic parent links', () => {
    const attributor = new CallAttributor({ waitMs: 1_000, maxSpans: 100 });
    const { ready } = attributor.accept([at(1, 2, chatCall), at(2, 3, {}), at(3, 2, { 'x': 1 })].map(read), T0);
    assert.equal(ready.length + attributor.waitingCalls, 1);
  });
});
