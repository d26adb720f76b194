import type { PricedUsage } from '../../pricing/priced-usage.ts';
import type { UsageRecord } from '../../sources/usage-record.ts';
import { durationMicros, spanIdHash } from './aggregate.ts';
import type { DailyActivity, LedgerHealth, UsageFilter, UsageOverview, UserDetail, UsersPage, UsersQuery, UserTotals } from './ledger.ts';

/**
 * The messages between SqliteLedger (main thread) and its writer thread (ledger-worker.ts). A group commit travels
 * as numbers: one row of CALL_FIELDS per call in a Float64Array (copied: the main thread keeps its own), plus the
 * distinct series of the group as short tuples, so that no PricedUsage object is cloned on the hot path.
 */

/** The columns of one call in GroupRequest.calls. */
export const CALL = {
  /** Span end time, whole ms (the dedup key's first half). */
  endMs: 0,
  /** spanIdHash of trace id + span id. */
  idHash: 1,
  /** Index of the call's series in the group (GroupRequest.series, seriesNumbers). */
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
  /** The part of cacheWrite kept for an hour (priced apart: Anthropic's 2x input against 1.25x). */
  cacheWrite1h: 12,
  /** 1 when the call reported usage: a per-request fee is charged only then (re-pricing needs the count). */
  hasUsage: 13,
} as const;
export const CALL_FIELDS = 14;

/** Writes one call's row of CALL_FIELDS numbers (main thread). */
export function encodeCall(calls: Float64Array, index: number, record: PricedUsage, seriesIndex: number): void {
  const at = index * CALL_FIELDS;
  calls[at + CALL.endMs] = Math.floor(record.endTimeMs);
  calls[at + CALL.idHash] = spanIdHash(record.traceId, record.spanId);
  calls[at + CALL.series] = seriesIndex;
  calls[at + CALL.endTimeMs] = record.endTimeMs;
  calls[at + CALL.unpriced] = record.priced ? 0 : 1;
  calls[at + CALL.input] = record.tokens.input;
  calls[at + CALL.output] = record.tokens.output;
  calls[at + CALL.cacheRead] = record.tokens.cacheRead;
  calls[at + CALL.cacheWrite] = record.tokens.cacheWrite;
  calls[at + CALL.reasoning] = record.tokens.reasoning;
  calls[at + CALL.costNanoUsd] = record.costNanoUsd;
  calls[at + CALL.durationMicros] = durationMicros(record.durationSeconds);
  calls[at + CALL.cacheWrite1h] = record.tokens.cacheWrite1h ?? 0;
  calls[at + CALL.hasUsage] = record.hasUsage ? 1 : 0;
}

/** What a group adds to one series in one UTC hour. Integers only, so that sums never drift. */
export interface HourlySums {
  readonly hour: number;
  requests: number;
  unpricedRequests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costNanoUsd: number;
  durationMicros: number;
  firstSeenMs: number;
  lastSeenMs: number;
  cacheWrite1hTokens: number;
  usageRequests: number;
}

/**
 * [userId, provider, model, operation, isError, canonical properties JSON, search tier ('' when the call did not
 * say), input tier (inputTierOf)]; the last two are what exact re-pricing needs beyond summed tokens (lines logged
 * before schema 5 have six elements: '' and 0). A series travels once as its JSON text,
 * one per line (JSON text holds no raw line feed), and by number after that; the text is also what the call log
 * keeps and what the fold resolves to ids.
 */
export type SeriesTuple = readonly [string, string, string, string, boolean, string, string?, number?];

/** One caller's part of a group commit, in order: a range of `calls`, or calls to park (rare; sent whole). */
export type GroupItem =
  | { readonly kind: 'commit'; readonly start: number; readonly end: number }
  | { readonly kind: 'park'; readonly records: readonly UsageRecord[] };

export interface GroupRequest {
  readonly op: 'group';
  readonly nowMs: number;
  /**
   * One line per series of the group (CALL.series indexes them): the JSON of its SeriesTuple the first time the main
   * thread sends that series, '' after that (the writer remembers the lines by series number); joined by '\n'.
   */
  readonly series: string;
  /** The number of each series of the group, unique for the ledger's life (the writer's key for its sums). */
  readonly seriesNumbers: Float64Array;
  /** True when the main thread has forgotten the series it numbered before: the writer may forget their lines. */
  readonly seriesReset: boolean;
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
  /** meta.commit_seq after this transaction. */
  readonly seq: number;
  /** The latest commit the totals tables held when this answer was sent (meta.folded_seq). */
  readonly foldedSeq: number;
}

