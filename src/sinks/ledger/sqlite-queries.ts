import type { SQLInputValue } from 'node:sqlite';
import { HOURS_PER_DAY, MS_PER_HOUR } from './aggregate.ts';
import type { UsageFilter, UserSortColumn } from './ledger.ts';

/**
 * The SQL of the ledger's reads. Usage lives in two tables of the same shape: usage_daily (whole UTC days) and
 * usage_hourly (the same calls by hour). A range reads whole days from the daily table and only its ragged edges
 * (a from/to inside a day) from the hourly one, so a month is about users x series x days rows, not x 24.
 */

export const SUM_COLUMNS = [
  'requests', 'errors', 'unpriced_requests', 'input_tokens', 'output_tokens', 'cache_read_tokens',
  'cache_write_tokens', 'reasoning_tokens', 'cost_nano_usd', 'duration_us',
] as const;

/** The columns every usage part yields, whichever table it reads. */
const PART_COLUMNS = `user_ref, series_id, ${SUM_COLUMNS.join(', ')}, first_seen_ms, last_seen_ms`;

/**
 * TOTAL, not SUM: SUM raises "integer overflow" past 2^63 and hands node:sqlite integers past 2^53 that it refuses
 * to read, either of which would fail the whole read. TOTAL's double is exact while the sum stays within 2^53
 * (nano-dollars: $9,007,199) and close beyond; readers flag what lies beyond (inexactFields).
 */
export const SUMS_SQL = SUM_COLUMNS.map((column) => `TOTAL(${column}) AS ${column}`).join(', ');
export const TOTALS_SQL = `${SUMS_SQL}, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms,
  COUNT(DISTINCT day) AS active_days`;

const TOTAL_TOKENS = '(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens)';

/** What each sortable column orders by, over the per-user rows of TOTALS_SQL. */
export const SORT_SQL: Readonly<Record<UserSortColumn, string>> = {
  userId: 'user_id',
  requests: 'requests',
  errors: 'errors',
  errorRate: 'errors * 1.0 / requests',
  costUsd: 'cost_nano_usd',
  costNanoUsd: 'cost_nano_usd',
  inputTokens: 'input_tokens',
  outputTokens: 'output_tokens',
  cacheReadTokens: 'cache_read_tokens',
  cacheWriteTokens: 'cache_write_tokens',
  reasoningTokens: 'reasoning_tokens',
  totalTokens: TOTAL_TOKENS,
  unpricedRequests: 'unpriced_requests',
  avgLatencyMs: 'duration_us * 1.0 / requests',
  firstSeen: 'first_seen_ms',
  lastSeen: 'last_seen_ms',
  activeDays: 'active_days',
  avgRequestsPerDay: 'requests * 1.0 / active_days',
  avgTokensPerRequest: `${TOTAL_TOKENS} * 1.0 / requests`,
  costPerRequest: 'cost_nano_usd * 1.0 / requests',
  activeFor: 'last_seen_ms - first_seen_ms',
};

/** The aggregate of TOTALS_SQL behind each column name a sort expression uses. */
const SORT_AGGREGATES: ReadonlyArray<readonly [string, string]> = [
  ...SUM_COLUMNS.map((column) => [column, `TOTAL(${column})`] as const),
  ['first_seen_ms', 'MIN(first_seen_ms)'],
  ['last_seen_ms', 'MAX(last_seen_ms)'],
  ['active_days', 'COUNT(DISTINCT day)'],
];

/**
 * The aggregates the ORDER BY of `sort` needs, as `TOTAL(requests) AS requests, ...`, for a first pass that orders
 * users by them alone: grouping a million users' rows costs by the width of what is grouped (a month of the
 * benchmark's million users: 0.95-1.1 s for every total, 0.1 s for the cost alone).
 */
export function sortAggregatesSql(sort: UserSortColumn): string {
  const expression = SORT_SQL[sort];
  const used = SORT_AGGREGATES.filter(([column]) => new RegExp(`\\b${column}\\b`).test(expression));
  return used.map(([column, aggregate]) => `${aggregate} AS ${column}`).join(', ');
}

