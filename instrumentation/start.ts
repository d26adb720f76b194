/**
 * Start-up: the ESM loader hook, the OpenTelemetry Node SDK (unless the app already registered a tracer provider),
 * our instrumentations, and flushing spans when a short-lived process ends.
 */
import { createRequire, register } from 'node:module';
import { ProxyTracerProvider, trace, type TracerProvider } from '@opentelemetry/api';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AnthropicInstrumentation } from './anthropic/instrumentation.ts';
import { OpenAIInstrumentation } from './openai/instrumentation.ts';

export interface StartOptions {
  /** Longest wait for the last export when the process ends (ms). Env LLM_USER_METRICS_FLUSH_TIMEOUT_MS; default 5000. */
  readonly flushTimeoutMs?: number;
  /** See OpenAIInstrumentationConfig. Env LLM_USER_METRICS_INJECT_STREAM_USAGE=false turns it off. */
  readonly injectStreamUsage?: boolean;
}

export interface StartedInstrumentation {
  /** True when we started an SDK; false when the app's tracer provider was already there and is used instead. */
  readonly ownSdk: boolean;
  readonly instrumentations: readonly Instrumentation[];
  /** Exports what is buffered, waiting at most the flush timeout. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const STARTED = Symbol.for('llm-user-metrics.instrumentation.started');
type Global = typeof globalThis & { [STARTED]?: StartedInstrumentation };

export function settingsFromEnv(env: NodeJS.ProcessEnv): Required<StartOptions> {
  const rawTimeout = env.LLM_USER_METRICS_FLUSH_TIMEOUT_MS;
  const flushTimeoutMs = rawTimeout === undefined || rawTimeout === '' ? 5000 : Number(rawTimeout);
  if (!Number.isInteger(flushTimeoutMs) || flushTimeoutMs < 0) {
    throw new Error(`LLM_USER_METRICS_FLUSH_TIMEOUT_MS must be a whole number of milliseconds, got "${rawTimeout}"`);
  }
  const rawInject = (env.LLM_USER_METRICS_INJECT_STREAM_USAGE ?? 'true').toLowerCase();
  if (rawInject !== 'true' && rawInject !== 'false') {
    throw new Error(`LLM_USER_METRICS_INJECT_STREAM_USAGE must be true or false, got "${env.LLM_USER_METRICS_INJECT_STREAM_USAGE}"`);
  }
  return { flushTimeoutMs, injectStreamUsage: rawInject === 'true' };
}

export function hasGlobalTracerProvider(): boolean {
  const provider: TracerProvider = trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return delegate.constructor.name !== 'NoopTracerProvider';
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    work.then(() => resolve(), () => resolve()).finally(() => clearTimeout(timer));
  });
}

/** The packages whose ESM builds we patch; the hook leaves every other module alone. */
export const ESM_HOOKED_MODULES: readonly string[] = Object.freeze(['openai', '@anthropic-ai/sdk']);

interface SyncHooks {
  register(options?: { include?: string[] }): void;
  supportsSyncHooks(): boolean;
}

/** Where the two forms of the loader hook come from (Node and import-in-the-middle; fakes in tests). */
export interface HookLoaders {
  /** import-in-the-middle's synchronous hooks; throws when that copy has none. */
  syncHooks(): SyncHooks;
  /** `module.register`: the threaded hook. */
  register(specifier: string, parentURL: string, options: { data: { include: string[] } }): void;
}

const nodeLoaders: HookLoaders = {
  syncHooks() {
    // The import-in-the-middle copy that @opentelemetry/instrumentation itself uses, so it is resolved from there.
    const requireFromHere = createRequire(import.meta.url);
    const requireFromInstrumentation = createRequire(requireFromHere.resolve('@opentelemetry/instrumentation'));
    return requireFromInstrumentation('import-in-the-middle/register-hooks.mjs') as SyncHooks;
  },
  register: (specifier, parentURL, options) => register(specifier, parentURL, options),
};

/**
 * A function that registers the loader hook letting `InstrumentationBase` patch ESM imports (it must precede the
 * app's own imports) once, and says which form it registered, on every call. The synchronous, in-thread form (Node
 * >= 24.11.1) is preferred: no loader thread, no IPC per module, and no "hook has already been initialized" warning
 * that the threaded hook prints when registered from `--require`. Both are limited to ESM_HOOKED_MODULES.
 */
export function esmHookRegistrar(loaders: HookLoaders): () => 'sync' | 'threaded' {
  let registered: 'sync' | 'threaded' | undefined;
  return () => (registered ??= registerOnce(loaders));
}

function registerOnce(loaders: HookLoaders): 'sync' | 'threaded' {
  try {
    const hooks = loaders.syncHooks();
    if (hooks.supportsSyncHooks()) {
      // Copies: import-in-the-middle adds to the list it is given.
      hooks.register({ include: [...ESM_HOOKED_MODULES] });
      return 'sync';
    }
  } catch {
    // An import-in-the-middle without synchronous hooks: the threaded one below.
  }
  loaders.register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: [...ESM_HOOKED_MODULES] } });
  return 'threaded';
}

