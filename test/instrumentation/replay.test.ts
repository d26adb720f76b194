/**
 * Replays recorded OpenAI responses (fixtures/replay/, written from OpenAI's documented formats) through a local
 * server to openai 4, 6 and 7 with our instrumentation (ESM builds patched; the CJS builds, unpatched, are the
 * baseline). For each: the span (model, usage buckets, finish reasons, status, user, property), and that the app
 * receives exactly the recorded content, except what our usage request added, which it must never see.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { SpanStatusCode } from '@opentelemetry/api';
import * as openai7 from 'openai';
import * as openai6 from 'openai-v6';
import * as openai4 from 'openai-v4';
import { OpenAIInstrumentation } from '../../instrumentation/openai/instrumentation.ts';
import { recordingFor, sseEvents, startReplayServer, type ReplayServer } from './replay-server.ts';
import { ourSpans, testTracing, waitForSpans } from './tracing.ts';

const require = createRequire(import.meta.url);
const tracing = testTracing();
const instrumentation = new OpenAIInstrumentation({ enabled: false });
let server: ReplayServer;

const majors = [
  { name: 'openai 7', patched: openai7 as any, baseline: require('openai') },
  { name: 'openai 6', patched: openai6 as any, baseline: require('openai-v6') },
  { name: 'openai 4', patched: openai4 as any, baseline: require('openai-v4') },
];

before(async () => {
  server = await startReplayServer();
  instrumentation.setTracerProvider(tracing.provider);
  instrumentation.enable();
  for (const major of majors) instrumentation.patch(major.patched);
});
after(async () => {
  for (const major of majors) instrumentation.unpatch(major.patched);
  await server.close();
});
beforeEach(() => tracing.reset());

interface ExpectedSpan {
  readonly model?: string;
  readonly input?: number;
  readonly output?: number;
  readonly cacheRead?: number;
  readonly reasoning?: number;
  readonly finishReasons?: readonly string[];
  /** Set for a failed call: the span's `error.type`. */
  readonly errorType?: string;
  readonly httpStatus?: number;
  readonly incomplete?: boolean;
}

interface Scenario {
  readonly title: string;
  readonly recording: string;
  readonly endpoint: 'chat' | 'responses';
  readonly body: Record<string, unknown>;
  readonly cut?: boolean;
  readonly span: ExpectedSpan;
}

const messages = [{ role: 'user', content: 'hi' }];
const weatherTool = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

const scenarios: Scenario[] = [
  { title: 'plain chat', recording: 'chat-plain', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages },
    span: { model: 'gpt-4o-mini-2024-07-18', input: 24, output: 8, cacheRead: 0, reasoning: 0, finishReasons: ['stop'] } },
  { title: 'plain chat with a tool call and cached input', recording: 'chat-tools', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, tools: [weatherTool] },
    span: { model: 'gpt-4o-mini-2024-07-18', input: 1290, output: 17, cacheRead: 1152, reasoning: 0, finishReasons: ['tool_calls'] } },
  { title: 'stream, the app did not ask for usage (we ask and hide it)', recording: 'chat-stream', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, stream: true },
    span: { model: 'gpt-4o-mini-2024-07-18', input: 11, output: 3, cacheRead: 0, reasoning: 0, finishReasons: ['stop'] } },
  { title: 'stream, the app asked for usage', recording: 'chat-stream', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } },
    span: { model: 'gpt-4o-mini-2024-07-18', input: 11, output: 3, cacheRead: 0, reasoning: 0, finishReasons: ['stop'] } },
  { title: 'streamed tool call', recording: 'chat-tools-stream', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, tools: [weatherTool], stream: true },
    span: { model: 'gpt-4o-mini-2024-07-18', input: 82, output: 15, cacheRead: 0, reasoning: 0, finishReasons: ['tool_calls'] } },
  { title: 'n=2 stream: two choices, a finish reason each', recording: 'chat-n2-stream', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, n: 2, stream: true },
    span: { model: 'gpt-4o-mini-2024-07-18', input: 15, output: 6, cacheRead: 0, reasoning: 0, finishReasons: ['stop', 'length'] } },
  { title: 'OpenAI-compatible server: usage chunk without `choices`', recording: 'compat-no-choices-stream', endpoint: 'chat', body: { model: 'llama-3.1-8b-instruct', messages, stream: true },
    span: { model: 'llama-3.1-8b-instruct', input: 9, output: 2, finishReasons: ['stop'] } },
  { title: 'plain Responses call', recording: 'responses-plain', endpoint: 'responses', body: { model: 'gpt-4.1-mini', input: 'hi' },
    span: { model: 'gpt-4.1-mini-2025-04-14', input: 36, output: 87, cacheRead: 0, reasoning: 0, finishReasons: ['completed'] } },
  { title: 'Responses stream', recording: 'responses-stream', endpoint: 'responses', body: { model: 'gpt-4.1-mini', input: 'hi', stream: true },
    span: { model: 'gpt-4.1-mini-2025-04-14', input: 36, output: 87, cacheRead: 0, reasoning: 0, finishReasons: ['completed'] } },
  { title: 'HTTP 400', recording: 'error-bad-request', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, temperature: 9 },
    span: { errorType: 'BadRequestError', httpStatus: 400 } },
  { title: 'HTTP 404 (unknown model)', recording: 'error-unknown-model', endpoint: 'chat', body: { model: 'gpt-nonexistent', messages, stream: true },
    span: { errorType: 'NotFoundError', httpStatus: 404 } },
  { title: 'HTTP 429', recording: 'error-rate-limit', endpoint: 'responses', body: { model: 'gpt-4o-mini', input: 'hi' },
    span: { errorType: 'RateLimitError', httpStatus: 429 } },
  { title: 'HTTP 500', recording: 'error-server', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages },
    span: { errorType: 'InternalServerError', httpStatus: 500 } },
  { title: 'connection dropped after three chunks', recording: 'chat-cut-stream', endpoint: 'chat', body: { model: 'gpt-4o-mini', messages, stream: true }, cut: true,
    span: { model: 'gpt-4o-mini-2024-07-18', incomplete: true } },
];

