/**
 * Observing the objects the Stainless-generated SDKs (openai 4-7, @anthropic-ai/sdk) return, without changing what
 * the app sees: the `APIPromise` (its `withResponse()`, `asResponse()` and `_thenUnwrap` stay), and the `Stream`
 * (every event unchanged, `tee()`, `controller.abort()`, `toReadableStream()`, early `break`).
 */
import { Readable } from 'node:stream';
import { withoutTopLevelMember } from './json-text.ts';
import type { LlmCall, ResponseFields } from './llm-call.ts';
import { safely } from './llm-call.ts';
import { STREAM_INCOMPLETE_ATTRIBUTE, STREAM_STOPPED_BY_APP_ATTRIBUTE } from '../src/wire/attributes.ts';

/** Accumulates what a stream's events say; returns true for an event the app must not see. */
export interface StreamAccumulator {
  /**
   * Looks at one event. 'hide': the app must not see it (the usage chunk we asked for); 'strip-usage': its top-level
   * `usage` member is there only because we asked for usage, and was deleted from the event (a raw SSE body must
   * drop it from the text too); 'keep': untouched.
   */
  onEvent(event: unknown): EventVerdict;
  /** True for an event that carries generated output (text, tool call, reasoning): the first one stops the clock. */
  carriesOutput(event: unknown): boolean;
  /** The fields so far; `complete` is false until the stream's final event arrived. */
  result(): ResponseFields & { readonly complete: boolean };
}

export type EventVerdict = 'keep' | 'hide' | 'strip-usage';

export interface CallObserver {
  readonly call: LlmCall;
  fromResponse(data: unknown): ResponseFields;
  newAccumulator(): StreamAccumulator;
}

interface StainlessStream {
  iterator: (...args: unknown[]) => AsyncIterator<unknown>;
  tee: unknown;
  controller?: { signal?: AbortSignal };
}

function isStainlessStream(value: unknown): value is StainlessStream {
  const v = value as Partial<StainlessStream> | null;
  return typeof v === 'object' && v !== null && typeof v.iterator === 'function' && typeof v.tee === 'function';
}

/**
 * Who ended a stream that raised no error: 'read' (its events ran out: whole if it said it was done, else truncated by
 * the provider's side), 'stopped' (the app broke off, aborted, or dropped it unread: its choice, not a failure).
 */
export type StreamEnding = 'read' | 'stopped';

/** Ends the span with what the stream said so far; marked incomplete unless it said it was done. */
function endStream(observer: CallObserver, accumulator: StreamAccumulator, ending: StreamEnding): void {
  safely('stream end', () => {
    const { complete, ...fields } = accumulator.result();
    if (complete) return observer.call.end(fields);
    observer.call.end(fields, {
      [STREAM_INCOMPLETE_ATTRIBUTE]: true,
      ...(ending === 'stopped' ? { [STREAM_STOPPED_BY_APP_ATTRIBUTE]: true } : {}),
    });
  }, undefined);
}

/** A stream whose body failed (the connection dropped mid-way): the app got an exception, so the span is an error. */
function failStream(observer: CallObserver, accumulator: StreamAccumulator, error: unknown): void {
  safely('stream error', () => {
    const { complete, ...fields } = accumulator.result();
    observer.call.fail(error, fields, complete ? undefined : { [STREAM_INCOMPLETE_ATTRIBUTE]: true });
  }, undefined);
}

/**
 * How one stream's span ends: when its iteration ends, fails or is broken off; when its controller aborts (read or
 * not); or when the app dropped it unread and it is garbage collected. The registry holds this strongly, so it must
 * not reference the stream or the iterator it watches.
 */
class StreamWatch {
  readonly observer: CallObserver;
  #accumulator: StreamAccumulator | undefined;
  /** A `next()` of ours is waiting on the SDK: its outcome, not an abort seen meanwhile, says how the stream ended. */
  reading = false;
  /** The stream's abort signal (it references no stream), to tell an app's abort from a stream that ran out. */
  readonly signal: { readonly aborted: boolean } | undefined;

  constructor(observer: CallObserver, signal: { readonly aborted: boolean } | undefined) {
    this.observer = observer;
    this.signal = signal;
  }

