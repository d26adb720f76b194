/**
 * Realistic OTLP trace batches for tests and benchmarks: LLM calls tagged the way our instrumentation and the
 * OpenTelemetry GenAI conventions tag them, plus the HTTP server spans they run under. The spans are built as SDK
 * `ReadableSpan`s and serialized with the official OpenTelemetry JS serializers, so the bytes are what a real
 * exporter sends. Everything is derived from a seeded generator: the same options give the same bytes.
 */
import { SpanKind as ApiSpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { Attributes, HrTime, SpanContext, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

export interface BatchOptions {
  /** Spans in the batch, LLM and HTTP together. */
  readonly spans: number;
  /** Distinct `user.id` values the LLM spans are spread over (a few users make most calls, as in real apps). */
  readonly users: number;
  readonly seed?: number;
  /** Share of the spans that are HTTP server spans (the request an LLM call runs under). Default 0.1. */
  readonly httpShare?: number;
  /** Share of the LLM calls that failed (status ERROR, no usage). Default 0.03. */
  readonly errorShare?: number;
  /** Distinct services (resources) the spans come from. Default 1, as in one exporter's batch. */
  readonly services?: number;
  /** Wall-clock time of the first span, ms since the epoch. Default 2026-11-26T10:00:00Z. */
  readonly startTimeMs?: number;
}

export const DEFAULT_BATCH_SPANS = 512;
const DEFAULT_START_MS = Date.UTC(2026, 10, 26, 10, 0, 0);

/** The instrumentation scope our own LLM spans carry. */
export const LLM_SCOPE: InstrumentationScope = Object.freeze({ name: 'llm-user-metrics', version: '0.1.0' });
export const HTTP_SCOPE: InstrumentationScope = Object.freeze({
  name: '@opentelemetry/instrumentation-http',
  version: '0.301.0',
  schemaUrl: 'https://opentelemetry.io/schemas/1.36.0',
});

interface ModelChoice {
  readonly provider: 'openai' | 'anthropic';
  readonly operation: 'chat' | 'embeddings';
  readonly requestModel: string;
  readonly responseModel: string;
  readonly serverAddress: string;
  /** Relative frequency in the mix. */
  readonly weight: number;
}

const MODELS: readonly ModelChoice[] = [
  { provider: 'openai', operation: 'chat', requestModel: 'gpt-4o-mini', responseModel: 'gpt-4o-mini-2024-07-18', serverAddress: 'api.openai.com', weight: 40 },
  { provider: 'openai', operation: 'chat', requestModel: 'gpt-4.1', responseModel: 'gpt-4.1-2025-04-14', serverAddress: 'api.openai.com', weight: 15 },
  { provider: 'anthropic', operation: 'chat', requestModel: 'claude-3-5-haiku-20241022', responseModel: 'claude-3-5-haiku-20241022', serverAddress: 'api.anthropic.com', weight: 20 },
  { provider: 'anthropic', operation: 'chat', requestModel: 'claude-sonnet-4-20250514', responseModel: 'claude-sonnet-4-20250514', serverAddress: 'api.anthropic.com', weight: 10 },
  { provider: 'openai', operation: 'embeddings', requestModel: 'text-embedding-3-small', responseModel: 'text-embedding-3-small', serverAddress: 'api.openai.com', weight: 15 },
];
const PLANS = ['free', 'pro', 'premium'] as const;
const FEATURES = ['chat', 'summarize', 'search', 'autocomplete', 'support-bot'] as const;
const ROUTES = ['/api/chat', '/api/summarize', '/api/search', '/api/complete'] as const;

/** mulberry32: small, fast, and good enough to make varied but reproducible data. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws from a seeded generator: the same seed gives the same batch. */
export class Generator {
  readonly #random: () => number;
  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }
  next(): number {
    return this.#random();
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.#random() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.#random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)] as T;
  }
  pickWeighted<T extends { readonly weight: number }>(items: readonly T[]): T {
    const total = items.reduce((sum, item) => sum + item.weight, 0);
    let r = this.#random() * total;
    for (const item of items) {
      r -= item.weight;
      if (r < 0) return item;
    }
    return items[items.length - 1] as T;
  }
  /** A non-zero id of `bytes` random bytes, as lower-case hex. */
  hexId(bytes: number): string {
    let hex = '';
    for (let i = 0; i < bytes; i++) hex += this.int(0, 255).toString(16).padStart(2, '0');
    return /^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex;
  }
  token(length: number): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.int(0, alphabet.length - 1)];
    return out;
  }
  /**
   * A user index, skewed so that low indices are much more frequent (about Zipf-like), while every one of `users`
   * indices can occur.
   */
  userIndex(users: number): number {
    return Math.min(users - 1, Math.floor(users * this.#random() ** 2.5));
  }
}

export function userId(index: number): string {
  return `user-${String(index).padStart(6, '0')}`;
}

/** The plan a user is on: fixed per user, so per-user metrics see one plan each. */
export function planOf(index: number): (typeof PLANS)[number] {
  return PLANS[index % 7 === 0 ? 2 : index % 3 === 0 ? 1 : 0] as (typeof PLANS)[number];
}

function hrTime(ms: number, extraNanos: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6) + extraNanos;
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

function hrDuration(start: HrTime, end: HrTime): HrTime {
  let seconds = end[0] - start[0];
  let nanos = end[1] - start[1];
  if (nanos < 0) {
    seconds -= 1;
    nanos += 1e9;
  }
  return [seconds, nanos];
}

export interface SpanSpec {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  /** API span kind (INTERNAL = 0, SERVER = 1, CLIENT = 2, ...): the serializer adds one for OTLP. */
  readonly kind: ApiSpanKind;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status?: SpanStatus;
  readonly attributes: Attributes;
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
}

/** A finished SDK span as exporters see it, from plain data (no tracer, no clock). */
export function readableSpan(spec: SpanSpec): ReadableSpan {
  const context: SpanContext = { traceId: spec.traceId, spanId: spec.spanId, traceFlags: TraceFlags.SAMPLED };
  const parent: SpanContext | undefined = spec.parentSpanId === undefined
    ? undefined
    : { traceId: spec.traceId, spanId: spec.parentSpanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name: spec.name,
    kind: spec.kind,
    spanContext: () => context,
    ...(parent === undefined ? {} : { parentSpanContext: parent }),
    startTime: spec.startTime,
    endTime: spec.endTime,
    duration: hrDuration(spec.startTime, spec.endTime),
    status: spec.status ?? { code: SpanStatusCode.UNSET },
    attributes: spec.attributes,
    links: [],
    events: [],
    ended: true,
    resource: spec.resource,
    instrumentationScope: spec.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

function makeResource(index: number): Resource {
  const name = index === 0 ? 'chat-api' : `chat-api-${index + 1}`;
  return resourceFromAttributes({
    'service.name': name,
    'service.version': '2.14.0',
    'service.instance.id': `${name}-7d9f8c6b5-x${index}q2`,
    'deployment.environment.name': 'production',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.version': '3.1.0',
    'process.pid': 4242 + index,
    'host.name': `ip-10-0-${index}-17.ec2.internal`,
  });
}

function llmAttributes(gen: Generator, model: ModelChoice, users: number, failed: boolean): Attributes {
  const user = gen.userIndex(users);
  const attributes: Record<string, string | number | boolean | string[]> = {
    'gen_ai.operation.name': model.operation,
    'gen_ai.provider.name': model.provider,
    'gen_ai.request.model': model.requestModel,
    'server.address': model.serverAddress,
    'server.port': 443,
    'user.id': userId(user),
    'llm_user_metrics.property.plan': planOf(user),
    'llm_user_metrics.property.feature': gen.pick(FEATURES),
  };
  if (model.operation === 'chat') {
    attributes['gen_ai.request.max_tokens'] = gen.pick([256, 512, 1024, 4096]);
    attributes['gen_ai.request.temperature'] = gen.pick([0, 0.2, 0.7, 1]);
    attributes['gen_ai.request.stream'] = gen.chance(0.4);
  } else {
    attributes['gen_ai.request.encoding_formats'] = ['float'];
  }
  if (failed) {
    attributes['error.type'] = model.provider === 'openai' ? 'RateLimitError' : 'rate_limit_error';
    attributes['http.response.status_code'] = 429;
    return attributes;
  }
  attributes['gen_ai.response.model'] = model.responseModel;
  if (model.operation === 'chat') {
    attributes['gen_ai.response.id'] = model.provider === 'openai' ? `chatcmpl-${gen.token(29)}` : `msg_01${gen.token(22)}`;
    attributes['gen_ai.response.finish_reasons'] = [model.provider === 'openai' ? 'stop' : 'end_turn'];
    const input = gen.int(40, 6000);
    attributes['gen_ai.usage.input_tokens'] = input;
    attributes['gen_ai.usage.output_tokens'] = gen.int(5, 1500);
    if (gen.chance(0.3)) attributes['gen_ai.usage.cache_read.input_tokens'] = Math.floor(input * gen.next() * 0.8);
    if (attributes['gen_ai.request.stream'] === true) attributes['gen_ai.response.time_to_first_chunk'] = gen.int(150, 2500) / 1000;
  } else {
    attributes['gen_ai.usage.input_tokens'] = gen.int(5, 8000);
  }
  return attributes;
}

function httpAttributes(gen: Generator, route: string, status: number): Attributes {
  return {
    'http.request.method': 'POST',
    'http.route': route,
    'url.path': route,
    'url.scheme': 'https',
    'server.address': 'app.example.com',
    'server.port': 443,
    'network.protocol.version': '1.1',
    'http.response.status_code': status,
    'user_agent.original': gen.pick(['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)', 'okhttp/4.12.0', 'python-requests/2.32.3']),
    'client.address': `203.0.113.${gen.int(1, 254)}`,
  };
}

/**
 * A batch of finished spans: traces of one HTTP server span with one to three LLM client spans under it, until
 * `spans` spans are made (HTTP spans make up about `httpShare` of them).
 */
export function makeBatch(options: BatchOptions): ReadableSpan[] {
  const { spans: total, users } = options;
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`makeBatch: spans must be a non-negative integer, got ${total}`);
  if (!Number.isInteger(users) || users < 1) throw new RangeError(`makeBatch: users must be a positive integer, got ${users}`);
  const gen = new Generator(options.seed ?? 1);
  const httpShare = options.httpShare ?? 0.1;
  const errorShare = options.errorShare ?? 0.03;
  const resources = Array.from({ length: options.services ?? 1 }, (_, i) => makeResource(i));
  // Several LLM calls per HTTP request, so that HTTP spans make up httpShare of the batch on average.
  const llmPerRequest = httpShare > 0 ? (1 - httpShare) / httpShare : Infinity;
  let clockMs = options.startTimeMs ?? DEFAULT_START_MS;
  const out: ReadableSpan[] = [];
  while (out.length < total) {
    const traceId = gen.hexId(16);
    const resource = gen.pick(resources);
    const withHttp = Number.isFinite(llmPerRequest);
    const httpSpanId = gen.hexId(8);
    const requestStartMs = clockMs;
    const calls = withHttp ? Math.max(1, Math.round(llmPerRequest * (0.5 + gen.next()))) : 1;
    let callStartMs = requestStartMs + gen.int(1, 15);
    for (let c = 0; c < calls && out.length < total - (withHttp ? 1 : 0); c++) {
      const model = gen.pickWeighted(MODELS);
      const failed = gen.chance(errorShare);
      const durationMs = failed ? gen.int(80, 400) : model.operation === 'embeddings' ? gen.int(40, 300) : gen.int(300, 9000);
      const startTime = hrTime(callStartMs, gen.int(0, 999_999));
      const endTime = hrTime(callStartMs + durationMs, gen.int(0, 999_999));
      out.push(readableSpan({
        traceId,
        spanId: gen.hexId(8),
        ...(withHttp ? { parentSpanId: httpSpanId } : {}),
        name: `${model.operation} ${model.requestModel}`,
        kind: ApiSpanKind.CLIENT,
        startTime,
        endTime,
        status: failed ? { code: SpanStatusCode.ERROR, message: '429 Rate limit reached for requests' } : { code: SpanStatusCode.UNSET },
        attributes: llmAttributes(gen, model, users, failed),
        resource,
        scope: LLM_SCOPE,
      }));
      callStartMs += durationMs + gen.int(1, 20);
    }
    if (withHttp && out.length < total) {
      const route = gen.pick(ROUTES);
      const status = gen.chance(0.02) ? 500 : 200;
      out.push(readableSpan({
        traceId,
        spanId: httpSpanId,
        name: `POST ${route}`,
        kind: ApiSpanKind.SERVER,
        startTime: hrTime(requestStartMs, gen.int(0, 999_999)),
        endTime: hrTime(callStartMs + gen.int(1, 10), gen.int(0, 999_999)),
        status: status === 500 ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
        attributes: httpAttributes(gen, route, status),
        resource,
        scope: HTTP_SCOPE,
      }));
    }
    clockMs += gen.int(1, 40);
  }
  return out;
}

/** The ExportTraceServiceRequest in protobuf, as the official OTLP/HTTP protobuf exporter sends it. */
export function serializeProtobuf(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) throw new Error('ProtobufTraceSerializer produced no bytes');
  return bytes;
}

/** The ExportTraceServiceRequest in OTLP/JSON, as the official OTLP/HTTP JSON exporter sends it. */
export function serializeJson(spans: ReadableSpan[]): Uint8Array {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) throw new Error('JsonTraceSerializer produced no bytes');
  return bytes;
}

/** Exact nanoseconds since the epoch of an HrTime, for precision checks. */
export function hrTimeToNanos(time: HrTime): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}
