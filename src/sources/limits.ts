import type { DecodedSpan } from '../decode/span.ts';
import type { UsageRecord } from './usage-record.ts';

/**
 * Ceilings on what one call may claim (MAX_TOKENS_PER_CALL, MAX_CALL_SECONDS, MAX_SPAN_AGE_HOURS,
 * MAX_CLOCK_SKEW_SECONDS). Anyone who reaches the port can send a span, and a single absurd value (2^53 tokens, a
 * call of 56 years, an end time in 2554) would otherwise be summed into every total that holds it.
 */
export interface CallLimits {
  /** Input, output, cache read and cache write together. */
  readonly maxTokensPerCall: number;
  readonly maxCallSeconds: number;
  /** How far before the processor's clock a call may have ended. */
  readonly maxSpanAgeMs: number;
  /** How far after the processor's clock a call may have ended (the sender's clock runs ahead). */
  readonly maxClockSkewMs: number;
}

/**
 * User ids of the form `__name__` belong to the processor's own series (`__no_user__`, `__overflow__`): a span
 * naming one would merge its calls into them.
 */
export function isReservedUserId(userId: string): boolean {
  return userId.length >= 4 && userId.startsWith('__') && userId.endsWith('__');
}

const MS_PER_HOUR = 3_600_000;

/**
 * Why a call breaks a ceiling, naming the attribute or field, or undefined when it keeps to them all. `nowMs` is the
 * processor's clock when the span arrived.
 */
export function limitViolation(record: UsageRecord, span: DecodedSpan, limits: CallLimits, nowMs: number): string | undefined {
  const { tokens } = record;
  const total = tokens.input + tokens.output + tokens.cacheRead + tokens.cacheWrite;
  if (!(total <= limits.maxTokensPerCall)) {
    return `${tokenAttributeOver(span, limits.maxTokensPerCall) ?? 'token usage'}: ${total} tokens in one call is above `
      + `MAX_TOKENS_PER_CALL (${limits.maxTokensPerCall})`;
  }
  if (!(record.durationSeconds <= limits.maxCallSeconds)) {
    return `end_time_unix_nano - start_time_unix_nano: a call of ${record.durationSeconds} s is above MAX_CALL_SECONDS `
      + `(${limits.maxCallSeconds})`;
  }
  const ttft = record.timeToFirstTokenSeconds;
  if (ttft !== undefined && !(ttft >= 0 && ttft <= limits.maxCallSeconds)) {
    return `time to first token of ${ttft} s is outside 0 to MAX_CALL_SECONDS (${limits.maxCallSeconds})`;
  }
  if (!(record.endTimeMs >= nowMs - limits.maxSpanAgeMs)) {
    return `end_time_unix_nano: ended ${describeTime(record.endTimeMs)}, more than MAX_SPAN_AGE_HOURS `
      + `(${limits.maxSpanAgeMs / MS_PER_HOUR}) before the processor's clock`;
  }
  if (!(record.endTimeMs <= nowMs + limits.maxClockSkewMs)) {
    return `end_time_unix_nano: ended ${describeTime(record.endTimeMs)}, more than MAX_CLOCK_SKEW_SECONDS `
      + `(${limits.maxClockSkewMs / 1000}) after the processor's clock`;
  }
  return undefined;
}

/** The span attribute that says the most tokens past `ceiling`, to name in the rejection; only read on that path. */
function tokenAttributeOver(span: DecodedSpan, ceiling: number): string | undefined {
  let worst: string | undefined;
  let worstValue = ceiling;
  for (const key in span.attributes) {
    if (!key.includes('token')) continue;
    const raw = span.attributes[key];
    const value = typeof raw === 'string' ? Number(raw) : raw;
    if (typeof value === 'number' && value > worstValue) {
      worst = key;
      worstValue = value;
    }
  }
  return worst;
}

function describeTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `at ${ms} ms since the epoch` : `at ${date.toISOString()}`;
}
