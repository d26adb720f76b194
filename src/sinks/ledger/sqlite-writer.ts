import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { UsageRecord } from '../../sources/usage-record.ts';
import { HOURS_PER_DAY, legacySpanKey, MS_PER_HOUR, spanIdentity, spanIdentityText } from './aggregate.ts';
import { HOURLY_KEPT_FROM_META, hourlyDetailStartMs } from './retention.ts';
import { CALL, CALL_FIELDS, type GroupAnswer, type GroupRequest, type WorkerSettings } from './ledger-protocol.ts';
import { LedgerUnavailableError, type LedgerHealth } from './ledger.ts';
import { LedgerFold, placeholders } from './sqlite-fold.ts';
import { openConnection } from './sqlite-open.ts';
import { LEGACY_SEEN_TABLE } from './sqlite-schema.ts';
import { bytesOf, UnfoldedSums } from './unfolded-sums.ts';

const KEYS_PER_STATEMENT = 400;
/**
 * The log is folded into the totals when its sums are this old, or hold this many series-hours, or have met this
 * many series new to them (whose lines the writer keeps until the fold), whichever comes first; checked after each
 * group commit (and a read of the users API folds everything first). A fold writes a row
 * per series-hour, so the longer the interval the fewer rows per call: with a few tens of thousands of busy series
 * and a fold every 20,000 series-hours, nearly every call was a row of its own (2.6 us per call in folds, against
 * 0.6-0.9 us with a fold every 5 s: the writer alone in process, 600,000 calls at 100,000 calls/s). The counts bound the memory the sums and the main thread's seeds
 * hold meanwhile: a flood of new users makes a new series of every call.
 */
const FOLD_AFTER_MS = 5000;
/** How often usage by the hour past HOURLY_DETAIL_DAYS is looked for (retention.ts), once caught up. */
const PRUNE_EVERY_MS = 3_600_000;
const FOLD_AFTER_ENTRIES = 100_000;
const FOLD_AFTER_NEW_SERIES = 20_000;
/**
 * How long one step of a fold may take when it is not behind: a group commit that arrives meanwhile waits for it.
 * With steps of 5-15 ms (1,000-2,000 rows) and a 36 ms first step that gathered every series, the main thread was
 * idle, its exports all waiting behind a fold, for 6% of a benchmark pass. Side by side (3 rounds, 4 exports in
 * flight), steps of 0.6 ms gave 120k/131k spans/s (cold/warm medians), 1.5 ms 115k/126k, 3 ms 112k/118k.
 */
const FOLD_STEP_MS = 0.6;
/** The fewest rows a slice writes when not behind (the cost of a slice's statements is paid per slice, not per row). */
const MIN_SLICE_ROWS = 64;
/** SQLite page cache of the writing connection; the working set is the recent hours of the active series. */
const WRITER_CACHE_KIB = 16_384;
const MAX_CACHED_STATEMENTS = 64;
/**
 * What the probe of a failed ledger writes and syncs in DATA_DIR before it trusts the disk again: room for a few
 * group commits (an export of 512 calls logs ~50 KB, plus the pages of its dedup keys). A probe that only commits a
 * page would succeed on a full file system (SQLite overwrites the WAL's frames in place), and the next group would
 * fail again.
 */
const PROBE_FILE_BYTES = 1 << 20;
export const PROBE_FILE_NAME = 'ledger.probe';

export type Row = Record<string, SQLInputValue>;

/** A thread that checkpoints the WAL on a connection of its own (ledger-checkpointer.ts). */
export interface Checkpointer {
  /** False once the thread has ended (the writer then checkpoints after its folds itself). */
  readonly running: boolean;
  /** Returns once the thread has closed its connection. */
  close(): void;
  /** The last failure the thread reported since the last call, taken synchronously; undefined for none. */
  takeFailure(): string | undefined;
}

interface DedupTables {
  /** The generation new keys go to. */
  readonly current: string;
  readonly older: string;
  /**
   * One past the latest span end time in the older generation, which takes no keys any more: spans that ended
   * later cannot be in it and are not looked up there.
   */
  readonly olderEndsBefore: number;
  /** Whether schema-1 keys (migrated) are still within their window. */
  readonly legacy: boolean;
}

