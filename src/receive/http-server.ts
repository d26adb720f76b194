import express, { type NextFunction, type Request, type Response } from 'express';
import type { Ingest } from '../pipeline.ts';
import type { ProcessorHealth } from '../sinks/metrics/processor-health.ts';
import type { UsageMetrics } from '../sinks/metrics/usage-metrics.ts';
import type { Logger } from '../log.ts';
import { tracesRoute } from './traces-route.ts';
import type { UsageLedger } from '../sinks/ledger/ledger.ts';
import { bearerAuth } from './auth.ts';
import { usersApi } from './users-api.ts';

export interface HttpServerDeps {
  readonly maxBodyBytes: number;
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
}

/** The processor's HTTP surface: OTLP in, Prometheus exposition out, a readiness probe. */
export function createHttpApp(deps: HttpServerDeps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.post('/v1/traces', tracesRoute({
    maxBodyBytes: deps.maxBodyBytes,
    ingest: deps.ingest,
    health: deps.health,
    log: (level, message) => deps.log(level, message),
  }));
  app.all('/v1/traces', (_request, response) => {
    response.status(405).set('Allow', 'POST').type('text/plain').send('use POST for OTLP exports\n');
  });

  // /v1/traces stays open (see docs/ledger.md): exporters such as OpenLLMetry send "Bearer undefined" of their own.
  app.use(['/metrics', '/api'], bearerAuth(deps.apiToken));
  if (deps.ledger !== undefined) app.use('/api', usersApi({ ledger: deps.ledger, metricsUserLabel: deps.metricsUserLabel }));

  app.get('/metrics', async (_request, response) => {
    const started = performance.now();
    const lines: string[] = [];
    deps.usageMetrics.render(lines);
    const own = await deps.health.registry.metrics();
    deps.health.renderSeconds.set((performance.now() - started) / 1000);
    response.type('text/plain; version=0.0.4; charset=utf-8').send(`${lines.join('\n')}\n${own}`);
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
