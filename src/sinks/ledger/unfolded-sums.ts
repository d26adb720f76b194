import { MS_PER_HOUR } from './aggregate.ts';
import { CALL, CALL_FIELDS, type HourlySums } from './ledger-protocol.ts';

/** One series' sums since the last fold, per UTC hour. */
export interface UnfoldedSeries {
  /** JSON of its SeriesTuple. */
  readonly line: string;
  /** Its entries (one per hour, the latest used last) in the store of UnfoldedSums. */
  readonly entries: number[];
}

/** The numbers of one sums entry in a typed array, by offset (the writer's series-hours, the main thread's seeds). */
export const ENTRY = {
  hour: 0, requests: 1, unpriced: 2, input: 3, output: 4, cacheRead: 5, cacheWrite: 6, reasoning: 7, cost: 8,
  duration: 9, first: 10, last: 11, cacheWrite1h: 12, usage: 13,
} as const;
export const ENTRY_FIELDS = 14;

/** Adds the call at `at` of `calls` (CALL_FIELDS numbers) to the entry at `to` of `store`. */
export function addCallTo(store: Float64Array, to: number, calls: Float64Array, at: number): void {
  const endTimeMs = calls[at + CALL.endTimeMs]!;
  store[to + ENTRY.requests] = store[to + ENTRY.requests]! + 1;
  store[to + ENTRY.unpriced] = store[to + ENTRY.unpriced]! + calls[at + CALL.unpriced]!;
  store[to + ENTRY.input] = store[to + ENTRY.input]! + calls[at + CALL.input]!;
  store[to + ENTRY.output] = store[to + ENTRY.output]! + calls[at + CALL.output]!;
  store[to + ENTRY.cacheRead] = store[to + ENTRY.cacheRead]! + calls[at + CALL.cacheRead]!;
  store[to + ENTRY.cacheWrite] = store[to + ENTRY.cacheWrite]! + calls[at + CALL.cacheWrite]!;
  store[to + ENTRY.reasoning] = store[to + ENTRY.reasoning]! + calls[at + CALL.reasoning]!;
  store[to + ENTRY.cost] = store[to + ENTRY.cost]! + calls[at + CALL.costNanoUsd]!;
  store[to + ENTRY.duration] = store[to + ENTRY.duration]! + calls[at + CALL.durationMicros]!;
  store[to + ENTRY.cacheWrite1h] = store[to + ENTRY.cacheWrite1h]! + calls[at + CALL.cacheWrite1h]!;
  store[to + ENTRY.usage] = store[to + ENTRY.usage]! + calls[at + CALL.hasUsage]!;
  if (endTimeMs < store[to + ENTRY.first]!) store[to + ENTRY.first] = endTimeMs;
  if (endTimeMs > store[to + ENTRY.last]!) store[to + ENTRY.last] = endTimeMs;
}

/**
 * What committed groups added and the totals tables do not hold yet: sums per series and UTC hour, carried across
 * groups. Kept in memory by the writer between folds (the call log holds the same calls durably), so that a fold
 * writes one row per series and hour however many commits fed it. Series are keyed by the number the main thread
 * gave them; their lines arrive once (GroupRequest.series) and are remembered here.
 */
