/** In-process tracing for the instrumentation tests: an in-memory exporter and a real async context manager. */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

export interface TestTracing {
  readonly provider: TracerProvider;
  /** Finished spans so far (after flushing the processor). */
  spans(): Promise<ReadableSpan[]>;
  reset(): void;
}

let shared: TestTracing | undefined;

export function testTracing(): TestTracing {
  if (shared) return shared;
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  shared = {
    provider,
    spans: async () => {
      await provider.forceFlush();
      return exporter.getFinishedSpans();
    },
    reset: () => exporter.reset(),
  };
  return shared;
}

/** Our spans only (the Anthropic SDK adds its own). */
export async function ourSpans(tracing: TestTracing) {
  return (await tracing.spans()).filter((s) => s.attributes['llm_user_metrics.instrumented'] === true);
}

/** Waits until `n` of our spans ended (streams end when the app finishes reading). */
export async function waitForSpans(tracing: TestTracing, n: number, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = await ourSpans(tracing);
    if (spans.length >= n || Date.now() > deadline) return spans;
    await new Promise((r) => setTimeout(r, 10));
  }
}
