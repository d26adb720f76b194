import type { DatabaseSync } from 'node:sqlite';
import type { UsageRecord } from '../../sources/usage-record.ts';
import { HOURS_PER_DAY, spanIdentity } from './aggregate.ts';
import { CALL_FIELDS } from './ledger-protocol.ts';
import { UPSERT_USAGE_SET_V4 } from './sqlite-fold.ts';
import { float64sOfBlob } from './unfolded-sums.ts';

export const SCHEMA_VERSION = 5;

/**
 * The usage columns after the keys (schema 4's; schema 5 adds USAGE_COLUMNS_V5 at the end of each usage table, to
 * old and new ledgers alike, so that the upgrades from schemas 1 and 2 can write the columns in their order).
 */
const USAGE_COLUMNS = `user_ref INTEGER NOT NULL,
  requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL,
  first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL`;

/**
 * A group commit writes where tables end: the dedup keys are ordered by span end time (calls arrive roughly in time
 * order) and the group's calls go to call_log as one row: the bytes of the typed arrays they travelled in (calls,
 * which were new, the series numbers) and the text of the series the log has not named since the last fold. A dirty page is what a write costs in SQLite (it goes to the WAL and later back to the
 * file), and rows spread over a B-tree would dirty one page each. The writer sums the logged calls in memory and
 * folds them into usage_hourly, usage_daily (keyed by time, then series) and user_daily (day, then user: the users
 * list without property filters reads only this) every few seconds and before every read (sqlite-fold.ts), so a
 * busy series costs one row update per fold, not one per commit. One user's rows are found through their series
 * on the days they had calls (see oneUserSource): user_daily_by_user lists those days, and gains an entry once per
 * user and day (the usage tables' keys would be written randomly if indexed by user). meta.commit_seq counts group
 * commits and meta.folded_seq says which of them the totals tables hold, so that a reader knows what its snapshot
 * holds.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS property_sets (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
  id INTEGER PRIMARY KEY,
  user_ref INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, operation TEXT NOT NULL,
  is_error INTEGER NOT NULL, property_set INTEGER NOT NULL,
  folded_seq INTEGER NOT NULL DEFAULT 0,
  search_tier TEXT NOT NULL DEFAULT '', input_tier INTEGER NOT NULL DEFAULT 0,
  UNIQUE (user_ref, provider, model, operation, is_error, property_set, search_tier, input_tier)
);
CREATE TABLE IF NOT EXISTS usage_hourly (hour INTEGER NOT NULL, series_id INTEGER NOT NULL, ${USAGE_COLUMNS},
  PRIMARY KEY (hour, series_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_daily (day INTEGER NOT NULL, series_id INTEGER NOT NULL, ${USAGE_COLUMNS},
  PRIMARY KEY (day, series_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_daily (day INTEGER NOT NULL, ${USAGE_COLUMNS}, PRIMARY KEY (day, user_ref)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_daily_by_user ON user_daily (user_ref, day);
CREATE TABLE IF NOT EXISTS call_log (seq INTEGER PRIMARY KEY, numbers BLOB NOT NULL, lines TEXT NOT NULL, calls BLOB NOT NULL, fresh BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen_0 (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_1 (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parked (
  end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, parked_at_ms INTEGER NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (end_ms, id_hash)
) WITHOUT ROWID;
`;

/** The table of schema-1 dedup keys (24-byte blobs) kept after a migration until the dedup window has passed. */
export const LEGACY_SEEN_TABLE = 'legacy_seen';

/**
 * Creates or upgrades the schema inside the caller's transaction. Schema 1 (one row per series and hour keyed by
 * series first, 24-byte dedup keys) is converted in place: totals, users, series and parked calls are carried over;
 * its dedup keys cannot be placed by end time, so they are kept as they are and still consulted until
 * `legacyUntilMs`.
 */
export function createOrUpgradeSchema(db: DatabaseSync, path: string, nowMs: number, legacyUntilMs: number): void {
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (version > SCHEMA_VERSION) {
    throw new Error(`${path} has ledger schema ${version}; this processor knows schema ${SCHEMA_VERSION} (was it written by a newer version?)`);
  }
  if (version === 1) upgradeFromVersion1(db, nowMs, legacyUntilMs);
  else if (version === 2) upgradeFromVersion2(db);
  else db.exec(SCHEMA);
  // Schema 4 added the commit each series is folded through (folds run in slices); series of an older ledger were
  // folded through meta.folded_seq, which 0 stands for.
  const seriesColumns = db.prepare('PRAGMA table_info(series)').all() as Array<{ name: string }>;
  if (!seriesColumns.some((column) => column.name === 'folded_seq')) {
    db.exec('ALTER TABLE series ADD COLUMN folded_seq INTEGER NOT NULL DEFAULT 0');
  }
  upgradeToVersion5(db, version);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?), (?, ?), (?, ?), (?, ?)')
    .run('dedup_current', 0, 'dedup_rotated_ms', nowMs, 'legacy_seen_until_ms', 0, 'commit_seq', 0);
  db.prepare(`INSERT OR IGNORE INTO meta (name, value) SELECT 'folded_seq', value FROM meta WHERE name = 'commit_seq'`).run();
}

