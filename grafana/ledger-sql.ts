/**
 * The SQL of the ledger dashboards: Grafana's PostgreSQL datasource reading the ledger's tables (see
 * src/sinks/ledger/postgres/pg-schema.ts) the way the users API does (pg-reads.ts): whole days of the dashboard's
 * range from the daily tables, the ragged hours at either end from usage_hourly (splitRange in sqlite-queries.ts).
 * The text holds Grafana's macros and variables; test/dashboards/ledger-panels.test.ts fills them in and compares
 * every figure with the users API.
 */

/** A custom "All" value, inserted by Grafana as written (quotes included): the filter then does not apply. */
export const ALL_VALUES = `'__all__'`;

const HOUR_NS = 3_600_000_000_000;

/**
 * The range's hours and days, as splitRange computes them from milliseconds: from_hour = floor(from / 1 h),
 * to_hour = ceil(to / 1 h), whole days [first_day, end_day), and the ragged hours before the first whole day
 * [from_hour, head_end) and after the last [tail_start, to_hour). Without a whole day inside the range, head and
 * tail together cover it once. Nanosecond macros, because the range is in milliseconds and seconds lose the end's.
 */
const BOUNDS = `bounds AS (
  SELECT from_hour, to_hour, first_day, end_day, least(to_hour, first_day * 24) AS head_end,
    greatest(least(to_hour, first_day * 24), end_day * 24) AS tail_start
  FROM (SELECT from_hour, to_hour, (from_hour + 23) / 24 AS first_day, to_hour / 24 AS end_day
    FROM (SELECT greatest($__unixEpochNanoFrom(), 0) / ${HOUR_NS} AS from_hour,
      (greatest($__unixEpochNanoTo(), 0) + ${HOUR_NS - 1}) / ${HOUR_NS} AS to_hour) AS hours) AS days
)`;

/** True when the property filter is "All": the per-user daily rollup answers, as in the users API. */
const NO_FILTER = `${ALL_VALUES} IN ($value)`;

/** Property sets whose value of $property is one of $value (a set without it has the value ''). */
const SELECTED_SETS = `SELECT id FROM property_sets WHERE coalesce(json::json ->> '$property', '') IN ($value)`;

const SUM_COLUMNS = [
  'requests', 'errors', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'cost_nano_usd',
  'duration_us',
] as const;
const PART_COLUMNS = `${SUM_COLUMNS.join(', ')}, first_seen_ms, last_seen_ms`;
const SUMS = SUM_COLUMNS.map((column) => `SUM(${column}) AS ${column}`).join(', ');
const TOTALS = `${SUMS}, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms`;

/** Nano-dollars to dollars: a product by 10^-9 is exact in numeric (a quotient is rounded to its scale). */
const usd = (nanos: string): string => `${nanos} * 0.000000001`;
/** The figures every users row and total shows, from the sums of `from` (a relation with TOTALS' columns). */
function figures(t: string): string {
  return [
    `${t}.requests AS "Requests"`,
    `${t}.errors AS "Errors"`,
    `${t}.errors::numeric / nullif(${t}.requests, 0) AS "Error rate"`,
    `${usd(`${t}.cost_nano_usd`)} AS "Cost"`,
    `${t}.input_tokens + ${t}.cache_read_tokens + ${t}.cache_write_tokens AS "Tokens in"`,
    `${t}.output_tokens AS "Tokens out"`,
    `${t}.duration_us::numeric / nullif(${t}.requests, 0) / 1000000 AS "Avg latency"`,
    `${t}.first_seen_ms AS "First seen"`,
    `${t}.last_seen_ms AS "Last seen"`,
  ].join(',\n  ');
}

/** Every user's usage rows in the range, as (day, user_ref, PART_COLUMNS), filtered by $property / $value. */
const ALL_USERS_SOURCE = `src AS (
  SELECT d.day, d.user_ref, ${PART_COLUMNS} FROM user_daily d, bounds b
    WHERE d.day >= b.first_day AND d.day < b.end_day AND ${NO_FILTER}
  UNION ALL
  SELECT d.day, d.user_ref, ${PART_COLUMNS} FROM usage_daily d, bounds b
    WHERE d.day >= b.first_day AND d.day < b.end_day AND NOT ${NO_FILTER}
      AND d.series_id IN (SELECT id FROM series WHERE property_set IN (${SELECTED_SETS}))
  UNION ALL
  SELECT h.hour / 24, h.user_ref, ${PART_COLUMNS} FROM usage_hourly h, bounds b
    WHERE ((h.hour >= b.from_hour AND h.hour < b.head_end) OR (h.hour >= b.tail_start AND h.hour < b.to_hour))
      AND (${NO_FILTER} OR h.series_id IN (SELECT id FROM series WHERE property_set IN (${SELECTED_SETS})))
)`;

