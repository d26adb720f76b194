import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import { NO_USER_ID } from '../metrics/usage-metrics.ts';

export const MS_PER_HOUR = 3_600_000;
export const HOURS_PER_DAY = 24;

/** The identity of one ledger series: everything a row is grouped by except the hour. */
export interface SeriesIdentity {
  readonly userId: string;
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly isError: boolean;
  /** canonicalProperties() of the call's properties. */
  readonly propertiesJson: string;
}

/** What a batch adds to one series in one UTC hour. Integers only, so that sums never drift. */
export interface HourlyDelta {
  readonly series: SeriesIdentity;
  readonly seriesKey: string;
  readonly hour: number;
  requests: number;
  unpricedRequests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costNanoUsd: number;
  durationMicros: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** The ledger key of a call's user: calls naming no user count under the same id as on /metrics. */
export function ledgerUserId(record: PricedUsage): string {
  return record.userId ?? NO_USER_ID;
}

/** The properties as JSON with sorted keys, so the same set always gives the same text (and the same row). */
export function canonicalProperties(properties: Readonly<Record<string, string>>): string {
  const names = Object.keys(properties).sort();
  const sorted: Record<string, string> = {};
  for (const name of names) sorted[name] = properties[name]!;
  return JSON.stringify(sorted);
}

/**
 * The dedup identity of a span: the time it ended (ms) and a 53-bit hash of trace id + span id. Keyed by end time
 * first, the dedup tables grow at their tail (spans arrive roughly in the order they ended), so a group commit
 * touches a few pages instead of one random page per span; a retry carries the same end time. Two spans collide only
 * when they ended in the same millisecond and their hashes agree (about 1 in 2^53).
 */
export interface SpanIdentity {
  readonly endMs: number;
  readonly idHash: number;
}

export function spanIdentity(record: Pick<UsageRecord, 'traceId' | 'spanId' | 'endTimeMs'>): SpanIdentity {
  return { endMs: Math.floor(record.endTimeMs), idHash: spanIdHash(record.traceId, record.spanId) };
}

/** The text form of a SpanIdentity, for in-memory sets. */
export function spanIdentityText(identity: SpanIdentity): string {
  return `${identity.endMs}:${identity.idHash}`;
}

/**
 * 53 bits (a safe integer) of two independently seeded 32-bit lanes over trace id, a separator and span id; hex
 * digits A-F count as a-f so both spellings of a hex id are the same span.
 */
export function spanIdHash(traceId: string, spanId: string): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  const mix = (code: number) => {
    const c = code >= 65 && code <= 70 ? code | 0x20 : code;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  };
  for (let index = 0; index < traceId.length; index++) mix(traceId.charCodeAt(index));
  mix(0x2f);
  for (let index = 0; index < spanId.length; index++) mix(spanId.charCodeAt(index));
  return (finalMix(a) & 0x1fffff) * 0x1_0000_0000 + finalMix(b ^ a);
}

/** murmur3's avalanche step: every input bit affects every output bit. Unsigned result. */
function finalMix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The v1 dedup key (trace id + span id as 24 raw bytes, other ids as UTF-8 behind 0xff), still read while a ledger
 * migrated from schema 1 has keys of that form within the dedup window.
 */
export function legacySpanKey(traceId: string, spanId: string): Uint8Array {
  const joined = (traceId + spanId).toLowerCase();
  if (/^[0-9a-f]{48}$/.test(joined)) return Buffer.from(joined, 'hex');
  return Buffer.concat([Buffer.from([0xff]), Buffer.from(`${traceId}\u0000${spanId}`, 'utf8')]);
}

export function seriesKeyOf(series: SeriesIdentity): string {
  return JSON.stringify([series.userId, series.provider, series.model, series.operation, series.isError, series.propertiesJson]);
}

/** Whole microseconds; a negative or missing duration counts as 0 rather than poisoning the sum. */
export function durationMicros(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1e6) : 0;
}

/** Sums records into one delta per series and UTC hour of the call's end. */
export function foldIntoHourlyDeltas(records: Iterable<PricedUsage>): Map<string, HourlyDelta> {
  const deltas = new Map<string, HourlyDelta>();
  const propertiesText = new Map<Readonly<Record<string, string>>, string>();
  for (const record of records) {
    let propertiesJson = propertiesText.get(record.properties);
    if (propertiesJson === undefined) {
      propertiesJson = canonicalProperties(record.properties);
      propertiesText.set(record.properties, propertiesJson);
    }
    const series: SeriesIdentity = {
      userId: ledgerUserId(record),
      provider: record.provider,
      model: record.model,
      operation: record.operation,
      isError: record.isError,
      propertiesJson,
    };
    const seriesKey = seriesKeyOf(series);
    const hour = Math.floor(record.endTimeMs / MS_PER_HOUR);
    const key = `${hour}\u0000${seriesKey}`;
    let delta = deltas.get(key);
    if (delta === undefined) {
      delta = {
        series, seriesKey, hour,
        requests: 0, unpricedRequests: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0,
        reasoningTokens: 0, costNanoUsd: 0, durationMicros: 0, firstSeenMs: record.endTimeMs, lastSeenMs: record.endTimeMs,
      };
      deltas.set(key, delta);
    }
    delta.requests += 1;
    if (!record.priced) delta.unpricedRequests += 1;
    delta.inputTokens += record.tokens.input;
    delta.outputTokens += record.tokens.output;
    delta.cacheReadTokens += record.tokens.cacheRead;
    delta.cacheWriteTokens += record.tokens.cacheWrite;
    delta.reasoningTokens += record.tokens.reasoning;
    delta.costNanoUsd += record.costNanoUsd;
    delta.durationMicros += durationMicros(record.durationSeconds);
    if (record.endTimeMs < delta.firstSeenMs) delta.firstSeenMs = record.endTimeMs;
    if (record.endTimeMs > delta.lastSeenMs) delta.lastSeenMs = record.endTimeMs;
  }
  return deltas;
}

/** `YYYY-MM-DD` of a day number (days since the epoch, UTC). */
export function dayText(day: number): string {
  return new Date(day * HOURS_PER_DAY * MS_PER_HOUR).toISOString().slice(0, 10);
}
