/**
 * A model's prices compiled once into integer-friendly rates (nano-dollars per token), so pricing a record is a few
 * multiplications instead of the catalogue's general unit algebra. The compiled card reproduces the catalogue's
 * rules for the usage we carry (test/pricing/rate-card.test.ts holds every catalogue model to `calcPrice`):
 * - a cache read or write with no price of its own is charged as input;
 * - reasoning with no price of its own is charged as output;
 * - long-context tiers are chosen by the TOTAL input (cache included): a tier applies when it is exceeded;
 * - of dated or time-of-day variants, the last one that applies at the call's time wins, else the first.
 */
import type { ModelInfo, ModelPrice } from '@pydantic/genai-prices';
import type { TokenBuckets } from '../sources/usage-record.ts';
import { tokenCount } from './catalogue.ts';

/** Nano-dollars per token (per request for `perRequest`). */
export interface TokenRates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly reasoning: number;
  readonly perRequest: number;
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
const TOKEN_PRICE_KEYS = ['input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok', 'output_reasoning_mtok', 'requests_kcount'];

/**
 * Compiles a catalogue model's prices. Undefined when it is billed only by units our records never carry (audio
 * hours, pages): priced from tokens it would come out silently free. A model listed with no prices at all is free
 * on purpose (`:free` tiers, moderation) and compiles to zero rates.
 */
export function compileCatalogueRates(prices: ModelInfo['prices']): RateCard | undefined {
  const periods = Array.isArray(prices) ? prices.map((variant) => variant.prices) : [prices];
  const listsSomePrice = periods.some((price) => Object.values(price).some((value) => value !== undefined));
  const listsTokenPrice = periods.some((price) => TOKEN_PRICE_KEYS.some((key) => price[key] !== undefined));
  if (listsSomePrice && !listsTokenPrice) return undefined;
  const variants = Array.isArray(prices)
    ? prices.map((variant) => compileVariant(variant.prices, windowOf(variant.constraint)))
    : [compileVariant(prices, { kind: 'always' })];
  return { variants };
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
  const rates: TokenRates = {
    input,
    output,
    cacheRead: usdPerMillionTokens.cacheRead === undefined ? input : usdPerMillionTokens.cacheRead * NANO_PER_TOKEN_PER_USD_PER_MTOK,
    cacheWrite: usdPerMillionTokens.cacheWrite === undefined ? input : usdPerMillionTokens.cacheWrite * NANO_PER_TOKEN_PER_USD_PER_MTOK,
    reasoning: output,
    perRequest: 0,
  };
  return { variants: [{ window: { kind: 'always' }, tiers: [{ aboveInputTokens: -1, rates }] }] };
}

/** Every rate of a card times a factor (a negotiated discount off the list price). */
export function scaleRates(card: RateCard, factor: number): RateCard {
  const scale = (rates: TokenRates): TokenRates => ({
    input: rates.input * factor,
    output: rates.output * factor,
    cacheRead: rates.cacheRead * factor,
    cacheWrite: rates.cacheWrite * factor,
    reasoning: rates.reasoning * factor,
    perRequest: rates.perRequest * factor,
  });
  return {
    variants: card.variants.map((variant) => ({
      window: variant.window,
      tiers: variant.tiers.map((tier) => ({ aboveInputTokens: tier.aboveInputTokens, rates: scale(tier.rates) })),
    })),
  };
}

/**
 * The cost of one call in nano-dollars: the sum over the buckets is rounded once, so no per-bucket rounding drifts.
 * `atMs` (the call's end) picks among dated and time-of-day variants.
 */
export function costNanoUsd(card: RateCard, tokens: TokenBuckets, atMs: number): number {
  const variants = card.variants;
  const variant = variants.length === 1 ? variants[0]! : variantAt(variants, atMs);
  const input = tokenCount(tokens.input);
  const cacheRead = tokenCount(tokens.cacheRead);
  const cacheWrite = tokenCount(tokens.cacheWrite);
  const output = tokenCount(tokens.output);
  const reasoning = Math.min(tokenCount(tokens.reasoning), output);
  const rates = tierFor(variant.tiers, input + cacheRead + cacheWrite);
  const nano =
    input * rates.input +
    cacheRead * rates.cacheRead +
    cacheWrite * rates.cacheWrite +
    (output - reasoning) * rates.output +
    reasoning * rates.reasoning +
    rates.perRequest;
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
  return {
    input,
    output,
    cacheRead: perToken('cache_read_mtok') ?? input,
    cacheWrite: perToken('cache_write_mtok') ?? input,
    reasoning: perToken('output_reasoning_mtok') ?? output,
    perRequest: (usd('requests_kcount') ?? 0) * NANO_PER_REQUEST_PER_USD_PER_KREQUEST,
  };
}
