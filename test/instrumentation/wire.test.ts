/** The contract between the two sides: a span our instrumentation writes is read by the processor as ours. */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as openaiEsm from 'openai';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation } from '../../instrumentation/openai/instrumentation.ts';
import { createSpanReader } from '../../src/sources/index.ts';
import type { Attributes, DecodedSpan } from '../../src/decode/span.ts';
import { startProviderStandIn, OPENAI_USAGE, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { ourSpans, testTracing } from './tracing.ts';

const tracing = testTracing();
const instrumentation = new OpenAIInstrumentation({ enabled: false });
let standIn: ProviderStandIn;

before(async () => {
  standIn = await startProviderStandIn();
  instrumentation.setTracerProvider(tracing.provider);
  instrumentation.enable();
  instrumentation.patch(openaiEsm);
});
after(async () => {
  instrumentation.unpatch(openaiEsm);
  await standIn.close();
});

const ms = ([s, ns]: [number, number]) => s * 1000 + ns / 1e6;

/** What the processor's decoders make of an exported span (the OTLP round trip itself is tested in test/decode). */
function asDecoded(span: ReadableSpan): DecodedSpan {
  return {
    traceId: span.spanContext().traceId, spanId: span.spanContext().spanId, parentSpanId: span.parentSpanContext?.spanId ?? '',
    name: span.name, kind: span.kind + 1, startTimeMs: ms(span.startTime), endTimeMs: ms(span.endTime),
    statusCode: span.status.code, statusMessage: span.status.message ?? '', attributes: span.attributes as Attributes,
    scopeName: span.instrumentationScope.name, scopeVersion: span.instrumentationScope.version ?? '', resource: {},
  };
}

it('the processor reads our span as our own source, with its user, properties and tokens', async () => {
  const client = new openaiEsm.OpenAI({ apiKey: 'sk-x', baseURL: `${standIn.url}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, {
    headers: { 'Helicone-User-Id': 'wire-user', 'Helicone-Property-Plan': 'Premium' },
  });
  const [span] = await ourSpans(tracing);
  const reading = createSpanReader()(asDecoded(span!));
  const record = reading.call?.record;
  assert.ok(record, 'counted as an LLM call');
  assert.equal(record.source, 'llm-user-metrics');
  assert.equal(record.userId, 'wire-user');
  assert.deepEqual(record.properties, { plan: 'Premium' });
  assert.deepEqual([record.tokens.input + record.tokens.cacheRead + record.tokens.cacheWrite, record.tokens.output], [OPENAI_USAGE.input, OPENAI_USAGE.output]);
});
