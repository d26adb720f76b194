import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import { NO_USER_ID } from '../metrics/usage-metrics.ts';

export const MS_PER_HOUR = 3_600_000;
export const HOURS_PER_DAY = 24;

/** The ledger key of a call's user: calls naming no user count under the same id as on /metrics. */
export function ledgerUserId(record: PricedUsage): string {
  return record.userId ?? NO_USER_ID;
}

/** The properties as JSON with sorted keys, so the same set always gives the same text (and the same row). */
export function canonicalProperties(properties: Readonly<Record<string, string>>): string {
  const names = Object.keys(properties);
  // Usually the names come sorted already (and there are few): then the object prints as it is.
  let sorted = true;
  for (let index = 1; index < names.length && sorted; index++) sorted = names[index - 1]! < names[index]!;
  if (sorted) return JSON.stringify(properties);
  names.sort();
  const copy: Record<string, string> = {};
  // Defined rather than assigned, so that a property named __proto__ is copied like any other.
  for (const name of names) Object.defineProperty(copy, name, { value: properties[name], enumerable: true, writable: true, configurable: true });
  return JSON.stringify(copy);
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

/** Whole microseconds; a negative or missing duration counts as 0 rather than poisoning the sum. */
export function durationMicros(seconds: number): number {
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1e6) : 0;
}

/** `YYYY-MM-DD` of a day number (days since the epoch, UTC). */
export function dayText(day: number): string {
  return new Date(day * HOURS_PER_DAY * MS_PER_HOUR).toISOString().slice(0, 10);
}
