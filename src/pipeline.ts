import type { DecodedBatch } from './decode/span.ts';
import type { PricedUsage } from './pricing/priced-usage.ts';
import type { UsageSink } from './sinks/sink.ts';
import { MalformedSpanError, type UsageExtractor } from './sources/index.ts';
import type { UsageRecord } from './sources/usage-record.ts';

export interface IngestResult {
  readonly llmCalls: number;
  readonly ignored: number;
  readonly rejected: number;
  /** Why spans were rejected, for partial_success.error_message ('' when none were). */
  readonly rejectionMessage: string;
}

export interface PipelineStages {
  readonly extractUsage: UsageExtractor;
  readonly price: (record: UsageRecord) => PricedUsage;
  readonly sinks: readonly UsageSink[];
}

/** Reasons quoted in one partial_success message; the count covers the rest. */
const MAX_REASONS_QUOTED = 5;

/**
 * decoded spans -> usage records -> priced usage -> sinks. One malformed span is rejected on its own; the spans
 * beside it go on. Resolves once every sink has taken the batch.
 */
export function createPipeline(stages: PipelineStages) {
  return async function ingest(batch: DecodedBatch): Promise<IngestResult> {
    const priced: PricedUsage[] = [];
    const reasons: string[] = batch.rejected.map((rejection) => rejection.reason);
    let ignored = 0;
    for (const span of batch.spans) {
      let record: UsageRecord | undefined;
      try {
        record = stages.extractUsage(span);
      } catch (error) {
        if (!(error instanceof MalformedSpanError)) throw error;
        reasons.push(`span ${span.spanId} (${span.name}): ${error.message}`);
        continue;
      }
      if (record === undefined) ignored++;
      else priced.push(stages.price(record));
    }
    if (priced.length > 0) {
      for (const sink of stages.sinks) await sink.write(priced);
    }
    return {
      llmCalls: priced.length,
      ignored,
      rejected: reasons.length,
      rejectionMessage: summariseReasons(reasons),
    };
  };
}

export type Ingest = ReturnType<typeof createPipeline>;

export function summariseReasons(reasons: readonly string[]): string {
  if (reasons.length === 0) return '';
  const quoted = reasons.slice(0, MAX_REASONS_QUOTED).join('; ');
  const more = reasons.length - MAX_REASONS_QUOTED;
  return `${reasons.length} span(s) rejected: ${quoted}${more > 0 ? `; and ${more} more` : ''}`;
}