const TAGS = { 'Helicone-User-Id': 'replay-user', 'Helicone-Property-Plan': 'pro' };

/** What the app got: the response, every streamed event, or the error. */
async function run(client: any, scenario: Scenario): Promise<{ data?: unknown; events?: unknown[]; error?: any }> {
  const headers = { ...TAGS, 'x-replay': scenario.recording, ...(scenario.cut ? { 'x-replay-cut': 'true' } : {}) };
  const resource = scenario.endpoint === 'chat' ? client.chat.completions : client.responses;
  const events: unknown[] = [];
  try {
    const data = await resource.create({ ...scenario.body }, { headers });
    if (scenario.body.stream !== true) return { data };
    for await (const event of data) events.push(event);
    return { events };
  } catch (error) {
    return { events, error };
  }
}

/** What the app must receive: the recording it would get without us (the usage variant only if it asked). */
function recorded(scenario: Scenario) {
  return recordingFor(scenario.recording, scenario.body as never);
}

function checkSpan(span: Awaited<ReturnType<typeof ourSpans>>[number], scenario: Scenario) {
  const a = span.attributes;
  const want = scenario.span;
  assert.equal(a['user.id'], 'replay-user');
  assert.equal(a['llm_user_metrics.property.plan'], 'pro');
  assert.equal(a['gen_ai.request.model'], scenario.body.model);
  assert.equal(a['gen_ai.response.model'], want.model);
  assert.equal(a['gen_ai.usage.input_tokens'], want.input);
  assert.equal(a['gen_ai.usage.output_tokens'], want.output);
  assert.equal(a['gen_ai.usage.cache_read.input_tokens'], want.cacheRead);
  assert.equal(a['gen_ai.usage.reasoning.output_tokens'], want.reasoning);
  assert.deepEqual(a['gen_ai.response.finish_reasons'], want.finishReasons);
  assert.equal(a['http.response.status_code'], want.httpStatus);
  assert.equal(a['llm_user_metrics.stream.incomplete'], want.incomplete);
  assert.equal(a['llm_user_metrics.stream.stopped_by_app'], undefined);
  const failed = want.errorType !== undefined || want.incomplete === true;
  assert.equal(span.status.code, failed ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
  if (want.errorType) assert.equal(a['error.type'], want.errorType);
}

for (const major of majors) describe(`replay on ${major.name}`, () => {
  const client = (module: any) => new module.OpenAI({ apiKey: 'sk-replay', baseURL: `${server.url}/v1`, maxRetries: 0 });

  for (const scenario of scenarios) it(scenario.title, async () => {
    const mine = await run(client(major.patched), scenario);
    const [span] = await waitForSpans(tracing, 1);
    assert.ok(span, 'one span ended');
    assert.equal((await ourSpans(tracing)).length, 1);
    checkSpan(span, scenario);
    const control = await run(client(major.baseline), scenario);
    const recording = recorded(scenario);
    if (scenario.span.errorType || scenario.cut) {
      assert.ok(control.error instanceof Error, 'the baseline failed too');
      assert.equal(mine.error?.constructor.name, control.error.constructor.name);
      assert.equal(mine.error?.message, control.error.message);
      assert.equal(mine.error?.status, (control.error as { status?: number }).status);
      if (scenario.cut) assert.deepEqual(mine.events, sseEvents(recording.text));
      return;
    }
    assert.equal(mine.error, undefined);
    if (mine.events) {
      assert.deepEqual(mine.events, sseEvents(recording.text), `the app sees ${recording.file}, event for event`);
    } else {
      // The SDKs add `output_text` to a Responses object (the text of its output messages), with or without us.
      const { output_text: _added, ...data } = mine.data as Record<string, unknown>;
      assert.deepEqual(data, JSON.parse(recording.text), `the app sees ${recording.file}`);
    }
    assert.deepEqual(mine, control, 'and exactly what it sees without us');
  });

  for (const scenario of scenarios.filter((s) => s.body.stream === true && !s.span.errorType && !s.cut)) {
    it(`${scenario.title}, read raw through asResponse(): the recorded bytes`, async () => {
      const headers = { ...TAGS, 'x-replay': scenario.recording };
      const resource = scenario.endpoint === 'chat' ? client(major.patched).chat.completions : client(major.patched).responses;
      const text = await (await resource.create({ ...scenario.body }, { headers }).asResponse()).text();
      assert.equal(text, recorded(scenario).text);
      const [span] = await waitForSpans(tracing, 1);
      assert.ok(span, 'the span ended');
      checkSpan(span, scenario);
    });
  }
});
