/**
 * OTLP batches mixing the span shapes of every LLM instrumentation the processor reads (src/sources/), as the
 * libraries really write them (shared/interop-facts.md, the unit tests in test/sources/libraries.test.ts and the
 * child-process tests in test/interop/): the OpenTelemetry contrib instrumentation, OpenLLMetry (alone and rewriting
 * the AI SDK's spans), OpenInference, the AI SDK 6 (parent + `do*` child), the AI SDK 7 (`invoke_agent` > `step` >
 * `chat`), the Anthropic SDK's own span (alone, and beneath ours or OpenLIT's), Langfuse, OpenLIT and ours. Each
 * library is one service (resource) as in a Collector's batch; every trace is complete within the batch, so calls
 * whose user sits on an ancestor are decided in the same export. Prompt and completion text is on the spans where
 * the library records it by default: it is part of what the processor has to decode. Seeded: the same options give
 * the same spans. Serialize with `serializeProtobuf` / `serializeJson` from ./fixtures.ts.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Generator, planOf, readableSpan, userId } from './fixtures.ts';

export interface MixedBatchOptions {
  /** Spans in the batch. */
  readonly spans: number;
  /** Distinct users the calls are spread over (a few users make most calls). */
  readonly users: number;
  readonly seed?: number;
  /** Share of the calls that failed, in each library's failure shape (those that export failures at all). Default 0.03. */
  readonly errorShare?: number;
  /** Wall-clock time of the first span, ms since the epoch. Default 2026-11-26T10:00:00Z. */
  readonly startTimeMs?: number;
}

/** The sources (labels of `source` on /metrics) whose span shapes a mixed batch contains. */
export const MIXED_SOURCES = [
  'otel-contrib', 'openllmetry', 'openinference', 'vercel-ai', 'vercel-ai7', 'anthropic-sdk', 'langfuse', 'openlit', 'llm-user-metrics',
] as const;

const DEFAULT_START_MS = Date.UTC(2026, 10, 26, 10, 0, 0);

interface Model {
  readonly provider: 'openai' | 'anthropic';
  readonly request: string;
  readonly response: string;
}

const GPT_4O_MINI: Model = { provider: 'openai', request: 'gpt-4o-mini', response: 'gpt-4o-mini-2024-07-18' };
const GPT_41: Model = { provider: 'openai', request: 'gpt-4.1', response: 'gpt-4.1-2025-04-14' };
const HAIKU: Model = { provider: 'anthropic', request: 'claude-3-5-haiku-latest', response: 'claude-3-5-haiku-20241022' };
const SONNET: Model = { provider: 'anthropic', request: 'claude-sonnet-4-20250514', response: 'claude-sonnet-4-20250514' };
const OPENAI_MODELS = [GPT_4O_MINI, GPT_4O_MINI, GPT_4O_MINI, GPT_41] as const;
const ANTHROPIC_MODELS = [HAIKU, HAIKU, SONNET] as const;
const EMBEDDING = 'text-embedding-3-small';

const WORDS = ['the', 'order', 'invoice', 'summary', 'customer', 'refund', 'shipping', 'please', 'explain', 'policy',
  'weather', 'account', 'password', 'report', 'quarter', 'draft', 'email', 'translate', 'meeting', 'notes'] as const;

/** The fixtures' seeded generator, plus the draws only mixed-source batches need. */
class Draw extends Generator {
  /** A skewed user index: low indices much more frequent, every one possible. */
  user(users: number): number {
    return Math.min(users - 1, Math.floor(users * this.next() ** 2.5));
  }
  text(minWords: number, maxWords: number): string {
    const count = this.int(minWords, maxWords);
    const words: string[] = [];
    for (let i = 0; i < count; i++) words.push(this.pick(WORDS));
    return words.join(' ');
  }
}

/** One call's numbers, drawn once and written by each library in its own way. */
interface Usage {
  /** Total input, cache reads and writes included (the conventions' `input_tokens`). */
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly reasoning: number;
}

function drawUsage(draw: Draw, provider: Model['provider']): Usage {
  const input = draw.int(40, 6000);
  const cacheRead = draw.chance(0.3) ? Math.floor(input * draw.next() * 0.6) : 0;
  const cacheWrite = provider === 'anthropic' && draw.chance(0.15) ? Math.floor((input - cacheRead) * draw.next() * 0.5) : 0;
  const output = draw.int(5, 1500);
  const reasoning = provider === 'openai' && draw.chance(0.1) ? Math.floor(output * draw.next() * 0.5) : 0;
  return { input, output, cacheRead, cacheWrite, reasoning };
}

