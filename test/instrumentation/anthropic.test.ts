import { after, before, beforeEach, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanStatusCode } from '@opentelemetry/api';
import * as anthropicEsm from '@anthropic-ai/sdk';
import { AnthropicInstrumentation } from '../../instrumentation/anthropic/instrumentation.ts';
import { withUser } from '../../instrumentation/context.ts';
import { startProviderStandIn, ANTHROPIC_USAGE, STREAM_TEXT, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { ourSpans, testTracing, waitForSpans } from './tracing.ts';

const tracing = testTracing();
const SECRET = 'sk-ant-SECRET-never-exported';
const instrumentation = new AnthropicInstrumentation({ enabled: false });
let standIn: ProviderStandIn;

before(async () => {
  standIn = await startProviderStandIn();
  instrumentation.setTracerProvider(tracing.provider);
  instrumentation.enable();
  instrumentation.patch(anthropicEsm);
});
after(async () => {
  instrumentation.unpatch(anthropicEsm);
  await standIn.close();
});
beforeEach(() => tracing.reset());

const client = () => new anthropicEsm.Anthropic({ apiKey: SECRET, baseURL: standIn.url, maxRetries: 0 });
const params = { model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user' as const, content: 'a secret prompt' }] };
const ask = { headers: { 'x-stand-in-usage': 'cached=300,cache_write=100' } };

function assertUsage(span: { attributes: Record<string, unknown> }) {
  // The conventions' input total includes cache reads and writes, which Anthropic reports beside its input count.
  assert.equal(span.attributes['gen_ai.usage.input_tokens'], ANTHROPIC_USAGE.input + 300 + 100);
  assert.equal(span.attributes['gen_ai.usage.cache_read.input_tokens'], 300);
  assert.equal(span.attributes['gen_ai.usage.cache_creation.input_tokens'], 100);
  assert.equal(span.attributes['gen_ai.usage.output_tokens'], ANTHROPIC_USAGE.output);
  assert.equal(span.attributes['gen_ai.provider.name'], 'anthropic');
  assert.equal(span.attributes['gen_ai.response.model'], 'claude-3-5-haiku-20241022');
  const text = JSON.stringify(span.attributes);
  assert.ok(!text.includes(SECRET) && !text.includes('a secret prompt'));
}

it('messages.create plain: one counted span with the user from metadata.user_id', async () => {
  const message = await client().messages.create({ ...params, metadata: { user_id: 'meta-user' } }, ask);
  assert.equal((message.content[0] as any).text, STREAM_TEXT.join(''));
  const [span, ...more] = await ourSpans(tracing);
  assert.equal(more.length, 0);
  assertUsage(span!);
  assert.equal(span!.attributes['user.id'], 'meta-user');
  assert.deepEqual(span!.attributes['gen_ai.response.finish_reasons'], ['end_turn']);
});

it('stream: true: cumulative message_delta usage is not double counted; events unchanged', async () => {
  const events: any[] = [];
  const stream = await withUser('stream-user', () => client().messages.create({ ...params, stream: true }, ask));
  for await (const event of stream) events.push(event);
  assert.deepEqual(events.map((e) => e.type), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  const [span] = await waitForSpans(tracing, 1);
  assertUsage(span!);
  assert.equal(span!.attributes['user.id'], 'stream-user');
  assert.equal(typeof span!.attributes['gen_ai.response.time_to_first_chunk'], 'number');
});

it('time to first chunk: from the call to the first content_block_delta, not message_start', async () => {
  const stream = await client().messages.create({ ...params, stream: true }, { headers: { 'x-stand-in-first-output-delay-ms': '150' } });
  for await (const _event of stream);
  const [span] = await waitForSpans(tracing, 1);
  const ttft = span!.attributes['gen_ai.response.time_to_first_chunk'] as number;
  assert.ok(ttft >= 0.15, `time to first chunk ${ttft}s, but output came after 150ms`);
});

it('messages.stream() helper: counted once, finalMessage as without us', async () => {
  const final = await client().messages.stream(params, { headers: { ...ask.headers, 'Helicone-User-Id': 'helper-user' } }).finalMessage();
  assert.equal(final.usage.output_tokens, ANTHROPIC_USAGE.output);
  const spans = await waitForSpans(tracing, 1);
  assert.equal(spans.length, 1);
  assertUsage(spans[0]!);
  assert.equal(spans[0]!.attributes['user.id'], 'helper-user');
});

it("the SDK's own span is a child of ours and carries no user, so it is not a second counted call", async () => {
  await client().messages.create(params, { headers: { 'Helicone-User-Id': 'u1' } });
  const all = await tracing.spans();
  const [mine] = all.filter((s) => s.attributes['llm_user_metrics.instrumented'] === true);
  const sdkSpans = all.filter((s) => s.instrumentationScope.name === 'com.anthropic.sdk.typescript');
  assert.ok(mine);
  assert.equal(sdkSpans.length, 1, 'the SDK (>= 0.134) emits its own span when a tracer provider is registered');
  for (const span of sdkSpans) {
    assert.equal(span.parentSpanContext?.spanId, mine.spanContext().spanId);
    assert.equal(span.attributes['user.id'], undefined);
    assert.equal(span.attributes['llm_user_metrics.instrumented'], undefined);
  }
});

it('HTTP 429: RateLimitError for the app, error span for us', async () => {
  await assert.rejects(client().messages.create({ ...params, model: 'refuse-429' }), (e: any) => e.status === 429);
  const [span] = await waitForSpans(tracing, 1);
  assert.equal(span!.status.code, SpanStatusCode.ERROR);
  assert.equal(span!.attributes['error.type'], 'RateLimitError');
});

it('a connection dropped mid-stream: the app gets the error, our span is an error with the usage seen so far', async () => {
  const seen: unknown[] = [];
  await assert.rejects(async () => {
    const stream = await client().messages.create({ ...params, stream: true }, { headers: { 'x-stand-in-drop-after': '4' } });
    for await (const event of stream) seen.push(event);
  }, (error: Error) => error instanceof TypeError && /terminated/.test(error.message));
  assert.equal(seen.length, 3, 'the four events sent before the cut, less the ping the SDK skips');
  const [span] = await waitForSpans(tracing, 1);
  assert.equal(span!.status.code, SpanStatusCode.ERROR);
  assert.equal(span!.attributes['error.type'], 'TypeError');
  assert.equal(span!.attributes['llm_user_metrics.stream.incomplete'], true);
  assert.equal(span!.attributes['llm_user_metrics.stream.stopped_by_app'], undefined);
  // message_start came before the cut: its input count is the usage seen so far.
  assert.equal(span!.attributes['gen_ai.usage.input_tokens'], ANTHROPIC_USAGE.input);
});

it('breaking out of a stream early: marked stopped by the app, not an error', async () => {
  for await (const _event of await client().messages.create({ ...params, stream: true })) break;
  const [span] = await waitForSpans(tracing, 1);
  assert.equal(span!.status.code, SpanStatusCode.UNSET);
  assert.equal(span!.attributes['llm_user_metrics.stream.incomplete'], true);
  assert.equal(span!.attributes['llm_user_metrics.stream.stopped_by_app'], true);
});
