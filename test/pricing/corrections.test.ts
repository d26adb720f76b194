/**
 * Our corrections over the catalogue (src/pricing/corrections.ts): each figure below was checked on the provider's
 * own pricing page, cited at the test; and a check that tells when an upgraded catalogue makes an entry unnecessary.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { describe, it } from 'node:test';
import type { ModelPrice } from '@pydantic/genai-prices';
import { findCatalogueModel, type CatalogueModel } from '../../src/pricing/catalogue.ts';
import { CATALOGUE_CORRECTIONS, correctedPrices, type CatalogueCorrection } from '../../src/pricing/corrections.ts';
import { createPricer } from '../../src/pricing/pricer.ts';
import type { SearchContextSize, TokenBuckets } from '../../src/sources/usage-record.ts';
import { usageRecord } from './records.ts';

const price = createPricer({ overrides: [] });
const nano = (provider: string, model: string, tokens: Partial<TokenBuckets>, searchContextSize?: SearchContextSize) =>
  price(usageRecord(provider, model, tokens, searchContextSize === undefined ? {} : { searchContextSize })).costNanoUsd;

// Nano-dollars per token = USD per million tokens x 1,000.
describe('Claude Sonnet 4 above 200K input tokens', () => {
  // https://platform.claude.com/docs/en/about-claude/pricing: Claude Sonnet 4 is $3 input, $3.75 5-minute cache
  // writes, $6 1-hour writes, $0.30 cache hits, $15 output per MTok; past 200K input tokens (cache included), every
  // token of the call at $6 input / $22.50 output, the cache multipliers applying to the $6.
  it('prices a call of 250K input at $6 / $22.50 per million (the catalogue alone: $3 / $15)', () => {
    assert.equal(nano('anthropic', 'claude-sonnet-4-20250514', { input: 250_000, output: 2_000 }), 250_000 * 6_000 + 2_000 * 22_500);
    assert.equal(nano('anthropic', 'claude-sonnet-4-0', { input: 250_000, output: 2_000 }), 1_545_000_000);
  });

  it('keeps the base rates at 200K exactly, and counts cache reads and writes toward the threshold', () => {
    assert.equal(nano('anthropic', 'claude-sonnet-4-0', { input: 200_000, output: 1_000 }), 200_000 * 3_000 + 1_000 * 15_000);
    assert.equal(
      nano('anthropic', 'claude-sonnet-4-0', { input: 50_000, cacheRead: 100_000, cacheWrite: 60_000, cacheWrite1h: 20_000, output: 1_000 }),
      50_000 * 6_000 + 100_000 * 600 + 40_000 * 7_500 + 20_000 * 12_000 + 1_000 * 22_500,
    );
  });
});

describe('one-hour cache writes', () => {
  // https://platform.claude.com/docs/en/about-claude/pricing, Model pricing: 5m cache writes / 1h cache writes per
  // MTok: Claude Sonnet 4.5 $3.75 / $6; Claude Haiku 3.5 $1 / $1.6 (input $3 and $0.80, output $15 and $4).
  it('are priced at 2x input, the rest of the cache writes at 1.25x', () => {
    assert.equal(
      nano('anthropic', 'claude-sonnet-4-5', { input: 1_000, cacheWrite: 10_000, cacheWrite1h: 4_000, output: 100 }),
      1_000 * 3_000 + 6_000 * 3_750 + 4_000 * 6_000 + 100 * 15_000,
    );
    assert.equal(
      nano('anthropic', 'claude-3-5-haiku-20241022', { input: 1_000, cacheWrite: 10_000, cacheWrite1h: 10_000, output: 100 }),
      1_000 * 800 + 10_000 * 1_600 + 100 * 4_000,
    );
  });

  it('cost the same as five-minute writes where a model has no one-hour price, and never count more than were written', () => {
    assert.equal(
      nano('openai', 'gpt-4o', { input: 1_000, cacheWrite: 2_000, cacheWrite1h: 2_000 }),
      nano('openai', 'gpt-4o', { input: 1_000, cacheWrite: 2_000 }),
    );
    assert.equal(
      nano('anthropic', 'claude-sonnet-4-5', { cacheWrite: 1_000, cacheWrite1h: 5_000 }),
      nano('anthropic', 'claude-sonnet-4-5', { cacheWrite: 1_000, cacheWrite1h: 1_000 }),
    );
  });
});

describe("Perplexity's request fee", () => {
  // Perplexity's docs, Price per 1,000 Requests by search context size (High / Medium / Low):
  // https://perplexity.mintlify.app/guides/models/sonar: $12 / $8 / $5, tokens $1 / $1 per million;
  // https://perplexity.mintlify.app/guides/models/sonar-pro: $14 / $10 / $6, tokens $3 / $15 per million;
  // https://perplexity.mintlify.app/guides/search-context-size-guide: "Default search_context_size is low".
  const usage = { input: 1_000, output: 500 };
  const sonarTokens = 1_000 * 1_000 + 500 * 1_000;
  const sonarProTokens = 1_000 * 3_000 + 500 * 15_000;

  it('is the tier the call used', () => {
    assert.equal(nano('perplexity', 'sonar', usage, 'low'), sonarTokens + 5_000_000);
    assert.equal(nano('perplexity', 'sonar', usage, 'medium'), sonarTokens + 8_000_000);
    assert.equal(nano('perplexity', 'sonar', usage, 'high'), sonarTokens + 12_000_000);
    assert.equal(nano('perplexity', 'sonar-pro', usage, 'low'), sonarProTokens + 6_000_000);
    assert.equal(nano('perplexity', 'sonar-pro', usage, 'medium'), sonarProTokens + 10_000_000);
    assert.equal(nano('perplexity', 'sonar-pro', usage, 'high'), sonarProTokens + 14_000_000);
  });

  it("is Perplexity's default tier, low, when the call does not say", () => {
    assert.equal(nano('perplexity', 'sonar', usage), sonarTokens + 5_000_000);
    assert.equal(nano('perplexity', 'sonar-pro', usage), sonarProTokens + 6_000_000);
  });

  it('is still charged only with usage, and scaled by a catalogue multiplier like every other rate', () => {
    const record = usageRecord('perplexity', 'sonar', usage, { hasUsage: false, searchContextSize: 'high' });
    assert.deepEqual([price(record).costNanoUsd, price(record).priced], [0, true]);
    const halved = createPricer({ overrides: [{ provider: 'perplexity', catalogueMultiplier: 0.5 }] });
    assert.equal(halved(usageRecord('perplexity', 'sonar', usage, { searchContextSize: 'medium' })).costNanoUsd, (sonarTokens + 8_000_000) / 2);
  });
});

/**
 * Why an entry may have to go: undefined while the catalogue still has exactly the figures the entry replaces and
 * not yet the entry's own; otherwise a sentence naming the entry and what changed.
 */
