/** The pricing stage: usage record -> priced usage (integer nano-dollars). See docs/pricing.md. */
export { cardAt, createPriceLookup, createPricer, MAX_REMEMBERED_MODELS, type Pricer, type PricerOptions, type PriceChoice } from './pricer.ts';
export { loadPriceOverrides, parsePriceOverrides, PriceOverridesError, type OverrideRates, type PriceOverride } from './overrides.ts';
export { CATALOGUE_PROVIDER_BY_CONVENTION_NAME, catalogueProviderFor } from './provider-map.ts';
export { catalogueCostUsd, findCatalogueModel, toCatalogueUsage, type CatalogueModel } from './catalogue.ts';
export { NANO_USD_PER_USD, type PricedUsage } from './priced-usage.ts';
export { CATALOGUE_CORRECTIONS, correctedPrices, correctionFor, type CatalogueCorrection } from './corrections.ts';
export { INPUT_TIER_BOUNDS, inputTierOf } from './long-context.ts';
