import { setImmediate } from 'node:timers/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Gauge } from 'prom-client';
import type { Ingest } from '../pipeline.ts';
import type { ProcessorHealth } from '../sinks/metrics/processor-health.ts';
import type { UsageMetrics } from '../sinks/metrics/usage-metrics.ts';
import type { Logger } from '../log.ts';
import { tracesRoute } from './traces-route.ts';
import type { UsageLedger } from '../sinks/ledger/ledger.ts';
import { bearerAuth, ingestTokenCheck } from './auth.ts';
import { ReceivingBudget } from './request-body.ts';
import { usersApi, type CsvCells } from './users-api.ts';
import { loadUiAssets, uiRoute } from './ui-route.ts';

export interface HttpServerDeps {
  readonly maxBodyBytes: number;
  /** Export body bytes being received at once, across connections (MAX_RECEIVING_BYTES). */
  readonly maxReceivingBytes: number;
  readonly bodyTimeoutMs: number;
  readonly maxAttributesPerSpan: number;
  /** Tokens of which /v1/traces requires one (INGEST_TOKEN); none: open. */
  readonly ingestTokens: readonly string[];
  readonly ingest: Ingest;
  readonly usageMetrics: UsageMetrics;
  readonly health: ProcessorHealth;
  readonly log: Logger;
  /** Bearer token for /api/* and /metrics ('' for none). */
  readonly apiToken: string;
  /** Undefined with LEDGER=off: /api/* then answers 404. */
  readonly ledger: UsageLedger | undefined;
  /** The user_id label value /metrics shows for a user id. */
  readonly metricsUserLabel: (userId: string) => string;
  readonly csvCells?: CsvCells;
  /** HOURLY_DETAIL_DAYS, for the users API to refuse ranges that need pruned hours. */
  readonly hourlyDetailDays?: number;
  /** PROPERTY_LABELS and PLAN_PRICES_USD, for the Users page. */
  readonly propertyNames?: readonly string[];
  readonly planPricesUsd?: Readonly<Record<string, number>>;
}

/** The processor's HTTP surface: OTLP in, Prometheus exposition out, a readiness probe. */
export function createHttpApp(deps: HttpServerDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Without INGEST_TOKEN /v1/traces stays open, as OTLP receivers are by default: exporters such as OpenLLMetry send
  // "Bearer undefined" of their own, so API_TOKEN cannot guard it too. With it, the route checks its own tokens.
  const receiving = new ReceivingBudget(deps.maxReceivingBytes);
  new Gauge({
    name: 'llm_user_metrics_receiving_bytes',
    help: 'Export body bytes held while they arrive, across connections (at most MAX_RECEIVING_BYTES).',
    registers: [deps.health.registry],
    collect() { this.set(receiving.held); },
  });
  app.post('/v1/traces', tracesRoute({
    maxBodyBytes: deps.maxBodyBytes,
    receiving,
    bodyTimeoutMs: deps.bodyTimeoutMs,
    decodeLimits: { maxAttributesPerSpan: deps.maxAttributesPerSpan },
    credentialOf: ingestTokenCheck(deps.ingestTokens),
    ingest: deps.ingest,
    health: deps.health,
    log: (level, message, fields) => deps.log(level, message, fields),
  }));
  app.all('/v1/traces', (_request, response) => {
    response.status(405).set('Allow', 'POST').type('text/plain').send('use POST for OTLP exports\n');
  });

  app.use(['/metrics', '/api'], bearerAuth(deps.apiToken));
  if (deps.ledger !== undefined) app.use('/api', usersApi({
    ledger: deps.ledger, metricsUserLabel: deps.metricsUserLabel, csvCells: deps.csvCells ?? 'safe', log: deps.log,
    propertyNames: deps.propertyNames ?? [], planPricesUsd: deps.planPricesUsd ?? {},
    hourlyDetailDays: deps.hourlyDetailDays ?? 0,
  }));
  app.use(uiRoute(loadUiAssets()));

  app.get('/metrics', async (_request, response) => {
    const started = performance.now();
    response.status(200).type('text/plain; version=0.0.4; charset=utf-8');
    // Written slice by slice, yielding between slices: exports arriving during a scrape of 10,000 users wait for
    // one slice, not for the whole render, and no single string of tens of MB is built.
    for (const slice of deps.usageMetrics.renderSlices()) {
      if (response.destroyed) return; // the scraper went away: render no more for it
      response.write(`${slice.join('\n')}\n`);
      await setImmediate();
    }
    const own = await deps.health.registry.metrics();
    deps.health.renderSeconds.set((performance.now() - started) / 1000);
    response.end(own);
  });

  app.get('/healthz', (_request, response) => {
    const ledger = deps.ledger?.health();
    if (ledger !== undefined && !ledger.ok) {
      // A failing ledger acknowledges nothing: not ready, so that a load balancer sends exports elsewhere meanwhile.
      response.status(503).type('application/json').send({
        status: 'unavailable',
        ledger: {
          status: 'failing', error: ledger.error, since: new Date(ledger.sinceMs).toISOString(),
          ...(ledger.probeError === undefined ? {} : { probeError: ledger.probeError }),
        },
      });
      return;
    }
    response.type('application/json').send({ status: 'ok' });
  });

  app.use((request: Request, response: Response) => {
    response.status(404).type('text/plain').send(`no route for ${request.method} ${request.path}\n`);
  });
  app.use((error: Error, _request: Request, response: Response, _next: NextFunction) => {
    deps.log('error', 'request failed', { error: error.stack ?? String(error) });
    if (!response.headersSent) response.status(500).type('text/plain').send('internal error\n');
  });
  return app;
}