/**
 * A users page as the reader thread sends it: ids, and per user USER_COLUMNS.length numbers in one transferred
 * array. Row objects for every user of a CSV page would make the thread's heap as large as the page.
 */
export interface PackedUsersPage {
  readonly userIds: readonly string[];
  readonly numbers: Float64Array;
  readonly total: number;
}

/** The numbers of one user in PackedUsersPage.numbers, in order. */
export const USER_COLUMNS = [
  'requests', 'errors', 'unpricedRequests', 'inputTokens', 'outputTokens', 'cacheReadTokens', 'cacheWriteTokens',
  'reasoningTokens', 'costNanoUsd', 'durationMicros', 'firstSeenMs', 'lastSeenMs', 'activeDays',
] as const satisfies ReadonlyArray<keyof UserTotals>;

export function unpackUsersPage(page: PackedUsersPage): UsersPage {
  const users: UserTotals[] = page.userIds.map((userId, index) => {
    const at = index * USER_COLUMNS.length;
    const totals: Record<string, number | string> = { userId };
    USER_COLUMNS.forEach((column, offset) => { totals[column] = page.numbers[at + offset]!; });
    return totals as unknown as UserTotals;
  });
  return { users, total: page.total };
}

export type LedgerRequest =
  | GroupRequest
  /** Folds everything committed so far, so that a read on another connection (the reader thread's) holds it. */
  | { readonly op: 'fold'; readonly nowMs: number }
  | { readonly op: 'parked' }
  | { readonly op: 'close'; readonly nowMs: number };

/** What each request resolves with. */
export interface LedgerAnswers {
  group: GroupAnswer;
  fold: undefined;
  parked: UsageRecord[];
  close: undefined;
}

export type Envelope = { readonly id: number; readonly request: LedgerRequest };

/** The reader thread's requests (ledger-reader.ts); a CSV reads its users in pages through a cursor. */
export type ReaderRequest =
  | { readonly op: 'users'; readonly query: UsersQuery }
  | { readonly op: 'user'; readonly userId: string; readonly filter: UsageFilter }
  | { readonly op: 'openCursor'; readonly cursor: number; readonly query: UsersQuery; readonly pageRows: number }
  | { readonly op: 'nextPage'; readonly cursor: number }
  | { readonly op: 'closeCursor'; readonly cursor: number }
  | { readonly op: 'overview'; readonly filter: UsageFilter; readonly propertyNames: readonly string[]; readonly valueNames: readonly string[] }
  | { readonly op: 'userProperties'; readonly userIds: readonly string[]; readonly propertyNames: readonly string[]; readonly filter: UsageFilter }
  | { readonly op: 'dailyActivity'; readonly fromDay: number; readonly toDay: number; readonly minRequests: number };

export interface ReaderAnswers {
  users: PackedUsersPage;
  user: UserDetail | undefined;
  openCursor: undefined;
  /** undefined once the cursor has no more pages (it is then closed). */
  nextPage: PackedUsersPage | undefined;
  closeCursor: undefined;
  overview: UsageOverview;
  userProperties: Record<string, Record<string, string>>;
  dailyActivity: DailyActivity[];
}

export type ReaderEnvelope = { readonly id: number; readonly request: ReaderRequest };

export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  /** `unavailable`: the ledger was failed when the request ended (LedgerUnavailableError on the main thread). */
  | { readonly id: number; readonly ok: false; readonly message: string; readonly unavailable: boolean };

/**
 * Sent by the writer on the replies port whenever the ledger's health changes, before the reply to the request that
 * changed it: the main thread answers /healthz and refuses work from it without asking the writer.
 */
export interface HealthReport {
  readonly id: typeof HEALTH_REPORT_ID;
  readonly health: LedgerHealth;
}
/** Request ids start at 1. */
export const HEALTH_REPORT_ID = 0;

/** What the checkpointer thread tells the writer after a checkpoint failed. */
export interface CheckpointFailure {
  readonly error: string;
}

/** What the worker needs to open the ledger (the main thread has created or upgraded the schema already). */
export interface WorkerSettings {
  readonly path: string;
  readonly dedupWindowMs: number;
  readonly synchronous: 'normal' | 'full';
  /** Rows one slice of a fold writes when the fold is not behind (tests make it small to watch a fold midway). */
  readonly foldSliceRows?: number;
  /** HOURLY_DETAIL_DAYS (retention.ts); 0 or absent: usage by the hour is kept for ever. */
  readonly hourlyDetailDays?: number;
}
