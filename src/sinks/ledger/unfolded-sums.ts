import { MS_PER_HOUR } from './aggregate.ts';
import { CALL, CALL_FIELDS, type HourlySums } from './ledger-protocol.ts';

/** One series' sums since the last fold, per UTC hour. */
export interface UnfoldedSeries {
  /** JSON of its SeriesTuple. */
  readonly line: string;
  readonly hours: Map<number, HourlySums>;
  /** The hour the latest call went to: calls of a series mostly share it. */
  latest: HourlySums | undefined;
}

/**
 * What committed groups added and the totals tables do not hold yet: sums per series and UTC hour, carried across
 * groups. Kept in memory by the writer between folds (the call log holds the same calls durably), so that a fold
 * writes one row per series and hour however many commits fed it. Series are keyed by the number the main thread
 * gave them; their lines arrive once (GroupRequest.series) and are remembered here.
 */
export class UnfoldedSums {
  readonly bySeries = new Map<number, UnfoldedSeries>();
  /** Series-hour entries held, i.e. the rows the next fold upserts into usage_hourly. */
  entries = 0;
  private lines = new Map<number, string>();
  /** Series whose line the call log holds (since the last fold). */
  private readonly logged = new Set<number>();

  /**
   * Learns the lines of the series a group sends for the first time. Called for every group, before its commit, so
   * that the lines are known whether or not the commit succeeds.
   */
  learn(seriesText: string, numbers: Float64Array, reset: boolean): void {
    if (reset) this.lines = new Map();
    const lines = seriesText.split('\n');
    for (let index = 0; index < numbers.length; index++) {
      if (lines[index] !== '') this.lines.set(numbers[index]!, lines[index]!);
    }
  }

  /**
   * What the call log keeps of a group's series: the line of each series not logged since the last fold, '' for
   * the others (an earlier row of the log has their line), joined by '\n'. Call markLogged once the row is committed.
   */
  linesToLog(numbers: Float64Array): string {
    const lines: string[] = [];
    for (const number of numbers) lines.push(this.logged.has(number) ? '' : this.lineOf(number));
    return lines.join('\n');
  }

  markLogged(numbers: Float64Array): void {
    for (const number of numbers) this.logged.add(number);
  }

  /** Adds the calls of one group marked in `fresh`. */
  add(numbers: Float64Array, calls: Float64Array, fresh: Uint8Array): void {
    const ofGroupIndex: Array<UnfoldedSeries | undefined> = new Array(numbers.length).fill(undefined);
    for (let index = 0; index < fresh.length; index++) {
      if (fresh[index] === 0) continue;
      const at = index * CALL_FIELDS;
      const groupIndex = calls[at + CALL.series]!;
      let series = ofGroupIndex[groupIndex];
      if (series === undefined) {
        const number = numbers[groupIndex]!;
        series = this.bySeries.get(number);
        if (series === undefined) {
          series = { line: this.lineOf(number), hours: new Map(), latest: undefined };
          this.bySeries.set(number, series);
        }
        ofGroupIndex[groupIndex] = series;
      }
      addCall(this, series, calls, at);
    }
  }

  /** After a fold: the sums are in the totals tables and the log is empty. */
  clear(): void {
    this.bySeries.clear();
    this.entries = 0;
    this.logged.clear();
  }

  private lineOf(number: number): string {
    const line = this.lines.get(number);
    if (line === undefined) throw new Error(`the ledger writer was sent series number ${number} without its line`);
    return line;
  }
}

function addCall(sums: UnfoldedSums, series: UnfoldedSeries, calls: Float64Array, at: number): void {
  const endTimeMs = calls[at + CALL.endTimeMs]!;
  const hour = Math.floor(endTimeMs / MS_PER_HOUR);
  let hourly = series.latest;
  if (hourly === undefined || hourly.hour !== hour) {
    hourly = series.hours.get(hour);
    if (hourly === undefined) {
      hourly = {
        hour, requests: 0, unpricedRequests: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0,
        reasoningTokens: 0, costNanoUsd: 0, durationMicros: 0, firstSeenMs: endTimeMs, lastSeenMs: endTimeMs,
      };
      series.hours.set(hour, hourly);
      sums.entries++;
    }
    series.latest = hourly;
  }
  hourly.requests += 1;
  hourly.unpricedRequests += calls[at + CALL.unpriced]!;
  hourly.inputTokens += calls[at + CALL.input]!;
  hourly.outputTokens += calls[at + CALL.output]!;
  hourly.cacheReadTokens += calls[at + CALL.cacheRead]!;
  hourly.cacheWriteTokens += calls[at + CALL.cacheWrite]!;
  hourly.reasoningTokens += calls[at + CALL.reasoning]!;
  hourly.costNanoUsd += calls[at + CALL.costNanoUsd]!;
  hourly.durationMicros += calls[at + CALL.durationMicros]!;
  if (endTimeMs < hourly.firstSeenMs) hourly.firstSeenMs = endTimeMs;
  if (endTimeMs > hourly.lastSeenMs) hourly.lastSeenMs = endTimeMs;
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

/** Numbers stored as a blob in call_log, copied out (SQLite's blob need not be 8-byte aligned). */
export function float64sOfBlob(blob: Uint8Array, perItem: number, what: string): Float64Array {
  if (blob.byteLength % (perItem * 8) !== 0) {
    throw new Error(`a call_log row holds ${blob.byteLength} bytes of ${what}, not a whole number of ${perItem * 8}-byte items`);
  }
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float64Array(copy.buffer);
}

export function bytesOf(numbers: Float64Array): Uint8Array {
  return new Uint8Array(numbers.buffer, numbers.byteOffset, numbers.byteLength);
}
