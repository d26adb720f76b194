/**
 * The two facts a price needs beyond the conventions' token counts, carried on our spans: Anthropic's one-hour
 * share of cache writes, and Perplexity's search tier. Replayed from responses written from the providers'
 * documented formats (Anthropic Messages `usage.cache_creation`; Perplexity chat completions `usage.search_context_size`),
 * served on 127.0.0.1; the Perplexity client keeps its real base URL and reaches the recording through `fetch`.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as anthropicEsm from '@anthropic-ai/sdk';
import * as openaiEsm from 'openai';
import { AnthropicInstrumentation } from '../../instrumentation/anthropic/instrumentation.ts';
import { OpenAIInstrumentation } from '../../instrumentation/openai/instrumentation.ts';
import { CACHE_WRITE_1H_ATTRIBUTE, SEARCH_CONTEXT_SIZE_ATTRIBUTE } from '../../src/wire/attributes.ts';
import { ourSpans, testTracing, waitForSpans } from './tracing.ts';

const require = createRequire(import.meta.url);
const tracing = testTracing();
const anthropicInstrumentation = new AnthropicInstrumentation({ enabled: false });
const openaiInstrumentation = new OpenAIInstrumentation({ enabled: false });
const openaiVersions = [
  { name: 'openai 7 (ESM)', module: openaiEsm as any },
  { name: 'openai 6 (CJS)', module: require('openai-v6') },
  { name: 'openai 4 (CJS)', module: require('openai-v4') },
];

// Anthropic Messages usage with the cache-write split by time to live (cache_creation.ephemeral_5m/1h_input_tokens
// sum to cache_creation_input_tokens).
const ANTHROPIC_USAGE = {
  input_tokens: 20,
  cache_creation_input_tokens: 3_000,
  cache_read_input_tokens: 500,
  cache_creation: { ephemeral_5m_input_tokens: 1_000, ephemeral_1h_input_tokens: 2_000 },
  output_tokens: 40,
  service_tier: 'standard',
};
const ANTHROPIC_MESSAGE = {
  id: 'msg_recorded', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514',
  content: [{ type: 'text', text: 'Hello.' }], stop_reason: 'end_turn', stop_sequence: null, usage: ANTHROPIC_USAGE,
};
const ANTHROPIC_STREAM = [
  { type: 'message_start', message: { ...ANTHROPIC_MESSAGE, content: [], stop_reason: null, usage: { ...ANTHROPIC_USAGE, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello.' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 40 } },
  { type: 'message_stop' },
];

// A Perplexity chat completion: OpenAI's shape, with `citations` and the tier in `usage.search_context_size`.
const perplexityCompletion = (tier: string | undefined) => ({
  id: 'pplx-recorded', model: 'sonar', created: 1_765_000_000, object: 'chat.completion',
  citations: ['https://example.com/a'],
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Answer [1].' } }],
  usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, ...(tier === undefined ? {} : { search_context_size: tier }) },
});
// Perplexity streams carry the usage on the chunks themselves, the last one included.
const perplexityChunks = (tier: string) => [
  { id: 'pplx-recorded', model: 'sonar', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: 'Answer' }, finish_reason: null }] },
  {
    id: 'pplx-recorded', model: 'sonar', object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: { content: ' [1].' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42, search_context_size: tier },
  },
];

let server: Server;
let url: string;

async function readJson(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

function sse(res: ServerResponse, events: readonly object[], named: boolean, done: boolean) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const event of events) res.write(`${named ? `event: ${(event as { type: string }).type}\n` : ''}data: ${JSON.stringify(event)}\n\n`);
  if (done) res.write('data: [DONE]\n\n');
  res.end();
}

before(async () => {
  server = createServer(async (req, res) => {
    const body = await readJson(req);
    const reportedTier = req.headers['x-recorded-tier'] as string | undefined;
    if (req.url === '/v1/messages') {
      if (body.stream) return sse(res, ANTHROPIC_STREAM, true, false);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(ANTHROPIC_MESSAGE));
    }
    if (req.url === '/chat/completions') {
      if (body.stream) return sse(res, perplexityChunks(reportedTier ?? 'low'), false, true);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(perplexityCompletion(reportedTier)));
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  anthropicInstrumentation.setTracerProvider(tracing.provider);
  anthropicInstrumentation.enable();
  anthropicInstrumentation.patch(anthropicEsm);
  openaiInstrumentation.setTracerProvider(tracing.provider);
  openaiInstrumentation.enable();
  for (const v of openaiVersions) openaiInstrumentation.patch(v.module);
});
after(async () => {
  anthropicInstrumentation.unpatch(anthropicEsm);
  for (const v of openaiVersions) openaiInstrumentation.unpatch(v.module);
  server.close();
  await once(server, 'close');
});
beforeEach(() => tracing.reset());

describe('Anthropic one-hour cache writes', () => {
  const anthropic = () => new anthropicEsm.Anthropic({ apiKey: 'sk-ant-test', baseURL: url, maxRetries: 0 });
  const params = { model: 'claude-sonnet-4-0', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] };

  function assertSplit(attributes: Record<string, unknown>) {
    assert.equal(attributes['gen_ai.usage.input_tokens'], 20 + 500 + 3_000);
    assert.equal(attributes['gen_ai.usage.cache_creation.input_tokens'], 3_000);
    assert.equal(attributes[CACHE_WRITE_1H_ATTRIBUTE], 2_000);
  }

  it('messages.create: the one-hour part of the cache writes is on the span', async () => {
    await anthropic().messages.create(params);
    const [span] = await ourSpans(tracing);
    assertSplit(span!.attributes);
  });

  it('stream: the split from message_start survives the cumulative message_delta', async () => {
    const stream = await anthropic().messages.create({ ...params, stream: true });
    for await (const _event of stream) { /* read to the end */ }
    const [span] = await waitForSpans(tracing, 1);
    assertSplit(span!.attributes);
    assert.equal(span!.attributes['gen_ai.usage.output_tokens'], 40);
  });
});

