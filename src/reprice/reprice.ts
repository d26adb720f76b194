/**
 * Re-pricing a stored range of the ledger after a price change (a corrected override, a negotiated discount, a
 * catalogue upgrade): every series-hour in the range gets the cost its stored usage has at the prices in force when
 * its calls ended, and the daily tables follow, in one transaction. It runs while no processor holds DATA_DIR
 * (docs/pricing.md, "Prices that change").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { INPUT_TIER_BOUNDS } from '../pricing/long-context.ts';
import type { PriceOverride } from '../pricing/overrides.ts';
import { cardAt, createPriceLookup } from '../pricing/pricer.ts';
import { costOfStoredUsage, tierThresholds, type RateCard, type StoredUsage } from '../pricing/rate-card.ts';
import { SEARCH_CONTEXT_SIZES, type SearchContextSize } from '../sources/usage-record.ts';
import { HOURS_PER_DAY, MS_PER_HOUR } from '../sinks/ledger/aggregate.ts';
import { LEDGER_FILE_NAME, LOCK_FILE_NAME, lockDirectory, openConnection, prepareDatabase } from '../sinks/ledger/sqlite-open.ts';
import { HOURLY_KEPT_FROM_META } from '../sinks/ledger/retention.ts';

export class RepriceError extends Error {
  override name = 'RepriceError';
}

export interface RepriceOptions {
  readonly dataDir: string;
  readonly overrides: readonly PriceOverride[];
  /** Inclusive and exclusive, each on a whole UTC hour. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly dryRun: boolean;
  /** Kept by a ledger migrated from schema 1 (sqlite-schema.ts); the processor's dedup window. */
  readonly dedupWindowHours: number;
  readonly now?: () => number;
}

export interface UserCostChange {
  readonly userId: string;
  readonly oldNanoUsd: number;
  readonly newNanoUsd: number;
}

export interface RepriceReport {
  /** Users with calls in the range, by user id. */
  readonly users: UserCostChange[];
  readonly oldNanoUsd: number;
  readonly newNanoUsd: number;
  readonly seriesHours: number;
  readonly changedSeriesHours: number;
  /** Whether the ledger was changed (false for a dry run). */
  readonly applied: boolean;
}

interface StoredRow {
  readonly hour: number;
  readonly seriesId: number;
  readonly userId: string;
  readonly provider: string;
  readonly model: string;
  readonly requests: number;
  readonly unpriced: number;
  readonly cost: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly usage: StoredUsage;
}

/**
 * Re-prices [fromMs, toMs): a dry run reports per user the stored and the new cost and changes nothing; otherwise
 * usage_hourly, usage_daily and user_daily change in one transaction. Refuses (RepriceError) while a processor holds
 * DATA_DIR, and when the range holds usage the new prices cannot price exactly from what the ledger stored.
 */
export function repriceLedger(options: RepriceOptions): RepriceReport {
  assertWholeHourRange(options.fromMs, options.toMs);
  const path = join(options.dataDir, LEDGER_FILE_NAME);
  if (!existsSync(path)) throw new RepriceError(`no ledger at ${path} (is DATA_DIR right?)`);
  let lock: DatabaseSync;
  try {
    lock = lockDirectory(join(options.dataDir, LOCK_FILE_NAME), path);
  } catch (error) {
    const message = (error as Error).message;
    throw new RepriceError(/in use by another process/.test(message)
      ? `a processor is running on ${options.dataDir} (it holds ${LOCK_FILE_NAME}): stop it, re-price, then start it again; `
        + 'its /metrics then continue from the re-priced ledger'
      : message);
  }
  try {
    const nowMs = (options.now ?? Date.now)();
    const db = openConnection(path, 'full', 16_384);
    try {
      // Upgrades an older schema and folds what a stopped processor left in the call log, like a start would.
      prepareDatabase(db, path, nowMs, nowMs + 2 * options.dedupWindowHours * MS_PER_HOUR);
      return reprice(db, options);
    } finally {
      db.close();
    }
  } finally {
    lock.close();
  }
}

export function assertWholeHourRange(fromMs: number, toMs: number): void {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs % MS_PER_HOUR !== 0 || toMs % MS_PER_HOUR !== 0) {
    throw new RepriceError('the range must start and end on whole UTC hours (the ledger keeps calls by hour)');
  }
  if (fromMs >= toMs) throw new RepriceError('the range is empty: --from must come before --to');
}

