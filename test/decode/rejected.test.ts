/**
 * Unusable spans are rejected one by one with a reason while the rest of the export goes on; bodies that do not
 * decode at all throw DecodeError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeBatch, serializeProtobuf } from '../../bench/fixtures.ts';
import { decodeJson } from '../../src/decode/json.ts';
import { ExportTraceServiceRequest } from '../../src/decode/otlp-schema.ts';
import { decodeProtobuf } from '../../src/decode/protobuf.ts';
import { DecodeError } from '../../src/decode/span.ts';
import type { DecodedBatch } from '../../src/decode/span.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const GOOD_SPAN_ID = '00f067aa0ba902b7';

/** A span in the shape protobufjs encodes with our schema (bytes as Buffers, fixed64 as decimal strings). */
function pbSpan(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: Buffer.from(TRACE_ID, 'hex'),
    spanId: Buffer.from(GOOD_SPAN_ID, 'hex'),
    name,
    kind: 3,
    startTimeUnixNano: '1795687200000000000',
    endTimeUnixNano: '1795687200500000000',
    attributes: [{ key: 'user.id', value: { stringValue: 'user-1' } }],
    ...overrides,
  };
}

function pbRequest(spans: Array<Record<string, unknown>>): Uint8Array {
  return ExportTraceServiceRequest.encode({
    resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 's' }, spans }] }],
  }).finish();
}

function jsonSpan(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE_ID,
    spanId: GOOD_SPAN_ID,
    name,
    kind: 3,
    startTimeUnixNano: '1795687200000000000',
    endTimeUnixNano: '1795687200500000000',
    attributes: [{ key: 'user.id', value: { stringValue: 'user-1' } }],
    ...overrides,
  };
}

function jsonRequest(spans: unknown[]): string {
  return JSON.stringify({ resourceSpans: [{ scopeSpans: [{ scope: { name: 's' }, spans }] }] });
}

function assertOneRejected(batch: DecodedBatch, reason: RegExp): void {
  assert.deepEqual(batch.spans.map((span) => span.name), ['good before', 'good after']);
  assert.equal(batch.rejected.length, 1, JSON.stringify(batch.rejected));
  assert.match(batch.rejected[0]?.reason ?? '', reason);
  // The reason says where the span was, so the exporter's log points at it.
  assert.match(batch.rejected[0]?.reason ?? '', /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[1\]: /);
}

describe('decodeProtobuf rejects one bad span and keeps the others', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a 7-byte span id', { spanId: Buffer.from('00f067aa0ba902', 'hex') }, /span_id is 7 bytes, want 8/],
    ['a missing span id', { spanId: Buffer.alloc(0) }, /span_id is missing/],
    ['a 15-byte trace id', { traceId: Buffer.alloc(15, 1) }, /trace_id is 15 bytes, want 16/],
    ['an all-zero trace id', { traceId: Buffer.alloc(16) }, /trace_id is all zeros/],
    ['a 9-byte parent span id', { parentSpanId: Buffer.alloc(9, 2) }, /parent_span_id is 9 bytes, want 8/],
    ['no start time', { startTimeUnixNano: '0' }, /start_time_unix_nano is missing/],
    ['no end time', { endTimeUnixNano: '0' }, /end_time_unix_nano is missing/],
    ['an end before its start', { endTimeUnixNano: '1795687199999999000' }, /end_time_unix_nano is before start_time_unix_nano/],
  ];
  for (const [what, overrides, reason] of cases) {
    it(`with ${what}`, () => {
      const body = pbRequest([pbSpan('good before'), pbSpan('bad', overrides), pbSpan('good after')]);
      assertOneRejected(decodeProtobuf(body), reason);
    });
  }
});

describe('decodeJson rejects one bad span and keeps the others', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a span that is not an object', 42, /span is not an object/],
    ['a null span', null, /span is not an object/],
    ['a 14-digit span id', jsonSpan('bad', { spanId: '00f067aa0ba902' }), /span_id is 14 hex digits, want 16/],
    ['a non-hex trace id', jsonSpan('bad', { traceId: 'zz'.repeat(16) }), /trace_id is not hex/],
    ['a base64 trace id', jsonSpan('bad', { traceId: Buffer.from(TRACE_ID, 'hex').toString('base64') }), /trace_id is 24 hex digits, want 32/],
    ['a numeric span id', jsonSpan('bad', { spanId: 1234 }), /span_id is not a string/],
    ['no trace id', jsonSpan('bad', { traceId: undefined }), /trace_id is missing/],
    ['an all-zero span id', jsonSpan('bad', { spanId: '0'.repeat(16) }), /span_id is all zeros/],
    ['a start time in words', jsonSpan('bad', { startTimeUnixNano: 'yesterday' }), /start_time_unix_nano is not a decimal integer/],
    ['a fractional end time', jsonSpan('bad', { endTimeUnixNano: 1.5 }), /end_time_unix_nano is not a non-negative integer/],
    ['no start time', jsonSpan('bad', { startTimeUnixNano: undefined }), /start_time_unix_nano is missing/],
    ['an end before its start', jsonSpan('bad', { endTimeUnixNano: '1795687199000000000' }), /end_time_unix_nano is before start_time_unix_nano/],
    ['an unknown kind name', jsonSpan('bad', { kind: 'SPAN_KIND_SIDEWAYS' }), /kind is not a valid enum value/],
    ['an int attribute that is not an integer', jsonSpan('bad', { attributes: [{ key: 'tokens', value: { intValue: '12x' } }] }), /attribute "tokens": intValue is not an integer/],
    ['attributes that are not a list', jsonSpan('bad', { attributes: { 'user.id': 'u' } }), /attributes is not an array/],
    ['an attribute without a key', jsonSpan('bad', { attributes: [{ value: { stringValue: 'u' } }] }), /attributes\[0\]\.key is not a string/],
    ['a status that is a string', jsonSpan('bad', { status: 'ERROR' }), /status is not an object/],
  ];
  for (const [what, span, reason] of cases) {
    it(`with ${what}`, () => {
      assertOneRejected(decodeJson(jsonRequest([jsonSpan('good before'), span, jsonSpan('good after')])), reason);
    });
  }
});

