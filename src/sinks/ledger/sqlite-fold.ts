import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { HOURS_PER_DAY } from './aggregate.ts';
import { CALL_FIELDS, type HourlySums, type SeriesTuple } from './ledger-protocol.ts';
import { float64sOfBlob, UnfoldedSums } from './unfolded-sums.ts';

/**
 * Folding: writing what the call log holds (summed in memory as UnfoldedSums) into the totals tables usage_hourly,
 * usage_daily and user_daily and into the users' first and last seen, then emptying the log, inside the caller's
 * transaction. The fold's rows (one per series and hour, however many commits fed it) go into SQLite once, into a
 * table in memory, many rows per statement; each totals table is then upserted from it by one SQL statement, in key
 * order. Series, users and property sets get their integer ids here, not on the commit path.
 */

const ROWS_PER_STATEMENT = 64;
/** Past this many, a cache of ids starts a new generation (the previous one is still consulted, then dropped). */
const MAX_CACHED_IDS = 20_000;

const USAGE_VALUES = `requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
  reasoning_tokens, cost_nano_usd, duration_us, first_seen_ms, last_seen_ms`;
const USAGE_VALUE_COUNT = 12;

export const UPSERT_USAGE_SET = `requests = requests + excluded.requests, errors = errors + excluded.errors,
  unpriced_requests = unpriced_requests + excluded.unpriced_requests,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
  cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
  cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd, duration_us = duration_us + excluded.duration_us,
  first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`;

interface SeriesRef {
  readonly seriesId: number;
  readonly userRef: number;
  readonly isError: boolean;
}

/** One series' sums in one hour, with the errors split out (a series is all errors or none). */
interface FoldRow extends Omit<HourlySums, 'hour'> {
  /** hour, series id, user id */
  readonly key: readonly [number, number, number];
  errors: number;
}

/** A map of ids in two generations, so that a full cache keeps its recent entries instead of starting empty. */
class IdCache<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();

  get(key: string): V | undefined {
    const value = this.current.get(key);
    if (value !== undefined) return value;
    const old = this.previous.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: V): void {
    if (this.current.size >= MAX_CACHED_IDS) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }
}

export class LedgerFold {
  private readonly db: DatabaseSync;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly chunkStatements = new Map<string, StatementSync>();
  private readonly seriesRefs = new IdCache<SeriesRef>();
  private readonly userRefs = new IdCache<number>();
  private readonly propertySetIds = new IdCache<number>();

  constructor(db: DatabaseSync) {
    this.db = db;
    this.statements = prepareStatements(db);
  }

  /**
   * Writes `sums` into the totals tables and deletes the call log up to `throughSeq`, recording it as folded; inside
   * the caller's transaction. After a rollback call forget(): ids handed out in it no longer exist.
   */
  write(sums: UnfoldedSums, throughSeq: number): void {
    // Keyed by ids, not by number: two numbers can stand for one series (the main thread renumbers after forgetting
    // its series).
    const hourly = new Map<number, Map<number, FoldRow>>();
    const userSpans = new Map<number, { first: number; last: number }>();
    for (const series of sums.bySeries.values()) {
      const { line } = series;
      const { seriesId, userRef, isError } = this.seriesRef(line);
      let span = userSpans.get(userRef);
      if (span === undefined) userSpans.set(userRef, span = { first: Infinity, last: -Infinity });
      let rows = hourly.get(seriesId);
      if (rows === undefined) hourly.set(seriesId, rows = new Map());
      for (const hourSums of sums.hoursOf(series)) {
        addRow(rows, [hourSums.hour, seriesId, userRef], hourSums, isError ? hourSums.requests : 0);
        if (hourSums.firstSeenMs < span.first) span.first = hourSums.firstSeenMs;
        if (hourSums.lastSeenMs > span.last) span.last = hourSums.lastSeenMs;
      }
    }
    this.widenUsers(userSpans);
    // The rows go into SQLite once (a table in memory); the three totals tables are summed from it in SQL.
    this.insertRows(hourly);
    for (const statement of this.statements.foldRows) statement.run();
    this.statements.deleteLog.run(throughSeq);
    this.statements.metaSet.run(throughSeq, 'folded_seq');
  }

  forget(): void {
    this.seriesRefs.clear();
    this.userRefs.clear();
    this.propertySetIds.clear();
  }

