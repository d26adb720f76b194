import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import type { UserSeriesSeed } from '../metrics/usage-metrics.ts';

/**
 * The durable usage ledger: exact per-user totals for billing. The processor depends on this interface only, so a
 * PostgreSQL ledger (several replicas, one database) can be added beside the SQLite one without touching the rest.
 */
export interface UsageLedger {
  /**
   * Deduplicates by trace id + span id over the dedup window, durably commits the aggregates of the records not
   * seen before, and resolves with those (the same objects, in order). Rejects when nothing could be committed:
   * then none of `records` counted and the exporter should retry.
   */
  commit(records: readonly PricedUsage[]): Promise<PricedUsage[]>;
  /**
   * Durably parks calls that wait for their user to arrive on an ancestor span, so that a kill -9 does not lose
   * them once acknowledged. Resolves with the ones newly parked (already committed or already parked ones are not).
   * A parked call leaves the parking in the transaction that commits it.
   */
  park(records: readonly UsageRecord[]): Promise<UsageRecord[]>;
  /** Calls parked and not committed yet, oldest first: after a restart the attribution stage takes them back. */
  parked(): Promise<UsageRecord[]>;
  /** One page of users with their totals over a time range. */
  users(query: UsersQuery): Promise<UsersPage>;
  /**
   * Every user of `query` from its offset on, in pages of at most `pageRows`, all from one snapshot (the CSV streams
   * them); the first page says how many users match. Ending the iteration early ends the snapshot.
   */
  usersPages(query: UsersQuery, pageRows: number): AsyncIterable<UsersPage>;
  /** One user's totals, daily series and splits; undefined when the ledger has never seen the user. */
  user(userId: string, filter: UsageFilter): Promise<UserDetail | undefined>;
  /**
   * Whether the ledger takes writes. Failed after any write, commit, checkpoint or sync that failed, until a probe
   * that writes and syncs succeeds: meanwhile commits, parks and reads reject with LedgerUnavailableError.
   */
  health(): LedgerHealth;
  /**
   * Sums over every user the filter matches, how many users that is, and for each of `propertyNames` the sums per
   * value (the Users page's totals, the Plans page's per-plan cost); and for each of `valueNames` the values any call
   * ever carried (the page's filters: read from the few property sets, not from the usage rows).
   */
  overview(filter: UsageFilter, propertyNames: readonly string[], valueNames?: readonly string[]): Promise<UsageOverview>;
  /**
   * For each known user of `userIds`, the value of each of `propertyNames` their calls in the filter's range carried
   * most often (by requests); a user without calls in the range, or a property they never carried, is left out.
   */
  userProperties(userIds: readonly string[], propertyNames: readonly string[], filter: UsageFilter): Promise<Record<string, Record<string, string>>>;
  /**
   * Requests and cost per UTC day in [fromDay, toDay) (days since the epoch), for the users with at least
   * `minRequests` calls on day `toDay - 1`: the anomaly view's input, read from the per-user daily rollup.
   */
  dailyActivity(fromDay: number, toDay: number, minRequests: number): Promise<DailyActivity[]>;
  /**
   * From when usage by the hour is whole (0: always): HOURLY_DETAIL_DAYS dropped the hours before it, perhaps under
   * a larger setting than today's, so a range cut inside an earlier day cannot be read exactly.
   */
  hourlyDetailKeptFromMs(): Promise<number>;
  /** Commits what is queued, then closes. */
  close(): Promise<void>;
}

export type LedgerHealth =
  | { readonly ok: true }
  /** `error`: what failed first; `probeError`: why the latest probe failed, once one has. */
  | { readonly ok: false; readonly error: string; readonly sinceMs: number; readonly probeError?: string };

/**
 * What a ledger in this process can offer the Prometheus metrics so that their per-user counters continue from the
 * ledger's all-time totals after a restart or an eviction (UsageMetrics' `seedUser` and `countedInSeed` options).
 * Synchronous on purpose: the metrics create a user entry synchronously. A ledger shared by several replicas must
 * not offer it (each replica would expose the whole total, and Prometheus would add them up).
 */