  get accumulator(): StreamAccumulator {
    return (this.#accumulator ??= this.observer.newAccumulator());
  }

  end(ending: StreamEnding): void {
    dropped.unregister(this);
    endStream(this.observer, this.accumulator, ending);
  }

  fail(error: unknown): void {
    dropped.unregister(this);
    failStream(this.observer, this.accumulator, error);
  }

  /**
   * The stream's controller aborted. The SDKs abort it themselves when a read fails (a dropped connection), before
   * the error reaches the app: while a read is pending, its outcome decides (an abort the app asked for ends that read
   * quietly, as done).
   */
  aborted(): void {
    if (!this.reading) this.end('stopped');
  }
}

/** Streams (or, once iterated, their iterators) the app may drop without reading to the end. */
const dropped = new FinalizationRegistry<StreamWatch>((watch) => watch.end('stopped'));

/** Passes each step of the app's iteration through, noting events and ending the span once. */
function observeIterator(inner: AsyncIterator<unknown>, watch: StreamWatch): AsyncIterator<unknown> {
  const { call } = watch.observer;
  const accumulator = watch.accumulator;
  const observed: AsyncIterator<unknown> & AsyncIterable<unknown> = {
    async next(...args: [] | [unknown]) {
      for (;;) {
        let step: IteratorResult<unknown>;
        watch.reading = true;
        try {
          step = await inner.next(...args);
        } catch (error) {
          watch.fail(error);
          throw error;
        } finally {
          watch.reading = false;
        }
        if (step.done) {
          // The SDK ends a read quietly when the app aborted: still the app's choice, if the stream was not done.
          watch.end(watch.signal?.aborted ? 'stopped' : 'read');
          return step;
        }
        const verdict = safely('stream event', () => {
          if (accumulator.carriesOutput(step.value)) call.firstOutput();
          return accumulator.onEvent(step.value);
        }, 'keep');
        if (verdict !== 'hide') return step;
      }
    },
    async return(value?: unknown) {
      watch.end('stopped');
      return inner.return ? inner.return(value) : { done: true, value };
    },
    async throw(error?: unknown) {
      watch.fail(error);
      if (inner.throw) return inner.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return observed;
}

/**
 * Wraps the stream's own `iterator` (an instance property in every version; `[Symbol.asyncIterator]`, `tee()` and
 * `toReadableStream()` all go through it). Only the first iteration is observed: a second one fails in the SDK
 * ("consumed stream") exactly as it would without us.
 */
export function instrumentStream(stream: unknown, observer: CallObserver): void {
  if (!isStainlessStream(stream)) {
    observer.call.end({});
    return;
  }
  const signal = stream.controller?.signal;
  const watch = new StreamWatch(observer, typeof signal?.aborted === 'boolean' ? signal : undefined);
  dropped.register(stream, watch, watch);
  // An abort ends the stream whether or not the app ever iterated it (the SDK links the app's own signal to it).
  if (signal && typeof signal.addEventListener === 'function') signal.addEventListener('abort', () => watch.aborted(), { once: true });
  const original = stream.iterator;
  let observed = false;
  stream.iterator = function iterator(this: unknown, ...args: unknown[]) {
    const inner = original.apply(this, args);
    if (observed) return inner;
    observed = true;
    return safely('stream wrap', () => {
      const iterating = observeIterator(inner, watch);
      // From here the app holds the iterator, maybe no longer the stream (tee() keeps only the iterator).
      dropped.unregister(watch);
      dropped.register(iterating, watch, watch);
      return iterating;
    }, inner);
  };
}

function onData(data: unknown, observer: CallObserver): void {
  safely('response', () => {
    if (isStainlessStream(data)) instrumentStream(data, observer);
    else observer.call.end(observer.fromResponse(data));
  }, undefined);
}

interface StainlessApiPromise {
  _thenUnwrap(transform: (data: unknown, props: unknown) => unknown): StainlessApiPromise;
  responsePromise?: PromiseLike<unknown>;
  parse?: (...args: unknown[]) => Promise<unknown>;
  asResponse?: (...args: unknown[]) => Promise<Response>;
  withResponse?: (...args: unknown[]) => Promise<unknown>;
}

function isStainlessApiPromise(value: unknown): value is StainlessApiPromise {
  return typeof value === 'object' && value !== null && typeof (value as StainlessApiPromise)._thenUnwrap === 'function';
}

/**
 * Returns an APIPromise equivalent to `promise` (same class, so `withResponse()`, `asResponse()` and the SDK's own
 * `instanceof APIPromise` checks keep working) whose outcome ends `observer.call`.
 */
export function observeApiPromise(promise: unknown, observer: CallObserver): unknown {
  const { call } = observer;
  if (!isStainlessApiPromise(promise)) {
    // Not the shape we know: end the span when it settles, if it is a promise at all.
    if (promise && typeof (promise as PromiseLike<unknown>).then === 'function') {
      (promise as PromiseLike<unknown>).then((data) => onData(data, observer), (error: unknown) => call.fail(error));
    } else {
      call.end({});
    }
    return promise;
  }
  const observed = promise._thenUnwrap((data) => {
    onData(data, observer);
    return data;
  });
  safely('api promise', () => hookConsumers(observed, observer), undefined);
  return observed;
}

/**
 * Hooks the ways an app (or an SDK helper) consumes the APIPromise, to see failures. Nothing is attached before one
 * of them runs: a call the app fires and forgets must reject unhandled exactly as it would without us.
 */
function hookConsumers(observed: StainlessApiPromise, observer: CallObserver): void {
  const { parse, asResponse, _thenUnwrap: thenUnwrap } = observed;
  if (typeof parse !== 'function' || typeof asResponse !== 'function') return;
  // HTTP and network failures reject the response promise before any parsing. Once a consumer is chained on it,
  // our handler changes nothing about which rejections go unhandled.
  let watching = false;
  const watchFailure = () => {
    if (watching) return;
    watching = true;
    observed.responsePromise?.then(undefined, (error: unknown) => observer.call.fail(error));
  };
  let parsed: Promise<unknown> | undefined;
  const define = (name: string, value: (this: unknown, ...args: unknown[]) => unknown) =>
    Object.defineProperty(observed, name, { configurable: true, writable: true, enumerable: false, value });
  // Own properties shadow the prototype's: `then`, `catch`, `finally` and `withResponse` all call `this.parse()`.
  define('parse', function parseObserved(this: unknown, ...args: unknown[]) {
    watchFailure();
    // Memoised like the SDK's own; it rejects exactly when the SDK's does, so the app's handling is unchanged.
    return (parsed ??= parse.apply(this, args).then(undefined, (error: unknown) => {
      observer.call.fail(error);
      throw error;
    }));
  });
  // An app that reads the raw Response itself (`asResponse()` without parsing) never runs the SDK's parser.
  define('asResponse', function asResponseObserved(this: unknown, ...args: unknown[]) {
    watchFailure();
    const result = asResponse.apply(this, args);
    if (parsed) return result;
    return result.then((response) => safely('raw response', () => observeRawResponse(response, observer), response));
  });
  // SDK helpers (openai 7's responses.stream()) derive their own APIPromise from ours and consume that one.
  define('_thenUnwrap', function thenUnwrapObserved(this: unknown, ...args: unknown[]) {
    watchFailure();
    return (thenUnwrap as (...a: unknown[]) => unknown).apply(this, args);
  });
}

/**
 * The raw-Response path: JSON bodies are read from a clone; SSE bodies are replaced by the same bytes read through a
 * filter that sees each event. openai 6 and 7 (and apps on openai 4's web shims) hand out a fetch `Response` whose
 * body is a web ReadableStream; openai 4 by default a node-fetch `Response` whose body is a Node Readable: each gets
 * a Response of its own kind back.
 */
export function observeRawResponse(response: Response, observer: CallObserver): Response {
  const { call } = observer;
  // Never an error status: the SDK rejects those before asResponse() resolves.
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.includes('text/event-stream') || !response.body) {
    response.clone().json().then(
      (data: unknown) => safely('raw json', () => call.end(observer.fromResponse(data)), undefined),
      (error: unknown) => call.fail(error),
    );
    return response;
  }
  const body: unknown = response.body;
  const filter = new SseFilter(observer, observer.newAccumulator());
  if (body instanceof ReadableStream) {
    const replacement = new Response(filteredWebBody(body, filter), { status: response.status, statusText: response.statusText, headers: response.headers });
    Object.defineProperty(replacement, 'url', { value: response.url });
    return replacement;
  }
  if (body instanceof Readable) {
    const NodeFetchResponse = response.constructor as new (body: unknown, init: object) => Response;
    return new NodeFetchResponse(Readable.from(filteredChunks(body, filter), { objectMode: false }), {
      url: response.url, status: response.status, statusText: response.statusText, headers: response.headers,
    });
  }
  // A body of a kind we do not know: left alone, and the span ends now rather than never.
  call.end({});
  return response;
}

function filteredWebBody(source: ReadableStream<Uint8Array>, filter: SseFilter): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          filter.failed(error);
          throw error;
        }
        if (step.done) {
          const rest = filter.finish();
          if (rest.length > 0) controller.enqueue(rest);
          controller.close();
          return;
        }
        const kept = filter.push(step.value);
        if (kept.length > 0) return controller.enqueue(kept);
      }
    },
    cancel(reason) {
      filter.stopped();
      return reader.cancel(reason);
    },
  });
}

