/**
 * Turning the rows of the users API's reads into its shapes, alike for the SQLite and the PostgreSQL ledger: both
 * name their columns the same way (SUM_COLUMNS, first/last seen, active days).
 */
import type { DailyActivity, UsageSums, UserDetail, UserTotals } from './ledger.ts';

/** One result row, whichever driver read it. */
export type ResultRow = Readonly<Record<string, unknown>>;

/** A filter's choices, not a report: a property with more values than this is not one to filter by. */
export const MAX_LISTED_VALUES = 500;

/** Per property set request counts -> for each name, the value carried by the most requests (ties: the smaller). */
export function mostUsedValues(rows: readonly ResultRow[], propertyNames: readonly string[]): Record<string, string> {
  const counts = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const properties = JSON.parse(String(row.json)) as Record<string, string>;
    for (const name of propertyNames) {
      const value = properties[name];
      if (value === undefined) continue;
      let perValue = counts.get(name);
      if (perValue === undefined) counts.set(name, perValue = new Map());
      perValue.set(value, (perValue.get(value) ?? 0) + Number(row.requests));
    }
  }
  const chosen: Record<string, string> = {};
  for (const [name, perValue] of counts) {
    const [best] = [...perValue].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    chosen[name] = best![0];
  }
  return chosen;
}

export function toSums(row: ResultRow): UsageSums {
  return {
    requests: Number(row.requests),
    errors: Number(row.errors),
    unpricedRequests: Number(row.unpriced_requests),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    cacheReadTokens: Number(row.cache_read_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    costNanoUsd: Number(row.cost_nano_usd),
    durationMicros: Number(row.duration_us),
  };
}

export function toUserTotals(row: ResultRow): UserTotals {
  return {
    userId: String(row.user_id),
    ...toSums(row),
    firstSeenMs: Number(row.first_seen_ms),
    lastSeenMs: Number(row.last_seen_ms),
    activeDays: Number(row.active_days),
  };
}

/** Per property set sums -> per (name, value) sums; a call counts once under each property it carries. */
export function splitByProperty(rows: readonly ResultRow[]): UserDetail['byProperty'] {
  const split = new Map<string, { name: string; value: string; sums: Record<keyof UsageSums, number> }>();
  for (const row of rows) {
    const sums = toSums(row);
    const properties = JSON.parse(String(row.json)) as Record<string, string>;
    for (const [name, value] of Object.entries(properties)) {
      const key = JSON.stringify([name, value]);
      let entry = split.get(key);
      if (entry === undefined) {
        entry = { name, value, sums: { ...sums } };
        split.set(key, entry);
        continue;
      }
      for (const field of Object.keys(sums) as Array<keyof UsageSums>) entry.sums[field] += sums[field];
    }
  }
  return [...split.values()]
    .map(({ name, value, sums }) => ({ name, value, ...sums }))
    .sort((a, b) => a.name.localeCompare(b.name) || b.costNanoUsd - a.costNanoUsd || a.value.localeCompare(b.value));
}

/** Rows of (user_id, day, requests, cost), in user order -> each user's requests and cost per day of [fromDay, toDay). */
export function dailyActivityOf(rows: Iterable<ResultRow>, fromDay: number, toDay: number): DailyActivity[] {
  const byUser = new Map<string, DailyActivity>();
  for (const row of rows) {
    const userId = String(row.user_id);
    let activity = byUser.get(userId);
    if (activity === undefined) {
      activity = { userId, requests: new Array<number>(toDay - fromDay).fill(0), costNanoUsd: new Array<number>(toDay - fromDay).fill(0) };
      byUser.set(userId, activity);
    }
    activity.requests[Number(row.day) - fromDay] = Number(row.requests);
    activity.costNanoUsd[Number(row.day) - fromDay] = Number(row.cost);
  }
  return [...byUser.values()];
}