export const registerEsmHook = esmHookRegistrar(nodeLoaders);

function flushOnExit(started: StartedInstrumentation, timeoutMs: number): void {
  // Every time the loop drains: a script that ends by itself keeps the spans of its last calls.
  process.on('beforeExit', () => { void withTimeout(started.flush(), timeoutMs); });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      void withTimeout(started.shutdown(), timeoutMs).then(() => {
        // Only we listened: end the process the way the signal would have without us.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
      process.removeListener(signal, onSignal);
    };
    process.on(signal, onSignal);
  }
}

/** Idempotent: a second call (both --require and --import, or two copies of the package) returns the first start. */
export function startInstrumentation(options: StartOptions = {}): StartedInstrumentation {
  const global = globalThis as Global;
  if (global[STARTED]) return global[STARTED];
  const settings = { ...settingsFromEnv(process.env), ...options };
  registerEsmHook();
  const instrumentations = [
    new OpenAIInstrumentation({ injectStreamUsage: settings.injectStreamUsage }),
    new AnthropicInstrumentation(),
  ];
  let started: StartedInstrumentation;
  if (hasGlobalTracerProvider()) {
    registerInstrumentations({ instrumentations });
    // The app owns the provider and its shutdown; we only offer a flush.
    const flush = () => withTimeout(forceFlushOf(trace.getTracerProvider()), settings.flushTimeoutMs);
    started = { ownSdk: false, instrumentations, flush, shutdown: flush };
  } else {
    const sdk = new NodeSDK({
      instrumentations,
      // Only traces unless the app asks for more: a metrics or logs exporter would post to the same endpoint.
      ...(process.env.OTEL_METRICS_EXPORTER ? {} : { metricReaders: [] }),
      ...(process.env.OTEL_LOGS_EXPORTER ? {} : { logRecordProcessors: [] }),
    });
    sdk.start();
    const provider = () => trace.getTracerProvider();
    let shutDown: Promise<void> | undefined;
    started = {
      ownSdk: true,
      instrumentations,
      flush: () => withTimeout(forceFlushOf(provider()), settings.flushTimeoutMs),
      shutdown: () => (shutDown ??= withTimeout(forceFlushOf(provider()).then(() => sdk.shutdown()), settings.flushTimeoutMs)),
    };
    flushOnExit(started, settings.flushTimeoutMs);
  }
  global[STARTED] = started;
  return started;
}

function forceFlushOf(provider: unknown): Promise<void> {
  const p = provider as { forceFlush?: () => Promise<void>; getDelegate?: () => unknown };
  if (typeof p.forceFlush === 'function') return p.forceFlush();
  if (typeof p.getDelegate === 'function') return forceFlushOf(p.getDelegate());
  return Promise.resolve();
}
