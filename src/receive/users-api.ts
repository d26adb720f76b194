import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../log.ts';
import { hourlyDetailStartMs, rangeNeedsPrunedHours } from '../sinks/ledger/retention.ts';
import { NANO_USD_PER_USD } from '../pricing/priced-usage.ts';
import { boundedText } from '../sources/bounded-text.ts';
import { DEFAULT_ANOMALY_RULES, findAnomalies } from './anomalies.ts';
import {
  LedgerUnavailableError, USER_SORT_COLUMNS,
  type UsageFilter, type UsageLedger, type UsageSums, type UserSortColumn, type UsersQuery, type UserTotals,
} from '../sinks/ledger/ledger.ts';

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 24 * MS_PER_HOUR;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 10_000;
const PROPERTY_PARAMETER = 'property.';

export class BadQueryError extends Error {
  override name = 'BadQueryError';
}

export interface UsersApiOptions {
  readonly ledger: UsageLedger;
  /** The user_id label value /metrics shows for a user id (a hash with USER_ID_LABEL=hash). */
  readonly metricsUserLabel: (userId: string) => string;
  /** CSV_CELLS: 'safe' (the default) neutralises text cells a spreadsheet would run as a formula; 'raw' does not. */
  readonly csvCells?: CsvCells;
  /** Where a CSV cut off by a failure after its first page is reported (the client sees only a broken stream). */
  readonly log?: Logger;
  /** PROPERTY_LABELS: the properties the Users page shows a column and a filter for. */
  readonly propertyNames?: readonly string[];
  /** PLAN_PRICES_USD: the Plans page's revenue per user of each plan, per month. */
  readonly planPricesUsd?: Readonly<Record<string, number>>;
  /** The clock of the anomaly view's "today" and of HOURLY_DETAIL_DAYS's cutoff (tests fix it). */
  readonly now?: () => number;
  /** HOURLY_DETAIL_DAYS: a range edge inside a day older than this is refused (only whole days are kept there). */
  readonly hourlyDetailDays?: number;
}

export type CsvCells = 'safe' | 'raw';

type QueryParameters = Readonly<Record<string, unknown>>;

