import type { DecodedSpan } from '../decode/span.ts';
import { StatusCode } from '../decode/span.ts';
import { boundedText } from './bounded-text.ts';
import { propertiesOf, userOf } from './identity.ts';
import type { SourceOptions } from './source.ts';
import type { TokenBuckets, UsageRecord } from './usage-record.ts';

/** What a source works out itself; the rest of a usage record comes from the span the same way for every source. */
export interface CallFacts {
  readonly source: string;
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly tokens: TokenBuckets;
  readonly hasUsage: boolean;
  /** Beside the span status ERROR, which always counts. */
  readonly failed?: boolean;
  readonly timeToFirstTokenSeconds?: number | undefined;
}

export function usageRecord(span: DecodedSpan, options: SourceOptions, facts: CallFacts): UsageRecord {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    source: facts.source,
    userId: userOf(span.attributes, options),
    properties: propertiesOf(span.attributes, options),
    // Span text becomes label text: bounded here, once, so /metrics, the ledger and the API agree on it.
    provider: boundedText(facts.provider.toLowerCase()),
    model: boundedText(facts.model),
    operation: boundedText(facts.operation),
    tokens: facts.tokens,
    hasUsage: facts.hasUsage,
    durationSeconds: Math.max(0, span.endTimeMs - span.startTimeMs) / 1000,
    timeToFirstTokenSeconds: facts.timeToFirstTokenSeconds,
    isError: span.statusCode === StatusCode.ERROR || facts.failed === true,
    endTimeMs: span.endTimeMs,
  };
}
