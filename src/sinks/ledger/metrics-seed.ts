import type { UserSeriesSeed } from '../metrics/usage-metrics.ts';

/**
 * A user's seed for the metrics (their all-time totals per series) while it is being added up from the ledger's
 * parts: the folded tables and the calls not folded yet. Integers throughout (durations in whole microseconds).
 */
export interface SeedSums {
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly propertiesJson: string;
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costNanoUsd: number;
  durationMicros: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

/** What identifies one ledger series of a known user: the parts of a seed are matched on it. */
export function seedKey(provider: string, model: string, operation: string, isError: boolean, propertiesJson: string): string {
  return JSON.stringify([provider, model, operation, isError, propertiesJson]);
}

/**
 * What identifies one ledger series (the seed's key and its search and input tiers): which commits the folded
 * totals hold is known per ledger series, and several of them make one seed entry.
 */
export function foldKey(seedKeyText: string, searchTier: string, inputTier: number): string {
  return `${seedKeyText}\u0000${searchTier}\u0000${inputTier}`;
}

/** The entry for a series, created empty (first/last seen unset) when the seed has none yet. */
export function seedEntry(seeds: Map<string, SeedSums>, key: string, series: Pick<SeedSums, 'provider' | 'model' | 'operation' | 'propertiesJson'>): SeedSums {
  let sums = seeds.get(key);
  if (sums === undefined) {
    sums = {
      provider: series.provider, model: series.model, operation: series.operation, propertiesJson: series.propertiesJson,
      requests: 0, errors: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costNanoUsd: 0,
      durationMicros: 0, firstSeenMs: Infinity, lastSeenMs: -Infinity,
    };
    seeds.set(key, sums);
  }
  return sums;
}

export function seedOfSums(sums: SeedSums): UserSeriesSeed {
  return {
    provider: sums.provider, model: sums.model, operation: sums.operation, properties: parsedProperties(sums.propertiesJson),
    requests: sums.requests, errors: sums.errors, inputTokens: sums.inputTokens, outputTokens: sums.outputTokens,
    cacheReadTokens: sums.cacheReadTokens, cacheWriteTokens: sums.cacheWriteTokens, costNanoUsd: sums.costNanoUsd,
    durationSumSeconds: sums.durationMicros / 1e6, firstSeenMs: sums.firstSeenMs, lastSeenMs: sums.lastSeenMs,
  };
}

const MAX_PARSED_PROPERTY_SETS = 20_000;
const parsedPropertySets = new Map<string, Readonly<Record<string, string>>>();

/** The properties of a canonical JSON text; the same few sets recur in every seed, so they are parsed once. */
function parsedProperties(json: string): Readonly<Record<string, string>> {
  let properties = parsedPropertySets.get(json);
  if (properties === undefined) {
    if (parsedPropertySets.size >= MAX_PARSED_PROPERTY_SETS) parsedPropertySets.clear();
    properties = Object.freeze(JSON.parse(json) as Record<string, string>);
    parsedPropertySets.set(json, properties);
  }
  return properties;
}
