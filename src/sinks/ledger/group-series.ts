import type { PricedUsage } from '../../pricing/priced-usage.ts';
import { canonicalProperties, ledgerUserId } from './aggregate.ts';
import type { SeriesTuple } from './ledger-protocol.ts';

/** Past this many known series the lookup table starts over (between groups); it only saves work. */
const MAX_KNOWN_SERIES = 50_000;

/** A series as the main thread knows it across groups: its line is built once, its index is per group. */
interface KnownSeries {
  readonly userId: string;
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly isError: boolean;
  readonly properties: Readonly<Record<string, string>>;
  readonly propertyCount: number;
  /** JSON of its SeriesTuple. */
  readonly line: string;
  /** Another known series with the same hash. */
  next: KnownSeries | undefined;
  /** The group that last numbered it, and its index there. */
  group: number;
  index: number;
}

/** One group's series, numbered in order of first appearance. */
export interface GroupSeries {
  /** GroupRequest.series: the lines joined by '\n'. */
  readonly text: string;
  /** The user of each series index. */
  readonly users: readonly string[];
}

/**
 * Numbers the distinct series of each group commit (user, provider, model, operation, status, property set). Known
 * series are kept across groups in a table keyed by a 32-bit hash of their fields and confirmed field by field, so a
 * series seen before costs a hash over its text and a few comparisons: no key text is built per call (that cost more
 * than the rest of the ledger's work on this thread), and the canonical line is built once per series.
 */
export class GroupSeriesNumbering {
  private known = new Map<number, KnownSeries>();
  private group = 0;
  private lines: string[] = [];
  private users: string[] = [];

  /** Starts numbering a new group. */
  begin(): void {
    this.group++;
    this.lines = [];
    this.users = [];
    if (this.known.size >= MAX_KNOWN_SERIES) this.known = new Map();
  }

  indexOf(record: PricedUsage): number {
    const userId = ledgerUserId(record);
    const { provider, model, operation, isError, properties } = record;
    let hash = hashText(hashText(hashText(hashText(isError ? 0x9e3779b9 : 0x85ebca6b, userId), provider), model), operation);
    let propertyCount = 0;
    for (const name in properties) {
      hash = hashText(hashText(hash, name), properties[name]!);
      propertyCount++;
    }
    // 30 bits: a small integer (Smi) even with pointer compression, so the map key is not a boxed number.
    hash &= 0x3fffffff;
    const first = this.known.get(hash);
    let series = first;
    while (series !== undefined && !sameSeries(series, userId, record, propertyCount)) series = series.next;
    if (series === undefined) {
      const tuple: SeriesTuple = [userId, provider, model, operation, isError, canonicalProperties(properties)];
      series = { userId, provider, model, operation, isError, properties, propertyCount, line: JSON.stringify(tuple), next: first, group: 0, index: 0 };
      this.known.set(hash, series);
    }
    if (series.group !== this.group) {
      series.group = this.group;
      series.index = this.lines.length;
      this.lines.push(series.line);
      this.users.push(userId);
    }
    return series.index;
  }

  /** The series of the group begun last. */
  end(): GroupSeries {
    return { text: this.lines.join('\n'), users: this.users };
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
