import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { SimpleSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';

/** Sends spans through a real OpenTelemetry SDK and exporter, as an instrumented app would. */
async function exportSpans(exporter: SpanExporter, spans: Array<{ name: string; attributes: Attributes; error?: boolean }>) {
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('llm-user-metrics-test', '1.0.0');
  const end = Date.now();
  for (const { name, attributes, error } of spans) {
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, startTime: end - 1200 });
    if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' });
    span.end(end);
  }
  await provider.forceFlush();
  await provider.shutdown();
}

function chat(user: string | undefined, model: string, input: number, output: number, extra: Attributes = {}): Attributes {
  return {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': model,
    'gen_ai.response.model': model,
    'gen_ai.usage.input_tokens': input,
    'gen_ai.usage.output_tokens': output,
    ...(user === undefined ? {} : { 'user.id': user }),
    ...extra,
  };
}

/** The value of the one exposition line with exactly this name and label set. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function unlabelled(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(match, `${name} is exposed`);
  return Number(match[1]);
}

describe('OTLP/HTTP export to the real processor', () => {
  let processor: RunningProcessor;
  before(async () => {
    processor = await startProcessor({ PROPERTY_LABELS: 'plan,feature', MAX_BODY_BYTES: '65536' });
  });
  after(() => processor.stop());

  it('answers /healthz', async () => {
    const response = await fetch(`${processor.url}/healthz`);
    assert.equal(response.status, 200);
  });

  it('counts spans from the official protobuf exporter per user, priced from the catalogue', async () => {
    await exportSpans(new ProtoExporter({ url: `${processor.url}/v1/traces` }), [
      { name: 'chat gpt-4o-mini', attributes: chat('proto-user', 'gpt-4o-mini', 1000, 500, { 'llm_user_metrics.property.plan': 'premium' }) },
      { name: 'chat gpt-4o-mini', attributes: chat('proto-user', 'gpt-4o-mini', 1000, 500, { 'llm_user_metrics.property.plan': 'premium' }) },
      { name: 'chat gpt-4o-mini', attributes: chat('proto-user', 'gpt-4o-mini', 0, 0, { 'llm_user_metrics.property.plan': 'premium' }), error: true },
      { name: 'GET /', attributes: { 'http.request.method': 'GET', 'user.id': 'proto-user' } },
    ]);
    const text = await processor.metrics();
    const labels = 'user_id="proto-user",provider="openai",model="gpt-4o-mini"';
    const props = 'plan="premium",feature=""';
    assert.equal(sample(text, 'llm_requests_total', `${labels},operation="chat",status="ok",${props}`), 2);
    assert.equal(sample(text, 'llm_requests_total', `${labels},operation="chat",status="error",${props}`), 1);
    assert.equal(sample(text, 'llm_cost_usd_total', `${labels},${props}`), 0.0009, '2 x (1000 in + 500 out) at gpt-4o-mini list price');
    assert.equal(sample(text, 'llm_tokens_total', `${labels},type="input",${props}`), 2000);
    assert.equal(sample(text, 'llm_tokens_total', `${labels},type="output",${props}`), 1000);
    assert.equal(sample(text, 'llm_user_request_duration_seconds_count', `${labels},${props}`), 3);
    assert.ok(Math.abs(sample(text, 'llm_user_request_duration_seconds_sum', `${labels},${props}`)! - 3.6) < 1e-6);
    assert.ok(unlabelled(text, 'llm_user_metrics_spans_ignored_total') >= 1, 'the HTTP span is ignored and counted');
  });

  it('counts spans from the official JSON exporter, including cached tokens and spans without a user', async () => {
    await exportSpans(new JsonExporter({ url: `${processor.url}/v1/traces` }), [
      { name: 'chat', attributes: chat('json-user', 'gpt-4o-mini', 1000, 500, { 'gen_ai.usage.cache_read.input_tokens': 200, 'llm_user_metrics.property.feature': 'search' }) },
      { name: 'chat', attributes: chat(undefined, 'gpt-4o-mini', 10, 5) },
    ]);
    const text = await processor.metrics();
    const labels = 'user_id="json-user",provider="openai",model="gpt-4o-mini"';
    const props = 'plan="",feature="search"';
    assert.equal(sample(text, 'llm_tokens_total', `${labels},type="input",${props}`), 800);
    assert.equal(sample(text, 'llm_tokens_total', `${labels},type="cache_read",${props}`), 200);
    // 800 x 0.15 + 200 x 0.075 + 500 x 0.60 per million tokens
    assert.equal(sample(text, 'llm_cost_usd_total', `${labels},${props}`), 0.000435);
    assert.equal(sample(text, 'llm_requests_total',
      'user_id="__no_user__",provider="openai",model="gpt-4o-mini",operation="chat",status="ok",plan="",feature=""'), 1);
  });

  it('accepts gzip bodies and answers in the request encoding', async () => {
    const body = JSON.stringify(jsonRequest([jsonSpan('0000000000000001', chatAttributes('gzip-user'))]));
    const response = await fetch(`${processor.url}/v1/traces`, {
      method: 'POST', body: gzipSync(body), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await response.json(), {});
    assert.match(await processor.metrics(), /llm_requests_total\{user_id="gzip-user"/);
  });

  it('keeps the good spans beside a malformed one and reports it in partial_success', async () => {
    const body = jsonRequest([
      jsonSpan('0000000000000002', chatAttributes('partial-user')),
      jsonSpan('00000000000003', chatAttributes('partial-user')),
      jsonSpan('0000000000000004', { ...chatAttributes('partial-user'), 'gen_ai.usage.input_tokens': { intValue: '-4' } }),
      jsonSpan('0000000000000005', chatAttributes('partial-user')),
    ]);
    const response = await postJson(body);
    assert.equal(response.status, 200);
    const answer = await response.json() as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } };
    assert.equal(Number(answer.partialSuccess?.rejectedSpans), 2);
    assert.match(answer.partialSuccess?.errorMessage ?? '', /span/i);
    const text = await processor.metrics();
    assert.equal(sample(text, 'llm_requests_total',
      'user_id="partial-user",provider="openai",model="gpt-4o-mini",operation="chat",status="ok",plan="",feature=""'), 2);
  });

  it('counts a retried export once and reports the retry in its own health counter', async () => {
    const body = jsonRequest([jsonSpan('00000000000000a1', chatAttributes('retry-user')), jsonSpan('00000000000000a2', chatAttributes('retry-user'))]);
    const before = unlabelled(await processor.metrics(), 'llm_user_metrics_spans_duplicate_total');
    assert.equal((await postJson(body)).status, 200);
    assert.equal((await postJson(body)).status, 200);
    const text = await processor.metrics();
    assert.equal(sample(text, 'llm_requests_total',
      'user_id="retry-user",provider="openai",model="gpt-4o-mini",operation="chat",status="ok",plan="",feature=""'), 2);
    assert.equal(unlabelled(text, 'llm_user_metrics_spans_duplicate_total') - before, 2);
  });

  it('answers 400 for bodies that do not decode, naming the problem', async () => {
    const badJson = await postJson('{"resourceSpans": [');
    assert.equal(badJson.status, 400);
    assert.match(await badJson.text(), /json/i);
    const badProto = await fetch(`${processor.url}/v1/traces`, {
      method: 'POST', body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), headers: { 'content-type': 'application/x-protobuf' },
    });
    assert.equal(badProto.status, 400);
    const badGzip = await fetch(`${processor.url}/v1/traces`, {
      method: 'POST', body: 'not gzip', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assert.equal(badGzip.status, 400);
    assert.match(await badGzip.text(), /gzip/);
  });

  it('answers 415 for other content types and 413 over the size limit, gzip bombs included', async () => {
    const text = await fetch(`${processor.url}/v1/traces`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415);
    assert.match(await text.text(), /text\/plain/);
    const big = await postJson(JSON.stringify({ resourceSpans: [], padding: 'x'.repeat(70_000) }));
    assert.equal(big.status, 413);
    const bomb = await fetch(`${processor.url}/v1/traces`, {
      method: 'POST', body: gzipSync(Buffer.alloc(1_000_000, 32)), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assert.equal(bomb.status, 413);
    assert.match(await bomb.text(), /MAX_BODY_BYTES/);
  });

  it('counts its own health: received, rejected and decode errors', async () => {
    const text = await processor.metrics();
    assert.ok(unlabelled(text, 'llm_user_metrics_spans_received_total') >= 10);
    assert.ok(unlabelled(text, 'llm_user_metrics_spans_rejected_total') >= 2);
    assert.match(text, /llm_user_metrics_decode_errors_total\{encoding="json"\} [1-9]/);
  });

  async function postJson(body: unknown): Promise<Response> {
    return fetch(`${processor.url}/v1/traces`, {
      method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' },
    });
  }
});

describe('start-up configuration errors', () => {
  it('exits with a message naming the bad variable', async () => {
    // A JSON log line like every other, the quotes of the value escaped.
    await assert.rejects(startProcessor({ MAX_USERS: 'many' }), /"problems":\["MAX_USERS=\\"many\\": not a whole number"\]/);
  });
});

function chatAttributes(user: string): Record<string, unknown> {
  return {
    'gen_ai.operation.name': { stringValue: 'chat' },
    'gen_ai.provider.name': { stringValue: 'openai' },
    'gen_ai.request.model': { stringValue: 'gpt-4o-mini' },
    'gen_ai.usage.input_tokens': { intValue: '1000' },
    'gen_ai.usage.output_tokens': { intValue: 500 },
    'user.id': { stringValue: user },
  };
}

function jsonSpan(spanId: string, attributes: Record<string, unknown>) {
  const end = BigInt(Date.now()) * 1_000_000n;
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId,
    name: 'chat gpt-4o-mini',
    kind: 3,
    startTimeUnixNano: String(end - 800_000_000n),
    endTimeUnixNano: String(end),
    attributes: Object.entries(attributes).map(([key, value]) => ({ key, value })),
    status: {},
  };
}

function jsonRequest(spans: unknown[]) {
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'manual' }, spans }] }] };
}
