import type { KnownSeries } from './group-series.ts';
import { CALL, CALL_FIELDS } from './ledger-protocol.ts';
import { foldKey, seedEntry, seedKey, type SeedSums } from './metrics-seed.ts';
import { addCallTo, ENTRY as SUM, ENTRY_FIELDS as SUM_FIELDS } from './unfolded-sums.ts';

/** One answered group commit whose calls the totals tables may not hold yet. */
interface UnfoldedGroup {
  readonly seq: number;
  /** The group's series, by index. */
  readonly series: readonly KnownSeries[];
  readonly calls: Float64Array;
  readonly fresh: Uint8Array;
  /** Per series index: its sums over the fresh calls (an ENTRY each); computed when a seed first needs them. */
  sums: Float64Array | undefined;
  /** The users of its series; built when a seed first looks through the group, so later seeds skip it at once. */
  users: Set<string> | undefined;
}

/**
 * The main thread's view of what the writer has committed and not folded yet: the answered groups (their calls, as
 * they travelled, and their series) until an answer says the totals tables hold them. A metrics seed reads the
 * folded tables and adds a user's calls from these groups, so it is exact without waiting for a fold. Seeds are
 * few (once per user whose series the metrics create), but the groups held can be many (up to 5 s of them between
 * folds: a few hundred thousand series at 100,000 calls/s, 2-5 ms to look through): each group gets the set of its
 * users the first time a seed looks through it, and later seeds skip the groups without their user.
 */
export class UnfoldedGroups {
  private groups: UnfoldedGroup[] = [];

  /** Adds an answered group: its series (by index, as numbered for it), calls and which of them were new. */
  add(seq: number, series: readonly KnownSeries[], calls: Float64Array, fresh: Uint8Array): void {
    this.groups.push({ seq, series, calls, fresh, sums: undefined, users: undefined });
  }

  /** Forgets the groups up to `seq`: the totals tables hold them. */
  dropThrough(seq: number): void {
    let dropped = 0;
    while (dropped < this.groups.length && this.groups[dropped]!.seq <= seq) dropped++;
    if (dropped > 0) this.groups = this.groups.slice(dropped);
  }

  /**
   * Adds the user's calls of the groups committed after `afterSeq` to `seeds` (keyed by seedKey), leaving out those
   * of a series that `foldedThrough` (keyed by foldKey) says the totals hold through a later commit (a fold under way has written it).
   */
  addToSeed(userId: string, afterSeq: number, seeds: Map<string, SeedSums>, foldedThrough: ReadonlyMap<string, number> = new Map()): void {
    for (const group of this.groups) {
      if (group.seq <= afterSeq) continue;
      if (!(group.users ??= usersOf(group.series)).has(userId)) continue;
      for (let seriesIndex = 0; seriesIndex < group.series.length; seriesIndex++) {
        const series = group.series[seriesIndex]!;
        if (series.userId !== userId) continue;
        const sums = group.sums ??= sumBySeries(group);
        const at = seriesIndex * SUM_FIELDS;
        const requests = sums[at + SUM.requests]!;
        if (requests === 0) continue;
        const { provider, model, operation, isError, propertiesJson } = series;
        const key = seedKey(provider, model, operation, isError, propertiesJson);
        if (group.seq <= (foldedThrough.get(foldKey(key, series.searchTier, series.inputTier)) ?? 0)) continue;
        const seed = seedEntry(seeds, key, { provider, model, operation, propertiesJson });
        seed.requests += requests;
        if (isError) seed.errors += requests;
        seed.inputTokens += sums[at + SUM.input]!;
        seed.outputTokens += sums[at + SUM.output]!;
        seed.cacheReadTokens += sums[at + SUM.cacheRead]!;
        seed.cacheWriteTokens += sums[at + SUM.cacheWrite]!;
        seed.costNanoUsd += sums[at + SUM.cost]!;
        seed.durationMicros += sums[at + SUM.duration]!;
        seed.firstSeenMs = Math.min(seed.firstSeenMs, sums[at + SUM.first]!);
        seed.lastSeenMs = Math.max(seed.lastSeenMs, sums[at + SUM.last]!);
      }
    }
  }

  /** Groups held (for tests and health). */
  get size(): number {
    return this.groups.length;
  }
}

function usersOf(series: readonly KnownSeries[]): Set<string> {
  const users = new Set<string>();
  for (const each of series) users.add(each.userId);
  return users;
}

function sumBySeries(group: UnfoldedGroup): Float64Array {
  const { calls, fresh } = group;
  const sums = new Float64Array(group.series.length * SUM_FIELDS);
  for (let seriesIndex = 0; seriesIndex < group.series.length; seriesIndex++) {
    sums[seriesIndex * SUM_FIELDS + SUM.first] = Infinity;
    sums[seriesIndex * SUM_FIELDS + SUM.last] = -Infinity;
  }
  for (let index = 0; index < fresh.length; index++) {
    if (fresh[index] === 0) continue;
    const call = index * CALL_FIELDS;
    addCallTo(sums, calls[call + CALL.series]! * SUM_FIELDS, calls, call);
  }
  return sums;
}
