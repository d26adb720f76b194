import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { dayText } from './aggregate.ts';
import { USER_COLUMNS, type PackedUsersPage } from './ledger-protocol.ts';
import type { DailyActivity, UsageFilter, UsageOverview, UserDetail, UsersQuery, UserTotals } from './ledger.ts';
import { dailyActivityOf, MAX_LISTED_VALUES, mostUsedValues, splitByProperty, toSums, toUserTotals } from './read-rows.ts';
import { allUsersSource, oneUserSource, SORT_SQL, sortAggregatesSql, SUMS_SQL, TOTALS_SQL, type UserSpan } from './sqlite-queries.ts';

export type Row = Record<string, SQLInputValue>;

/**
 * The users API's reads of the folded totals, on a connection of their own (the reader thread's,
 * ledger-reader.ts): WAL lets them read a snapshot while the writer commits, so a month of a million users or a
 * CSV of all of them does not hold up the exports waiting for their commit. The caller folds first (the writer's
 * 'fold' request), so a read holds every call committed before it was asked.
 */
export class LedgerReads {
  private readonly db: DatabaseSync;
  private readonly userSpan: StatementSync;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.userSpan = db.prepare('SELECT id, first_seen_ms, last_seen_ms FROM users WHERE user_id = ?');
  }

  /**
   * One page of users, with the number of users matching the filter. In two passes: the users are ordered by what
   * the sort needs alone (sortAggregatesSql), then only the page's users are summed in full.
   */
  users(query: UsersQuery): PackedUsersPage {
    if (query.limit === undefined) {
      const pages = this.usersPages(query, Number.MAX_SAFE_INTEGER);
      const page = pages.next();
      pages.return(undefined);
      return page.done === true ? { userIds: [], numbers: new Float64Array(0), total: 0 } : page.value;
    }
    const source = allUsersSource(query);
    const aggregates = sortAggregatesSql(query.sort);
    const direction = query.order === 'asc' ? 'ASC' : 'DESC';
    // instr, not LIKE: every character of the search is literal, % and _ included.
    const search = query.search === undefined || query.search === ''
      ? { named: '', counted: '', params: [] as string[] }
      : { named: ' WHERE instr(u.user_id, ?) > 0', counted: ' WHERE user_ref IN (SELECT id FROM users WHERE instr(user_id, ?) > 0)', params: [query.search] };
    this.db.exec('BEGIN');
    try {
      const refs = (this.db.prepare(`WITH ${source.sql},
          grouped AS (SELECT user_ref${aggregates === '' ? '' : `, ${aggregates}`} FROM src GROUP BY user_ref),
          named AS (SELECT grouped.*, u.user_id AS user_id FROM grouped JOIN users u ON u.id = grouped.user_ref${search.named})
        SELECT user_ref FROM named ORDER BY ${SORT_SQL[query.sort]} ${direction}, user_id ASC LIMIT ? OFFSET ?`)
        .all(...source.params, ...search.params, query.limit, query.offset) as Row[]).map((row) => Number(row.user_ref));
      const total = Number((this.db.prepare(`WITH ${source.sql} SELECT COUNT(DISTINCT user_ref) AS n FROM src${search.counted}`)
        .get(...source.params, ...search.params) as Row).n);
      const page = refs.length === 0 ? [] : this.totalsOf(query, refs);
      const numbers = new Float64Array(page.length * USER_COLUMNS.length);
      page.forEach((totals, index) => {
        USER_COLUMNS.forEach((column, offset) => { numbers[index * USER_COLUMNS.length + offset] = totals[column]; });
      });
      return { userIds: page.map((totals) => totals.userId), numbers, total };
    } finally {
      this.db.exec('COMMIT');
    }
  }

  /** The full totals of the users `refs` in the filter's range, in the order of `refs`. */
  private totalsOf(filter: UsageFilter, refs: readonly number[]): UserTotals[] {
    const source = allUsersSource(filter, refs);
    const rows = this.db.prepare(`WITH ${source.sql}, per_user AS (SELECT user_ref, ${TOTALS_SQL} FROM src GROUP BY user_ref)
      SELECT u.user_id AS user_id, t.* FROM per_user t JOIN users u ON u.id = t.user_ref`).all(...source.params) as Row[];
    const byRef = new Map(rows.map((row) => [Number(row.user_ref), toUserTotals(row)]));
    return refs.map((ref) => byRef.get(ref)!);
  }

  /**
   * The users of `query` in pages of at most `pageRows` (the CSV streams them), each with the number of users
   * matching; one snapshot for them all, held until the generator is done or returned.
   */
  *usersPages(query: UsersQuery, pageRows: number): Generator<PackedUsersPage, void, undefined> {
    const source = allUsersSource(query);
    const perUser = `WITH ${source.sql}, per_user AS (SELECT user_ref, ${TOTALS_SQL} FROM src GROUP BY user_ref)
      SELECT u.user_id AS user_id, t.* FROM per_user t JOIN users u ON u.id = t.user_ref`;
    const direction = query.order === 'asc' ? 'ASC' : 'DESC';
    this.db.exec('BEGIN');
    try {
      const rows = this.db.prepare(`SELECT *, COUNT(*) OVER () AS total FROM (${perUser})
        ORDER BY ${SORT_SQL[query.sort]} ${direction}, user_id ASC LIMIT ? OFFSET ?`)
        .iterate(...source.params, query.limit ?? -1, query.offset) as Iterator<Row>;
      let total = 0;
      let next = rows.next();
      let first = true;
      while (first || next.done !== true) {
        // One row object at a time: a CSV of every user must not need a heap that size in this thread.
        const userIds: string[] = [];
        let numbers = new Float64Array(Math.min(pageRows, 256) * USER_COLUMNS.length);
        while (next.done !== true && userIds.length < pageRows) {
          const totals = toUserTotals(next.value);
          if ((userIds.length + 1) * USER_COLUMNS.length > numbers.length) {
            const grown = new Float64Array(numbers.length * 2);
            grown.set(numbers);
            numbers = grown;
          }
          USER_COLUMNS.forEach((column, offset) => { numbers[userIds.length * USER_COLUMNS.length + offset] = totals[column]; });
          userIds.push(totals.userId);
          total = Number(next.value.total);
          next = rows.next();
        }
        if (first && userIds.length === 0 && query.offset > 0) {
          // Past the last user: the window count is on no row, so count apart.
          total = Number((this.db.prepare(`SELECT COUNT(*) AS n FROM (${perUser})`).get(...source.params) as Row).n);
        }
        first = false;
        yield { userIds, numbers: numbers.slice(0, userIds.length * USER_COLUMNS.length), total };
      }
    } finally {
      this.db.exec('COMMIT');
    }
  }

  user(userId: string, filter: UsageFilter): UserDetail | undefined {
    this.db.exec('BEGIN');
    try {
      const span = userSpanOf(this.userSpan, userId);
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
    } finally {
      this.db.exec('COMMIT');
    }
  }
}