/** One row per user with calls in the range: the users table. */
export function usersTableSql(): string {
  return `WITH ${BOUNDS},
${ALL_USERS_SOURCE},
per_user AS (SELECT user_ref, ${TOTALS} FROM src GROUP BY user_ref)
SELECT u.user_id AS "User",
  ${figures('t')}
FROM per_user t JOIN users u ON u.id = t.user_ref
ORDER BY t.cost_nano_usd DESC, u.user_id`;
}

/** One row: the users with calls in the range and their sums. */
export function usersTotalsSql(): string {
  return `WITH ${BOUNDS},
${ALL_USERS_SOURCE},
t AS (SELECT COUNT(DISTINCT user_ref) AS users, ${TOTALS} FROM src)
SELECT t.users AS "Users",
  ${figures('t')}
FROM t`;
}

/** $user's series (with their model) under the property filter, and their usage rows in the range by series. */
const ONE_USER_SOURCE = `user_series AS (
  SELECT s.id, s.provider, s.model FROM series s JOIN users u ON u.id = s.user_ref
  WHERE u.user_id = '$user' AND (${NO_FILTER} OR s.property_set IN (${SELECTED_SETS}))
),
src AS (
  SELECT d.day, d.series_id, ${PART_COLUMNS} FROM usage_daily d, bounds b
    WHERE d.day >= b.first_day AND d.day < b.end_day AND d.series_id IN (SELECT id FROM user_series)
  UNION ALL
  SELECT h.hour / 24, h.series_id, ${PART_COLUMNS} FROM usage_hourly h, bounds b
    WHERE ((h.hour >= b.from_hour AND h.hour < b.head_end) OR (h.hour >= b.tail_start AND h.hour < b.to_hour))
      AND h.series_id IN (SELECT id FROM user_series)
)`;

/** $user's totals over the range (no row when they made no call in it). */
export function userTotalsSql(): string {
  return `WITH ${BOUNDS},
${ONE_USER_SOURCE},
t AS (SELECT COUNT(*) AS parts, ${TOTALS} FROM src)
SELECT ${figures('t')}
FROM t WHERE t.parts > 0`;
}

/** $user's usage per UTC day of the range and model, as Grafana's time series (time, metric, value). */
export function userDailySql(value: 'cost' | 'requests'): string {
  const figure = value === 'cost' ? `${usd('SUM(src.cost_nano_usd)')} AS "Cost"` : 'SUM(src.requests) AS "Requests"';
  return `WITH ${BOUNDS},
${ONE_USER_SOURCE}
SELECT to_timestamp(src.day * 86400) AS time, s.provider || ' ' || s.model AS metric, ${figure}
FROM src JOIN user_series s ON s.id = src.series_id
GROUP BY src.day, s.provider, s.model
ORDER BY src.day, metric`;
}

/** $user's usage over the range by model. */
export function userModelsSql(): string {
  return `WITH ${BOUNDS},
${ONE_USER_SOURCE},
t AS (SELECT s.provider, s.model, ${SUMS} FROM src JOIN user_series s ON s.id = src.series_id GROUP BY s.provider, s.model)
SELECT t.provider AS "Provider", t.model AS "Model", t.requests AS "Requests", t.errors AS "Errors",
  ${usd('t.cost_nano_usd')} AS "Cost",
  t.input_tokens + t.cache_read_tokens + t.cache_write_tokens AS "Tokens in", t.output_tokens AS "Tokens out"
FROM t ORDER BY t.cost_nano_usd DESC, t.requests DESC, t.provider, t.model`;
}

/** The property names the ledger has seen (PROPERTY_LABELS), for the $property variable. */
export const PROPERTY_NAMES_SQL = 'SELECT DISTINCT json_object_keys(json::json) AS name FROM property_sets ORDER BY 1';
/** The values of $property ('' for calls without it), for the $value variable; a filter's choices, not a report. */
export const PROPERTY_VALUES_SQL =
  `SELECT DISTINCT coalesce(json::json ->> '$property', '') AS value FROM property_sets ORDER BY 1 LIMIT 500`;
