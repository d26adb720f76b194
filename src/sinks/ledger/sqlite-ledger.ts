import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import type { UserSeriesSeed } from '../metrics/usage-metrics.ts';
import { ledgerUserId, legacySpanKey, MS_PER_HOUR } from './aggregate.ts';
import {
  CALL_FIELDS, encodeCall, HEALTH_REPORT_ID, unpackUsersPage,
  type Envelope, type GroupAnswer, type GroupItem, type HealthReport, type LedgerAnswers, type LedgerRequest,
  type ReaderAnswers, type ReaderEnvelope, type ReaderRequest, type Reply, type WorkerSettings,
} from './ledger-protocol.ts';
import { foldKey, seedEntry, seedKey, seedOfSums, type SeedSums } from './metrics-seed.ts';
import {
  LedgerClosedError, LedgerUnavailableError,
  type DailyActivity, type LedgerHealth, type MetricsRestoreSource, type UsageFilter, type UsageLedger, type UsageOverview,
  type UserDetail, type UsersPage, type UsersQuery,
} from './ledger.ts';
import { LEDGER_FILE_NAME, LOCK_FILE_NAME, lockDirectory, openConnection, prepareDatabase } from './sqlite-open.ts';
import { oneUserSource, SUMS_SQL } from './sqlite-queries.ts';
import { HOURLY_KEPT_FROM_META } from './retention.ts';
import { userSpanOf, type Row } from './sqlite-reads.ts';
import { UnfoldedGroups } from './unfolded-groups.ts';
import { GroupSeriesNumbering, type GroupSeries } from './group-series.ts';

export { LEDGER_FILE_NAME } from './sqlite-open.ts';

export interface SqliteLedgerOptions {
  /** Directory of the database file; created if missing. ':memory:' for a throwaway ledger (tests), removed at close. */
  readonly dataDir: string;
  /** A span id seen once is recognised as a retry for at least this long (and at most twice as long). */
  readonly dedupWindowHours: number;
  /**
   * 'normal': a commit survives a crash of the process (kill -9); 'full': also a power loss or OS crash, at the
   * price of an fsync per group commit.
   */
  readonly synchronous: 'normal' | 'full';
  /** Clock, for tests of the dedup window. */
  readonly now?: () => number;
  /** Rows per slice of a fold (tests make it small to watch a fold midway); default 1,000. */
  readonly foldSliceRows?: number;
  /** HOURLY_DETAIL_DAYS: usage by the hour older than this many days is dropped (daily totals stay); 0: kept. */
  readonly hourlyDetailDays?: number;
  /** Told when the ledger fails (a failing disk, the writer thread gone) and when it recovers. */
  readonly onHealthChange?: (health: LedgerHealth) => void;
}

