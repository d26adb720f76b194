import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import {
  dayText, foldIntoHourlyDeltas, legacySpanKey, ledgerUserId, HOURS_PER_DAY, MS_PER_HOUR, spanIdentity,
  spanIdentityText, type HourlyDelta, type SpanIdentity,
} from './aggregate.ts';
import {
  LedgerClosedError,
  type MetricsRestoreSource, type SeriesSeed, type UsageFilter, type UsageLedger, type UsageSums,
  type UserDetail, type UsersPage, type UsersQuery, type UserTotals,
} from './ledger.ts';
import { allUsersSource, oneUserSource, SORT_SQL, SUMS_SQL, TOTALS_SQL, type UserSpan } from './sqlite-queries.ts';
import { createOrUpgradeSchema, LEGACY_SEEN_TABLE } from './sqlite-schema.ts';

export const LEDGER_FILE_NAME = 'ledger.sqlite';

export interface SqliteLedgerOptions {
  /** Directory of the database file; created if missing. ':memory:' for a throwaway ledger (tests). */
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

const KEYS_PER_STATEMENT = 400;
const ROWS_PER_STATEMENT = 64;
const USAGE_COLUMN_COUNT = 15;
const USAGE_LOG_COLUMNS = `hour, series_id, user_ref, requests, errors, unpriced_requests, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nano_usd, duration_us, first_seen_ms, last_seen_ms`;
/** The log is folded into the totals when it holds this many rows, or is this old, whichever comes first. */
const FOLD_AFTER_ROWS = 20_000;
const FOLD_AFTER_MS = 2000;

const UPSERT_USAGE = (key: string) => `ON CONFLICT (${key}, series_id) DO UPDATE SET
  requests = requests + excluded.requests, errors = errors + excluded.errors,
  unpriced_requests = unpriced_requests + excluded.unpriced_requests,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
  cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
  cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd, duration_us = duration_us + excluded.duration_us,
  first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`;

const LOG_SUMS = `SUM(requests), SUM(errors), SUM(unpriced_requests), SUM(input_tokens), SUM(output_tokens),
  SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(duration_us),
  MIN(first_seen_ms), MAX(last_seen_ms)`;

/** Past this many cached ids the caches start over; they only save a lookup. */
const MAX_CACHED_IDS = 200_000;

type Row = Record<string, SQLInputValue>;

interface QueuedWork {
  readonly kind: 'commit' | 'park';
  readonly records: readonly UsageRecord[];
  readonly resolve: (fresh: never[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The ledger in one SQLite file (WAL) through Node's own `node:sqlite`. Commits are grouped: every export that
 * arrives before the event loop's next check phase shares one transaction, and with WAL each transaction is one
 * append to the log (an fsync only with synchronous=full, and at checkpoints).
 */
export class SqliteLedger implements UsageLedger, MetricsRestoreSource {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly dedupWindowMs: number;
  private readonly now: () => number;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly propertySetIds = new Map<string, number>();
  private readonly seriesIds = new Map<string, number>();
  private readonly chunkStatements = new Map<string, StatementSync>();
  /** Reads whose SQL depends only on the shape of the query (values are parameters). */
  private readonly readStatements = new Map<string, StatementSync>();
  /** Which group commit each committed record was in; read by countedInSeed. */
  private readonly commitSequenceOf = new WeakMap<UsageRecord, number>();
  /**
   * The group commit each user's latest seed was read after. Once a group's calls have reached the metrics the
   * entries only cost memory, so the map is simply cleared when it grows large (a seed is at most MAX ids old).
   */
  private readonly seededAt = new Map<string, number>();
  /** spanIdentityText of the parked calls: a commit deletes only those from the parking. */
  private readonly parkedKeys = new Set<string>();
  private readonly userRefs = new Map<string, number>();
  /**
   * What usage_log holds, per user ref and series id, so that a seed adds it to the folded totals without a fold
   * (a new user's seed comes right after their first commit). Emptied by each fold.
   */
  private readonly pending = new Map<number, Map<number, PendingSeries>>();
  /** What the open transaction logs; joins `pending` once it has committed. */
  private uncommitted: Array<{ readonly userRef: number; readonly seriesId: number; readonly delta: HourlyDelta }> = [];
  private foldedInTransaction = false;
  /** Rows in usage_log, not yet folded into the totals tables. */
  private loggedRows = 0;
  private foldedAtMs: number;
  private committedSequence = 0;
  private queue: QueuedWork[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(options: SqliteLedgerOptions) {
    if (options.dataDir === ':memory:') {
      this.path = ':memory:';
    } else {
      mkdirSync(options.dataDir, { recursive: true });
      this.path = join(options.dataDir, LEDGER_FILE_NAME);
    }
    this.dedupWindowMs = options.dedupWindowHours * MS_PER_HOUR;
    this.now = options.now ?? Date.now;
    this.db = new DatabaseSync(this.path, { timeout: 2000 });
    try {
      // Exclusive: a second processor on the same DATA_DIR fails at start instead of double-writing the ledger.
      // temp_store: the GROUP BY of the users API sorts in memory rather than in a temporary file.
      this.db.exec(`PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;
        PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'};
        PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 8192; PRAGMA temp_store = MEMORY;`);
      this.db.exec('BEGIN IMMEDIATE');
      const nowMs = this.now();
      createOrUpgradeSchema(this.db, this.path, nowMs, nowMs + 2 * this.dedupWindowMs);
      this.db.exec('COMMIT');
    } catch (error) {
      const reason = (error as Error).message;
      try { this.db.close(); } catch { /* already failing */ }
      throw new Error(/locked|busy/i.test(reason)
        ? `the ledger ${this.path} is in use by another process (one processor per DATA_DIR): ${reason}`
        : `cannot open the ledger ${this.path}: ${reason}`);
    }
    this.statements = prepareStatements(this.db);
    this.loadParkedKeys();
    // Calls logged before a stop or a kill -9 go into the totals now.
    this.loggedRows = this.countLoggedRows();
    this.foldedAtMs = this.now();
    this.foldNow();
  }

  commit(records: readonly PricedUsage[]): Promise<PricedUsage[]> {
    return this.enqueue('commit', records) as Promise<PricedUsage[]>;
  }

  park(records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    return this.enqueue('park', records);
  }

  async parked(): Promise<UsageRecord[]> {
    this.assertOpen();
    const rows = this.db.prepare('SELECT record FROM parked ORDER BY parked_at_ms, end_ms, id_hash').all() as Array<{ record: string }>;
    return rows.map((row) => JSON.parse(row.record) as UsageRecord);
  }

  async users(query: UsersQuery): Promise<UsersPage> {
    this.assertOpen();
    this.foldNow();
    const source = allUsersSource(query);
    const perUser = `WITH ${source.sql}, per_user AS (SELECT user_ref, ${TOTALS_SQL} FROM src GROUP BY user_ref)
      SELECT u.user_id AS user_id, t.* FROM per_user t JOIN users u ON u.id = t.user_ref`;
    const direction = query.order === 'asc' ? 'ASC' : 'DESC';
    const rows = this.db.prepare(`SELECT *, COUNT(*) OVER () AS total FROM (${perUser})
      ORDER BY ${SORT_SQL[query.sort]} ${direction}, user_id ASC LIMIT ? OFFSET ?`)
      .all(...source.params, query.limit ?? -1, query.offset) as Row[];
    let total = rows.length > 0 ? Number(rows[0]!.total) : 0;
    if (rows.length === 0 && query.offset > 0) {
      total = Number((this.db.prepare(`SELECT COUNT(*) AS n FROM (${perUser})`).get(...source.params) as Row).n);
    }
    return { users: rows.map(toUserTotals), total };
  }

  async user(userId: string, filter: UsageFilter): Promise<UserDetail | undefined> {
    this.assertOpen();
    this.foldNow();
    const span = this.userSpan(userId);
    if (span === undefined) return undefined;
    const source = oneUserSource(filter, span);
    const withSource = `WITH ${source.sql}`;
    const totalsRow = this.db.prepare(`${withSource} SELECT ? AS user_id, ${TOTALS_SQL} FROM src HAVING COUNT(*) > 0`)
      .get(...source.params, userId) as Row | undefined;
    const daily = (this.db.prepare(`${withSource} SELECT day, ${SUMS_SQL} FROM src GROUP BY day ORDER BY day`)
      .all(...source.params) as Row[]).map((row) => ({ day: dayText(Number(row.day)), ...toSums(row) }));
    const byModel = (this.db.prepare(`${withSource} SELECT s.provider AS provider, s.model AS model, ${SUMS_SQL}
      FROM src JOIN series s ON s.id = src.series_id
      GROUP BY s.provider, s.model ORDER BY cost_nano_usd DESC, requests DESC, provider, model`).all(...source.params) as Row[])
      .map((row) => ({ provider: String(row.provider), model: String(row.model), ...toSums(row) }));
    const byPropertySet = this.db.prepare(`${withSource} SELECT p.json AS json, ${SUMS_SQL}
      FROM src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set
      GROUP BY s.property_set`).all(...source.params) as Row[];
    return { totals: totalsRow === undefined ? undefined : toUserTotals(totalsRow), daily, byModel, byProperty: splitByProperty(byPropertySet) };
  }

  seedUser(userId: string): SeriesSeed[] {
    this.assertOpen();
    if (this.seededAt.size >= MAX_CACHED_IDS) this.seededAt.clear();
    this.seededAt.set(userId, this.committedSequence);
    const span = this.userSpan(userId);
    if (span === undefined) return [];
    const source = oneUserSource({ fromMs: undefined, toMs: undefined, properties: [] }, span);
    const rows = this.cachedStatement(`WITH ${source.sql}
      SELECT src.series_id AS series_id, s.provider AS provider, s.model AS model, s.operation AS operation, p.json AS json,
        ${SUMS_SQL}, MIN(src.first_seen_ms) AS first_seen_ms, MAX(src.last_seen_ms) AS last_seen_ms
      FROM src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set
      GROUP BY src.series_id ORDER BY src.series_id`).all(...source.params) as Row[];
    const seeds = new Map<number, SeriesSeed>();
    for (const row of rows) {
      seeds.set(Number(row.series_id), {
        provider: String(row.provider),
        model: String(row.model),
        operation: String(row.operation),
        properties: JSON.parse(String(row.json)) as Record<string, string>,
        requests: Number(row.requests),
        errors: Number(row.errors),
        inputTokens: Number(row.input_tokens),
        outputTokens: Number(row.output_tokens),
        cacheReadTokens: Number(row.cache_read_tokens),
        cacheWriteTokens: Number(row.cache_write_tokens),
        costNanoUsd: Number(row.cost_nano_usd),
        durationSumSeconds: Number(row.duration_us) / 1e6,
        firstSeenMs: Number(row.first_seen_ms),
        lastSeenMs: Number(row.last_seen_ms),
      });
    }
    for (const [seriesId, logged] of this.pending.get(span.userRef) ?? []) seeds.set(seriesId, addLogged(seeds.get(seriesId), logged));
    return [...seeds].sort(([a], [b]) => a - b).map(([, seed]) => seed);
  }

  countedInSeed(record: PricedUsage): boolean {
    const committedIn = this.commitSequenceOf.get(record);
    if (committedIn === undefined) return false;
    const seededThrough = this.seededAt.get(ledgerUserId(record));
    return seededThrough !== undefined && committedIn <= seededThrough;
  }

  recentUsers(sinceMs: number, limit: number): Array<{ userId: string; lastSeenMs: number }> {
    this.assertOpen();
    this.foldNow();
    return (this.statements.recentUsers.all(sinceMs, limit) as Row[])
      .map((row) => ({ userId: String(row.user_id), lastSeenMs: Number(row.last_seen_ms) }));
  }

  /** Bytes of the database file (without its WAL), for the benchmark and health. */
  sizeBytes(): number {
    const pages = this.db.prepare('PRAGMA page_count').get() as { page_count: number };
    const size = this.db.prepare('PRAGMA page_size').get() as { page_size: number };
    return pages.page_count * size.page_size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flush();
    }
    try { this.foldNow(); } catch { /* the log is folded at the next start instead */ }
    this.closed = true;
    this.db.close();
  }

  private userSpan(userId: string): UserSpan | undefined {
    const row = this.statements.userSpan.get(userId) as Row | undefined;
    if (row === undefined) return undefined;
    return { userRef: Number(row.id), firstSeenMs: Number(row.first_seen_ms), lastSeenMs: Number(row.last_seen_ms) };
  }

  private loadParkedKeys(): void {
    this.parkedKeys.clear();
    for (const row of this.db.prepare('SELECT end_ms, id_hash FROM parked').all() as Row[]) {
      this.parkedKeys.add(spanIdentityText({ endMs: Number(row.end_ms), idHash: Number(row.id_hash) }));
    }
  }

  private enqueue(kind: QueuedWork['kind'], records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    if (this.closed) return Promise.reject(new LedgerClosedError('the ledger is closed'));
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ kind, records, resolve: resolve as (fresh: never[]) => void, reject });
      this.flushScheduled ??= setImmediate(() => this.flush());
    });
  }