/**
 * The ledger's only writer, run in a worker thread (ledger-worker.ts): one transaction per group commit (dedup,
 * parking, the usage log, a fold now and then), and a whole fold before each read of the users API (which reads on
 * the reader thread's connection, sqlite-reads.ts). Everything here is
 * synchronous; the thread it runs on is what keeps it off the event loop that answers exports.
 */
export class LedgerWriter {
  private readonly db: DatabaseSync;
  private readonly dedupWindowMs: number;
  private readonly synchronous: 'normal' | 'full';
  /** Rows per slice when the fold is not behind, fixed (tests); undefined: as many as FOLD_STEP_MS allows. */
  private readonly fixedSliceRows: number | undefined;
  /** HOURLY_DETAIL_DAYS; 0: usage by the hour is kept for ever. */
  private readonly hourlyDetailDays: number;
  /** When the hourly detail was last found pruned up to its cutoff (0: not yet in this run). */
  private prunedAtMs = 0;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly fold: LedgerFold;
  private readonly checkpointer: Checkpointer | undefined;
  /** The committed calls not yet in the totals tables (the call log holds them durably). */
  private readonly unfolded = new UnfoldedSums();
  private readonly chunkStatements = new Map<string, StatementSync>();
  /** spanIdentityText of the parked calls: a commit deletes only those from the parking. */
  private readonly parkedKeys = new Set<string>();
  private foldedAtMs: number;
  private foldRetryAtMs = 0;
  /** The older dedup generation and one past the latest end time in it (see DedupTables). */
  private olderEnd: { readonly table: string; readonly before: number } | undefined;
  private seq: number;
  private foldedSeq: number;
  /** The calls of the group answered last, added to the sums after its answer is out (settleGroup). */
  private unsettled: { readonly numbers: Float64Array; readonly calls: Float64Array; readonly fresh: Uint8Array } | undefined;
  /** Set by any write, commit, checkpoint or sync that failed; cleared by a probe that writes and syncs (probe). */
  private failure: { readonly error: string; readonly sinceMs: number; readonly probeError?: string } | undefined;
  private readonly probePath: string;

  /**
   * `checkpointer`: the thread that copies the WAL back into the database file; without one (tests), the writer does
   * it after each fold, in its own turn.
   */
  constructor(settings: WorkerSettings, nowMs: number, checkpointer?: Checkpointer) {
    this.db = openConnection(settings.path, settings.synchronous, WRITER_CACHE_KIB);
    this.synchronous = settings.synchronous;
    this.probePath = join(dirname(settings.path), PROBE_FILE_NAME);
    this.checkpointer = checkpointer;
    // Checkpoints are the checkpointer's or follow folds (maintain); this only bounds the WAL should neither come.
    // A WAL that a burst grew (the large transactions of folds under back-pressure) is cut back to 64 MB when it is
    // started over, rather than keeping its largest size on disk while the processor runs.
    this.db.exec('PRAGMA wal_autocheckpoint = 32768; PRAGMA journal_size_limit = 67108864');
    this.dedupWindowMs = settings.dedupWindowMs;
    this.fixedSliceRows = settings.foldSliceRows;
    this.hourlyDetailDays = settings.hourlyDetailDays ?? 0;
    this.statements = prepareStatements(this.db);
    this.fold = new LedgerFold(this.db);
    this.loadParkedKeys();
    this.foldedAtMs = nowMs;
    this.seq = this.readMeta('commit_seq');
    // The opener folded what an earlier run logged: the log starts empty.
    this.foldedSeq = this.readMeta('folded_seq');
  }

