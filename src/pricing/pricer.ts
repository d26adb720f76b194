import type { UsageRecord } from '../sources/usage-record.ts';
import { catalogueModelId, findCatalogueModel } from './catalogue.ts';
import { correctedPrices } from './corrections.ts';
import { compileOverrideMatchers, type OverrideMatcher, type PriceOverride } from './overrides.ts';
import type { PricedUsage } from './priced-usage.ts';
import { compileCatalogueRates, compileFlatRates, costNanoUsd, scaleRates, type RateCard } from './rate-card.ts';

export interface PricerOptions {
  /** Checked in order before the catalogue; the first that matches wins. */
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
  readonly card: RateCard | undefined;
  reported: boolean;
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
    const resolved: Resolved = { card: rateCardFor(matchers, provider, model), reported: false };
    byModel.set(model, resolved);
    remembered++;
    return resolved;
  };

  return (record) => {
    const resolved = resolve(record.provider, record.model);
    if (resolved.card === undefined) {
      if (!resolved.reported) {
        resolved.reported = true;
        onUnpriced?.(record.provider, record.model);
      }
      return { ...record, costNanoUsd: 0, priced: false };
    }
    const cost = record.hasUsage ? costNanoUsd(resolved.card, record.tokens, record.endTimeMs, record.searchContextSize) : 0;
    return { ...record, costNanoUsd: cost, priced: true };
  };
}

/** The rates for a (provider, model): the first matching override, else the catalogue's; undefined when none. */
export function rateCardFor(matchers: readonly OverrideMatcher[], provider: string, model: string): RateCard | undefined {
  // An override names a model as the operator knows it: the id as sent, or the bare id the catalogue uses
  // (`models/gemini-2.5-pro` and Bedrock ARNs reduced), whichever an entry matches first.
  const bareModel = catalogueModelId(model);
  const override = matchers.find((matcher) => matcher.matches(provider, model) || matcher.matches(provider, bareModel))?.override;
  if (override?.usdPerMillionTokens !== undefined) return compileFlatRates(override.usdPerMillionTokens);
  const catalogue = catalogueRates(provider, model);
  if (override?.catalogueMultiplier !== undefined) {
    return catalogue === undefined ? undefined : scaleRates(catalogue, override.catalogueMultiplier);
  }
  return catalogue;
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
