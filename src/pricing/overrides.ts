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
}

export class PriceOverridesError extends Error {
  override name = 'PriceOverridesError';
}

const ENTRY_FIELDS = ['provider', 'model', 'modelPrefix', 'modelRegex', 'usdPerMillionTokens', 'catalogueMultiplier', 'note'];
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
  const seen = new Map<string, number>();
  const overrides: PriceOverride[] = [];
  value.forEach((entry: unknown, index) => {
    const entryProblems = entryProblemsOf(entry);
    for (const problem of entryProblems) problems.push(`${source}: entry [${index}] ${problem}`);
    if (entryProblems.length > 0) return;
    const override = entry as PriceOverride;
    const key = JSON.stringify([
      override.provider?.toLowerCase(),
      override.model?.toLowerCase(),
      override.modelPrefix?.toLowerCase(),
      override.modelRegex,
    ]);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push(`${source}: entry [${index}] matches the same provider and models as entry [${earlier}], which always wins`);
      return;
    }
    seen.set(key, index);
    overrides.push(override);
  });
  if (problems.length > 0) throw new PriceOverridesError(problems.join('\n'));
  return overrides;
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
