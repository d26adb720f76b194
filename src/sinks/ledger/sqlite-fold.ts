import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { HOURS_PER_DAY } from './aggregate.ts';
import { CALL, CALL_FIELDS, type SeriesTuple } from './ledger-protocol.ts';
import { float64sOfBlob, UnfoldedSums, type UnfoldedSeries } from './unfolded-sums.ts';

/**
 * Folding: writing what the call log holds (summed in memory as UnfoldedSums) into the totals tables usage_hourly,
 * usage_daily and user_daily and into the users' first and last seen, then emptying the log. The fold's rows (one
 * per series and hour, however many commits fed it) go into SQLite once, into a table in memory, many rows per
 * statement; each totals table is then upserted from it by one SQL statement, in key order. Series, users and
 * property sets get their integer ids here, not on the commit path.
 *
 * A fold runs in short steps (sized by the writer, sqlite-writer.ts), each a transaction of its own, so that the
 * group commits waiting for the writer are not held up by a whole fold (a few hundred ms for tens of thousands of
 * series): first the series are gathered and the ids of the known ones looked up (reads only), then put in id
 * order, then a slice at a time writes a run of series in id order (neighbouring pages of each table), marking each
 * with the commit it is folded through (series.folded_seq). A reader thus knows, per series, which commits the
 * totals hold: the seeds stay exact while a fold is half done. The last slice empties the log and sets
 * meta.folded_seq. A kill -9 between slices leaves the log: the next start folds it, leaving out the calls of the
 * series a slice had already folded.
 */

const ROWS_PER_STATEMENT = 64;
/** Past this many, a cache of ids starts a new generation (the previous one is still consulted, then dropped). */
const MAX_CACHED_IDS = 20_000;

const USAGE_VALUES = `requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
  reasoning_tokens, cost_nano_usd, duration_us, first_seen_ms, last_seen_ms, cache_write_1h_tokens, usage_requests`;
const USAGE_VALUE_COUNT = 14;
/** A row of temp.fold_rows: hour, series id, user id, then USAGE_VALUES. */
const ROW_COLUMNS = 3 + USAGE_VALUE_COUNT;

/** The upsert of schema 4's usage columns (the schema upgrades from 1 and 2 write those before schema 5's are added). */
export const UPSERT_USAGE_SET_V4 = `requests = requests + excluded.requests, errors = errors + excluded.errors,
  unpriced_requests = unpriced_requests + excluded.unpriced_requests,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
  cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
  cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd, duration_us = duration_us + excluded.duration_us,
  first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`;

export const UPSERT_USAGE_SET = `${UPSERT_USAGE_SET_V4},
  cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens, usage_requests = usage_requests + excluded.usage_requests`;

interface SeriesRef {
  readonly seriesId: number;
  readonly userRef: number;
  readonly isError: boolean;
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

/** A series of the fold, with its ids once known (undefined: new to the ledger, inserted by its slice). */
interface FoldSeries {
  readonly line: string;
  readonly parts: UnfoldedSeries[];
  ref: SeriesRef | undefined;
}

/** A fold under way: the sums of the commits through `throughSeq`. */
interface FoldInProgress {
  readonly throughSeq: number;
  readonly sums: UnfoldedSums;
  /** The sums' series not gathered by line yet (the detached sums no longer change); undefined once all are. */
  ungathered: Iterator<UnfoldedSeries> | undefined;
  readonly byLine: Map<string, FoldSeries>;
  /** One entry per series (two numbers can stand for one series: both are its parts), in the order written. */
  series: FoldSeries[];
  /** Whether `series` is in the order it is written in. */
  ordered: boolean;
  /** A step rolled back: the ids of the series not written yet are looked up again before they are ordered. */
  refsForgotten: boolean;
  /** How many series the committed slices wrote. */
  written: number;
  /** Where the slice being written ends; becomes `written` once its transaction commits (confirm). */
  slicedTo: number;
}

/** Items gathered between two looks at the clock. */
const CLOCK_EVERY = 64;
/** Smoothing of the measured time per row: the weight of the latest slice. */
const MS_PER_ROW_WEIGHT = 0.2;

export class LedgerFold {
  private readonly db: DatabaseSync;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly chunkStatements = new Map<string, StatementSync>();
  private readonly seriesRefs = new IdCache<SeriesRef>();
  private readonly userRefs = new IdCache<number>();
  private readonly propertySetIds = new IdCache<number>();
  private current: FoldInProgress | undefined;
  /** One statement's values, reused. */
  private readonly rowValues: number[] = new Array<number>(ROWS_PER_STATEMENT * ROW_COLUMNS).fill(0);
  /** What writing one row of a slice has cost lately (ms, smoothed): sets the size of slices meant to take so long. */
  msPerRow = 0.008;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.statements = prepareStatements(db);
  }