/** What one trace is being built with: the clock, the batch's draw, and where its spans go. */
interface TraceContext {
  readonly draw: Draw;
  readonly users: number;
  readonly errorShare: number;
  readonly traceId: string;
  readonly startMs: number;
  readonly out: ReadableSpan[];
}

interface SpanShape {
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startMs: number;
  readonly endMs: number;
  readonly error?: boolean;
  readonly ok?: boolean;
  readonly attributes: Attributes;
  readonly service: Service;
  readonly scope: InstrumentationScope;
}

function hr(ms: number, draw: Draw): HrTime {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6) + draw.int(0, 999_999)];
}

function emit(trace: TraceContext, shape: SpanShape): void {
  trace.out.push(readableSpan({
    traceId: trace.traceId,
    spanId: shape.spanId,
    ...(shape.parentSpanId === undefined ? {} : { parentSpanId: shape.parentSpanId }),
    name: shape.name,
    kind: shape.kind,
    startTime: hr(shape.startMs, trace.draw),
    endTime: hr(shape.endMs, trace.draw),
    status: { code: shape.error ? SpanStatusCode.ERROR : shape.ok ? SpanStatusCode.OK : SpanStatusCode.UNSET },
    attributes: shape.attributes,
    resource: shape.service.resource,
    scope: shape.scope,
  }));
}

interface Service { readonly resource: Resource }

function service(name: string, sdkName = 'opentelemetry', sdkVersion = '2.12.1'): Service {
  return {
    resource: resourceFromAttributes({
      'service.name': name,
      'service.version': '1.8.2',
      'deployment.environment.name': 'production',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': sdkName,
      'telemetry.sdk.version': sdkVersion,
      'host.name': `ip-10-0-3-${name.length}.ec2.internal`,
    }),
  };
}

const SERVICES = {
  otelContrib: service('support-bot'),
  openllmetry: service('search-api'),
  openinference: service('rag-worker'),
  vercelAi: service('web-chat'),
  vercelAi7: service('agents', 'opentelemetry', '3.1.0'),
  anthropic: service('claude-proxy'),
  langfuse: service('summarizer'),
  openlit: service('notebook-api', 'openlit', '1.15.0'),
  ours: service('chat-api', 'opentelemetry', '3.1.0'),
} as const;

const scope = (name: string, version: string): InstrumentationScope => Object.freeze({ name, version });
const SCOPES = {
  otelContrib: scope('@opentelemetry/instrumentation-openai', '0.22.0'),
  traceloop: scope('@traceloop/instrumentation-openai', '0.27.0'),
  openinference: scope('@arizeai/openinference-instrumentation-openai', '4.2.7'),
  ai: scope('ai', '6.0.325'),
  ai7: scope('gen_ai', '1.0.173'),
  anthropicSdk: scope('com.anthropic.sdk.typescript', '1.14.0'),
  langfuse: scope('langfuse-sdk', '5.11.1'),
  openlitOpenAi: scope('@openlit/instrumentation-vllm', '1.15.0'),
  openlitAnthropic: scope('@openlit/instrumentation-anthropic', '1.15.0'),
  oursOpenAi: scope('llm-user-metrics/openai', '0.1.0'),
  oursAnthropic: scope('llm-user-metrics/anthropic', '0.1.0'),
  http: scope('@opentelemetry/instrumentation-http', '0.301.0'),
} as const;

/** `gen_ai.input.messages` / `gen_ai.output.messages` as the conventions spell them. */
function messagesJson(role: 'user' | 'assistant', text: string): string {
  return JSON.stringify([{ role, parts: [{ type: 'text', content: text }], ...(role === 'assistant' ? { finish_reason: 'stop' } : {}) }]);
}