function staleness(correction: CatalogueCorrection, index: number, found: CatalogueModel | undefined): string | undefined {
  const name = `correction [${index}] ${correction.provider}/${correction.model}`;
  if (found === undefined || found.providerId !== correction.provider || found.modelId !== correction.model) {
    return `${name}: the catalogue no longer has this model under this id; find what it became, or remove the entry`;
  }
  const periods: ModelPrice[] = Array.isArray(found.prices) ? found.prices.map((period) => period.prices) : [found.prices];
  const corrected = Object.entries(correction.prices ?? {});
  if (corrected.length > 0 && periods.every((period) => corrected.every(([key, value]) => isDeepStrictEqual(period[key], value)))) {
    return `${name}: the catalogue now has these figures itself; remove the entry`;
  }
  for (const [key, value] of Object.entries(correction.replaces)) {
    const changed = periods.find((period) => !isDeepStrictEqual(period[key], value));
    if (changed !== undefined) {
      return `${name}: the catalogue's ${key} is now ${JSON.stringify(changed[key])}, not the ${JSON.stringify(value)} this entry corrects; `
        + `check ${correction.source} again, then update or remove the entry`;
    }
  }
  if (correction.searchContextRequestFees !== undefined && periods.some((period) => Object.keys(period).some((key) => key.includes('search')))) {
    return `${name}: the catalogue now prices search tiers itself; compare, then remove the entry`;
  }
  return undefined;
}