  /** The fold's rows into the in-memory table fold_rows, many per statement. */
  private insertRows(bySeries: Map<number, Map<number, FoldRow>>): void {
    const rows: FoldRow[] = [];
    for (const hours of bySeries.values()) rows.push(...hours.values());
    const columnCount = 3 + USAGE_VALUE_COUNT;
    for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
      const end = Math.min(rows.length, start + ROWS_PER_STATEMENT);
      const values: SQLInputValue[] = new Array((end - start) * columnCount);
      let at = 0;
      for (let index = start; index < end; index++) {
        const row = rows[index]!;
        for (const part of row.key) values[at++] = part;
        values[at++] = row.requests;
        values[at++] = row.errors;
        values[at++] = row.unpricedRequests;
        values[at++] = row.inputTokens;
        values[at++] = row.outputTokens;
        values[at++] = row.cacheReadTokens;
        values[at++] = row.cacheWriteTokens;
        values[at++] = row.reasoningTokens;
        values[at++] = row.costNanoUsd;
        values[at++] = row.durationMicros;
        values[at++] = row.firstSeenMs;
        values[at++] = row.lastSeenMs;
      }
      this.chunkStatement(`rows:${end - start}`, () => `INSERT INTO temp.fold_rows (hour, series_id, user_ref, ${USAGE_VALUES})
        VALUES ${placeholders(end - start, columnCount)}`).run(...values);
    }
  }

  /** Widens each user's first and last seen to the fold's calls, many users per statement. */
  private widenUsers(spans: Map<number, { first: number; last: number }>): void {
    const entries = [...spans];
    for (let start = 0; start < entries.length; start += ROWS_PER_STATEMENT) {
      const end = Math.min(entries.length, start + ROWS_PER_STATEMENT);
      const values: number[] = [];
      for (let index = start; index < end; index++) {
        const [userRef, span] = entries[index]!;
        values.push(userRef, span.first, span.last);
      }
      this.chunkStatement(`widen:${end - start}`, () => `UPDATE users SET first_seen_ms = min(users.first_seen_ms, span.column2),
        last_seen_ms = max(users.last_seen_ms, span.column3) FROM (VALUES ${placeholders(end - start, 3)}) AS span
        WHERE users.id = span.column1`).run(...values);
    }
  }

  /** A user's id; a new user is inserted with an empty span, which the fold then widens to their calls. */
  private userRef(userId: string): number {
    let ref = this.userRefs.get(userId);
    if (ref !== undefined) return ref;
    const existing = this.statements.userId.get(userId) as { id: number } | undefined;
    ref = Number((existing ?? this.statements.insertUser.get(userId, Number.MAX_SAFE_INTEGER, 0) as { id: number }).id);
    this.userRefs.set(userId, ref);
    return ref;
  }

  /** The ids of a series (and its user), by its line; what is new is inserted. */
  private seriesRef(line: string): SeriesRef {
    let ref = this.seriesRefs.get(line);
    if (ref !== undefined) return ref;
    const [userId, provider, model, operation, isError, propertiesJson] = JSON.parse(line) as SeriesTuple;
    const userRef = this.userRef(userId);
    let propertySet = this.propertySetIds.get(propertiesJson);
    if (propertySet === undefined) {
      const existing = this.statements.propertySetId.get(propertiesJson) as { id: number } | undefined;
      propertySet = Number((existing ?? this.statements.insertPropertySet.get(propertiesJson) as { id: number }).id);
      this.propertySetIds.set(propertiesJson, propertySet);
    }
    const status = isError ? 1 : 0;
    const existing = this.statements.seriesId.get(userRef, provider, model, operation, status, propertySet) as { id: number } | undefined;
    const seriesId = Number((existing ?? this.statements.insertSeries.get(userRef, provider, model, operation, status, propertySet) as { id: number }).id);
    ref = { seriesId, userRef, isError };
    this.seriesRefs.set(line, ref);
    return ref;
  }

  private chunkStatement(key: string, build: () => string): StatementSync {
    let statement = this.chunkStatements.get(key);
    if (statement === undefined) {
      statement = this.db.prepare(build());
      this.chunkStatements.set(key, statement);
    }
    return statement;
  }
}

/**
 * Folds what call_log holds (a stop or a kill -9 between folds left it there) into the totals tables, inside the
 * caller's transaction; run at open, before any other connection uses the file.
 */
export function foldCallLog(db: DatabaseSync): void {
  const sums = new UnfoldedSums();
  let lastSeq = 0;
  const rows = db.prepare('SELECT seq, numbers, lines, calls, fresh FROM call_log ORDER BY seq')
    .iterate() as Iterable<{ seq: number; numbers: Uint8Array; lines: string; calls: Uint8Array; fresh: Uint8Array }>;
  for (const row of rows) {
    // Rows are read in the order they were written: each series' line comes with (or before) its first use.
    const numbers = float64sOfBlob(row.numbers, 1, 'series numbers');
    sums.learn(row.lines, numbers, false);
    sums.add(numbers, float64sOfBlob(row.calls, CALL_FIELDS, 'calls'), row.fresh);
    lastSeq = Number(row.seq);
  }
  const committed = Number((db.prepare(`SELECT value FROM meta WHERE name = 'commit_seq'`).get() as { value: number }).value);
  new LedgerFold(db).write(sums, Math.max(lastSeq, committed));
}

