/**
 * The operator's own prices (PRICES_FILE): fine-tuned and self-hosted models the catalogue cannot know, and
 * negotiated discounts off its list. The format is documented in docs/pricing.md; it is validated in full at
 * start-up so a typo stops the processor instead of quietly falling back to list prices.
 */
import { readFileSync } from 'node:fs';

/** Prices in USD per million tokens; cache prices default to the input price, as providers without caching bill. */
export interface OverrideRates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead?: number;
  readonly cacheWrite?: number;
}

/** One entry of the overrides file, validated. */
export interface PriceOverride {
  /** Conventions provider name (`openai`, `aws.bedrock`, ...); absent: any provider. */
  readonly provider?: string;
  /** At most one of these; none: every model (of the provider). Compared without regard to case. */
  readonly model?: string;
  readonly modelPrefix?: string;
  /** A JavaScript regular expression that must match the whole model id. */
  readonly modelRegex?: string;
  /** Exactly one of these two. */
  readonly usdPerMillionTokens?: OverrideRates;
  /** Catalogue price times this (0.8 = 20% off list); the model must be in the catalogue. */
  readonly catalogueMultiplier?: number;
  /** Free text for the operator (where the price comes from); ignored. */
  readonly note?: string;
  /** When the entry takes effect (inclusive) and stops (exclusive), as written: ISO dates or date-times with a zone. */
  readonly from?: string;
  readonly until?: string;
  /** `from` / `until` in ms since the epoch (set by validation); absent: no bound. */
  readonly fromMs?: number;
  readonly untilMs?: number;
}

export class PriceOverridesError extends Error {
  override name = 'PriceOverridesError';
}

const ENTRY_FIELDS = ['provider', 'model', 'modelPrefix', 'modelRegex', 'usdPerMillionTokens', 'catalogueMultiplier', 'from', 'until', 'note'];
const MS_PER_HOUR = 3_600_000;
const RATE_FIELDS = ['input', 'output', 'cacheRead', 'cacheWrite'];
const MODEL_MATCHERS = ['model', 'modelPrefix', 'modelRegex'] as const;