/** GET /api/users, /api/users.csv and /api/users/:id, all figures from the ledger. */
export function usersApi(options: UsersApiOptions): Router {
  const router = Router();
  /**
   * Answers 400 (and false) for a range that needs usage by the hour the ledger no longer keeps: before today's
   * HOURLY_DETAIL_DAYS cutoff, or before what the ledger says it has dropped (a larger setting in the past).
   */
  const hoursKept = async (filter: UsageFilter, response: Response): Promise<boolean> => {
    if ((filter.fromMs === undefined || filter.fromMs % MS_PER_DAY === 0) && (filter.toMs === undefined || filter.toMs % MS_PER_DAY === 0)) return true;
    const keptFromMs = Math.max(hourlyDetailStartMs((options.now ?? Date.now)(), options.hourlyDetailDays ?? 0),
      await options.ledger.hourlyDetailKeptFromMs());
    const problem = rangeNeedsPrunedHours(filter.fromMs, filter.toMs, keptFromMs);
    if (problem === undefined) return true;
    response.status(400).type('application/json').send({ error: problem });
    return false;
  };
  router.get('/users', async (request, response) => {
    const { properties: namesText, ...rest } = request.query;
    const parsed = parseOrAnswer(response, () => ({
      query: parseUsersQuery(rest, { csv: false }),
      names: namesText === undefined ? [] : propertyNamesOf(single({ properties: namesText }, 'properties')!),
    }));
    if (parsed === undefined || !await hoursKept(parsed.query, response)) return;
    const { query, names } = parsed;
    const page = await options.ledger.users(query);
    const users = page.users.map((user) => userJson(user, options.metricsUserLabel));
    if (names.length === 0) {
      response.type('application/json').send({ users, total: page.total });
      return;
    }
    const values = await options.ledger.userProperties(page.users.map((user) => user.userId), names, query);
    response.type('application/json').send({
      users: users.map((user) => ({ ...user, properties: values[user.userId] ?? {} })), total: page.total,
    });
  });
  router.get('/meta', (_request, response) => {
    response.type('application/json').send({ propertyNames: options.propertyNames ?? [], planPricesUsd: options.planPricesUsd ?? {} });
  });
  router.get('/overview', async (request, response) => {
    const { properties: namesText, values: valuesText, ...rest } = request.query;
    const parsed = parseOrAnswer(response, () => ({
      filter: parseUserQuery(rest),
      names: namesText === undefined ? [...(options.propertyNames ?? [])] : propertyNamesOf(single({ properties: namesText }, 'properties')!),
      valueNames: valuesText === undefined ? [] : propertyNamesOf(single({ values: valuesText }, 'values')!),
    }));
    if (parsed === undefined || !await hoursKept(parsed.filter, response)) return;
    const overview = await options.ledger.overview(parsed.filter, parsed.names, parsed.valueNames);
    response.type('application/json').send({
      users: overview.users,
      totals: sumsJson(overview.sums),
      byProperty: overview.byProperty.map(({ name, value, users, ...sums }) => ({ name, value, users, ...sumsJson(sums) })),
      ...(parsed.valueNames.length === 0 ? {} : { values: overview.values }),
    });
  });
  router.get('/anomalies', async (request, response) => {
    const days = parseOrAnswer(response, () => {
      for (const name of Object.keys(request.query)) {
        if (name !== 'days') throw new BadQueryError(`unknown parameter "${name}": use days`);
      }
      const text = single(request.query, 'days');
      return text === undefined ? DEFAULT_BASELINE_DAYS : wholeNumber('days', text, 3, MAX_BASELINE_DAYS);
    });
    if (days === undefined) return;
    const today = Math.floor((options.now ?? Date.now)() / MS_PER_DAY);
    const rules = DEFAULT_ANOMALY_RULES;
    const activity = await options.ledger.dailyActivity(today - days, today + 1, 1);
    response.type('application/json').send({
      today: new Date(today * MS_PER_DAY).toISOString().slice(0, 10),
      baselineDays: days,
      rules: {
        threshold: rules.threshold, floorRequests: rules.floorRequests, floorCostUsd: usdOfNano(rules.floorCostNanoUsd), minHistoryDays: rules.minHistoryDays,
      },
      anomalies: findAnomalies(activity, rules).map(({ costNanoUsdToday, costNanoUsdMedian, ...rest }) => ({
        ...rest, costUsdToday: usdOfNano(costNanoUsdToday), costUsdMedian: usdOfNano(costNanoUsdMedian),
      })),
    });
  });
  router.get('/users.csv', async (request, response) => {
    const query = parseOrAnswer(response, () => parseUsersQuery(request.query, { csv: true }));
    if (query === undefined || !await hoursKept(query, response)) return;
    await streamUsersCsv(options, query, response);
  });
  router.get('/users/:id', async (request: Request<{ id: string }>, response) => {
    const filter = parseOrAnswer(response, () => parseUserQuery(request.query));
    if (filter === undefined || !await hoursKept(filter, response)) return;
    const userId = request.params.id;
    const detail = await options.ledger.user(userId, filter);
    if (detail === undefined) {
      response.status(404).type('application/json').send({ error: `no usage recorded for user ${JSON.stringify(userId)}` });
      return;
    }
    response.type('application/json').send({
      user: userJson(detail.totals ?? emptyTotals(userId), options.metricsUserLabel),
      daily: detail.daily.map(({ day, ...sums }) => ({ date: day, ...sumsJson(sums) })),
      byModel: detail.byModel.map(({ provider, model, ...sums }) => ({ provider, model, ...sumsJson(sums) })),
      byProperty: detail.byProperty.map(({ name, value, ...sums }) => ({ name, value, ...sumsJson(sums) })),
    });
  });
  router.use((error: Error, _request: Request, response: Response, next: NextFunction) => {
    if (!(error instanceof LedgerUnavailableError) || response.headersSent) return next(error);
    // The ledger recovers by itself once the disk takes writes again (it probes every second).
    response.status(503).set('Retry-After', '1').type('application/json').send({ error: error.message });
  });
  return router;
}

const DEFAULT_BASELINE_DAYS = 14;
const MAX_BASELINE_DAYS = 90;
const MAX_PROPERTY_NAMES = 20;

/** `properties=plan,feature`: property names, lower-cased and bounded as recorded ones are. */
export function propertyNamesOf(text: string): string[] {
  const names = text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  if (names.length > MAX_PROPERTY_NAMES) throw new BadQueryError(`properties: at most ${MAX_PROPERTY_NAMES} names`);
  return [...new Set(names.map((name) => boundedText(name)))];
}

/**
 * Users per page of a CSV: each page is formatted on the event loop that decodes exports, so pages are small (a
 * page of 1,000 takes a few ms) and exports are answered between them.
 */