/** The Users page's reads beyond the users API's lists: totals, per-property sums, anomalies' daily activity. */
export class LedgerOverviewReads {
  private readonly db: DatabaseSync;
  private readonly userSpan: StatementSync;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.userSpan = db.prepare('SELECT id, first_seen_ms, last_seen_ms FROM users WHERE user_id = ?');
  }

  overview(filter: UsageFilter, propertyNames: readonly string[], valueNames: readonly string[] = []): UsageOverview {
    this.db.exec('BEGIN');
    try {
      const source = allUsersSource(filter);
      const totals = this.db.prepare(`WITH ${source.sql} SELECT COUNT(DISTINCT user_ref) AS users, ${SUMS_SQL} FROM src`)
        .get(...source.params) as Row;
      const byProperty: UsageOverview['byProperty'] = [];
      for (const name of propertyNames) {
        const series = allUsersSource(filter, undefined, { bySeries: true });
        // A property's value is looked up once per property set (they are few), then joined to each row's series.
        const rows = this.db.prepare(`WITH ${series.sql},
            set_value AS (SELECT p.id AS set_id, coalesce((SELECT value FROM json_each(p.json) WHERE key = ?), '') AS value FROM property_sets p),
            series_value AS (SELECT s.id AS series_ref, v.value AS value FROM series s JOIN set_value v ON v.set_id = s.property_set)
          SELECT series_value.value AS value, COUNT(DISTINCT src.user_ref) AS users, ${qualifiedSums('src')}
          FROM src JOIN series_value ON series_value.series_ref = src.series_id
          GROUP BY series_value.value ORDER BY cost_nano_usd DESC, value`).all(...series.params, name) as Row[];
        for (const row of rows) byProperty.push({ name, value: String(row.value), users: Number(row.users), ...toSums(row) });
      }
      const values: Record<string, string[]> = {};
      const recorded = this.db.prepare(`SELECT DISTINCT coalesce((SELECT value FROM json_each(p.json) WHERE key = ?), '') AS value
        FROM property_sets p ORDER BY value LIMIT ${MAX_LISTED_VALUES}`);
      for (const name of valueNames) values[name] = (recorded.all(name) as Row[]).map((row) => String(row.value));
      return { users: Number(totals.users), sums: toSums(totals), byProperty, values };
    } finally {
      this.db.exec('COMMIT');
    }
  }

  userProperties(userIds: readonly string[], propertyNames: readonly string[], filter: UsageFilter): Record<string, Record<string, string>> {
    const found: Record<string, Record<string, string>> = {};
    if (propertyNames.length === 0) return found;
    this.db.exec('BEGIN');
    try {
      for (const userId of userIds) {
        const span = userSpanOf(this.userSpan, userId);
        if (span === undefined) continue;
        // One user's rows by point lookups (oneUserSource): a page of users costs a page of small reads.
        const source = oneUserSource(filter, span);
        const rows = this.db.prepare(`WITH ${source.sql} SELECT p.json AS json, TOTAL(src.requests) AS requests
          FROM src JOIN series s ON s.id = src.series_id JOIN property_sets p ON p.id = s.property_set
          GROUP BY s.property_set`).all(...source.params) as Row[];
        const values = mostUsedValues(rows, propertyNames);
        if (Object.keys(values).length > 0) found[userId] = values;
      }
      return found;
    } finally {
      this.db.exec('COMMIT');
    }
  }

  dailyActivity(fromDay: number, toDay: number, minRequests: number): DailyActivity[] {
    const rows = this.db.prepare(`SELECT u.user_id AS user_id, d.day AS day, d.requests AS requests, d.cost_nano_usd AS cost
      FROM user_daily today JOIN users u ON u.id = today.user_ref
      JOIN user_daily d ON d.user_ref = today.user_ref AND d.day >= ? AND d.day < ?
      WHERE today.day = ? AND today.requests >= ? ORDER BY u.user_id, d.day`).iterate(fromDay, toDay, toDay - 1, minRequests) as Iterable<Row>;
    // Row by row: 50,000 users active today with 15 days of history are 750,000 rows, which as one array ran the
    // reader thread out of heap.
    return dailyActivityOf(rows, fromDay, toDay);
  }
}

function qualifiedSums(table: string): string {
  return SUMS_SQL.replace(/TOTAL\((\w+)\)/g, `TOTAL(${table}.$1)`);
}

/** A user's id and known span of activity, or undefined for a user the ledger has never seen. */
export function userSpanOf(statement: StatementSync, userId: string): UserSpan | undefined {
  const row = statement.get(userId) as Row | undefined;
  if (row === undefined) return undefined;
  return { userRef: Number(row.id), firstSeenMs: Number(row.first_seen_ms), lastSeenMs: Number(row.last_seen_ms) };
}