/** Reads and validates the overrides file; throws a PriceOverridesError naming the file, entry and field. */
export function loadPriceOverrides(path: string): PriceOverride[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PriceOverridesError(`price overrides file ${path}: cannot be read: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PriceOverridesError(`price overrides file ${path}: not valid JSON: ${(error as Error).message}`);
  }
  return parsePriceOverrides(value, `price overrides file ${path}`);
}

/** Validates parsed JSON; every problem is listed, each as `<source>: entry [i] field "x": what is wrong`. */
export function parsePriceOverrides(value: unknown, source: string): PriceOverride[] {
  if (!Array.isArray(value)) {
    throw new PriceOverridesError(`${source}: must be a JSON array of price entries, got ${describe(value)}`);
  }
  const problems: string[] = [];
  const seen = new Map<string, Array<{ index: number; fromMs: number; untilMs: number }>>();
  const overrides: PriceOverride[] = [];
  value.forEach((entry: unknown, index) => {
    const entryProblems = entryProblemsOf(entry);
    for (const problem of entryProblems) problems.push(`${source}: entry [${index}] ${problem}`);
    if (entryProblems.length > 0) return;
    const written = entry as PriceOverride;
    const fromMs = written.from === undefined ? undefined : effectiveTimeMs(written.from);
    const untilMs = written.until === undefined ? undefined : effectiveTimeMs(written.until);
    const override: PriceOverride = {
      ...written, ...(fromMs === undefined ? {} : { fromMs }), ...(untilMs === undefined ? {} : { untilMs }),
    };
    const key = JSON.stringify([
      override.provider?.toLowerCase(),
      override.model?.toLowerCase(),
      override.modelPrefix?.toLowerCase(),
      override.modelRegex,
    ]);
    // Entries with the same provider and model matcher are the same price over time: their periods may not overlap,
    // so that which price a call gets never depends on the order of the file.
    const period = { index, fromMs: fromMs ?? -Infinity, untilMs: untilMs ?? Infinity };
    const earlier = seen.get(key) ?? [];
    const overlapping = earlier.find((other) => other.fromMs < period.untilMs && period.fromMs < other.untilMs);
    if (overlapping !== undefined) {
      problems.push(`${source}: entry [${index}] matches the same provider and models as entry [${overlapping.index}] `
        + `and their periods overlap (${periodText(value[overlapping.index] as PriceOverride)} and ${periodText(written)}); `
        + 'give each a "from" / "until" so that at most one is in force at any time');
      return;
    }
    earlier.push(period);
    seen.set(key, earlier);
    overrides.push(override);
  });
  if (problems.length > 0) throw new PriceOverridesError(problems.join('\n'));
  return overrides;
}

function periodText(entry: PriceOverride): string {
  if (entry.from === undefined && entry.until === undefined) return 'always';
  return `${entry.from ?? 'ever'} to ${entry.until ?? 'ever'}`;
}

/**
 * `2026-11-01` (UTC midnight) or a date-time with a zone (`2026-11-01T09:00:00+01:00`, `...Z`); undefined for
 * anything else. A time without a zone is refused: read in the server's zone, the same file would mean different
 * instants on different machines.
 */
export function effectiveTimeMs(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hours, minutes, seconds, zone] = match;
  if (Number(month) < 1 || Number(month) > 12 || Number(day) < 1 || Number(day) > 31) return undefined;
  if (hours !== undefined && (Number(hours) > 23 || Number(minutes) > 59 || Number(seconds ?? 0) > 59)) return undefined;
  const ms = Date.parse(hours === undefined ? `${year}-${month}-${day}T00:00:00Z` : text);
  if (!Number.isFinite(ms)) return undefined;
  // Date.parse rolls 2026-02-30 over into March: a day the month does not have is refused.
  if (new Date(Date.UTC(Number(year), Number(month) - 1, Number(day))).getUTCDate() !== Number(day)) return undefined;
  return ms;
}

function entryProblemsOf(entry: unknown): string[] {
  if (!isPlainObject(entry)) return [`must be an object, got ${describe(entry)}`];
  const problems: string[] = [];
  for (const field of Object.keys(entry)) {
    if (!ENTRY_FIELDS.includes(field)) problems.push(`field "${field}": unknown field (known: ${ENTRY_FIELDS.join(', ')})`);
  }
  for (const field of ['provider', 'note', ...MODEL_MATCHERS]) {
    const fieldValue = entry[field];
    if (fieldValue !== undefined && (typeof fieldValue !== 'string' || fieldValue.trim() === '')) {
      problems.push(`field "${field}": must be a non-empty string, got ${describe(fieldValue)}`);
    }
  }
  const matchers = MODEL_MATCHERS.filter((field) => entry[field] !== undefined);
  if (matchers.length > 1) problems.push(`fields ${matchers.map((field) => `"${field}"`).join(', ')}: give at most one`);
  if (typeof entry.modelRegex === 'string') {
    try {
      new RegExp(entry.modelRegex);
    } catch (error) {
      problems.push(`field "modelRegex": not a valid regular expression: ${(error as Error).message}`);
    }
  }

  problems.push(...periodProblemsOf(entry));

  const hasRates = entry.usdPerMillionTokens !== undefined;
  const hasMultiplier = entry.catalogueMultiplier !== undefined;
  if (hasRates === hasMultiplier) {
    problems.push('fields "usdPerMillionTokens", "catalogueMultiplier": give exactly one');
  }
  if (hasRates) problems.push(...ratesProblemsOf(entry.usdPerMillionTokens));
  if (hasMultiplier && !isPrice(entry.catalogueMultiplier)) {
    problems.push(`field "catalogueMultiplier": must be a number >= 0, got ${describe(entry.catalogueMultiplier)}`);
  }
  return problems;
}

/**
 * `from` / `until` must be whole UTC hours: the ledger keeps calls by hour, and a price that changed inside an hour
 * could not be told apart when a stored range is re-priced (docs/pricing.md, "Prices that change").
 */
function periodProblemsOf(entry: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const times: Record<string, number> = {};
  for (const field of ['from', 'until']) {
    const text = entry[field];
    if (text === undefined) continue;
    const ms = typeof text === 'string' ? effectiveTimeMs(text) : undefined;
    if (ms === undefined) {
      problems.push(`field "${field}": must be an ISO date ("2026-11-01", UTC midnight) or a date-time with a zone `
        + `("2026-11-01T09:00:00Z", "2026-11-01T10:00:00+01:00"), got ${describe(text)}`);
    } else if (ms % MS_PER_HOUR !== 0) {
      problems.push(`field "${field}": must fall on a whole UTC hour (the ledger keeps calls by hour), got ${JSON.stringify(text)}`);
    } else {
      times[field] = ms;
    }
  }
  if (times.from !== undefined && times.until !== undefined && times.from >= times.until) {
    problems.push(`fields "from", "until": "from" must come before "until", got ${JSON.stringify(entry.from)} and ${JSON.stringify(entry.until)}`);
  }
  return problems;
}

function ratesProblemsOf(rates: unknown): string[] {
  if (!isPlainObject(rates)) {
    return [`field "usdPerMillionTokens": must be an object like {"input": 0.15, "output": 0.6}, got ${describe(rates)}`];
  }
  const problems: string[] = [];
  for (const field of Object.keys(rates)) {
    if (!RATE_FIELDS.includes(field)) {
      problems.push(`field "usdPerMillionTokens.${field}": unknown field (known: ${RATE_FIELDS.join(', ')})`);
    }
  }
  for (const field of RATE_FIELDS) {
    const rate = rates[field];
    const required = field === 'input' || field === 'output';
    if (rate === undefined && !required) continue;
    if (!isPrice(rate)) {
      problems.push(`field "usdPerMillionTokens.${field}": must be a number >= 0 (USD per million tokens), got ${describe(rate)}`);
    }
  }
  return problems;
}

/** A compiled entry: does it apply to this (provider, model)? Both sides compared in lower case. */
export interface OverrideMatcher {
  readonly override: PriceOverride;
  matches(provider: string, model: string): boolean;
}

/** Whether an override is in force at `atMs` (`from` inclusive, `until` exclusive; no bound: always). */
export function inForce(override: PriceOverride, atMs: number): boolean {
  return (override.fromMs === undefined || atMs >= override.fromMs) && (override.untilMs === undefined || atMs < override.untilMs);
}

export function compileOverrideMatchers(overrides: readonly PriceOverride[]): OverrideMatcher[] {
  return overrides.map((override) => {
    const provider = override.provider?.trim().toLowerCase();
    const matchesModel = modelTest(override);
    return {
      override,
      matches: (recordProvider, recordModel) =>
        (provider === undefined || provider === recordProvider.trim().toLowerCase()) && matchesModel(recordModel.trim().toLowerCase()),
    };
  });
}

function modelTest(override: PriceOverride): (model: string) => boolean {
  if (override.model !== undefined) {
    const exact = override.model.trim().toLowerCase();
    return (model) => model === exact;
  }
  if (override.modelPrefix !== undefined) {
    const prefix = override.modelPrefix.trim().toLowerCase();
    return (model) => model.startsWith(prefix);
  }
  if (override.modelRegex !== undefined) {
    const pattern = new RegExp(`^(?:${override.modelRegex})$`, 'i');
    return (model) => pattern.test(model);
  }
  return () => true;
}

function isPrice(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}