function reprice(db: DatabaseSync, options: RepriceOptions): RepriceReport {
  // Days whose hours HOURLY_DETAIL_DAYS has dropped keep only their daily totals: nothing to re-price them from.
  const keptFrom = db.prepare(`SELECT value FROM meta WHERE name = '${HOURLY_KEPT_FROM_META}'`).get() as { value: number } | undefined;
  if (keptFrom !== undefined && options.fromMs < Number(keptFrom.value)) {
    throw new RepriceError(`usage by the hour is kept from ${new Date(Number(keptFrom.value)).toISOString()} on (HOURLY_DETAIL_DAYS): `
      + 'a range before it cannot be re-priced');
  }
  const fromHour = options.fromMs / MS_PER_HOUR;
  const toHour = options.toMs / MS_PER_HOUR;
  // The days are recomputed from their hours: every day the range touches must still hold all of them.
  const partial = db.prepare(`SELECT d.day AS day FROM usage_daily d
    WHERE d.day >= ? AND d.day < ? AND d.requests != (SELECT TOTAL(h.requests) FROM usage_hourly h
      WHERE h.hour >= d.day * ${HOURS_PER_DAY} AND h.hour < (d.day + 1) * ${HOURS_PER_DAY} AND h.series_id = d.series_id)
    LIMIT 1`).get(Math.floor(fromHour / HOURS_PER_DAY), Math.ceil(toHour / HOURS_PER_DAY)) as { day: number } | undefined;
  if (partial !== undefined) {
    throw new RepriceError(`${new Date(Number(partial.day) * HOURS_PER_DAY * MS_PER_HOUR).toISOString().slice(0, 10)} no longer `
      + 'holds all of its hours (HOURLY_DETAIL_DAYS dropped some): a range touching it cannot be re-priced');
  }
  const pricesOf = createPriceLookup(options.overrides);
  const byUser = new Map<string, { oldNanoUsd: number; newNanoUsd: number }>();
  const changes: Array<{ hour: number; seriesId: number; cost: number; unpriced: number }> = [];
  const inexact: string[] = [];
  let seriesHours = 0;
  for (const row of storedRows(db, fromHour, toHour)) {
    seriesHours++;
    const prices = pricesOf(row.provider, row.model);
    const priced = (atMs: number) => {
      const card = cardAt(prices, atMs);
      return card === undefined ? undefined : { card, cost: costOfStoredUsage(card, row.usage, atMs) };
    };
    const atLast = priced(row.lastSeenMs);
    const atFirst = priced(row.firstSeenMs);
    const where = `${row.provider} ${row.model} at ${new Date(row.hour * MS_PER_HOUR).toISOString().slice(0, 13)}h`;
    if (atLast?.cost !== atFirst?.cost) {
      inexact.push(`${where}: its calls fall on both sides of a price change inside the hour`);
    }
    const unknownBound = atLast === undefined ? undefined : tierThresholds(atLast.card).find((bound) => !INPUT_TIER_BOUNDS.includes(bound));
    if (unknownBound !== undefined) {
      inexact.push(`${where}: a long-context tier above ${unknownBound} input tokens, which the ledger does not tell apart`);
    }
    const cost = atLast?.cost ?? 0;
    const unpriced = atLast === undefined ? row.requests : 0;
    const user = byUser.get(row.userId) ?? { oldNanoUsd: 0, newNanoUsd: 0 };
    user.oldNanoUsd += row.cost;
    user.newNanoUsd += cost;
    byUser.set(row.userId, user);
    if (cost !== row.cost || unpriced !== row.unpriced) changes.push({ hour: row.hour, seriesId: row.seriesId, cost, unpriced });
  }
  if (inexact.length > 0) {
    throw new RepriceError(`${inexact.length} series-hours cannot be re-priced exactly from what the ledger stores; nothing was changed:\n  `
      + inexact.slice(0, 10).join('\n  ') + (inexact.length > 10 ? `\n  ... and ${inexact.length - 10} more` : ''));
  }
  const users = [...byUser].map(([userId, sums]) => ({ userId, ...sums })).sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  const report = {
    users,
    oldNanoUsd: users.reduce((sum, user) => sum + user.oldNanoUsd, 0),
    newNanoUsd: users.reduce((sum, user) => sum + user.newNanoUsd, 0),
    seriesHours,
    changedSeriesHours: changes.length,
    applied: false,
  };
  if (options.dryRun || changes.length === 0) return report;
  applyChanges(db, changes, fromHour, toHour);
  return { ...report, applied: true };
}

function storedRows(db: DatabaseSync, fromHour: number, toHour: number): StoredRow[] {
  const rows = db.prepare(`SELECT h.hour, h.series_id, u.user_id, s.provider, s.model, s.search_tier, s.input_tier,
      h.requests, h.unpriced_requests, h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens,
      h.reasoning_tokens, h.cache_write_1h_tokens, h.usage_requests, h.cost_nano_usd, h.first_seen_ms, h.last_seen_ms
    FROM usage_hourly h JOIN series s ON s.id = h.series_id JOIN users u ON u.id = h.user_ref
    WHERE h.hour >= ? AND h.hour < ? ORDER BY h.hour, h.series_id`).all(fromHour, toHour) as Array<Record<string, number | string>>;
  return rows.map((row) => ({
    hour: Number(row.hour),
    seriesId: Number(row.series_id),
    userId: String(row.user_id),
    provider: String(row.provider),
    model: String(row.model),
    requests: Number(row.requests),
    unpriced: Number(row.unpriced_requests),
    cost: Number(row.cost_nano_usd),
    firstSeenMs: Number(row.first_seen_ms),
    lastSeenMs: Number(row.last_seen_ms),
    usage: {
      input: Number(row.input_tokens),
      output: Number(row.output_tokens),
      cacheRead: Number(row.cache_read_tokens),
      cacheWrite: Number(row.cache_write_tokens),
      cacheWrite1h: Number(row.cache_write_1h_tokens),
      reasoning: Number(row.reasoning_tokens),
      usageRequests: Number(row.usage_requests),
      inputTier: Number(row.input_tier),
      searchContextSize: searchTierOf(String(row.search_tier)),
    },
  }));
}