  get inProgress(): boolean {
    return this.current !== undefined;
  }

  /** The commit the fold under way is folding through. */
  get throughSeq(): number | undefined {
    return this.current?.throughSeq;
  }

  /** The share of the fold under way that committed slices have written (0 while its series are gathered). */
  get progress(): number {
    const fold = this.current;
    return fold === undefined || !fold.ordered || fold.series.length === 0 ? 0 : fold.written / fold.series.length;
  }

  /**
   * Starts folding `sums`, the calls committed through `throughSeq` (and not folded before). Nothing is read yet:
   * the series are gathered by the first steps, a few ms at a time.
   */
  begin(sums: UnfoldedSums, throughSeq: number): void {
    if (this.current !== undefined) throw new Error('a fold is already under way');
    this.current = {
      throughSeq, sums, ungathered: sums.bySeries.values(), byLine: new Map(), series: [], ordered: false, refsForgotten: false,
      written: 0, slicedTo: 0,
    };
  }

  /**
   * One step of the fold under way, inside the caller's transaction; each keeps to `maxRows` (and the others to
   * `deadlineMs`, a performance.now() time), so that no group commit waits long behind it:
   * 1. gather the sums' series by line and look up the ids of the series the ledger knows (reads only), until the
   *    deadline;
   * 2. put them in id order, so that each slice writes neighbouring pages of each table (new series last: their
   *    ids, handed out as they are inserted, follow every known id);
   * 3. write series worth up to `maxRows` rows (at least one series).
   * A step goes on to the next phase while its deadline allows (with no deadline, a step writes what `maxRows`
   * allows: a fold that is behind is not held up by its phases). Call confirm() after the transaction commits,
   * forget() after it rolls back. Returns true when this step is the last.
   */
  step(maxRows: number, deadlineMs = Infinity): boolean {
    const fold = this.current;
    if (fold === undefined) return true;
    if (fold.ungathered !== undefined) {
      this.gather(fold, deadlineMs);
      if (fold.ungathered !== undefined || performance.now() >= deadlineMs) return false;
    }
    if (!fold.ordered) {
      const unwritten = fold.series.slice(fold.written);
      if (fold.refsForgotten) {
        for (const series of unwritten) series.ref = this.existingSeriesRef(series.line);
        fold.refsForgotten = false;
      }
      fold.series = fold.series.slice(0, fold.written).concat(inIdOrder(unwritten));
      fold.ordered = true;
      if (fold.series.length > 0 && performance.now() >= deadlineMs) return false;
    }
    let end = fold.written;
    let rows = 0;
    while (end < fold.series.length && (end === fold.written || rows < maxRows)) {
      for (const part of fold.series[end]!.parts) rows += part.entries.length;
      end++;
    }
    const started = performance.now();
    this.writeSlice(fold, fold.written, end);
    if (rows >= 16) this.msPerRow += MS_PER_ROW_WEIGHT * ((performance.now() - started) / rows - this.msPerRow);
    fold.slicedTo = end;
    const last = end === fold.series.length;
    if (last) {
      this.statements.deleteLog.run(fold.throughSeq);
      this.statements.metaSet.run(fold.throughSeq, 'folded_seq');
    }
    return last;
  }

  /** The step's transaction committed: the fold moves on (and is over after its last slice). */
  confirm(): void {
    const fold = this.current;
    if (fold === undefined) return;
    fold.written = fold.slicedTo;
    if (fold.ungathered === undefined && fold.ordered && fold.written === fold.series.length) this.current = undefined;
  }