/** [lo, hi) in days or hours; undefined for no bound. */
export interface KeyRange {
  readonly lo: number | undefined;
  readonly hi: number | undefined;
}

export interface RangeParts {
  /** Whole UTC days, read from usage_daily; undefined when the range holds no whole day. */
  readonly days: KeyRange | undefined;
  /** The hours at either end that are not a whole day, read from usage_hourly. */
  readonly hours: KeyRange[];
}

/** Splits [fromMs, toMs) (whole hours) into whole days and the hours left over at either end. */
export function splitRange(fromMs: number | undefined, toMs: number | undefined): RangeParts {
  const fromHour = fromMs === undefined ? undefined : Math.floor(fromMs / MS_PER_HOUR);
  const toHour = toMs === undefined ? undefined : Math.ceil(toMs / MS_PER_HOUR);
  const firstDay = fromHour === undefined ? undefined : Math.ceil(fromHour / HOURS_PER_DAY);
  const endDay = toHour === undefined ? undefined : Math.floor(toHour / HOURS_PER_DAY);
  if (firstDay !== undefined && endDay !== undefined && firstDay >= endDay) {
    return { days: undefined, hours: fromHour! < toHour! ? [{ lo: fromHour, hi: toHour }] : [] };
  }
  const hours: KeyRange[] = [];
  if (fromHour !== undefined && fromHour < firstDay! * HOURS_PER_DAY) hours.push({ lo: fromHour, hi: firstDay! * HOURS_PER_DAY });
  if (toHour !== undefined && endDay! * HOURS_PER_DAY < toHour) hours.push({ lo: endDay! * HOURS_PER_DAY, hi: toHour });
  return { days: { lo: firstDay, hi: endDay }, hours };
}

export interface SqlText {
  readonly sql: string;
  readonly params: SQLInputValue[];
}

/** `property_set IN (...)` for the property filters, or undefined without any. */
function propertySetCondition(filter: UsageFilter, column: string): SqlText | undefined {
  if (filter.properties.length === 0) return undefined;
  // Property sets are few; matching them first keeps the scan of usage rows plain.
  const matches = filter.properties.map(() => `coalesce((SELECT value FROM json_each(p.json) WHERE key = ?), '') = ?`);
  return {
    sql: `${column} IN (SELECT p.id FROM property_sets p WHERE ${matches.join(' AND ')})`,
    params: filter.properties.flatMap(([name, value]) => [name, value]),
  };
}

/**
 * Every user's usage rows in the filter's range, as one `src` CTE of (day, PART_COLUMNS): day ranges scan the
 * daily table, which is ordered by day. With `userRefs`, only those users' rows (the per-user rollup finds them by
 * user_daily_by_user).
 */
export function allUsersSource(filter: UsageFilter, userRefs?: readonly number[], options: { bySeries?: boolean } = {}): SqlText {
  const parts = splitRange(filter.fromMs, filter.toMs);
  const properties = propertySetCondition(filter, 's.property_set');
  const seriesCondition = properties === undefined ? undefined
    : { sql: `series_id IN (SELECT s.id FROM series s WHERE ${properties.sql})`, params: properties.params };
  const selects: string[] = [];
  const params: SQLInputValue[] = [];
  const add = (table: string, key: string, dayOf: string, range: KeyRange) => {
    const conditions: string[] = [];
    if (range.lo !== undefined) { conditions.push(`${key} >= ?`); params.push(range.lo); }
    if (range.hi !== undefined) { conditions.push(`${key} < ?`); params.push(range.hi); }
    if (seriesCondition !== undefined) { conditions.push(seriesCondition.sql); params.push(...seriesCondition.params); }
    if (userRefs !== undefined) { conditions.push('user_ref IN (SELECT value FROM json_each(?))'); params.push(JSON.stringify(userRefs)); }
    const columns = table === 'user_daily' ? PART_COLUMNS.replace('series_id', 'NULL AS series_id') : PART_COLUMNS;
    selects.push(`SELECT ${dayOf} AS day, ${columns} FROM ${table}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`);
  };
  // Without property filters whole days come from the per-user rollup: one row per user and day.
  // bySeries: the caller joins each row to its series (its properties), which the per-user rollup has not.
  const perUserRollup = seriesCondition === undefined && options.bySeries !== true;
  if (parts.days !== undefined) add(perUserRollup ? 'user_daily' : 'usage_daily', 'day', 'day', parts.days);
  for (const hours of parts.hours) add('usage_hourly', 'hour', `hour / ${HOURS_PER_DAY}`, hours);
  return { sql: `src AS (${selectsOrNothing(selects)})`, params };
}

