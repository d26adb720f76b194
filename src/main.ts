#!/usr/bin/env node
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, logLine, routeWarnings } from './log.ts';
import { startProcessor } from './processor.ts';
import { isLoopbackAddress } from './receive/exposure.ts';

/** Past the shutdown grace, how long closing the ledger may take before the process gives up on an orderly stop. */
const LEDGER_CLOSE_ALLOWANCE_MS = 10_000;

/** Start-up: read the configuration once, start the processor, stop cleanly on SIGTERM / SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(logLine('error', 'llm-user-metrics: invalid configuration', {
        problems: error.message.split('\n').slice(1).map((line) => line.trim()),
      }));
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  routeWarnings(log);
  const processor = await startProcessor(config, log);
  process.stdout.write(`llm-user-metrics listening on ${processor.url}\n`);
  const { address } = processor.server.address() as AddressInfo;
  if (config.ingestTokens.length === 0 && !isLoopbackAddress(address)) {
    log('warn', 'listening beyond loopback without INGEST_TOKEN: anyone who reaches this port can record calls for any user; set INGEST_TOKEN and give exporters OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"',
      { address });
  }

  log('info', 'started', {
    url: processor.url, propertyLabels: config.propertyLabels, maxUsers: config.maxUsers,
    ingestTokens: config.ingestTokens.length,
  });

  const stop = (signal: string) => {
    const started = performance.now();
    log('info', 'stopping', { signal, graceSeconds: config.shutdownGraceSeconds });
    // The last resort, if closing the ledger itself hangs: exit 1 says the stop was not orderly.
    setTimeout(() => process.exit(1), config.shutdownGraceSeconds * 1000 + LEDGER_CLOSE_ALLOWANCE_MS).unref();
    processor.close().then(({ forced }) => {
      log('info', 'stopped; the ledger closed in order', {
        signal, forcedConnections: forced, milliseconds: Math.round(performance.now() - started),
      });
      process.exit(0);
    }, (error: unknown) => {
      log('error', 'stop failed', { signal, error: (error as Error).stack ?? String(error) });
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(logLine('error', 'llm-user-metrics: failed to start', { error: (error as Error).stack ?? String(error) }));
  process.exit(1);
});
