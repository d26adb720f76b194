import type { UsageRecord } from '../sources/usage-record.ts';

/** A call whose user (or whose being another instrumentation's copy of a call) is decided by a span not yet seen. */
export interface WaitingCall {
  /** The call as read so far: user and properties found on it and on the ancestors seen up to now. */
  readonly record: UsageRecord;
  /** The span, in the call's trace, whose arrival decides it next ('' never: a root decides at once). */
  readonly waitingFor: string;
  /** Still to check whether that span is another instrumentation's span around the same call. */
  readonly checkWrapper: boolean;
  /** When the wait ends and the call is counted with what it has, ms since the epoch. */
  readonly deadlineMs: number;
}

/**
 * Where the attributor keeps calls while they wait, so that a durable implementation can keep them across a crash.
 * The default keeps them in memory; the ledger can implement it on the same database as the export it acknowledges.
 * Every method is synchronous and is called while an export is being ingested (or a wait expires), before the
 * pipeline hands that export's records to the sinks.
 */
export interface WaitingCallStore {
  put(call: WaitingCall): void;
  delete(traceId: string, spanId: string): void;
  /** The waiting calls of one trace (empty when none). */
  inTrace(traceId: string): Iterable<WaitingCall>;
  hasTrace(traceId: string): boolean;
  has(traceId: string, spanId: string): boolean;
  /** Calls whose deadline is at or before `nowMs`, oldest first. */
  due(nowMs: number): WaitingCall[];
  /** A call among the earliest to have started waiting, for making room. */
  oldest(): WaitingCall | undefined;
  all(): Iterable<WaitingCall>;
  readonly size: number;
}

/** Waiting calls in memory: lost on a crash (a clean stop counts them first). */
export class MemoryWaitingCallStore implements WaitingCallStore {
  private readonly byTrace = new Map<string, Map<string, WaitingCall>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  put(call: WaitingCall): void {
    let calls = this.byTrace.get(call.record.traceId);
    if (calls === undefined) {
      calls = new Map();
      this.byTrace.set(call.record.traceId, calls);
    }
    if (!calls.has(call.record.spanId)) this.count++;
    calls.set(call.record.spanId, call);
  }

  delete(traceId: string, spanId: string): void {
    const calls = this.byTrace.get(traceId);
    if (calls === undefined || !calls.delete(spanId)) return;
    this.count--;
    if (calls.size === 0) this.byTrace.delete(traceId);
  }

  inTrace(traceId: string): Iterable<WaitingCall> {
    return this.byTrace.get(traceId)?.values() ?? [];
  }

  hasTrace(traceId: string): boolean {
    return this.byTrace.has(traceId);
  }

  has(traceId: string, spanId: string): boolean {
    return this.byTrace.get(traceId)?.has(spanId) ?? false;
  }

  due(nowMs: number): WaitingCall[] {
    const due: WaitingCall[] = [];
    // A full scan: calls wait only while their ancestors are in flight, so few wait at once, and this runs once a second.
    for (const calls of this.byTrace.values()) {
      for (const call of calls.values()) if (call.deadlineMs <= nowMs) due.push(call);
    }
    return due.sort((a, b) => a.deadlineMs - b.deadlineMs);
  }

  oldest(): WaitingCall | undefined {
    // Traces are kept in the order their first call started waiting.
    for (const calls of this.byTrace.values()) for (const call of calls.values()) return call;
    return undefined;
  }

  *all(): Iterable<WaitingCall> {
    for (const calls of this.byTrace.values()) yield* calls.values();
  }
}
