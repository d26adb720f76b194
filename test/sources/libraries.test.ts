/**
 * Each source against the attributes its library really writes (shared/interop-facts.md, measured): OpenAI usage
 * 1000 in including 200 cached, 500 out including 100 reasoning; Anthropic 2000 uncached + 300 cache read + 100 cache
 * write in, 1000 out. Every token must land in exactly one bucket.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TokenBuckets } from '../../src/sources/usage-record.ts';
import { createSpanReader, createUsageExtractor, MalformedSpanError } from '../../src/sources/index.ts';
import { span } from '../helpers/spans.ts';

const read = createSpanReader();
const extract = createUsageExtractor();
const OPENAI_SPLIT: TokenBuckets = { input: 800, output: 500, cacheRead: 200, cacheWrite: 0, reasoning: 100 };
const ANTHROPIC_SPLIT: TokenBuckets = { input: 2000, output: 1000, cacheRead: 300, cacheWrite: 100, reasoning: 0 };

describe('OpenTelemetry contrib instrumentation-openai', () => {
  it('reads the conventions, the provider from gen_ai.system, the user from baggage-copied user.id', () => {
    const record = extract(span({
      'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.system': 'openai',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500, 'user.id': 'interop-otel',
    }, { scopeName: '@opentelemetry/instrumentation-openai' }));
    assert.equal(record?.source, 'otel-contrib');
    assert.equal(record.provider, 'openai');
    assert.equal(record.model, 'gpt-4o-mini-2024-07-18');
    assert.equal(record.userId, 'interop-otel');
    assert.deepEqual(record.tokens, { input: 1000, output: 500, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
  });
});

describe('OpenLLMetry', () => {
  it('takes the user from association properties, under either spelling, and the rest as properties', () => {
    for (const key of ['user_id', 'userId']) {
      const record = extract(span({
        'gen_ai.provider.name': 'openai', 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'gen_ai.usage.input_tokens': 1000,
        'gen_ai.usage.output_tokens': 500, 'gen_ai.usage.total_tokens': 1500,
        [`traceloop.association.properties.${key}`]: 'interop-traceloop',
        'traceloop.association.properties.plan': 'pro',
      }, { scopeName: '@traceloop/instrumentation-openai' }));
      assert.equal(record?.source, 'openllmetry');
      assert.equal(record.userId, 'interop-traceloop', key);
      assert.deepEqual(record.properties, { plan: 'pro' }, 'the user key is not also a property');
      assert.deepEqual(record.tokens, { input: 1000, output: 500, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    }
  });
});

describe('OpenInference', () => {
  const llm = {
    'openinference.span.kind': 'LLM', 'user.id': 'interop-openinference', 'llm.model_name': 'gpt-4o-mini-2024-07-18',
    'llm.system': 'openai', 'llm.token_count.prompt': 1000, 'llm.token_count.completion': 500,
    'llm.token_count.total': 1500, 'llm.token_count.prompt_details.cache_read': 200,
    'llm.token_count.completion_details.reasoning': 100, 'input.value': '{"model":"gpt-4o-mini"}',
  };
  const scopeName = '@arizeai/openinference-instrumentation-openai';

  it('splits prompt (with cache reads) and completion (with reasoning) into disjoint buckets', () => {
    const record = extract(span(llm, { scopeName, kind: 1, statusCode: 1 }));
    assert.equal(record?.source, 'openinference');
    assert.equal(record.provider, 'openai', 'llm.system stands in for the missing llm.provider');
    assert.equal(record.model, 'gpt-4o-mini-2024-07-18');
    assert.equal(record.operation, 'chat');
    assert.equal(record.userId, 'interop-openinference');
    assert.deepEqual(record.tokens, OPENAI_SPLIT);
  });

  it('counts a stream and an embedding without tokens as calls without usage', () => {
    const { 'llm.token_count.prompt': _p, 'llm.token_count.completion': _c, 'llm.token_count.total': _t,
      'llm.token_count.prompt_details.cache_read': _r, 'llm.token_count.completion_details.reasoning': _x, ...stream } = llm;
    const streamed = extract(span(stream, { scopeName }));
    assert.equal(streamed?.hasUsage, false);
    const embedding = extract(span({ 'openinference.span.kind': 'EMBEDDING', 'embedding.model_name': 'text-embedding-3-small', 'llm.system': 'openai' }, { scopeName }));
    assert.equal(embedding?.operation, 'embeddings');
    assert.equal(embedding.model, 'text-embedding-3-small');
    assert.equal(embedding.hasUsage, false);
  });

  it('does not count chains, agents and tools, but reads their user for the calls beneath', () => {
    const chain = read(span({ 'openinference.span.kind': 'CHAIN', 'user.id': 'u1' }, { scopeName }));
    assert.equal(chain.call, undefined);
    assert.equal(chain.llm, true);
    assert.equal(chain.userId, 'u1');
  });
});

describe('Vercel AI SDK 6', () => {
  const usage = {
    'ai.model.provider': 'openai.responses', 'ai.model.id': 'gpt-4o-mini', 'ai.telemetry.metadata.userId': 'interop-vercel',
    'ai.telemetry.metadata.plan': 'premium', 'ai.usage.inputTokens': 1000, 'ai.usage.inputTokenDetails.noCacheTokens': 800,
    'ai.usage.inputTokenDetails.cacheReadTokens': 200, 'ai.usage.outputTokens': 500,
    'ai.usage.outputTokenDetails.textTokens': 400, 'ai.usage.outputTokenDetails.reasoningTokens': 100,
    'ai.usage.totalTokens': 1500, 'ai.usage.reasoningTokens': 100, 'ai.usage.cachedInputTokens': 200,
  };

  it('counts the doGenerate child, with the provider before the dot and the dated response model', () => {
    const record = extract(span({
      ...usage, 'ai.operationId': 'ai.generateText.doGenerate', 'operation.name': 'ai.generateText.doGenerate',
      'ai.response.model': 'gpt-4o-mini-2024-07-18', 'gen_ai.system': 'openai.responses',
      'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 500,
    }, { scopeName: 'ai', kind: 1 }));
    assert.equal(record?.source, 'vercel-ai');
    assert.equal(record.provider, 'openai');
    assert.equal(record.model, 'gpt-4o-mini-2024-07-18');
    assert.equal(record.userId, 'interop-vercel');
    assert.deepEqual(record.properties, { plan: 'premium' });
    assert.deepEqual(record.tokens, OPENAI_SPLIT);
  });

  it('never counts the parent, whose usage is the total over its steps, but lends its user', () => {
    for (const operationId of ['ai.generateText', 'ai.streamText', 'ai.embed', 'ai.toolCall']) {
      const reading = read(span({ ...usage, 'ai.operationId': operationId }, { scopeName: 'ai', kind: 1 }));
      assert.equal(reading.call, undefined, operationId);
      assert.equal(reading.userId, 'interop-vercel');
    }
  });

  it('reads embeddings from ai.usage.tokens', () => {
    const record = extract(span({
      'ai.operationId': 'ai.embed.doEmbed', 'ai.model.provider': 'openai.embedding', 'ai.model.id': 'text-embedding-3-small',
      'ai.usage.tokens': 1000,
    }, { scopeName: 'ai' }));
    assert.equal(record?.operation, 'embeddings');
    assert.deepEqual(record.tokens, { input: 1000, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
  });
});

describe('Vercel AI SDK 7 (@ai-sdk/otel)', () => {
  const scopeName = 'gen_ai';
  it('counts chat, not invoke_agent nor step, and takes reasoning from ai.usage.* when written', () => {
    const chat = extract(span({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18', 'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500, 'gen_ai.usage.cache_read.input_tokens': 200,
      'ai.usage.outputTokenDetails.reasoningTokens': 100,
    }, { scopeName }));
    assert.equal(chat?.source, 'vercel-ai7');
    assert.equal(chat.userId, undefined, 'the user is on the ancestors only');
    assert.deepEqual(chat.tokens, OPENAI_SPLIT);
    const agent = read(span({
      'gen_ai.operation.name': 'invoke_agent', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 500, 'ai.settings.context.userId': 'interop-vercel7',
    }, { scopeName }));
    assert.equal(agent.call, undefined);
    assert.equal(agent.userId, 'interop-vercel7');
    assert.equal(read(span({ 'gen_ai.operation.name': 'agent_step', 'ai.settings.context.userId': 'u' }, { scopeName })).call, undefined);
  });
});

describe('Anthropic SDK own span', () => {
  it('reads input_tokens as the total including cache reads and cache_write writes, and may be wrapped', () => {
    const reading = read(span({
      'gen_ai.provider.name': 'anthropic', 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'claude-sonnet-4-20250514',
      'gen_ai.response.model': 'claude-sonnet-4-20250514', 'gen_ai.usage.input_tokens': 2400, 'gen_ai.usage.output_tokens': 1000,
      'gen_ai.usage.cache_read.input_tokens': 300, 'gen_ai.usage.cache_write.input_tokens': 100,
    }, { scopeName: 'com.anthropic.sdk.typescript' }));
    assert.equal(reading.call?.record.source, 'anthropic-sdk');
    assert.equal(reading.call.mayBeWrapped, true);
    assert.deepEqual(reading.call.record.tokens, ANTHROPIC_SPLIT);
  });
});

describe('OpenLIT', () => {
  const scopeName = '@openlit/instrumentation-anthropic';
  it('for Anthropic, reads input_tokens as uncached only (the opposite of the Anthropic SDK)', () => {
    const record = extract(span({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-sonnet-4-20250514',
      'gen_ai.usage.input_tokens': 2000, 'gen_ai.usage.output_tokens': 1000, 'gen_ai.usage.cache_read.input_tokens': 300,
      'gen_ai.usage.cache_creation.input_tokens': 100, 'gen_ai.usage.cost': 0, 'user.id': 'interop-openlit',
    }, { scopeName }));
    assert.equal(record?.source, 'openlit');
    assert.deepEqual(record.tokens, ANTHROPIC_SPLIT);
  });

  it('for OpenAI, reads input_tokens as including cached tokens, and Responses reasoning_tokens', () => {
    const record = extract(span({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 500, 'gen_ai.usage.cache_read.input_tokens': 200,
      'gen_ai.usage.reasoning_tokens': 100, 'telemetry.sdk.name': 'openlit',
    }, { scopeName: '@openlit/instrumentation-vllm' }));
    assert.equal(record?.source, 'openlit');
    assert.deepEqual(record.tokens, OPENAI_SPLIT);
  });
});

describe('Langfuse', () => {
  const scopeName = 'langfuse-sdk';
  const generation = (details: object | string, extra = {}) => span({
    'user.id': 'interop-langfuse', 'langfuse.observation.type': 'generation',
    'langfuse.observation.model.name': 'gpt-4o-mini-2024-07-18',
    'langfuse.observation.usage_details': typeof details === 'string' ? details : JSON.stringify(details), ...extra,
  }, { scopeName, name: 'OpenAI.chat', kind: 1 });

  it('adds the disjoint usage_details buckets back up, reasoning inside output', () => {
    const record = extract(generation({
      input: 800, output: 400, total: 1500, input_cached_tokens: 200, input_audio_tokens: 0, output_reasoning_tokens: 100,
      output_audio_tokens: 0, output_accepted_prediction_tokens: 0, output_rejected_prediction_tokens: 0,
    }));
    assert.equal(record?.source, 'langfuse');
    assert.equal(record.provider, 'openai', 'from the span name OpenAI.chat');
    assert.equal(record.userId, 'interop-langfuse');
    assert.deepEqual(record.tokens, OPENAI_SPLIT);
  });

  it('marks level=ERROR as failed and a generation without usage_details as without usage', () => {
    const failed = extract(span({ 'langfuse.observation.type': 'generation', 'langfuse.observation.level': 'ERROR' }, { scopeName, name: 'OpenAI.chat' }));
    assert.equal(failed?.isError, true);
    assert.equal(failed.hasUsage, false);
  });

  it('rejects usage_details that are not JSON, not counts, or do not add up to their total', () => {
    assert.throws(() => extract(generation('{not json')), MalformedSpanError);
    assert.throws(() => extract(generation({ input: -1 })), /non-negative whole number/);
    assert.throws(() => extract(generation({ input: 800, output: 400, total: 1000 })), /add up to 1200/);
  });
});

describe('our own instrumentation', () => {
  it('is recognised by llm_user_metrics.instrumented and read as the conventions', () => {
    const record = extract(span({
      'llm_user_metrics.instrumented': true, 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4-20250514', 'gen_ai.usage.input_tokens': 2400, 'gen_ai.usage.output_tokens': 1000,
      'gen_ai.usage.cache_read.input_tokens': 300, 'gen_ai.usage.cache_creation.input_tokens': 100, 'user.id': 'u',
    }));
    assert.equal(record?.source, 'llm-user-metrics');
    assert.deepEqual(record.tokens, ANTHROPIC_SPLIT);
  });

  it('a stream cut off on the provider side is an error, even UNSET (as deployed copies write it); one the app stopped is not', () => {
    const streamed = { 'llm_user_metrics.instrumented': true, 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'user.id': 'u' };
    assert.equal(extract(span(streamed))?.isError, false);
    assert.equal(extract(span({ ...streamed, 'llm_user_metrics.stream.incomplete': true }))?.isError, true);
    assert.equal(extract(span({ ...streamed, 'llm_user_metrics.stream.incomplete': true, 'llm_user_metrics.stream.stopped_by_app': true }))?.isError, false);
    assert.equal(extract(span({ ...streamed, 'llm_user_metrics.stream.incomplete': false }))?.isError, false);
  });
});

describe('configurable user keys and property prefixes', () => {
  it('reads only the configured keys, first present wins', () => {
    const custom = createUsageExtractor({ userKeys: ['app.customer'], propertyPrefixes: ['app.tag.'] });
    const record = custom(span({ 'gen_ai.request.model': 'm', 'user.id': 'ignored', 'app.customer': 'c-9', 'app.tag.Plan': 'pro' }));
    assert.equal(record?.userId, 'c-9');
    assert.deepEqual(record.properties, { plan: 'pro' });
  });

  it('a non-LLM span lends its user (enduser.id) to the calls beneath it', () => {
    const reading = read(span({ 'http.request.method': 'GET', 'enduser.id': 'alice', 'llm_user_metrics.property.plan': 'pro' }, { kind: 2 }));
    assert.equal(reading.call, undefined);
    assert.equal(reading.llm, false);
    assert.equal(reading.userId, 'alice');
    assert.deepEqual(reading.properties, { plan: 'pro' });
  });
});