export interface MetricsRestoreSource {
  /**
   * The user's all-time totals per series (errors apart, in the order the ledger first saw them); empty for a user
   * the ledger has never seen. The metrics define the shape they consume (UserSeriesSeed).
   */
  seedUser(userId: string): UserSeriesSeed[];
  /**
   * True for a call that is already inside its user's latest seed: committed before the seed was read, but handed
   * to the metrics after. Without it a user whose entry is created by their own first call would count it twice.
   * `batch` is the array of new calls the commit resolved with, which the call is part of: the ledger knows the
   * commit of each batch (one entry per export, not one per call).
   */
  countedInSeed(record: PricedUsage, batch: readonly PricedUsage[]): boolean;
  /**
   * Users whose latest call ended at or after `sinceMs`, most recent first, at most `limit`; as of the last fold, so
   * exact at start (the ledger folds everything it finds when it opens), which is when the processor asks.
   */
  recentUsers(sinceMs: number, limit: number): Array<{ userId: string; lastSeenMs: number }>;
}

/** Which calls a query counts: end time in [fromMs, toMs), and every listed property equal to its value. */
export interface UsageFilter {
  /** Inclusive, on a whole UTC hour; undefined for no lower bound. */
  readonly fromMs: number | undefined;
  /** Exclusive, on a whole UTC hour; undefined for no upper bound. */
  readonly toMs: number | undefined;
  /** [name, value] pairs; a call without the property matches the value ''. */
  readonly properties: ReadonlyArray<readonly [string, string]>;
}

export const USER_SORT_COLUMNS = [
  'userId', 'requests', 'errors', 'errorRate', 'costUsd', 'costNanoUsd', 'inputTokens', 'outputTokens',
  'cacheReadTokens', 'cacheWriteTokens', 'reasoningTokens', 'totalTokens', 'unpricedRequests', 'avgLatencyMs',
  'firstSeen', 'lastSeen', 'activeDays', 'avgRequestsPerDay', 'avgTokensPerRequest', 'costPerRequest', 'activeFor',
] as const;
export type UserSortColumn = (typeof USER_SORT_COLUMNS)[number];

export interface UsersQuery extends UsageFilter {
  readonly sort: UserSortColumn;
  readonly order: 'asc' | 'desc';
  /** undefined: every user from `offset` on. */
  readonly limit: number | undefined;
  readonly offset: number;
  /** Only users whose id contains this text (case-sensitive, as ids are); paged lists only, not the CSV. */
  readonly search?: string;
}

/** Integer sums over a set of calls, as the ledger stores them. */
export interface UsageSums {
  readonly requests: number;
  readonly errors: number;
  readonly unpricedRequests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  /** Part of outputTokens. */
  readonly reasoningTokens: number;
  readonly costNanoUsd: number;
  readonly durationMicros: number;
}

export interface UserTotals extends UsageSums {
  readonly userId: string;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Distinct UTC days with at least one counted call. */
  readonly activeDays: number;
}

export interface UsersPage {
  readonly users: UserTotals[];
  /** Users matching the filter, before paging. */
  readonly total: number;
}

export interface UserDetail {
  readonly totals: UserTotals | undefined;
  /** One entry per UTC day with calls, ascending. */
  readonly daily: Array<UsageSums & { readonly day: string }>;
  readonly byModel: Array<UsageSums & { readonly provider: string; readonly model: string }>;
  /** One entry per property name and value the user's calls carried. */
  readonly byProperty: Array<UsageSums & { readonly name: string; readonly value: string }>;
}

export interface UsageOverview {
  /** Users with at least one matching call. */
  readonly users: number;
  readonly sums: UsageSums;
  readonly byProperty: Array<UsageSums & { readonly name: string; readonly value: string; readonly users: number }>;
  /** Per name of `valueNames`: the values recorded, sorted, at most 500. */
  readonly values: Record<string, string[]>;
}

/** One user's requests and cost per day, `days[i]` being day `fromDay + i` (zeros for days without calls). */
export interface DailyActivity {
  readonly userId: string;
  readonly requests: number[];
  readonly costNanoUsd: number[];
}

export class LedgerClosedError extends Error {
  override name = 'LedgerClosedError';
}

/** The ledger cannot take writes now (a failing disk, a writer thread gone): nothing was recorded; retry later. */
export class LedgerUnavailableError extends Error {
  override name = 'LedgerUnavailableError';
}
