/**
 * A model's prices compiled once into integer-friendly rates (nano-dollars per token), so pricing a record is a few
 * multiplications instead of the catalogue's general unit algebra. The compiled card reproduces the catalogue's
 * rules for the usage we carry (test/pricing/rate-card.test.ts holds every catalogue model to `calcPrice`):
 * - a cache read or write with no price of its own is charged as input;
 * - reasoning with no price of its own is charged as output;
 * - long-context tiers are chosen by the TOTAL input (cache included): a tier applies when it is exceeded;
 * - of dated or time-of-day variants, the last one that applies at the call's time wins, else the first;
 * - a one-hour cache write with no price of its own is charged as any cache write.
 */
import type { ModelInfo, ModelPrice } from '@pydantic/genai-prices';
import type { SearchContextSize, TokenBuckets } from '../sources/usage-record.ts';
import { tokenCount } from './catalogue.ts';

/** Nano-dollars per token (per request for `perRequest`). */
export interface TokenRates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  /** The part of cache writes kept for an hour (Anthropic: 2x input against 1.25x for five minutes). */
  readonly cacheWrite1h: number;
  readonly reasoning: number;
  /** Per request when the call does not say which search tier it used (or the model has no tiers). */
  readonly perRequest: number;
  /** Per request by the search tier the call used (Perplexity's search_context_size), where the fee depends on it. */
  readonly perRequestBySearchContext?: Readonly<Record<SearchContextSize, number>> | undefined;
}

/** A request fee that depends on the call's search tier, in USD per thousand requests (see corrections.ts). */
export interface SearchContextRequestFees {
  readonly usdPerThousandRequests: Readonly<Record<SearchContextSize, number>>;
  /** The tier a call that does not say is taken to have used: the provider's documented default. */
  readonly assumed: SearchContextSize;
}

export interface RateTier {
  /** The tier applies when the call's total input tokens exceed this (-1 for the base rates). */
  readonly aboveInputTokens: number;
  readonly rates: TokenRates;
}

export type PriceWindow =
  | { readonly kind: 'always' }
  | { readonly kind: 'since'; readonly fromMs: number }
  /** Seconds after UTC midnight; an end before the start wraps past midnight. */
  | { readonly kind: 'daily'; readonly startSecond: number; readonly endSecond: number };

export interface RateVariant {
  readonly window: PriceWindow;
  /** Ascending by aboveInputTokens; the first is the base. */
  readonly tiers: readonly RateTier[];
}

export interface RateCard {
  readonly variants: readonly RateVariant[];
}

/** USD per million tokens -> nano-dollars per token. */
const NANO_PER_TOKEN_PER_USD_PER_MTOK = 1_000;
/** USD per thousand requests -> nano-dollars per request. */
const NANO_PER_REQUEST_PER_USD_PER_KREQUEST = 1_000_000;
const SECONDS_PER_DAY = 86_400;

/** The price keys whose units our usage records can fill; any other key prices usage we never report. */
const TOKEN_PRICE_KEYS = [
  'input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok', 'cache_write_1h_mtok', 'output_reasoning_mtok', 'requests_kcount',
];

/**
 * Compiles a catalogue model's prices. Undefined when it is billed only by units our records never carry (audio
 * hours, pages): priced from tokens it would come out silently free. A model listed with no prices at all is free
 * on purpose (`:free` tiers, moderation) and compiles to zero rates.
 */
export function compileCatalogueRates(prices: ModelInfo['prices'], requestFees?: SearchContextRequestFees): RateCard | undefined {
  const periods = Array.isArray(prices) ? prices.map((variant) => variant.prices) : [prices];
  const listsSomePrice = periods.some((price) => Object.values(price).some((value) => value !== undefined));
  const listsTokenPrice = periods.some((price) => TOKEN_PRICE_KEYS.some((key) => price[key] !== undefined));
  if (listsSomePrice && !listsTokenPrice) return undefined;
  const variants = Array.isArray(prices)
    ? prices.map((variant) => compileVariant(variant.prices, windowOf(variant.constraint)))
    : [compileVariant(prices, { kind: 'always' })];
  return requestFees === undefined ? { variants } : withSearchContextFees({ variants }, requestFees);
}

/** Every tier of every variant takes its request fee from the call's search tier instead of one flat fee. */
export function withSearchContextFees(card: RateCard, fees: SearchContextRequestFees): RateCard {
  const nano = (usd: number) => usd * NANO_PER_REQUEST_PER_USD_PER_KREQUEST;
  const bySize = Object.freeze({
    low: nano(fees.usdPerThousandRequests.low),
    medium: nano(fees.usdPerThousandRequests.medium),
    high: nano(fees.usdPerThousandRequests.high),
  });
  return mapRates(card, (rates) => ({ ...rates, perRequest: bySize[fees.assumed], perRequestBySearchContext: bySize }));
}

