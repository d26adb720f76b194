import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createLogger, routeWarnings } from '../../log.ts';
import type { CheckpointFailure } from './ledger-protocol.ts';

/**
 * The ledger's checkpointer thread: copies the pages the writer appended to the WAL back into the database file, on
 * a connection of its own, so that the writer thread never does it in its turn. Done by the writer, a checkpoint
 * after a fold took 200-230 ms and SQLite's automatic one (inside a commit) up to 430 ms, and every export waiting
 * for a commit waited that long. A checkpoint does not stop the writer: it copies what was committed when it began
 * while the writer appends. Started by the writer thread (ledger-worker.ts); not a module to import.
 */

export interface CheckpointerSettings {
  readonly path: string;
  readonly synchronous: 'normal' | 'full';
  /** Set to 1 (and notified) once this thread has closed its connection. */
  readonly closed: Int32Array;
  /**
   * Where each failed checkpoint is told (CheckpointFailure), on a port of its own so that the writer can take the
   * reports synchronously before it commits: a checkpoint that cannot write or sync the database file means the
   * disk is failing, and no export may be acknowledged until the writer's probe succeeds.
   */
  readonly failures: MessagePort;
}

/**
 * How often the WAL is copied back. Often enough that it stays small: the writer starts it over from its beginning
 * once a checkpoint has copied all of it (overwriting a file already that long is cheaper than growing it).
 */
const CHECKPOINT_EVERY_MS = 500;
/**
 * Rounds of one checkpoint: each copies what was committed when it began; the writer commits meanwhile, so a round
 * or two more usually catch up with it, and only a WAL copied whole can be started over.
 */
const MAX_ROUNDS = 4;
/**
 * Past this many frames (16 MB) a WAL the rounds did not copy whole is finished by a RESTART checkpoint, which holds
 * the writer back while it copies the few frames left: under commits with no pause between them (a million calls
 * committed back to back), passive rounds never caught up and the WAL grew to SQLite's automatic checkpoint (128 MB).
 */
const RESTART_PAST_FRAMES = 4096;
/**
 * How long a RESTART checkpoint waits for readers of the old WAL (busy timeout). It holds the write lock while it
 * waits, so the writer's commits wait as long: a CSV of a million users reads one snapshot for 10-20 s, and with a
 * 2 s wait the writer's own timeout ran out and exports got 503. Past it the RESTART gives up until the next round.
 */
const RESTART_WAIT_MS = 50;

// Warnings (process.emitWarning below, and Node's own) as JSON lines on stderr, like the main thread's logs.
routeWarnings(createLogger('warn'));
const port = parentPort;
if (port === null) throw new Error('ledger-checkpointer.ts runs as a worker thread of the ledger writer');
const settings = workerData as CheckpointerSettings;
// However this thread ends, the writer waiting in close() is let go.
process.on('exit', () => {
  Atomics.store(settings.closed, 0, 1);
  Atomics.notify(settings.closed, 0);
});
// Its own connection, opened directly (this thread loads nothing else: it is a thread's worth of memory): a small
// page cache, since a checkpoint reads the WAL's frames and writes them without keeping them.
function openConnection() {
  const db = new DatabaseSync(settings.path, { timeout: RESTART_WAIT_MS });
  try {
    db.exec(`PRAGMA synchronous = ${settings.synchronous === 'full' ? 'FULL' : 'NORMAL'}; PRAGMA cache_size = -256;
      PRAGMA wal_autocheckpoint = 0;`);
    return { db, passive: db.prepare('PRAGMA wal_checkpoint(PASSIVE)'), restart: db.prepare('PRAGMA wal_checkpoint(RESTART)') };
  } catch (error) {
    // Opened but not usable (an unreadable file): closed here, or every failing round would leak one.
    db.close();
    throw error;
  }
}

/**
 * Undefined after a failure: a connection that met a read-only or failing file may keep answering "attempt to write
 * a readonly database" after the disk is good again, so the next round opens a new one.
 */
let connection: ReturnType<typeof openConnection> | undefined;
/** Whether the last checkpoint failed: a failure is told once, not every 500 ms. */
let failing = false;

function checkpoint(): void {
  try {
    connection ??= openConnection();
    const { passive, restart } = connection;
    let state = { log: 0, checkpointed: 0 };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      state = passive.get() as typeof state;
      if (state.log <= 0 || state.checkpointed >= state.log) break;
    }
    if (state.log >= RESTART_PAST_FRAMES && state.checkpointed < state.log) restart.get();
    failing = false;
  } catch (error) {
    // The writer's own automatic checkpoint still bounds the WAL; a failed copy is tried again next time.
    const message = `ledger checkpoint failed: ${(error as Error).message}`;
    if (!failing) process.emitWarning(message);
    failing = true;
    try { connection?.db.close(); } catch { /* the connection is being dropped for failing already */ }
    connection = undefined;
    settings.failures.postMessage({ error: message } satisfies CheckpointFailure);
  }
}

const timer = setInterval(checkpoint, CHECKPOINT_EVERY_MS);

port.on('message', (message: 'close') => {
  if (message !== 'close') return;
  clearInterval(timer);
  try { connection?.db.close(); } finally {
    Atomics.store(settings.closed, 0, 1);
    Atomics.notify(settings.closed, 0);
    settings.failures.close();
    port.close();
  }
});