  /**
   * The step's transaction rolled back: ids handed out inside it no longer exist. The fold stays under way and
   * writes the same slice again, after looking up again the ids of the series it has not written (and ordering them
   * again).
   */
  forget(): void {
    this.seriesRefs.clear();
    this.userRefs.clear();
    this.propertySetIds.clear();
    const fold = this.current;
    if (fold === undefined) return;
    fold.slicedTo = fold.written;
    // The ordering step looks the ids up again (refsForgotten) before any slice uses them.
    fold.ordered = false;
    fold.refsForgotten = true;
  }

  /** Step 1: the next series of the sums, by line, with the ids of those the ledger knows. */
  private gather(fold: FoldInProgress, deadlineMs: number): void {
    const { byLine } = fold;
    for (let count = 1; ; count++) {
      const next = fold.ungathered!.next();
      if (next.done === true) {
        fold.ungathered = undefined;
        return;
      }
      const part = next.value;
      const series = byLine.get(part.line);
      if (series !== undefined) {
        series.parts.push(part);
      } else {
        const gathered = { line: part.line, parts: [part], ref: this.existingSeriesRef(part.line) };
        byLine.set(part.line, gathered);
        fold.series.push(gathered);
      }
      if (count % CLOCK_EVERY === 0 && performance.now() >= deadlineMs) return;
    }
  }

  /**
   * Writes the series [start, end) of the fold: their rows, their users' first and last seen, their folded_seq.
   * Each series-hour goes from the sums' typed array straight into the statement's values (no object per row): the
   * rows go into SQLite once (a table in memory), and the totals tables and users are updated from it in SQL. Two
   * numbers of one series (the main thread renumbers after starting over) give two rows for one key: the upserts add
   * them up.
   */
  private writeSlice(fold: FoldInProgress, start: number, end: number): void {
    const values = this.rowValues;
    let rows = 0;
    for (let index = start; index < end; index++) {
      const series = fold.series[index]!;
      series.ref ??= this.seriesRef(series.line);
      const { seriesId, userRef, isError } = series.ref;
      for (const part of series.parts) {
        for (const entry of part.entries) {
          const at = rows * ROW_COLUMNS;
          fold.sums.copyEntry(entry, isError, values, at);
          values[at + 1] = seriesId;
          values[at + 2] = userRef;
          if (++rows === ROWS_PER_STATEMENT) {
            this.insertRows(values, rows);
            rows = 0;
          }
        }
      }
    }
    if (rows > 0) this.insertRows(values.slice(0, rows * ROW_COLUMNS), rows);
    for (const statement of this.statements.foldRows) statement.run();
    this.statements.markFolded.run(fold.throughSeq);
    this.statements.clearRows.run();
  }

  private insertRows(values: readonly number[], rows: number): void {
    this.chunkStatement(`rows:${rows}`, () => `INSERT INTO temp.fold_rows (hour, series_id, user_ref, ${USAGE_VALUES})
      VALUES ${placeholders(rows, ROW_COLUMNS)}`).run(...values);
  }

  /** The ids of a series the ledger knows, by its line; undefined for a new one. Reads only. */
  private existingSeriesRef(line: string): SeriesRef | undefined {
    return this.seriesRefOf(line, false);
  }

  /** The ids of a series (and its user), by its line; what is new is inserted. */
  private seriesRef(line: string): SeriesRef {
    return this.seriesRefOf(line, true)!;
  }