/** A flat card from an operator's prices in USD per million tokens (cache prices default to the input price). */
export function compileFlatRates(usdPerMillionTokens: {
  readonly input: number;
  readonly output: number;
  readonly cacheRead?: number | undefined;
  readonly cacheWrite?: number | undefined;
}): RateCard {
  const input = usdPerMillionTokens.input * NANO_PER_TOKEN_PER_USD_PER_MTOK;
  const output = usdPerMillionTokens.output * NANO_PER_TOKEN_PER_USD_PER_MTOK;
  const cacheWrite = usdPerMillionTokens.cacheWrite === undefined ? input : usdPerMillionTokens.cacheWrite * NANO_PER_TOKEN_PER_USD_PER_MTOK;
  const rates: TokenRates = {
    input,
    output,
    cacheRead: usdPerMillionTokens.cacheRead === undefined ? input : usdPerMillionTokens.cacheRead * NANO_PER_TOKEN_PER_USD_PER_MTOK,
    cacheWrite,
    cacheWrite1h: cacheWrite,
    reasoning: output,
    perRequest: 0,
  };
  return { variants: [{ window: { kind: 'always' }, tiers: [{ aboveInputTokens: -1, rates }] }] };
}

/** Every rate of a card times a factor (a negotiated discount off the list price). */
export function scaleRates(card: RateCard, factor: number): RateCard {
  return mapRates(card, (rates) => ({
    input: rates.input * factor,
    output: rates.output * factor,
    cacheRead: rates.cacheRead * factor,
    cacheWrite: rates.cacheWrite * factor,
    cacheWrite1h: rates.cacheWrite1h * factor,
    reasoning: rates.reasoning * factor,
    perRequest: rates.perRequest * factor,
    perRequestBySearchContext: rates.perRequestBySearchContext === undefined ? undefined : {
      low: rates.perRequestBySearchContext.low * factor,
      medium: rates.perRequestBySearchContext.medium * factor,
      high: rates.perRequestBySearchContext.high * factor,
    },
  }));
}

function mapRates(card: RateCard, map: (rates: TokenRates) => TokenRates): RateCard {
  return {
    variants: card.variants.map((variant) => ({
      window: variant.window,
      tiers: variant.tiers.map((tier) => ({ aboveInputTokens: tier.aboveInputTokens, rates: map(tier.rates) })),
    })),
  };
}

/**
 * The cost of one call in nano-dollars: the sum over the buckets is rounded once, so no per-bucket rounding drifts.
 * `atMs` (the call's end) picks among dated and time-of-day variants; `searchContextSize` (when the call says) picks
 * a request fee that depends on it.
 */
export function costNanoUsd(card: RateCard, tokens: TokenBuckets, atMs: number, searchContextSize?: SearchContextSize): number {
  const variants = card.variants;
  const variant = variants.length === 1 ? variants[0]! : variantAt(variants, atMs);
  const input = tokenCount(tokens.input);
  const cacheRead = tokenCount(tokens.cacheRead);
  const cacheWrite = tokenCount(tokens.cacheWrite);
  const cacheWrite1h = Math.min(tokenCount(tokens.cacheWrite1h ?? 0), cacheWrite);
  const output = tokenCount(tokens.output);
  const reasoning = Math.min(tokenCount(tokens.reasoning), output);
  const rates = tierFor(variant.tiers, input + cacheRead + cacheWrite);
  const perRequest = searchContextSize === undefined ? rates.perRequest : (rates.perRequestBySearchContext?.[searchContextSize] ?? rates.perRequest);
  const nano =
    input * rates.input +
    cacheRead * rates.cacheRead +
    (cacheWrite - cacheWrite1h) * rates.cacheWrite +
    cacheWrite1h * rates.cacheWrite1h +
    (output - reasoning) * rates.output +
    reasoning * rates.reasoning +
    perRequest;
  return Math.round(nano);
}

function tierFor(tiers: readonly RateTier[], totalInput: number): TokenRates {
  let chosen = tiers[0]!;
  for (let index = 1; index < tiers.length; index++) {
    const tier = tiers[index]!;
    if (totalInput > tier.aboveInputTokens) chosen = tier;
  }
  return chosen.rates;
}

/** The catalogue's rule: the last variant whose window holds the time, else the first. */
export function variantAt(variants: readonly RateVariant[], atMs: number): RateVariant {
  const at = Number.isFinite(atMs) && atMs > 0 ? atMs : Date.now();
  for (let index = variants.length - 1; index >= 0; index--) {
    const variant = variants[index]!;
    if (windowHolds(variant.window, at)) return variant;
  }
  return variants[0]!;
}

function windowHolds(window: PriceWindow, atMs: number): boolean {
  switch (window.kind) {
    case 'always':
      return true;
    case 'since':
      return atMs >= window.fromMs;
    case 'daily': {
      const second = (atMs / 1000) % SECONDS_PER_DAY;
      return window.endSecond < window.startSecond
        ? second >= window.startSecond || second < window.endSecond
        : second >= window.startSecond && second < window.endSecond;
    }
  }
}

