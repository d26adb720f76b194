/**
 * The wrapper put around an SDK's `create` method: works out the call's tags, starts its span, runs the original
 * (with the span as the active context), and hands the returned APIPromise to the observer. If anything of ours
 * fails before the original runs, the original runs exactly as the app called it.
 */
import { context, type Attributes, type Tracer } from '@opentelemetry/api';
import { baggageUser, contextProperties, contextUser } from './context.ts';
import { LlmCall, safely, type CallStart, type ResponseFields } from './llm-call.ts';
import { resolveTags, type HeadersLike } from './request-tags.ts';
import { observeApiPromise, type StreamAccumulator } from './stainless.ts';

/** Everything a provider module says about one call before it is made. */
export interface PreparedCall {
  readonly start: Omit<CallStart, 'tags'>;
  /** The body to send: the app's own, or a copy with what we add (e.g. `stream_options.include_usage`). */
  readonly body: unknown;
  readonly fromResponse: (data: unknown) => ResponseFields;
  readonly newAccumulator: () => StreamAccumulator;
}

export interface CallInput {
  readonly body: unknown;
  readonly options: unknown;
  /** The resource's client (`this._client`), for its base URL and default headers. */
  readonly client: unknown;
}

export interface Describer {
  describe(input: CallInput): PreparedCall | undefined;
  bodyUser(body: unknown): string | undefined;
}

interface StainlessClient {
  baseURL?: unknown;
  _options?: { defaultHeaders?: unknown };
}

export function serverOf(client: unknown): { serverAddress?: string; serverPort?: number } {
  const baseURL = (client as StainlessClient | null)?.baseURL;
  if (typeof baseURL !== 'string') return {};
  try {
    const url = new URL(baseURL);
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return { serverAddress: url.hostname, serverPort: port };
  } catch {
    return {};
  }
}

export function defaultHeadersOf(client: unknown): HeadersLike {
  return (client as StainlessClient | null)?._options?.defaultHeaders;
}

export function requestHeadersOf(options: unknown): HeadersLike {
  return typeof options === 'object' && options !== null ? (options as { headers?: unknown }).headers : undefined;
}

/** Numbers and strings from the request body that the conventions name, when the app set them. */
export function pickRequestAttributes(body: unknown, fields: Readonly<Record<string, string>>): Attributes {
  const attributes: Attributes = {};
  if (typeof body !== 'object' || body === null) return attributes;
  for (const [field, attribute] of Object.entries(fields)) {
    const value = (body as Record<string, unknown>)[field];
    if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string') attributes[attribute] ??= value;
  }
  return attributes;
}

type CreateMethod = (this: unknown, ...args: unknown[]) => unknown;

export function wrapCreate(original: CreateMethod, describer: Describer, tracer: () => Tracer): CreateMethod {
  return function create(this: unknown, ...args: unknown[]) {
    const [body, options, ...rest] = args;
    const client = (this as { _client?: unknown } | null)?._client;
    const begun = safely('call start', () => {
      const prepared = describer.describe({ body, options, client });
      if (!prepared) return undefined;
      const active = context.active();
      const tags = resolveTags({
        contextUser: contextUser(active),
        contextProperties: contextProperties(active),
        requestHeaders: requestHeadersOf(options),
        defaultHeaders: defaultHeadersOf(client),
        bodyUser: describer.bodyUser(body),
        baggageUser: baggageUser(active),
      });
      return { prepared, call: new LlmCall(tracer(), { ...prepared.start, tags }) };
    }, undefined);
    if (!begun) return original.apply(this, args);
    const { prepared, call } = begun;
    let result: unknown;
    try {
      result = context.with(call.context(), () => original.apply(this, [prepared.body, options, ...rest]));
    } catch (error) {
      call.fail(error);
      throw error;
    }
    return safely('observe', () => observeApiPromise(result, {
      call,
      fromResponse: prepared.fromResponse,
      newAccumulator: prepared.newAccumulator,
    }), result);
  };
}
