import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { PackedUsersPage, ReaderEnvelope, ReaderRequest } from './ledger-protocol.ts';
import { LedgerOverviewReads, LedgerReads } from './sqlite-reads.ts';

/**
 * The ledger's reader thread: answers the users API on read-only connections of its own, so that a read of a
 * million users neither holds up the writer (which only folds before it) nor the event loop that decodes exports.
 * A CSV reads through a cursor on a connection of its own, one page per request, so that its snapshot stays open
 * while the HTTP response drains and other reads go on meanwhile. Started by SqliteLedger; not a module to import.
 */
const port = parentPort;
if (port === null) throw new Error('ledger-reader.ts runs as a worker thread of SqliteLedger');
const { path } = workerData as { readonly path: string };
/** Page cache of each connection; a month of users reads the daily rollup once, from the OS's cache. */
const CACHE_KIB = 16_384;

function openReadOnly(): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly: true, timeout: 2000 });
  db.exec(`PRAGMA cache_size = -${CACHE_KIB}; PRAGMA temp_store = MEMORY`);
  return db;
}

const readsDb = openReadOnly();
const reads = new LedgerReads(readsDb);
const overviewReads = new LedgerOverviewReads(readsDb);
const cursors = new Map<number, { readonly db: DatabaseSync; readonly pages: Generator<PackedUsersPage, void, undefined> }>();

function closeCursor(cursor: number): void {
  const open = cursors.get(cursor);
  if (open === undefined) return;
  cursors.delete(cursor);
  try {
    open.pages.return(undefined);
  } finally {
    open.db.close();
  }
}

function handle(request: ReaderRequest): { value: unknown; transfer: ArrayBuffer[] } {
  switch (request.op) {
    case 'users': {
      const page = reads.users(request.query);
      return { value: page, transfer: [page.numbers.buffer as ArrayBuffer] };
    }
    case 'user': return { value: reads.user(request.userId, request.filter), transfer: [] };
    case 'openCursor': {
      const db = openReadOnly();
      try {
        cursors.set(request.cursor, { db, pages: new LedgerReads(db).usersPages(request.query, request.pageRows) });
      } catch (error) {
        db.close();
        throw error;
      }
      return { value: undefined, transfer: [] };
    }
    case 'nextPage': {
      const open = cursors.get(request.cursor);
      if (open === undefined) throw new Error(`no open cursor ${request.cursor}`);
      const next = open.pages.next();
      if (next.done === true) {
        closeCursor(request.cursor);
        return { value: undefined, transfer: [] };
      }
      return { value: next.value, transfer: [next.value.numbers.buffer as ArrayBuffer] };
    }
    case 'closeCursor':
      closeCursor(request.cursor);
      return { value: undefined, transfer: [] };
    case 'overview': return { value: overviewReads.overview(request.filter, request.propertyNames, request.valueNames), transfer: [] };
    case 'userProperties': return { value: overviewReads.userProperties(request.userIds, request.propertyNames, request.filter), transfer: [] };
    case 'dailyActivity': return { value: overviewReads.dailyActivity(request.fromDay, request.toDay, request.minRequests), transfer: [] };
  }
}

port.on('message', ({ id, request }: ReaderEnvelope) => {
  try {
    const { value, transfer } = handle(request);
    port.postMessage({ id, ok: true, value }, transfer);
  } catch (error) {
    if (request.op === 'nextPage') {
      try { closeCursor(request.cursor); } catch { /* the read's own error is the one to report */ }
    }
    port.postMessage({ id, ok: false, message: (error as Error).message });
  }
});
