/** What a decoder must make of an SDK span that went through an official serializer. */
import assert from 'node:assert/strict';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { hrTimeToNanos } from '../../bench/fixtures.ts';
import type { AttributeValue, DecodedSpan } from '../../src/decode/span.ts';

/** The SDK's attribute values, minus what OTLP cannot carry (undefined, null items), as plain values. */
function plainAttributes(attributes: ReadableSpan['attributes']): Record<string, AttributeValue> {
  // fromEntries makes own keys even of `__proto__`, as the decoders must.
  return Object.fromEntries(Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => [key, (Array.isArray(value) ? value.filter((item) => item !== null && item !== undefined) : value) as AttributeValue]));
}

/** Every field of the DecodedSpan except the times, which are checked against exact nanoseconds. */
export function expectedSpan(span: ReadableSpan): Omit<DecodedSpan, 'startTimeMs' | 'endTimeMs'> {
  const context = span.spanContext();
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? '',
    name: span.name,
    // The API numbers kinds from INTERNAL = 0; OTLP keeps 0 for UNSPECIFIED.
    kind: span.kind + 1,
    statusCode: span.status.code,
    statusMessage: span.status.message ?? '',
    attributes: plainAttributes(span.attributes),
    scopeName: span.instrumentationScope.name,
    scopeVersion: span.instrumentationScope.version ?? '',
    resource: plainAttributes(span.resource.attributes),
  };
}

/** The largest error allowed on a time: the brief asks for the microsecond; the decoders do better. */
export const TIME_TOLERANCE_NS = 500;

export function assertTimeNear(actualMs: number, expectedNanos: bigint, what: string): void {
  // Exact arithmetic: split the double into whole ms and the rest before going to BigInt.
  const wholeMs = Math.floor(actualMs);
  const restNs = Math.round((actualMs - wholeMs) * 1e6);
  const actualNanos = BigInt(wholeMs) * 1_000_000n + BigInt(restNs);
  const error = actualNanos > expectedNanos ? actualNanos - expectedNanos : expectedNanos - actualNanos;
  assert.ok(error <= BigInt(TIME_TOLERANCE_NS), `${what}: ${actualMs} ms is ${error} ns from ${expectedNanos} ns`);
}

/** Asserts decoded spans equal the SDK spans they came from, in order, every field. */
export function assertDecodedEqual(decoded: readonly DecodedSpan[], sources: readonly ReadableSpan[]): void {
  assert.equal(decoded.length, sources.length, 'span count');
  for (let i = 0; i < sources.length; i++) {
    const actual = decoded[i] as DecodedSpan;
    const source = sources[i] as ReadableSpan;
    const { startTimeMs, endTimeMs, ...rest } = actual;
    assert.deepEqual(rest, expectedSpan(source), `span ${i} (${source.name})`);
    assertTimeNear(startTimeMs, hrTimeToNanos(source.startTime), `span ${i} start`);
    assertTimeNear(endTimeMs, hrTimeToNanos(source.endTime), `span ${i} end`);
  }
}

/**
 * The spans in the order the official serializers write them: grouped by resource, then by scope, each in order
 * of first appearance.
 */
export function inSerializedOrder(spans: readonly ReadableSpan[]): ReadableSpan[] {
  const groups = new Map<unknown, Map<string, ReadableSpan[]>>();
  for (const span of spans) {
    const scope = span.instrumentationScope;
    const scopeKey = `${scope.name}@${scope.version ?? ''}:${scope.schemaUrl ?? ''}`;
    let byScope = groups.get(span.resource);
    if (byScope === undefined) groups.set(span.resource, byScope = new Map());
    let list = byScope.get(scopeKey);
    if (list === undefined) byScope.set(scopeKey, list = []);
    list.push(span);
  }
  return [...groups.values()].flatMap((byScope) => [...byScope.values()].flat());
}
