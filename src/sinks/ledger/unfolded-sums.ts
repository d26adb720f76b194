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
  /** Lines of logged groups (addLogged) and the negative numbers they were given. */
  private readonly numberOfLine = new Map<string, number>();

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

  /** The full line of each series of a group, joined by '\n' (what the call log keeps). */
  fullText(numbers: Float64Array): string {
    const lines: string[] = [];
    for (const number of numbers) lines.push(this.lineOf(number));
    return lines.join('\n');
  }

  /** Adds the calls of one group marked in `fresh`. */
  add(numbers: Float64Array, calls: Float64Array, fresh: Uint8Array): void {
    const ofGroupIndex: Array<UnfoldedSeries | undefined> = [];
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

  /** Adds the calls of a call_log row (at open, after a stop between folds), whose lines are all in `seriesText`. */
  addLogged(seriesText: string, calls: Float64Array, fresh: Uint8Array): void {
    const lines = seriesText.split('\n');
    const numbers = new Float64Array(lines.length);
    lines.forEach((line, index) => {
      // The log keeps lines, not numbers: the same line gets the same (negative, so never a main-thread) number.
      let number = this.numberOfLine.get(line);
      if (number === undefined) {
        number = -(this.numberOfLine.size + 1);
        this.numberOfLine.set(line, number);
        this.lines.set(number, line);
      }
      numbers[index] = number;
    });
    this.add(numbers, calls, fresh);
  }

  clear(): void {
    this.bySeries.clear();
    this.entries = 0;
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

/** The calls of a group's bytes as stored in call_log (a copy: SQLite's blob need not be 8-byte aligned). */
export function callsOfBlob(blob: Uint8Array): Float64Array {
  if (blob.byteLength % (CALL_FIELDS * 8) !== 0) {
    throw new Error(`a call_log row holds ${blob.byteLength} bytes, not a whole number of calls of ${CALL_FIELDS * 8}`);
  }
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float64Array(copy.buffer);
}
