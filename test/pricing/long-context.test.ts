import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATALOGUE_CORRECTIONS, INPUT_TIER_BOUNDS, inputTierOf } from '../../src/pricing/index.ts';
import { NO_TOKENS } from '../../src/sources/usage-record.ts';
import { bundledProviders } from './catalogue-data.ts';

function thresholdsOf(price: Record<string, unknown>): number[] {
  return Object.values(price).flatMap((value) =>
    typeof value === 'object' && value !== null && 'tiers' in value ? (value.tiers as Array<{ start: number }>).map((tier) => tier.start) : []);
}

describe('input tiers the ledger keeps for re-pricing', () => {
  it('has every long-context threshold of the bundled catalogue and of our corrections among its bounds', () => {
    const missing = new Set<string>();
    for (const provider of bundledProviders()) {
      for (const model of provider.models) {
        const periods = Array.isArray(model.prices) ? model.prices.map((period) => period.prices) : [model.prices];
        for (const price of periods) {
          for (const start of thresholdsOf(price)) if (!INPUT_TIER_BOUNDS.includes(start)) missing.add(`${start} (${provider.id} ${model.id})`);
        }
      }
    }
    for (const correction of CATALOGUE_CORRECTIONS) {
      for (const start of thresholdsOf(correction.prices ?? {})) if (!INPUT_TIER_BOUNDS.includes(start)) missing.add(`${start} (correction ${correction.model})`);
    }
    assert.deepEqual([...missing], [], 'add these to INPUT_TIER_BOUNDS in src/pricing/long-context.ts');
    assert.deepEqual([...INPUT_TIER_BOUNDS], [...INPUT_TIER_BOUNDS].sort((a, b) => a - b));
  });

  it('places a call by its total input, cache included, above a bound only when it exceeds it', () => {
    assert.equal(inputTierOf(NO_TOKENS), 0);
    assert.equal(inputTierOf({ ...NO_TOKENS, input: 200_000 }), 199_999);
    assert.equal(inputTierOf({ ...NO_TOKENS, input: 150_000, cacheRead: 50_000, cacheWrite: 1 }), 200_000);
    assert.equal(inputTierOf({ ...NO_TOKENS, input: 2_000_000 }), 512_000);
    assert.equal(inputTierOf({ ...NO_TOKENS, input: Number.NaN, cacheRead: 128_001 }), 128_000);
  });
});
