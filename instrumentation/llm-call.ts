/**
 * One LLM call as one CLIENT span: started when the app calls the SDK, ended exactly once when the response (or the
 * stream's last event, or the error) arrives. Every piece of our own logic runs behind `safely`: a fault in it is
 * logged once through the OTel diag logger and the app's call goes on untouched.
 */
import { context, diag, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { INSTRUMENTED_ATTRIBUTE, PROPERTY_ATTRIBUTE_PREFIX } from '../src/wire/attributes.ts';
import type { CallTags } from './request-tags.ts';
import { usageAttributes, type TokenUsage } from './usage.ts';

export const TIME_TO_FIRST_CHUNK_ATTRIBUTE = 'gen_ai.response.time_to_first_chunk';

const log = diag.createComponentLogger({ namespace: 'llm-user-metrics' });

/** How many distinct faults are logged; past that, one line says so and the rest are silent. */
export const MAX_REPORTED_FAULTS = 64;
const reported = new Set<string>();

function report(what: string, error: unknown): void {
  // The error class only: a message can quote what failed to parse, i.e. prompt or completion text.
  const fault = `${what}: ${error instanceof Error ? error.name : typeof error}`;
  if (reported.has(fault) || reported.size > MAX_REPORTED_FAULTS) return;
  if (reported.size === MAX_REPORTED_FAULTS) {
    reported.add('');
    log.error(`instrumentation faults: ${MAX_REPORTED_FAULTS} kinds reported, further ones are not logged`);
    return;
  }
  reported.add(fault);
  log.error(`instrumentation fault, call left untouched (${fault})`);
}

/** Runs our own logic; on a fault, logs where and which error class (once each) and returns `fallback`. */
export function safely<T>(what: string, fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (error) {
    report(what, error);
    return fallback;
  }
}

export interface CallStart {
  readonly operation: 'chat' | 'text_completion' | 'embeddings';
  readonly provider: 'openai' | 'anthropic' | 'perplexity';
  readonly requestModel?: string | undefined;
  readonly serverAddress?: string | undefined;
  readonly serverPort?: number | undefined;
  readonly stream: boolean;
  readonly tags: CallTags;
  readonly requestAttributes?: Attributes;
}

/** What a finished response (or an accumulated stream) says. */
export interface ResponseFields {
  readonly model?: string | undefined;
  readonly id?: string | undefined;
  readonly finishReasons?: readonly string[] | undefined;
  readonly usage?: TokenUsage | undefined;
  /** Set when the response itself reports a failure (a Responses `status: 'failed'`, an `error` stream event). */
  readonly errorType?: string | undefined;
}

export function startAttributes(start: CallStart): Attributes {
  const attributes: Attributes = {
    'gen_ai.operation.name': start.operation,
    'gen_ai.provider.name': start.provider,
    [INSTRUMENTED_ATTRIBUTE]: true,
    ...start.requestAttributes,
  };
  if (start.requestModel) attributes['gen_ai.request.model'] = start.requestModel;
  if (start.serverAddress) attributes['server.address'] = start.serverAddress;
  if (start.serverPort) attributes['server.port'] = start.serverPort;
  if (start.tags.userId !== undefined) attributes['user.id'] = start.tags.userId;
  for (const [name, value] of Object.entries(start.tags.properties)) attributes[PROPERTY_ATTRIBUTE_PREFIX + name] = value;
  return attributes;
}

export function responseAttributes(fields: ResponseFields): Attributes {
  const attributes: Attributes = fields.usage ? usageAttributes(fields.usage) : {};
  if (fields.model) attributes['gen_ai.response.model'] = fields.model;
  if (fields.id) attributes['gen_ai.response.id'] = fields.id;
  if (fields.finishReasons && fields.finishReasons.length > 0) attributes['gen_ai.response.finish_reasons'] = [...fields.finishReasons];
  return attributes;
}

/** Node's error codes (`ERR_STREAM_PREMATURE_CLOSE`): a fixed vocabulary, safe as a label. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * A low-cardinality name for a failure: the SDK's error class (RateLimitError), else the HTTP status, else a Node
 * error code (openai 4's node-fetch reports a dropped stream as a plain Error with `ERR_STREAM_PREMATURE_CLOSE`).
 */
export function errorType(error: unknown): string {
  if (error instanceof Error) {
    const name = error.constructor?.name;
    if (name && name !== 'Error') return name;
    const { status, code } = error as { status?: unknown; code?: unknown };
    if (typeof status === 'number') return String(status);
    if (typeof code === 'string' && ERROR_CODE.test(code)) return code;
    return error.name && error.name !== 'Error' ? error.name : '_OTHER';
  }
  return '_OTHER';
}

export class LlmCall {
  readonly span: Span;
  readonly #startedAt: number;
  #firstOutputAt: number | undefined;
  #ended = false;

  constructor(tracer: Tracer, start: CallStart) {
    const name = start.requestModel ? `${start.operation} ${start.requestModel}` : start.operation;
    this.span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: startAttributes(start) });
    this.#startedAt = performance.now();
  }

  /** The context in which the SDK's own work runs, so spans it makes (Anthropic's, HTTP) are children of ours. */
  context() {
    return trace.setSpan(context.active(), this.span);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The first event carrying output arrived (not merely the first event: headers-only ones come earlier). */
  firstOutput(): void {
    if (this.#firstOutputAt !== undefined || this.#ended) return;
    this.#firstOutputAt = performance.now();
    this.span.setAttribute(TIME_TO_FIRST_CHUNK_ATTRIBUTE, (this.#firstOutputAt - this.#startedAt) / 1000);
  }

  /** Ends the span with what the response said; one that reports its own failure makes it an error span. */
  end(fields: ResponseFields, extra?: Attributes): void {
    if (this.#ended) return;
    this.#ended = true;
    this.span.setAttributes({ ...responseAttributes(fields), ...extra });
    if (fields.errorType !== undefined) {
      this.span.setAttribute('error.type', fields.errorType);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: fields.errorType });
    }
    this.span.end();
  }

  fail(error: unknown, fields?: ResponseFields, extra?: Attributes): void {
    if (this.#ended) return;
    this.#ended = true;
    const type = errorType(error);
    const status = (error as { status?: unknown } | null)?.status;
    this.span.setAttributes({
      ...(fields ? responseAttributes(fields) : {}),
      ...extra,
      'error.type': type,
      ...(typeof status === 'number' ? { 'http.response.status_code': status } : {}),
    });
    // The class name only: provider error messages may quote the request.
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    this.span.end();
  }
}
