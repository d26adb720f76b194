import type { SpanReading } from '../sources/index.ts';
import type { UsageRecord } from '../sources/usage-record.ts';
import { MemoryWaitingCallStore, type WaitingCall, type WaitingCallStore } from './waiting-call.ts';

export interface AttributorOptions {
  /** How long a call without a user waits for the ancestor spans of its trace (ANCESTOR_WAIT_SECONDS). */
  readonly waitMs: number;
  /** Spans remembered plus calls waiting, at most (ANCESTOR_MAX_SPANS). */
  readonly maxSpans: number;
  readonly store?: WaitingCallStore;
}

/** What one span offers the calls beneath it. */
interface Link {
  readonly parentSpanId: string;
  readonly userId: string | undefined;
  readonly properties: Readonly<Record<string, string>>;
  /** A counted LLM call: a provider SDK's span beneath it is the same call. */
  readonly isCall: boolean;
  readonly seenMs: number;
}

export interface Attribution {
  /** Calls decided: to price and record now. */
  readonly ready: UsageRecord[];
  /** Provider-SDK spans found inside another instrumentation's span of the same call, not counted. */
  readonly duplicates: number;
  /** Calls of this export that wait for an ancestor: to keep durably before the export is acknowledged. */
  readonly waiting: UsageRecord[];
}

/** Longest ancestor chain followed; deeper (or cyclic) parent links end the walk. */
const MAX_DEPTH = 64;

/**
 * Decides, for each LLM call, who it is for and whether it is counted, from the spans of its trace:
 *
 * - A call that names its user, and is not a provider SDK's own span, is decided at once.
 * - A call without a user takes the user (and the properties it lacks) of its nearest ancestor that names one:
 *   the AI SDK 7's `invoke_agent`, an app's HTTP server span with `enduser.id`. Ancestors usually end, and so arrive,
 *   after the call: the call waits for them, at most `waitMs`, and is then counted under no user. A root span
 *   decides at once.
 * - A provider SDK's own span (the Anthropic SDK's) whose parent is a counted call of another instrumentation (ours,
 *   OpenLIT's) is the same call, and is not counted.
 *
 * Spans are remembered only when they can decide something (they belong to a trace with a call waiting, or they
 * lend a user without being a call themselves), for `waitMs`, and never more than `maxSpans` with the waiting calls: past it the oldest spans are
 * forgotten and then the oldest waiting calls are counted as they are. A waiting call is never dropped.
 */
export class CallAttributor {
  private readonly waitMs: number;
  private readonly maxSpans: number;
  private readonly store: WaitingCallStore;
  /**
   * Remembered spans by trace id + span id (one flat map: a map per trace cost more memory than the links in it,
   * since most traces hold one or two remembered spans).
   */
  private readonly links = new Map<string, Link>();
  /** Keys of remembered spans in arrival order, for forgetting the oldest first. */
  private readonly linkQueue: string[] = [];
  private linkQueueHead = 0;

  constructor(options: AttributorOptions) {
    if (!(options.waitMs >= 0)) throw new RangeError(`waitMs must be >= 0, got ${options.waitMs}`);
    if (!(options.maxSpans >= 1)) throw new RangeError(`maxSpans must be >= 1, got ${options.maxSpans}`);
    this.waitMs = options.waitMs;
    this.maxSpans = options.maxSpans;
    this.store = options.store ?? new MemoryWaitingCallStore();
  }

  get waitingCalls(): number {
    return this.store.size;
  }

  get rememberedSpans(): number {
    return this.links.size;
  }

  /** Takes the spans of one export, in any order; returns the calls decided by them. */
  accept(readings: readonly SpanReading[], nowMs: number = Date.now()): Attribution {
    const ready: UsageRecord[] = [];
    let duplicates = 0;
    this.forgetOlderThan(nowMs - this.waitMs);

    const walking: WaitingCall[] = [];
    const interesting = new Set<string>();
    for (const reading of readings) {
      const found = reading.call;
      if (found === undefined) continue;
      const { record } = found;
      const needsAncestors = record.parentSpanId !== '' && (found.mayBeWrapped || record.userId === undefined);
      if (!needsAncestors) {
        ready.push(record);
        continue;
      }
      walking.push({ record, waitingFor: record.parentSpanId, checkWrapper: found.mayBeWrapped, deadlineMs: nowMs + this.waitMs });
      interesting.add(record.traceId);
    }

    const touched = new Set<string>();
    for (const reading of readings) {
      const span = reading.span;
      const waitedOn = this.store.hasTrace(span.traceId);
      // Children end, and so are exported, before their ancestors: a call waits for its parent, rarely the other
      // way round. So outside traces with a call waiting, only spans that lend a user without being calls (an HTTP
      // server span with enduser.id) are kept, for the odd call that outlives its parent.
      if (!waitedOn && !interesting.has(span.traceId) && (reading.call !== undefined || reading.userId === undefined)) continue;
      this.remember(span.traceId, span.spanId, {
        parentSpanId: span.parentSpanId,
        userId: reading.userId,
        properties: reading.properties,
        isCall: reading.call !== undefined,
        seenMs: nowMs,
      }, ready);
      if (waitedOn) touched.add(span.traceId);
    }

    for (const call of walking) duplicates += this.decide(call, ready);
    const waiting = walking.filter((call) => this.store.has(call.record.traceId, call.record.spanId)).map((call) => call.record);
    for (const traceId of touched) {
      for (const call of [...this.store.inTrace(traceId)]) {
        if (this.links.has(traceId + call.waitingFor)) duplicates += this.decide(call, ready);
      }
    }
    return { ready, duplicates, waiting };
  }

