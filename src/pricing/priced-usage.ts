import type { UsageRecord } from '../sources/usage-record.ts';

/** Money is counted in integer nano-dollars (1e-9 USD) from pricing on, so that sums never drift. */
export const NANO_USD_PER_USD = 1_000_000_000;

export interface PricedUsage extends UsageRecord {
  /** Cost of the call in nano-dollars; 0 when unpriced. */
  readonly costNanoUsd: number;
  /** False when no price was found for the model: the call is counted but not silently free. */
  readonly priced: boolean;
}
