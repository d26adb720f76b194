import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { PricedUsage } from '../../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../../sources/usage-record.ts';
import { MS_PER_HOUR, spanIdentity, type SpanIdentity } from '../aggregate.ts';
import {
  LedgerClosedError, LedgerUnavailableError,
  type DailyActivity, type LedgerHealth, type UsageFilter, type UsageLedger, type UsageOverview, type UserDetail, type UsersPage,
  type UsersQuery,
} from '../ledger.ts';
import { identityKey, SUM_FIELDS, sumGroup, type GroupSums, type RowSums } from './pg-group.ts';
import { readDailyActivity, readOverview, readUser, readUserProperties, toUsersPage, usersCountSql, usersSql } from './pg-reads.ts';
import { migrate } from './pg-schema.ts';
import { displayLedgerUrl } from './pg-url.ts';
import { HOURLY_KEPT_FROM_META, hourlyDetailStartMs } from '../retention.ts';

export interface PostgresLedgerOptions {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  /** A span seen once is recognised as a retry for at least this long. */
  readonly dedupWindowHours: number;
  /**
   * A parked call that its replica has neither committed nor taken back this long is taken over by the next
   * `parked()` of any replica (its replica stopped): more than the attribution wait, so a live replica decides first.
   */
  readonly parkedStaleMs: number;
  /** HOURLY_DETAIL_DAYS: usage by the hour older than this many days is dropped (daily totals stay); 0: kept. */
  readonly hourlyDetailDays?: number;
  /** Connections at most; each group commit and each read holds one while it runs. */
  readonly poolSize?: number;
  readonly now?: () => number;
  readonly onHealthChange?: (health: LedgerHealth) => void;
}

/** Group commits running at once: each holds a connection; what arrives meanwhile waits and goes as a larger group. */
const MAX_GROUPS_IN_FLIGHT = 4;
const PROBE_INTERVAL_MS = 1000;
const PRUNE_INTERVAL_MS = 60_000;
/** Deadlocks cannot happen between our own commits (rows are locked in sorted order); retried anyway, briefly. */
const MAX_ATTEMPTS = 3;
const MAX_PARKED_TAKEN = 10_000;