for (const v of openaiVersions) {
  describe(`${v.name} to Perplexity`, () => {
    // The real base URL, so the instrumentation sees Perplexity's host; the bytes go to the recording on 127.0.0.1.
    const perplexity = (tier?: string) => new v.module.OpenAI({
      apiKey: 'pplx-test', baseURL: 'https://api.perplexity.ai', maxRetries: 0,
      fetch: (input: string | URL | Request, init?: RequestInit) => {
        const headers = new Headers(init?.headers);
        if (tier !== undefined) headers.set('x-recorded-tier', tier);
        return fetch(String(input instanceof Request ? input.url : input).replace('https://api.perplexity.ai', url), { ...init, headers });
      },
    });
    const messages = [{ role: 'user' as const, content: 'what is new?' }];

    it('names the provider perplexity and takes the tier from the response over the request', async () => {
      await perplexity('high').chat.completions.create({ model: 'sonar', messages, web_search_options: { search_context_size: 'medium' } } as any);
      const [span] = await ourSpans(tracing);
      assert.equal(span!.attributes['gen_ai.provider.name'], 'perplexity');
      assert.equal(span!.attributes['server.address'], 'api.perplexity.ai');
      assert.equal(span!.attributes[SEARCH_CONTEXT_SIZE_ATTRIBUTE], 'high');
    });

    it("keeps the request's tier when the response does not say, and none when neither does", async () => {
      await perplexity().chat.completions.create({ model: 'sonar', messages, web_search_options: { search_context_size: 'medium' } } as any);
      await perplexity().chat.completions.create({ model: 'sonar', messages });
      const spans = await waitForSpans(tracing, 2);
      assert.deepEqual(spans.map((span) => span.attributes[SEARCH_CONTEXT_SIZE_ATTRIBUTE]), ['medium', undefined]);
    });

    it('leaves an unknown tier off the span instead of copying it', async () => {
      await perplexity('<script>').chat.completions.create({ model: 'sonar', messages, web_search_options: { search_context_size: 'huge' } } as any);
      const [span] = await ourSpans(tracing);
      assert.equal(span!.attributes[SEARCH_CONTEXT_SIZE_ATTRIBUTE], undefined);
    });

    it('stream: the tier from the usage on the last chunk', async () => {
      const stream = await perplexity('medium').chat.completions.create({ model: 'sonar', messages, stream: true } as any);
      for await (const _chunk of stream as AsyncIterable<unknown>) { /* read to the end */ }
      const [span] = await waitForSpans(tracing, 1);
      assert.equal(span!.attributes[SEARCH_CONTEXT_SIZE_ATTRIBUTE], 'medium');
      assert.equal(span!.attributes['gen_ai.usage.input_tokens'], 12);
    });
  });
}

it('an OpenAI client pointed at OpenAI itself still names the provider openai', async () => {
  const client = new openaiEsm.OpenAI({ apiKey: 'sk-test', baseURL: `${url}`, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const [span] = await ourSpans(tracing);
  assert.equal(span!.attributes['gen_ai.provider.name'], 'openai');
});