async function* filteredChunks(source: AsyncIterable<Uint8Array>, filter: SseFilter): AsyncGenerator<Uint8Array> {
  // Node's Readable.from ends this generator at a `yield` when the app destroys the body (a return, or a throw of an
  // AbortError): the app's choice. Errors from the source (the connection) arrive anywhere else.
  let atYield = false;
  let settled = false;
  const pass = async function* (bytes: Uint8Array) {
    if (bytes.length === 0) return;
    atYield = true;
    yield bytes;
    atYield = false;
  };
  try {
    for await (const chunk of source) yield* pass(filter.push(chunk));
    settled = true;
    yield* pass(filter.finish());
  } catch (error) {
    if (!settled && !atYield) {
      settled = true;
      filter.failed(error);
    }
    throw error;
  } finally {
    if (!settled) filter.stopped();
  }
}

/** Where the JSON of an SSE event's `data:` line lies in the event's text. */
function payloadBounds(raw: string): { start: number; end: number } | undefined {
  const line = /^data:[ \t]*(.*?)[ \t\r]*$/m.exec(raw);
  if (!line?.[1]) return undefined;
  const start = line.index + line[0].indexOf(line[1], 5);
  return { start, end: start + line[1].length };
}

/**
 * Splits an SSE byte stream into events, lets the accumulator see each `data:` JSON, drops the hidden ones. What the
 * app reads is the provider's text, minus only what our usage request added. Ends the span once: at the body's end,
 * on its failure, or when the app cancels it.
 */
