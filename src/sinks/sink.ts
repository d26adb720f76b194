import type { PricedUsage } from '../pricing/priced-usage.ts';

/**
 * Where priced usage goes. The receive stage answers an export only after every sink's `write` has settled, so a
 * durable sink resolves only once the records are committed.
 */
export interface UsageSink {
  readonly name: string;
  write(records: readonly PricedUsage[]): void | Promise<void>;
}