  /** One transaction for everything queued; each caller learns which of its records were new. */
  private flush(): void {
    this.flushScheduled = undefined;
    const work = this.queue;
    this.queue = [];
    if (work.length === 0) return;
    const outcomes: UsageRecord[][] = [];
    this.uncommitted = [];
    this.foldedInTransaction = false;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const nowMs = this.now();
      const dedup = this.dedupTables(nowMs);
      const committed: PricedUsage[] = [];
      for (const item of work) {
        if (item.kind === 'park') {
          outcomes.push(this.parkInTransaction(item.records, nowMs, dedup));
        } else {
          const fresh = this.dedupInTransaction(item.records as readonly PricedUsage[], dedup);
          committed.push(...fresh);
          outcomes.push(fresh);
        }
      }
      this.applyInTransaction(committed);
      if (this.foldDue(nowMs)) this.foldInTransaction(nowMs);
      this.db.exec('COMMIT');
      this.committedSequence++;
      this.afterCommit();
      for (const record of committed) this.commitSequenceOf.set(record, this.committedSequence);
    } catch (error) {
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
      // Ids handed out inside the failed transaction no longer exist.
      this.propertySetIds.clear();
      this.seriesIds.clear();
      this.userRefs.clear();
      this.loadParkedKeys();
      this.loggedRows = this.countLoggedRows();
      if (this.foldedInTransaction) this.foldedAtMs = 0;
      this.uncommitted = [];
      this.foldedInTransaction = false;
      const failure = new Error(`ledger commit failed: ${(error as Error).message}`, { cause: error });
      for (const item of work) item.reject(failure);
      return;
    }
    work.forEach((item, index) => item.resolve(outcomes[index] as never[]));
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
    let legacy = (meta.get('legacy_seen_until_ms') ?? 0) > 0;
    if (legacy && nowMs >= meta.get('legacy_seen_until_ms')!) {
      this.db.exec(`DROP TABLE IF EXISTS ${LEGACY_SEEN_TABLE}`);
      this.statements.metaSet.run(0, 'legacy_seen_until_ms');
      legacy = false;
    }
    return { current: `seen_${current}`, older: `seen_${current === 0 ? 1 : 0}`, legacy };
  }

  /** spanIdentityText of those of `identities` already in the older generation (or the schema-1 keys). */
  private seenBefore(identities: readonly SpanIdentity[], records: readonly UsageRecord[], dedup: DedupTables): Set<string> {
    const seen = new Set<string>();
    for (const [start, end] of chunks(identities.length, KEYS_PER_STATEMENT)) {
      const rows = this.chunkStatement(`has:${dedup.older}`, end - start,
        (n) => `SELECT end_ms, id_hash FROM ${dedup.older} WHERE (end_ms, id_hash) IN (VALUES ${placeholders(n, 2)})`)
        .all(...identityParams(identities, start, end)) as Row[];
      for (const row of rows) seen.add(spanIdentityText({ endMs: Number(row.end_ms), idHash: Number(row.id_hash) }));
    }
    if (dedup.legacy) {
      records.forEach((record, index) => {
        if (this.statements.legacySeen!.get(legacySpanKey(record.traceId, record.spanId)) !== undefined) seen.add(spanIdentityText(identities[index]!));
      });
    }
    return seen;
  }

  /**
   * The records whose span was not seen before, in order, each span once. Keys go to SQLite a chunk at a time;
   * being ordered by end time, the inserts land at the tail of the current generation.
   */
  private dedupInTransaction(records: readonly PricedUsage[], dedup: DedupTables): PricedUsage[] {
    const identities = records.map(spanIdentity);
    const texts = identities.map(spanIdentityText);
    const seenBefore = this.seenBefore(identities, records, dedup);
    const candidates: number[] = [];
    for (let index = 0; index < records.length; index++) if (!seenBefore.has(texts[index]!)) candidates.push(index);
    const inserted = new Set<string>();
    for (const [start, end] of chunks(candidates.length, KEYS_PER_STATEMENT)) {
      const batch = candidates.slice(start, end).map((index) => identities[index]!);
      const rows = this.chunkStatement(`insert:${dedup.current}`, batch.length,
        (n) => `INSERT INTO ${dedup.current} (end_ms, id_hash) VALUES ${placeholders(n, 2)} ON CONFLICT DO NOTHING RETURNING end_ms, id_hash`)
        .all(...identityParams(batch, 0, batch.length)) as Row[];
      for (const row of rows) inserted.add(spanIdentityText({ endMs: Number(row.end_ms), idHash: Number(row.id_hash) }));
    }
    const fresh: PricedUsage[] = [];
    for (const index of candidates) {
      const text = texts[index]!;
      // delete: a span repeated within the batch is fresh once.
      if (!inserted.delete(text)) continue;
      fresh.push(records[index]!);
      if (this.parkedKeys.delete(text)) this.statements.unpark.run(identities[index]!.endMs, identities[index]!.idHash);
    }
    return fresh;
  }

  private chunkStatement(name: string, rows: number, build: (rows: number) => string): StatementSync {
    const key = `${name}:${rows}`;
    let statement = this.chunkStatements.get(key);
    if (statement === undefined) {
      statement = this.db.prepare(build(rows));
      this.chunkStatements.set(key, statement);
    }
    return statement;
  }

  private parkInTransaction(records: readonly UsageRecord[], nowMs: number, dedup: DedupTables): UsageRecord[] {
    const identities = records.map(spanIdentity);
    const committedBefore = this.seenBefore(identities, records, dedup);
    const current = this.seenBefore(identities, records, { older: dedup.current, current: dedup.current, legacy: false });
    const parked: UsageRecord[] = [];
    records.forEach((record, index) => {
      const identity = identities[index]!;
      const text = spanIdentityText(identity);
      if (committedBefore.has(text) || current.has(text) || this.parkedKeys.has(text)) return;
      if (this.statements.park.run(identity.endMs, identity.idHash, nowMs, JSON.stringify(record)).changes === 0) return;
      this.parkedKeys.add(text);
      parked.push(record);
    });
    return parked;
  }

  /**
   * Appends the batch's per-series, per-hour sums to usage_log: rows in insertion order, so the commit writes a few
   * pages at the end of one table. The totals tables are brought up to date from the log later, many commits at a
   * time (see fold).
   */
  private applyInTransaction(records: readonly PricedUsage[]): void {
    if (records.length === 0) return;
    const deltas = [...foldIntoHourlyDeltas(records).values()];
    const values: SQLInputValue[] = [];
    for (const delta of deltas) {
      const userRef = this.userRef(delta.series.userId, delta.firstSeenMs, delta.lastSeenMs);
      const seriesId = this.seriesId(delta, userRef);
      this.uncommitted.push({ userRef, seriesId, delta });
      values.push(
        delta.hour, seriesId, userRef, delta.requests, delta.series.isError ? delta.requests : 0,
        delta.unpricedRequests, delta.inputTokens, delta.outputTokens, delta.cacheReadTokens, delta.cacheWriteTokens,
        delta.reasoningTokens, delta.costNanoUsd, delta.durationMicros, delta.firstSeenMs, delta.lastSeenMs,
      );
    }
    for (const [start, end] of chunks(deltas.length, ROWS_PER_STATEMENT)) {
      this.chunkStatement('log', end - start, (n) => `INSERT INTO usage_log (${USAGE_LOG_COLUMNS}) VALUES ${placeholders(n, USAGE_COLUMN_COUNT)}`)
        .run(...values.slice(start * USAGE_COLUMN_COUNT, end * USAGE_COLUMN_COUNT));
    }
    this.loggedRows += deltas.length;
  }

  /** Keeps `pending` equal to what usage_log holds after a commit. */
  private afterCommit(): void {
    if (this.foldedInTransaction) {
      this.pending.clear();
    } else {
      for (const { userRef, seriesId, delta } of this.uncommitted) {
        let byUser = this.pending.get(userRef);
        if (byUser === undefined) this.pending.set(userRef, byUser = new Map());
        byUser.set(seriesId, addToPending(byUser.get(seriesId), delta));
      }
    }
    this.uncommitted = [];
    this.foldedInTransaction = false;
  }

  private cachedStatement(sql: string): StatementSync {
    let statement = this.readStatements.get(sql);
    if (statement === undefined) {
      if (this.readStatements.size >= MAX_CACHED_STATEMENTS) this.readStatements.clear();
      statement = this.db.prepare(sql);
      this.readStatements.set(sql, statement);
    }
    return statement;
  }

  /** Whether the log has grown or aged enough to be folded in this commit. */
  private foldDue(nowMs: number): boolean {
    return this.loggedRows >= FOLD_AFTER_ROWS || (this.loggedRows > 0 && nowMs - this.foldedAtMs >= FOLD_AFTER_MS);
  }

  /**
   * Adds the logged sums to usage_hourly, usage_daily and the users' first/last seen, and empties the log, inside
   * the current transaction. Grouped by key first, a series busy in many commits costs one row update per fold.
   */
  private foldInTransaction(nowMs: number): void {
    if (this.loggedRows > 0) {
      this.statements.foldHourly.run();
      this.statements.foldDaily.run();
      this.statements.foldUserDaily.run();
      this.statements.foldUsers.run();
      this.statements.clearLog.run();
    }
    this.loggedRows = 0;
    this.foldedAtMs = nowMs;
    this.foldedInTransaction = true;
  }

  /** Folds the log in a transaction of its own, so that a read sees every committed call in the totals tables. */
  private foldNow(): void {
    if (this.loggedRows === 0) return;
    // Queued exports go first: they may be waiting for their 200 already.
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flush();
      if (this.loggedRows === 0) return;
    }
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.foldInTransaction(this.now());
      this.db.exec('COMMIT');
      this.pending.clear();
      this.foldedInTransaction = false;
    } catch (error) {
      this.foldedInTransaction = false;
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
      this.loggedRows = this.countLoggedRows();
      throw error;
    }
  }

  private countLoggedRows(): number {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM usage_log').get() as Row).n);
  }

  /** The integer id of a user; a new user is inserted (first/last seen of existing users are set by the fold). */
  private userRef(userId: string, firstSeenMs: number, lastSeenMs: number): number {
    let ref = this.userRefs.get(userId);
    if (ref !== undefined) return ref;
    ref = Number((this.statements.userRef.get(userId, firstSeenMs, lastSeenMs) as Row).id);
    if (this.userRefs.size >= MAX_CACHED_IDS) this.userRefs.clear();
    this.userRefs.set(userId, ref);
    return ref;
  }

  private seriesId(delta: HourlyDelta, userRef: number): number {
    let id = this.seriesIds.get(delta.seriesKey);
    if (id !== undefined) return id;
    const { series } = delta;
    let propertySet = this.propertySetIds.get(series.propertiesJson);
    if (propertySet === undefined) {
      propertySet = Number((this.statements.propertySetId.get(series.propertiesJson) as Row).id);
      if (this.propertySetIds.size >= MAX_CACHED_IDS) this.propertySetIds.clear();
      this.propertySetIds.set(series.propertiesJson, propertySet);
    }
    id = Number((this.statements.seriesId.get(
      userRef, series.provider, series.model, series.operation, series.isError ? 1 : 0, propertySet) as Row).id);
    if (this.seriesIds.size >= MAX_CACHED_IDS) this.seriesIds.clear();
    this.seriesIds.set(delta.seriesKey, id);
    return id;
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerClosedError('the ledger is closed');
  }
}

