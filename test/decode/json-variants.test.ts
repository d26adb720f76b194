/** The forms of OTLP/JSON that emitters other than the OpenTelemetry JS SDK write, and the spec allows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJson } from '../../src/decode/json.ts';
import type { DecodedSpan } from '../../src/decode/span.ts';

const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';
const PARENT_ID = 'eee19b7ec3c1b173';

function onlySpan(body: unknown): DecodedSpan {
  const batch = decodeJson(JSON.stringify(body));
  assert.deepEqual(batch.rejected, []);
  assert.equal(batch.spans.length, 1);
  return batch.spans[0] as DecodedSpan;
}

describe('decodeJson accepts', () => {
  it('snake_case keys (the proto field names) everywhere', () => {
    const span = onlySpan({
      resource_spans: [{
        resource: { attributes: [{ key: 'service.name', value: { string_value: 'snake-service' } }] },
        scope_spans: [{
          scope: { name: 'snake-scope', version: '1.2.3' },
          spans: [{
            trace_id: TRACE_ID,
            span_id: SPAN_ID,
            parent_span_id: PARENT_ID,
            name: 'snake span',
            kind: 3,
            start_time_unix_nano: '1544712660000000000',
            end_time_unix_nano: '1544712661500000000',
            attributes: [
              { key: 's', value: { string_value: 'x' } },
              { key: 'b', value: { bool_value: true } },
              { key: 'i', value: { int_value: '42' } },
              { key: 'd', value: { double_value: 2.5 } },
              { key: 'a', value: { array_value: { values: [{ string_value: 'p' }, { int_value: 7 }] } } },
            ],
            status: { code: 2, message: 'boom' },
          }],
        }],
      }],
    });
    assert.deepEqual(span, {
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      parentSpanId: PARENT_ID,
      name: 'snake span',
      kind: 3,
      startTimeMs: 1544712660000,
      endTimeMs: 1544712661500,
      statusCode: 2,
      statusMessage: 'boom',
      attributes: { s: 'x', b: true, i: 42, d: 2.5, a: ['p', 7] },
      scopeName: 'snake-scope',
      scopeVersion: '1.2.3',
      resource: { 'service.name': 'snake-service' },
    });
  });

  it('int64 times and int values as decimal strings and as JSON numbers alike', () => {
    const asStrings = onlySpan(request({
      startTimeUnixNano: '1795687200123456000',
      endTimeUnixNano: '1795687201000000000',
      attributes: [{ key: 'tokens', value: { intValue: '1500' } }, { key: 'neg', value: { intValue: '-3' } }],
    }));
    const asNumbers = onlySpan(request({
      startTimeUnixNano: 1795687200123456000,
      endTimeUnixNano: 1795687201000000000,
      attributes: [{ key: 'tokens', value: { intValue: 1500 } }, { key: 'neg', value: { intValue: -3 } }],
    }));
    assert.deepEqual(asStrings.attributes, { tokens: 1500, neg: -3 });
    assert.deepEqual(asNumbers.attributes, { tokens: 1500, neg: -3 });
    assert.equal(asStrings.startTimeMs, 1795687200123.456);
    assert.ok(Math.abs(asNumbers.startTimeMs - 1795687200123.456) < 0.001);
    assert.equal(asStrings.endTimeMs, 1795687201000);
  });

  it('keeps sub-millisecond digits of a string time exactly as the nearest double', () => {
    const span = onlySpan(request({ startTimeUnixNano: '1795687200000000001', endTimeUnixNano: '1795687200000999999' }));
    // Whole ms and the rest are converted apart: the rest is not lost to 64-bit rounding of the whole number.
    assert.equal(span.startTimeMs, 1795687200000 + 1e-6);
    assert.equal(span.endTimeMs, 1795687200000 + 0.999999);
  });

  it('enum names for kind and status code, which some emitters write', () => {
    const span = onlySpan(request({ kind: 'SPAN_KIND_SERVER', status: { code: 'STATUS_CODE_ERROR' } }));
    assert.equal(span.kind, 2);
    assert.equal(span.statusCode, 2);
    assert.equal(span.statusMessage, '');
  });

  it('upper-case hex ids (the spec calls them case-insensitive), as the spec example writes them', () => {
    const span = onlySpan(request({ traceId: TRACE_ID.toUpperCase(), spanId: SPAN_ID.toUpperCase(), parentSpanId: PARENT_ID.toUpperCase() }));
    assert.equal(span.traceId, TRACE_ID);
    assert.equal(span.spanId, SPAN_ID);
    assert.equal(span.parentSpanId, PARENT_ID);
  });

  it('doubles written as strings, including the proto3 JSON words for non-finite values', () => {
    const span = onlySpan(request({
      attributes: [
        { key: 'nan', value: { doubleValue: 'NaN' } },
        { key: 'inf', value: { doubleValue: 'Infinity' } },
        { key: 'ninf', value: { doubleValue: '-Infinity' } },
        { key: 'text', value: { doubleValue: '0.125' } },
      ],
    }));
    assert.ok(Number.isNaN(span.attributes['nan']));
    assert.equal(span.attributes['inf'], Infinity);
    assert.equal(span.attributes['ninf'], -Infinity);
    assert.equal(span.attributes['text'], 0.125);
  });

  it('unknown keys anywhere, ignoring them as the spec requires', () => {
    const body = request({ flags: 257, traceState: 'k=v', events: [{ name: 'e' }], somethingNew: { deep: [1] } });
    const span = onlySpan({ ...body, futureField: true });
    assert.equal(span.name, 'span');
  });

  it('a missing or empty parent id, and an all-zero one, as a root span', () => {
    assert.equal(onlySpan(request({ parentSpanId: undefined })).parentSpanId, '');
    assert.equal(onlySpan(request({ parentSpanId: '' })).parentSpanId, '');
    assert.equal(onlySpan(request({ parentSpanId: '0000000000000000' })).parentSpanId, '');
  });

  it('a byte order mark in front of the body, and bytes as well as a string', () => {
    const text = JSON.stringify(request({}));
    assert.equal(decodeJson(`\uFEFF${text}`).spans.length, 1);
    assert.equal(decodeJson(new TextEncoder().encode(text)).spans.length, 1);
    const padded = new TextEncoder().encode(`xx${text}yy`);
    assert.equal(decodeJson(padded.subarray(2, padded.length - 2)).spans.length, 1);
  });

  it('empty requests: {} and empty lists', () => {
    assert.deepEqual(decodeJson('{}'), { spans: [], rejected: [] });
    assert.deepEqual(decodeJson('{"resourceSpans":[]}'), { spans: [], rejected: [] });
    assert.deepEqual(decodeJson('{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}'), { spans: [], rejected: [] });
  });
});

describe('decodeJson drops', () => {
  it('kvlist and bytes values, and empty values, keeping the other attributes', () => {
    const span = onlySpan(request({
      attributes: [
        { key: 'kv', value: { kvlistValue: { values: [{ key: 'a', value: { stringValue: 'b' } }] } } },
        { key: 'bytes', value: { bytesValue: 'AAEC' } },
        { key: 'empty', value: {} },
        { key: 'none' },
        { key: 'mixed', value: { arrayValue: { values: [{ stringValue: 'keep' }, { kvlistValue: { values: [] } }, { arrayValue: { values: [] } }] } } },
        { key: 'kept', value: { stringValue: 'yes' } },
      ],
    }));
    assert.deepEqual(span.attributes, { mixed: ['keep'], kept: 'yes' });
  });
});

/** A one-span request in the spec's lowerCamelCase form, with `overrides` on the span. */
function request(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
      scopeSpans: [{
        scope: { name: 'scope', version: '1' },
        spans: [{
          traceId: TRACE_ID,
          spanId: SPAN_ID,
          name: 'span',
          kind: 1,
          startTimeUnixNano: '1795687200000000000',
          endTimeUnixNano: '1795687201000000000',
          ...overrides,
        }],
      }],
    }],
  };
}
