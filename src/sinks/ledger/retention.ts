import { HOURS_PER_DAY, MS_PER_HOUR } from './aggregate.ts';

/**
 * HOURLY_DETAIL_DAYS: how long the ledger keeps usage by hour. Past it only the daily totals stay (per series and per
 * user: every figure of the users API for whole days, and what billing needs), so a ledger does not grow by a row per
 * series and hour for ever. 0 keeps the hours for ever.
 */
export const MS_PER_DAY = HOURS_PER_DAY * MS_PER_HOUR;

/**
 * The meta row (SQLite) saying from when the hours are whole: before it a day may miss some or all of its hours
 * (HOURLY_DETAIL_DAYS dropped them, possibly with a larger setting than today's), so only whole days are read there
 * and nothing is re-priced.
 */
export const HOURLY_KEPT_FROM_META = 'hourly_kept_from_ms';

/**
 * The first instant whose hour is still kept: the start of the UTC day `days` days before the day of `nowMs`, or 0
 * when hours are kept for ever. Whole days, so that a range within a pruned day is refused, never read half.
 */
export function hourlyDetailStartMs(nowMs: number, days: number): number {
  if (days <= 0) return 0;
  return (Math.floor(nowMs / MS_PER_DAY) - days) * MS_PER_DAY;
}

/**
 * Why a range cannot be read with the hourly detail kept, or undefined when it can: a `from` or `to` inside a day
 * (read by the hour) before the kept detail starts.
 */
export function rangeNeedsPrunedHours(fromMs: number | undefined, toMs: number | undefined, keptFromMs: number): string | undefined {
  for (const [name, edge] of [['from', fromMs], ['to', toMs]] as const) {
    if (edge === undefined || edge % MS_PER_DAY === 0 || edge >= keptFromMs) continue;
    return `${name}=${new Date(edge).toISOString()}: usage by the hour is kept from ${new Date(keptFromMs).toISOString()} on `
      + '(HOURLY_DETAIL_DAYS); before that only whole days can be read';
  }
  return undefined;
}
