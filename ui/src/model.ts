// The page's pure logic (ranges, query strings, number formats, the CSV of a table): no DOM, so Node's tests
// import it as it is.

export type RangeKind = 'this-month' | 'last-month' | '7d' | '30d' | 'custom';
export const RANGE_LABELS: ReadonlyArray<readonly [RangeKind, string]> = [
  ['this-month', 'This month'], ['last-month', 'Last month'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['custom', 'Custom'],
];
const MS_PER_DAY = 86_400_000;

export interface RangeChoice {
  readonly kind: RangeKind;
  /** Custom ranges: whole UTC days, inclusive. */
  readonly from?: string;
  readonly to?: string;
}

/** A range as the users API's parameters, and its first and last UTC day (the API counts whole UTC days). */
export interface ResolvedRange {
  readonly params: Readonly<Record<string, string>>;
  readonly firstDay: string;
  readonly lastDay: string;
  /** Months of plan revenue the range stands for: 1 for a calendar month, else days x 12 / 365.25. */
  readonly months: number;
}

export function dayText(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function monthText(year: number, month: number): string {
  const date = new Date(Date.UTC(year, month, 1));
  return date.toISOString().slice(0, 7);
}

export function resolveRange(choice: RangeChoice, nowMs: number): ResolvedRange {
  const now = new Date(nowMs);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const lastDays = (days: number): ResolvedRange => {
    const firstDay = dayText(today - (days - 1) * MS_PER_DAY);
    return { params: { from: firstDay, to: dayText(today) }, firstDay, lastDay: dayText(today), months: (days * 12) / 365.25 };
  };
  const month = (offset: number): ResolvedRange => {
    const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1);
    const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset + 1, 1) - MS_PER_DAY;
    return { params: { month: monthText(now.getUTCFullYear(), now.getUTCMonth() + offset) }, firstDay: dayText(start), lastDay: dayText(end), months: 1 };
  };
  switch (choice.kind) {
    case 'this-month': return month(0);
    case 'last-month': return month(-1);
    case '7d': return lastDays(7);
    case '30d': return lastDays(30);
    case 'custom': {
      const from = validDay(choice.from) ?? dayText(today - 29 * MS_PER_DAY);
      const to = validDay(choice.to) ?? dayText(today);
      const [first, last] = from <= to ? [from, to] : [to, from];
      const days = Math.round((Date.parse(last) - Date.parse(first)) / MS_PER_DAY) + 1;
      return { params: { from: first, to: last }, firstDay: first, lastDay: last, months: (days * 12) / 365.25 };
    }
  }
}

function validDay(text: string | undefined): string | undefined {
  if (text === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return undefined;
  const ms = Date.parse(`${text}T00:00:00Z`);
  return Number.isNaN(ms) || dayText(ms) !== text ? undefined : text;
}

/** Every UTC day from first to last, inclusive (a chart's x axis, days without calls included). */
export function daysBetween(firstDay: string, lastDay: string): string[] {
  const days: string[] = [];
  for (let ms = Date.parse(`${firstDay}T00:00:00Z`); ms <= Date.parse(`${lastDay}T00:00:00Z`) && days.length < 3660; ms += MS_PER_DAY) {
    days.push(dayText(ms));
  }
  return days;
}

export function queryString(params: Readonly<Record<string, string | number | undefined>>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** A user's page: the id percent-encoded as one path segment, whatever it holds (slashes, spaces, ...). */
export function userPath(userId: string): string {
  return `/users/${encodeURIComponent(userId)}`;
}

export type Format = 'count' | 'decimal' | 'usd' | 'percent' | 'ms' | 'date' | 'duration' | 'text';

/** A number as the browser's locale writes it (the exact figure goes in the cell's title). */
export function formatValue(value: unknown, format: Format, locale?: string): string {
  if (value === null || value === undefined) return '—';
  if (format === 'text') return String(value);
  if (format === 'date') return new Date(String(value)).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC';
  const number = Number(value);
  switch (format) {
    case 'count': return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(number);
    case 'decimal': return new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }).format(number);
    case 'usd': return new Intl.NumberFormat(locale, {
      style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: Math.abs(number) < 1 && number !== 0 ? 4 : 2,
    }).format(number);
    case 'percent': return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(number);
    case 'ms': return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(number)} ms`;
    case 'duration': return durationText(number);
  }
}

/** The exact figure behind a formatted one. */
export function exactValue(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

export function durationText(ms: number): string {
  const days = Math.floor(ms / MS_PER_DAY);
  if (days >= 1) return `${days} d`;
  const hours = Math.floor(ms / 3_600_000);
  if (hours >= 1) return `${hours} h`;
  return `${Math.max(0, Math.floor(ms / 60_000))} min`;
}

const FORMULA_START = /^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/;

/**
 * One CSV field, as the users API writes its own CSV (RFC 4180; a text a spreadsheet would run as a formula gets a
 * leading single quote); numbers exactly as the API gave them.
 */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvText(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

export interface PlanLine {
  readonly plan: string;
  readonly users: number;
  readonly priceUsd: number | undefined;
  readonly revenueUsd: number | undefined;
  readonly costUsd: number;
  readonly marginUsd: number | undefined;
}

/** Revenue (users x monthly price x months), LLM cost and margin per plan; plans without a price have no revenue. */
export function planLines(
  byPlan: ReadonlyArray<{ value: string; users: number; costUsd: number }>, prices: Readonly<Record<string, number>>, months: number,
): PlanLine[] {
  return byPlan.map(({ value, users, costUsd }) => {
    const priceUsd = Object.hasOwn(prices, value) ? prices[value] : undefined;
    const revenueUsd = priceUsd === undefined ? undefined : round2(users * priceUsd * months);
    return { plan: value, users, priceUsd, revenueUsd, costUsd, marginUsd: revenueUsd === undefined ? undefined : revenueUsd - costUsd };
  }).sort((a, b) => (a.marginUsd ?? Infinity) - (b.marginUsd ?? Infinity) || a.plan.localeCompare(b.plan));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