function windowOf(constraint: unknown): PriceWindow {
  if (constraint === undefined) return { kind: 'always' };
  const { type, start_date: startDate, start_time: startTime, end_time: endTime } = constraint as Record<string, unknown>;
  if ((type === 'start_date' || type === undefined) && typeof startDate === 'string') {
    const fromMs = Date.parse(`${startDate}T00:00:00Z`);
    if (Number.isFinite(fromMs)) return { kind: 'since', fromMs };
  }
  if ((type === 'time_of_date' || type === undefined) && typeof startTime === 'string' && typeof endTime === 'string') {
    return { kind: 'daily', startSecond: utcSecondOfDay(startTime), endSecond: utcSecondOfDay(endTime) };
  }
  throw new Error(`unsupported price constraint ${JSON.stringify(constraint)}`);
}

/** `16:30:00Z`, `08:00:00.5+08:00` -> seconds after UTC midnight. */
export function utcSecondOfDay(time: string): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(time);
  if (!match) throw new Error(`unsupported time of day "${time}"`);
  const [, hours, minutes, seconds, fraction = '', zone = 'Z'] = match;
  const local = Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds) + Number(`0${fraction}`);
  const offset = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
  return (((local - offset) % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
}

function compileVariant(price: ModelPrice, window: PriceWindow): RateVariant {
  const thresholds = new Set<number>();
  for (const key of TOKEN_PRICE_KEYS) {
    const value = price[key];
    if (typeof value === 'object') for (const tier of value.tiers) thresholds.add(tier.start);
  }
  const tiers = [-1, ...[...thresholds].sort((a, b) => a - b)].map((aboveInputTokens) => ({
    aboveInputTokens,
    rates: ratesAbove(price, aboveInputTokens),
  }));
  return { window, tiers };
}

/** The rates for calls whose total input exceeds `aboveInputTokens` (and no higher threshold of this price). */
function ratesAbove(price: ModelPrice, aboveInputTokens: number): TokenRates {
  const usd = (key: string): number | undefined => {
    const value = price[key];
    if (value === undefined || typeof value === 'number') return value;
    let chosen = value.base;
    for (const tier of [...value.tiers].sort((a, b) => a.start - b.start)) {
      if (tier.start <= aboveInputTokens) chosen = tier.price;
    }
    return chosen;
  };
  const perToken = (key: string): number | undefined => {
    const value = usd(key);
    return value === undefined ? undefined : value * NANO_PER_TOKEN_PER_USD_PER_MTOK;
  };
  const input = perToken('input_mtok') ?? 0;
  const output = perToken('output_mtok') ?? 0;
  const cacheWrite = perToken('cache_write_mtok') ?? input;
  return {
    input,
    output,
    cacheRead: perToken('cache_read_mtok') ?? input,
    cacheWrite,
    cacheWrite1h: perToken('cache_write_1h_mtok') ?? cacheWrite,
    reasoning: perToken('output_reasoning_mtok') ?? output,
    perRequest: (usd('requests_kcount') ?? 0) * NANO_PER_REQUEST_PER_USD_PER_KREQUEST,
  };
}

/** Summed usage of one series-hour of the ledger, as re-pricing reads it (src/reprice/). */
export interface StoredUsage {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly cacheWrite1h: number;
  readonly reasoning: number;
  /** Calls that reported usage: each pays the request fee. */
  readonly usageRequests: number;
  /** The largest input bound every call of it exceeded (long-context.ts), which picks the tier. */
  readonly inputTier: number;
  readonly searchContextSize: SearchContextSize | undefined;
}

/**
 * What the calls summed in `usage` cost together at `atMs`, rounded once: the same rates as costNanoUsd gives each
 * call (their tier from the stored input tier, not from the summed input), so it differs from the sum of per-call
 * costs only by their rounding (under a nano-dollar per call, and none where rates are whole nano-dollars per token).
 */
export function costOfStoredUsage(card: RateCard, usage: StoredUsage, atMs: number): number {
  const variant = card.variants.length === 1 ? card.variants[0]! : variantAt(card.variants, atMs);
  // Any total input in (inputTier, next bound] picks the same tier of a card whose thresholds are bounds.
  const rates = tierFor(variant.tiers, usage.inputTier + 0.5);
  const perRequest = usage.searchContextSize === undefined
    ? rates.perRequest
    : (rates.perRequestBySearchContext?.[usage.searchContextSize] ?? rates.perRequest);
  const cacheWrite1h = Math.min(usage.cacheWrite1h, usage.cacheWrite);
  const reasoning = Math.min(usage.reasoning, usage.output);
  return Math.round(
    usage.input * rates.input +
    usage.cacheRead * rates.cacheRead +
    (usage.cacheWrite - cacheWrite1h) * rates.cacheWrite +
    cacheWrite1h * rates.cacheWrite1h +
    (usage.output - reasoning) * rates.output +
    reasoning * rates.reasoning +
    usage.usageRequests * perRequest,
  );
}

/** The long-context thresholds of a card (tiers above the base), across its price periods. */
export function tierThresholds(card: RateCard): number[] {
  return [...new Set(card.variants.flatMap((variant) => variant.tiers.slice(1).map((tier) => tier.aboveInputTokens)))];
}
