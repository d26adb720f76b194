import type { DecodedBatch } from './decode/span.ts';
import type { PricedUsage } from './pricing/priced-usage.ts';
import type { UsageSink } from './sinks/sink.ts';
import type { Attribution } from './attribution/attributor.ts';
import { MalformedSpanError, type SpanReader, type SpanReading } from './sources/index.ts';
import type { UsageRecord } from './sources/usage-record.ts';

export interface IngestResult {
  readonly llmCalls: number;
  /** LLM calls the ledger had already committed (exporter retries), counted once before and not again. */
  readonly duplicates: number;
  readonly ignored: number;
  readonly rejected: number;
  /** Why spans were rejected, for partial_success.error_message ('' when none were). */
  readonly rejectionMessage: string;
}

export interface PipelineStages {
  readonly readSpan: SpanReader;
  /** Decides each call's user from its trace's ancestor spans (src/attribution/); calls may wait for later exports. */
  readonly attribute: (readings: readonly SpanReading[]) => Attribution;
  /** Keeps the calls that started waiting durably before the export is acknowledged (the ledger's park). */
  readonly parkWaiting?: (records: readonly UsageRecord[]) => Promise<unknown>;
  readonly price: (record: UsageRecord) => PricedUsage;
  readonly sinks: readonly UsageSink[];
  /**
   * The durable ledger, when there is one: it sees the priced calls first, drops retried ones and commits the rest;
   * the sinks then see only the calls it committed. Its commit resolving is what makes the export acknowledgeable.
   */
  readonly ledger?: { commit(records: readonly PricedUsage[]): Promise<readonly PricedUsage[]> };
}

/** Reasons quoted in one partial_success message; the count covers the rest. */
const MAX_REASONS_QUOTED = 5;

/**
 * decoded spans -> usage records -> priced usage -> sinks. One malformed span is rejected on its own; the spans
 * beside it go on. Resolves once every sink has taken the batch.
 */
export function createPipeline(stages: PipelineStages) {
  return function ingest(batch: DecodedBatch): Promise<IngestResult> {
    try {
      return recordCallsOf(batch);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  };

  /** The synchronous part: spans -> calls decided now (and calls that wait for their user). */
  function recordCallsOf(batch: DecodedBatch): Promise<IngestResult> {
    const reasons: string[] = batch.rejected.map((rejection) => rejection.reason);
    const readings: SpanReading[] = [];
    let ignored = 0;
    for (const span of batch.spans) {
      let reading: SpanReading;
      try {
        reading = stages.readSpan(span);
      } catch (error) {
        if (!(error instanceof MalformedSpanError)) throw error;
        reasons.push(`span ${span.spanId} (${span.name}): ${error.message}`);
        continue;
      }
      if (reading.call === undefined) ignored++;
      readings.push(reading);
    }
    const attribution = stages.attribute(readings);
    // Spans found to be another instrumentation's copy of a call counted from its own span.
    ignored += attribution.duplicates;
    // The decoded batch is not needed past this point: nothing awaited below holds on to it, so that exports
    // waiting for their commit keep only their priced calls alive, not every span they carried.
    return record(attribution.waiting, attribution.ready, ignored, reasons);
  }

  async function record(waiting: readonly UsageRecord[], ready: readonly UsageRecord[], ignored: number, reasons: readonly string[]): Promise<IngestResult> {
    if (waiting.length > 0 && stages.parkWaiting !== undefined) await stages.parkWaiting(waiting);
    const priced = ready.map(stages.price);
    const fresh = stages.ledger === undefined || priced.length === 0 ? priced : await stages.ledger.commit(priced);
    if (fresh.length > 0) {
      for (const sink of stages.sinks) await sink.write(fresh);
    }
    return {
      llmCalls: fresh.length,
      duplicates: priced.length - fresh.length,
      ignored,
      rejected: reasons.length,
      rejectionMessage: summariseReasons(reasons),
    };
  }
}

export type Ingest = ReturnType<typeof createPipeline>;

/**
 * Records calls decided outside an export (their wait for an ancestor ran out, or the processor is stopping):
 * priced, committed and written to the sinks as an export's calls are. Resolves with how many counted.
 */
export function createCallRecorder(stages: Pick<PipelineStages, 'price' | 'sinks' | 'ledger'>) {
  return async function recordCalls(records: readonly UsageRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const priced = records.map(stages.price);
    const fresh = stages.ledger === undefined ? priced : await stages.ledger.commit(priced);
    if (fresh.length > 0) {
      for (const sink of stages.sinks) await sink.write(fresh);
    }
    return fresh.length;
  };
}

export function summariseReasons(reasons: readonly string[]): string {
  if (reasons.length === 0) return '';
  const quoted = reasons.slice(0, MAX_REASONS_QUOTED).join('; ');
  const more = reasons.length - MAX_REASONS_QUOTED;
  return `${reasons.length} span(s) rejected: ${quoted}${more > 0 ? `; and ${more} more` : ''}`;
}
