/**
 * End to end: a workload through the real processor, scraped by a real Prometheus (with our recording and alert
 * rules loaded), then every query of every dashboard panel run with its variables filled in. Each must parse on
 * Prometheus and return at least one finite value.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { parseLabelValuesQuery, substitute, targetsOf, variablesOf, type TimeVariables } from './dashboard-queries.ts';
import { startPrometheus, type PromSeries, type RunningPrometheus } from './prometheus-server.ts';

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const DASHBOARDS = ['grafana/dashboards/llm-users.json', 'grafana/dashboards/llm-user-detail.json'];
/** Prometheus has seconds of data: a 1 h dashboard range covers all of it, as "last hour" would in Grafana. */
const TIME: TimeVariables = { rangeSeconds: 3600, rateIntervalSeconds: 30, intervalSeconds: 2 };
const DETAIL_USER = 'alice';

interface Call {
  readonly user?: string;
  readonly plan?: string;
  readonly feature?: string;
  readonly provider: string;
  readonly model: string;
  readonly input: number;
  readonly output: number;
  readonly cacheRead?: number;
  readonly ttft?: number;
  readonly error?: boolean;
}

/** Several users, plans, features and models; errors, a stream, an unpriced model and a call without a user. */
function workload(scale: number): Call[] {
  const calls: Call[] = [];
  const repeat = (times: number, call: Call) => { for (let i = 0; i < times * scale; i++) calls.push(call); };
  repeat(3, { user: 'alice', plan: 'pro', feature: 'chat', provider: 'openai', model: 'gpt-4o-mini', input: 1200, output: 400 });
  repeat(1, { user: 'alice', plan: 'pro', feature: 'chat', provider: 'openai', model: 'gpt-4o-mini', input: 800, output: 300, ttft: 0.35 });
  repeat(2, { user: 'bob', plan: 'premium', feature: 'summarize', provider: 'anthropic', model: 'claude-3-5-haiku-20241022', input: 5000, output: 900, cacheRead: 3000 });
  repeat(2, { user: 'bob', plan: 'premium', feature: 'chat', provider: 'openai', model: 'gpt-4o', input: 2000, output: 800, ttft: 0.6 });
  repeat(6, { user: 'carol', plan: 'free', feature: 'chat', provider: 'openai', model: 'gpt-4o', input: 9000, output: 3000 });
  repeat(2, { user: 'dave', plan: 'free', feature: 'search', provider: 'openai', model: 'gpt-4o-mini', input: 600, output: 100 });
  repeat(2, { user: 'dave', plan: 'free', feature: 'search', provider: 'openai', model: 'gpt-4o-mini', input: 0, output: 0, error: true });
  repeat(1, { user: 'erin', plan: 'pro', feature: 'search', provider: 'acme', model: 'acme-large-1', input: 1000, output: 1000 });
  repeat(1, { provider: 'openai', model: 'gpt-4o-mini', input: 100, output: 50 });
  return calls;
}

function attributesOf(call: Call): Attributes {
  return {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': call.provider,
    'gen_ai.request.model': call.model,
    'gen_ai.response.model': call.model,
    'gen_ai.usage.input_tokens': call.input,
    'gen_ai.usage.output_tokens': call.output,
    ...(call.cacheRead === undefined ? {} : { 'gen_ai.usage.cache_read.input_tokens': call.cacheRead }),
    ...(call.ttft === undefined ? {} : { 'gen_ai.response.time_to_first_chunk': call.ttft }),
    ...(call.user === undefined ? {} : { 'user.id': call.user }),
    ...(call.plan === undefined ? {} : { 'llm_user_metrics.property.plan': call.plan }),
    ...(call.feature === undefined ? {} : { 'llm_user_metrics.property.feature': call.feature }),
  };
}