/** The worker's module beside this one: .ts when Node runs the sources, .js in the compiled package. */
const WORKER_URL = new URL(`./ledger-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const READER_URL = new URL(`./ledger-reader${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** Past this many users the map of seed points drops the ones no call in flight can need (see markSeeded). */
const MAX_SEEDED_USERS = 20_000;
const READER_CACHE_KIB = 16_384;
const MAX_GROUPS_IN_FLIGHT = 2;
/** A reader thread that dies this often within the window is not started again (reads answer 503 until a restart). */
const MAX_READER_RESTARTS = 5;
const READER_RESTART_WINDOW_MS = 60_000;

interface QueuedWork {
  readonly kind: 'commit' | 'park';
  readonly records: readonly UsageRecord[];
  readonly resolve: (fresh: never[]) => void;
  readonly reject: (error: Error) => void;
}

interface Waiting {
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The ledger in one SQLite file (WAL) through Node's own `node:sqlite`, written by a worker thread so that SQLite's
 * work runs beside the event loop instead of on it. Commits are grouped: every export that arrives before the event
 * loop's next check phase shares one transaction; the group travels to the writer as typed arrays (sqlite-writer.ts
 * aggregates it), and each export is answered once the transaction holding it has committed.
 *
 * The metrics' seeds must be synchronous, so this thread keeps a read-only connection of its own (WAL lets it read
 * while the writer writes) for the folded totals, and the answered groups' calls until the writer has folded them
 * (UnfoldedGroups). A seed is exact as of the latest commit its two parts hold.
 */
export class SqliteLedger implements UsageLedger, MetricsRestoreSource {
  readonly path: string;
  private readonly dedupWindowMs: number;
  private readonly now: () => number;
  private readonly temporaryDir: string | undefined;
  private readonly lock: DatabaseSync;
  private readonly reader: DatabaseSync;
  private readonly reads: ReturnType<typeof prepareReads>;
  private readonly seedStatements = new Map<string, StatementSync>();
  private readonly worker: Worker;
  /** The users API's reads (ledger-reader.ts), on connections of their own; started again if it dies. */
  private readerThread: Worker;
  /** When the reader thread was started again, within the last READER_RESTART_WINDOW_MS. */
  private readerRestarts: number[] = [];
  private readonly readerWaiting = new Map<number, Waiting>();
  private nextCursor = 1;
  /** The writer's replies come on a port of their own, so that a seed can take the ones waiting synchronously. */
  private readonly replies: MessagePort;
  /** Until when schema-1 dedup keys (a migrated ledger) are consulted; 0 when there are none. */
  private legacyUntilMs: number;
  private nextRequestId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** The writer thread is gone: nothing is recorded until a restart. */
  private failure: LedgerUnavailableError | undefined;
  /** The writer's latest HealthReport: failed while the disk fails, until its probe succeeds. */
  private writerHealth: LedgerHealth = { ok: true };
  private failedAtMs = 0;
  private readonly onHealthChange: ((health: LedgerHealth) => void) | undefined;
  /** The reader thread is gone: the users API answers 503 until a restart; commits go on. */
  private readFailure: LedgerUnavailableError | undefined;
  private queue: QueuedWork[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  /**
   * The group commits sent to the writer and not answered yet, at most MAX_GROUPS_IN_FLIGHT: what arrives meanwhile
   * waits here and goes as the next group, so a busy writer commits larger groups (fewer transactions) rather than a
   * backlog of small ones. Two rather than one: the writer starts on the next group without waiting for this thread
   * to handle an answer, which it may only do after decoding the export in hand.
   */
  private readonly groupsInFlight = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The commit sequence number of each batch of new calls a commit resolved with; read by countedInSeed. */
  private readonly commitSeqOf = new WeakMap<readonly UsageRecord[], number>();
  /** The commit sequence number each user's latest seed is exact as of. */
  private readonly seededAt = new Map<string, number>();
  /** The largest value seededAt has held (it never shrinks: entries are only dropped). */
  private latestSeededAt = 0;
  private answeredSeq = 0;
  /** The latest group whose calls have all reached the metrics (a turn of the event loop after its answer). */
  private deliveredSeq = 0;
  /** While a seed handles waiting answers, the groups they say are folded are dropped only after the seed is read. */
  private holdingDrops = false;
  private heldDropThrough = 0;
  private readonly unfolded = new UnfoldedGroups();
  private readonly seriesNumbering = new GroupSeriesNumbering();

  constructor(options: SqliteLedgerOptions) {
    this.now = options.now ?? Date.now;
    this.onHealthChange = options.onHealthChange;
    this.dedupWindowMs = options.dedupWindowHours * MS_PER_HOUR;
    let dir = options.dataDir;
    if (dir === ':memory:') {
      // Two connections (writer thread and reader) cannot share a private in-memory database: a temporary file it is.
      dir = this.temporaryDir = mkdtempSync(join(tmpdir(), 'llm-user-metrics-ledger-'));
    } else {
      mkdirSync(dir, { recursive: true });
    }
    this.path = join(dir, LEDGER_FILE_NAME);
    const nowMs = this.now();
    let lock: DatabaseSync | undefined;
    let reader: DatabaseSync | undefined;
    try {
      lock = lockDirectory(join(dir, LOCK_FILE_NAME), this.path);
      try {
        reader = openConnection(this.path, options.synchronous, READER_CACHE_KIB);
        prepareDatabase(reader, this.path, nowMs, nowMs + 2 * this.dedupWindowMs);
        reader.exec('PRAGMA query_only = 1');
      } catch (error) {
        throw new Error(`cannot open the ledger ${this.path}: ${(error as Error).message}`);
      }
    } catch (error) {
      try { reader?.close(); } catch { /* already failing */ }
      try { lock?.close(); } catch { /* already failing */ }
      if (this.temporaryDir !== undefined) rmSync(this.temporaryDir, { recursive: true, force: true });
      throw error;
    }
    this.lock = lock;
    this.reader = reader;
    this.reads = prepareReads(reader);
    this.legacyUntilMs = Number((this.reads.meta.get('legacy_seen_until_ms') as Row | undefined)?.value ?? 0);
    const channel = new MessageChannel();
    this.replies = channel.port1;
    this.worker = new Worker(WORKER_URL, {
      workerData: {
        path: this.path, dedupWindowMs: this.dedupWindowMs, synchronous: options.synchronous, foldSliceRows: options.foldSliceRows,
        hourlyDetailDays: options.hourlyDetailDays ?? 0,
        nowMs, replies: channel.port2,
      } satisfies WorkerSettings & Record<string, unknown>,
      transferList: [channel.port2],
      // The writer makes short-lived garbage per call; a small young generation keeps its share of RSS small.
      // An old generation of 192 MB: its live data is a few tens of MB (the sums between folds, id caches), and with
      // no limit V8 lets the garbage of a flood of new users grow the thread's heap by a hundred MB and more.
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 192 },
    });
    // Referenced only while an answer is awaited, so an idle ledger does not keep the process alive.
    this.worker.unref();
    this.replies.on('message', (reply: Reply) => this.onReply(reply));
    this.replies.unref();
    this.readerThread = this.startReaderThread();
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => { if (this.closing === undefined) this.fail(new Error(`exited with code ${code}`)); });
  }

  commit(records: readonly PricedUsage[]): Promise<PricedUsage[]> {
    return this.enqueue('commit', records) as Promise<PricedUsage[]>;
  }

  park(records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    return this.enqueue('park', records);
  }

  parked(): Promise<UsageRecord[]> {
    return this.request({ op: 'parked' });
  }

  async users(query: UsersQuery): Promise<UsersPage> {
    this.assertReadable();
    await this.request({ op: 'fold', nowMs: this.now() });
    return unpackUsersPage(await this.read({ op: 'users', query }));
  }

  async user(userId: string, filter: UsageFilter): Promise<UserDetail | undefined> {
    this.assertReadable();
    await this.request({ op: 'fold', nowMs: this.now() });
    return this.read({ op: 'user', userId, filter });
  }

  async overview(filter: UsageFilter, propertyNames: readonly string[], valueNames: readonly string[] = []): Promise<UsageOverview> {
    this.assertReadable();
    await this.request({ op: 'fold', nowMs: this.now() });
    return this.read({ op: 'overview', filter, propertyNames, valueNames });
  }

  async userProperties(userIds: readonly string[], propertyNames: readonly string[], filter: UsageFilter): Promise<Record<string, Record<string, string>>> {
    this.assertReadable();
    await this.request({ op: 'fold', nowMs: this.now() });
    return this.read({ op: 'userProperties', userIds, propertyNames, filter });
  }

  async dailyActivity(fromDay: number, toDay: number, minRequests: number): Promise<DailyActivity[]> {
    this.assertReadable();
    await this.request({ op: 'fold', nowMs: this.now() });
    return this.read({ op: 'dailyActivity', fromDay, toDay, minRequests });
  }

  async *usersPages(query: UsersQuery, pageRows: number): AsyncGenerator<UsersPage, void, undefined> {
    this.assertReadable();
    await this.request({ op: 'fold', nowMs: this.now() });
    const cursor = this.nextCursor++;
    await this.read({ op: 'openCursor', cursor, query, pageRows });
    let done = false;
    try {
      for (;;) {
        const page = await this.read({ op: 'nextPage', cursor });
        if (page === undefined) {
          done = true;
          return;
        }
        yield unpackUsersPage(page);
      }
    } finally {
      // A reader that stopped early (the client went away) ends the cursor's snapshot.
      if (!done) await this.read({ op: 'closeCursor', cursor }).catch(() => undefined);
    }
  }

  health(): LedgerHealth {
    if (this.failure !== undefined) return { ok: false, error: this.failure.message, sinceMs: this.failedAtMs };
    return this.writerHealth;
  }

  /** The error to refuse work with while the ledger is failed; undefined when it takes writes. */
  /** Throws while reads cannot be answered: the ledger is failing, or the reader thread is gone (503 either way). */
  private assertReadable(): void {
    const unavailable = this.unavailable() ?? this.readFailure;
    if (unavailable !== undefined) throw unavailable;
  }

  private unavailable(): LedgerUnavailableError | undefined {
    if (this.failure !== undefined) return this.failure;
    const health = this.writerHealth;
    if (health.ok) return undefined;
    return new LedgerUnavailableError(`the ledger is failing since ${new Date(health.sinceMs).toISOString()} (${health.error}); ` +
      'nothing is recorded until the disk takes writes again');
  }

  /**
   * The folded totals hold every commit up to the snapshot's folded_seq (each series possibly further, up to its
   * own folded_seq); the unfolded groups every answered one after that. Together, once the answers waiting on the
   * port are handled: every commit up to the latest answer, and none after.
   */
  seedUser(userId: string): UserSeriesSeed[] {
    this.assertOpen();
    const seeds = new Map<string, SeedSums>();
    const seriesFoldedSeq = new Map<string, number>();
    let foldedSeq: number;
    // One snapshot for the sequence number and the sums, so the folded part is exact as of that number.
    this.reader.exec('BEGIN');
    try {
      foldedSeq = Number((this.reads.meta.get('folded_seq') as Row).value);
      this.readFoldedSeed(userId, seeds, seriesFoldedSeq);
    } finally {
      this.reader.exec('COMMIT');
    }
    // A fold under way may have written some series through a commit whose answer this thread has not handled
    // yet; the writer sent that answer before the fold began, so it is waiting on the port now. Handling it makes
    // the seed exact as of the latest answer for every series: no folded part holds a commit past it.
    // An answer taken here may say that a fold finished after the snapshot was read: the groups it folded must stay
    // until they are added, since the snapshot does not hold them.
    this.holdingDrops = true;
    try {
      this.takeWaitingReplies();
      this.unfolded.addToSeed(userId, foldedSeq, seeds, seriesFoldedSeq);
    } finally {
      this.holdingDrops = false;
      this.unfolded.dropThrough(this.heldDropThrough);
    }
    this.markSeeded(userId, Math.max(foldedSeq, this.answeredSeq));
    return [...seeds.values()].map(seedOfSums);
  }

  countedInSeed(record: PricedUsage, batch: readonly PricedUsage[]): boolean {
    // Asked for every call the metrics record: most calls are in a batch committed after every seed read so far.
    const committedIn = this.commitSeqOf.get(batch);
    if (committedIn === undefined || committedIn > this.latestSeededAt) return false;
    const seededThrough = this.seededAt.get(ledgerUserId(record));
    return seededThrough !== undefined && committedIn <= seededThrough;
  }

  recentUsers(sinceMs: number, limit: number): Array<{ userId: string; lastSeenMs: number }> {
    this.assertOpen();
    return (this.reads.recentUsers.all(sinceMs, limit) as Row[])
      .map((row) => ({ userId: String(row.user_id), lastSeenMs: Number(row.last_seen_ms) }));
  }

  hourlyDetailKeptFromMs(): Promise<number> {
    this.assertOpen();
    return Promise.resolve(Number((this.reads.meta.get(HOURLY_KEPT_FROM_META) as Row | undefined)?.value ?? 0));
  }

  /** Bytes of the database file (without its WAL), for the benchmark and health. */
  sizeBytes(): number {
    const pages = this.reader.prepare('PRAGMA page_count').get() as { page_count: number };
    const size = this.reader.prepare('PRAGMA page_size').get() as { page_size: number };
    return pages.page_count * size.page_size;
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    // Everything accepted before close is committed (or fails) first.
    while (this.queue.length > 0 || this.groupsInFlight.size > 0) {
      if (this.groupsInFlight.size > 0) await Promise.all(this.groupsInFlight);
      else this.flush();
    }
    try {
      await this.request({ op: 'close', nowMs: this.now() });
    } catch { /* a writer that failed has nothing left to fold; the next start folds the log */ }
    await this.readerThread.terminate();
    await this.worker.terminate();
    this.replies.close();
    this.reader.close();
    this.lock.close();
    if (this.temporaryDir !== undefined) rmSync(this.temporaryDir, { recursive: true, force: true });
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerClosedError('the ledger is closed');
  }

  private enqueue(kind: QueuedWork['kind'], records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    if (this.closed) return Promise.reject(new LedgerClosedError('the ledger is closed'));
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ kind, records, resolve: resolve as (fresh: never[]) => void, reject });
      this.flushScheduled ??= setImmediate(() => this.flush());
    });
  }

  private read<K extends ReaderRequest['op']>(request: Extract<ReaderRequest, { op: K }>): Promise<ReaderAnswers[K]> {
    return new Promise((resolve, reject) => {
      if (this.readFailure !== undefined) return reject(this.readFailure);
      if (this.closed && request.op !== 'closeCursor') return reject(new LedgerClosedError('the ledger is closed'));
      const id = this.nextRequestId++;
      if (this.readerWaiting.size === 0) this.readerThread.ref();
      this.readerWaiting.set(id, { resolve: resolve as (value: never) => void, reject });
      this.readerThread.postMessage({ id, request } satisfies ReaderEnvelope);
    });
  }

  private startReaderThread(): Worker {
    const thread = new Worker(READER_URL, {
      workerData: { path: this.path },
      resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 96 },
    });
    thread.unref();
    thread.on('message', (reply: Reply) => settleReply(this.readerWaiting, reply, thread));
    thread.on('error', (error) => this.readerStopped(thread, error));
    thread.on('exit', (code) => { if (this.closing === undefined) this.readerStopped(thread, new Error(`exited with code ${code}`)); });
    return thread;
  }

  /**
   * The reader thread is gone (a read ran it out of memory, say): the reads waiting on it fail (503) and a new one
   * takes the next; commits go on. Only a thread that keeps dying makes every later read fail.
   */
  private readerStopped(thread: Worker, error: Error): void {
    if (thread !== this.readerThread) return;
    const failure = new LedgerUnavailableError(`the ledger's reader thread stopped: ${error.message}`, { cause: error });
    const waiting = [...this.readerWaiting.values()];
    this.readerWaiting.clear();
    for (const each of waiting) each.reject(failure);
    const nowMs = Date.now();
    this.readerRestarts = this.readerRestarts.filter((at) => nowMs - at < READER_RESTART_WINDOW_MS);
    if (this.closed || this.readerRestarts.length >= MAX_READER_RESTARTS) {
      this.readFailure ??= failure;
      return;
    }
    this.readerRestarts.push(nowMs);
    this.readerThread = this.startReaderThread();
  }

  private request<K extends LedgerRequest['op']>(request: Extract<LedgerRequest, { op: K }>, transfer: ArrayBuffer[] = []): Promise<LedgerAnswers[K]> {
    return new Promise((resolve, reject) => this.send(request, transfer, { resolve: resolve as (value: never) => void, reject }));
  }

  private send(request: LedgerRequest, transfer: ArrayBuffer[], waiting: Waiting): void {
    if (this.failure !== undefined) return waiting.reject(this.failure);
    if (this.closed && request.op !== 'close' && request.op !== 'group') {
      return waiting.reject(new LedgerClosedError('the ledger is closed'));
    }
    const id = this.nextRequestId++;
    if (this.waiting.size === 0) this.replies.ref();
    this.waiting.set(id, waiting);
    try {
      this.worker.postMessage({ id, request } satisfies Envelope, transfer);
    } catch (error) {
      this.waiting.delete(id);
      if (this.waiting.size === 0) this.replies.unref();
      waiting.reject(error as Error);
    }
  }

  private onReply(message: Reply | HealthReport): void {
    if (message.id === HEALTH_REPORT_ID) {
      this.writerHealth = (message as HealthReport).health;
      this.onHealthChange?.(this.health());
      return;
    }
    settleReply(this.waiting, message as Reply, this.replies);
  }

  /** Handles now the replies the writer has sent and this thread has not received yet. */
  private takeWaitingReplies(): void {
    for (let received = receiveMessageOnPort(this.replies); received !== undefined; received = receiveMessageOnPort(this.replies)) {
      this.onReply(received.message as Reply);
    }
  }

  /** The writer thread is gone: what waits for it fails (exports get 503), and so does everything after. */
  private fail(error: Error): void {
    if (this.failure === undefined) {
      this.failure = new LedgerUnavailableError(`the ledger's writer thread stopped (${error.message}); restart the processor`, { cause: error });
      this.failedAtMs = Date.now();
      this.onHealthChange?.(this.health());
    }
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    this.replies.unref();
    for (const each of waiting) each.reject(this.failure);
  }

  /** Sends everything queued as one group commit; each caller learns which of its records were new. */
  private flush(): void {
    this.flushScheduled = undefined;
    if (this.groupsInFlight.size >= MAX_GROUPS_IN_FLIGHT) return;
    const work = this.queue;
    this.queue = [];
    if (work.length === 0) return;
    // Refused here while the writer says the disk fails: it would refuse them too, a round trip later.
    const unavailable = this.unavailable();
    if (unavailable !== undefined) {
      for (const item of work) item.reject(unavailable);
      return;
    }
    const nowMs = this.now();
    let callCount = 0;
    for (const item of work) if (item.kind === 'commit') callCount += item.records.length;
    const calls = new Float64Array(callCount * CALL_FIELDS);
    const legacyKeys: Uint8Array[] | undefined = this.legacyUntilMs > nowMs ? [] : undefined;
    this.seriesNumbering.begin();
    const items: GroupItem[] = [];
    let index = 0;
    for (const item of work) {
      if (item.kind === 'park') {
        items.push({ kind: 'park', records: item.records });
        continue;
      }
      const start = index;
      for (const record of item.records as readonly PricedUsage[]) {
        encodeCall(calls, index++, record, this.seriesNumbering.indexOf(record));
        legacyKeys?.push(legacySpanKey(record.traceId, record.spanId));
      }
      items.push({ kind: 'commit', start, end: index });
    }
    const series = this.seriesNumbering.end();
    let groupDone!: () => void;
    const inFlight = new Promise<void>((resolve) => { groupDone = resolve; });
    this.groupsInFlight.add(inFlight);
    const finish = () => {
      this.groupsInFlight.delete(inFlight);
      groupDone();
      if (this.queue.length > 0 && !this.closed) queueMicrotask(() => this.flush());
    };
    // Settled as soon as the reply is handled, not in a later microtask, so that a seed that takes the waiting
    // replies (takeWaitingReplies) finds their groups answered.
    // The calls are copied, not transferred: this thread keeps them for the seeds until they are folded, and the
    // writer adds them to its sums after answering, without sending them back first.
    this.send({
      op: 'group', nowMs, series: series.text, seriesNumbers: series.numbers, seriesReset: series.reset, calls, legacyKeys, items,
    }, [series.numbers.buffer as ArrayBuffer], {
      resolve: ((answer: GroupAnswer) => {
        try {
          this.settleGroup(work, answer, series, calls);
        } finally {
          finish();
        }
      }) as (value: never) => void,
      reject: (error: Error) => {
        // The group may not have reached the writer, with series lines it carried for the first time.
        this.seriesNumbering.forgetAll();
        const failure = error instanceof LedgerUnavailableError ? error : new Error(`ledger commit failed: ${error.message}`, { cause: error });
        for (const item of work) item.reject(failure);
        finish();
      },
    });
  }

  private settleGroup(work: readonly QueuedWork[], answer: GroupAnswer, series: GroupSeries, calls: Float64Array): void {
    this.answeredSeq = answer.seq;
    if (this.holdingDrops) this.heldDropThrough = Math.max(this.heldDropThrough, answer.foldedSeq);
    else this.unfolded.dropThrough(answer.foldedSeq);
    if (answer.seq > answer.foldedSeq && answer.fresh.includes(1)) {
      this.unfolded.add(answer.seq, series.series, calls, answer.fresh);
    }
    const outcomes: Array<readonly UsageRecord[]> = [];
    let index = 0;
    let parkIndex = 0;
    for (const item of work) {
      if (item.kind === 'park') {
        outcomes.push(answer.parked[parkIndex++]!.map((position) => item.records[position]!));
        continue;
      }
      const start = index;
      index += item.records.length;
      // Retries are the exception: a batch that is all new is answered with the caller's own array.
      const fresh = answer.fresh.subarray(start, index).includes(0)
        ? item.records.filter((_, offset) => answer.fresh[start + offset] === 1)
        : item.records;
      this.commitSeqOf.set(fresh, answer.seq);
      outcomes.push(fresh);
    }
    work.forEach((item, position) => item.resolve(outcomes[position] as never[]));
    // The exports' calls reach the metrics in the microtasks that follow; a seed may settle later groups before.
    const { seq } = answer;
    setImmediate(() => { if (seq > this.deliveredSeq) this.deliveredSeq = seq; });
  }

  /**
   * Remembers the commit a user's seed is exact as of. An entry is needed by no call still on its way to the metrics
   * once every group up to its commit has been delivered (deliveredSeq), so those are the ones dropped when the map
   * grows large. Answered is not enough: a seed handles the answers waiting on the port while the metrics are still
   * recording an earlier batch.
   */
  private markSeeded(userId: string, seq: number): void {
    if (this.seededAt.size >= MAX_SEEDED_USERS) {
      for (const [user, at] of this.seededAt) if (at <= this.deliveredSeq) this.seededAt.delete(user);
    }
    this.seededAt.set(userId, seq);
    if (seq > this.latestSeededAt) this.latestSeededAt = seq;
  }

  /**
   * The user's all-time totals per series in the folded tables, into `seeds`, and the commit each series is folded
   * through (series.folded_seq) into `seriesFoldedSeq`; call inside a read transaction.
   */
  private readFoldedSeed(userId: string, seeds: Map<string, SeedSums>, seriesFoldedSeq: Map<string, number>): void {
    const span = userSpanOf(this.reads.userSpan, userId);
    if (span === undefined) return;
    const source = oneUserSource({ fromMs: undefined, toMs: undefined, properties: [] }, span);
    const rows = this.seedStatement(`WITH ${source.sql}
      SELECT s.provider AS provider, s.model AS model, s.operation AS operation, s.is_error AS is_error, p.json AS json,
        s.folded_seq AS folded_seq, s.search_tier AS search_tier, s.input_tier AS input_tier,
        ${SUMS_SQL}, MIN(src.first_seen_ms) AS first_seen_ms, MAX(src.last_seen_ms) AS last_seen_ms
      FROM src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set
      GROUP BY src.series_id ORDER BY src.series_id`).all(...source.params) as Row[];
    for (const row of rows) {
      const series = { provider: String(row.provider), model: String(row.model), operation: String(row.operation), propertiesJson: String(row.json) };
      const key = seedKey(series.provider, series.model, series.operation, Number(row.is_error) === 1, series.propertiesJson);
      seriesFoldedSeq.set(foldKey(key, String(row.search_tier), Number(row.input_tier)), Number(row.folded_seq));
      const sums = seedEntry(seeds, key, series);
      sums.requests += Number(row.requests);
      sums.errors += Number(row.errors);
      sums.inputTokens += Number(row.input_tokens);
      sums.outputTokens += Number(row.output_tokens);
      sums.cacheReadTokens += Number(row.cache_read_tokens);
      sums.cacheWriteTokens += Number(row.cache_write_tokens);
      sums.costNanoUsd += Number(row.cost_nano_usd);
      sums.durationMicros += Number(row.duration_us);
      sums.firstSeenMs = Math.min(sums.firstSeenMs, Number(row.first_seen_ms));
      sums.lastSeenMs = Math.max(sums.lastSeenMs, Number(row.last_seen_ms));
    }
  }

  private seedStatement(sql: string): StatementSync {
    let statement = this.seedStatements.get(sql);
    if (statement === undefined) {
      if (this.seedStatements.size >= 16) this.seedStatements.clear();
      statement = this.reader.prepare(sql);
      this.seedStatements.set(sql, statement);
    }
    return statement;
  }
}

/** Settles the request a reply answers; the port stops holding the process open once nothing waits on it. */
function settleReply(waiting: Map<number, Waiting>, reply: Reply, port: { unref(): void }): void {
  const request = waiting.get(reply.id);
  if (request === undefined) return;
  waiting.delete(reply.id);
  if (waiting.size === 0) port.unref();
  if (reply.ok) request.resolve(reply.value as never);
  else request.reject(reply.unavailable === true ? new LedgerUnavailableError(reply.message) : new Error(reply.message));
}

function prepareReads(db: DatabaseSync) {
  return {
    meta: db.prepare('SELECT value FROM meta WHERE name = ?'),
    userSpan: db.prepare('SELECT id, first_seen_ms, last_seen_ms FROM users WHERE user_id = ?'),
    // Read at start, after the opener folded the log: the users table then knows every call.
    recentUsers: db.prepare(`SELECT user_id, last_seen_ms FROM users WHERE last_seen_ms >= ? ORDER BY last_seen_ms DESC, user_id LIMIT ?`),
  };
}
