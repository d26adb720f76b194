import type { UsageRecord } from '../../sources/usage-record.ts';
import type { UsageFilter, UserDetail, UsersPage, UsersQuery } from './ledger.ts';

/**
 * The messages between SqliteLedger (main thread) and its writer thread (ledger-worker.ts). A group commit travels
 * as numbers: one row of CALL_FIELDS per call in a transferred Float64Array, plus the distinct series of the group
 * as short tuples, so that no PricedUsage object is cloned on the hot path.
 */

/** The columns of one call in GroupRequest.calls. */
export const CALL = {
  /** Span end time, whole ms (the dedup key's first half). */
  endMs: 0,
  /** spanIdHash of trace id + span id. */
  idHash: 1,
  /** Index into GroupRequest.series. */
  series: 2,
  /** The exact end time (ms, may have a fraction), for the hour and first/last seen. */
  endTimeMs: 3,
  unpriced: 4,
  input: 5,
  output: 6,
  cacheRead: 7,
  cacheWrite: 8,
  reasoning: 9,
  costNanoUsd: 10,
  durationMicros: 11,
} as const;
export const CALL_FIELDS = 12;

/** [userId, provider, model, operation, isError, canonical properties JSON] */
export type SeriesTuple = readonly [string, string, string, string, boolean, string];

/** One caller's part of a group commit, in order: a range of `calls`, or calls to park (rare; sent whole). */
export type GroupItem =
  | { readonly kind: 'commit'; readonly start: number; readonly end: number }
  | { readonly kind: 'park'; readonly records: readonly UsageRecord[] };

export interface GroupRequest {
  readonly op: 'group';
  readonly nowMs: number;
  readonly series: readonly SeriesTuple[];
  readonly calls: Float64Array;
  /** The schema-1 dedup key of each call, only while a migrated ledger still consults them. */
  readonly legacyKeys: readonly Uint8Array[] | undefined;
  readonly items: readonly GroupItem[];
}

export interface GroupAnswer {
  /** 1 for each call of `calls` that was new and is now committed, 0 for a retry. */
  readonly fresh: Uint8Array;
  /** Per park item (in item order; commit items have none): indexes of the records newly parked. */
  readonly parked: ReadonlyArray<readonly number[]>;
  /** Users the ledger had never seen before this transaction: their all-time totals are its fresh calls. */
  readonly newUsers: readonly string[];
  /** meta.commit_seq after this transaction. */
  readonly seq: number;
}

export type LedgerRequest =
  | GroupRequest
  | { readonly op: 'users'; readonly nowMs: number; readonly query: UsersQuery }
  | { readonly op: 'user'; readonly nowMs: number; readonly userId: string; readonly filter: UsageFilter }
  | { readonly op: 'parked' }
  | { readonly op: 'close'; readonly nowMs: number };

/** What each request resolves with. */
export interface LedgerAnswers {
  group: GroupAnswer;
  users: UsersPage;
  user: UserDetail | undefined;
  parked: UsageRecord[];
  close: undefined;
}

export type Envelope = { readonly id: number; readonly request: LedgerRequest };

export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly message: string };

/** What the worker needs to open the ledger (the main thread has created or upgraded the schema already). */
export interface WorkerSettings {
  readonly path: string;
  readonly dedupWindowMs: number;
  readonly synchronous: 'normal' | 'full';
}