function searchTierOf(text: string): SearchContextSize | undefined {
  return (SEARCH_CONTEXT_SIZES as readonly string[]).includes(text) ? (text as SearchContextSize) : undefined;
}

/**
 * The new hourly figures, then the daily sums of the days the range touches recomputed from the hourly rows (a day
 * cut by the range keeps its other hours' figures), then the users' daily sums from those: one transaction, so a
 * reader sees the old figures or the new ones, never a mix.
 */
function applyChanges(db: DatabaseSync, changes: ReadonlyArray<{ hour: number; seriesId: number; cost: number; unpriced: number }>,
  fromHour: number, toHour: number): void {
  const firstDay = Math.floor(fromHour / HOURS_PER_DAY);
  const lastDay = Math.floor((toHour - 1) / HOURS_PER_DAY);
  db.exec('BEGIN IMMEDIATE');
  try {
    const update = db.prepare('UPDATE usage_hourly SET cost_nano_usd = ?, unpriced_requests = ? WHERE hour = ? AND series_id = ?');
    for (const change of changes) update.run(change.cost, change.unpriced, change.hour, change.seriesId);
    db.prepare(`UPDATE usage_daily SET cost_nano_usd = sums.cost, unpriced_requests = sums.unpriced
      FROM (SELECT hour / ${HOURS_PER_DAY} AS day, series_id, TOTAL(cost_nano_usd) AS cost, TOTAL(unpriced_requests) AS unpriced
        FROM usage_hourly WHERE hour >= ? AND hour < ? GROUP BY day, series_id) AS sums
      WHERE usage_daily.day = sums.day AND usage_daily.series_id = sums.series_id`)
      .run(firstDay * HOURS_PER_DAY, (lastDay + 1) * HOURS_PER_DAY);
    db.prepare(`UPDATE user_daily SET cost_nano_usd = sums.cost, unpriced_requests = sums.unpriced
      FROM (SELECT day, user_ref, TOTAL(cost_nano_usd) AS cost, TOTAL(unpriced_requests) AS unpriced
        FROM usage_daily WHERE day >= ? AND day <= ? GROUP BY day, user_ref) AS sums
      WHERE user_daily.day = sums.day AND user_daily.user_ref = sums.user_ref`)
      .run(firstDay, lastDay);
    db.exec('COMMIT');
  } catch (error) {
    try { if (db.isTransaction) db.exec('ROLLBACK'); } catch { /* the rollback's failure adds nothing */ }
    throw new RepriceError(`the re-price failed and was rolled back, nothing changed: ${(error as Error).message}`);
  }
}

/** Nano-dollars as exact USD text (integers only: no float rounding in what billing reads). */
export function usdText(nano: number): string {
  const sign = nano < 0 ? '-' : '';
  const abs = Math.abs(nano);
  return `${sign}${Math.floor(abs / 1e9)}.${String(abs % 1e9).padStart(9, '0')}`;
}

/** A user id as one field of a line: ids come from spans, so tabs, line feeds and terminal escapes are escaped. */
function printable(userId: string): string {
  return JSON.stringify(userId).slice(1, -1);
}

/** The report as the command prints it: one line per user (tab-separated), then the total. */
export function reportText(report: RepriceReport, fromMs: number, toMs: number, dryRun: boolean): string {
  const lines = [
    `re-pricing ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()}`
      + (dryRun ? ' (dry run: nothing changed)' : report.applied ? ' (applied)' : ' (nothing to change)'),
    'user\told_usd\tnew_usd\tchange_usd',
    ...report.users.map((user) => `${printable(user.userId)}\t${usdText(user.oldNanoUsd)}\t${usdText(user.newNanoUsd)}\t${usdText(user.newNanoUsd - user.oldNanoUsd)}`),
    `total\t${usdText(report.oldNanoUsd)}\t${usdText(report.newNanoUsd)}\t${usdText(report.newNanoUsd - report.oldNanoUsd)}`,
    `${report.changedSeriesHours} of ${report.seriesHours} series-hours ${dryRun ? 'would change' : report.applied ? 'changed' : 'change'}`,
  ];
  return `${lines.join('\n')}\n`;
}
