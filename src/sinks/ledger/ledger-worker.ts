import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Envelope, LedgerRequest, Reply, WorkerSettings } from './ledger-protocol.ts';
import { LedgerWriter } from './sqlite-writer.ts';

/**
 * The ledger's writer thread: owns the writing connection and answers SqliteLedger's requests one at a time, in the
 * order they were sent. Started by SqliteLedger; not a module to import.
 */
const port = parentPort;
if (port === null) throw new Error('ledger-worker.ts runs as a worker thread of SqliteLedger');
const settings = workerData as WorkerSettings & { readonly nowMs: number; readonly replies: MessagePort };
/** Replies go on a port of their own (see SqliteLedger.takeWaitingReplies); requests come on parentPort. */
const replies = settings.replies;

let writer: LedgerWriter | undefined;
let openFailure: string | undefined;
try {
  writer = new LedgerWriter(settings, settings.nowMs);
} catch (error) {
  openFailure = `cannot open the ledger ${settings.path} for writing: ${(error as Error).message}`;
}

function handle(request: LedgerRequest, ledger: LedgerWriter): { value: unknown; transfer: ArrayBuffer[] } {
  switch (request.op) {
    case 'group': {
      const answer = ledger.group(request);
      return { value: answer, transfer: [answer.fresh.buffer as ArrayBuffer, answer.calls.buffer as ArrayBuffer] };
    }
    case 'users': {
      const page = ledger.users(request.query, request.nowMs);
      return { value: page, transfer: [page.numbers.buffer as ArrayBuffer] };
    }
    case 'user': return { value: ledger.user(request.userId, request.filter, request.nowMs), transfer: [] };
    case 'parked': return { value: ledger.parked(), transfer: [] };
    case 'close':
      ledger.close(request.nowMs);
      writer = undefined;
      return { value: undefined, transfer: [] };
  }
}

port.on('message', ({ id, request }: Envelope) => {
  let reply: Reply;
  let transfer: ArrayBuffer[] = [];
  if (writer === undefined) {
    reply = { id, ok: false, message: openFailure ?? 'the ledger is closed' };
  } else {
    try {
      const handled = handle(request, writer);
      reply = { id, ok: true, value: handled.value };
      transfer = handled.transfer;
    } catch (error) {
      reply = { id, ok: false, message: (error as Error).message };
    }
  }
  replies.postMessage(reply, transfer);
  // Closing the ports lets the thread end once the answer is out.
  if (request.op === 'close') {
    replies.close();
    port.close();
  }
  if (request.op === 'group') {
    lastNowMs = request.nowMs;
    maintain();
  }
});

/** The clock of the latest group (the main thread's: tests move it). */
let lastNowMs = 0;
let continuation: NodeJS.Immediate | undefined;

/**
 * A slice of maintenance after each group; while a fold is under way, further slices also run when no group comes
 * (setImmediate runs after the messages already waiting, so slices and group commits take turns).
 */
function maintain(): void {
  if (writer === undefined) return;
  let more = false;
  try {
    more = writer.maintain(lastNowMs);
  } catch (error) {
    // The log stays committed; the next fold (or the next start) takes it.
    process.emitWarning(`ledger fold failed: ${(error as Error).message}`);
  }
  if (more) {
    continuation ??= setImmediate(() => {
      continuation = undefined;
      maintain();
    });
  }
}