const MAX_CACHED_STATEMENTS = 64;

/** What usage_log holds for one series: integer sums, added to in place. */
interface PendingSeries {
  readonly series: HourlyDelta['series'];
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costNanoUsd: number;
  durationMicros: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

function addToPending(pending: PendingSeries | undefined, delta: HourlyDelta): PendingSeries {
  if (pending === undefined) {
    const { series, requests, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costNanoUsd, durationMicros, firstSeenMs, lastSeenMs } = delta;
    return { series, requests, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costNanoUsd, durationMicros, firstSeenMs, lastSeenMs };
  }
  pending.requests += delta.requests;
  pending.inputTokens += delta.inputTokens;
  pending.outputTokens += delta.outputTokens;
  pending.cacheReadTokens += delta.cacheReadTokens;
  pending.cacheWriteTokens += delta.cacheWriteTokens;
  pending.costNanoUsd += delta.costNanoUsd;
  pending.durationMicros += delta.durationMicros;
  if (delta.firstSeenMs < pending.firstSeenMs) pending.firstSeenMs = delta.firstSeenMs;
  if (delta.lastSeenMs > pending.lastSeenMs) pending.lastSeenMs = delta.lastSeenMs;
  return pending;
}

const parsedPropertySets = new Map<string, Readonly<Record<string, string>>>();

/** The properties of a canonical JSON text; the same few sets recur in every commit, so they are parsed once. */
function parsedProperties(json: string): Readonly<Record<string, string>> {
  let properties = parsedPropertySets.get(json);
  if (properties === undefined) {
    if (parsedPropertySets.size >= MAX_CACHED_IDS) parsedPropertySets.clear();
    properties = Object.freeze(JSON.parse(json) as Record<string, string>);
    parsedPropertySets.set(json, properties);
  }
  return properties;
}

/** A folded seed (or none) plus what the log holds for the same series; durations add in whole microseconds. */
function addLogged(base: SeriesSeed | undefined, logged: PendingSeries): SeriesSeed {
  const { series } = logged;
  const errors = series.isError ? logged.requests : 0;
  if (base === undefined) {
    return {
      provider: series.provider, model: series.model, operation: series.operation,
      properties: parsedProperties(series.propertiesJson),
      requests: logged.requests, errors, inputTokens: logged.inputTokens, outputTokens: logged.outputTokens,
      cacheReadTokens: logged.cacheReadTokens, cacheWriteTokens: logged.cacheWriteTokens, costNanoUsd: logged.costNanoUsd,
      durationSumSeconds: logged.durationMicros / 1e6, firstSeenMs: logged.firstSeenMs, lastSeenMs: logged.lastSeenMs,
    };
  }
  return {
    ...base,
    requests: base.requests + logged.requests,
    errors: base.errors + errors,
    inputTokens: base.inputTokens + logged.inputTokens,
    outputTokens: base.outputTokens + logged.outputTokens,
    cacheReadTokens: base.cacheReadTokens + logged.cacheReadTokens,
    cacheWriteTokens: base.cacheWriteTokens + logged.cacheWriteTokens,
    costNanoUsd: base.costNanoUsd + logged.costNanoUsd,
    durationSumSeconds: (Math.round(base.durationSumSeconds * 1e6) + logged.durationMicros) / 1e6,
    firstSeenMs: Math.min(base.firstSeenMs, logged.firstSeenMs),
    lastSeenMs: Math.max(base.lastSeenMs, logged.lastSeenMs),
  };
}

interface DedupTables {
  /** The generation new keys go to. */
  readonly current: string;
  readonly older: string;
  /** Whether schema-1 keys (migrated) are still within their window. */
  readonly legacy: boolean;
}

function identityParams(identities: readonly SpanIdentity[], start: number, end: number): number[] {
  const params: number[] = [];
  for (let index = start; index < end; index++) params.push(identities[index]!.endMs, identities[index]!.idHash);
  return params;
}

function prepareStatements(db: DatabaseSync) {
  const hasLegacy = db.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(LEGACY_SEEN_TABLE) !== undefined;
  return {
    metaAll: db.prepare('SELECT name, value FROM meta'),
    metaSet: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
    legacySeen: hasLegacy ? db.prepare(`SELECT 1 FROM ${LEGACY_SEEN_TABLE} WHERE span_key = ?`) : undefined,
    park: db.prepare('INSERT OR IGNORE INTO parked (end_ms, id_hash, parked_at_ms, record) VALUES (?, ?, ?, ?)'),
    unpark: db.prepare('DELETE FROM parked WHERE end_ms = ? AND id_hash = ?'),
    // DO UPDATE (to the same value) rather than DO NOTHING, so that RETURNING gives the id of an existing row too.
    propertySetId: db.prepare('INSERT INTO property_sets (json) VALUES (?) ON CONFLICT (json) DO UPDATE SET json = excluded.json RETURNING id'),
    seriesId: db.prepare(`INSERT INTO series (user_ref, provider, model, operation, is_error, property_set) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (user_ref, provider, model, operation, is_error, property_set) DO UPDATE SET user_ref = excluded.user_ref RETURNING id`),
    userSpan: db.prepare('SELECT id, first_seen_ms, last_seen_ms FROM users WHERE user_id = ?'),
    // DO UPDATE for RETURNING, as above; first/last seen of a known user are the fold's business.
    userRef: db.prepare(`INSERT INTO users (user_id, first_seen_ms, last_seen_ms) VALUES (?, ?, ?)
      ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id RETURNING id`),
    // WHERE true: without it SQLite would read ON CONFLICT as part of the SELECT.
    foldHourly: db.prepare(`INSERT INTO usage_hourly SELECT hour, series_id, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY hour, series_id ORDER BY hour, series_id ${UPSERT_USAGE('hour')}`),
    foldDaily: db.prepare(`INSERT INTO usage_daily SELECT hour / ${HOURS_PER_DAY} AS day, series_id, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY day, series_id ORDER BY day, series_id ${UPSERT_USAGE('day')}`),
    foldUserDaily: db.prepare(`INSERT INTO user_daily SELECT hour / ${HOURS_PER_DAY} AS day, user_ref, ${LOG_SUMS} FROM usage_log WHERE true
      GROUP BY day, user_ref ORDER BY day, user_ref ON CONFLICT (day, user_ref) DO UPDATE SET ${UPSERT_USAGE('day').split('DO UPDATE SET')[1]}`),
    foldUsers: db.prepare(`UPDATE users SET first_seen_ms = min(users.first_seen_ms, logged.first_seen_ms),
      last_seen_ms = max(users.last_seen_ms, logged.last_seen_ms)
      FROM (SELECT user_ref, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms FROM usage_log GROUP BY user_ref) AS logged
      WHERE users.id = logged.user_ref`),
    clearLog: db.prepare('DELETE FROM usage_log'),
    recentUsers: db.prepare('SELECT user_id, last_seen_ms FROM users WHERE last_seen_ms >= ? ORDER BY last_seen_ms DESC, user_id LIMIT ?'),
  };
}

/** `(?, ?), (?, ?)` for `rows` rows of `columns` values. */
function placeholders(rows: number, columns: number): string {
  return Array(rows).fill(`(${Array(columns).fill('?').join(', ')})`).join(', ');
}

/** [start, end) pairs covering `length` items, `size` at a time. */
function chunks(length: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let start = 0; start < length; start += size) out.push([start, Math.min(length, start + size)]);
  return out;
}

