import type { PricedUsage } from '../../pricing/priced-usage.ts';
import { canonicalProperties, ledgerUserId } from './aggregate.ts';
import type { SeriesTuple } from './ledger-protocol.ts';

/** Past this many known series the lookup table starts over (between groups); it only saves work. */
const MAX_KNOWN_SERIES = 50_000;

/** A series as the main thread knows it across groups. */
export interface KnownSeries {
  readonly userId: string;
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly isError: boolean;
  readonly properties: Readonly<Record<string, string>>;
  readonly propertiesJson: string;
  readonly propertyCount: number;
  /** Unique for the ledger's life: the writer keys its sums by it. */
  readonly number: number;
  /** JSON of its SeriesTuple, sent to the writer with the first group that has the series. */
  readonly line: string;
  lineSent: boolean;
  /** Another known series with the same hash. */
  next: KnownSeries | undefined;
  /** The group that last numbered it, and its index there. */
  group: number;
  index: number;
}

/** One group's series, by index. */
export interface GroupSeries {
  /** GroupRequest.series */
  readonly text: string;
  /** GroupRequest.seriesNumbers */
  readonly numbers: Float64Array;
  /** GroupRequest.seriesReset */
  readonly reset: boolean;
  readonly series: readonly KnownSeries[];
}

/**
 * Numbers the distinct series of each group commit (user, provider, model, operation, status, property set). Known
 * series are kept across groups in a table keyed by a 32-bit hash of their fields and confirmed field by field, so a
 * series seen before costs a hash over its text and a few comparisons: no key text is built per call (that cost more
 * than the rest of the ledger's work on this thread), and a series' line is built and sent once.
 */
export class GroupSeriesNumbering {
  private known = new Map<number, KnownSeries>();
  private knownCount = 0;
  private nextNumber = 1;
  private reset = false;
  private group = 0;
  private series: KnownSeries[] = [];

  /** Starts numbering a new group. */
  begin(): void {
    this.group++;
    this.series = [];
    if (this.knownCount >= MAX_KNOWN_SERIES) {
      this.known = new Map();
      this.knownCount = 0;
      this.reset = true;
    }
  }

  indexOf(record: PricedUsage): number {
    const userId = ledgerUserId(record);
    const { provider, model, operation, isError, properties } = record;
    let hash = hashText(hashText(hashText(hashText(isError ? 0x9e3779b9 : 0x85ebca6b, userId), provider), model), operation);
    // Properties hashed pair by pair and added up, so that their order does not matter (the set is the series).
    let propertiesHash = 0;
    let propertyCount = 0;
    for (const name in properties) {
      propertiesHash = (propertiesHash + hashText(hashText(0x3c6ef372, name), properties[name]!)) | 0;
      propertyCount++;
    }
    hash = Math.imul(hash ^ propertiesHash, 0x01000193);
    // 30 bits: a small integer (Smi) even with pointer compression, so the map key is not a boxed number.
    hash &= 0x3fffffff;
    const first = this.known.get(hash);
    let series = first;
    while (series !== undefined && !sameSeries(series, userId, record, propertyCount)) series = series.next;
    if (series === undefined) {
      const propertiesJson = canonicalProperties(properties);
      const tuple: SeriesTuple = [userId, provider, model, operation, isError, propertiesJson];
      series = {
        userId, provider, model, operation, isError, properties, propertiesJson, propertyCount, number: this.nextNumber++,
        line: JSON.stringify(tuple), lineSent: false, next: first, group: 0, index: 0,
      };
      this.known.set(hash, series);
      this.knownCount++;
    }
    if (series.group !== this.group) {
      series.group = this.group;
      series.index = this.series.length;
      this.series.push(series);
    }
    return series.index;
  }

  /** The series of the group begun last; their lines count as sent. */
  end(): GroupSeries {
    const numbers = new Float64Array(this.series.length);
    const lines: string[] = [];
    this.series.forEach((series, index) => {
      numbers[index] = series.number;
      lines.push(series.lineSent ? '' : series.line);
      series.lineSent = true;
    });
    const reset = this.reset;
    this.reset = false;
    return { text: lines.join('\n'), numbers, reset, series: this.series };
  }
}

function sameSeries(series: KnownSeries, userId: string, record: PricedUsage, propertyCount: number): boolean {
  if (series.userId !== userId || series.provider !== record.provider || series.model !== record.model
    || series.operation !== record.operation || series.isError !== record.isError || series.propertyCount !== propertyCount) return false;
  for (const name in record.properties) {
    if (series.properties[name] !== record.properties[name]) return false;
  }
  return true;
}

/** FNV-1a over the text's UTF-16 code units, then its length (so that field boundaries count), continuing `hash`. */
function hashText(hash: number, text: string): number {
  let h = hash;
  for (let index = 0; index < text.length; index++) h = Math.imul(h ^ text.charCodeAt(index), 0x01000193);
  return Math.imul(h ^ text.length, 0x01000193) | 0;
}
