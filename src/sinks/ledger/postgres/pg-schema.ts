import type { ClientBase } from 'pg';

/**
 * The PostgreSQL ledger's schema, as numbered migrations applied in order at start. Every replica runs them; an
 * advisory lock held for the whole run makes the replicas that start together take turns, so the second one finds
 * the work done and applies nothing.
 *
 * The tables mirror the SQLite ledger's totals: usage by (hour, series) and (day, series), and a per-user daily
 * rollup that the users list reads without property filters. Nothing derivable is stored per call: a call adds to
 * these rows in the transaction that records its span in `seen` (the dedup memory shared by the replicas).
 * The usage tables are keyed by time first (a commit writes at their tail); one user's rows, or the rows of the
 * series with some property, are found through their series (usage_*_by_series).
 * First and last seen keep the fraction of a millisecond that end times carry, as the SQLite ledger does.
 * user_id and the other texts are COLLATE "C" so that ordering by them is byte order, as in the SQLite ledger.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the first schema.
  `CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL UNIQUE,
    first_seen_ms DOUBLE PRECISION NOT NULL, last_seen_ms DOUBLE PRECISION NOT NULL
  );
  CREATE TABLE property_sets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    json TEXT COLLATE "C" NOT NULL UNIQUE
  );
  CREATE TABLE series (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_ref BIGINT NOT NULL REFERENCES users (id),
    provider TEXT COLLATE "C" NOT NULL, model TEXT COLLATE "C" NOT NULL, operation TEXT COLLATE "C" NOT NULL,
    is_error BOOLEAN NOT NULL, property_set BIGINT NOT NULL REFERENCES property_sets (id),
    UNIQUE (user_ref, provider, model, operation, is_error, property_set)
  );
  CREATE TABLE usage_hourly (hour INTEGER NOT NULL, series_id BIGINT NOT NULL, ${usageColumns()},
    PRIMARY KEY (hour, series_id));
  CREATE INDEX usage_hourly_by_series ON usage_hourly (series_id, hour);
  CREATE TABLE usage_daily (day INTEGER NOT NULL, series_id BIGINT NOT NULL, ${usageColumns()},
    PRIMARY KEY (day, series_id));
  CREATE INDEX usage_daily_by_series ON usage_daily (series_id, day);
  CREATE TABLE user_daily (day INTEGER NOT NULL, ${usageColumns()}, PRIMARY KEY (day, user_ref));
  CREATE INDEX user_daily_by_user ON user_daily (user_ref, day);
  CREATE TABLE seen (end_ms BIGINT NOT NULL, id_hash BIGINT NOT NULL, seen_ms BIGINT NOT NULL, PRIMARY KEY (end_ms, id_hash));
  CREATE INDEX seen_by_time ON seen USING brin (seen_ms);
  CREATE TABLE parked (
    end_ms BIGINT NOT NULL, id_hash BIGINT NOT NULL, owner TEXT NOT NULL, parked_at_ms BIGINT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (end_ms, id_hash)
  );
  CREATE INDEX parked_by_time ON parked (parked_at_ms);`,
  // 2: from when usage by the hour is whole (HOURLY_DETAIL_DAYS, src/sinks/ledger/retention.ts).
  `CREATE TABLE ledger_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);`,
];

function usageColumns(): string {
  return `user_ref BIGINT NOT NULL,
    requests BIGINT NOT NULL, errors BIGINT NOT NULL, unpriced_requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
    cost_nano_usd BIGINT NOT NULL, duration_us BIGINT NOT NULL,
    first_seen_ms DOUBLE PRECISION NOT NULL, last_seen_ms DOUBLE PRECISION NOT NULL`;
}

/** Any constant of our own, so that the lock is not one another program on the same database uses. */
const MIGRATION_LOCK_KEY = 0x6c6c6d75; // "llmu"

/**
 * Brings the database to the latest schema, under a transaction-scoped advisory lock (released by the commit, or by
 * the server if this process dies meanwhile). Throws, naming both numbers, when the database was migrated by a
 * newer processor.
 */
export async function migrate(client: ClientBase): Promise<{ from: number; to: number }> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query('CREATE TABLE IF NOT EXISTS ledger_schema (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const result = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM ledger_schema');
    const from = result.rows[0]?.version ?? 0;
    if (from > MIGRATIONS.length) {
      throw new Error(`the database has ledger schema ${from}; this processor knows schema ${MIGRATIONS.length} (was it migrated by a newer version?)`);
    }
    for (let version = from + 1; version <= MIGRATIONS.length; version++) {
      await client.query(MIGRATIONS[version - 1]!);
      await client.query('INSERT INTO ledger_schema (version) VALUES ($1)', [version]);
    }
    await client.query('COMMIT');
    return { from, to: MIGRATIONS.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