/** A user's known span of activity, to bound the keys one user's query visits. */
export interface UserSpan {
  readonly userRef: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

/**
 * One user's usage rows in the filter's range, as CTEs ending in `src`. The usage tables are ordered by time, then
 * series (so that commits append at their tail); one user's rows are found by looking up each of the user's series
 * on each day they had calls (hour at the edges of a range): point lookups, no scan of other users' rows.
 */
export function oneUserSource(filter: UsageFilter, user: UserSpan): SqlText {
  const parts = splitRange(filter.fromMs, filter.toMs);
  const properties = propertySetCondition(filter, 's.property_set');
  const ctes: string[] = [];
  const selects: string[] = [];
  const params: SQLInputValue[] = [];
  const selectParams: SQLInputValue[] = [];
  const add = (table: string, key: string, dayOf: string, range: KeyRange, perDay: number) => {
    const firstKey = Math.floor(user.firstSeenMs / (MS_PER_HOUR * perDay));
    const endKey = Math.floor(user.lastSeenMs / (MS_PER_HOUR * perDay)) + 1;
    const lo = range.lo === undefined ? firstKey : Math.max(range.lo, firstKey);
    const hi = range.hi === undefined ? endKey : Math.min(range.hi, endKey);
    if (lo >= hi) return;
    const name = `keys${ctes.length}`;
    if (perDay === HOURS_PER_DAY) {
      // Only the days the user has calls on (user_daily_by_user), however far apart: a user with one call in 1970
      // and one in 2554 must not cost a lookup per day in between.
      ctes.push(`${name}(k) AS (SELECT day FROM user_daily WHERE user_ref = ? AND day >= ? AND day < ?)`);
      params.push(user.userRef, lo, hi);
    } else {
      // The ragged hours at a range's edges: fewer than a day's worth at either end.
      ctes.push(`${name}(k) AS (SELECT ? UNION ALL SELECT k + 1 FROM ${name} WHERE k + 1 < ?)`);
      params.push(lo, hi);
    }
    selects.push(`SELECT ${dayOf} AS day, ${PART_COLUMNS.replace(/(\w+)/g, 'u.$1')}
      FROM ${name} CROSS JOIN series s CROSS JOIN ${table} u
      WHERE s.user_ref = ? AND u.${key} = ${name}.k AND u.series_id = s.id${properties === undefined ? '' : ` AND ${properties.sql}`}`);
    selectParams.push(user.userRef, ...(properties?.params ?? []));
  };
  if (parts.days !== undefined) add('usage_daily', 'day', 'u.day', parts.days, HOURS_PER_DAY);
  for (const hours of parts.hours) add('usage_hourly', 'hour', `u.hour / ${HOURS_PER_DAY}`, hours, 1);
  ctes.push(`src AS (${selectsOrNothing(selects)})`);
  return { sql: `RECURSIVE ${ctes.join(',\n')}`, params: [...params, ...selectParams] };
}

function selectsOrNothing(selects: readonly string[]): string {
  return selects.length > 0 ? selects.join(' UNION ALL ') : `SELECT 0 AS day, ${PART_COLUMNS} FROM usage_daily WHERE 0`;
}