/** Conventions usage as the OTel contrib instrumentation writes it: totals only. */
function otelContrib(trace: TraceContext): void {
  const { draw } = trace;
  const model = draw.pick(OPENAI_MODELS);
  const user = userId(draw.user(trace.users));
  const failed = draw.chance(trace.errorShare);
  const streamedWithoutUsage = !failed && draw.chance(0.1);
  const underParent = draw.chance(0.5);
  const endMs = trace.startMs + draw.int(300, 6000);
  const attributes: Attributes = {
    'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model.request, 'gen_ai.system': 'openai',
    'server.address': 'api.openai.com', 'server.port': 443,
    ...(underParent ? {} : { 'user.id': user }),
  };
  if (failed) attributes['error.type'] = 'RateLimitError';
  else {
    const usage = drawUsage(draw, 'openai');
    attributes['gen_ai.response.finish_reasons'] = ['stop'];
    attributes['gen_ai.response.id'] = `chatcmpl-${draw.hexId(12)}`;
    attributes['gen_ai.response.model'] = model.response;
    if (!streamedWithoutUsage) {
      attributes['gen_ai.usage.input_tokens'] = usage.input;
      attributes['gen_ai.usage.output_tokens'] = usage.output;
    }
  }
  // Exported before its parent, which ends after it.
  const parentSpanId = underParent ? draw.hexId(8) : undefined;
  emit(trace, {
    spanId: draw.hexId(8), ...(parentSpanId === undefined ? {} : { parentSpanId }), name: `chat ${model.request}`,
    kind: SpanKind.CLIENT, startMs: trace.startMs + 2, endMs, error: failed, attributes, service: SERVICES.otelContrib, scope: SCOPES.otelContrib,
  });
  if (parentSpanId !== undefined) {
    emit(trace, {
      spanId: parentSpanId, name: 'POST /api/support', kind: SpanKind.SERVER, startMs: trace.startMs, endMs: endMs + 3,
      service: SERVICES.otelContrib, scope: SCOPES.http,
      attributes: { 'http.request.method': 'POST', 'http.route': '/api/support', 'http.response.status_code': 200, 'enduser.id': user },
    });
  }
}

/** OpenLLMetry: conventions plus messages, the user in association properties; failures make no span. */
function openllmetry(trace: TraceContext): void {
  const { draw } = trace;
  const model = draw.pick(OPENAI_MODELS);
  const index = draw.user(trace.users);
  const usage = drawUsage(draw, 'openai');
  const prompt = draw.text(8, 60);
  emit(trace, {
    spanId: draw.hexId(8), name: `chat ${model.request}`, kind: SpanKind.CLIENT, startMs: trace.startMs, endMs: trace.startMs + draw.int(300, 6000),
    service: SERVICES.openllmetry, scope: SCOPES.traceloop,
    attributes: {
      'gen_ai.provider.name': 'openai', 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model.request,
      'gen_ai.input.messages': messagesJson('user', prompt),
      'traceloop.association.properties.user_id': userId(index), 'traceloop.association.properties.plan': planOf(index),
      'gen_ai.response.model': model.response, 'gen_ai.response.id': `chatcmpl-${draw.hexId(12)}`,
      'gen_ai.usage.total_tokens': usage.input + usage.output, 'gen_ai.usage.output_tokens': usage.output,
      'gen_ai.usage.input_tokens': usage.input, 'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.output.messages': messagesJson('assistant', draw.text(10, 120)),
    },
  });
}

/** OpenInference: its own attribute family, INTERNAL spans; streams and embeddings without token counts. */
function openinference(trace: TraceContext): void {
  const { draw } = trace;
  const user = userId(draw.user(trace.users));
  const endMs = trace.startMs + draw.int(200, 5000);
  const base = { spanId: draw.hexId(8), kind: SpanKind.INTERNAL, startMs: trace.startMs, endMs, ok: true, service: SERVICES.openinference, scope: SCOPES.openinference };
  if (draw.chance(0.2)) {
    const input = draw.text(5, 40);
    emit(trace, {
      ...base, name: 'OpenAI Embeddings',
      attributes: {
        'user.id': user, 'openinference.span.kind': 'EMBEDDING', 'embedding.model_name': EMBEDDING, 'llm.system': 'openai',
        'input.value': JSON.stringify({ model: EMBEDDING, input }), 'input.mime_type': 'application/json',
        'embedding.embeddings.0.embedding.text': input,
      },
    });
    return;
  }
  const model = draw.pick(OPENAI_MODELS);
  const prompt = draw.text(8, 60);
  const answer = draw.text(10, 120);
  const streamed = draw.chance(0.15);
  const usage = drawUsage(draw, 'openai');
  const attributes: Attributes = {
    'user.id': user, 'openinference.span.kind': 'LLM', 'llm.model_name': streamed ? model.request : model.response,
    'input.value': JSON.stringify({ model: model.request, messages: [{ role: 'user', content: prompt }] }),
    'input.mime_type': 'application/json', 'llm.invocation_parameters': JSON.stringify({ model: model.request }),
    'llm.system': 'openai', 'llm.input_messages.0.message.role': 'user', 'llm.input_messages.0.message.content': prompt,
    'output.value': JSON.stringify({ role: 'assistant', content: answer }), 'output.mime_type': 'application/json',
    'llm.output_messages.0.message.role': 'assistant', 'llm.output_messages.0.message.content': answer,
  };
  if (!streamed) {
    Object.assign(attributes, {
      'llm.finish_reason': 'stop', 'llm.token_count.completion': usage.output, 'llm.token_count.prompt': usage.input,
      'llm.token_count.total': usage.input + usage.output, 'llm.token_count.prompt_details.cache_read': usage.cacheRead,
      'llm.token_count.prompt_details.audio': 0, 'llm.token_count.completion_details.audio': 0,
      'llm.token_count.completion_details.reasoning': usage.reasoning,
    });
  }
  emit(trace, { ...base, name: 'OpenAI Chat Completions', attributes });
}

