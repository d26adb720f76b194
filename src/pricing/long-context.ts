/**
 * Where long-context prices begin. A call above a model's threshold is priced whole at the higher rates, so summed
 * tokens cannot be re-priced: the ledger keeps, per series, the input class each call fell in (INPUT_TIER_BOUNDS),
 * and a re-price is exact for every card whose thresholds are among these bounds.
 */
import type { TokenBuckets } from '../sources/usage-record.ts';
import { tokenCount } from './catalogue.ts';

/**
 * Every long-context threshold of the bundled catalogue and of our corrections, ascending (tokens of total input a
 * call must exceed). test/pricing/long-context.test.ts fails, naming it, when an upgraded catalogue has one missing
 * here; adding a bound splits new calls' series further but leaves stored ones as they are.
 */
export const INPUT_TIER_BOUNDS: readonly number[] = Object.freeze([128_000, 199_999, 200_000, 271_999, 272_000, 512_000]);

/** The largest bound the call's total input (uncached + cache read + cache write) exceeds; 0 when none. */
export function inputTierOf(tokens: TokenBuckets): number {
  const total = tokenCount(tokens.input) + tokenCount(tokens.cacheRead) + tokenCount(tokens.cacheWrite);
  let tier = 0;
  for (const bound of INPUT_TIER_BOUNDS) {
    if (total > bound) tier = bound;
    else break;
  }
  return tier;
}