const CSV_PAGE_ROWS = 1000;
/** How long a CSV client may leave a page unread before the download is cut off (and its snapshot ended). */
const CSV_DRAIN_TIMEOUT_MS = 60_000;

/**
 * Streams the CSV page by page from one snapshot of the ledger, so a million users need neither a heap nor a wait
 * of that size. Until the first page is read nothing is sent (a failure is still an HTTP error); a failure after
 * that cuts the response off, so that a client never takes a partial CSV for a whole one.
 */
async function streamUsersCsv(options: UsersApiOptions, query: UsersQuery, response: Response): Promise<void> {
  let clientGone = false;
  response.once('close', () => { clientGone = !response.writableFinished; });
  let started = false;
  try {
    for await (const page of options.ledger.usersPages(query, CSV_PAGE_ROWS)) {
      if (!started) {
        started = true;
        response.status(200).type('text/csv; charset=utf-8; header=present')
          .set('Content-Disposition', 'attachment; filename="users.csv"');
        response.write(USERS_CSV_HEADER);
      }
      if (clientGone) break;
      const cells = options.csvCells ?? 'safe';
      const text = page.users.map((user) => userCsvLine(userJson(user, options.metricsUserLabel), cells)).join('');
      if (!response.write(text) && !clientGone) {
        await new Promise<void>((resolve) => {
          // A client that stops reading would hold the cursor's snapshot, and with it every checkpoint, for ever.
          const stalled = setTimeout(() => response.destroy(new Error('the CSV client stopped reading')), CSV_DRAIN_TIMEOUT_MS);
          const done = () => { clearTimeout(stalled); response.off('drain', done); response.off('close', done); resolve(); };
          response.on('drain', done);
          response.on('close', done);
        });
      }
    }
  } catch (error) {
    if (!started) throw error;
    options.log?.('error', 'users CSV cut off by a failed read', { error: String(error) });
    response.destroy(error as Error);
    return;
  }
  response.end();
}

function parseOrAnswer<T>(response: Response, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof BadQueryError)) throw error;
    response.status(400).type('application/json').send({ error: error.message });
    return undefined;
  }
}

const RANGE_PARAMETERS = new Set(['from', 'to', 'month']);
const LIST_PARAMETERS = new Set([...RANGE_PARAMETERS, 'sort', 'order', 'limit', 'offset', 'search']);

/** The query of /api/users and /api/users.csv; throws BadQueryError naming the bad parameter. */
export function parseUsersQuery(parameters: QueryParameters, options: { csv: boolean }): UsersQuery {
  const filter = parseFilter(parameters, LIST_PARAMETERS);
  const sort = single(parameters, 'sort') ?? 'costUsd';
  if (!(USER_SORT_COLUMNS as readonly string[]).includes(sort)) {
    throw new BadQueryError(`sort=${JSON.stringify(sort)}: must be one of ${USER_SORT_COLUMNS.join(', ')}`);
  }
  const order = single(parameters, 'order') ?? (sort === 'userId' ? 'asc' : 'desc');
  if (order !== 'asc' && order !== 'desc') throw new BadQueryError(`order=${JSON.stringify(order)}: must be asc or desc`);
  const limitText = single(parameters, 'limit');
  const limit = limitText === undefined
    ? (options.csv ? undefined : DEFAULT_PAGE_SIZE)
    : wholeNumber('limit', limitText, 1, MAX_PAGE_SIZE);
  const offsetText = single(parameters, 'offset');
  const offset = offsetText === undefined ? 0 : wholeNumber('offset', offsetText, 0, Number.MAX_SAFE_INTEGER);
  const search = single(parameters, 'search');
  if (search !== undefined && options.csv) throw new BadQueryError('search: the CSV lists every matching user; filter with property.<name>=<value>');
  return { ...filter, sort: sort as UserSortColumn, order, limit, offset, ...(search === undefined || search === '' ? {} : { search: boundedText(search) }) };
}

/** The query of /api/users/:id: a range and property filters. */
export function parseUserQuery(parameters: QueryParameters): UsageFilter {
  return parseFilter(parameters, RANGE_PARAMETERS);
}