  /**
   * One transaction for a group of exports; each learns which of its calls were new. Its calls are added to the sums
   * by settleGroup, after the answer is out: the exports wait for the commit, not for that.
   */
  group(request: GroupRequest): GroupAnswer {
    this.settleGroup();
    const { nowMs, calls, items } = request;
    // Lines are learnt even when the group is refused, as when its commit fails: the sender may not send them again.
    this.unfolded.learn(request.series, request.seriesNumbers, request.seriesReset);
    this.assertWritable();
    const fresh = new Uint8Array(calls.length / CALL_FIELDS);
    const parked: number[][] = [];
    let logged = false;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const dedup = this.dedupTables(nowMs);
      for (const item of items) {
        if (item.kind === 'park') parked.push(this.parkInTransaction(item.records, nowMs, dedup));
        else this.dedupInTransaction(calls, item.start, item.end, request.legacyKeys, dedup, fresh);
      }
      if (fresh.includes(1)) {
        this.statements.logCalls.run(this.seq + 1, bytesOf(request.seriesNumbers), this.unfolded.linesToLog(request.seriesNumbers),
          bytesOf(calls), fresh);
        logged = true;
      }
      this.statements.metaSet.run(this.seq + 1, 'commit_seq');
      this.db.exec('COMMIT');
    } catch (error) {
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
      this.markFailed(`a group commit failed: ${describe(error)}`);
      try { this.loadParkedKeys(); } catch { /* read again by the next group */ }
      this.olderEnd = undefined;
      throw error;
    }
    this.seq++;
    if (logged) {
      this.unfolded.markLogged(request.seriesNumbers);
      this.unsettled = { numbers: request.seriesNumbers, calls, fresh };
    }
    return { fresh, parked, seq: this.seq, foldedSeq: this.foldedSeq };
  }

  /** Adds the calls of the group answered last to the sums to fold (done before anything else reads the sums). */
  settleGroup(): void {
    const group = this.unsettled;
    if (group === undefined) return;
    this.unsettled = undefined;
    this.unfolded.add(group.numbers, group.calls, group.fresh);
  }

  /**
   * Work no export waits for, done after a group's answer is out: one step of a fold, starting one when it is due;
   * after the last step, moving the WAL back into the database file when no checkpointer thread does. Returns true
   * while a fold is under way, for the caller to come back soon even if no group arrives. A whole fold inside the
   * writer's turn would hold up the exports waiting for their commit for hundreds of ms.
   */
  maintain(nowMs: number): boolean {
    this.settleGroup();
    this.takeCheckpointFailure();
    // No folds on a failing disk: the log keeps every call, and the fold resumes once the probe has succeeded.
    if (this.failure !== undefined || nowMs < this.foldRetryAtMs) return false;
    if (!this.fold.inProgress) {
      // Between folds, a day of old hours at a time (each step is a short transaction, like a fold step).
      if (!this.foldDue(nowMs)) return this.pruneHourlyDetail(nowMs);
      this.beginFold(nowMs);
    }
    const pace = this.foldPace();
    this.foldStep(nowMs, pace.rows, pace.deadlineMs);
    if (this.fold.inProgress) return true;
    if (this.checkpointer?.running !== true) {
      try {
        this.db.exec('PRAGMA wal_checkpoint(PASSIVE)');
      } catch (error) {
        this.markFailed(`a checkpoint failed: ${describe(error)}`);
        throw error;
      }
    }
    return this.pruneHourlyDetail(nowMs);
  }

  /**
   * Drops usage by the hour older than HOURLY_DETAIL_DAYS, between folds, once an hour once caught up: one hour per
   * call, oldest first (the table is keyed by hour, so each is a delete at its head); true while more is left. The daily tables keep those days whole; meta.hourly_kept_from_ms says from when the hours are whole (the
   * re-pricing command reads it).
   */
  private pruneHourlyDetail(nowMs: number): boolean {
    if (this.hourlyDetailDays <= 0 || nowMs - this.prunedAtMs < PRUNE_EVERY_MS) return false;
    const keptFromHour = hourlyDetailStartMs(nowMs, this.hourlyDetailDays) / MS_PER_HOUR;
    const oldest = (this.db.prepare('SELECT min(hour) AS hour FROM usage_hourly').get() as Row).hour;
    const done = oldest === null || Number(oldest) >= keptFromHour;
    // One hour per step (35,000 busy series make 35,000 rows an hour; a day of them took 119 ms in one step).
    const pruneBefore = done ? keptFromHour : Math.min(keptFromHour, Number(oldest) + 1);
    try {
      this.db.exec('BEGIN IMMEDIATE');
      if (!done) this.statements.pruneHours.run(pruneBefore);
      // From the day after the last one touched: a day missing some of its hours is read whole days only. Written
      // with each step, so that a stop half-way leaves it right.
      this.statements.keepHoursFrom.run(Math.ceil(pruneBefore / HOURS_PER_DAY) * HOURS_PER_DAY * MS_PER_HOUR);
      this.db.exec('COMMIT');
    } catch (error) {
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
      this.markFailed(`pruning the hourly detail failed: ${describe(error)}`);
      throw error;
    }
    if (done) this.prunedAtMs = nowMs;
    return !done;
  }

  /** Whether the ledger takes writes (see `failure`). */
  get health(): LedgerHealth {
    return this.failure === undefined ? { ok: true } : { ok: false, ...this.failure };
  }

  /**
   * Tells whether the disk takes writes again; clears the failure when it does. Writes PROBE_FILE_BYTES to a file
   * of its own and fsyncs it, commits a row update synced to the WAL (synchronous=FULL, whatever LEDGER_SYNC says),
   * then checkpoints, which writes and syncs the database file: each of the ways the ledger writes.
   */
  probe(): boolean {
    // Failures reported before the probe began are what it answers.
    this.checkpointer?.takeFailure();
    try {
      const fd = openSync(this.probePath, 'w');
      try {
        const chunk = Buffer.alloc(64 * 1024);
        for (let written = 0; written < PROBE_FILE_BYTES; written += chunk.length) writeSync(fd, chunk);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
        rmSync(this.probePath, { force: true });
      }
      this.db.exec('PRAGMA synchronous = FULL');
      try {
        this.db.exec(`BEGIN IMMEDIATE; UPDATE meta SET value = value WHERE name = 'commit_seq'; COMMIT`);
      } finally {
        try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
        this.db.exec(`PRAGMA synchronous = ${this.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      }
      this.db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch (error) {
      if (this.failure !== undefined) this.failure = { ...this.failure, probeError: describe(error) };
      return false;
    }
    // Folds resume with the next group (none began while the ledger failed, so one is due).
    this.failure = undefined;
    this.foldRetryAtMs = 0;
    return true;
  }

  /** A failed checkpoint (the checkpointer thread's) fails the ledger like a failed commit. */
  checkpointFailed(error: string): void {
    this.markFailed(error);
  }

  /** Takes what the checkpointer reported and has not been handled yet, synchronously. */
  private takeCheckpointFailure(): void {
    const reported = this.checkpointer?.takeFailure();
    if (reported !== undefined) this.markFailed(reported);
  }

  /** The first failure is kept (later ones are its consequences); its time is the wall clock's, for /healthz. */
  private markFailed(error: string): void {
    this.failure ??= { error, sinceMs: Date.now() };
  }

  /** Throws LedgerUnavailableError while the ledger is failed: nothing is written (or read) until the probe succeeds. */
  private assertWritable(): void {
    this.takeCheckpointFailure();
    if (this.failure !== undefined) {
      throw new LedgerUnavailableError(`the ledger is failing (${this.failure.error}); nothing is recorded until the disk takes writes again`);
    }
  }

  /** Folds everything committed so far (a read on the reader thread's connection follows); refused while failing. */
  foldForRead(nowMs: number): void {
    this.assertWritable();
    this.foldNow(nowMs);
  }

  parked(): UsageRecord[] {
    const rows = this.db.prepare('SELECT record FROM parked ORDER BY parked_at_ms, end_ms, id_hash').all() as Array<{ record: string }>;
    return rows.map((row) => JSON.parse(row.record) as UsageRecord);
  }

  /** Folds what is logged (so that the next start has nothing to fold) and closes. */
  close(nowMs: number): void {
    // On a failing disk the fold is left to the next start, which folds the log before anything else.
    if (this.failure === undefined) {
      try { this.foldNow(nowMs); } catch { /* the log is folded at the next start instead */ }
    }
    this.checkpointer?.close();
    this.db.close();
  }

  private readMeta(name: string): number {
    return Number((this.db.prepare('SELECT value FROM meta WHERE name = ?').get(name) as Row | undefined)?.value ?? 0);
  }

  private loadParkedKeys(): void {
    this.parkedKeys.clear();
    for (const row of this.db.prepare('SELECT end_ms, id_hash FROM parked').all() as Row[]) {
      this.parkedKeys.add(spanIdentityText({ endMs: Number(row.end_ms), idHash: Number(row.id_hash) }));
    }
  }

  /** The dedup generations to consult, after dropping the older one when a window has passed. */
  private dedupTables(nowMs: number): DedupTables {
    const meta = new Map((this.statements.metaAll.all() as Row[]).map((row) => [String(row.name), Number(row.value)]));
    let current = meta.get('dedup_current') ?? 0;
    if (nowMs - (meta.get('dedup_rotated_ms') ?? nowMs) >= this.dedupWindowMs) {
      current = current === 0 ? 1 : 0;
      // The older generation is at least one window old: everything in it may go.
      this.db.exec(`DELETE FROM seen_${current}`);
      this.statements.metaSet.run(current, 'dedup_current');
      this.statements.metaSet.run(nowMs, 'dedup_rotated_ms');
    }
    const older = `seen_${current === 0 ? 1 : 0}`;
    if (this.olderEnd?.table !== older) {
      // Keyed by end time first: the latest is one step down the B-tree. Read again only after a rotation (or a
      // rollback, which may have undone one).
      const latest = (this.db.prepare(`SELECT max(end_ms) AS latest FROM ${older}`).get() as Row).latest;
      this.olderEnd = { table: older, before: latest === null ? -Infinity : Number(latest) + 1 };
    }
    let legacy = (meta.get('legacy_seen_until_ms') ?? 0) > 0;
    if (legacy && nowMs >= meta.get('legacy_seen_until_ms')!) {
      this.db.exec(`DROP TABLE IF EXISTS ${LEGACY_SEEN_TABLE}`);
      this.statements.metaSet.run(0, 'legacy_seen_until_ms');
      legacy = false;
    }
    return { current: `seen_${current}`, older, olderEndsBefore: this.olderEnd.before, legacy };
  }

  /**
   * spanIdentityText of the keys already in `table` (and, if asked, among the schema-1 keys). `keys` holds end time
   * and id hash of each span in turn.
   */
  private seenIn(table: string, keys: readonly number[], legacyKeys: ReadonlyArray<Uint8Array | undefined> | undefined): Set<string> {
    const seen = new Set<string>();
    const count = keys.length / 2;
    for (const [start, end] of chunks(count, KEYS_PER_STATEMENT)) {
      const rows = this.chunkStatement(`has:${table}`, end - start,
        (n) => `SELECT end_ms, id_hash FROM ${table} WHERE (end_ms, id_hash) IN (VALUES ${placeholders(n, 2)})`)
        .all(...keys.slice(start * 2, end * 2)) as Row[];
      for (const row of rows) seen.add(spanIdentityText({ endMs: Number(row.end_ms), idHash: Number(row.id_hash) }));
    }
    if (legacyKeys !== undefined && this.statements.legacySeen !== undefined) {
      legacyKeys.forEach((key, index) => {
        if (key !== undefined && this.statements.legacySeen!.get(key) !== undefined) {
          seen.add(spanIdentityText({ endMs: keys[index * 2]!, idHash: keys[index * 2 + 1]! }));
        }
      });
    }
    return seen;
  }

  /**
   * Marks in `fresh` the calls [start, end) whose span was not seen before, each span once. Keys go to SQLite a
   * chunk at a time; being ordered by end time, the inserts land at the tail of the current generation. A chunk
   * whose every key went in is all new (the common case, told by the count of rows changed, without reading any
   * back); otherwise (a retry, or a span twice in the chunk) the chunk is undone and its keys are inserted one by one.
   */
  private dedupInTransaction(calls: Float64Array, start: number, end: number, legacyKeys: readonly Uint8Array[] | undefined,
    dedup: DedupTables, fresh: Uint8Array): void {
    const keys: number[] = new Array((end - start) * 2);
    for (let index = start; index < end; index++) {
      keys[(index - start) * 2] = calls[index * CALL_FIELDS + CALL.endMs]!;
      keys[(index - start) * 2 + 1] = calls[index * CALL_FIELDS + CALL.idHash]!;
    }
    const mayBeOlder: number[] = [];
    for (let offset = 0; offset < keys.length; offset += 2) {
      if (keys[offset]! < dedup.olderEndsBefore) mayBeOlder.push(keys[offset]!, keys[offset + 1]!);
    }
    const seenBefore = dedup.legacy && legacyKeys !== undefined
      ? this.seenIn(dedup.older, keys, legacyKeys.slice(start, end))
      : mayBeOlder.length > 0 ? this.seenIn(dedup.older, mayBeOlder, undefined) : new Set<string>();
    const candidates: number[] = [];
    for (let offset = 0; offset < end - start; offset++) {
      // Text keys only when there is something to compare with: retries are the exception.
      if (seenBefore.size === 0 || !seenBefore.has(spanIdentityText({ endMs: keys[offset * 2]!, idHash: keys[offset * 2 + 1]! }))) {
        candidates.push(offset);
      }
    }
    for (const [from, to] of chunks(candidates.length, KEYS_PER_STATEMENT)) {
      const params: number[] = new Array((to - from) * 2);
      for (let index = from; index < to; index++) {
        params[(index - from) * 2] = keys[candidates[index]! * 2]!;
        params[(index - from) * 2 + 1] = keys[candidates[index]! * 2 + 1]!;
      }
      this.statements.savepoint.run();
      const { changes } = this.chunkStatement(`insert:${dedup.current}`, to - from,
        (n) => `INSERT INTO ${dedup.current} (end_ms, id_hash) VALUES ${placeholders(n, 2)} ON CONFLICT DO NOTHING`)
        .run(...params);
      if (Number(changes) === to - from) {
        this.statements.release.run();
        for (let index = from; index < to; index++) fresh[start + candidates[index]!] = 1;
        continue;
      }
      this.statements.rollbackToSavepoint.run();
      this.statements.release.run();
      const insertOne = this.chunkStatement(`insert:${dedup.current}`, 1,
        () => `INSERT INTO ${dedup.current} (end_ms, id_hash) VALUES (?, ?) ON CONFLICT DO NOTHING`);
      for (let index = from; index < to; index++) {
        // A span repeated within the chunk goes in once: fresh once.
        if (Number(insertOne.run(params[(index - from) * 2]!, params[(index - from) * 2 + 1]!).changes) === 1) fresh[start + candidates[index]!] = 1;
      }
    }
    if (this.parkedKeys.size === 0) return;
    for (let offset = 0; offset < end - start; offset++) {
      if (fresh[start + offset] === 0) continue;
      const identity = { endMs: keys[offset * 2]!, idHash: keys[offset * 2 + 1]! };
      if (this.parkedKeys.delete(spanIdentityText(identity))) this.statements.unpark.run(identity.endMs, identity.idHash);
    }
  }

  private parkInTransaction(records: readonly UsageRecord[], nowMs: number, dedup: DedupTables): number[] {
    const identities = records.map(spanIdentity);
    const keys = identities.flatMap((identity) => [identity.endMs, identity.idHash]);
    const legacyKeys = dedup.legacy ? records.map((record) => legacySpanKey(record.traceId, record.spanId)) : undefined;
    const committedBefore = this.seenIn(dedup.older, keys, legacyKeys);
    const current = this.seenIn(dedup.current, keys, undefined);
    const parked: number[] = [];
    records.forEach((record, index) => {
      const identity = identities[index]!;
      const text = spanIdentityText(identity);
      if (committedBefore.has(text) || current.has(text) || this.parkedKeys.has(text)) return;
      if (this.statements.park.run(identity.endMs, identity.idHash, nowMs, JSON.stringify(record)).changes === 0) return;
      this.parkedKeys.add(text);
      parked.push(index);
    });
    return parked;
  }

  /** Series-hours gathered since the last fold began (for tests: a fold must keep up with a flood of new series). */
  get unfoldedEntries(): number {
    return this.unfolded.entries;
  }

  /** Whether the log has grown or aged enough to be folded. */
  private foldDue(nowMs: number): boolean {
    return this.gathered() >= 1 || (this.unfolded.entries > 0 && nowMs - this.foldedAtMs >= FOLD_AFTER_MS);
  }

  /** Folds everything committed, the fold under way first, so that a read sees every committed call in the totals. */
  private foldNow(nowMs: number): void {
    this.settleGroup();
    while (this.fold.inProgress) this.foldStep(nowMs, Infinity);
    if (this.foldedSeq === this.seq) return;
    this.beginFold(nowMs);
    while (this.fold.inProgress) this.foldStep(nowMs, Infinity);
  }

  /**
   * How much the next step of the fold does: a step of about FOLD_STEP_MS while the fold is ahead of the sums
   * gathering meanwhile. A fold must be over before those are due for the next one, or a steady flood of new series
   * would outrun it (and the sums would grow without bound): the steps grow with how far the fold lags behind them,
   * and the rest of the fold is written at once when a whole fold's worth has gathered.
   */
  private foldPace(): { rows: number; deadlineMs: number } {
    const gathered = this.gathered();
    if (gathered >= 1) return { rows: Infinity, deadlineMs: Infinity };
    const lag = Math.max(0, gathered - this.fold.progress);
    const scale = 1 + Math.floor(16 * lag);
    if (this.fixedSliceRows !== undefined) return { rows: this.fixedSliceRows * scale, deadlineMs: Infinity };
    const rows = Math.max(MIN_SLICE_ROWS, Math.round(FOLD_STEP_MS / this.fold.msPerRow));
    return { rows: rows * scale, deadlineMs: performance.now() + FOLD_STEP_MS * scale };
  }

  /** How much of a fold's worth the sums hold (1: a fold is due), by series-hours or by series new to them. */
  private gathered(): number {
    return Math.max(this.unfolded.entries / FOLD_AFTER_ENTRIES, this.unfolded.newSeries / FOLD_AFTER_NEW_SERIES);
  }

  private beginFold(nowMs: number): void {
    this.fold.begin(this.unfolded.detach(), this.seq);
    this.foldedAtMs = nowMs;
  }

  /** One step of the fold under way, in a transaction of its own. */
  private foldStep(nowMs: number, maxRows: number, deadlineMs = Infinity): void {
    const throughSeq = this.fold.throughSeq!;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      this.fold.step(maxRows, deadlineMs);
      this.db.exec('COMMIT');
    } catch (error) {
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
      // The slice is written again, not before FOLD_AFTER_MS: a fold that fails, e.g. on a full disk, would
      // otherwise be retried after every commit; ids handed out inside the failed transaction no longer exist.
      this.fold.forget();
      this.foldRetryAtMs = nowMs + FOLD_AFTER_MS;
      this.markFailed(`a fold failed: ${describe(error)}`);
      throw error;
    }
    this.fold.confirm();
    if (!this.fold.inProgress) this.foldedSeq = throughSeq;
  }

  private chunkStatement(name: string, rows: number, build: (rows: number) => string): StatementSync {
    const key = `${name}:${rows}`;
    let statement = this.chunkStatements.get(key);
    if (statement === undefined) {
      if (this.chunkStatements.size >= MAX_CACHED_STATEMENTS * 8) this.chunkStatements.clear();
      statement = this.db.prepare(build(rows));
      this.chunkStatements.set(key, statement);
    }
    return statement;
  }
}

function prepareStatements(db: DatabaseSync) {
  const hasLegacy = db.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(LEGACY_SEEN_TABLE) !== undefined;
  return {
    metaAll: db.prepare('SELECT name, value FROM meta'),
    metaSet: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
    legacySeen: hasLegacy ? db.prepare(`SELECT 1 FROM ${LEGACY_SEEN_TABLE} WHERE span_key = ?`) : undefined,
    park: db.prepare('INSERT OR IGNORE INTO parked (end_ms, id_hash, parked_at_ms, record) VALUES (?, ?, ?, ?)'),
    unpark: db.prepare('DELETE FROM parked WHERE end_ms = ? AND id_hash = ?'),
    savepoint: db.prepare('SAVEPOINT dedup_chunk'),
    release: db.prepare('RELEASE dedup_chunk'),
    rollbackToSavepoint: db.prepare('ROLLBACK TO dedup_chunk'),
    pruneHours: db.prepare('DELETE FROM usage_hourly WHERE hour < ?'),
    keepHoursFrom: db.prepare(`INSERT INTO meta (name, value) VALUES ('${HOURLY_KEPT_FROM_META}', ?)
      ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`),
    logCalls: db.prepare('INSERT INTO call_log (seq, numbers, lines, calls, fresh) VALUES (?, ?, ?, ?, ?)'),
  };
}

/** An error's message with SQLite's extended code when it has one (778: SQLITE_IOERR_WRITE, 13: SQLITE_FULL). */
function describe(error: unknown): string {
  const { message, errcode } = error as { message?: string; errcode?: number };
  return `${message ?? String(error)}${typeof errcode === 'number' ? ` (SQLite code ${errcode})` : ''}`;
}

/** [start, end) pairs covering `length` items, `size` at a time. */
function chunks(length: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < length; start += size) out.push([start, Math.min(length, start + size)]);
  return out;
}
