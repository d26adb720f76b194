/**
 * The adapter over the maintained price catalogue, `@pydantic/genai-prices`. Only its bundled data is used: we never
 * call `updatePrices` (its one way to load other data), and the package itself has no network code, so pricing stays
 * offline and the same from one start to the next (see docs/pricing.md, "Offline").
 */
import { calcPrice, type ModelInfo, type Usage } from '@pydantic/genai-prices';
import type { TokenBuckets } from '../sources/usage-record.ts';
import { catalogueProviderFor } from './provider-map.ts';

/** A model the catalogue knows, with every price it has listed for it (dated and time-of-day variants included). */
export interface CatalogueModel {
  readonly providerId: string;
  readonly modelId: string;
  readonly prices: ModelInfo['prices'];
}

/**
 * Our disjoint buckets -> the catalogue's usage. The catalogue's `input_tokens` is the TOTAL input, cache reads and
 * writes included, and the cache counts are parts of it; reasoning is the part of output that was reasoning, and
 * one-hour writes the part of cache writes kept for an hour.
 */
export function toCatalogueUsage(tokens: TokenBuckets): Usage {
  const input = tokenCount(tokens.input);
  const cacheRead = tokenCount(tokens.cacheRead);
  const cacheWrite = tokenCount(tokens.cacheWrite);
  const output = tokenCount(tokens.output);
  const cacheWrite1h = Math.min(tokenCount(tokens.cacheWrite1h ?? 0), cacheWrite);
  return {
    input_tokens: input + cacheRead + cacheWrite,
    cache_read_tokens: cacheRead,
    cache_write_tokens: cacheWrite,
    ...(cacheWrite1h > 0 ? { cache_write_1h_tokens: cacheWrite1h } : {}),
    output_tokens: output,
    output_reasoning_tokens: Math.min(tokenCount(tokens.reasoning), output),
  };
}

/** A count from a span can be missing, negative or NaN; none of those may poison a cost. */
export function tokenCount(value: number): number {
  return value > 0 && Number.isFinite(value) ? value : 0;
}

/**
 * The model id the catalogue should see. Google's APIs answer with resource paths (`models/gemini-2.5-pro`,
 * `publishers/google/models/...`) and Bedrock accepts ARNs of foundation models and inference profiles; the
 * catalogue knows only the bare ids.
 */
export function catalogueModelId(model: string): string {
  return model
    .trim()
    .replace(/^(?:projects\/[^/]+\/locations\/[^/]+\/)?(?:publishers\/[^/]+\/)?models\//, '')
    .replace(/^arn:aws:bedrock:[^:]*:[^:]*:(?:foundation-model|inference-profile)\//, '');
}

/**
 * Finds a model under the catalogue provider that the conventions name maps to. When that provider does not list
 * it, or the name maps to none, the catalogue looks the id up alone: the conventions allow `gen_ai.provider.name` to
 * name the SDK's flavour rather than the upstream (an OpenAI client pointed at a proxy serving Claude).
 */
export function findCatalogueModel(provider: string, model: string): CatalogueModel | undefined {
  const modelId = catalogueModelId(model);
  if (modelId === '') return undefined;
  const providerId = catalogueProviderFor(provider);
  return (providerId === undefined ? undefined : lookUp(modelId, providerId)) ?? lookUp(modelId, undefined);
}

function lookUp(modelId: string, providerId: string | undefined): CatalogueModel | undefined {
  let result;
  try {
    // Zero usage: only the match is wanted here; rates are compiled from `model.prices` (see rate-card.ts).
    result = calcPrice({}, modelId, providerId === undefined ? {} : { providerId });
  } catch {
    return undefined;
  }
  if (result === null) return undefined;
  return { providerId: result.provider.id, modelId: result.model.id, prices: result.model.prices };
}

/**
 * The catalogue's own price of one call, in float USD, or undefined when it has none. The pricer does not call this
 * per record (it costs 3-10 µs); tests hold the pricer's compiled rates to it.
 */
export function catalogueCostUsd(tokens: TokenBuckets, provider: string, model: string, atMs: number): number | undefined {
  const found = findCatalogueModel(provider, model);
  if (found === undefined) return undefined;
  const result = calcPrice(toCatalogueUsage(tokens), catalogueModelId(model), {
    providerId: found.providerId,
    timestamp: new Date(atMs),
  });
  return result?.total_price;
}
