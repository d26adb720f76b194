/**
 * Our own corrections to the bundled catalogue, for where it lags the providers' published prices. Each entry cites
 * the provider's page and the date its figures were checked there, and records the catalogue figures it replaces:
 * test/pricing/corrections.test.ts fails, naming the entry, as soon as an upgraded catalogue either has the
 * correction's figures (the entry can go) or no longer has the ones it replaced (the entry must be checked again).
 * Look for a newer `@pydantic/genai-prices` before adding one (docs/pricing.md, "Corrections").
 */
import type { ModelPrice } from '@pydantic/genai-prices';
import type { CatalogueModel } from './catalogue.ts';
import type { SearchContextRequestFees } from './rate-card.ts';

export interface CatalogueCorrection {
  /** The catalogue's provider and model ids, as the catalogue resolves them (`claude-sonnet-4-0`, not a dated id). */
  readonly provider: string;
  readonly model: string;
  /** Price keys set over every price period of the model, in the catalogue's own units and shapes. */
  readonly prices?: ModelPrice;
  /** A request fee by the call's search tier, in place of the catalogue's one fee. */
  readonly searchContextRequestFees?: SearchContextRequestFees;
  /** The catalogue's figures this entry was written against (every period must still have them). */
  readonly replaces: ModelPrice;
  /** The provider's own pricing page(s) and the day the figures were read there. */
  readonly source: string;
  readonly checked: string;
  readonly why: string;
}

const tiered = (base: number, above200k: number) => ({ base, tiers: [{ start: 200_000, price: above200k }] });

export const CATALOGUE_CORRECTIONS: readonly CatalogueCorrection[] = Object.freeze([
  {
    provider: 'anthropic',
    model: 'claude-sonnet-4-0',
    // Long-context rates apply to the whole call once its input (cache reads and writes included) exceeds 200K:
    // $6 input, $22.50 output, and the cache multipliers on the new input rate (0.1x read, 1.25x / 2x write).
    prices: {
      input_mtok: tiered(3, 6),
      cache_read_mtok: tiered(0.3, 0.6),
      cache_write_mtok: tiered(3.75, 7.5),
      cache_write_1h_mtok: tiered(6, 12),
      output_mtok: tiered(15, 22.5),
    },
    replaces: { input_mtok: 3, cache_read_mtok: 0.3, cache_write_mtok: 3.75, cache_write_1h_mtok: 6, output_mtok: 15 },
    source: 'https://platform.claude.com/docs/en/about-claude/pricing (Model pricing; Long context pricing)',
    checked: '2026-12-06',
    why: 'the catalogue has no long-context tier for Claude Sonnet 4 (it has one for 4.5): a call of 250K input was priced 43% low',
  },
  {
    provider: 'perplexity',
    model: 'sonar',
    searchContextRequestFees: { usdPerThousandRequests: { low: 5, medium: 8, high: 12 }, assumed: 'low' },
    replaces: { requests_kcount: 12 },
    source: 'https://perplexity.mintlify.app/guides/models/sonar (Perplexity docs; Price per 1,000 Requests: High $12, Medium $8, Low $5); '
      + 'https://perplexity.mintlify.app/guides/search-context-size-guide ("Default search_context_size is low")',
    checked: '2026-12-06',
    why: 'the catalogue takes every request at the high tier ($12 per 1,000)',
  },
  {
    provider: 'perplexity',
    model: 'sonar-pro',
    searchContextRequestFees: { usdPerThousandRequests: { low: 6, medium: 10, high: 14 }, assumed: 'low' },
    replaces: { requests_kcount: 14 },
    source: 'https://perplexity.mintlify.app/guides/models/sonar-pro (Perplexity docs; Price per 1,000 Requests: High $14, Medium $10, Low $6); '
      + 'https://perplexity.mintlify.app/guides/search-context-size-guide ("Default search_context_size is low")',
    checked: '2026-12-06',
    why: 'the catalogue takes every request at the high tier ($14 per 1,000)',
  },
] satisfies CatalogueCorrection[]);

export interface CorrectedModel {
  readonly prices: CatalogueModel['prices'];
  readonly searchContextRequestFees: SearchContextRequestFees | undefined;
}

/** The model's prices with our correction for it applied, if there is one. */
export function correctedPrices(found: CatalogueModel, corrections: readonly CatalogueCorrection[] = CATALOGUE_CORRECTIONS): CorrectedModel {
  const correction = correctionFor(found.providerId, found.modelId, corrections);
  if (correction === undefined) return { prices: found.prices, searchContextRequestFees: undefined };
  const over = (price: ModelPrice): ModelPrice => ({ ...price, ...correction.prices });
  const prices = Array.isArray(found.prices)
    ? found.prices.map((period) => ({ ...period, prices: over(period.prices) }))
    : over(found.prices);
  return { prices, searchContextRequestFees: correction.searchContextRequestFees };
}

export function correctionFor(
  providerId: string,
  modelId: string,
  corrections: readonly CatalogueCorrection[] = CATALOGUE_CORRECTIONS,
): CatalogueCorrection | undefined {
  return corrections.find((correction) => correction.provider === providerId && correction.model === modelId);
}