describe('decodeProtobuf throws DecodeError for a body that does not decode', () => {
  const real = serializeProtobuf(makeBatch({ spans: 4, users: 2 }));
  const bodies: Array<[string, Uint8Array]> = [
    ['a length running past the end', Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])],
    ['an invalid wire type', Uint8Array.from([0x0f, 0x00])],
    ['a JSON body sent as protobuf', new TextEncoder().encode('{"resourceSpans":[]}')],
    ['a body cut short', real.subarray(0, real.length - 1)],
    ['a varint longer than ten bytes in an int attribute', overlongIntVarint()],
  ];
  for (const [what, body] of bodies) {
    it(`with ${what}`, () => {
      assert.throws(() => decodeProtobuf(body), (error: unknown) => {
        assert.ok(error instanceof DecodeError, `got ${String(error)}`);
        assert.match(error.message, /^invalid protobuf: ./);
        return true;
      });
    });
  }

  it('but decodes an empty body as the empty request, which the spec says to accept', () => {
    assert.deepEqual(decodeProtobuf(new Uint8Array(0)), { spans: [], rejected: [] });
  });
});

/**
 * An ExportTraceServiceRequest whose one attribute's int_value is an 11-byte varint (at most 10 are valid), put
 * together by hand: protobufjs would never write one.
 */
function overlongIntVarint(): Uint8Array {
  const anyValue = Uint8Array.from([0x18, ...Array<number>(10).fill(0xff), 0x01]); // field 3 (int_value), varint
  const keyValue = Uint8Array.from([0x0a, 0x01, 0x6b, 0x12, anyValue.length, ...anyValue]); // key "k", value
  const span = Buffer.concat([
    encodeField(1, Buffer.from(TRACE_ID, 'hex')),
    encodeField(2, Buffer.from(GOOD_SPAN_ID, 'hex')),
    encodeField(9, keyValue),
  ]);
  return encodeField(1, encodeField(2, encodeField(2, span)));
}

/** One length-delimited field (lengths under 128 bytes). */
function encodeField(fieldNumber: number, payload: Uint8Array): Uint8Array {
  assert.ok(payload.length < 128);
  return Uint8Array.from([(fieldNumber << 3) | 2, payload.length, ...payload]);
}

describe('decodeJson throws DecodeError for a body that does not decode', () => {
  const bodies: Array<[string, string, RegExp]> = [
    ['invalid JSON', '{"resourceSpans": [', /^invalid JSON: /],
    ['an empty body', '', /^invalid JSON: /],
    ['protobuf bytes', Buffer.from(serializeProtobuf(makeBatch({ spans: 2, users: 1 }))).toString('latin1'), /^invalid JSON: /],
    ['a top-level array', '[]', /the body is not a JSON object/],
    ['a top-level null', 'null', /the body is not a JSON object/],
    ['resourceSpans that is not a list', '{"resourceSpans": 5}', /^resourceSpans is not an array/],
    ['a resourceSpans item that is not an object', '{"resourceSpans": [7]}', /^resourceSpans\[0\] is not an object/],
    ['scopeSpans that is not a list', '{"resourceSpans": [{"scopeSpans": {}}]}', /^resourceSpans\[0\]\.scopeSpans is not an array/],
    ['spans that is not a list', '{"resourceSpans": [{"scopeSpans": [{"spans": "none"}]}]}', /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans is not an array/],
    ['a scope name that is not a string', '{"resourceSpans": [{"scopeSpans": [{"scope": {"name": 3}}]}]}', /scope\.name is not a string/],
    ['a resource attribute that is broken', '{"resourceSpans": [{"resource": {"attributes": [{"key": 1}]}}]}', /^resourceSpans\[0\]\.resource: attributes\[0\]\.key is not a string/],
  ];
  for (const [what, body, message] of bodies) {
    it(`with ${what}`, () => {
      assert.throws(() => decodeJson(body), (error: unknown) => {
        assert.ok(error instanceof DecodeError, `got ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