class SseFilter {
  readonly #observer: CallObserver;
  readonly #accumulator: StreamAccumulator;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  #pending = '';

  constructor(observer: CallObserver, accumulator: StreamAccumulator) {
    this.#observer = observer;
    this.#accumulator = accumulator;
  }

  /** The bytes to pass on for this chunk of the body (the complete events in it, minus hidden ones). */
  push(chunk: Uint8Array): Uint8Array {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    let out = '';
    let boundary: RegExpExecArray | null;
    while ((boundary = /\r?\n\r?\n/.exec(this.#pending))) {
      const raw = this.#pending.slice(0, boundary.index);
      const separator = boundary[0];
      this.#pending = this.#pending.slice(boundary.index + separator.length);
      const kept = this.#handleEvent(raw);
      if (kept !== undefined) out += kept + separator;
    }
    return this.#encoder.encode(out);
  }

  /** The body ended: what is left, and the span ends (incomplete unless the stream said it was done). */
  finish(): Uint8Array {
    this.#pending += this.#decoder.decode();
    const kept = this.#pending ? this.#handleEvent(this.#pending) : undefined;
    this.#pending = '';
    endStream(this.#observer, this.#accumulator, 'read');
    return this.#encoder.encode(kept ?? '');
  }

  failed(error: unknown): void {
    failStream(this.#observer, this.#accumulator, error);
  }

  stopped(): void {
    endStream(this.#observer, this.#accumulator, 'stopped');
  }

  #handleEvent(raw: string): string | undefined {
    return safely('sse event', () => {
      const bounds = payloadBounds(raw);
      if (!bounds) return raw;
      const payload = raw.slice(bounds.start, bounds.end);
      if (payload === '[DONE]') return raw;
      const event = JSON.parse(payload) as unknown;
      if (this.#accumulator.carriesOutput(event)) this.#observer.call.firstOutput();
      const verdict = this.#accumulator.onEvent(event);
      if (verdict === 'hide') return undefined;
      if (verdict === 'keep') return raw;
      return raw.slice(0, bounds.start) + withoutTopLevelMember(payload, 'usage') + raw.slice(bounds.end);
    }, raw);
  }
}
