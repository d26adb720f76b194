import { DatabaseSync } from 'node:sqlite';
import { HOURS_PER_DAY } from './aggregate.ts';
import { createOrUpgradeSchema } from './sqlite-schema.ts';

/**
 * Opening the ledger's SQLite file, shared by the two connections that use it: the writer (in the ledger's worker
 * thread) and the reader (in the main thread, for the metrics' synchronous seeds). Both run in WAL mode with normal
 * locking, so the reader sees every committed transaction while the writer goes on.
 */

export const LEDGER_FILE_NAME = 'ledger.sqlite';
/** Held by the processor that owns DATA_DIR; see lockDirectory. */
export const LOCK_FILE_NAME = 'ledger.lock';

export type SyncMode = 'normal' | 'full';

/**
 * One processor per DATA_DIR. The ledger itself cannot be opened in exclusive locking mode (the main thread reads
 * it beside the writer thread), so exclusivity is a lock on a file of its own: a tiny SQLite database in exclusive
 * locking mode holding a write lock until the connection closes. The OS drops the lock when the process dies
 * (kill -9 included), and SQLite keeps connections of one process apart too.
 */
export function lockDirectory(lockPath: string, ledgerPath: string): DatabaseSync {
  let lock: DatabaseSync | undefined;
  try {
    lock = new DatabaseSync(lockPath, { timeout: 1000 });
    lock.exec(`PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = DELETE;
      BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL); DELETE FROM holder;`);
    lock.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
    lock.exec('COMMIT');
    return lock;
  } catch (error) {
    try { lock?.close(); } catch { /* already failing */ }
    const reason = (error as Error).message;
    throw new Error(/locked|busy/i.test(reason)
      ? `the ledger ${ledgerPath} is in use by another process (one processor per DATA_DIR): ${reason}`
      : `cannot lock the ledger ${ledgerPath} (${lockPath}): ${reason}`);
  }
}

/** A connection to the ledger file with the settings both connections share. */
export function openConnection(path: string, synchronous: SyncMode, cacheKib: number): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: 2000 });
  try {
    // temp_store: the GROUP BY of the users API sorts in memory rather than in a temporary file.
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'};
      PRAGMA cache_size = -${cacheKib}; PRAGMA wal_autocheckpoint = 8192; PRAGMA temp_store = MEMORY;`);
  } catch (error) {
    try { db.close(); } catch { /* already failing */ }
    throw error;
  }
  return db;
}

/**
 * Creates or upgrades the schema and folds what a previous run left in the usage log (a stop or a kill -9 between
 * folds), in one transaction, before any other connection uses the file.
 */
export function prepareDatabase(db: DatabaseSync, path: string, nowMs: number, legacyUntilMs: number): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    createOrUpgradeSchema(db, path, nowMs, legacyUntilMs);
    prepareFold(db).fold();
    db.exec('COMMIT');
  } catch (error) {
    try { if (db.isTransaction) db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
    throw error;
  }
}

export const UPSERT_USAGE_SET = `requests = requests + excluded.requests, errors = errors + excluded.errors,
  unpriced_requests = unpriced_requests + excluded.unpriced_requests,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
  cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
  cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd, duration_us = duration_us + excluded.duration_us,
  first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`;

export const LOG_SUMS = `SUM(requests), SUM(errors), SUM(unpriced_requests), SUM(input_tokens), SUM(output_tokens),
  SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(duration_us),
  MIN(first_seen_ms), MAX(last_seen_ms)`;

/**
 * Adds the logged sums to usage_hourly, usage_daily, user_daily and the users' first/last seen, and empties the
 * log, inside the caller's transaction. Grouped by key first, a series busy in many commits costs one row update
 * per fold.
 */
export function prepareFold(db: DatabaseSync): { fold(): void } {
  // WHERE true: without it SQLite would read ON CONFLICT as part of the SELECT.
  const statements = [
    db.prepare(`INSERT INTO usage_hourly SELECT hour, series_id, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY hour, series_id ORDER BY hour, series_id ON CONFLICT (hour, series_id) DO UPDATE SET ${UPSERT_USAGE_SET}`),
    db.prepare(`INSERT INTO usage_daily SELECT hour / ${HOURS_PER_DAY} AS day, series_id, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY day, series_id ORDER BY day, series_id ON CONFLICT (day, series_id) DO UPDATE SET ${UPSERT_USAGE_SET}`),
    db.prepare(`INSERT INTO user_daily SELECT hour / ${HOURS_PER_DAY} AS day, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY day, user_ref ORDER BY day, user_ref ON CONFLICT (day, user_ref) DO UPDATE SET ${UPSERT_USAGE_SET}`),
    db.prepare(`UPDATE users SET first_seen_ms = min(users.first_seen_ms, logged.first_seen_ms),
      last_seen_ms = max(users.last_seen_ms, logged.last_seen_ms)
      FROM (SELECT user_ref, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms FROM usage_log GROUP BY user_ref) AS logged
      WHERE users.id = logged.user_ref`),
    db.prepare('DELETE FROM usage_log'),
  ];
  return { fold: () => { for (const statement of statements) statement.run(); } };
}
