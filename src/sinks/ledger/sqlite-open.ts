import { DatabaseSync } from 'node:sqlite';
import { foldCallLog } from './sqlite-fold.ts';
import { createOrUpgradeSchema } from './sqlite-schema.ts';

/**
 * Opening the ledger's SQLite file, shared by the connections that use it: the writer (in the ledger's worker
 * thread) and the reader (in the main thread, for the metrics' synchronous seeds), and the checkpointer's (which opens
 * its own, ledger-checkpointer.ts). They run in WAL mode with normal
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

/** A connection to the ledger file with the settings the writer's and the reader's share. */
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
 * Creates or upgrades the schema and folds what a previous run left in the call log (a stop or a kill -9 between
 * folds), in one transaction, before any other connection uses the file.
 */
export function prepareDatabase(db: DatabaseSync, path: string, nowMs: number, legacyUntilMs: number): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    createOrUpgradeSchema(db, path, nowMs, legacyUntilMs);
    foldCallLog(db);
    db.exec('COMMIT');
  } catch (error) {
    try { if (db.isTransaction) db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
    throw error;
  }
}
