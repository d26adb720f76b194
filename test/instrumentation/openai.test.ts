import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { SpanStatusCode } from '@opentelemetry/api';
import * as openaiEsm from 'openai';
import { OpenAIInstrumentation } from '../../instrumentation/openai/instrumentation.ts';
import { withProperties, withUser } from '../../instrumentation/context.ts';
import { startProviderStandIn, OPENAI_USAGE, STREAM_TEXT, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { ourSpans, testTracing, waitForSpans } from './tracing.ts';

const require = createRequire(import.meta.url);
const tracing = testTracing();
const SECRET = 'sk-test-SECRET-never-exported';

/** The three majors we support, patched in process (the ESM build of 7; the CJS builds of 4 and 6 via aliases). */
const versions = [
  { name: 'openai 7 (ESM)', module: openaiEsm as any },
  { name: 'openai 6 (CJS)', module: require('openai-v6') },
  { name: 'openai 4 (CJS)', module: require('openai-v4') },
];
// The CJS build of 7 stays unpatched: it is the baseline for "the app sees exactly what it would without us".
const baseline = require('openai');

let standIn: ProviderStandIn;
const instrumentation = new OpenAIInstrumentation({ enabled: false });

before(async () => {
  standIn = await startProviderStandIn();
  instrumentation.setTracerProvider(tracing.provider);
  instrumentation.enable();
  for (const v of versions) instrumentation.patch(v.module);
});
after(async () => {
  for (const v of versions) instrumentation.unpatch(v.module);
  await standIn.close();
});
beforeEach(() => tracing.reset());

const client = (module: any, extra: object = {}) => new module.OpenAI({ apiKey: SECRET, baseURL: `${standIn.url}/v1`, maxRetries: 0, ...extra });
const messages = [{ role: 'user' as const, content: 'a secret prompt' }];

async function collect(iterable: AsyncIterable<unknown>) {
  const out: unknown[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function assertNoSecrets(span: { attributes: Record<string, unknown> }) {
  const text = JSON.stringify(span.attributes);
  assert.ok(!text.includes(SECRET), 'API key exported');
  assert.ok(!text.includes('a secret prompt'), 'prompt exported');
  assert.ok(!/authorization/i.test(text), 'authorization exported');
}

for (const v of versions) {
  describe(v.name, () => {
    it('chat plain: one CLIENT span with usage, user and properties from Helicone headers', async () => {
      const result = await client(v.module).chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 50 }, {
        headers: { 'Helicone-User-Id': 'user-123', 'helicone-property-Plan': 'premium', 'Helicone-Auth': 'Bearer sk-helicone' },
      });
      assert.equal(result.choices[0]!.message.content, STREAM_TEXT.join(''));
      const [span, ...more] = await ourSpans(tracing);
      assert.equal(more.length, 0);
      assert.equal(span!.name, 'chat gpt-4o-mini');
      assert.equal(span!.kind, 2 /* CLIENT */);
      assert.deepEqual(
        Object.fromEntries(['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model', 'gen_ai.response.model',
          'gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens', 'user.id', 'llm_user_metrics.property.plan', 'gen_ai.request.max_tokens',
          'server.address', 'gen_ai.response.id'].map((k) => [k, span!.attributes[k]])),
        {
          'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
          'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'gen_ai.usage.input_tokens': OPENAI_USAGE.input,
          'gen_ai.usage.output_tokens': OPENAI_USAGE.output, 'user.id': 'user-123', 'llm_user_metrics.property.plan': 'premium',
          'gen_ai.request.max_tokens': 50, 'server.address': '127.0.0.1', 'gen_ai.response.id': 'chatcmpl-standin',
        });
      assert.deepEqual(span!.attributes['gen_ai.response.finish_reasons'], ['stop']);
      assert.ok(!JSON.stringify(span!.attributes).includes('sk-helicone'));
      assertNoSecrets(span!);
    });

    it('chat plain: cached and reasoning tokens stay inside the totals', async () => {
      await client(v.module).chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers: { 'x-stand-in-usage': 'cached=200,reasoning=100' } });
      const [span] = await ourSpans(tracing);
      assert.equal(span!.attributes['gen_ai.usage.input_tokens'], 1000);
      assert.equal(span!.attributes['gen_ai.usage.cache_read.input_tokens'], 200);
      assert.equal(span!.attributes['gen_ai.usage.reasoning.output_tokens'], 100);
      assert.equal(span!.attributes['gen_ai.usage.output_tokens'], 500);
    });

    it('chat stream without include_usage: usage counted, the app sees the chunks it would see without us', async () => {
      const stream = await client(v.module).chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
      const seen = await collect(stream);
      const expected = await collect(await client(baseline).chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }));
      assert.deepEqual(seen, expected);
      assert.ok(seen.every((c: any) => c.choices.length > 0 && !('usage' in c)));
      const [span, ...more] = await waitForSpans(tracing, 1);
      assert.equal(more.length, 0);
      assert.equal(span!.attributes['gen_ai.usage.input_tokens'], OPENAI_USAGE.input);
      assert.equal(span!.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
      assert.equal(span!.attributes['llm_user_metrics.stream.usage_requested'], true);
      assert.equal(typeof span!.attributes['gen_ai.response.time_to_first_chunk'], 'number');
      const sent = JSON.parse(standIn.requests.at(-2)!.body);
      assert.deepEqual(sent.stream_options, { include_usage: true });
    });

    it('chat stream with include_usage: the usage chunk reaches the app', async () => {
      const stream = await client(v.module).chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
      const seen: any[] = await collect(stream);
      assert.equal(seen.at(-1).usage.prompt_tokens, OPENAI_USAGE.input);
      const [span] = await waitForSpans(tracing, 1);
      assert.equal(span!.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
      assert.equal(span!.attributes['llm_user_metrics.stream.usage_requested'], undefined);
    });

    it('HTTP 429: the app gets RateLimitError, the span has error.type and ERROR status', async () => {
      await assert.rejects(client(v.module).chat.completions.create({ model: 'refuse-429', messages }, { headers: { 'Helicone-User-Id': 'u-429' } }),
        (e: any) => e.status === 429 && e.constructor.name === 'RateLimitError');
      const [span] = await waitForSpans(tracing, 1);
      assert.equal(span!.status.code, SpanStatusCode.ERROR);
      assert.equal(span!.attributes['error.type'], 'RateLimitError');
      assert.equal(span!.attributes['http.response.status_code'], 429);
      assert.equal(span!.attributes['user.id'], 'u-429');
    });

    it('withUser and withProperties tag calls inside; the request header wins', async () => {
      const c = client(v.module, { defaultHeaders: { 'Helicone-User-Id': 'default-user', 'Helicone-Property-Feature': 'from-default' } });
      await withUser('ctx-user', () => withProperties({ Plan: 'free', feature: 'ctx' }, async () => {
        await c.chat.completions.create({ model: 'gpt-4o-mini', messages });
        await c.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers: { 'Helicone-Property-Plan': 'premium' } });
      }));
      await c.chat.completions.create({ model: 'gpt-4o-mini', messages, user: 'body-user' });
      const spans = await ourSpans(tracing);
      assert.deepEqual(spans.map((s) => [s.attributes['user.id'], s.attributes['llm_user_metrics.property.plan'], s.attributes['llm_user_metrics.property.feature']]), [
        ['ctx-user', 'free', 'ctx'],
        ['ctx-user', 'premium', 'ctx'],
        ['default-user', undefined, 'from-default'],
      ]);
    });

    it('Responses plain and streamed, and responses.stream(): one span each, with usage', async () => {
      const c = client(v.module);
      const plain = await c.responses.create({ model: 'gpt-4o-mini', input: 'a secret prompt' }, { headers: { 'x-stand-in-usage': 'cached=300,reasoning=50' } });
      assert.equal(plain.usage.input_tokens, OPENAI_USAGE.input);
      const events = await collect(await c.responses.create({ model: 'gpt-4o-mini', input: 'a secret prompt', stream: true }));
      assert.equal((events.at(-1) as any).type, 'response.completed');
      const final = await c.responses.stream({ model: 'gpt-4o-mini', input: 'a secret prompt' }).finalResponse();
      assert.equal(final.usage.output_tokens, OPENAI_USAGE.output);
      const spans = await waitForSpans(tracing, 3);
      assert.equal(spans.length, 3);
      for (const span of spans) {
        assert.equal(span.attributes['gen_ai.operation.name'], 'chat');
        assert.equal(span.attributes['gen_ai.usage.input_tokens'], OPENAI_USAGE.input);
        assert.equal(span.attributes['gen_ai.usage.output_tokens'], OPENAI_USAGE.output);
        assert.equal(span.attributes['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
        assertNoSecrets(span);
      }
      assert.equal(spans[0]!.attributes['gen_ai.usage.cache_read.input_tokens'], 300);
      assert.equal(spans[0]!.attributes['gen_ai.usage.reasoning.output_tokens'], 50);
      assert.equal(typeof spans[1]!.attributes['gen_ai.response.time_to_first_chunk'], 'number');
    });

    it('a failed Responses call (status failed, or a response.failed event) is an error span, typed by its error code', async () => {
      const c = client(v.module);
      const plain = await c.responses.create({ model: 'fail-response', input: 'hi' });
      assert.equal(plain.status, 'failed');
      const events = await collect(await c.responses.create({ model: 'fail-response', input: 'hi', stream: true }));
      assert.equal((events.at(-1) as any).type, 'response.failed');
      const spans = await waitForSpans(tracing, 2);
      assert.equal(spans.length, 2);
      for (const span of spans) {
        assert.equal(span.status.code, SpanStatusCode.ERROR);
        assert.equal(span.attributes['error.type'], 'server_error');
        assert.ok(!JSON.stringify(span.status).includes('failed to generate'), 'the provider message is not recorded');
      }
    });

    it('embeddings and legacy completions (plain and streamed)', async () => {
      const c = client(v.module);
      const embedded = await c.embeddings.create({ model: 'text-embedding-3-small', input: 'a secret prompt', user: 'emb-user' });
      assert.equal(embedded.data[0]!.embedding.length, 3);
      await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'a secret prompt' });
      const chunks = await collect(await c.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'a secret prompt', stream: true }));
      assert.ok(chunks.every((chunk: any) => chunk.choices.length > 0 && !('usage' in chunk)));
      const spans = await waitForSpans(tracing, 3);
      assert.deepEqual(spans.map((s) => [s.attributes['gen_ai.operation.name'], s.attributes['gen_ai.usage.input_tokens'], s.attributes['gen_ai.usage.output_tokens']]), [
        ['embeddings', OPENAI_USAGE.input, undefined],
        ['text_completion', OPENAI_USAGE.input, OPENAI_USAGE.output],
        ['text_completion', OPENAI_USAGE.input, OPENAI_USAGE.output],
      ]);
      assert.equal(spans[0]!.attributes['user.id'], 'emb-user');
      for (const span of spans) assertNoSecrets(span);
    });

    it('a per-request null header removes the default Helicone user and property, on the wire and on the span', async () => {
      const c = client(v.module, { defaultHeaders: { 'Helicone-User-Id': 'default-user', 'Helicone-Property-Plan': 'default-plan' } });
      await c.chat.completions.create({ model: 'gpt-4o-mini', messages, user: 'body-user' }, { headers: { 'Helicone-User-Id': null, 'Helicone-Property-Plan': null } });
      const sent = standIn.requests.at(-1)!.headers;
      assert.equal(sent['helicone-user-id'], undefined, 'the SDK removed the default header');
      const [span] = await ourSpans(tracing);
      assert.equal(span!.attributes['user.id'], 'body-user');
      assert.equal(span!.attributes['llm_user_metrics.property.plan'], undefined);
    });

    it('safety_identifier wins over the deprecated user field', async () => {
      await client(v.module).chat.completions.create({ model: 'gpt-4o-mini', messages, user: 'old', safety_identifier: 'new' } as any);
      const [span] = await ourSpans(tracing);
      assert.equal(span!.attributes['user.id'], 'new');
    });
  });
}
