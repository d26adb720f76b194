import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The processor's own health, low-cardinality, through prom-client: spans in, spans ignored or rejected, export
 * sizes, decode errors, and how long /metrics takes to render.
 */
export function createProcessorHealth() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    spansReceived: new Counter({
      name: 'llm_user_metrics_spans_received_total', help: 'Spans received in OTLP exports.', registers,
    }),
    spansIgnored: new Counter({
      name: 'llm_user_metrics_spans_ignored_total', help: 'Spans received that were not LLM calls.', registers,
    }),
    spansRejected: new Counter({
      name: 'llm_user_metrics_spans_rejected_total',
      help: 'Spans that could not be used (malformed), reported back in partial_success.', registers,
    }),
    spansDuplicate: new Counter({
      name: 'llm_user_metrics_spans_duplicate_total',
      help: 'LLM spans already counted (an exporter retry), dropped by the ledger.', registers,
    }),
    llmCalls: new Counter({
      name: 'llm_user_metrics_llm_spans_total', help: 'Spans recorded as LLM calls.', registers,
    }),
    decodeErrors: new Counter({
      name: 'llm_user_metrics_decode_errors_total', help: 'Export requests whose body did not decode, by encoding.',
      labelNames: ['encoding'], registers,
    }),
    exportRequests: new Counter({
      name: 'llm_user_metrics_export_requests_total', help: 'OTLP export requests by HTTP status code.',
      labelNames: ['code'], registers,
    }),
    exportRequestBytes: new Histogram({
      name: 'llm_user_metrics_export_request_bytes', help: 'Size of OTLP export request bodies as received.',
      buckets: [1024, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216], registers,
    }),
    renderSeconds: new Gauge({
      name: 'llm_user_metrics_render_seconds', help: 'Time the previous /metrics scrape took to render.', registers,
    }),
  };
}

export type ProcessorHealth = ReturnType<typeof createProcessorHealth>;
