#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.ts';
import { createLogger, logLine, routeWarnings } from './log.ts';
import { startProcessor } from './processor.ts';

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
  log('info', 'started', { url: processor.url, propertyLabels: config.propertyLabels, maxUsers: config.maxUsers });

  const stop = (signal: string) => {
    log('info', 'stopping', { signal });
    processor.close().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(logLine('error', 'llm-user-metrics: failed to start', { error: (error as Error).stack ?? String(error) }));
  process.exit(1);
});