/** Exports the calls as spans with the official SDK and protobuf exporter, plus one span that is no LLM call. */
async function exportCalls(processorUrl: string, calls: readonly Call[]): Promise<void> {
  const exporter = new OTLPTraceExporter({ url: `${processorUrl}/v1/traces` });
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter, maxExportBatchSize: 1000, maxQueueSize: 2000 })] });
  const tracer = provider.getTracer('llm-user-metrics-dashboard-test', '1.0.0');
  const end = Date.now();
  for (const [index, call] of calls.entries()) {
    const span = tracer.startSpan(`chat ${call.model}`, { kind: SpanKind.CLIENT, attributes: attributesOf(call), startTime: end - 400 - index * 37 });
    if (call.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' });
    span.end(end);
  }
  tracer.startSpan('GET /health', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET' } }).end();
  await provider.forceFlush();
  await provider.shutdown();
}

const total = (series: PromSeries[]) => series.reduce((sum, one) => sum + Number(one.value?.[1] ?? 0), 0);
const hasFiniteValue = (series: PromSeries[]) => series.some((one) =>
  [...(one.value ? [one.value] : []), ...(one.values ?? [])].some(([, value]) => Number.isFinite(Number(value))));

// The default light per-user set first; full (per-user series per model too) must serve the same panels.
for (const userMetrics of ['light', 'full'] as const) describe(`dashboard panels on a real Prometheus after a workload, USER_METRICS=${userMetrics}`, () => {
  let processor: RunningProcessor | undefined;
  let prometheus: RunningPrometheus | undefined;

  before(async () => {
    processor = await startProcessor({ PLAN_PRICES_USD: 'free=0,pro=20,premium=50', PROPERTY_LABELS: 'plan,feature', USER_METRICS: userMetrics });
    prometheus = await startPrometheus({
      targets: [new URL(processor.url).host],
      ruleFiles: [repoFile('prometheus/rules/recording.yml'), repoFile('prometheus/rules/alerts.yml')],
    });
    // Two waves with scrapes between them, so counters have grown between samples and increase()/rate() see it.
    const first = workload(1);
    await exportCalls(processor.url, first);
    await prometheus.waitFor('sum(llm_requests_total)', (series) => total(series) === first.length);
    const second = workload(2);
    await exportCalls(processor.url, second);
    await prometheus.waitFor('sum(llm_requests_total)', (series) => total(series) === first.length + second.length);
    await prometheus.waitFor('count(llm:user_requests:rate5m > 0)', (series) => total(series) >= 5);
    await prometheus.waitFor('sum(llm_model_requests_total)', (series) => total(series) === first.length + second.length);
  });

  it(`has the ${userMetrics} per-user set, whose totals the per-model families match`, async () => {
    const withModel = await prometheus!.query('count(llm_cost_usd_total{model!=""})');
    assert.equal(total(withModel) > 0, userMetrics === 'full', `per-user cost series with a model label: ${JSON.stringify(withModel)}`);
    for (const [perUser, perModel] of [['llm_cost_usd_total', 'llm_model_cost_usd_total'], ['llm_tokens_total', 'llm_model_tokens_total'],
      ['llm_requests_total{status="error"}', 'llm_model_requests_total{status="error"}']]) {
      const users = total(await prometheus!.query(`sum(${perUser})`));
      const models = total(await prometheus!.query(`sum(${perModel})`));
      assert.ok(users > 0 && Math.abs(users - models) < 1e-9 * users, `${perUser} ${users} = ${perModel} ${models}`);
    }
  });

  after(async () => {
    await prometheus?.stop();
    await processor?.stop();
  });

  for (const file of DASHBOARDS) {
    it(`${file}: every variable lists values and every panel query returns data`, async () => {
      const dashboard = JSON.parse(readFileSync(repoFile(file), 'utf8'));
      const values: Record<string, string> = {};
      for (const variable of variablesOf(dashboard)) {
        const { match, label } = parseLabelValuesQuery(variable.query);
        const listed = await prometheus!.labelValues(label, substitute(match, { ...allValues(dashboard), ...values }, TIME));
        assert.ok(listed.length > 0, `variable ${variable.name} (${variable.query}) lists no values`);
        if (variable.includeAll) {
          values[variable.name] = variable.allValue ?? '.*';
        } else {
          assert.ok(listed.includes(DETAIL_USER), `variable ${variable.name} lists ${DETAIL_USER}: ${listed.join(', ')}`);
          values[variable.name] = DETAIL_USER;
        }
      }

      const failures: string[] = [];
      const now = Date.now() / 1000;
      const targets = targetsOf(dashboard);
      assert.ok(targets.length >= 10, `${file} has its panels`);
      for (const target of targets) {
        const expr = substitute(target.expr, values, TIME);
        try {
          const result = target.instant
            ? await prometheus!.query(expr, now)
            : await prometheus!.queryRange(expr, now - 20, now, 1);
          if (!hasFiniteValue(result)) failures.push(`"${target.panel}" ${target.refId}: no data for ${expr}`);
        } catch (error) {
          failures.push(`"${target.panel}" ${target.refId}: ${(error as Error).message}`);
        }
      }
      assert.deepEqual(failures, [], `panel queries without data or with errors:\n${failures.join('\n')}`);
    });
  }

  it('the users table ranks the heaviest spender first and shows the plan revenue in the profit', async () => {
    const expr = (query: string) => substitute(query, { user: '.*', plan: '.*', feature: '.*', provider: '.*', model: '.*' }, TIME);
    const dashboard = JSON.parse(readFileSync(repoFile('grafana/dashboards/llm-users.json'), 'utf8'));
    const byPanel = (title: string) => targetsOf(dashboard).find((target) => target.panel === title)!;
    const top = await prometheus!.query(expr(byPanel('Top 10 spenders').expr));
    const ranked = [...top].sort((a, b) => Number(b.value![1]) - Number(a.value![1]));
    assert.equal(ranked[0]!.metric.user_id, 'carol', 'carol makes the most gpt-4o calls');

    const least = await prometheus!.query(expr(byPanel('Least profitable users').expr));
    const carol = least.find((series) => series.metric.user_id === 'carol');
    assert.ok(carol && Number(carol.value![1]) < 0, 'carol, on the free plan, costs more than she pays');
    const most = await prometheus!.query(expr(byPanel('Most profitable users').expr));
    const bob = most.find((series) => series.metric.user_id === 'bob' && series.metric.plan === 'premium');
    assert.ok(bob, `bob is ranked: ${JSON.stringify(most)}`);
    const costColumn = targetsOf(dashboard).find((target) => target.panel === 'Users' && target.refId === 'A')!;
    const bobCost = (await prometheus!.query(expr(costColumn.expr), Number(bob.value![0])))
      .find((series) => series.metric.user_id === 'bob')!;
    // premium pays 50 USD a month; the dashboard range is one hour of it.
    const revenue = 50 * 3600 / 2_629_800;
    assert.ok(Number(bobCost.value![1]) > 0, 'bob has a cost');
    assert.ok(Math.abs(Number(bob.value![1]) - (revenue - Number(bobCost.value![1]))) < 1e-9,
      `bob's profit ${bob.value![1]} = ${revenue} revenue - ${bobCost.value![1]} cost`);
  });
});

/** Every multi-value variable at "All", so variable queries that depend on others can be filled in. */
function allValues(dashboard: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const variable of variablesOf(dashboard as Parameters<typeof variablesOf>[0])) {
    if (variable.includeAll) out[variable.name] = variable.allValue ?? '.*';
  }
  return out;
}