/** `ai.usage.*` as the AI SDK 6 writes it, on the parent and on the `do*` child alike. */
function aiUsage(usage: Usage): Attributes {
  return {
    'ai.usage.inputTokens': usage.input, 'ai.usage.inputTokenDetails.noCacheTokens': usage.input - usage.cacheRead - usage.cacheWrite,
    'ai.usage.inputTokenDetails.cacheReadTokens': usage.cacheRead, 'ai.usage.outputTokens': usage.output,
    'ai.usage.outputTokenDetails.textTokens': usage.output - usage.reasoning, 'ai.usage.outputTokenDetails.reasoningTokens': usage.reasoning,
    'ai.usage.totalTokens': usage.input + usage.output, 'ai.usage.reasoningTokens': usage.reasoning, 'ai.usage.cachedInputTokens': usage.cacheRead,
  };
}

/**
 * The AI SDK 6: `ai.generateText` around `ai.generateText.doGenerate`, both with usage. With `rewrittenByOpenLlmetry`,
 * as OpenLLMetry's SDK rewrites them when it runs beside: both renamed `chat <model>`, the user key moved under
 * `traceloop.association.properties.`, scope and `ai.operationId` kept.
 */
function vercelAi(trace: TraceContext, rewrittenByOpenLlmetry: boolean, appSpanId?: string): string {
  const { draw } = trace;
  const model = draw.pick(OPENAI_MODELS);
  const index = draw.user(trace.users);
  const failed = draw.chance(trace.errorShare);
  const usage = drawUsage(draw, 'openai');
  const parentId = draw.hexId(8);
  const endMs = trace.startMs + draw.int(300, 6000);
  const who: Attributes = rewrittenByOpenLlmetry
    ? { 'traceloop.association.properties.userId': userId(index), 'traceloop.association.properties.plan': planOf(index), 'gen_ai.provider.name': 'openai' }
    : { 'ai.telemetry.metadata.userId': userId(index), 'ai.telemetry.metadata.plan': planOf(index) };
  const common: Attributes = {
    'ai.model.provider': 'openai.responses', 'ai.model.id': model.request, 'ai.settings.maxRetries': 2, ...who,
  };
  const result: Attributes = failed ? {} : { 'ai.response.finishReason': 'stop', 'ai.response.text': draw.text(10, 120), ...aiUsage(usage) };
  const childName = rewrittenByOpenLlmetry ? `chat ${model.request}` : 'ai.generateText.doGenerate';
  emit(trace, {
    spanId: draw.hexId(8), parentSpanId: parentId, name: childName, kind: SpanKind.INTERNAL, startMs: trace.startMs + 3, endMs: endMs - 2,
    error: failed, service: SERVICES.vercelAi, scope: SCOPES.ai,
    attributes: {
      'operation.name': 'ai.generateText.doGenerate', 'ai.operationId': 'ai.generateText.doGenerate', ...common,
      'ai.request.headers.user-agent': 'ai/6.0.325', 'ai.prompt.messages': JSON.stringify([{ role: 'user', content: [{ type: 'text', text: draw.text(8, 60) }] }]),
      'gen_ai.system': 'openai.responses', 'gen_ai.request.model': model.request, ...result,
      ...(failed ? {} : {
        'ai.response.id': `resp_${draw.hexId(12)}`, 'ai.response.model': model.response, 'gen_ai.response.finish_reasons': ['stop'],
        'gen_ai.response.id': `resp_${draw.hexId(12)}`, 'gen_ai.response.model': model.response,
        'gen_ai.usage.input_tokens': usage.input, 'gen_ai.usage.output_tokens': usage.output,
      }),
    },
  });
  emit(trace, {
    spanId: parentId, ...(appSpanId === undefined ? {} : { parentSpanId: appSpanId }),
    name: rewrittenByOpenLlmetry ? `chat ${model.request}` : 'ai.generateText', kind: SpanKind.INTERNAL,
    startMs: trace.startMs, endMs, error: failed, service: SERVICES.vercelAi, scope: SCOPES.ai,
    attributes: {
      'operation.name': 'ai.generateText', 'ai.operationId': 'ai.generateText', ...common,
      'ai.prompt': JSON.stringify({ prompt: draw.text(8, 60) }), ...result,
    },
  });
  return userId(index);
}

