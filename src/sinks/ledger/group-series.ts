import type { PricedUsage } from '../../pricing/priced-usage.ts';
import { canonicalProperties, ledgerUserId } from './aggregate.ts';
import type { SeriesTuple } from './ledger-protocol.ts';

/** Past this many known series the lookup tree starts over (between groups); it only saves work. */
const MAX_KNOWN_SERIES = 50_000;

/** A series as the main thread knows it across groups: its line is built once, its index is per group. */
interface KnownSeries {
  /** JSON of its SeriesTuple. */
  readonly line: string;
  readonly userId: string;
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
 * series are kept across groups by a key of their fields (properties in the order the call carries them), so a
 * series seen before costs one map lookup; its canonical line is built once.
 */
export class GroupSeriesNumbering {
  private known = new Map<string, KnownSeries>();
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
    // Each field behind its length: no text in a field (they come from untrusted spans) can make two series' keys equal.
    const { provider, model, operation, properties } = record;
    let key = `${record.isError ? 1 : 0}${userId.length}:${userId}${provider.length}:${provider}${model.length}:${model}${operation.length}:${operation}`;
    for (const name in properties) {
      const value = properties[name]!;
      key += `${name.length}:${name}${value.length}:${value}`;
    }
    let series = this.known.get(key);
    if (series === undefined) {
      const tuple: SeriesTuple = [userId, provider, model, operation, record.isError, canonicalProperties(properties)];
      series = { line: JSON.stringify(tuple), userId, group: 0, index: 0 };
      this.known.set(key, series);
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
