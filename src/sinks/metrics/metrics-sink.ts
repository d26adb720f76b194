import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageSink } from '../sink.ts';
import type { UsageMetrics } from './usage-metrics.ts';

/** Records priced usage into the per-user Prometheus families. */
export function metricsSink(metrics: UsageMetrics): UsageSink {
  return {
    name: 'metrics',
    write(records: readonly PricedUsage[]): void {
      const now = Date.now();
      for (const record of records) metrics.record(record, now, records);
    },
  };
}