/** The AI SDK 7: `invoke_agent` > `step 1` > `chat`, usage on invoke_agent and chat, the user on the ancestors only. */
function vercelAi7(trace: TraceContext): void {
  const { draw } = trace;
  const model = draw.pick(OPENAI_MODELS);
  const index = draw.user(trace.users);
  const failed = draw.chance(trace.errorShare);
  const usage = drawUsage(draw, 'openai');
  const [agentId, stepId] = [draw.hexId(8), draw.hexId(8)];
  const endMs = trace.startMs + draw.int(300, 6000);
  const context: Attributes = { 'ai.settings.context.userId': userId(index), 'ai.settings.context.plan': planOf(index) };
  const usageAttributes: Attributes = failed ? { 'http.response.status_code': 429 } : {
    'gen_ai.response.finish_reasons': ['stop'], 'gen_ai.usage.input_tokens': usage.input, 'gen_ai.usage.output_tokens': usage.output,
    'gen_ai.usage.cache_read.input_tokens': usage.cacheRead, 'ai.usage.inputTokenDetails.noCacheTokens': usage.input - usage.cacheRead,
    'ai.usage.outputTokenDetails.textTokens': usage.output - usage.reasoning, 'ai.usage.outputTokenDetails.reasoningTokens': usage.reasoning,
  };
  const input = JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: draw.text(8, 60) }] }]);
  const output = failed ? {} : { 'gen_ai.output.messages': messagesJson('assistant', draw.text(10, 120)) };
  emit(trace, {
    spanId: draw.hexId(8), parentSpanId: stepId, name: `chat ${model.request}`, kind: SpanKind.CLIENT, startMs: trace.startMs + 4, endMs: endMs - 3,
    error: failed, service: SERVICES.vercelAi7, scope: SCOPES.ai7,
    attributes: {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model.request,
      'gen_ai.input.messages': input, 'gen_ai.client.operation.duration': (endMs - trace.startMs) / 1000,
      ...(failed ? {} : { 'gen_ai.response.id': `resp_${draw.hexId(12)}`, 'gen_ai.response.model': model.response }),
      ...usageAttributes, ...output,
    },
  });
  emit(trace, {
    spanId: stepId, parentSpanId: agentId, name: 'step 1', kind: SpanKind.INTERNAL, startMs: trace.startMs + 2, endMs: endMs - 1,
    error: failed, service: SERVICES.vercelAi7, scope: SCOPES.ai7, attributes: { 'gen_ai.operation.name': 'agent_step', ...context },
  });
  emit(trace, {
    spanId: agentId, name: `invoke_agent ${model.request}`, kind: SpanKind.INTERNAL, startMs: trace.startMs, endMs,
    error: failed, service: SERVICES.vercelAi7, scope: SCOPES.ai7,
    attributes: {
      'gen_ai.operation.name': 'invoke_agent', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model.request,
      'gen_ai.input.messages': input, ...context, ...usageAttributes, ...output,
    },
  });
}

/** The Anthropic SDK's own span: input_tokens is the total with cache, cache writes spelled cache_write. */
function anthropicSdkAttributes(draw: Draw, model: Model, usage: Usage | undefined): Attributes {
  const attributes: Attributes = {
    'gen_ai.provider.name': 'anthropic', 'server.address': 'api.anthropic.com', 'server.port': 443, 'http.route': '/v1/messages',
    'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model.request, 'gen_ai.request.max_tokens': 1024,
    'http.request.method': 'POST', 'url.scheme': 'https', 'url.path': '/v1/messages', 'url.full': 'https://api.anthropic.com/v1/messages',
  };
  if (usage === undefined) {
    return { ...attributes, 'error.type': 'rate_limit_error', 'http.response.status_code': 429 };
  }
  return {
    ...attributes, 'gen_ai.usage.input_tokens': usage.input, 'http.response.status_code': 200, 'anthropic.request.id': `req_${draw.hexId(12)}`,
    'gen_ai.response.id': `msg_${draw.hexId(12)}`, 'gen_ai.response.model': model.response,
    'gen_ai.usage.cache_write.input_tokens': usage.cacheWrite, 'gen_ai.usage.cache_read.input_tokens': usage.cacheRead,
    'anthropic.usage.cache_creation.ephemeral_5m_input_tokens': usage.cacheWrite, 'anthropic.usage.cache_creation.ephemeral_1h_input_tokens': 0,
    'anthropic.response.service_tier': 'standard', 'gen_ai.usage.output_tokens': usage.output, 'anthropic.message.stop_reason': 'end_turn',
  };
}

