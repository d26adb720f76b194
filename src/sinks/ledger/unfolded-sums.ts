import { CALL_FIELDS, sumBySeriesAndHour, type HourlySums } from './ledger-protocol.ts';

/**
 * What committed groups added and the totals tables do not hold yet: sums per series (the JSON text of its
 * SeriesTuple) and UTC hour, carried across groups. Kept in memory by the writer between folds (the call log holds
 * the same calls durably), so that a fold writes one row per series and hour however many commits fed it.
 */
export class UnfoldedSums {
  readonly bySeries = new Map<string, Map<number, HourlySums>>();
  /** Series-hour entries held, i.e. the rows the next fold upserts into usage_hourly. */
  entries = 0;
  /** Calls summed since the last clear. */
  calls = 0;

  /** Adds the calls of one group marked in `fresh`; `seriesText` is its GroupRequest.series. */
  add(seriesText: string, calls: Float64Array, fresh: Uint8Array): void {
    const bySeriesIndex = sumBySeriesAndHour(calls, fresh);
    if (bySeriesIndex.length === 0) return;
    const lines = seriesText.split('\n');
    bySeriesIndex.forEach((hours, seriesIndex) => {
      if (hours === undefined) return;
      const line = lines[seriesIndex]!;
      let known = this.bySeries.get(line);
      if (known === undefined) {
        this.bySeries.set(line, hours);
        this.entries += hours.size;
        for (const sums of hours.values()) this.calls += sums.requests;
        return;
      }
      for (const [hour, sums] of hours) {
        this.calls += sums.requests;
        const into = known.get(hour);
        if (into === undefined) {
          known.set(hour, sums);
          this.entries++;
        } else {
          addHourlySums(into, sums);
        }
      }
    });
  }

  clear(): void {
    this.bySeries.clear();
    this.entries = 0;
    this.calls = 0;
  }
}

/** Adds `from` into `into` (same series and hour). */
export function addHourlySums(into: HourlySums, from: HourlySums): void {
  into.requests += from.requests;
  into.unpricedRequests += from.unpricedRequests;
  into.inputTokens += from.inputTokens;
  into.outputTokens += from.outputTokens;
  into.cacheReadTokens += from.cacheReadTokens;
  into.cacheWriteTokens += from.cacheWriteTokens;
  into.reasoningTokens += from.reasoningTokens;
  into.costNanoUsd += from.costNanoUsd;
  into.durationMicros += from.durationMicros;
  if (from.firstSeenMs < into.firstSeenMs) into.firstSeenMs = from.firstSeenMs;
  if (from.lastSeenMs > into.lastSeenMs) into.lastSeenMs = from.lastSeenMs;
}

/** The calls of a group's bytes as stored in call_log (a copy: SQLite's blob need not be 8-byte aligned). */
export function callsOfBlob(blob: Uint8Array): Float64Array {
  if (blob.byteLength % (CALL_FIELDS * 8) !== 0) {
    throw new Error(`a call_log row holds ${blob.byteLength} bytes, not a whole number of calls of ${CALL_FIELDS * 8}`);
  }
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float64Array(copy.buffer);
}
