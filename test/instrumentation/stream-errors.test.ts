/**
 * A stream cut off mid-way is an error for its user, end to end: the real openai SDKs against the stand-in with our
 * instrumentation, exporting over OTLP to the real processor, whose /metrics must show status="error". Also spans
 * as instrumentation already deployed wrote them (UNSET, only `llm_user_metrics.stream.incomplete=true`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanKind, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import * as openai7 from 'openai';
import * as openai4 from 'openai-v4';
import { OpenAIInstrumentation } from '../../instrumentation/openai/instrumentation.ts';
import { startProviderStandIn, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';

const LABELS = (user: string) => `user_id="${user}",provider="openai",model="gpt-4o-mini-2024-07-18",operation="chat"`;

function requests(metrics: string, user: string, status: 'ok' | 'error'): number {
  const prefix = `llm_requests_total{${LABELS(user)},status="${status}"`;
  const line = metrics.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('a stream cut off mid-way, through the real processor', () => {
  let processor: RunningProcessor;
  let standIn: ProviderStandIn;
  let provider: TracerProvider;
  const instrumentation = new OpenAIInstrumentation({ enabled: false });

  before(async () => {
    [processor, standIn] = await Promise.all([startProcessor(), startProviderStandIn()]);
    provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${processor.url}/v1/traces` }) })] });
    instrumentation.setTracerProvider(provider);
    instrumentation.enable();
    instrumentation.patch(openai7);
    instrumentation.patch(openai4);
  });
  after(async () => {
    instrumentation.unpatch(openai7);
    instrumentation.unpatch(openai4);
    await provider.shutdown();
    await Promise.all([processor.stop(), standIn.close()]);
  });

  const body = (user: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }], stream: true as const, user });

  it('counts a dropped stream (openai 7 and 4) as an error for its user, a broken-off one as ok, a whole one as ok', async () => {
    for (const [major, module] of [['7', openai7], ['4', openai4]] as const) {
      const client = new (module as any).OpenAI({ apiKey: 'sk-x', baseURL: `${standIn.url}/v1`, maxRetries: 0 });
      await assert.rejects(async () => {
        for await (const _chunk of await client.chat.completions.create(body(`dropped-${major}`), { headers: { 'x-stand-in-drop-after': '3' } }));
      });
      for await (const _chunk of await client.chat.completions.create(body(`stopper-${major}`))) break;
      for await (const _chunk of await client.chat.completions.create(body(`whole-${major}`)));
    }
    await provider.forceFlush();
    const metrics = await processor.metrics();
    for (const major of ['7', '4']) {
      assert.equal(requests(metrics, `dropped-${major}`, 'error'), 1, `openai ${major}: the dropped stream is an error`);
      assert.equal(requests(metrics, `dropped-${major}`, 'ok'), 0);
      assert.equal(requests(metrics, `stopper-${major}`, 'ok'), 1, `openai ${major}: the app's own break is not an error`);
      assert.equal(requests(metrics, `whole-${major}`, 'ok'), 1);
    }
  });

  it('counts a span of already deployed instrumentation (UNSET, incomplete=true only) as an error', async () => {
    const exporter = new OTLPTraceExporter({ url: `${processor.url}/v1/traces` });
    const old = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const tracer = old.getTracer('llm-user-metrics/openai', '0.1.0');
    const attributes = (user: string, extra: Attributes): Attributes => ({
      'llm_user_metrics.instrumented': true, 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'user.id': user, ...extra,
    });
    tracer.startSpan('chat gpt-4o-mini', { kind: SpanKind.CLIENT, attributes: attributes('deployed-cut', { 'llm_user_metrics.stream.incomplete': true }) }).end();
    tracer.startSpan('chat gpt-4o-mini', { kind: SpanKind.CLIENT, attributes: attributes('deployed-stopped', {
      'llm_user_metrics.stream.incomplete': true, 'llm_user_metrics.stream.stopped_by_app': true }) }).end();
    await old.shutdown();
    const metrics = await processor.metrics();
    assert.equal(requests(metrics, 'deployed-cut', 'error'), 1);
    assert.equal(requests(metrics, 'deployed-cut', 'ok'), 0);
    assert.equal(requests(metrics, 'deployed-stopped', 'ok'), 1);
  });
});
