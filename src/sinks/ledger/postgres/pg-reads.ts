import type { ClientBase } from 'pg';
import { dayText, HOURS_PER_DAY } from '../aggregate.ts';
import type { DailyActivity, UsageFilter, UsageOverview, UserDetail, UsersPage, UsersQuery, UserTotals } from '../ledger.ts';
import { dailyActivityOf, MAX_LISTED_VALUES, mostUsedValues, splitByProperty, toSums, toUserTotals } from '../read-rows.ts';
import { SORT_SQL, splitRange, type KeyRange } from '../sqlite-queries.ts';

/**
 * The users API's reads of the PostgreSQL ledger, as SQL over the same day/hour split as the SQLite ledger: whole
 * days from the daily tables (the per-user rollup without property filters), the ragged hours at either end of a
 * range from usage_hourly. Sums are numeric in PostgreSQL (no overflow) and exact in JavaScript up to 2^53.
 */

type Row = Record<string, unknown>;

const SUM_COLUMNS = [
  'requests', 'errors', 'unpriced_requests', 'input_tokens', 'output_tokens', 'cache_read_tokens',
  'cache_write_tokens', 'reasoning_tokens', 'cost_nano_usd', 'duration_us',
] as const;
const PART_COLUMNS = `${SUM_COLUMNS.join(', ')}, first_seen_ms, last_seen_ms`;
const SUMS_SQL = SUM_COLUMNS.map((column) => `SUM(${column}) AS ${column}`).join(', ');
const TOTALS_SQL = `${SUMS_SQL}, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms,
  COUNT(DISTINCT day) AS active_days`;

/** Collects positional parameters ($1, $2, ...) as a query is built. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** `series_id IN (...)` for the property filters; undefined without any. */
function propertyCondition(filter: UsageFilter, params: Params): string | undefined {
  if (filter.properties.length === 0) return undefined;
  const matches = filter.properties.map(([name, value]) => `coalesce(p.json::json ->> ${params.add(name)}, '') = ${params.add(value)}`);
  return `series_id IN (SELECT s.id FROM series s JOIN property_sets p ON p.id = s.property_set WHERE ${matches.join(' AND ')})`;
}

/**
 * Usage rows in the filter's range as a SELECT of (day, user_ref, series_id, sums, first/last seen); with `userRef`,
 * one user's rows only.
 */
function usageSource(filter: UsageFilter, params: Params, userRef?: number, bySeries = false): string {
  const parts = splitRange(filter.fromMs, filter.toMs);
  const properties = propertyCondition(filter, params);
  const selects: string[] = [];
  const add = (table: string, key: string, dayOf: string, range: KeyRange, seriesColumn: string) => {
    const conditions: string[] = [];
    // One user's usage rows through their series (an index by series and time), not a scan of the range.
    if (userRef !== undefined) conditions.push(`series_id IN (SELECT id FROM series WHERE user_ref = ${params.add(userRef)})`);
    if (range.lo !== undefined) conditions.push(`${key} >= ${params.add(range.lo)}`);
    if (range.hi !== undefined) conditions.push(`${key} < ${params.add(range.hi)}`);
    if (properties !== undefined) conditions.push(properties);
    selects.push(`SELECT ${dayOf} AS day, user_ref, ${seriesColumn} AS series_id, ${PART_COLUMNS} FROM ${table}` +
      (conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''));
  };
  // One user's days come from usage_daily, which also gives the splits by model and property.
  const daysFromRollup = properties === undefined && userRef === undefined && !bySeries;
  if (parts.days !== undefined) add(daysFromRollup ? 'user_daily' : 'usage_daily', 'day', 'day', parts.days, daysFromRollup ? 'NULL::bigint' : 'series_id');
  for (const hours of parts.hours) add('usage_hourly', 'hour', `hour / ${HOURS_PER_DAY}`, hours, 'series_id');
  if (selects.length === 0) return `SELECT 0 AS day, user_ref, series_id, ${PART_COLUMNS} FROM usage_daily WHERE false`;
  return selects.join(' UNION ALL ');
}

/** Every matching user with their totals, ordered as the query asks, with the count of all of them in `total`. */
export function usersSql(query: UsersQuery): { sql: string; params: unknown[] } {
  const params = new Params();
  const source = usageSource(query, params);
  const direction = query.order === 'asc' ? 'ASC' : 'DESC';
  const limit = query.limit === undefined ? 'ALL' : params.add(query.limit);
  const sql = `WITH src AS (${source}),
      per_user AS (SELECT user_ref, ${TOTALS_SQL} FROM src GROUP BY user_ref),
      named AS (SELECT u.user_id AS user_id, t.* FROM per_user t JOIN users u ON u.id = t.user_ref)
    SELECT named.*, COUNT(*) OVER () AS total FROM named${query.search === undefined || query.search === '' ? ''
      : ` WHERE strpos(user_id, ${params.add(query.search)}) > 0`}
    ORDER BY ${SORT_SQL[query.sort]} ${direction}, user_id ASC LIMIT ${limit} OFFSET ${params.add(query.offset)}`;
  return { sql, params: params.values };
}

/** How many users match the filter (for a page past the last one, where no row carries the window count). */
export function usersCountSql(filter: UsageFilter): { sql: string; params: unknown[] } {
  const params = new Params();
  return { sql: `SELECT COUNT(DISTINCT user_ref) AS n FROM (${usageSource(filter, params)}) src`, params: params.values };
}