function toSums(row: Row): UsageSums {
  return {
    requests: Number(row.requests),
    errors: Number(row.errors),
    unpricedRequests: Number(row.unpriced_requests),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    cacheReadTokens: Number(row.cache_read_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    costNanoUsd: Number(row.cost_nano_usd),
    durationMicros: Number(row.duration_us),
  };
}

function toUserTotals(row: Row): UserTotals {
  return {
    userId: String(row.user_id),
    ...toSums(row),
    firstSeenMs: Number(row.first_seen_ms),
    lastSeenMs: Number(row.last_seen_ms),
    activeDays: Number(row.active_days),
  };
}

/** Per property set sums -> per (name, value) sums; a call counts once under each property it carries. */
export function splitByProperty(rows: readonly Row[]): UserDetail['byProperty'] {
  const split = new Map<string, { name: string; value: string; sums: Record<keyof UsageSums, number> }>();
  for (const row of rows) {
    const sums = toSums(row);
    const properties = JSON.parse(String(row.json)) as Record<string, string>;
    for (const [name, value] of Object.entries(properties)) {
      const key = JSON.stringify([name, value]);
      let entry = split.get(key);
      if (entry === undefined) {
        entry = { name, value, sums: { ...sums } };
        split.set(key, entry);
        continue;
      }
      for (const field of Object.keys(sums) as Array<keyof UsageSums>) entry.sums[field] += sums[field];
    }
  }
  return [...split.values()]
    .map(({ name, value, sums }) => ({ name, value, ...sums }))
    .sort((a, b) => a.name.localeCompare(b.name) || b.costNanoUsd - a.costNanoUsd || a.value.localeCompare(b.value));
}
