import type { PricedUsage } from '../../pricing/priced-usage.ts';
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

const HEX_IDS = /^[0-9a-f]{32}[0-9a-f]{16}$/;

/**
 * The dedup key of a span: trace id + span id as 24 raw bytes (half the size of the hex text). Ids that are not
 * the usual hex are kept as their UTF-8 text, behind a 0xff byte so they can never collide with a hex pair.
 */
export function spanKey(traceId: string, spanId: string): Uint8Array {
  const joined = (traceId + spanId).toLowerCase();
  if (HEX_IDS.test(joined)) return Buffer.from(joined, 'hex');
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