/** Adds one series-hour's sums to the series' rows (two numbers can stand for one series: they add up). */
function addRow(rows: Map<number, FoldRow>, key: FoldRow['key'], sums: HourlySums, errors: number): void {
  const row = rows.get(key[0]);
  if (row === undefined) {
    rows.set(key[0], {
      key, requests: sums.requests, errors, unpricedRequests: sums.unpricedRequests, inputTokens: sums.inputTokens,
      outputTokens: sums.outputTokens, cacheReadTokens: sums.cacheReadTokens, cacheWriteTokens: sums.cacheWriteTokens,
      reasoningTokens: sums.reasoningTokens, costNanoUsd: sums.costNanoUsd, durationMicros: sums.durationMicros,
      firstSeenMs: sums.firstSeenMs, lastSeenMs: sums.lastSeenMs,
    });
    return;
  }
  row.requests += sums.requests;
  row.errors += errors;
  row.unpricedRequests += sums.unpricedRequests;
  row.inputTokens += sums.inputTokens;
  row.outputTokens += sums.outputTokens;
  row.cacheReadTokens += sums.cacheReadTokens;
  row.cacheWriteTokens += sums.cacheWriteTokens;
  row.reasoningTokens += sums.reasoningTokens;
  row.costNanoUsd += sums.costNanoUsd;
  row.durationMicros += sums.durationMicros;
  if (sums.firstSeenMs < row.firstSeenMs) row.firstSeenMs = sums.firstSeenMs;
  if (sums.lastSeenMs > row.lastSeenMs) row.lastSeenMs = sums.lastSeenMs;
}

/** `(?, ?), (?, ?)` for `rows` rows of `columns` values. */
export function placeholders(rows: number, columns: number): string {
  return Array(rows).fill(`(${Array(columns).fill('?').join(', ')})`).join(', ');
}

const ROW_SUMS = `SUM(requests), SUM(errors), SUM(unpriced_requests), SUM(input_tokens), SUM(output_tokens),
  SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost_nano_usd), SUM(duration_us),
  MIN(first_seen_ms), MAX(last_seen_ms)`;

function prepareStatements(db: DatabaseSync) {
  // Rows of one fold, one per series and hour; in memory (temp_store), emptied by every fold.
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS fold_rows (hour INTEGER NOT NULL, series_id INTEGER NOT NULL, user_ref INTEGER NOT NULL,
    requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL)`);
  return {
    // In key order, so that each table is written at neighbouring B-tree pages. WHERE true: without it SQLite would
    // read ON CONFLICT as part of the SELECT.
    foldRows: [
      db.prepare(`INSERT INTO usage_hourly (hour, series_id, user_ref, ${USAGE_VALUES})
        SELECT hour, series_id, user_ref, ${USAGE_VALUES} FROM temp.fold_rows WHERE true ORDER BY hour, series_id
        ON CONFLICT (hour, series_id) DO UPDATE SET ${UPSERT_USAGE_SET}`),
      db.prepare(`INSERT INTO usage_daily (day, series_id, user_ref, ${USAGE_VALUES})
        SELECT hour / ${HOURS_PER_DAY} AS day, series_id, user_ref, ${ROW_SUMS} FROM temp.fold_rows WHERE true
        GROUP BY day, series_id ORDER BY day, series_id ON CONFLICT (day, series_id) DO UPDATE SET ${UPSERT_USAGE_SET}`),
      db.prepare(`INSERT INTO user_daily (day, user_ref, ${USAGE_VALUES})
        SELECT hour / ${HOURS_PER_DAY} AS day, user_ref, ${ROW_SUMS} FROM temp.fold_rows WHERE true
        GROUP BY day, user_ref ORDER BY day, user_ref ON CONFLICT (day, user_ref) DO UPDATE SET ${UPSERT_USAGE_SET}`),
      db.prepare('DELETE FROM temp.fold_rows'),
    ],
    metaSet: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
    deleteLog: db.prepare('DELETE FROM call_log WHERE seq <= ?'),
    userId: db.prepare('SELECT id FROM users WHERE user_id = ?'),
    insertUser: db.prepare('INSERT INTO users (user_id, first_seen_ms, last_seen_ms) VALUES (?, ?, ?) RETURNING id'),
    propertySetId: db.prepare('SELECT id FROM property_sets WHERE json = ?'),
    insertPropertySet: db.prepare('INSERT INTO property_sets (json) VALUES (?) RETURNING id'),
    seriesId: db.prepare(`SELECT id FROM series
      WHERE user_ref = ? AND provider = ? AND model = ? AND operation = ? AND is_error = ? AND property_set = ?`),
    insertSeries: db.prepare(`INSERT INTO series (user_ref, provider, model, operation, is_error, property_set)
      VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
  };
}
