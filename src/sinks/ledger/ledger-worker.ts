import { MessageChannel, parentPort, receiveMessageOnPort, Worker, workerData, type MessagePort } from 'node:worker_threads';
import type { CheckpointerSettings } from './ledger-checkpointer.ts';
import {
  HEALTH_REPORT_ID, type CheckpointFailure, type Envelope, type HealthReport, type LedgerRequest, type Reply, type WorkerSettings,
} from './ledger-protocol.ts';
import type { LedgerHealth } from './ledger.ts';
import { LedgerWriter, type Checkpointer } from './sqlite-writer.ts';
import { createLogger, routeWarnings } from '../../log.ts';

// Warnings (process.emitWarning below, and Node's own) as JSON lines on stderr, like the main thread's logs.
routeWarnings(createLogger('warn'));

/**
 * The ledger's writer thread: owns the writing connection and answers SqliteLedger's requests one at a time, in the
 * order they were sent. Started by SqliteLedger; not a module to import.
 */
const port = parentPort;
if (port === null) throw new Error('ledger-worker.ts runs as a worker thread of SqliteLedger');
const settings = workerData as WorkerSettings & { readonly nowMs: number; readonly replies: MessagePort };
/** Replies go on a port of their own (see SqliteLedger.takeWaitingReplies); requests come on parentPort. */
const replies = settings.replies;

/** The checkpointer's module beside this one: .ts when Node runs the sources, .js in the compiled package. */
const CHECKPOINTER_URL = new URL(`./ledger-checkpointer${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url);
/** How long close() waits for the checkpointer to close its connection. */
const CHECKPOINTER_CLOSE_MS = 10_000;
/**
 * How often a failed ledger probes the disk (LedgerWriter.probe): exports get 503 meanwhile, and exporters retry
 * after a second or more, so a shorter interval would recover little sooner.
 */
export const PROBE_EVERY_MS = 1000;

/** Starts the checkpointer thread (ledger-checkpointer.ts); close() returns once it has closed its connection. */
function startCheckpointer(): Checkpointer {
  const closed = new Int32Array(new SharedArrayBuffer(4));
  const failures = new MessageChannel();
  // Taken synchronously before each commit (takeFailure); the listener tells an idle writer (and /healthz).
  failures.port1.on('message', (failure: CheckpointFailure) => {
    if (writer === undefined) return;
    writer.checkpointFailed(failure.error);
    reportHealth(writer.health);
  });
  failures.port1.unref();
  const thread = new Worker(CHECKPOINTER_URL, {
    workerData: { path: settings.path, synchronous: settings.synchronous, closed, failures: failures.port2 } satisfies CheckpointerSettings,
    transferList: [failures.port2],
    // Its heap holds ~11 MB once loaded (this module, compiled), and stays there.
    resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 },
  });
  thread.unref();
  let running = true;
  // A thread that ran out of memory or failed to load ends without running its own code: the writer checkpoints
  // after its folds again, and does not wait for it at close.
  thread.on('error', (error) => process.emitWarning(`the ledger's checkpointer thread stopped: ${error.message}`));
  thread.on('exit', () => { running = false; });
  return {
    get running() {
      return running;
    },
    close() {
      failures.port1.close();
      if (!running) return;
      thread.postMessage('close');
      Atomics.wait(closed, 0, 0, CHECKPOINTER_CLOSE_MS);
    },
    takeFailure() {
      let latest: string | undefined;
      for (let report = receiveMessageOnPort(failures.port1); report !== undefined; report = receiveMessageOnPort(failures.port1)) {
        latest = (report.message as CheckpointFailure).error;
      }
      return latest;
    },
  };
}

let writer: LedgerWriter | undefined;
let openFailure: string | undefined;
try {
  writer = new LedgerWriter(settings, settings.nowMs, startCheckpointer());
} catch (error) {
  openFailure = `cannot open the ledger ${settings.path} for writing: ${(error as Error).message}`;
  // Every request is refused from now on: /healthz says so too.
  replies.postMessage({ id: HEALTH_REPORT_ID, health: { ok: false, error: openFailure, sinceMs: Date.now() } } satisfies HealthReport);
}

function handle(request: LedgerRequest, ledger: LedgerWriter): { value: unknown; transfer: ArrayBuffer[] } {
  switch (request.op) {
    case 'group': {
      const answer = ledger.group(request);
      // Nothing transferred: the writer adds the group's calls to its sums after answering (settleGroup).
      return { value: answer, transfer: [] };
    }
    case 'fold':
      ledger.foldForRead(request.nowMs);
      return { value: undefined, transfer: [] };
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
    reply = { id, ok: false, message: openFailure ?? 'the ledger is closed', unavailable: openFailure !== undefined };
  } else {
    const ledger = writer;
    try {
      const handled = handle(request, ledger);
      reply = { id, ok: true, value: handled.value };
      transfer = handled.transfer;
    } catch (error) {
      reply = { id, ok: false, message: (error as Error).message, unavailable: !ledger.health.ok };
    }
    // Before the reply: the main thread knows the ledger failed by the time it answers the export 503.
    if (request.op !== 'close') reportHealth(ledger.health);
  }
  replies.postMessage(reply, transfer);
  // Closing the ports lets the thread end once the answer is out.
  if (request.op === 'close') {
    clearInterval(probing);
    replies.close();
    port.close();
  }
  if (request.op === 'group' && writer !== undefined) {
    lastNowMs = request.nowMs;
    try {
      writer.settleGroup();
    } catch (error) {
      process.emitWarning(`ledger sums could not take a group: ${(error as Error).message}`);
    }
    // After the groups already waiting (messages are taken before immediates), so none of them waits for a fold step.
    continuation ??= setImmediate(runMaintenance);
  }
});

/** The clock of the latest group (the main thread's: tests move it). */
let lastNowMs = 0;
let continuation: NodeJS.Immediate | undefined;
let reportedHealth: LedgerHealth = { ok: true };
let probing: NodeJS.Timeout | undefined;

/**
 * Tells the main thread when the ledger fails or recovers (and when the error of a failed one changes); while it is
 * failed, probes the disk every PROBE_EVERY_MS.
 */
function reportHealth(health: LedgerHealth): void {
  const changed = health.ok !== reportedHealth.ok ||
    (!health.ok && !reportedHealth.ok && (health.error !== reportedHealth.error || health.probeError !== reportedHealth.probeError));
  if (!changed) return;
  reportedHealth = health;
  replies.postMessage({ id: HEALTH_REPORT_ID, health } satisfies HealthReport);
  if (!health.ok) {
    probing ??= setInterval(probe, PROBE_EVERY_MS);
  } else if (probing !== undefined) {
    clearInterval(probing);
    probing = undefined;
  }
}

function probe(): void {
  if (writer === undefined) {
    clearInterval(probing);
    return;
  }
  if (writer.probe()) continuation ??= setImmediate(runMaintenance);
  reportHealth(writer.health);
}

function runMaintenance(): void {
  continuation = undefined;
  maintain();
}

/**
 * A step of maintenance (a fold's) once the groups that came meanwhile are committed; while a fold is under way,
 * further steps run when no group comes (setImmediate runs after the messages already waiting, so steps and group
 * commits take turns).
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
  reportHealth(writer.health);
  if (more) continuation ??= setImmediate(runMaintenance);
}