interface QueuedWork {
  readonly kind: 'commit' | 'park';
  readonly records: readonly UsageRecord[];
  readonly resolve: (fresh: UsageRecord[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The usage ledger in a PostgreSQL database that any number of processors share. The database, not a replica's
 * memory, decides what is new: a group commit inserts its spans' identities into `seen` and adds to the totals only
 * the calls whose identity was inserted, in one transaction, so a span retried to another replica counts once, and
 * an export is answered only after that transaction committed. Exports that arrive within one turn of the event
 * loop share a transaction; the calls are summed per row in memory and written with one multi-row statement per
 * table, rows in sorted order so that concurrent replicas lock them in the same order.
 *
 * It offers no metrics seeds: each replica's /metrics counts its own calls since it started (see docs/ledger.md).
 */
export class PostgresLedger implements UsageLedger {
  readonly displayUrl: string;
  private readonly pool: pg.Pool;
  private readonly dedupWindowMs: number;
  private readonly parkedStaleMs: number;
  private readonly hourlyDetailDays: number;
  private readonly now: () => number;
  private readonly onHealthChange: ((health: LedgerHealth) => void) | undefined;
  /** Marks this process's parked calls, so another replica can tell whose they are. */
  private readonly owner = randomUUID();
  private failing: { error: string; sinceMs: number; probeError?: string } | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  private queue: QueuedWork[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private readonly groupsInFlight = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  /** Connects, applies the migrations (replicas starting together take turns) and starts the dedup pruning. */
  static async open(options: PostgresLedgerOptions): Promise<PostgresLedger> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      // A database that stops answering must not hold an export forever: it gets 503 and is retried.
      query_timeout: 60_000,
      application_name: 'llm-user-metrics',
    });
    // An idle connection cut by the server (a restart) is reported here; without a listener it would end the process.
    const earlyErrors: Error[] = [];
    const onEarlyError = (error: Error) => earlyErrors.push(error);
    pool.on('error', onEarlyError);
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot open the PostgreSQL ledger at ${displayLedgerUrl(options.url)}: ${(error as Error).message}`);
    }
    pool.off('error', onEarlyError);
    return new PostgresLedger(pool, options);
  }

  private constructor(pool: pg.Pool, options: PostgresLedgerOptions) {
    this.pool = pool;
    this.displayUrl = displayLedgerUrl(options.url);
    this.dedupWindowMs = options.dedupWindowHours * MS_PER_HOUR;
    this.parkedStaleMs = options.parkedStaleMs;
    this.hourlyDetailDays = options.hourlyDetailDays ?? 0;
    this.now = options.now ?? Date.now;
    this.onHealthChange = options.onHealthChange;
    this.pool.on('error', (error) => this.fail(error));
    this.pruneTimer = setInterval(() => { void this.prune(); }, PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  commit(records: readonly PricedUsage[]): Promise<PricedUsage[]> {
    return this.enqueue('commit', records) as Promise<PricedUsage[]>;
  }

  park(records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    return this.enqueue('park', records);
  }

  /**
   * Takes over the parked calls no replica has committed or taken within parkedStaleMs (their replica stopped),
   * oldest first; they are marked as this replica's, so another replica's `parked()` does not take them too.
   */
  async parked(): Promise<UsageRecord[]> {
    this.assertUsable();
    const nowMs = this.now();
    const result = await this.run((client) => client.query<{ record: string; parked_at_ms: string }>(
      `WITH stale AS (SELECT end_ms, id_hash, parked_at_ms FROM parked WHERE parked_at_ms < $1
          ORDER BY parked_at_ms LIMIT ${MAX_PARKED_TAKEN} FOR UPDATE SKIP LOCKED)
        UPDATE parked p SET owner = $2, parked_at_ms = $3 FROM stale
        WHERE p.end_ms = stale.end_ms AND p.id_hash = stale.id_hash
        RETURNING p.record, stale.parked_at_ms`,
      [nowMs - this.parkedStaleMs, this.owner, nowMs]));
    return result.rows
      .sort((a, b) => Number(a.parked_at_ms) - Number(b.parked_at_ms))
      .map((row) => JSON.parse(row.record) as UsageRecord);
  }

  async users(query: UsersQuery): Promise<UsersPage> {
    this.assertUsable();
    return this.run(async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const { sql, params } = usersSql(query);
        const page = toUsersPage((await client.query(sql, params)).rows);
        const total = page.total ?? Number((await countUsers(client, query)));
        return { users: page.users, total };
      } finally {
        await client.query('COMMIT');
      }
    });
  }

  async *usersPages(query: UsersQuery, pageRows: number): AsyncGenerator<UsersPage, void, undefined> {
    this.assertUsable();
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { sql, params } = usersSql(query);
      await client.query(`DECLARE users_pages NO SCROLL CURSOR FOR ${sql}`, params);
      const fetchRows = Math.max(1, Math.min(pageRows, 1_000_000));
      let first = true;
      for (;;) {
        const rows = (await client.query(`FETCH ${fetchRows} FROM users_pages`)).rows;
        if (rows.length === 0 && !first) return;
        const page = toUsersPage(rows);
        const total = page.total ?? (query.offset > 0 ? await countUsers(client, query) : 0);
        first = false;
        yield { users: page.users, total };
        if (rows.length < fetchRows) return;
      }
    } catch (error) {
      broken = error as Error;
      throw this.unavailableFrom(error);
    } finally {
      // Ends the snapshot whether the reader finished or went away.
      await client.query('ROLLBACK').catch((error: Error) => { broken ??= error; });
      client.release(broken);
    }
  }

  async user(userId: string, filter: UsageFilter): Promise<UserDetail | undefined> {
    this.assertUsable();
    return this.run(async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await readUser(client, userId, filter);
      } finally {
        await client.query('COMMIT');
      }
    });
  }

  overview(filter: UsageFilter, propertyNames: readonly string[], valueNames: readonly string[] = []): Promise<UsageOverview> {
    return this.readSnapshot((client) => readOverview(client, filter, propertyNames, valueNames));
  }

  userProperties(userIds: readonly string[], propertyNames: readonly string[], filter: UsageFilter): Promise<Record<string, Record<string, string>>> {
    return this.readSnapshot((client) => readUserProperties(client, userIds, propertyNames, filter));
  }

  dailyActivity(fromDay: number, toDay: number, minRequests: number): Promise<DailyActivity[]> {
    return this.readSnapshot((client) => readDailyActivity(client, fromDay, toDay, minRequests));
  }

  /** One read-only snapshot for `read`'s queries. */
  private async readSnapshot<T>(read: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertUsable();
    return this.run(async (client) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await read(client);
      } finally {
        await client.query('COMMIT');
      }
    });
  }

  health(): LedgerHealth {
    if (this.failing === undefined) return { ok: true };
    return { ok: false, ...this.failing };
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
    while (this.queue.length > 0 || this.groupsInFlight.size > 0) {
      if (this.groupsInFlight.size > 0) await Promise.race(this.groupsInFlight);
      else this.flush();
    }
    clearInterval(this.pruneTimer);
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    await this.pool.end();
  }

  private enqueue(kind: QueuedWork['kind'], records: readonly UsageRecord[]): Promise<UsageRecord[]> {
    if (this.closed) return Promise.reject(new LedgerClosedError('the ledger is closed'));
    const unavailable = this.unavailable();
    if (unavailable !== undefined) return Promise.reject(unavailable);
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ kind, records, resolve, reject });
      this.flushScheduled ??= setImmediate(() => {
        this.flushScheduled = undefined;
        this.flush();
      });
    });
  }

  /** Sends what is queued as one group, unless MAX_GROUPS_IN_FLIGHT are running (then the next one to end does). */
  private flush(): void {
    if (this.queue.length === 0 || this.groupsInFlight.size >= MAX_GROUPS_IN_FLIGHT) return;
    const items = this.queue;
    this.queue = [];
    const running: Promise<void> = this.commitGroup(items).then(
      (answers) => items.forEach((item, index) => item.resolve(answers[index]!)),
      (error: unknown) => {
        const rejection = this.unavailableFrom(error);
        for (const item of items) item.reject(rejection);
      },
    ).finally(() => {
      this.groupsInFlight.delete(running);
      this.flush();
    });
    this.groupsInFlight.add(running);
  }

  /** One transaction for a group of exports; resolves with each item's new calls (or newly parked ones). */
  private async commitGroup(items: readonly QueuedWork[]): Promise<UsageRecord[][]> {
    const nowMs = this.now();
    // The first occurrence of each span in the group's commits is the one that may count.
    const firstCommit = new Map<string, { item: number; index: number; identity: SpanIdentity; record: PricedUsage }>();
    const parking: Array<{ item: number; identity: SpanIdentity; record: UsageRecord }> = [];
    items.forEach((work, item) => {
      work.records.forEach((record, index) => {
        const identity = spanIdentity(record);
        const key = identityKey(identity);
        if (work.kind === 'commit') {
          if (!firstCommit.has(key)) firstCommit.set(key, { item, index, identity, record: record as PricedUsage });
        } else if (!firstCommit.has(key)) {
          // A park after a commit of the same span in this group is too late: it counted already.
          parking.push({ item, identity, record });
        }
      });
    });
    const commits = [...firstCommit.values()].sort((a, b) => a.identity.endMs - b.identity.endMs || a.identity.idHash - b.identity.idHash);
    return this.run(async (client) => {
      for (let attempt = 1; ; attempt++) {
        await client.query('BEGIN');
        try {
          const parked = parking.length === 0 ? new Set<string>() : await this.insertParked(client, parking, nowMs);
          const fresh = commits.length === 0 ? new Set<string>() : await insertSeen(client, commits.map((call) => call.identity), nowMs);
          if (commits.length > 0) await deleteParked(client, commits.map((call) => call.identity));
          const freshCalls = commits.filter((call) => fresh.has(identityKey(call.identity)));
          if (freshCalls.length > 0) await addToTotals(client, sumGroup(freshCalls.map((call) => call.record)));
          await client.query('COMMIT');
          const answers: UsageRecord[][] = items.map(() => []);
          // Answered in each export's own order.
          const freshByPosition = freshCalls.slice().sort((a, b) => a.item - b.item || a.index - b.index);
          for (const call of freshByPosition) answers[call.item]!.push(call.record);
          const parkedOnce = new Set<string>();
          for (const call of parking) {
            const key = identityKey(call.identity);
            if (parked.has(key) && !parkedOnce.has(key)) {
              parkedOnce.add(key);
              answers[call.item]!.push(call.record);
            }
          }
          return answers;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          const code = (error as { code?: string }).code;
          if ((code === '40P01' || code === '40001') && attempt < MAX_ATTEMPTS) continue;
          throw error;
        }
      }
    });
  }

  /** Parks the calls not committed before; resolves with the identities newly parked. */
  private async insertParked(client: pg.PoolClient, parking: ReadonlyArray<{ identity: SpanIdentity; record: UsageRecord }>, nowMs: number): Promise<Set<string>> {
    const distinct = new Map<string, { identity: SpanIdentity; record: UsageRecord }>();
    for (const call of parking) if (!distinct.has(identityKey(call.identity))) distinct.set(identityKey(call.identity), call);
    const calls = [...distinct.values()].sort((a, b) => a.identity.endMs - b.identity.endMs || a.identity.idHash - b.identity.idHash);
    const result = await client.query<{ end_ms: string; id_hash: string }>(
      `INSERT INTO parked (end_ms, id_hash, owner, parked_at_ms, record)
        SELECT r.end_ms, r.id_hash, $4, $5, r.record FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS r(end_ms, id_hash, record)
        WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.end_ms = r.end_ms AND s.id_hash = r.id_hash)
        ON CONFLICT DO NOTHING RETURNING end_ms, id_hash`,
      [calls.map((call) => call.identity.endMs), calls.map((call) => call.identity.idHash),
        // JSON escapes U+0000, which PostgreSQL text cannot hold.
        calls.map((call) => JSON.stringify(call.record)), this.owner, nowMs]);
    return new Set(result.rows.map((row) => `${row.end_ms}:${row.id_hash}`));
  }

  async hourlyDetailKeptFromMs(): Promise<number> {
    this.assertUsable();
    return this.run(async (client) => {
      const result = await client.query<{ value: string }>('SELECT value FROM ledger_meta WHERE name = $1', [HOURLY_KEPT_FROM_META]);
      return Number(result.rows[0]?.value ?? 0);
    });
  }

  /** Drops what the retention settings no longer keep: dedup keys past the window, hours past HOURLY_DETAIL_DAYS. */
  async prune(): Promise<void> {
    if (this.closed || this.failing !== undefined) return;
    try {
      // Every replica prunes; the deletes of the same rows just find them gone.
      await this.pool.query('DELETE FROM seen WHERE seen_ms < $1', [this.now() - this.dedupWindowMs]);
      // Usage by the hour past HOURLY_DETAIL_DAYS (retention.ts): the daily tables keep those days whole.
      const keptFromMs = hourlyDetailStartMs(this.now(), this.hourlyDetailDays);
      if (keptFromMs > 0) {
        await this.run(async (client) => {
          await client.query('BEGIN');
          try {
            await client.query('DELETE FROM usage_hourly WHERE hour < $1', [keptFromMs / MS_PER_HOUR]);
            await client.query(`INSERT INTO ledger_meta (name, value) VALUES ($1, $2)
              ON CONFLICT (name) DO UPDATE SET value = GREATEST(ledger_meta.value, excluded.value)`, [HOURLY_KEPT_FROM_META, keptFromMs]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
        });
      }
    } catch (error) {
      if (isUnavailability(error)) this.fail(error as Error);
    }
  }

  /** Runs `work` on a pooled connection; a connection that failed is discarded, not reused. */
  private async run<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      return await work(client);
    } catch (error) {
      if (isUnavailability(error)) broken = error as Error;
      throw this.unavailableFrom(error);
    } finally {
      client.release(broken);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.unavailableFrom(error);
    }
  }

  /** A failure of the database (not of one statement) fails the ledger until a probe succeeds. */
  private unavailableFrom(error: unknown): Error {
    if (error instanceof LedgerUnavailableError || error instanceof LedgerClosedError) return error;
    if (!isUnavailability(error)) return error as Error;
    this.fail(error as Error);
    return this.unavailable() ?? new LedgerUnavailableError(`the PostgreSQL ledger failed: ${(error as Error).message}`);
  }

  private assertUsable(): void {
    if (this.closed) throw new LedgerClosedError('the ledger is closed');
    const unavailable = this.unavailable();
    if (unavailable !== undefined) throw unavailable;
  }

  private unavailable(): LedgerUnavailableError | undefined {
    if (this.failing === undefined) return undefined;
    return new LedgerUnavailableError(`the PostgreSQL ledger is failing since ${new Date(this.failing.sinceMs).toISOString()} ` +
      `(${this.failing.error}); nothing is recorded until it answers again`);
  }

  private fail(error: Error): void {
    if (this.failing !== undefined || this.closed) return;
    this.failing = { error: describeError(error), sinceMs: this.now() };
    this.onHealthChange?.(this.health());
    this.probeTimer = setInterval(() => { void this.probe(); }, PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      if (this.failing !== undefined) this.failing.probeError = describeError(error as Error);
      return;
    }
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    if (this.failing === undefined) return;
    this.failing = undefined;
    this.onHealthChange?.({ ok: true });
  }
}

async function countUsers(client: pg.ClientBase, filter: UsageFilter): Promise<number> {
  const { sql, params } = usersCountSql(filter);
  return Number((await client.query<{ n: string }>(sql, params)).rows[0]!.n);
}

/** Records the group's span identities (sorted); resolves with the ones not seen before, by identityKey. */
async function insertSeen(client: pg.PoolClient, identities: readonly SpanIdentity[], nowMs: number): Promise<Set<string>> {
  const result = await client.query<{ end_ms: string; id_hash: string }>(
    `INSERT INTO seen (end_ms, id_hash, seen_ms) SELECT e, h, $3 FROM unnest($1::bigint[], $2::bigint[]) AS r(e, h)
      ON CONFLICT DO NOTHING RETURNING end_ms, id_hash`,
    [identities.map((identity) => identity.endMs), identities.map((identity) => identity.idHash), nowMs]);
  return new Set(result.rows.map((row) => `${row.end_ms}:${row.id_hash}`));
}

/** A parked call leaves the parking in the transaction that commits it, whichever replica parked it. */
async function deleteParked(client: pg.PoolClient, identities: readonly SpanIdentity[]): Promise<void> {
  await client.query(
    `DELETE FROM parked p USING unnest($1::bigint[], $2::bigint[]) AS r(e, h) WHERE p.end_ms = r.e AND p.id_hash = r.h`,
    [identities.map((identity) => identity.endMs), identities.map((identity) => identity.idHash)]);
}

const SUM_COLUMNS = [
  'requests', 'errors', 'unpriced_requests', 'input_tokens', 'output_tokens', 'cache_read_tokens',
  'cache_write_tokens', 'reasoning_tokens', 'cost_nano_usd', 'duration_us', 'first_seen_ms', 'last_seen_ms',
] as const;

const UPSERT_SET = SUM_COLUMNS.map((column) => {
  if (column === 'first_seen_ms') return `${column} = LEAST(t.${column}, EXCLUDED.${column})`;
  if (column === 'last_seen_ms') return `${column} = GREATEST(t.${column}, EXCLUDED.${column})`;
  return `${column} = t.${column} + EXCLUDED.${column}`;
}).join(', ');

/** `$first::bigint[], ...` for the sum columns' arrays. */
function sumArrays(first: number): string {
  return SUM_COLUMNS.map((column, index) => `$${index + first}::${column.endsWith('_seen_ms') ? 'float8' : 'bigint'}[]`).join(', ');
}

/** Adds a group's sums: users, property sets and series by text first (for their ids), then the usage rows. */
async function addToTotals(client: pg.PoolClient, group: GroupSums): Promise<void> {
  const users = [...group.users.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const userRows = await client.query<{ id: string; user_id: string }>(
    `INSERT INTO users AS t (user_id, first_seen_ms, last_seen_ms) SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[])
      ON CONFLICT (user_id) DO UPDATE SET first_seen_ms = LEAST(t.first_seen_ms, EXCLUDED.first_seen_ms),
        last_seen_ms = GREATEST(t.last_seen_ms, EXCLUDED.last_seen_ms)
      RETURNING id, user_id`,
    [users.map(([userId]) => userId), users.map(([, span]) => span.first), users.map(([, span]) => span.last)]);
  const userRef = new Map(userRows.rows.map((row) => [row.user_id, Number(row.id)]));

  const propertySets = [...group.propertySets].sort();
  await client.query('INSERT INTO property_sets (json) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING', [propertySets]);
  const setRows = await client.query<{ id: string; json: string }>('SELECT id, json FROM property_sets WHERE json = ANY($1::text[])', [propertySets]);
  const propertySetId = new Map(setRows.rows.map((row) => [row.json, Number(row.id)]));

  const series = [...group.series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const seriesColumns = [
    series.map(([, key]) => userRef.get(key.userId)!), series.map(([, key]) => key.provider), series.map(([, key]) => key.model),
    series.map(([, key]) => key.operation), series.map(([, key]) => key.isError), series.map(([, key]) => propertySetId.get(key.propertiesJson)!),
  ];
  const seriesInput = 'unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::bigint[])';
  await client.query(`INSERT INTO series (user_ref, provider, model, operation, is_error, property_set) SELECT * FROM ${seriesInput}
    ON CONFLICT DO NOTHING`, seriesColumns);
  const seriesRows = await client.query<{ n: string; id: string }>(`SELECT r.n, s.id FROM ${seriesInput}
      WITH ORDINALITY AS r(user_ref, provider, model, operation, is_error, property_set, n)
    JOIN series s ON s.user_ref = r.user_ref AND s.provider = r.provider AND s.model = r.model AND s.operation = r.operation
      AND s.is_error = r.is_error AND s.property_set = r.property_set`, seriesColumns);
  const seriesId = new Map(seriesRows.rows.map((row) => [series[Number(row.n) - 1]![0], Number(row.id)]));
  const userOfSeries = new Map(series.map(([text, key]) => [text, userRef.get(key.userId)!]));

  const hourly = [...group.hourly.values()].map((row) => ({ key: row.hour, id: seriesId.get(row.series)!, user: userOfSeries.get(row.series)!, sums: row.sums }));
  const daily = [...group.daily.values()].map((row) => ({ key: row.day, id: seriesId.get(row.series)!, user: userOfSeries.get(row.series)!, sums: row.sums }));
  await upsertUsage(client, 'usage_hourly', 'hour', 'series_id, user_ref', hourly);
  await upsertUsage(client, 'usage_daily', 'day', 'series_id, user_ref', daily);
  const userDaily = [...group.userDaily.values()].map((row) => ({ key: row.day, id: userRef.get(row.userId)!, user: undefined, sums: row.sums }));
  await upsertUsage(client, 'user_daily', 'day', 'user_ref', userDaily);
}

interface UsageRow {
  readonly key: number;
  readonly id: number;
  readonly user: number | undefined;
  readonly sums: RowSums;
}

/** One multi-row upsert, rows sorted by their primary key so that concurrent commits lock them in one order. */
async function upsertUsage(client: pg.PoolClient, table: string, keyColumn: string, idColumns: string, rows: UsageRow[]): Promise<void> {
  rows.sort((a, b) => a.key - b.key || a.id - b.id);
  const withUser = idColumns.includes(',');
  const params: unknown[] = [
    rows.map((row) => row.key), rows.map((row) => row.id), ...(withUser ? [rows.map((row) => row.user!)] : []),
    ...SUM_FIELDS.map((field) => rows.map((row) => row.sums[field])),
  ];
  const idInput = withUser ? '$2::bigint[], $3::bigint[]' : '$2::bigint[]';
  const unnestColumns = withUser ? 'k, i, u' : 'k, i';
  await client.query(
    `INSERT INTO ${table} AS t (${keyColumn}, ${idColumns}, ${SUM_COLUMNS.join(', ')})
      SELECT * FROM unnest($1::int[], ${idInput}, ${sumArrays(withUser ? 4 : 3)}) AS r(${unnestColumns}, ${SUM_COLUMNS.join(', ')})
      ON CONFLICT (${keyColumn}, ${withUser ? 'series_id' : 'user_ref'}) DO UPDATE SET ${UPSERT_SET}`,
    params);
}

/** Whether an error means the database cannot be used now (down, unreachable, restarting), not a bad statement. */
export function isUnavailability(error: unknown): boolean {
  if (error instanceof LedgerUnavailableError) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    // Connection exceptions, insufficient resources, operator intervention (shutdown, crash recovery), system errors.
    return /^(08|53|57|58|XX)/.test(code);
  }
  // No SQLSTATE: the socket failed (ECONNREFUSED, ECONNRESET, ...), a connect or query timed out, a connection ended.
  if (typeof code === 'string' && code.startsWith('E')) return true;
  return error instanceof Error && /connect|terminat|timeout|closed|ended/i.test(error.message);
}

function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? `${code}: ` : ''}${error.message}`;
}