/** The Anthropic SDK's span alone, the user from baggage (`user.id`). */
function anthropicSdk(trace: TraceContext): void {
  const { draw } = trace;
  const model = draw.pick(ANTHROPIC_MODELS);
  const failed = draw.chance(trace.errorShare);
  const usage = failed ? undefined : drawUsage(draw, 'anthropic');
  emit(trace, {
    spanId: draw.hexId(8), name: 'anthropic.messages.create', kind: SpanKind.CLIENT, startMs: trace.startMs, endMs: trace.startMs + draw.int(300, 8000),
    error: failed, ok: !failed, service: SERVICES.anthropic, scope: SCOPES.anthropicSdk,
    attributes: { ...anthropicSdkAttributes(draw, model, usage), 'user.id': userId(draw.user(trace.users)) },
  });
}

/** Langfuse: usage as a JSON string of disjoint buckets, no provider, failures as level=ERROR with status UNSET. */
function langfuse(trace: TraceContext): void {
  const { draw } = trace;
  const model = draw.pick(OPENAI_MODELS);
  const failed = draw.chance(trace.errorShare);
  const usage = drawUsage(draw, 'openai');
  const attributes: Attributes = {
    'user.id': userId(draw.user(trace.users)), 'langfuse.internal.is_app_root': true, 'langfuse.observation.type': 'generation',
    'langfuse.observation.input': JSON.stringify({ messages: [{ role: 'user', content: draw.text(8, 60) }] }),
    'langfuse.observation.model.name': model.response, 'langfuse.observation.model.parameters': '{"response_format":""}',
  };
  if (failed) {
    attributes['langfuse.observation.level'] = 'ERROR';
    attributes['langfuse.observation.status_message'] = '429 Rate limit reached for requests';
  } else {
    attributes['langfuse.observation.output'] = JSON.stringify({ role: 'assistant', content: draw.text(10, 120) });
    attributes['langfuse.observation.usage_details'] = JSON.stringify({
      input: usage.input - usage.cacheRead, output: usage.output - usage.reasoning, total: usage.input + usage.output,
      input_cached_tokens: usage.cacheRead, input_audio_tokens: 0, output_reasoning_tokens: usage.reasoning,
      output_audio_tokens: 0, output_accepted_prediction_tokens: 0, output_rejected_prediction_tokens: 0,
    });
  }
  emit(trace, {
    spanId: draw.hexId(8), name: 'OpenAI.chat', kind: SpanKind.INTERNAL, startMs: trace.startMs, endMs: trace.startMs + draw.int(300, 6000),
    service: SERVICES.langfuse, scope: SCOPES.langfuse, attributes,
  });
}

/** OpenLIT's common attributes; it loses `user.id` on failures. */
function openlitAttributes(draw: Draw, model: Model, user: string | undefined): Attributes {
  return {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': model.provider, 'gen_ai.request.model': model.request,
    'server.address': model.provider === 'openai' ? 'api.openai.com' : 'api.anthropic.com', 'server.port': 443,
    'gen_ai.request.temperature': 1, 'gen_ai.request.top_p': 1, 'gen_ai.request.is_stream': false,
    'gen_ai.input.messages': messagesJson('user', draw.text(8, 60)), 'telemetry.sdk.name': 'openlit',
    'deployment.environment': 'default', 'service.name': 'notebook-api', 'gen_ai.sdk.version': '1.15.0', 'gen_ai.usage.cost': 0,
    ...(user === undefined ? {} : { 'user.id': user }),
  };
}

/**
 * OpenLIT, on OpenAI (input with cache, reasoning from Responses) or on Anthropic (input **without** cache, and the
 * Anthropic SDK's own span beneath its span).
 */
