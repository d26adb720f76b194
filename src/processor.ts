import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { createPipeline } from './pipeline.ts';
import { createPricer, loadPriceOverrides } from './pricing/index.ts';
import { createHttpApp } from './receive/http-server.ts';
import { metricsSink } from './sinks/metrics/metrics-sink.ts';
import { createProcessorHealth } from './sinks/metrics/processor-health.ts';
import { UsageMetrics } from './sinks/metrics/usage-metrics.ts';
import { createUsageExtractor, DEFAULT_SOURCE_OPTIONS } from './sources/index.ts';

export interface RunningProcessor {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** How often idle users' series are looked for; at most a minute late past USER_TTL_SECONDS. */
const EVICTION_INTERVAL_MS = 60_000;

/** Wires receive -> decode -> sources -> pricing -> sinks from a validated config and starts listening. */
export async function startProcessor(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningProcessor> {
  const overrides = config.pricesFile === '' ? [] : loadPriceOverrides(config.pricesFile);
  const pricer = createPricer({
    overrides,
    onUnpriced: (provider, model) => log('warn', 'no price known for model; its calls count at cost 0 in llm_unpriced_requests_total', { provider, model }),
  });
  const usageMetrics = new UsageMetrics({
    propertyLabels: config.propertyLabels,
    maxUsers: config.maxUsers,
    userTtlSeconds: config.userTtlSeconds,
    userLabel: { mode: config.userIdLabel, salt: config.userIdHashSalt },
    planPricesUsd: config.planPricesUsd,
  });
  const health = createProcessorHealth();
  const ingest = createPipeline({
    extractUsage: createUsageExtractor(DEFAULT_SOURCE_OPTIONS),
    price: pricer,
    sinks: [metricsSink(usageMetrics)],
  });
  const app = createHttpApp({ maxBodyBytes: config.maxBodyBytes, ingest, usageMetrics, health, log });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const eviction = setInterval(() => {
    const evicted = usageMetrics.evictIdleUsers();
    if (evicted > 0) log('debug', 'removed series of idle users', { evicted });
  }, Math.min(EVICTION_INTERVAL_MS, config.userTtlSeconds * 250));
  eviction.unref();

  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () => {
      clearInterval(eviction);
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}
