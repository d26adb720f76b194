import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { createSpanReader, DEFAULT_SOURCE_OPTIONS, MalformedSpanError } from '../../src/sources/index.ts';
import { isReservedUserId, limitViolation } from '../../src/sources/limits.ts';
import { NO_USER_ID, OVERFLOW_USER_ID } from '../../src/sinks/metrics/usage-metrics.ts';
import { span as decodedSpan } from '../helpers/spans.ts';

const { callLimits } = loadConfig({});

function genAiSpan(endTimeMs: number, attributes: Record<string, string | number>) {
  return decodedSpan({
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o', 'user.id': 'u', ...attributes,
  }, { endTimeMs, startTimeMs: endTimeMs - 1500 });
}

describe('call limits', () => {
  const now = Date.UTC(2026, 11, 6, 12);
  const read = createSpanReader({ ...DEFAULT_SOURCE_OPTIONS, limits: callLimits, now: () => now });

  it('the processor\'s own series ids are reserved, and ordinary ids are not', () => {
    assert.ok(isReservedUserId(NO_USER_ID));
    assert.ok(isReservedUserId(OVERFLOW_USER_ID));
    for (const id of ['__', '___', '_x_', '__x', 'user__', 'a__b__']) assert.ok(!isReservedUserId(id), id);
  });

  it('takes a call at every ceiling, and rejects one token or one millisecond past it', () => {
    const max = callLimits.maxTokensPerCall;
    assert.ok(read(genAiSpan(now, { 'gen_ai.usage.input_tokens': max, 'gen_ai.usage.output_tokens': 0 })).call);
    assert.throws(() => read(genAiSpan(now, { 'gen_ai.usage.input_tokens': max, 'gen_ai.usage.output_tokens': 1 })),
      (error: Error) => error instanceof MalformedSpanError && /token usage: 100000001 tokens/.test(error.message));
    assert.ok(read(genAiSpan(now - callLimits.maxSpanAgeMs, {})).call);
    assert.throws(() => read(genAiSpan(now - callLimits.maxSpanAgeMs - 1, {})), /MAX_SPAN_AGE_HOURS \(744\)/);
    assert.ok(read(genAiSpan(now + callLimits.maxClockSkewMs, {})).call);
    assert.throws(() => read(genAiSpan(now + callLimits.maxClockSkewMs + 1, {})), /MAX_CLOCK_SKEW_SECONDS \(600\)/);
  });

  it('a long call is rejected by its duration, naming the two times', () => {
    const span = { ...genAiSpan(now, {}), startTimeMs: now - callLimits.maxCallSeconds * 1000 - 1 };
    const record = createSpanReader(DEFAULT_SOURCE_OPTIONS)(span).call!.record;
    assert.match(limitViolation(record, span, callLimits, now)!, /end_time_unix_nano - start_time_unix_nano/);
  });

  it('a span naming a reserved user id is rejected even when it is not an LLM call (it would lend the id)', () => {
    const span = decodedSpan({ 'enduser.id': '__overflow__' }, { name: 'GET /chat', kind: 2 });
    assert.throws(() => read(span), /enduser\.id: "__overflow__" is reserved/);
  });

  it('the ceilings are settings, validated', () => {
    const config = loadConfig({ MAX_TOKENS_PER_CALL: '5', MAX_CALL_SECONDS: '7', MAX_SPAN_AGE_HOURS: '2', MAX_CLOCK_SKEW_SECONDS: '0' });
    assert.deepEqual(config.callLimits, { maxTokensPerCall: 5, maxCallSeconds: 7, maxSpanAgeMs: 7_200_000, maxClockSkewMs: 0 });
    assert.throws(() => loadConfig({ MAX_TOKENS_PER_CALL: '0' }), /MAX_TOKENS_PER_CALL/);
    assert.throws(() => loadConfig({ MAX_TOKENS_PER_CALL: '9007199254740992' }), /MAX_TOKENS_PER_CALL/);
    assert.throws(() => loadConfig({ MAX_SPAN_AGE_HOURS: '-1' }), /MAX_SPAN_AGE_HOURS/);
  });
});
