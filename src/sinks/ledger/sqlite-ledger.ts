import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import { dayText, foldIntoHourlyDeltas, ledgerUserId, HOURS_PER_DAY, MS_PER_HOUR, spanKey, type HourlyDelta } from './aggregate.ts';
import {
  LedgerClosedError,
  type MetricsRestoreSource, type SeriesSeed, type UsageFilter, type UsageLedger, type UsageSums,
  type UserDetail, type UserSortColumn, type UsersPage, type UsersQuery, type UserTotals,
} from './ledger.ts';

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

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS property_sets (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS series (
  id INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, operation TEXT NOT NULL,
  is_error INTEGER NOT NULL, property_set INTEGER NOT NULL,
  UNIQUE (user_id, provider, model, operation, is_error, property_set)
);
CREATE TABLE IF NOT EXISTS usage_hourly (
  series_id INTEGER NOT NULL, hour INTEGER NOT NULL,
  requests INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL,
  first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
  PRIMARY KEY (series_id, hour)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_hourly_by_hour ON usage_hourly (hour);
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_0 (span_key BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_1 (span_key BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parked (
  span_key BLOB PRIMARY KEY, parked_at_ms INTEGER NOT NULL, record TEXT NOT NULL
) WITHOUT ROWID;
`;

const SUMS_SQL = `
  SUM(h.requests) AS requests,
  SUM(CASE WHEN s.is_error THEN h.requests ELSE 0 END) AS errors,
  SUM(h.unpriced_requests) AS unpriced_requests,
  SUM(h.input_tokens) AS input_tokens, SUM(h.output_tokens) AS output_tokens,
  SUM(h.cache_read_tokens) AS cache_read_tokens, SUM(h.cache_write_tokens) AS cache_write_tokens,
  SUM(h.reasoning_tokens) AS reasoning_tokens,
  SUM(h.cost_nano_usd) AS cost_nano_usd, SUM(h.duration_us) AS duration_us`;

const USER_TOTALS_SQL = `
  s.user_id AS user_id, ${SUMS_SQL},
  MIN(h.first_seen_ms) AS first_seen_ms, MAX(h.last_seen_ms) AS last_seen_ms,
  COUNT(DISTINCT h.hour / ${HOURS_PER_DAY}) AS active_days`;

const TOTAL_TOKENS = '(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens)';

/** The SQL each sortable column orders by (over the grouped rows of USER_TOTALS_SQL). */
const SORT_SQL: Readonly<Record<UserSortColumn, string>> = {
  userId: 'user_id',
  requests: 'requests',
  errors: 'errors',
  errorRate: 'errors * 1.0 / requests',
  costUsd: 'cost_nano_usd',
  costNanoUsd: 'cost_nano_usd',
  inputTokens: 'input_tokens',
  outputTokens: 'output_tokens',
  cacheReadTokens: 'cache_read_tokens',
  cacheWriteTokens: 'cache_write_tokens',
  reasoningTokens: 'reasoning_tokens',
  totalTokens: TOTAL_TOKENS,
  unpricedRequests: 'unpriced_requests',
  avgLatencyMs: 'duration_us * 1.0 / requests',
  firstSeen: 'first_seen_ms',
  lastSeen: 'last_seen_ms',
  activeDays: 'active_days',
  avgRequestsPerDay: 'requests * 1.0 / active_days',
  avgTokensPerRequest: `${TOTAL_TOKENS} * 1.0 / requests`,
};

const KEYS_PER_STATEMENT = 500;
const ROWS_PER_STATEMENT = 100;
const HOURLY_COLUMNS = 13;

const UPSERT_HOURLY = `ON CONFLICT (series_id, hour) DO UPDATE SET
  requests = requests + excluded.requests, unpriced_requests = unpriced_requests + excluded.unpriced_requests,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
  cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
  cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd, duration_us = duration_us + excluded.duration_us,
  first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`;

const UPSERT_USER = `ON CONFLICT (user_id) DO UPDATE SET first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
  last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`;

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
  /** Which group commit each committed record was in; read by countedInSeed. */
  private readonly commitSequenceOf = new WeakMap<UsageRecord, number>();
  /**
   * The group commit each user's latest seed was read after. Once a group's calls have reached the metrics the
   * entries only cost memory, so the map is simply cleared when it grows large (a seed is at most MAX ids old).
   */
  private readonly seededAt = new Map<string, number>();
  private committedSequence = 0;
  private queue: QueuedWork[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private parkedCount: number;
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
      this.db.exec(`PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;
        PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'};
        PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 8192;`);
      this.db.exec('BEGIN IMMEDIATE');
      const version = (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (version > SCHEMA_VERSION) {
        throw new Error(`${this.path} has ledger schema ${version}; this processor knows schema ${SCHEMA_VERSION} (was it written by a newer version?)`);
      }
      this.db.exec(SCHEMA);
      this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      this.db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?), (?, ?)')
        .run('dedup_current', 0, 'dedup_rotated_ms', this.now());
      this.db.exec('COMMIT');
    } catch (error) {
      const reason = (error as Error).message;
      try { this.db.close(); } catch { /* already failing */ }
      throw new Error(/locked|busy/i.test(reason)
        ? `the ledger ${this.path} is in use by another process (one processor per DATA_DIR): ${reason}`
        : `cannot open the ledger ${this.path}: ${reason}`);
    }
    this.statements = prepareStatements(this.db);
    this.parkedCount = (this.db.prepare('SELECT COUNT(*) AS n FROM parked').get() as { n: number }).n;
  }

  commit(records: readonly PricedUsage[]): Promise<PricedUsage[]> {
    return this.enqueue('commit', records) as Promise<PricedUsage[]>;
  }

  park(records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    return this.enqueue('park', records);
  }

  async parked(): Promise<UsageRecord[]> {
    this.assertOpen();
    const rows = this.db.prepare('SELECT record FROM parked ORDER BY parked_at_ms, span_key').all() as Array<{ record: string }>;
    return rows.map((row) => JSON.parse(row.record) as UsageRecord);
  }

  async users(query: UsersQuery): Promise<UsersPage> {
    this.assertOpen();
    const { where, params } = filterSql(query);
    const grouped = `SELECT ${USER_TOTALS_SQL} FROM usage_hourly h JOIN series s ON s.id = h.series_id ${where} GROUP BY s.user_id`;
    const direction = query.order === 'asc' ? 'ASC' : 'DESC';
    const rows = this.db.prepare(`SELECT *, COUNT(*) OVER () AS total FROM (${grouped})
      ORDER BY ${SORT_SQL[query.sort]} ${direction}, user_id ASC LIMIT ? OFFSET ?`)
      .all(...params, query.limit ?? -1, query.offset) as Row[];
    let total = rows.length > 0 ? Number(rows[0]!.total) : 0;
    if (rows.length === 0 && query.offset > 0) {
      total = Number((this.db.prepare(`SELECT COUNT(*) AS n FROM (${grouped})`).get(...params) as Row).n);
    }
    return { users: rows.map(toUserTotals), total };
  }

  async user(userId: string, filter: UsageFilter): Promise<UserDetail | undefined> {
    this.assertOpen();
    if (this.statements.userExists.get(userId) === undefined) return undefined;
    const { where, params } = filterSql(filter, 's.user_id = ?');
    const from = `FROM usage_hourly h JOIN series s ON s.id = h.series_id ${where}`;
    const all = [userId, ...params];
    const totalsRow = this.db.prepare(`SELECT ${USER_TOTALS_SQL} ${from} GROUP BY s.user_id`).get(...all) as Row | undefined;
    const daily = (this.db.prepare(`SELECT h.hour / ${HOURS_PER_DAY} AS day, ${SUMS_SQL} ${from} GROUP BY day ORDER BY day`)
      .all(...all) as Row[]).map((row) => ({ day: dayText(Number(row.day)), ...toSums(row) }));
    const byModel = (this.db.prepare(`SELECT s.provider AS provider, s.model AS model, ${SUMS_SQL} ${from}
      GROUP BY s.provider, s.model ORDER BY cost_nano_usd DESC, requests DESC, provider, model`).all(...all) as Row[])
      .map((row) => ({ provider: String(row.provider), model: String(row.model), ...toSums(row) }));
    const byPropertySet = this.db.prepare(`SELECT p.json AS json, ${SUMS_SQL} ${from.replace('JOIN series s ON s.id = h.series_id',
      'JOIN series s ON s.id = h.series_id JOIN property_sets p ON p.id = s.property_set')} GROUP BY s.property_set`).all(...all) as Row[];
    return { totals: totalsRow === undefined ? undefined : toUserTotals(totalsRow), daily, byModel, byProperty: splitByProperty(byPropertySet) };
  }

  seedUser(userId: string): SeriesSeed[] {
    this.assertOpen();
    if (this.seededAt.size >= MAX_CACHED_IDS) this.seededAt.clear();
    this.seededAt.set(userId, this.committedSequence);
    return (this.statements.seriesTotals.all(userId) as Row[]).map((row) => {
      const requests = Number(row.requests);
      return {
        provider: String(row.provider),
        model: String(row.model),
        operation: String(row.operation),
        properties: JSON.parse(String(row.json)) as Record<string, string>,
        requests,
        errors: Number(row.is_error) === 1 ? requests : 0,
        inputTokens: Number(row.input_tokens),
        outputTokens: Number(row.output_tokens),
        cacheReadTokens: Number(row.cache_read_tokens),
        cacheWriteTokens: Number(row.cache_write_tokens),
        costNanoUsd: Number(row.cost_nano_usd),
        durationSumSeconds: Number(row.duration_us) / 1e6,
        firstSeenMs: Number(row.first_seen_ms),
        lastSeenMs: Number(row.last_seen_ms),
      };
    });
  }

  countedInSeed(record: PricedUsage): boolean {
    const committedIn = this.commitSequenceOf.get(record);
    if (committedIn === undefined) return false;
    const seededThrough = this.seededAt.get(ledgerUserId(record));
    return seededThrough !== undefined && committedIn <= seededThrough;
  }

  recentUsers(sinceMs: number, limit: number): Array<{ userId: string; lastSeenMs: number }> {
    this.assertOpen();
    return (this.statements.recentUsers.all(sinceMs, limit) as Row[])
      .map((row) => ({ userId: String(row.user_id), lastSeenMs: Number(row.last_seen_ms) }));
  }

  /** Bytes of the database file and its WAL, for the benchmark and health. */
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
    this.closed = true;
    this.db.close();
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
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const nowMs = this.now();
      this.rotateDedupIfDue(nowMs);
      const committed: PricedUsage[] = [];
      for (const item of work) {
        if (item.kind === 'park') {
          outcomes.push(this.parkInTransaction(item.records, nowMs));
        } else {
          const fresh = this.dedupInTransaction(item.records as readonly PricedUsage[]);
          committed.push(...fresh);
          outcomes.push(fresh);
        }
      }
      this.applyInTransaction(committed);
      this.db.exec('COMMIT');
      this.committedSequence++;
      for (const record of committed) this.commitSequenceOf.set(record, this.committedSequence);
    } catch (error) {
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
      // Ids handed out inside the failed transaction no longer exist.
      this.propertySetIds.clear();
      this.seriesIds.clear();
      this.parkedCount = (this.db.prepare('SELECT COUNT(*) AS n FROM parked').get() as { n: number }).n;
      const failure = new Error(`ledger commit failed: ${(error as Error).message}`, { cause: error });
      for (const item of work) item.reject(failure);
      return;
    }
    work.forEach((item, index) => item.resolve(outcomes[index] as never[]));
  }

  private rotateDedupIfDue(nowMs: number): void {
    const rotatedMs = this.statements.metaGet.get('dedup_rotated_ms') as { value: number };
    if (nowMs - rotatedMs.value < this.dedupWindowMs) return;
    const current = (this.statements.metaGet.get('dedup_current') as { value: number }).value;
    const next = current === 0 ? 1 : 0;
    // The older generation is at least one window old: everything in it may go.
    this.db.exec(`DELETE FROM dedup_${next}`);
    this.statements.metaSet.run(next, 'dedup_current');
    this.statements.metaSet.run(nowMs, 'dedup_rotated_ms');
  }

  private dedupTables(): { current: string; older: string } {
    const current = (this.statements.metaGet.get('dedup_current') as { value: number }).value;
    return current === 0 ? { current: 'dedup_0', older: 'dedup_1' } : { current: 'dedup_1', older: 'dedup_0' };
  }

  /**
   * The records whose span was not seen before, in order, each span once. Keys go to SQLite a chunk at a time
   * (one statement per chunk, not per span): the statement calls, not the B-tree work, are most of the cost.
   */
  private dedupInTransaction(records: readonly PricedUsage[]): PricedUsage[] {
    const { current, older } = this.dedupTables();
    const keys = records.map((record) => spanKey(record.traceId, record.spanId));
    const texts = keys.map(keyText);
    const seenBefore = new Set<string>();
    for (const [start, end] of chunks(keys.length, KEYS_PER_STATEMENT)) {
      const rows = this.chunkStatement(`has:${older}`, end - start,
        (n) => `SELECT span_key FROM ${older} WHERE span_key IN (${placeholders(n, 1)})`).all(...keys.slice(start, end)) as Row[];
      for (const row of rows) seenBefore.add(keyText(row.span_key as Uint8Array));
    }
    const candidates: number[] = [];
    for (let index = 0; index < keys.length; index++) if (!seenBefore.has(texts[index]!)) candidates.push(index);
    const inserted = new Set<string>();
    for (const [start, end] of chunks(candidates.length, KEYS_PER_STATEMENT)) {
      const batch = candidates.slice(start, end).map((index) => keys[index]!);
      const rows = this.chunkStatement(`insert:${current}`, batch.length,
        (n) => `INSERT INTO ${current} (span_key) VALUES ${placeholders(n, 1)} ON CONFLICT DO NOTHING RETURNING span_key`).all(...batch) as Row[];
      for (const row of rows) inserted.add(keyText(row.span_key as Uint8Array));
    }
    const fresh: PricedUsage[] = [];
    for (const index of candidates) {
      // delete: a span repeated within the batch is fresh once.
      if (!inserted.delete(texts[index]!)) continue;
      fresh.push(records[index]!);
      if (this.parkedCount > 0) this.parkedCount -= Number(this.statements.unpark.run(keys[index]!).changes);
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

  private parkInTransaction(records: readonly UsageRecord[], nowMs: number): UsageRecord[] {
    const parked: UsageRecord[] = [];
    for (const record of records) {
      const key = spanKey(record.traceId, record.spanId);
      if (this.statements.dedupHas0.get(key) !== undefined || this.statements.dedupHas1.get(key) !== undefined) continue;
      if (this.statements.park.run(key, nowMs, JSON.stringify(record)).changes === 0) continue;
      this.parkedCount++;
      parked.push(record);
    }
    return parked;
  }

  private applyInTransaction(records: readonly PricedUsage[]): void {
    if (records.length === 0) return;
    const deltas = foldIntoHourlyDeltas(records);
    const userSeen = new Map<string, { first: number; last: number }>();
    const values: SQLInputValue[] = [];
    for (const delta of deltas.values()) {
      values.push(
        this.seriesId(delta), delta.hour, delta.requests, delta.unpricedRequests, delta.inputTokens, delta.outputTokens,
        delta.cacheReadTokens, delta.cacheWriteTokens, delta.reasoningTokens, delta.costNanoUsd, delta.durationMicros,
        delta.firstSeenMs, delta.lastSeenMs,
      );
      const seen = userSeen.get(delta.series.userId);
      if (seen === undefined) userSeen.set(delta.series.userId, { first: delta.firstSeenMs, last: delta.lastSeenMs });
      else {
        seen.first = Math.min(seen.first, delta.firstSeenMs);
        seen.last = Math.max(seen.last, delta.lastSeenMs);
      }
    }
    for (const [start, end] of chunks(deltas.size, ROWS_PER_STATEMENT)) {
      this.chunkStatement('hourly', end - start, (n) => `INSERT INTO usage_hourly VALUES ${placeholders(n, HOURLY_COLUMNS)} ${UPSERT_HOURLY}`)
        .run(...values.slice(start * HOURLY_COLUMNS, end * HOURLY_COLUMNS));
    }
    const users = [...userSeen].flatMap(([userId, seen]) => [userId, seen.first, seen.last]);
    for (const [start, end] of chunks(userSeen.size, ROWS_PER_STATEMENT)) {
      this.chunkStatement('users', end - start, (n) => `INSERT INTO users (user_id, first_seen_ms, last_seen_ms) VALUES ${placeholders(n, 3)} ${UPSERT_USER}`)
        .run(...users.slice(start * 3, end * 3));
    }
  }

  private seriesId(delta: HourlyDelta): number {
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
      series.userId, series.provider, series.model, series.operation, series.isError ? 1 : 0, propertySet) as Row).id);
    if (this.seriesIds.size >= MAX_CACHED_IDS) this.seriesIds.clear();
    this.seriesIds.set(delta.seriesKey, id);
    return id;
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerClosedError('the ledger is closed');
  }
}

function prepareStatements(db: DatabaseSync) {
  return {
    metaGet: db.prepare('SELECT value FROM meta WHERE name = ?'),
    metaSet: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
    dedupHas0: db.prepare('SELECT 1 FROM dedup_0 WHERE span_key = ?'),
    dedupHas1: db.prepare('SELECT 1 FROM dedup_1 WHERE span_key = ?'),
    park: db.prepare('INSERT OR IGNORE INTO parked (span_key, parked_at_ms, record) VALUES (?, ?, ?)'),
    unpark: db.prepare('DELETE FROM parked WHERE span_key = ?'),
    // DO UPDATE (to the same value) rather than DO NOTHING, so that RETURNING gives the id of an existing row too.
    propertySetId: db.prepare('INSERT INTO property_sets (json) VALUES (?) ON CONFLICT (json) DO UPDATE SET json = excluded.json RETURNING id'),
    seriesId: db.prepare(`INSERT INTO series (user_id, provider, model, operation, is_error, property_set) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (user_id, provider, model, operation, is_error, property_set) DO UPDATE SET user_id = excluded.user_id RETURNING id`),
    userExists: db.prepare('SELECT 1 FROM users WHERE user_id = ?'),
    recentUsers: db.prepare('SELECT user_id, last_seen_ms FROM users WHERE last_seen_ms >= ? ORDER BY last_seen_ms DESC, user_id LIMIT ?'),
    seriesTotals: db.prepare(`SELECT s.provider AS provider, s.model AS model, s.operation AS operation, s.is_error AS is_error,
        p.json AS json, ${SUMS_SQL}, MIN(h.first_seen_ms) AS first_seen_ms, MAX(h.last_seen_ms) AS last_seen_ms
      FROM series s JOIN property_sets p ON p.id = s.property_set JOIN usage_hourly h ON h.series_id = s.id
      WHERE s.user_id = ? GROUP BY s.id ORDER BY s.id`),
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

function keyText(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** WHERE clause and parameters for a time range and property filters. */
function filterSql(filter: UsageFilter, first?: string): { where: string; params: SQLInputValue[] } {
  const conditions: string[] = first === undefined ? [] : [first];
  const params: SQLInputValue[] = [];
  if (filter.fromMs !== undefined) {
    conditions.push('h.hour >= ?');
    params.push(Math.floor(filter.fromMs / MS_PER_HOUR));
  }
  if (filter.toMs !== undefined) {
    conditions.push('h.hour < ?');
    params.push(Math.ceil(filter.toMs / MS_PER_HOUR));
  }
  if (filter.properties.length > 0) {
    // Property sets are few; matching them first keeps the scan of usage rows plain.
    const matches = filter.properties.map(() =>
      `coalesce((SELECT value FROM json_each(p.json) WHERE key = ?), '') = ?`);
    conditions.push(`s.property_set IN (SELECT p.id FROM property_sets p WHERE ${matches.join(' AND ')})`);
    for (const [name, value] of filter.properties) params.push(name, value);
  }
  return { where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, params };
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
