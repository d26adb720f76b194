import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';

const OLD_TOKEN = 'ingest-token-being-retired-0001';
const NEW_TOKEN = 'ingest-token-taking-over-000002';

function exportBody(user: string, spanId: string): string {
  const end = BigInt(Date.now()) * 1_000_000n;
  const attributes = {
    'gen_ai.operation.name': { stringValue: 'chat' },
    'gen_ai.provider.name': { stringValue: 'openai' },
    'gen_ai.request.model': { stringValue: 'gpt-4o-mini' },
    'gen_ai.usage.input_tokens': { intValue: '1000000' },
    'gen_ai.usage.output_tokens': { intValue: '10' },
    'user.id': { stringValue: user },
  };
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'manual' }, spans: [{
    traceId: '5b8efff798038103d269b633813fc60c', spanId, name: 'chat', kind: 3,
    startTimeUnixNano: String(end - 800_000_000n), endTimeUnixNano: String(end),
    attributes: Object.entries(attributes).map(([key, value]) => ({ key, value })), status: {},
  }] }] }] });
}

describe('INGEST_TOKEN closes /v1/traces', () => {
  let processor: RunningProcessor;
  before(async () => {
    processor = await startProcessor({ INGEST_TOKEN: ` ${OLD_TOKEN}, ${NEW_TOKEN} ` });
  });
  after(() => processor.stop());

  const post = (body: string, headers: Record<string, string> = {}, contentType = 'application/json') =>
    fetch(`${processor.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } });
  const userIds = async () => ((await (await fetch(`${processor.url}/api/users?sort=userId`)).json()) as { users: Array<{ userId: string }> })
    .users.map((user) => user.userId);

  it('refuses an export without the header with 401, WWW-Authenticate and an OTLP error body; nothing is counted', async () => {
    const response = await post(exportBody('victim', '00000000000000b1'));
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    const answer = await response.json() as { code?: number; message?: string };
    assert.match(answer.message ?? '', /Authorization: Bearer <INGEST_TOKEN>/);
    assert.deepEqual(await userIds(), []);
    const metrics = await processor.metrics();
    assert.doesNotMatch(metrics, /victim/);
    assert.match(metrics, /llm_user_metrics_spans_received_total 0\b/, 'not even received');
  });

  it('refuses a wrong token, a non-bearer scheme and an empty bearer with 401, in protobuf for a protobuf export', async () => {
    for (const authorization of [`Bearer ${OLD_TOKEN}x`, `Basic ${Buffer.from(`u:${OLD_TOKEN}`).toString('base64')}`, 'Bearer ', 'Bearer undefined']) {
      const response = await post(exportBody('victim', '00000000000000b2'), { authorization });
      assert.equal(response.status, 401, authorization);
      await response.arrayBuffer();
    }
    const proto = await post('', { authorization: `Bearer ${NEW_TOKEN.slice(1)}` }, 'application/x-protobuf');
    assert.equal(proto.status, 401);
    assert.match(proto.headers.get('content-type') ?? '', /application\/x-protobuf/);
    const text = Buffer.from(await proto.arrayBuffer()).toString('latin1');
    assert.match(text, /not one of those configured in INGEST_TOKEN/, 'a google.rpc.Status with the message');
    assert.doesNotMatch(text, new RegExp(`${OLD_TOKEN}|${NEW_TOKEN}`), 'no configured token in the answer');
    assert.deepEqual(await userIds(), []);
    assert.doesNotMatch(await processor.metrics(), /victim/);
  });

  it('counts an export carrying either of the two rotated tokens', async () => {
    assert.equal((await post(exportBody('old-token-user', '00000000000000c1'), { authorization: `Bearer ${OLD_TOKEN}` })).status, 200);
    assert.equal((await post(exportBody('new-token-user', '00000000000000c2'), { authorization: `bearer  ${NEW_TOKEN}` })).status, 200);
    assert.deepEqual(await userIds(), ['new-token-user', 'old-token-user']);
    assert.match(await processor.metrics(), /llm_requests_total\{user_id="new-token-user"/);
  });

  it('takes the official OTLP exporter configured with OTEL_EXPORTER_OTLP_HEADERS', async () => {
    process.env.OTEL_EXPORTER_OTLP_HEADERS = `Authorization=Bearer ${NEW_TOKEN}`;
    try {
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new JsonExporter({ url: `${processor.url}/v1/traces` }) })] });
      const span = provider.getTracer('ingest-auth-test').startSpan('chat', { kind: SpanKind.CLIENT, attributes: {
        'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.usage.input_tokens': 5, 'gen_ai.usage.output_tokens': 5, 'user.id': 'sdk-user',
      } });
      span.end();
      await provider.forceFlush();
      await provider.shutdown();
    } finally {
      delete process.env.OTEL_EXPORTER_OTLP_HEADERS;
    }
    assert.ok((await userIds()).includes('sdk-user'));
  });

  it('never writes a configured token to its log', async () => {
    assert.doesNotMatch(await startedOutput(processor), new RegExp(`${OLD_TOKEN}|${NEW_TOKEN}`));
    assert.match(processor.output(), /"ingestTokens":2/);
  });
});

/** Its "started" log line comes after any warning at start, on the same stream. */
async function startedOutput(processor: RunningProcessor): Promise<string> {
  while (!processor.output().includes('"message":"started"')) await new Promise((resolve) => setTimeout(resolve, 20));
  return processor.output();
}

describe('listening beyond loopback', () => {
  it('warns at start when INGEST_TOKEN is not set, and not when it is', async () => {
    const open = await startProcessor({ HOST: '0.0.0.0' });
    const closed = await startProcessor({ HOST: '0.0.0.0', INGEST_TOKEN: NEW_TOKEN });
    try {
      const warning = (await startedOutput(open)).split('\n').find((line) => line.includes('without INGEST_TOKEN'));
      assert.ok(warning, `a warning in:\n${open.output()}`);
      assert.equal((JSON.parse(warning) as { level: string }).level, 'warn');
      assert.doesNotMatch(await startedOutput(closed), /without INGEST_TOKEN/);
    } finally {
      await Promise.all([open.stop(), closed.stop()]);
    }
  });

  it('does not warn on loopback', async () => {
    const local = await startProcessor();
    try {
      assert.doesNotMatch(await startedOutput(local), /without INGEST_TOKEN/);
    } finally {
      await local.stop();
    }
  });
});