function openlit(trace: TraceContext): void {
  const { draw } = trace;
  const anthropic = draw.chance(0.4);
  const model = anthropic ? draw.pick(ANTHROPIC_MODELS) : draw.pick(OPENAI_MODELS);
  const failed = draw.chance(trace.errorShare);
  const usage = drawUsage(draw, model.provider);
  const user = failed ? undefined : userId(draw.user(trace.users));
  const spanId = draw.hexId(8);
  const endMs = trace.startMs + draw.int(300, 8000);
  const attributes = openlitAttributes(draw, model, user);
  if (failed) attributes['error.type'] = 'RateLimitError';
  else {
    Object.assign(attributes, {
      'gen_ai.response.id': anthropic ? `msg_${draw.hexId(12)}` : `chatcmpl-${draw.hexId(12)}`, 'gen_ai.response.model': model.response,
      'gen_ai.usage.input_tokens': anthropic ? usage.input - usage.cacheRead - usage.cacheWrite : usage.input,
      'gen_ai.usage.output_tokens': usage.output, 'gen_ai.usage.cache_read.input_tokens': usage.cacheRead,
      'gen_ai.response.finish_reasons': ['stop'], 'gen_ai.output.type': 'text', 'openlit.agent.version_hash': draw.hexId(8),
      'gen_ai.output.messages': messagesJson('assistant', draw.text(10, 120)),
    });
    if (anthropic) attributes['gen_ai.usage.cache_creation.input_tokens'] = usage.cacheWrite;
    else if (usage.reasoning > 0) attributes['gen_ai.usage.reasoning_tokens'] = usage.reasoning;
  }
  if (anthropic) {
    emit(trace, {
      spanId: draw.hexId(8), parentSpanId: spanId, name: 'anthropic.messages.create', kind: SpanKind.CLIENT, startMs: trace.startMs + 1,
      endMs: endMs - 1, error: failed, ok: !failed, service: SERVICES.openlit, scope: SCOPES.anthropicSdk,
      attributes: anthropicSdkAttributes(draw, model, failed ? undefined : usage),
    });
  }
  emit(trace, {
    spanId, name: `chat ${model.request}`, kind: SpanKind.CLIENT, startMs: trace.startMs, endMs, error: failed, ok: !failed,
    service: SERVICES.openlit, scope: anthropic ? SCOPES.openlitAnthropic : SCOPES.openlitOpenAi, attributes,
  });
}

/** Ours: the conventions with `llm_user_metrics.instrumented`, user and properties; beside the Anthropic SDK's span. */
function ours(trace: TraceContext): void {
  const { draw } = trace;
  const anthropic = draw.chance(0.4);
  const model = anthropic ? draw.pick(ANTHROPIC_MODELS) : draw.pick(OPENAI_MODELS);
  const index = draw.user(trace.users);
  const failed = draw.chance(trace.errorShare);
  const usage = drawUsage(draw, model.provider);
  const spanId = draw.hexId(8);
  const endMs = trace.startMs + draw.int(300, 8000);
  // Half the calls run under the app's HTTP span, which ends (and is exported) last.
  const parentId = draw.chance(0.5) ? draw.hexId(8) : undefined;
  const attributes: Attributes = {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': model.provider, 'gen_ai.request.model': model.request,
    'gen_ai.request.max_tokens': 1024, 'server.address': anthropic ? 'api.anthropic.com' : 'api.openai.com', 'server.port': 443,
    'user.id': userId(index), 'llm_user_metrics.property.plan': planOf(index), 'llm_user_metrics.property.feature': draw.pick(['chat', 'search', 'summarize']),
    'llm_user_metrics.instrumented': true,
  };
  if (failed) Object.assign(attributes, { 'error.type': 'RateLimitError', 'http.response.status_code': 429 });
  else {
    Object.assign(attributes, {
      'gen_ai.response.model': model.response, 'gen_ai.response.id': anthropic ? `msg_${draw.hexId(12)}` : `chatcmpl-${draw.hexId(12)}`,
      'gen_ai.response.finish_reasons': [anthropic ? 'end_turn' : 'stop'], 'gen_ai.usage.input_tokens': usage.input,
      'gen_ai.usage.output_tokens': usage.output,
    });
    if (usage.cacheRead > 0) attributes['gen_ai.usage.cache_read.input_tokens'] = usage.cacheRead;
    if (usage.cacheWrite > 0) attributes['gen_ai.usage.cache_creation.input_tokens'] = usage.cacheWrite;
    if (usage.reasoning > 0) attributes['gen_ai.usage.reasoning.output_tokens'] = usage.reasoning;
  }
  if (anthropic) {
    emit(trace, {
      spanId: draw.hexId(8), parentSpanId: spanId, name: 'anthropic.messages.create', kind: SpanKind.CLIENT, startMs: trace.startMs + 1,
      endMs: endMs - 1, error: failed, ok: !failed, service: SERVICES.ours, scope: SCOPES.anthropicSdk,
      attributes: anthropicSdkAttributes(draw, model, failed ? undefined : usage),
    });
  }
  emit(trace, {
    spanId, ...(parentId === undefined ? {} : { parentSpanId: parentId }), name: `chat ${model.request}`, kind: SpanKind.CLIENT,
    startMs: trace.startMs, endMs, error: failed, service: SERVICES.ours, scope: anthropic ? SCOPES.oursAnthropic : SCOPES.oursOpenAi, attributes,
  });
  if (parentId !== undefined) {
    emit(trace, {
      spanId: parentId, name: 'POST /api/chat', kind: SpanKind.SERVER, startMs: trace.startMs - 3, endMs: endMs + 4,
      service: SERVICES.ours, scope: SCOPES.http,
      attributes: { 'http.request.method': 'POST', 'http.route': '/api/chat', 'url.path': '/api/chat', 'http.response.status_code': 200 },
    });
  }
}

