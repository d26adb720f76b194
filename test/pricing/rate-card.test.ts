import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calcPrice, type ModelInfo, type Provider } from '@pydantic/genai-prices';
import { toCatalogueUsage } from '../../src/pricing/catalogue.ts';
import {
  compileCatalogueRates,
  compileFlatRates,
  costNanoUsd,
  scaleRates,
  utcSecondOfDay,
  variantAt,
} from '../../src/pricing/rate-card.ts';
import { NO_TOKENS, type TokenBuckets } from '../../src/sources/usage-record.ts';
import { bundledProviders } from './catalogue-data.ts';

const tokens = (buckets: Partial<TokenBuckets>): TokenBuckets => ({ ...NO_TOKENS, ...buckets });

/** Usage shapes that reach every rule: each bucket alone, mixes, and totals across the long-context thresholds. */
const USAGE_SHAPES: readonly TokenBuckets[] = [
  tokens({ input: 1000, output: 500 }),
  tokens({ input: 1234, cacheRead: 56_789, output: 321 }),
  tokens({ input: 10, cacheWrite: 40_000, output: 7 }),
  tokens({ input: 10, cacheWrite: 40_000, cacheWrite1h: 30_000, output: 7 }),
  tokens({ input: 120_000, cacheWrite: 90_000, cacheWrite1h: 90_000, output: 70 }),
  tokens({ input: 3000, cacheRead: 2000, cacheWrite: 1000, output: 900, reasoning: 400 }),
  tokens({ input: 127_999, output: 1 }),
  tokens({ input: 100_000, cacheRead: 100_000, output: 2000 }),
  tokens({ input: 150_000, cacheRead: 60_000, cacheWrite: 5000, output: 4000, reasoning: 1000 }),
  tokens({ input: 300_000, output: 12_345 }),
  tokens({ input: 1_500_000, cacheRead: 500_000, output: 50_000 }),
];

/** The catalogue's own price of the usage for exactly this model (a one-model provider, so no other model can match). */
function catalogueNano(model: ModelInfo, usage: TokenBuckets, atMs: number): number | 'throws' {
  const provider: Provider = { id: 'reference', name: 'reference', api_pattern: '', models: [{ ...model, match: { equals: 'the-model' } }] };
  try {
    const result = calcPrice(toCatalogueUsage(usage), 'the-model', { provider, timestamp: new Date(atMs) });
    assert.ok(result !== null);
    return Math.round(result.total_price * 1e9);
  } catch {
    return 'throws';
  }
}

/** Times that land in each dated and time-of-day variant of a model, plus one before them all. */
function interestingTimes(model: ModelInfo): number[] {
  const times = [Date.UTC(2026, 10, 26, 12, 0, 0), Date.UTC(2024, 0, 1, 3, 0, 0)];
  if (!Array.isArray(model.prices)) return times;
  for (const variant of model.prices) {
    const constraint = variant.constraint as Record<string, string> | undefined;
    if (constraint?.start_date !== undefined) times.push(Date.parse(`${constraint.start_date}T00:00:00Z`) + 1, Date.parse(`${constraint.start_date}T00:00:00Z`) - 1);
    if (constraint?.start_time !== undefined) {
      const day = Date.UTC(2026, 10, 26);
      const start = utcSecondOfDay(constraint.start_time) * 1000;
      times.push(day + start, day + start - 1, day + start + 3_600_000);
    }
  }
  return times;
}

describe('compiled rates against the catalogue', () => {
  it('equal calcPrice to the nano-dollar for every bundled model, usage shape and price period', () => {
    const providers = bundledProviders();
    assert.ok(providers.length >= 40, `found only ${providers.length} providers in the bundle`);
    let compared = 0;
    const tokenless: string[] = [];
    const catalogueThrows: string[] = [];
    for (const provider of providers) {
      for (const model of provider.models) {
        const card = compileCatalogueRates(model.prices);
        for (const atMs of interestingTimes(model)) {
          for (const usage of USAGE_SHAPES) {
            const expected = catalogueNano(model, usage, atMs);
            if (expected === 'throws') {
              catalogueThrows.push(`${provider.id}/${model.id}`);
              continue;
            }
            if (card === undefined) {
              // No token price at all: the catalogue charges our usage nothing, which the pricer must not call "free".
              assert.equal(expected, 0, `${provider.id}/${model.id} has token prices the compiler missed`);
              tokenless.push(`${provider.id}/${model.id}`);
              continue;
            }
            const actual = costNanoUsd(card, usage, atMs);
            assert.ok(
              Math.abs(actual - expected) <= 1,
              `${provider.id}/${model.id} at ${new Date(atMs).toISOString()} ${JSON.stringify(usage)}: ${actual} != ${expected}`,
            );
            compared++;
          }
        }
      }
    }
    assert.ok(compared > 15_000, `only ${compared} comparisons`);
    assert.deepEqual([...new Set(catalogueThrows)], [], 'the catalogue itself failed on these models');
    // Only speech and document models, billed by the hour or the page, lack a token price.
    const unpricedByTokens = [...new Set(tokenless)];
    assert.ok(unpricedByTokens.length > 0 && unpricedByTokens.length < 30, unpricedByTokens.join(', '));
    for (const id of unpricedByTokens) assert.match(id, /whisper|transcribe|ocr|voxtral|voice/, `${id} lost its token prices`);
  });
});

