import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { CallAttributor } from './attribution/attributor.ts';
import { createCallRecorder, createPipeline } from './pipeline.ts';
import { createPricer, loadPriceOverrides } from './pricing/index.ts';
import { createHttpApp } from './receive/http-server.ts';
import { gracefulClose } from './receive/graceful-close.ts';
import { metricsSink } from './sinks/metrics/metrics-sink.ts';
import { createProcessorHealth } from './sinks/metrics/processor-health.ts';
import { NO_USER_ID, UsageMetrics } from './sinks/metrics/usage-metrics.ts';
import { userLabelValue } from './sinks/metrics/label-text.ts';
import { openLedger } from './sinks/ledger/index.ts';
import type { PricedUsage } from './pricing/priced-usage.ts';
import { anthropicSdkSource } from './sources/anthropic-sdk.ts';
import { createSpanReader } from './sources/index.ts';

export interface RunningProcessor {
  readonly url: string;
  readonly server: Server;
  /**
   * Stops promptly: requests in flight get SHUTDOWN_GRACE_SECONDS to finish, then their sockets are cut; the ledger
   * is closed in order either way. Resolves with whether sockets had to be cut.
   */
  close(): Promise<{ forced: boolean }>;
}

/**
 * Above the idle timeouts of the usual exporters' connection pools (Go's net/http, so the Collector, keeps an idle
 * connection 90 s), so that the client, not the server, closes an idle connection: a server closing one just as the
 * client reuses it is what makes "socket hang up" / ECONNRESET.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 95_000;

/** How often idle users' series are looked for; at most a minute late past USER_TTL_SECONDS. */
const EVICTION_INTERVAL_MS = 60_000;

/** Wires receive -> decode -> sources -> pricing -> sinks from a validated config and starts listening. */
export async function startProcessor(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningProcessor> {
  const overrides = config.pricesFile === '' ? [] : loadPriceOverrides(config.pricesFile);
  const pricer = createPricer({
    overrides,
    onUnpriced: (provider, model) => log('warn', 'no price known for model; its calls count at cost 0 in llm_unpriced_requests_total', { provider, model }),
  });
  const opened = await openLedger(config, (health) => {
    if (health.ok) log('info', 'usage ledger recovered: a probe succeeded; exports are acknowledged again');
    else log('error', 'usage ledger failing: exports get 503 and nothing is recorded until a probe succeeds', { error: health.error });
  });
  const ledger = opened?.ledger;
  // Only a ledger this process alone writes may seed /metrics with all-time totals; with a shared one each replica
  // exposes its own increments, and PromQL's sum by (user_id) adds the replicas up.
  const restore = opened?.metricsRestore;
  const userLabel = { mode: config.userIdLabel, salt: config.userIdHashSalt } as const;
  const usageMetrics = new UsageMetrics({
    propertyLabels: config.propertyLabels,
    userMetrics: config.userMetrics,
    maxUsers: config.maxUsers,
    userTtlSeconds: config.userTtlSeconds,
    userLabel,
    planPricesUsd: config.planPricesUsd,
    ...(restore === undefined ? {} : {
      seedUser: (userId: string) => restore.seedUser(userId),
      countedInSeed: (usage: PricedUsage, batch: readonly PricedUsage[]) => restore.countedInSeed(usage, batch),
    }),
  });
  if (opened !== undefined) {
    // /metrics continues where it stopped: users active within the TTL get their series back, with all-time totals.
    const recent = restore?.recentUsers(Date.now() - config.userTtlSeconds * 1000, config.maxUsers) ?? [];
    usageMetrics.restoreUsers(recent.map((user) => user.userId));
    log('info', 'usage ledger open', { ...opened.where, restoredUsers: recent.length });
  }
  const health = createProcessorHealth();
  const recordingStages = {
    price: pricer,
    sinks: [metricsSink(usageMetrics)],
    ...(ledger === undefined ? {} : { ledger }),
  };
  const attributor = new CallAttributor({ waitMs: config.ancestorWaitSeconds * 1000, maxSpans: config.ancestorMaxSpans });
  const recordCalls = createCallRecorder(recordingStages);
  const recordDecided = (calls: Parameters<typeof recordCalls>[0], why: string) => {
    if (calls.length === 0) return Promise.resolve();
    return recordCalls(calls).then(() => undefined, (error: unknown) => {
      log('error', 'calls could not be recorded', { calls: calls.length, why, error: String(error) });
    });
  };
  const restoreParked = async (why: string) => {
    const parked = await ledger!.parked();
    await recordDecided(attributor.restore(parked, (record) => record.source === anthropicSdkSource.name), why);
  };
  if (ledger !== undefined) {
    // Calls acknowledged while waiting for an ancestor when the processor stopped wait again, for a whole wait.
    await restoreParked('restored');
  }
  // A shared ledger also hands over, while running, what a replica that stopped had parked.
  const parkedTakeOver = opened?.takeOverParkedEveryMs === undefined ? undefined : setInterval(() => {
    restoreParked('taken over from a stopped replica').catch((error: unknown) => {
      if (ledger?.health().ok !== false) log('warn', 'parked calls of stopped replicas could not be taken over; trying again', { error: String(error) });
    });
  }, opened.takeOverParkedEveryMs);
  parkedTakeOver?.unref();
  const ingest = createPipeline({
    ...recordingStages,
    readSpan: createSpanReader({
      userKeys: config.userAttributeKeys, propertyPrefixes: config.propertyAttributePrefixes, limits: config.callLimits,
    }),
    attribute: (readings) => attributor.accept(readings),
    ...(ledger === undefined ? {} : { parkWaiting: (records: Parameters<typeof ledger.park>[0]) => ledger.park(records) }),
  });
  const attributionExpiry = setInterval(() => {
    void recordDecided(attributor.expire(), 'whose ancestor wait ran out');
  }, Math.min(1000, Math.max(50, config.ancestorWaitSeconds * 250)));
  attributionExpiry.unref();
  const app = createHttpApp({
    maxBodyBytes: config.maxBodyBytes, ingest, usageMetrics, health, log,
    maxReceivingBytes: config.maxReceivingBytes,
    bodyTimeoutMs: config.bodyTimeoutSeconds * 1000,
    maxAttributesPerSpan: config.maxAttributesPerSpan,
    ingestTokens: config.ingestTokens,
    apiToken: config.apiToken,
    ledger,
    metricsUserLabel: (userId) => (userId === NO_USER_ID ? userId : userLabelValue(userId, userLabel)),
    csvCells: config.csvCells,
    hourlyDetailDays: config.hourlyDetailDays,
    propertyNames: config.propertyLabels,
    planPricesUsd: config.planPricesUsd,
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Above the keep-alive timeout, as Node's documentation advises, so that the wait for the next request's headers
  // on a kept-alive connection is never cut short by the header timer.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 5_000;
  const closing = gracefulClose(server);
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
    close: async () => {
      clearInterval(eviction);
      clearInterval(attributionExpiry);
      if (parkedTakeOver !== undefined) clearInterval(parkedTakeOver);
      let forced = true;
      try {
        ({ forced } = await closing.close(config.shutdownGraceSeconds * 1000));
      } finally {
        // Without a ledger the waiting calls would be lost: count them now with the user found so far.
        if (ledger === undefined) await recordDecided(attributor.releaseAll(), 'waiting at stop');
        await ledger?.close();
      }
      return { forced };
    },
  };
}
