import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import type { UserSeriesSeed } from '../metrics/usage-metrics.ts';
import { canonicalProperties, durationMicros, ledgerUserId, legacySpanKey, MS_PER_HOUR } from './aggregate.ts';
import {
  CALL_FIELDS, encodeCall,
  type Envelope, type GroupAnswer, type GroupItem, type LedgerAnswers, type LedgerRequest, type Reply, type SeriesTuple,
} from './ledger-protocol.ts';
import {
  LedgerClosedError,
  type MetricsRestoreSource, type UsageFilter, type UsageLedger, type UserDetail, type UsersPage, type UsersQuery,
} from './ledger.ts';
import { LEDGER_FILE_NAME, LOCK_FILE_NAME, lockDirectory, openConnection, prepareDatabase } from './sqlite-open.ts';
import { oneUserSource, SUMS_SQL } from './sqlite-queries.ts';
import { userSpanOf, type Row } from './sqlite-writer.ts';

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
}

/** The worker's module beside this one: .ts when Node runs the sources, .js in the compiled package. */
const WORKER_URL = new URL(`./ledger-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** Past this many users the map of seed points drops the ones no call in flight can need (see markSeeded). */
const MAX_SEEDED_USERS = 20_000;
const READER_CACHE_KIB = 16_384;

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

/** The calls of the latest answered group commit, for the seeds of users it brought to the ledger. */
interface LatestGroup {
  readonly seq: number;
  readonly newUsers: ReadonlySet<string>;
  readonly committed: readonly PricedUsage[];
  byUser: Map<string, PricedUsage[]> | undefined;
}

/**
 * The ledger in one SQLite file (WAL) through Node's own `node:sqlite`, written by a worker thread so that SQLite's
 * work runs beside the event loop instead of on it. Commits are grouped: every export that arrives before the event
 * loop's next check phase shares one transaction; the group travels to the writer as typed arrays (sqlite-writer.ts
 * aggregates it), and each export is answered once the transaction holding it has committed.
 *
 * The metrics' seeds must be synchronous, so this thread keeps a read-only connection of its own (WAL lets it read
 * while the writer writes). A seed read from it is exact as of the commit sequence number its snapshot holds; a
 * user new to the ledger in the group just answered is seeded from that group's calls without reading at all.
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
  /** Until when schema-1 dedup keys (a migrated ledger) are consulted; 0 when there are none. */
  private legacyUntilMs: number;
  private nextRequestId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private failure: Error | undefined;
  private queue: QueuedWork[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  /**
   * The group commit the writer is working on. One at a time: what arrives meanwhile waits here and goes as the next
   * group, so a busy writer commits larger groups (fewer transactions) rather than a backlog of small ones.
   */
  private groupInFlight: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The commit sequence number of each committed record; read by countedInSeed. */
  private readonly commitSeqOf = new WeakMap<UsageRecord, number>();
  /** The commit sequence number each user's latest seed is exact as of. */
  private readonly seededAt = new Map<string, number>();
  private answeredSeq = 0;
  private latest: LatestGroup | undefined;

  constructor(options: SqliteLedgerOptions) {
    this.now = options.now ?? Date.now;
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
    this.worker = new Worker(WORKER_URL, {
      workerData: { path: this.path, dedupWindowMs: this.dedupWindowMs, synchronous: options.synchronous, nowMs },
      // The writer makes short-lived garbage per call; a small young generation keeps its share of RSS small.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    // Referenced only while an answer is awaited, so an idle ledger does not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.onReply(reply));
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

  users(query: UsersQuery): Promise<UsersPage> {
    return this.request({ op: 'users', nowMs: this.now(), query });
  }

  user(userId: string, filter: UsageFilter): Promise<UserDetail | undefined> {
    return this.request({ op: 'user', nowMs: this.now(), userId, filter });
  }

  seedUser(userId: string): UserSeriesSeed[] {
    this.assertOpen();
    const fresh = this.seedFromLatestGroup(userId);
    if (fresh !== undefined) {
      this.markSeeded(userId, this.latest!.seq);
      return fresh;
    }
    // One snapshot for the sequence number and the sums, so the seed is exact as of that number.
    this.reader.exec('BEGIN');
    try {
      const seq = Number((this.reads.meta.get('commit_seq') as Row).value);
      const seeds = this.readSeed(userId);
      this.markSeeded(userId, seq);
      return seeds;
    } finally {
      this.reader.exec('COMMIT');
    }
  }

  countedInSeed(record: PricedUsage): boolean {
    const committedIn = this.commitSeqOf.get(record);
    if (committedIn === undefined) return false;
    const seededThrough = this.seededAt.get(ledgerUserId(record));
    return seededThrough !== undefined && committedIn <= seededThrough;
  }

  recentUsers(sinceMs: number, limit: number): Array<{ userId: string; lastSeenMs: number }> {
    this.assertOpen();
    return (this.reads.recentUsers.all(sinceMs, limit) as Row[])
      .map((row) => ({ userId: String(row.user_id), lastSeenMs: Number(row.last_seen_ms) }));
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
    while (this.queue.length > 0 || this.groupInFlight !== undefined) {
      if (this.groupInFlight !== undefined) await this.groupInFlight;
      else this.flush();
    }
    try {
      await this.request({ op: 'close', nowMs: this.now() });
    } catch { /* a writer that failed has nothing left to fold; the next start folds the log */ }
    await this.worker.terminate();
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

  private request<K extends LedgerRequest['op']>(request: Extract<LedgerRequest, { op: K }>, transfer: ArrayBuffer[] = []): Promise<LedgerAnswers[K]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed && request.op !== 'close' && request.op !== 'group') {
      return Promise.reject(new LedgerClosedError('the ledger is closed'));
    }
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve: resolve as (value: never) => void, reject });
      this.worker.postMessage({ id, request } satisfies Envelope, transfer);
    });
  }

  private onReply(reply: Reply): void {
    const waiting = this.waiting.get(reply.id);
    if (waiting === undefined) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker.unref();
    if (reply.ok) waiting.resolve(reply.value as never);
    else waiting.reject(new Error(reply.message));
  }

  /** The writer thread is gone: what waits for it fails (exports get 503), and so does everything after. */
  private fail(error: Error): void {
    this.failure ??= new Error(`the ledger's writer thread stopped: ${error.message}`, { cause: error });
    for (const waiting of this.waiting.values()) waiting.reject(this.failure);
    this.waiting.clear();
  }

  /** Sends everything queued as one group commit; each caller learns which of its records were new. */
  private flush(): void {
    this.flushScheduled = undefined;
    if (this.groupInFlight !== undefined) return;
    const work = this.queue;
    this.queue = [];
    if (work.length === 0) return;
    const nowMs = this.now();
    let callCount = 0;
    for (const item of work) if (item.kind === 'commit') callCount += item.records.length;
    const calls = new Float64Array(callCount * CALL_FIELDS);
    const legacyKeys: Uint8Array[] | undefined = this.legacyUntilMs > nowMs ? [] : undefined;
    const series = new SeriesTable();
    const items: GroupItem[] = [];
    let index = 0;
    for (const item of work) {
      if (item.kind === 'park') {
        items.push({ kind: 'park', records: item.records });
        continue;
      }
      const start = index;
      for (const record of item.records as readonly PricedUsage[]) {
        encodeCall(calls, index++, record, series.indexOf(record));
        legacyKeys?.push(legacySpanKey(record.traceId, record.spanId));
      }
      items.push({ kind: 'commit', start, end: index });
    }
    this.groupInFlight = this.request({ op: 'group', nowMs, series: series.text(), calls, legacyKeys, items }, [calls.buffer])
      .then((answer) => this.settleGroup(work, answer), (error: Error) => {
        const failure = new Error(`ledger commit failed: ${error.message}`, { cause: error });
        for (const item of work) item.reject(failure);
      })
      .finally(() => {
        this.groupInFlight = undefined;
        if (this.queue.length > 0 && !this.closed) this.flush();
      });
  }

  private settleGroup(work: readonly QueuedWork[], answer: GroupAnswer): void {
    this.answeredSeq = answer.seq;
    const committed: PricedUsage[] = [];
    const outcomes: UsageRecord[][] = [];
    let index = 0;
    let parkIndex = 0;
    for (const item of work) {
      if (item.kind === 'park') {
        outcomes.push(answer.parked[parkIndex++]!.map((position) => item.records[position]!));
        continue;
      }
      const fresh: PricedUsage[] = [];
      for (const record of item.records as readonly PricedUsage[]) {
        if (answer.fresh[index++] === 0) continue;
        fresh.push(record);
        committed.push(record);
        this.commitSeqOf.set(record, answer.seq);
      }
      outcomes.push(fresh);
    }
    this.latest = answer.newUsers.length === 0 ? undefined
      : { seq: answer.seq, newUsers: new Set(answer.newUsers), committed, byUser: undefined };
    work.forEach((item, position) => item.resolve(outcomes[position] as never[]));
  }

  /**
   * The seed of a user who came to the ledger in the latest answered group: their all-time totals as of that group
   * are its fresh calls, so no read is needed (the common case: a new user's first call creates their series).
   */
  private seedFromLatestGroup(userId: string): UserSeriesSeed[] | undefined {
    const latest = this.latest;
    if (latest === undefined || !latest.newUsers.has(userId)) return undefined;
    if (latest.byUser === undefined) {
      latest.byUser = new Map();
      for (const record of latest.committed) {
        const user = ledgerUserId(record);
        if (!latest.newUsers.has(user)) continue;
        let mine = latest.byUser.get(user);
        if (mine === undefined) latest.byUser.set(user, mine = []);
        mine.push(record);
      }
    }
    return seedOfCalls(latest.byUser.get(userId) ?? []);
  }

  /**
   * Remembers the commit a user's seed is exact as of. Entries older than the latest answered group are needed by no
   * call still on its way to the metrics (answers arrive in order, and each group's calls reach the metrics as soon
   * as it is answered), so those are the ones dropped when the map grows large.
   */
  private markSeeded(userId: string, seq: number): void {
    if (this.seededAt.size >= MAX_SEEDED_USERS) {
      for (const [user, at] of this.seededAt) if (at < this.answeredSeq) this.seededAt.delete(user);
    }
    this.seededAt.set(userId, seq);
  }

  /** All-time totals per series from the folded tables plus what the log holds; call inside a read transaction. */
  private readSeed(userId: string): UserSeriesSeed[] {
    const span = userSpanOf(this.reads.userSpan, userId);
    if (span === undefined) return [];
    const source = oneUserSource({ fromMs: undefined, toMs: undefined, properties: [] }, span);
    const folded = this.seedStatement(`WITH ${source.sql}
      SELECT src.series_id AS series_id, s.provider AS provider, s.model AS model, s.operation AS operation, p.json AS json,
        ${SUMS_SQL}, MIN(src.first_seen_ms) AS first_seen_ms, MAX(src.last_seen_ms) AS last_seen_ms
      FROM src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set
      GROUP BY src.series_id`).all(...source.params) as Row[];
    const logged = this.reads.loggedSeed.all(span.userRef) as Row[];
    const bySeries = new Map<number, SeedSums>();
    for (const row of [...folded, ...logged]) {
      const seriesId = Number(row.series_id);
      bySeries.set(seriesId, addSeedRow(bySeries.get(seriesId), row));
    }
    return [...bySeries].sort(([a], [b]) => a - b).map(([, sums]) => seedOfSums(sums));
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

function prepareReads(db: DatabaseSync) {
  return {
    meta: db.prepare('SELECT value FROM meta WHERE name = ?'),
    userSpan: db.prepare('SELECT id, first_seen_ms, last_seen_ms FROM users WHERE user_id = ?'),
    loggedSeed: db.prepare(`SELECT l.series_id AS series_id, s.provider AS provider, s.model AS model, s.operation AS operation,
        p.json AS json, ${SUMS_SQL}, MIN(l.first_seen_ms) AS first_seen_ms, MAX(l.last_seen_ms) AS last_seen_ms
      FROM usage_log l JOIN series s ON s.id = l.series_id JOIN property_sets p ON p.id = s.property_set
      WHERE l.user_ref = ? GROUP BY l.series_id`),
    // The users table learns a known user's latest call at the next fold; the log has it before.
    recentUsers: db.prepare(`SELECT user_id, max(u.last_seen_ms, coalesce(l.last_seen_ms, 0)) AS last_seen_ms
      FROM users u LEFT JOIN (SELECT user_ref, MAX(last_seen_ms) AS last_seen_ms FROM usage_log GROUP BY user_ref) l ON l.user_ref = u.id
      WHERE max(u.last_seen_ms, coalesce(l.last_seen_ms, 0)) >= ? ORDER BY 2 DESC, user_id LIMIT ?`),
  };
}

/** One series' seed in integers (durations in whole microseconds) while rows are added up. */
interface SeedSums {
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly propertiesJson: string;
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costNanoUsd: number;
  durationMicros: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

function addSeedRow(sums: SeedSums | undefined, row: Row): SeedSums {
  const target = sums ?? {
    provider: String(row.provider), model: String(row.model), operation: String(row.operation), propertiesJson: String(row.json),
    requests: 0, errors: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costNanoUsd: 0,
    durationMicros: 0, firstSeenMs: Number(row.first_seen_ms), lastSeenMs: Number(row.last_seen_ms),
  };
  target.requests += Number(row.requests);
  target.errors += Number(row.errors);
  target.inputTokens += Number(row.input_tokens);
  target.outputTokens += Number(row.output_tokens);
  target.cacheReadTokens += Number(row.cache_read_tokens);
  target.cacheWriteTokens += Number(row.cache_write_tokens);
  target.costNanoUsd += Number(row.cost_nano_usd);
  target.durationMicros += Number(row.duration_us);
  target.firstSeenMs = Math.min(target.firstSeenMs, Number(row.first_seen_ms));
  target.lastSeenMs = Math.max(target.lastSeenMs, Number(row.last_seen_ms));
  return target;
}

function seedOfSums(sums: SeedSums): UserSeriesSeed {
  return {
    provider: sums.provider, model: sums.model, operation: sums.operation, properties: parsedProperties(sums.propertiesJson),
    requests: sums.requests, errors: sums.errors, inputTokens: sums.inputTokens, outputTokens: sums.outputTokens,
    cacheReadTokens: sums.cacheReadTokens, cacheWriteTokens: sums.cacheWriteTokens, costNanoUsd: sums.costNanoUsd,
    durationSumSeconds: sums.durationMicros / 1e6, firstSeenMs: sums.firstSeenMs, lastSeenMs: sums.lastSeenMs,
  };
}

/** A user's seed from their calls, per series as the ledger groups them (errors apart), in integers as it sums. */
export function seedOfCalls(calls: readonly PricedUsage[]): UserSeriesSeed[] {
  const bySeries = new Map<string, SeedSums>();
  for (const call of calls) {
    const propertiesJson = canonicalProperties(call.properties);
    const key = JSON.stringify([call.provider, call.model, call.operation, call.isError, propertiesJson]);
    let sums = bySeries.get(key);
    if (sums === undefined) {
      sums = {
        provider: call.provider, model: call.model, operation: call.operation, propertiesJson,
        requests: 0, errors: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costNanoUsd: 0,
        durationMicros: 0, firstSeenMs: call.endTimeMs, lastSeenMs: call.endTimeMs,
      };
      bySeries.set(key, sums);
    }
    sums.requests += 1;
    if (call.isError) sums.errors += 1;
    sums.inputTokens += call.tokens.input;
    sums.outputTokens += call.tokens.output;
    sums.cacheReadTokens += call.tokens.cacheRead;
    sums.cacheWriteTokens += call.tokens.cacheWrite;
    sums.costNanoUsd += call.costNanoUsd;
    sums.durationMicros += durationMicros(call.durationSeconds);
    sums.firstSeenMs = Math.min(sums.firstSeenMs, call.endTimeMs);
    sums.lastSeenMs = Math.max(sums.lastSeenMs, call.endTimeMs);
  }
  return [...bySeries.values()].map(seedOfSums);
}

const parsedPropertySets = new Map<string, Readonly<Record<string, string>>>();

/** The properties of a canonical JSON text; the same few sets recur in every seed, so they are parsed once. */
function parsedProperties(json: string): Readonly<Record<string, string>> {
  let properties = parsedPropertySets.get(json);
  if (properties === undefined) {
    if (parsedPropertySets.size >= MAX_SEEDED_USERS) parsedPropertySets.clear();
    properties = Object.freeze(JSON.parse(json) as Record<string, string>);
    parsedPropertySets.set(json, properties);
  }
  return properties;
}

type Level<T> = Map<string, T>;
/** userId -> provider -> model -> operation -> [ok, error] -> properties JSON -> series index */
type SeriesTree = Level<Level<Level<Level<[Level<number>, Level<number>]>>>>;

/**
 * The distinct series of one group commit, numbered in order of first appearance, sent as the JSON text of their
 * SeriesTuple. Found through one map level per field, so the per-call cost is a few lookups, not a text built per
 * call; the canonical text of a call's properties is kept per properties object.
 */
class SeriesTable {
  private readonly keys: string[] = [];
  private readonly tree: SeriesTree = new Map();
  private readonly propertiesText = new Map<Readonly<Record<string, string>>, string>();

  indexOf(record: PricedUsage): number {
    let propertiesJson = this.propertiesText.get(record.properties);
    if (propertiesJson === undefined) {
      propertiesJson = canonicalProperties(record.properties);
      this.propertiesText.set(record.properties, propertiesJson);
    }
    const userId = ledgerUserId(record);
    const byProvider = child(this.tree, userId, () => new Map());
    const byModel = child(byProvider, record.provider, () => new Map());
    const byOperation = child(byModel, record.model, () => new Map());
    const statuses = child(byOperation, record.operation, (): [Level<number>, Level<number>] => [new Map(), new Map()]);
    const byProperties = statuses[record.isError ? 1 : 0];
    let index = byProperties.get(propertiesJson);
    if (index === undefined) {
      index = this.keys.length;
      const tuple: SeriesTuple = [userId, record.provider, record.model, record.operation, record.isError, propertiesJson];
      this.keys.push(JSON.stringify(tuple));
      byProperties.set(propertiesJson, index);
    }
    return index;
  }

  /** GroupRequest.series */
  text(): string {
    return this.keys.join('\n');
  }
}

function child<T>(level: Level<T>, key: string, create: () => T): T {
  let value = level.get(key);
  if (value === undefined) level.set(key, value = create());
  return value;
}
