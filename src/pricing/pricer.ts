import type { UsageRecord } from '../sources/usage-record.ts';
import { catalogueModelId, findCatalogueModel } from './catalogue.ts';
import { correctedPrices } from './corrections.ts';
import { compileOverrideMatchers, inForce, type OverrideMatcher, type PriceOverride } from './overrides.ts';
import type { PricedUsage } from './priced-usage.ts';
import { compileCatalogueRates, compileFlatRates, costNanoUsd, scaleRates, type RateCard } from './rate-card.ts';

export interface PricerOptions {
  /** Checked in order before the catalogue; the first that matches and is in force when the call ended wins. */
  readonly overrides: readonly PriceOverride[];
  /** Called once per (provider, model) that has no price, so that the caller can log it once. */
  readonly onUnpriced?: (provider: string, model: string) => void;
}

export type Pricer = (record: UsageRecord) => PricedUsage;

/**
 * Distinct (provider, model) pairs remembered at once. Ids come from spans, that is from outside: past this many the
 * memo starts afresh rather than grow without end (and a still-unpriced model may be reported again).
 */
export const MAX_REMEMBERED_MODELS = 10_000;

interface Resolved {
  readonly prices: PriceChoice;
  reported: boolean;
}

/**
 * A (provider, model)'s prices over time: the dated overrides that match it, in file order, then what applies when
 * none of them is in force (an undated override, else the catalogue). Undefined cards: no price.
 */
export interface PriceChoice {
  readonly dated: ReadonlyArray<{ readonly override: PriceOverride; readonly card: RateCard | undefined }>;
  readonly otherwise: RateCard | undefined;
}

/** The card in force at `atMs`: the first dated override in force then, else the undated price. */
export function cardAt(prices: PriceChoice, atMs: number): RateCard | undefined {
  for (const dated of prices.dated) if (inForce(dated.override, atMs)) return dated.card;
  return prices.otherwise;
}

/**
 * The prices of each (provider, model) at any time, memoised: what the pricer and the re-pricing command
 * (src/reprice/) both use, so that a re-priced hour gets what a call at that time would have got.
 */
export function createPriceLookup(overrides: readonly PriceOverride[]): (provider: string, model: string) => PriceChoice {
  const matchers = compileOverrideMatchers(overrides);
  const memo = new Map<string, PriceChoice>();
  return (provider, model) => {
    const key = JSON.stringify([provider, model]);
    let prices = memo.get(key);
    if (prices === undefined) {
      if (memo.size >= MAX_REMEMBERED_MODELS) memo.clear();
      prices = priceChoiceFor(matchers, provider, model);
      memo.set(key, prices);
    }
    return prices;
  };
}

/**
 * Prices usage records: overrides first, then the catalogue. Pure but for a memo of each (provider, model)'s
 * compiled rates, so a record costs a map lookup and a few multiplications.
 *
 * A record without usage (a stream without usage, a failed call) costs 0 but stays `priced` when the model has a
 * price: what it lacks is tokens, not a price, and the sinks already see `hasUsage`. Only a model with no price at
 * all is `priced: false`, which the metrics count as unpriced requests instead of calling them free.
 */
export function createPricer(options: PricerOptions): Pricer {
  const matchers = compileOverrideMatchers(options.overrides);
  const onUnpriced = options.onUnpriced;
  const memo = new Map<string, Map<string, Resolved>>();
  let remembered = 0;

  const resolve = (provider: string, model: string): Resolved => {
    const known = memo.get(provider)?.get(model);
    if (known !== undefined) return known;
    if (remembered >= MAX_REMEMBERED_MODELS) {
      memo.clear();
      remembered = 0;
    }
    let byModel = memo.get(provider);
    if (byModel === undefined) {
      byModel = new Map();
      memo.set(provider, byModel);
    }
    const resolved: Resolved = { prices: priceChoiceFor(matchers, provider, model), reported: false };
    byModel.set(model, resolved);
    remembered++;
    return resolved;
  };

  return (record) => {
    const resolved = resolve(record.provider, record.model);
    const { prices } = resolved;
    const card = prices.dated.length === 0 ? prices.otherwise : cardAt(prices, record.endTimeMs);
    if (card === undefined) {
      if (!resolved.reported) {
        resolved.reported = true;
        onUnpriced?.(record.provider, record.model);
      }
      return { ...record, costNanoUsd: 0, priced: false };
    }
    const cost = record.hasUsage ? costNanoUsd(card, record.tokens, record.endTimeMs, record.searchContextSize) : 0;
    return { ...record, costNanoUsd: cost, priced: true };
  };
}

/**
 * The prices for a (provider, model): the matching overrides in order up to the first undated one (which always
 * applies, so later ones never do), else the catalogue's rates when none is in force.
 */
export function priceChoiceFor(matchers: readonly OverrideMatcher[], provider: string, model: string): PriceChoice {
  // An override names a model as the operator knows it: the id as sent, or the bare id the catalogue uses
  // (`models/gemini-2.5-pro` and Bedrock ARNs reduced), whichever an entry matches first.
  const bareModel = catalogueModelId(model);
  const dated: Array<{ override: PriceOverride; card: RateCard | undefined }> = [];
  let catalogue: { card: RateCard | undefined } | undefined;
  const catalogueCard = () => (catalogue ??= { card: catalogueRates(provider, model) }).card;
  for (const matcher of matchers) {
    if (!matcher.matches(provider, model) && !matcher.matches(provider, bareModel)) continue;
    const override = matcher.override;
    const card = override.usdPerMillionTokens !== undefined
      ? compileFlatRates(override.usdPerMillionTokens)
      : scaledCatalogue(catalogueCard(), override.catalogueMultiplier!);
    if (override.fromMs === undefined && override.untilMs === undefined) return { dated, otherwise: card };
    dated.push({ override, card });
  }
  return { dated, otherwise: catalogueCard() };
}

function scaledCatalogue(card: RateCard | undefined, factor: number): RateCard | undefined {
  return card === undefined ? undefined : scaleRates(card, factor);
}

/** The catalogue's rates with our corrections (corrections.ts) applied where it lags the providers' prices. */
function catalogueRates(provider: string, model: string): RateCard | undefined {
  const found = findCatalogueModel(provider, model);
  if (found === undefined) return undefined;
  try {
    const corrected = correctedPrices(found);
    return compileCatalogueRates(corrected.prices, corrected.searchContextRequestFees);
  } catch {
    // A price shape this version cannot read (the catalogue's own tests keep the bundled data clear of them).
    return undefined;
  }
}