export class UnfoldedSums {
  bySeries = new Map<number, UnfoldedSeries>();
  /** Series-hour entries held, i.e. the rows the next fold upserts into usage_hourly. */
  entries = 0;
  /** Lines learnt since these sums began: series new to the main thread's numbering (or sent again after it started over). */
  newSeries = 0;
  /**
   * The entries' numbers, ENTRY_FIELDS each, in a typed array: they live until the next fold, and as object fields
   * every one of them would be a boxed number for the collector to carry (a flood of new users makes one entry per
   * call).
   */
  private store = new Float64Array(1024 * ENTRY_FIELDS);
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
      if (lines[index] === '') continue;
      this.lines.set(numbers[index]!, lines[index]!);
      this.newSeries++;
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
          series = { line: this.lineOf(number), entries: [] };
          this.bySeries.set(number, series);
        }
        ofGroupIndex[groupIndex] = series;
      }
      this.addCall(series, calls, at);
    }
  }

  /** A series' sums per hour, as objects (for tests; the fold copies entries with copyEntry). */
  hoursOf(series: UnfoldedSeries): HourlySums[] {
    return series.entries.map((entry) => {
      const at = entry * ENTRY_FIELDS;
      const store = this.store;
      return {
        hour: store[at + ENTRY.hour]!, requests: store[at + ENTRY.requests]!, unpricedRequests: store[at + ENTRY.unpriced]!,
        inputTokens: store[at + ENTRY.input]!, outputTokens: store[at + ENTRY.output]!, cacheReadTokens: store[at + ENTRY.cacheRead]!,
        cacheWriteTokens: store[at + ENTRY.cacheWrite]!, reasoningTokens: store[at + ENTRY.reasoning]!, costNanoUsd: store[at + ENTRY.cost]!,
        durationMicros: store[at + ENTRY.duration]!, firstSeenMs: store[at + ENTRY.first]!, lastSeenMs: store[at + ENTRY.last]!,
        cacheWrite1hTokens: store[at + ENTRY.cacheWrite1h]!, usageRequests: store[at + ENTRY.usage]!,
      };
    });
  }

  /**
   * Copies one entry as a row of the fold: `out[at]` its hour, then from `out[at + 3]` requests, errors (all of them
   * for an error series, none otherwise), unpriced requests, the five token counts, cost, duration, first and last
   * seen, one-hour cache writes and calls with usage (sqlite-fold.ts fills in the two ids between).
   */
  copyEntry(entry: number, isError: boolean, out: number[], at: number): void {
    const from = entry * ENTRY_FIELDS;
    const store = this.store;
    out[at] = store[from + ENTRY.hour]!;
    out[at + 3] = store[from + ENTRY.requests]!;
    out[at + 4] = isError ? store[from + ENTRY.requests]! : 0;
    out[at + 5] = store[from + ENTRY.unpriced]!;
    out[at + 6] = store[from + ENTRY.input]!;
    out[at + 7] = store[from + ENTRY.output]!;
    out[at + 8] = store[from + ENTRY.cacheRead]!;
    out[at + 9] = store[from + ENTRY.cacheWrite]!;
    out[at + 10] = store[from + ENTRY.reasoning]!;
    out[at + 11] = store[from + ENTRY.cost]!;
    out[at + 12] = store[from + ENTRY.duration]!;
    out[at + 13] = store[from + ENTRY.first]!;
    out[at + 14] = store[from + ENTRY.last]!;
    out[at + 15] = store[from + ENTRY.cacheWrite1h]!;
    out[at + 16] = store[from + ENTRY.usage]!;
  }

  private addCall(series: UnfoldedSeries, calls: Float64Array, at: number): void {
    const endTimeMs = calls[at + CALL.endTimeMs]!;
    const hour = Math.floor(endTimeMs / MS_PER_HOUR);
    const { entries } = series;
    let entry = -1;
    for (let index = entries.length - 1; index >= 0 && entry < 0; index--) {
      if (this.store[entries[index]! * ENTRY_FIELDS + ENTRY.hour] === hour) entry = entries[index]!;
    }
    if (entry < 0) {
      entry = this.newEntry(hour, endTimeMs);
      entries.push(entry);
    }
    addCallTo(this.store, entry * ENTRY_FIELDS, calls, at);
  }

  private newEntry(hour: number, endTimeMs: number): number {
    const entry = this.entries++;
    if ((entry + 1) * ENTRY_FIELDS > this.store.length) {
      const grown = new Float64Array(this.store.length * 2);
      grown.set(this.store);
      this.store = grown;
    }
    const at = entry * ENTRY_FIELDS;
    this.store.fill(0, at, at + ENTRY_FIELDS);
    this.store[at + ENTRY.hour] = hour;
    this.store[at + ENTRY.first] = endTimeMs;
    this.store[at + ENTRY.last] = endTimeMs;
    return entry;
  }

  /**
   * Hands over the sums held so far (to be folded) and starts anew: later calls add to new sums, and the call log's
   * next rows name their series again, so that the rows after the handed-over ones carry every line they use.
   */
  detach(): UnfoldedSums {
    const detached = new UnfoldedSums();
    detached.bySeries = this.bySeries;
    detached.store = this.store;
    detached.entries = this.entries;
    detached.lines = this.lines;
    this.bySeries = new Map();
    this.store = new Float64Array(1024 * ENTRY_FIELDS);
    this.entries = 0;
    this.newSeries = 0;
    this.logged.clear();
    return detached;
  }

  /** The line of a series number this has learnt. */
  lineOf(number: number): string {
    const line = this.lines.get(number);
    if (line === undefined) throw new Error(`the ledger writer was sent series number ${number} without its line`);
    return line;
  }
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