describe('the corrections table', () => {
  it('cites a provider page and the day it was checked, for one model each', () => {
    const seen = new Set<string>();
    for (const [index, correction] of CATALOGUE_CORRECTIONS.entries()) {
      assert.match(correction.source, /^https:\/\/\S+/, `correction [${index}] cites no page`);
      assert.match(correction.checked, /^\d{4}-\d{2}-\d{2}$/, `correction [${index}] has no date`);
      assert.ok(correction.why.length > 10, `correction [${index}] does not say why`);
      assert.ok(correction.prices !== undefined || correction.searchContextRequestFees !== undefined, `correction [${index}] corrects nothing`);
      const key = `${correction.provider}/${correction.model}`;
      assert.ok(!seen.has(key), `${key} is corrected twice`);
      seen.add(key);
    }
  });

  it('is still needed by the bundled catalogue (fails, naming the entry, when an upgrade makes one unnecessary)', () => {
    const problems = CATALOGUE_CORRECTIONS.map((correction, index) =>
      staleness(correction, index, findCatalogueModel(correction.provider, correction.model))).filter((problem) => problem !== undefined);
    assert.deepEqual(problems, []);
  });

  it('tells an entry the catalogue has caught up with, and one whose catalogue figures moved', () => {
    const sonnet = CATALOGUE_CORRECTIONS.find((correction) => correction.model === 'claude-sonnet-4-0')!;
    const index = CATALOGUE_CORRECTIONS.indexOf(sonnet);
    const caughtUp: CatalogueModel = { providerId: 'anthropic', modelId: 'claude-sonnet-4-0', prices: { ...sonnet.replaces, ...sonnet.prices } };
    assert.match(staleness(sonnet, index, caughtUp) ?? '', /correction \[\d\] anthropic\/claude-sonnet-4-0: the catalogue now has these figures itself/);
    const moved: CatalogueModel = { providerId: 'anthropic', modelId: 'claude-sonnet-4-0', prices: { ...sonnet.replaces, input_mtok: 2.5 } };
    assert.match(staleness(sonnet, index, moved) ?? '', /input_mtok is now 2.5, not the 3 this entry corrects; check https:/);
    const sonar = CATALOGUE_CORRECTIONS.find((correction) => correction.model === 'sonar')!;
    const tieredFees: CatalogueModel = { providerId: 'perplexity', modelId: 'sonar', prices: { ...sonar.replaces, requests_kcount: 5 } };
    assert.match(staleness(sonar, CATALOGUE_CORRECTIONS.indexOf(sonar), tieredFees) ?? '', /perplexity\/sonar: the catalogue's requests_kcount is now 5/);
    assert.match(staleness(sonar, 0, undefined) ?? '', /no longer has this model/);
  });

  it('sets its prices over every price period of the model and leaves other models as they are', () => {
    const dated: CatalogueModel = {
      providerId: 'anthropic',
      modelId: 'claude-sonnet-4-0',
      prices: [{ prices: { input_mtok: 3, web_searches_kcount: 10 } }, { constraint: { type: 'start_date', start_date: '2027-01-01' }, prices: { input_mtok: 3 } }],
    };
    const corrected = correctedPrices(dated).prices as { prices: ModelPrice }[];
    assert.deepEqual(corrected.map((period) => period.prices.input_mtok), [{ base: 3, tiers: [{ start: 200_000, price: 6 }] }, { base: 3, tiers: [{ start: 200_000, price: 6 }] }]);
    assert.equal(corrected[0]!.prices.web_searches_kcount, 10);
    const other: CatalogueModel = { providerId: 'anthropic', modelId: 'claude-opus-4-1', prices: { input_mtok: 15 } };
    assert.deepEqual(correctedPrices(other), { prices: { input_mtok: 15 }, searchContextRequestFees: undefined });
  });
});