  /**
   * The ids of a series by its line, looked up (cached) and, with `insert`, inserted where missing: a new user with
   * an empty span, which the fold then widens to their calls. Without `insert`, undefined for a series not there.
   */
  private seriesRefOf(line: string, insert: boolean): SeriesRef | undefined {
    const cached = this.seriesRefs.get(line);
    if (cached !== undefined) return cached;
    const [userId, provider, model, operation, isError, propertiesJson, searchTier = '', inputTier = 0] = JSON.parse(line) as SeriesTuple;
    const { statements } = this;
    const userRef = idOf(this.userRefs, userId, statements.userId,
      insert ? () => statements.insertUser.get(userId, Number.MAX_SAFE_INTEGER, 0) : undefined);
    if (userRef === undefined) return undefined;
    const propertySet = idOf(this.propertySetIds, propertiesJson, statements.propertySetId,
      insert ? () => statements.insertPropertySet.get(propertiesJson) : undefined);
    if (propertySet === undefined) return undefined;
    const status = isError ? 1 : 0;
    const row = (statements.seriesId.get(userRef, provider, model, operation, status, propertySet, searchTier, inputTier)
      ?? (insert ? statements.insertSeries.get(userRef, provider, model, operation, status, propertySet, searchTier, inputTier) : undefined)) as
      { id: number } | undefined;
    if (row === undefined) return undefined;
    const ref = { seriesId: Number(row.id), userRef, isError };
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
 * caller's transaction; run at open, before any other connection uses the file. A fold that was cut short between
 * slices has already folded some series through some commit (series.folded_seq): their calls of those commits
 * are left out.
 */
export function foldCallLog(db: DatabaseSync): void {
  const foldedSeq = Number((db.prepare(`SELECT value FROM meta WHERE name = 'folded_seq'`).get() as { value: number }).value);
  const partlyFolded = db.prepare('SELECT 1 FROM series WHERE folded_seq > ? LIMIT 1').get(foldedSeq) !== undefined;
  const seriesFoldedSeq = db.prepare(`SELECT s.folded_seq AS folded_seq FROM series s
    JOIN users u ON u.id = s.user_ref JOIN property_sets p ON p.id = s.property_set
    WHERE u.user_id = ? AND s.provider = ? AND s.model = ? AND s.operation = ? AND s.is_error = ? AND p.json = ?
      AND s.search_tier = ? AND s.input_tier = ?`);
  const foldedSeqOfLine = new Map<string, number>();
  const foldedThrough = (line: string): number => {
    let seq = foldedSeqOfLine.get(line);
    if (seq === undefined) {
      const [userId, provider, model, operation, isError, propertiesJson, searchTier = '', inputTier = 0] = JSON.parse(line) as SeriesTuple;
      const row = seriesFoldedSeq.get(userId, provider, model, operation, isError ? 1 : 0, propertiesJson, searchTier, inputTier) as { folded_seq: number } | undefined;
      foldedSeqOfLine.set(line, seq = Number(row?.folded_seq ?? 0));
    }
    return seq;
  };
  const sums = new UnfoldedSums();
  let lastSeq = 0;
  const rows = db.prepare('SELECT seq, numbers, lines, calls, fresh FROM call_log ORDER BY seq')
    .iterate() as Iterable<{ seq: number; numbers: Uint8Array; lines: string; calls: Uint8Array; fresh: Uint8Array }>;
  for (const row of rows) {
    // Rows are read in the order they were written: each series' line comes with (or before) its first use.
    const numbers = float64sOfBlob(row.numbers, 1, 'series numbers');
    sums.learn(row.lines, numbers, false);
    const calls = float64sOfBlob(row.calls, CALL_FIELDS, 'calls');
    const seq = Number(row.seq);
    let fresh = row.fresh;
    if (partlyFolded) {
      const folded = Array.from(numbers, (number) => foldedThrough(sums.lineOf(number)) >= seq);
      if (folded.includes(true)) fresh = fresh.map((isNew, index) => (isNew === 1 && !folded[calls[index * CALL_FIELDS + CALL.series]!] ? 1 : 0));
    }
    sums.add(numbers, calls, fresh);
    lastSeq = seq;
  }
  const committed = Number((db.prepare(`SELECT value FROM meta WHERE name = 'commit_seq'`).get() as { value: number }).value);
  const fold = new LedgerFold(db);
  fold.begin(sums, Math.max(lastSeq, committed));
  while (!fold.step(Infinity)) fold.confirm();
  fold.confirm();
}

/**
 * The series in the order of their ids, new ones (no ids yet) last. Sorted as numbers in a typed array (id and
 * position packed in one): 35,000 series sorted by a comparator took 13 ms of the writer's turn.
 */
function inIdOrder(series: readonly FoldSeries[]): FoldSeries[] {
  const positions = 2 ** 21;
  // Id and position packed exactly below 2^53; past that (ids go up by one per series the ledger has ever seen),
  // a comparator.
  const newSeriesKey = 2 ** 31;
  if (series.length >= positions || series.some((each) => (each.ref?.seriesId ?? 0) >= newSeriesKey)) {
    return [...series].sort((a, b) => (a.ref?.seriesId ?? Infinity) - (b.ref?.seriesId ?? Infinity));
  }
  const keys = new Float64Array(series.length);
  series.forEach((each, index) => { keys[index] = (each.ref?.seriesId ?? newSeriesKey) * positions + index; });
  keys.sort();
  return Array.from(keys, (key) => series[key % positions]!);
}

/** The id of `key` (cached), selected, or inserted by `insert` when given; undefined when missing and not inserted. */
function idOf(cache: IdCache<number>, key: string, select: StatementSync, insert: (() => unknown) | undefined): number | undefined {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const row = (select.get(key) ?? insert?.()) as { id: number } | undefined;
  if (row === undefined) return undefined;
  const id = Number(row.id);
  cache.set(key, id);
  return id;
}

/** `(?, ?), (?, ?)` for `rows` rows of `columns` values. */
export function placeholders(rows: number, columns: number): string {
  return Array(rows).fill(`(${Array(columns).fill('?').join(', ')})`).join(', ');
}

/**
 * TOTAL, not SUM: SUM raises "integer overflow" past 2^63, and a fold that throws would be retried forever. The
 * totals columns take TOTAL's double back as an integer wherever it is one (INTEGER affinity).
 */
const ROW_SUMS = `TOTAL(requests), TOTAL(errors), TOTAL(unpriced_requests), TOTAL(input_tokens), TOTAL(output_tokens),
  TOTAL(cache_read_tokens), TOTAL(cache_write_tokens), TOTAL(reasoning_tokens), TOTAL(cost_nano_usd), TOTAL(duration_us),
  MIN(first_seen_ms), MAX(last_seen_ms), TOTAL(cache_write_1h_tokens), TOTAL(usage_requests)`;

function prepareStatements(db: DatabaseSync) {
  // Rows of one fold, one per series and hour; in memory (temp_store), emptied by every fold.
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS fold_rows (hour INTEGER NOT NULL, series_id INTEGER NOT NULL, user_ref INTEGER NOT NULL,
    requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, cache_write_1h_tokens INTEGER NOT NULL, usage_requests INTEGER NOT NULL)`);
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
      // Each user's first and last seen widened to the fold's calls.
      db.prepare(`UPDATE users SET first_seen_ms = min(users.first_seen_ms, span.first_seen_ms),
        last_seen_ms = max(users.last_seen_ms, span.last_seen_ms)
        FROM (SELECT user_ref, MIN(first_seen_ms) AS first_seen_ms, MAX(last_seen_ms) AS last_seen_ms FROM temp.fold_rows GROUP BY user_ref) AS span
        WHERE users.id = span.user_ref`),
    ],
    markFolded: db.prepare('UPDATE series SET folded_seq = ? WHERE id IN (SELECT series_id FROM temp.fold_rows)'),
    clearRows: db.prepare('DELETE FROM temp.fold_rows'),
    metaSet: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
    deleteLog: db.prepare('DELETE FROM call_log WHERE seq <= ?'),
    userId: db.prepare('SELECT id FROM users WHERE user_id = ?'),
    insertUser: db.prepare('INSERT INTO users (user_id, first_seen_ms, last_seen_ms) VALUES (?, ?, ?) RETURNING id'),
    propertySetId: db.prepare('SELECT id FROM property_sets WHERE json = ?'),
    insertPropertySet: db.prepare('INSERT INTO property_sets (json) VALUES (?) RETURNING id'),
    seriesId: db.prepare(`SELECT id FROM series
      WHERE user_ref = ? AND provider = ? AND model = ? AND operation = ? AND is_error = ? AND property_set = ?
        AND search_tier = ? AND input_tier = ?`),
    insertSeries: db.prepare(`INSERT INTO series (user_ref, provider, model, operation, is_error, property_set, search_tier, input_tier)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
  };
}
