/**
 * Streaming edge cases on every supported major: openai 4, 6 and 7, each with its ESM build patched and its CJS build
 * as the uninstrumented baseline (the two builds are separate module graphs with separate classes).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SpanStatusCode } from '@opentelemetry/api';
import * as openai7 from 'openai';
import * as openai6 from 'openai-v6';
import * as openai4 from 'openai-v4';
import { OpenAIInstrumentation } from '../../instrumentation/openai/instrumentation.ts';
import { startProviderStandIn, OPENAI_USAGE, STREAM_TEXT, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { ourSpans, testTracing, waitForSpans } from './tracing.ts';

const require = createRequire(import.meta.url);
const runFile = promisify(execFile);
const tracing = testTracing();
const instrumentation = new OpenAIInstrumentation({ enabled: false });
let standIn: ProviderStandIn;

/**
 * How each major reports a connection cut mid-stream to the app: undici's `TypeError: terminated` on 6 and 7,
 * node-fetch's `Premature close` (a plain Error with a Node error code) on 4.
 */
const majors = [
  { name: 'openai 7', patched: openai7 as any, baseline: require('openai'), dropped: { errorType: 'TypeError', message: /terminated/ } },
  { name: 'openai 6', patched: openai6 as any, baseline: require('openai-v6'), dropped: { errorType: 'TypeError', message: /terminated/ } },
  { name: 'openai 4', patched: openai4 as any, baseline: require('openai-v4'), dropped: { errorType: 'ERR_STREAM_PREMATURE_CLOSE', message: /Premature close/ } },
];

before(async () => {
  standIn = await startProviderStandIn();
  instrumentation.setTracerProvider(tracing.provider);
  instrumentation.enable();
  for (const major of majors) instrumentation.patch(major.patched);
});
after(async () => {
  for (const major of majors) instrumentation.unpatch(major.patched);
  await standIn.close();
});
beforeEach(() => tracing.reset());

const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }], stream: true as const };

