import type { PricedUsage } from '../../../pricing/priced-usage.ts';
import { canonicalProperties, durationMicros, HOURS_PER_DAY, ledgerUserId, MS_PER_HOUR, type SpanIdentity } from '../aggregate.ts';

/**
 * Pure helpers of the PostgreSQL ledger's group commit: what a group of exports adds to which rows, summed in memory
 * first so that a group costs one multi-row statement per table, however many calls it holds.
 */

/** PostgreSQL text cannot hold U+0000; a hostile id carrying one is stored with U+FFFD in its place. */
export function pgText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/** The canonical JSON of a call's properties, with every name and value fit for PostgreSQL text. */
export function pgPropertiesJson(properties: Readonly<Record<string, string>>): string {
  let clean = true;
  for (const name in properties) if (name.includes('\u0000') || properties[name]!.includes('\u0000')) clean = false;
  if (clean) return canonicalProperties(properties);
  const copy: Record<string, string> = {};
  for (const name in properties) {
    Object.defineProperty(copy, pgText(name), { value: pgText(properties[name]!), enumerable: true, writable: true, configurable: true });
  }
  return canonicalProperties(copy);
}

export function identityKey(identity: SpanIdentity): string {
  return `${identity.endMs}:${identity.idHash}`;
}

/** The sums a set of calls adds to one usage row, in integers. */
export interface RowSums {
  requests: number;
  errors: number;
  unpriced: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
  cost: number;
  durationUs: number;
  first: number;
  last: number;
}

/** Column order of RowSums in the statements. */
export const SUM_FIELDS = ['requests', 'errors', 'unpriced', 'input', 'output', 'cacheRead', 'cacheWrite', 'reasoning', 'cost', 'durationUs', 'first', 'last'] as const;

function emptySums(): RowSums {
  return {
    requests: 0, errors: 0, unpriced: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0, cost: 0,
    durationUs: 0, first: Infinity, last: -Infinity,
  };
}

/** `endMs`: the end time as the call has it (with its fraction of a millisecond), for first and last seen. */
function addCall(sums: RowSums, record: PricedUsage, endMs: number): void {
  sums.requests += 1;
  if (record.isError) sums.errors += 1;
  if (!record.priced) sums.unpriced += 1;
  sums.input += record.tokens.input;
  sums.output += record.tokens.output;
  sums.cacheRead += record.tokens.cacheRead;
  sums.cacheWrite += record.tokens.cacheWrite;
  sums.reasoning += record.tokens.reasoning;
  sums.cost += Math.round(record.costNanoUsd);
  sums.durationUs += durationMicros(record.durationSeconds);
  sums.first = Math.min(sums.first, endMs);
  sums.last = Math.max(sums.last, endMs);
}

/** One series as the series table keys it, with its user and property set by text (ids are the database's). */
export interface SeriesKey {
  readonly userId: string;
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly isError: boolean;
  readonly propertiesJson: string;
}

/** Everything a group's new calls add, keyed by text; rows sorted so that every replica locks them in one order. */
export interface GroupSums {
  /** By user id: first and last call. */
  readonly users: Map<string, { first: number; last: number }>;
  readonly propertySets: Set<string>;
  /** By seriesText. */
  readonly series: Map<string, SeriesKey>;
  /** By `${hour}\n${seriesText}`. */
  readonly hourly: Map<string, { hour: number; series: string; sums: RowSums }>;
  readonly daily: Map<string, { day: number; series: string; sums: RowSums }>;
  /** By `${day}\n${userId}`. */
  readonly userDaily: Map<string, { day: number; userId: string; sums: RowSums }>;
}

export function seriesText(key: SeriesKey): string {
  return JSON.stringify([key.userId, key.provider, key.model, key.operation, key.isError, key.propertiesJson]);
}

export function sumGroup(records: readonly PricedUsage[]): GroupSums {
  const group: GroupSums = { users: new Map(), propertySets: new Set(), series: new Map(), hourly: new Map(), daily: new Map(), userDaily: new Map() };
  for (const record of records) {
    const endMs = record.endTimeMs;
    const key: SeriesKey = {
      userId: pgText(ledgerUserId(record)), provider: pgText(record.provider), model: pgText(record.model),
      operation: pgText(record.operation), isError: record.isError, propertiesJson: pgPropertiesJson(record.properties),
    };
    const text = seriesText(key);
    if (!group.series.has(text)) group.series.set(text, key);
    group.propertySets.add(key.propertiesJson);
    const user = group.users.get(key.userId);
    if (user === undefined) group.users.set(key.userId, { first: endMs, last: endMs });
    else { user.first = Math.min(user.first, endMs); user.last = Math.max(user.last, endMs); }
    const hour = Math.floor(endMs / MS_PER_HOUR);
    const day = Math.floor(hour / HOURS_PER_DAY);
    addCall(entry(group.hourly, `${hour}\n${text}`, () => ({ hour, series: text, sums: emptySums() })).sums, record, endMs);
    addCall(entry(group.daily, `${day}\n${text}`, () => ({ day, series: text, sums: emptySums() })).sums, record, endMs);
    addCall(entry(group.userDaily, `${day}\n${key.userId}`, () => ({ day, userId: key.userId, sums: emptySums() })).sums, record, endMs);
  }
  return group;
}

function entry<T>(map: Map<string, T>, key: string, create: () => T): T {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}