export function toUsersPage(rows: readonly Row[]): { users: UserTotals[]; total: number | undefined } {
  return { users: rows.map(toUserTotals), total: rows.length > 0 ? Number(rows[0]!.total) : undefined };
}

/** One user's totals, daily series and splits, in one snapshot the caller holds. */
export async function readUser(client: ClientBase, userId: string, filter: UsageFilter): Promise<UserDetail | undefined> {
  const user = await client.query<Row>('SELECT id FROM users WHERE user_id = $1', [userId]);
  if (user.rows.length === 0) return undefined;
  const params = new Params();
  const withSource = `WITH src AS (${usageSource(filter, params, Number(user.rows[0]!.id))})`;
  const run = async (sql: string) => (await client.query<Row>(sql, params.values)).rows;
  const totalsRows = await run(`${withSource} SELECT ${TOTALS_SQL} FROM src HAVING COUNT(*) > 0`);
  const daily = (await run(`${withSource} SELECT day, ${SUMS_SQL} FROM src GROUP BY day ORDER BY day`))
    .map((row) => ({ day: dayText(Number(row.day)), ...toSums(row) }));
  const byModel = (await run(`${withSource} SELECT s.provider AS provider, s.model AS model, ${SUMS_SQL}
      FROM src JOIN series s ON s.id = src.series_id
      GROUP BY s.provider, s.model ORDER BY cost_nano_usd DESC, requests DESC, provider, model`))
    .map((row) => ({ provider: String(row.provider), model: String(row.model), ...toSums(row) }));
  const byPropertySet = await run(`${withSource} SELECT p.json AS json, ${SUMS_SQL}
      FROM src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set GROUP BY p.json`);
  const totals = totalsRows.length === 0 ? undefined : toUserTotals({ ...totalsRows[0]!, user_id: userId });
  return { totals, daily, byModel, byProperty: splitByProperty(byPropertySet) };
}

/** The Users page's totals over the filter, sums per value of each of `propertyNames`, and the values recorded. */
export async function readOverview(client: ClientBase, filter: UsageFilter, propertyNames: readonly string[],
  valueNames: readonly string[]): Promise<UsageOverview> {
  const totalsParams = new Params();
  const totals = (await client.query<Row>(`SELECT COUNT(DISTINCT user_ref) AS users, ${SUMS_SQL}
    FROM (${usageSource(filter, totalsParams)}) src`, totalsParams.values)).rows[0]!;
  const byProperty: UsageOverview['byProperty'] = [];
  for (const name of propertyNames) {
    const params = new Params();
    const source = usageSource(filter, params, undefined, true);
    const rows = (await client.query<Row>(`SELECT coalesce(p.json::json ->> ${params.add(name)}, '') AS value,
        COUNT(DISTINCT src.user_ref) AS users, ${SUM_COLUMNS.map((column) => `SUM(src.${column}) AS ${column}`).join(', ')}
      FROM (${source}) src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set
      GROUP BY 1 ORDER BY cost_nano_usd DESC, value`, params.values)).rows;
    for (const row of rows) byProperty.push({ name, value: String(row.value), users: Number(row.users), ...toSums(row) });
  }
  const values: Record<string, string[]> = {};
  for (const name of valueNames) {
    values[name] = (await client.query<Row>(`SELECT DISTINCT coalesce(json::json ->> $1, '') AS value FROM property_sets
      ORDER BY value LIMIT ${MAX_LISTED_VALUES}`, [name])).rows.map((row) => String(row.value));
  }
  return { users: Number(totals.users), sums: toSums(totals), byProperty, values };
}

/** For each known user of `userIds`, the value of each property their calls in the range carried most often. */
export async function readUserProperties(client: ClientBase, userIds: readonly string[], propertyNames: readonly string[],
  filter: UsageFilter): Promise<Record<string, Record<string, string>>> {
  const found: Record<string, Record<string, string>> = {};
  if (propertyNames.length === 0) return found;
  for (const userId of userIds) {
    const user = await client.query<Row>('SELECT id FROM users WHERE user_id = $1', [userId]);
    if (user.rows.length === 0) continue;
    const params = new Params();
    const rows = (await client.query<Row>(`SELECT p.json AS json, SUM(src.requests) AS requests
      FROM (${usageSource(filter, params, Number(user.rows[0]!.id))}) src
      JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set GROUP BY p.json`, params.values)).rows;
    const values = mostUsedValues(rows, propertyNames);
    if (Object.keys(values).length > 0) found[userId] = values;
  }
  return found;
}

/** Requests and cost per day in [fromDay, toDay) of the users with at least `minRequests` calls on the last day. */
export async function readDailyActivity(client: ClientBase, fromDay: number, toDay: number, minRequests: number): Promise<DailyActivity[]> {
  const rows = (await client.query<Row>(`SELECT u.user_id AS user_id, d.day AS day, d.requests AS requests, d.cost_nano_usd AS cost
    FROM user_daily today JOIN users u ON u.id = today.user_ref
    JOIN user_daily d ON d.user_ref = today.user_ref AND d.day >= $1 AND d.day < $2
    WHERE today.day = $3 AND today.requests >= $4 ORDER BY u.user_id, d.day`, [fromDay, toDay, toDay - 1, minRequests])).rows;
  return dailyActivityOf(rows, fromDay, toDay);
}

export type { UsersPage };