async function collect(iterable: AsyncIterable<unknown>) {
  const out: unknown[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function onlySpan() {
  const spans = await waitForSpans(tracing, 1);
  await new Promise((r) => setTimeout(r, 20));
  const again = await ourSpans(tracing);
  assert.equal(again.length, 1, `expected exactly one span, got ${again.length}`);
  return spans[0]!;
}

for (const major of majors) describe(major.name, () => {
  const ours = () => new major.patched.OpenAI({ apiKey: 'sk-x', baseURL: `${standIn.url}/v1`, maxRetries: 0 });
  const theirs = () => new major.baseline.OpenAI({ apiKey: 'sk-x', baseURL: `${standIn.url}/v1`, maxRetries: 0 });
  /** The chat stream helper: `chat.completions.stream()` in 6 and 7, `beta.chat.completions.stream()` in 4. */
  const streamHelper = (client: any) => client.chat.completions.stream ? client.chat.completions : client.beta.chat.completions;
  const expectedChunks = async () => collect(await theirs().chat.completions.create(body));

  it('tee(): both branches see every chunk, one span with usage', async () => {
    const [left, right] = (await ours().chat.completions.create(body)).tee();
    const [a, b] = await Promise.all([collect(left), collect(right)]);
    const expected = await expectedChunks();
    assert.deepEqual(a, expected);
    assert.deepEqual(b, expected);
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
  });

  it('breaking out early: the span ends once, marked incomplete', async () => {
    const stream = await ours().chat.completions.create(body);
    for await (const _chunk of stream) break;
    const span = await onlySpan();
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], true);
    assert.equal(span.attributes['llm_user_metrics.stream.stopped_by_app'], true, 'the app chose to stop: not a failure');
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], undefined);
  });

  it('controller.abort(): iteration stops as without us, the span ends', async () => {
    const stream = await ours().chat.completions.create(body, { headers: { 'x-stand-in-delay-ms': '30' } });
    const seen: unknown[] = [];
    for await (const chunk of stream) {
      seen.push(chunk);
      stream.controller.abort();
    }
    assert.equal(seen.length, 1);
    const span = await onlySpan();
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], true);
    assert.equal(span.attributes['llm_user_metrics.stream.stopped_by_app'], true);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
  });

  it('controller.abort() without iterating: the span ends, marked incomplete', async () => {
    const stream = await ours().chat.completions.create(body, { headers: { 'x-stand-in-delay-ms': '30' } });
    stream.controller.abort();
    const span = await onlySpan();
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], true);
    assert.equal(span.attributes['llm_user_metrics.stream.stopped_by_app'], true);
    assert.equal(span.attributes['gen_ai.response.time_to_first_chunk'], undefined);
  });

  it('a stream awaited and dropped unread: the span ends, marked incomplete, once the stream is collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await (async () => { await ours().chat.completions.create(body); })();
    let spans = await ourSpans(tracing);
    for (let i = 0; i < 20 && spans.length === 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
      spans = await ourSpans(tracing);
    }
    assert.equal(spans.length, 1, 'the span ended after the stream was garbage collected');
    assert.equal(spans[0]!.attributes['llm_user_metrics.stream.incomplete'], true);
    assert.equal(spans[0]!.attributes['llm_user_metrics.stream.stopped_by_app'], true);
  });

  it('tee() with garbage collection while the branches are read: the span ends complete, with usage, not early', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const [left, right] = (await ours().chat.completions.create(body, { headers: { 'x-stand-in-delay-ms': '5' } })).tee();
    const first = await left[Symbol.asyncIterator]().next();
    assert.equal(first.done, false);
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await ourSpans(tracing)).length, 0, 'no span ended while the branches are still being read');
    await Promise.all([collect(left), collect(right)]);
    const span = await onlySpan();
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], undefined);
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
  });

  it('iterating twice: the second iteration fails as it does without us; one span', async () => {
    const stream = await ours().chat.completions.create(body);
    await collect(stream);
    await assert.rejects(collect(stream), /consumed stream/);
    const control = await theirs().chat.completions.create(body);
    await collect(control);
    await assert.rejects(collect(control), /consumed stream/);
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], OPENAI_USAGE.input);
  });

  it('toReadableStream(): the same bytes as without us', async () => {
    const read = async (stream: { toReadableStream(): ReadableStream }) => new Response(stream.toReadableStream()).text();
    const mine = await read(await ours().chat.completions.create(body));
    const control = await read(await theirs().chat.completions.create(body));
    assert.equal(mine, control);
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
  });

  it('withResponse(): data is the stream, response the HTTP response', async () => {
    const { data, response } = await ours().chat.completions.create(body).withResponse();
    assert.equal(response.status, 200);
    assert.deepEqual(await collect(data), await expectedChunks());
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
  });

  it('asResponse(): the raw SSE body is what the app would get without us, and usage is still counted', async () => {
    const mine = await (await ours().chat.completions.create(body).asResponse()).text();
    const control = await (await theirs().chat.completions.create(body).asResponse()).text();
    assert.equal(mine, control);
    assert.ok(mine.includes(STREAM_TEXT[0]));
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], OPENAI_USAGE.input);
  });

  it("asResponse(): the provider's own bytes, even with `$` in the text and JSON not written as JSON.stringify would", async () => {
    const headers = { 'x-stand-in-text': JSON.stringify(['Cost: $$5 ', "and $& or $' or $`"]), 'x-stand-in-json': 'spaced' };
    for (const create of [(c: any) => c.chat.completions.create(body, { headers }), (c: any) => c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi', stream: true }, { headers })]) {
      tracing.reset();
      const mine = await (await create(ours()).asResponse()).text();
      const control = await (await create(theirs()).asResponse()).text();
      assert.ok(control.includes('"Cost: $$5 "') && control.includes('": "'), 'the stand-in sent the text and spacing asked for');
      assert.equal(mine, control);
      const span = await onlySpan();
      assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
    }
  });

  it('asResponse() on a plain call: the JSON body is untouched, usage from a clone', async () => {
    const response = await ours().chat.completions.create({ ...body, stream: false }).asResponse();
    const json = await response.json() as { usage: { prompt_tokens: number } };
    assert.equal(json.usage.prompt_tokens, OPENAI_USAGE.input);
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], OPENAI_USAGE.input);
  });

  it('chat.completions.stream() helper: counted once, finalChatCompletion as without us', async () => {
    const final = await streamHelper(ours()).stream({ model: 'gpt-4o-mini', messages: body.messages }).finalChatCompletion();
    assert.equal(final.choices[0]!.message.content, STREAM_TEXT.join(''));
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
  });

  it('time to first chunk: measured from the call to the first output, well before the end', async () => {
    const stream = await ours().chat.completions.create(body, { headers: { 'x-stand-in-delay-ms': '40' } });
    await collect(stream);
    const span = await onlySpan();
    const ttft = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
    const duration = span.duration[0] + span.duration[1] / 1e9;
    assert.ok(ttft > 0 && ttft < duration - 0.1, `ttft ${ttft}s, duration ${duration}s`);
  });

  /** Seconds from the call to the first output, as the span says; checks it covers the stand-in's wait for output. */
  async function timeToFirstOutput(waitMs: number) {
    const span = await onlySpan();
    const ttft = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
    assert.equal(typeof ttft, 'number');
    assert.ok(ttft >= waitMs / 1000, `time to first chunk ${ttft}s, but output came after ${waitMs}ms`);
    return ttft;
  }

  const waitForOutput = { headers: { 'x-stand-in-first-output-delay-ms': '150' } };

  it('time to first chunk: Responses streams start the clock at the first *.delta, not response.created', async () => {
    const events = await collect(await ours().responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true }, waitForOutput));
    assert.equal((events[0] as { type: string }).type, 'response.created');
    await timeToFirstOutput(150);
  });

  it('time to first chunk: chat streams skip the role-only first chunk', async () => {
    await collect(await ours().chat.completions.create(body, waitForOutput));
    await timeToFirstOutput(150);
  });

  it('a provider that ignores stream_options: the stream is complete, not marked incomplete, just without usage', async () => {
    const ignoring = { headers: { 'x-stand-in-ignore-stream-options': 'true' } };
    const seen = await collect(await ours().chat.completions.create(body, ignoring));
    assert.deepEqual(seen, await collect(await theirs().chat.completions.create(body, ignoring)));
    const span = await onlySpan();
    assert.equal(JSON.parse(standIn.requests.at(-2)!.body).stream_options.include_usage, true, 'we asked for usage');
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], undefined);
    assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], ['stop']);
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], undefined);
  });

  it('helpers whose HTTP call fails (responses.stream(), chat.completions.stream()): one error span each', async () => {
    await assert.rejects(ours().responses.stream({ model: 'refuse-429', input: 'hi' }).finalResponse(), (e: any) => e.status === 429);
    await assert.rejects(streamHelper(ours()).stream({ model: 'refuse-429', messages: body.messages }).finalChatCompletion(), (e: any) => e.status === 429);
    const spans = await waitForSpans(tracing, 2);
    assert.deepEqual(spans.map((s) => s.attributes['error.type']), ['RateLimitError', 'RateLimitError']);
  });

  it('the app body object is not changed by the usage request', async () => {
    const appBody = { ...body };
    await collect(await ours().chat.completions.create(appBody));
    assert.equal('stream_options' in appBody, false);
    await onlySpan();
  });

  const dropAfterThree = { headers: { 'x-stand-in-drop-after': '3' } };

  it('a connection dropped mid-stream: the app gets the error it gets without us, the span is an error', async () => {
    const read = async (client: any) => collect(await client.chat.completions.create(body, dropAfterThree))
      .then(() => undefined, (e: unknown) => e as Error);
    const mine = await read(ours());
    const control = await read(theirs());
    assert.ok(control instanceof Error && major.dropped.message.test(control.message), `baseline: ${String(control)}`);
    assert.ok(mine instanceof Error);
    assert.equal(mine.constructor.name, control.constructor.name);
    assert.equal(mine.message, control.message);
    const span = await onlySpan();
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], major.dropped.errorType);
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], true);
    assert.equal(span.attributes['llm_user_metrics.stream.stopped_by_app'], undefined);
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], undefined);
  });

  it('a connection dropped mid-stream, events seen before the drop are the same as without us', async () => {
    const seenBy = async (client: any) => {
      const seen: unknown[] = [];
      await assert.rejects(async () => { for await (const chunk of await client.chat.completions.create(body, dropAfterThree)) seen.push(chunk); });
      return seen;
    };
    const mine = await seenBy(ours());
    assert.deepEqual(mine, await seenBy(theirs()));
    assert.equal(mine.length, 3);
    await onlySpan();
  });

  it('a connection dropped mid-stream read through asResponse(): the body fails as without us, the span is an error', async () => {
    const failure = async (client: any) => (await client.chat.completions.create(body, dropAfterThree).asResponse()).text()
      .then(() => undefined, (e: unknown) => e as Error);
    const mine = await failure(ours());
    const control = await failure(theirs());
    assert.ok(control instanceof Error && major.dropped.message.test(control.message), `baseline: ${String(control)}`);
    assert.equal(mine?.constructor.name, control.constructor.name);
    assert.equal(mine?.message, control.message);
    const span = await onlySpan();
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.attributes['error.type'], major.dropped.errorType);
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], true);
  });

  it('asResponse() on a stream the app reads with `stream_options.include_usage`: untouched, usage counted', async () => {
    const asked = { ...body, stream_options: { include_usage: true } };
    const mine = await (await ours().chat.completions.create(asked).asResponse()).text();
    assert.equal(mine, await (await theirs().chat.completions.create(asked).asResponse()).text());
    assert.ok(mine.includes('"usage":null') && mine.includes('"prompt_tokens"'), 'the usage the app asked for is kept');
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
    assert.equal(span.attributes['llm_user_metrics.stream.usage_requested'], undefined);
  });

  it('a usage chunk without a `choices` key: hidden from the app like `choices: []`, its usage still counted', async () => {
    const noChoices = { headers: { 'x-stand-in-usage-chunk': 'no-choices' } };
    const seen = await collect(await ours().chat.completions.create(body, noChoices));
    assert.deepEqual(seen, await collect(await theirs().chat.completions.create(body, noChoices)));
    assert.ok(seen.every((chunk) => !('usage' in (chunk as object))), 'no chunk carries usage');
    const span = await onlySpan();
    assert.equal(span.attributes['gen_ai.usage.input_tokens'], OPENAI_USAGE.input);
    tracing.reset();
    const raw = await (await ours().chat.completions.create(body, noChoices).asResponse()).text();
    assert.equal(raw, await (await theirs().chat.completions.create(body, noChoices).asResponse()).text());
    assert.ok(!raw.includes('prompt_tokens'), 'the raw body has no usage chunk');
    assert.equal((await onlySpan()).attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
  });

  it('asResponse() on a stream whose body the app cancels: the span ends, stopped by the app, not an error', async () => {
    const response = await ours().chat.completions.create(body, { headers: { 'x-stand-in-delay-ms': '30' } }).asResponse();
    const stream: any = response.body;
    if (typeof stream.getReader === 'function') {
      const reader = stream.getReader();
      await reader.read();
      await reader.cancel();
    } else {
      for await (const _chunk of stream) break;
    }
    const span = await onlySpan();
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.equal(span.attributes['llm_user_metrics.stream.incomplete'], true);
    assert.equal(span.attributes['llm_user_metrics.stream.stopped_by_app'], true);
  });

});

it('fire and forget: a failed call the app never awaits is an unhandled rejection, as it is without us', async () => {
  const app = fileURLToPath(new URL('fixtures/fire-and-forget.ts', import.meta.url));
  const run = (mode: string) => runFile(process.execPath, [app, `${standIn.url}/v1`, mode], { timeout: 10_000 });
  const [bare, instrumented] = await Promise.all([run('bare'), run('instrumented')]);
  assert.equal(bare.stdout, 'unhandled 500\ndone\n');
  assert.equal(instrumented.stdout, bare.stdout);
});