/** Schema 5's usage columns, added at the end of usage_hourly, usage_daily and user_daily. */
const USAGE_COLUMNS_V5 = ['cache_write_1h_tokens', 'usage_requests'];
const USAGE_TABLES = ['usage_hourly', 'usage_daily', 'user_daily'];
/** CALL_FIELDS of the call log's rows before schema 5. */
const CALL_FIELDS_V4 = 12;

/**
 * Schema 5 keeps what exact re-pricing needs (src/reprice/): one-hour cache writes and the calls with usage (a
 * request fee is charged only with usage) per series-hour, and in each series' key its web search tier and its input
 * tier (a long-context price applies to the whole call, so summed tokens cannot tell which calls were above it).
 * Rows of an older ledger have no one-hour writes (none were told apart) and are taken to have had usage in every
 * call when they have any tokens; their series get tier '' and 0. The log's calls gain the two new fields.
 */
function upgradeToVersion5(db: DatabaseSync, version: number): void {
  const seriesColumns = db.prepare('PRAGMA table_info(series)').all() as Array<{ name: string }>;
  if (!seriesColumns.some((column) => column.name === 'search_tier')) {
    // A UNIQUE constraint cannot be altered: the table is built anew with the same ids.
    db.exec(`ALTER TABLE series RENAME TO v4_series;
      CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        user_ref INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, operation TEXT NOT NULL,
        is_error INTEGER NOT NULL, property_set INTEGER NOT NULL,
        folded_seq INTEGER NOT NULL DEFAULT 0,
        search_tier TEXT NOT NULL DEFAULT '', input_tier INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user_ref, provider, model, operation, is_error, property_set, search_tier, input_tier)
      );
      INSERT INTO series (id, user_ref, provider, model, operation, is_error, property_set, folded_seq)
        SELECT id, user_ref, provider, model, operation, is_error, property_set, folded_seq FROM v4_series ORDER BY id;
      DROP TABLE v4_series;`);
  }
  for (const table of USAGE_TABLES) {
    const columns = (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((column) => column.name);
    if (columns.includes('usage_requests')) continue;
    for (const column of USAGE_COLUMNS_V5) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
    db.exec(`UPDATE ${table} SET usage_requests = requests
      WHERE input_tokens > 0 OR output_tokens > 0 OR cache_read_tokens > 0 OR cache_write_tokens > 0`);
  }
  if (version >= 3 && version < 5) {
    const rewrite = db.prepare('UPDATE call_log SET calls = ? WHERE seq = ?');
    for (const row of db.prepare('SELECT seq, calls FROM call_log').all() as Array<{ seq: number; calls: Uint8Array }>) {
      rewrite.run(new Uint8Array(widenedCalls(float64sOfBlob(row.calls, CALL_FIELDS_V4, 'calls')).buffer), row.seq);
    }
  }
}

/** A logged group's calls of schema 4 (12 numbers each) with schema 5's two fields after them. */
function widenedCalls(old: Float64Array): Float64Array {
  const count = old.length / CALL_FIELDS_V4;
  const calls = new Float64Array(count * CALL_FIELDS);
  for (let index = 0; index < count; index++) {
    const from = index * CALL_FIELDS_V4;
    const to = index * CALL_FIELDS;
    calls.set(old.subarray(from, from + CALL_FIELDS_V4), to);
    // input, output, cache read, cache write: fields 5 to 8 of both layouts.
    const anyTokens = old[from + 5]! > 0 || old[from + 6]! > 0 || old[from + 7]! > 0 || old[from + 8]! > 0;
    calls[to + CALL_FIELDS_V4] = 0;
    calls[to + CALL_FIELDS_V4 + 1] = anyTokens ? 1 : 0;
  }
  return calls;
}

const LOG_SUMS = `SUM(requests), SUM(errors), SUM(unpriced_requests), SUM(input_tokens), SUM(output_tokens),
  SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(duration_us),
  MIN(first_seen_ms), MAX(last_seen_ms)`;

/** Schema 2 kept unfolded sums in usage_log (one row per series and hour of each commit): folded once, then dropped. */
function upgradeFromVersion2(db: DatabaseSync): void {
  // WHERE true: without it SQLite would read ON CONFLICT as part of the SELECT.
  db.exec(`INSERT INTO usage_hourly SELECT hour, series_id, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY hour, series_id ORDER BY hour, series_id ON CONFLICT (hour, series_id) DO UPDATE SET ${UPSERT_USAGE_SET_V4};
    INSERT INTO usage_daily SELECT hour / ${HOURS_PER_DAY} AS day, series_id, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY day, series_id ORDER BY day, series_id ON CONFLICT (day, series_id) DO UPDATE SET ${UPSERT_USAGE_SET_V4};
    INSERT INTO user_daily SELECT hour / ${HOURS_PER_DAY} AS day, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY day, user_ref ORDER BY day, user_ref ON CONFLICT (day, user_ref) DO UPDATE SET ${UPSERT_USAGE_SET_V4};
    UPDATE users SET first_seen_ms = min(users.first_seen_ms, logged.first_seen_ms),
      last_seen_ms = max(users.last_seen_ms, logged.last_seen_ms)
      FROM (SELECT user_ref, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms FROM usage_log GROUP BY user_ref) AS logged
      WHERE users.id = logged.user_ref;
    DROP TABLE usage_log;`);
  db.exec(SCHEMA);
}

function upgradeFromVersion1(db: DatabaseSync, nowMs: number, legacyUntilMs: number): void {
  for (const table of ['users', 'series', 'usage_hourly', 'parked']) db.exec(`ALTER TABLE ${table} RENAME TO v1_${table}`);
  db.exec('DROP INDEX IF EXISTS usage_hourly_by_hour');
  db.exec(SCHEMA);
  db.exec(`INSERT INTO users (user_id, first_seen_ms, last_seen_ms) SELECT user_id, first_seen_ms, last_seen_ms FROM v1_users ORDER BY first_seen_ms`);
  db.exec(`INSERT INTO series (id, user_ref, provider, model, operation, is_error, property_set)
    SELECT s.id, u.id, s.provider, s.model, s.operation, s.is_error, s.property_set FROM v1_series s JOIN users u ON u.user_id = s.user_id`);
  const sums = `requests, CASE WHEN s.is_error THEN requests ELSE 0 END, unpriced_requests, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, duration_us`;
  db.exec(`INSERT INTO usage_hourly SELECT h.hour, h.series_id, s.user_ref, ${sums}, first_seen_ms, last_seen_ms
    FROM v1_usage_hourly h JOIN series s ON s.id = h.series_id ORDER BY h.hour, h.series_id`);
  db.exec(`INSERT INTO usage_daily SELECT hour / ${HOURS_PER_DAY} AS day, series_id, user_ref,
    SUM(requests), SUM(errors), SUM(unpriced_requests), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
    SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(duration_us), MIN(first_seen_ms), MAX(last_seen_ms)
    FROM usage_hourly GROUP BY day, series_id ORDER BY day, series_id`);
  db.exec(`INSERT INTO user_daily SELECT day, user_ref,
    SUM(requests), SUM(errors), SUM(unpriced_requests), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
    SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(duration_us), MIN(first_seen_ms), MAX(last_seen_ms)
    FROM usage_daily GROUP BY day, user_ref ORDER BY day, user_ref`);
  const park = db.prepare('INSERT OR IGNORE INTO parked (end_ms, id_hash, parked_at_ms, record) VALUES (?, ?, ?, ?)');
  for (const row of db.prepare('SELECT parked_at_ms, record FROM v1_parked').all() as Array<{ parked_at_ms: number; record: string }>) {
    const identity = spanIdentity(JSON.parse(row.record) as UsageRecord);
    park.run(identity.endMs, identity.idHash, row.parked_at_ms, row.record);
  }
  db.exec(`CREATE TABLE ${LEGACY_SEEN_TABLE} (span_key BLOB PRIMARY KEY) WITHOUT ROWID;
    INSERT OR IGNORE INTO ${LEGACY_SEEN_TABLE} SELECT span_key FROM dedup_0;
    INSERT OR IGNORE INTO ${LEGACY_SEEN_TABLE} SELECT span_key FROM dedup_1;`);
  for (const table of ['v1_users', 'v1_series', 'v1_usage_hourly', 'v1_parked', 'dedup_0', 'dedup_1']) db.exec(`DROP TABLE ${table}`);
  db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID');
  db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?), (?, ?)')
    .run('legacy_seen_until_ms', legacyUntilMs, 'dedup_rotated_ms', nowMs);
}