  /**
   * Takes back calls that were waiting when the processor stopped (the ledger's parked calls): each waits again, for
   * a whole wait, for its parent. `mayBeWrapped` says which were a provider SDK's own span.
   */
  restore(records: readonly UsageRecord[], mayBeWrapped: (record: UsageRecord) => boolean, nowMs: number = Date.now()): UsageRecord[] {
    const ready: UsageRecord[] = [];
    for (const record of records) {
      if (record.parentSpanId === '') ready.push(record);
      else this.store.put({ record, waitingFor: record.parentSpanId, checkWrapper: mayBeWrapped(record), deadlineMs: nowMs + this.waitMs });
    }
    this.makeRoom(ready);
    return ready;
  }

  /** Calls whose wait ran out: counted with the user found so far (usually none). */
  expire(nowMs: number = Date.now()): UsageRecord[] {
    this.forgetOlderThan(nowMs - this.waitMs);
    const ready: UsageRecord[] = [];
    for (const call of this.store.due(nowMs)) this.release(call, ready);
    return ready;
  }

  /** Every waiting call, counted as it is: for a clean stop with a store that does not survive it. */
  releaseAll(): UsageRecord[] {
    const ready: UsageRecord[] = [];
    for (const call of [...this.store.all()]) this.release(call, ready);
    return ready;
  }

  /** Follows the call's ancestors as far as they are known; returns 1 when the call proved to be a duplicate. */
  private decide(start: WaitingCall, ready: UsageRecord[]): number {
    const traceId = start.record.traceId;
    let { record, checkWrapper } = start;
    let spanId = start.waitingFor;
    for (let depth = 0; depth < MAX_DEPTH && spanId !== ''; depth++) {
      const link = this.links.get(traceId + spanId);
      if (link === undefined) {
        this.store.put({ record, waitingFor: spanId, checkWrapper, deadlineMs: start.deadlineMs });
        this.makeRoom(ready);
        return 0;
      }
      if (checkWrapper) {
        if (link.isCall) {
          this.store.delete(record.traceId, record.spanId);
          return 1;
        }
        checkWrapper = false;
      }
      if (record.userId === undefined) {
        if (hasAny(link.properties)) record = { ...record, properties: { ...link.properties, ...record.properties } };
        if (link.userId !== undefined) record = { ...record, userId: link.userId };
      }
      if (record.userId !== undefined) break;
      spanId = link.parentSpanId;
    }
    this.store.delete(record.traceId, record.spanId);
    ready.push(record);
    return 0;
  }

  private release(call: WaitingCall, ready: UsageRecord[]): void {
    this.store.delete(call.record.traceId, call.record.spanId);
    ready.push(call.record);
  }

  private remember(traceId: string, spanId: string, link: Link, ready: UsageRecord[]): void {
    const key = traceId + spanId;
    if (!this.links.has(key)) this.linkQueue.push(key);
    this.links.set(key, link);
    this.makeRoom(ready);
  }

  /** Forgets the oldest spans, then counts the oldest waiting calls, until both fit in maxSpans. */
  private makeRoom(ready: UsageRecord[]): void {
    while (this.links.size + this.store.size > this.maxSpans && this.links.size > 0) this.forgetOldest();
    while (this.store.size > this.maxSpans) {
      const oldest = this.store.oldest();
      if (oldest === undefined) break;
      this.release(oldest, ready);
    }
  }

  private forgetOlderThan(cutoffMs: number): void {
    while (this.linkQueueHead < this.linkQueue.length) {
      const link = this.links.get(this.linkQueue[this.linkQueueHead]!);
      if (link !== undefined && link.seenMs > cutoffMs) break;
      this.forgetOldest();
    }
  }

  private forgetOldest(): void {
    const key = this.linkQueue[this.linkQueueHead++];
    if (this.linkQueueHead > 1024 && this.linkQueueHead * 2 > this.linkQueue.length) {
      this.linkQueue.splice(0, this.linkQueueHead);
      this.linkQueueHead = 0;
    }
    if (key !== undefined) this.links.delete(key);
  }
}

function hasAny(properties: Readonly<Record<string, string>>): boolean {
  for (const _ in properties) return true;
  return false;
}