function parseFilter(parameters: QueryParameters, allowed: ReadonlySet<string>): UsageFilter {
  const properties: Array<readonly [string, string]> = [];
  for (const name of Object.keys(parameters)) {
    if (name.startsWith(PROPERTY_PARAMETER)) {
      const property = name.slice(PROPERTY_PARAMETER.length).toLowerCase();
      if (property === '') throw new BadQueryError(`${name}: name the property, e.g. property.plan=premium`);
      // Bounded as the calls' properties were when recorded, so a long value finds the calls that carried it.
      properties.push([boundedText(property), boundedText(single(parameters, name)!)]);
    } else if (!allowed.has(name)) {
      throw new BadQueryError(`unknown parameter "${name}": use ${[...allowed].join(', ')} or property.<name>=<value>`);
    }
  }
  const month = single(parameters, 'month');
  const from = single(parameters, 'from');
  const to = single(parameters, 'to');
  if (month !== undefined) {
    if (from !== undefined || to !== undefined) throw new BadQueryError('month cannot be combined with from or to');
    const range = monthRange(month);
    return { ...range, properties };
  }
  const fromMs = from === undefined ? undefined : instant('from', from, 'start');
  const toMs = to === undefined ? undefined : instant('to', to, 'end');
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs) {
    throw new BadQueryError(`to=${to} must be after from=${from}`);
  }
  return { fromMs, toMs, properties };
}

function single(parameters: QueryParameters, name: string): string | undefined {
  const value = parameters[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadQueryError(`${name} is given more than once`);
  return value;
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new BadQueryError(`${name}=${JSON.stringify(text)}: not a whole number`);
  const value = Number(text);
  if (value < min || value > max) throw new BadQueryError(`${name}=${text}: must be between ${min} and ${max}`);
  return value;
}

/** `YYYY-MM` -> [first day of the month, first day of the next), UTC. */
export function monthRange(text: string): { fromMs: number; toMs: number } {
  const match = /^(\d{4})-(\d{2})$/.exec(text);
  const month = match ? Number(match[2]) : 0;
  if (!match || month < 1 || month > 12) throw new BadQueryError(`month=${JSON.stringify(text)}: use YYYY-MM, e.g. 2026-02`);
  const year = Number(match[1]);
  return { fromMs: Date.UTC(year, month - 1, 1), toMs: Date.UTC(year, month, 1) };
}

/**
 * `from`/`to` as milliseconds. A date (`2026-02-01`) is a whole UTC day: `from` its start, `to` its end, so
 * `from=2026-02-01&to=2026-02-28` is all of February. A date-time needs a zone and a whole hour (the ledger keeps
 * hourly totals) and is used as given: `from` inclusive, `to` exclusive.
 */
export function instant(name: string, text: string, edge: 'start' | 'end'): number {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    if (new Date(ms).toISOString().slice(0, 10) !== text) throw new BadQueryError(`${name}=${text}: no such date`);
    return edge === 'start' ? ms : ms + MS_PER_DAY;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}(:\d{2}(:\d{2}(\.\d{1,3})?)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    throw new BadQueryError(`${name}=${JSON.stringify(text)}: use an ISO date (2026-02-01) or date-time with zone (2026-02-01T09:00:00Z)`);
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new BadQueryError(`${name}=${text}: no such time`);
  if (ms % MS_PER_HOUR !== 0) throw new BadQueryError(`${name}=${text}: the ledger keeps hourly totals; use a whole hour`);
  return ms;
}

export interface UserJson {
  readonly userId: string;
  readonly metricsUserLabel: string;
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly costUsd: number;
  readonly costNanoUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
  readonly totalTokens: number;
  readonly unpricedRequests: number;
  readonly avgLatencyMs: number;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  readonly activeDays: number;
  readonly avgRequestsPerDay: number;
  readonly avgTokensPerRequest: number;
  /**
   * Present only when some sums went past 2^53 (their doubles are then close, not exact): the fields affected. A
   * ledger holding such a row still answers for every other user.
   */
  readonly inexactFields?: string[];
}

/** The CSV columns, user id first; the JSON objects carry the same fields in the same order. */
export const USER_COLUMNS: ReadonlyArray<Exclude<keyof UserJson, 'inexactFields'>> = [
  'userId', 'metricsUserLabel', 'requests', 'errors', 'errorRate', 'costUsd', 'costNanoUsd', 'inputTokens', 'outputTokens',
  'cacheReadTokens', 'cacheWriteTokens', 'reasoningTokens', 'totalTokens', 'unpricedRequests', 'avgLatencyMs',
  'firstSeen', 'lastSeen', 'activeDays', 'avgRequestsPerDay', 'avgTokensPerRequest',
];

/** USD exactly as /metrics prints it: the integer nano-dollars divided by 1e9, once. */
export function usdOfNano(nanoUsd: number): number {
  return nanoUsd / NANO_USD_PER_USD;
}

/** Averages to 3 decimals; the integer sums they come from are exact. */
function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : Math.round((numerator / denominator) * 1000) / 1000;
}