/** The AI SDK 6 inside the app's HTTP server span, which names the user too and ends last. */
function vercelAiUnderApp(trace: TraceContext): void {
  const appSpanId = trace.draw.hexId(8);
  const user = vercelAi(trace, false, appSpanId);
  emit(trace, {
    spanId: appSpanId, name: 'POST /api/chat', kind: SpanKind.SERVER, startMs: trace.startMs - 2, endMs: trace.startMs + 9000,
    service: SERVICES.vercelAi, scope: SCOPES.http,
    attributes: {
      'http.request.method': 'POST', 'http.route': '/api/chat', 'url.path': '/api/chat', 'url.scheme': 'https',
      'server.address': 'app.example.com', 'server.port': 443, 'http.response.status_code': 200, 'enduser.id': user,
      'client.address': `203.0.113.${trace.draw.int(1, 254)}`,
    },
  });
}

/** Trace makers, weighted: how often each library's trace appears, and the most spans one trace can have. */
const TRACE_MAKERS: ReadonlyArray<{ readonly make: (trace: TraceContext) => void; readonly weight: number; readonly maxSpans: number }> = [
  { make: otelContrib, weight: 12, maxSpans: 2 },
  { make: openllmetry, weight: 10, maxSpans: 1 },
  { make: (trace) => vercelAi(trace, true), weight: 3, maxSpans: 2 },
  { make: openinference, weight: 10, maxSpans: 1 },
  { make: (trace) => vercelAi(trace, false), weight: 8, maxSpans: 2 },
  { make: vercelAiUnderApp, weight: 3, maxSpans: 3 },
  { make: vercelAi7, weight: 8, maxSpans: 3 },
  { make: anthropicSdk, weight: 10, maxSpans: 1 },
  { make: langfuse, weight: 10, maxSpans: 1 },
  { make: openlit, weight: 10, maxSpans: 2 },
  { make: ours, weight: 16, maxSpans: 3 },
];

/** Makers whose traces are a single span: used to fill the last places exactly without cutting a trace in two. */
const SINGLE_SPAN_MAKERS = TRACE_MAKERS.filter((maker) => maker.maxSpans === 1);

/**
 * A batch of `spans` finished spans, whole traces only, every supported library's shapes mixed (see the module
 * comment). Spans of one trace are in the order an exporter sends them: children, which end first, before parents.
 */
export function makeMixedBatch(options: MixedBatchOptions): ReadableSpan[] {
  const { spans: total, users } = options;
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`makeMixedBatch: spans must be a non-negative integer, got ${total}`);
  if (!Number.isInteger(users) || users < 1) throw new RangeError(`makeMixedBatch: users must be a positive integer, got ${users}`);
  const errorShare = options.errorShare ?? 0.03;
  if (!(errorShare >= 0 && errorShare <= 1)) throw new RangeError(`makeMixedBatch: errorShare must be within 0..1, got ${errorShare}`);
  const draw = new Draw(options.seed ?? 1);
  const weightTotal = TRACE_MAKERS.reduce((sum, maker) => sum + maker.weight, 0);
  const out: ReadableSpan[] = [];
  let clockMs = options.startTimeMs ?? DEFAULT_START_MS;
  while (out.length < total) {
    const room = total - out.length;
    let maker = TRACE_MAKERS[TRACE_MAKERS.length - 1]!;
    let r = draw.next() * weightTotal;
    for (const candidate of TRACE_MAKERS) {
      r -= candidate.weight;
      if (r < 0) { maker = candidate; break; }
    }
    if (maker.maxSpans > room) maker = draw.pick(SINGLE_SPAN_MAKERS);
    maker.make({ draw, users, errorShare, traceId: draw.hexId(16), startMs: clockMs, out });
    clockMs += draw.int(1, 40);
  }
  return out;
}