describe('long-context tiers', () => {
  const geminiPro = compileCatalogueRates({
    input_mtok: { base: 1.25, tiers: [{ start: 200_000, price: 2.5 }] },
    cache_read_mtok: { base: 0.125, tiers: [{ start: 200_000, price: 0.25 }] },
    output_mtok: { base: 10, tiers: [{ start: 200_000, price: 15 }] },
  })!;

  it('keep the base rates up to and including the threshold, counting cache reads in the total', () => {
    assert.equal(costNanoUsd(geminiPro, tokens({ input: 150_000, cacheRead: 50_000, output: 1000 }), 0), 150_000 * 1250 + 50_000 * 125 + 1000 * 10_000);
  });

  it('switch every rate once the total input exceeds the threshold', () => {
    assert.equal(costNanoUsd(geminiPro, tokens({ input: 150_000, cacheRead: 50_001, output: 1000 }), 0), 150_000 * 2500 + 50_001 * 250 + 1000 * 15_000);
  });
});

describe('price periods', () => {
  it('reads times of day as seconds after UTC midnight, offsets included', () => {
    assert.equal(utcSecondOfDay('16:30:00Z'), 16.5 * 3600);
    assert.equal(utcSecondOfDay('08:00:00+08:00'), 0);
    assert.equal(utcSecondOfDay('23:00:00-02:00'), 3600);
    assert.equal(utcSecondOfDay('00:00:01.5Z'), 1.5);
    assert.throws(() => utcSecondOfDay('4pm'), /unsupported time of day "4pm"/);
  });

  it('take the last period that holds, a daily window wrapping past midnight, else the first', () => {
    const card = compileCatalogueRates([
      { prices: { input_mtok: 1, output_mtok: 1 } },
      { constraint: { type: 'start_date', start_date: '2026-01-01' }, prices: { input_mtok: 2, output_mtok: 2 } },
      { constraint: { type: 'time_of_date', start_time: '22:00:00Z', end_time: '02:00:00Z' }, prices: { input_mtok: 3, output_mtok: 3 } },
    ])!;
    const million = tokens({ input: 1_000_000 });
    assert.equal(costNanoUsd(card, million, Date.UTC(2025, 5, 1, 12)), 1e9);
    assert.equal(costNanoUsd(card, million, Date.UTC(2026, 5, 1, 12)), 2e9);
    assert.equal(costNanoUsd(card, million, Date.UTC(2026, 5, 1, 23)), 3e9);
    assert.equal(costNanoUsd(card, million, Date.UTC(2025, 5, 1, 1, 59)), 3e9);
    assert.equal(costNanoUsd(card, million, Date.UTC(2025, 5, 1, 2, 0)), 1e9);
    assert.equal(variantAt(card.variants, Date.UTC(2026, 5, 1, 12)), card.variants[1]);
  });

  it('refuses a constraint it does not know rather than guess', () => {
    assert.throws(
      () => compileCatalogueRates([{ constraint: { type: 'weekday' } as never, prices: { input_mtok: 1 } }]),
      /unsupported price constraint/,
    );
  });
});

describe('rate cards', () => {
  it('charge unpriced cache buckets as input and unpriced reasoning as output', () => {
    const card = compileCatalogueRates({ input_mtok: 2, output_mtok: 8 })!;
    assert.equal(costNanoUsd(card, tokens({ input: 10, cacheRead: 20, cacheWrite: 30, output: 40, reasoning: 15 }), 0), 60 * 2000 + 40 * 8000);
  });

  it('charge reasoning at its own price where the model has one, never more reasoning than output', () => {
    const card = compileCatalogueRates({ input_mtok: 2, output_mtok: 8, output_reasoning_mtok: 3 })!;
    assert.equal(costNanoUsd(card, tokens({ output: 100, reasoning: 40 }), 0), 60 * 8000 + 40 * 3000);
    assert.equal(costNanoUsd(card, tokens({ output: 100, reasoning: 400 }), 0), 100 * 3000);
  });

  it('add a per-request price once per call', () => {
    const card = compileCatalogueRates({ input_mtok: 1, output_mtok: 1, requests_kcount: 5 })!;
    assert.equal(costNanoUsd(card, tokens({ input: 1000 }), 0), 1000 * 1000 + 5_000_000);
  });

  it('are undefined for a model priced only by units our records never carry', () => {
    assert.equal(compileCatalogueRates({ audio_hours: 0.36 }), undefined);
    assert.equal(compileCatalogueRates([{ prices: { input_document_kpages: 1 } }]), undefined);
  });

  it('treat missing, negative and NaN counts as zero so a bad span cannot poison a sum', () => {
    const card = compileFlatRates({ input: 1, output: 1 });
    assert.equal(costNanoUsd(card, tokens({ input: Number.NaN, output: -5, cacheRead: 10 }), 0), 10_000);
  });

  it('scale every rate by a multiplier', () => {
    const card = scaleRates(compileFlatRates({ input: 1, output: 4, cacheRead: 0.1 }), 0.5);
    assert.equal(costNanoUsd(card, tokens({ input: 1000, output: 1000, cacheRead: 1000 }), 0), 500_000 + 2_000_000 + 50_000);
  });

  it('round the sum once, not each bucket', () => {
    // Three tokens at 0.0004 nano-dollars-per-token-ish fractions: per-bucket rounding would give 0.
    const card = compileFlatRates({ input: 0.0004, output: 0.0004, cacheRead: 0.0004, cacheWrite: 0.0004 });
    assert.equal(costNanoUsd(card, tokens({ input: 1, output: 1, cacheRead: 1, cacheWrite: 1 }), 0), 2);
  });
});

describe('free models', () => {
  it('compile to zero rates when the catalogue lists them with no prices at all', () => {
    const card = compileCatalogueRates({});
    assert.ok(card !== undefined);
    assert.equal(costNanoUsd(card, tokens({ input: 5000, output: 5000 }), 0), 0);
  });
});