export function userJson(user: UserTotals, metricsUserLabel: (userId: string) => string): UserJson {
  const totalTokens = user.inputTokens + user.outputTokens + user.cacheReadTokens + user.cacheWriteTokens;
  return {
    userId: user.userId,
    metricsUserLabel: metricsUserLabel(user.userId),
    requests: user.requests,
    errors: user.errors,
    errorRate: ratio(user.errors, user.requests),
    costUsd: usdOfNano(user.costNanoUsd),
    costNanoUsd: user.costNanoUsd,
    inputTokens: user.inputTokens,
    outputTokens: user.outputTokens,
    cacheReadTokens: user.cacheReadTokens,
    cacheWriteTokens: user.cacheWriteTokens,
    reasoningTokens: user.reasoningTokens,
    totalTokens,
    unpricedRequests: user.unpricedRequests,
    avgLatencyMs: ratio(user.durationMicros, user.requests * 1000),
    firstSeen: user.requests === 0 ? null : isoTime(user.firstSeenMs),
    lastSeen: user.requests === 0 ? null : isoTime(user.lastSeenMs),
    activeDays: user.activeDays,
    avgRequestsPerDay: ratio(user.requests, user.activeDays),
    avgTokensPerRequest: ratio(totalTokens, user.requests),
    ...inexact({ ...user, totalTokens }),
  };
}

/** ISO 8601, or null for a time no Date can hold (a ledger written before end times were bounded may have one). */
function isoTime(ms: number): string | null {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

const EXACT_FIELDS = [
  'requests', 'errors', 'unpricedRequests', 'inputTokens', 'outputTokens', 'cacheReadTokens', 'cacheWriteTokens',
  'reasoningTokens', 'totalTokens', 'costNanoUsd', 'durationMicros',
] as const;

function inexact(sums: Record<(typeof EXACT_FIELDS)[number], number>): { inexactFields?: string[] } {
  const fields = EXACT_FIELDS.filter((field) => !Number.isSafeInteger(sums[field]));
  return fields.length === 0 ? {} : { inexactFields: fields };
}

function sumsJson(sums: UsageSums) {
  const { durationMicros, costNanoUsd, ...counts } = sums;
  const totalTokens = sums.inputTokens + sums.outputTokens + sums.cacheReadTokens + sums.cacheWriteTokens;
  return {
    ...counts, costUsd: usdOfNano(costNanoUsd), costNanoUsd, avgLatencyMs: ratio(durationMicros, sums.requests * 1000),
    ...inexact({ ...sums, totalTokens }),
  };
}

function emptyTotals(userId: string): UserTotals {
  return {
    userId, requests: 0, errors: 0, unpricedRequests: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0,
    cacheWriteTokens: 0, reasoningTokens: 0, costNanoUsd: 0, durationMicros: 0, firstSeenMs: 0, lastSeenMs: 0, activeDays: 0,
  };
}

/**
 * What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"): = + - @, tab and CR, and the
 * full-width = + - @ that some spreadsheets take for them.
 */
const FORMULA_START = /^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/;

/**
 * One CSV field. RFC 4180: a field with a comma, quote, CR or LF is quoted, its quotes doubled. With 'safe' cells a
 * text that a spreadsheet would run as a formula gets a leading single quote (shown as text, never run); numbers
 * are written as numbers (ours are never negative, but a negative number would stay a number too).
 */
export function csvField(value: string | number | null, cells: CsvCells = 'safe'): string {
  let text = value === null ? '' : String(value);
  if (cells === 'safe' && typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const USERS_CSV_HEADER = `${USER_COLUMNS.join(',')}\r\n`;

/** One user's CSV line, CRLF included. */
export function userCsvLine(row: UserJson, cells: CsvCells = 'safe'): string {
  return `${USER_COLUMNS.map((column) => csvField(row[column], cells)).join(',')}\r\n`;
}

export function usersCsv(rows: readonly UserJson[], cells: CsvCells = 'safe'): string {
  let text = USERS_CSV_HEADER;
  for (const row of rows) text += userCsvLine(row, cells);
  return text;
}
