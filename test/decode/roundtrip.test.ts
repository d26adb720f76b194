/**
 * Spans through the official OpenTelemetry JS serializers (what real exporters send) and back through our
 * decoders: every field must come back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { makeBatch, readableSpan, serializeJson, serializeProtobuf } from '../../bench/fixtures.ts';
import { decodeJson } from '../../src/decode/json.ts';
import { decodeProtobuf } from '../../src/decode/protobuf.ts';
import type { DecodedBatch } from '../../src/decode/span.ts';
import { assertDecodedEqual, inSerializedOrder } from './expected.ts';

const encodings = [
  { name: 'protobuf', serialize: serializeProtobuf, decode: (bytes: Uint8Array): DecodedBatch => decodeProtobuf(bytes) },
  { name: 'json', serialize: serializeJson, decode: (bytes: Uint8Array): DecodedBatch => decodeJson(bytes) },
] as const;

const resourceA = resourceFromAttributes({ 'service.name': 'checkout', 'process.pid': 4711, 'service.debug': false });
const resourceB = resourceFromAttributes({ 'service.name': 'search', 'host.cpu.count': 2.5 });
const scopeOne = { name: 'llm-user-metrics', version: '0.1.0' };
const scopeTwo = { name: 'no-version-scope' };

/** Spans that exercise every attribute type and edge the decoders handle. */
function edgeSpans(): ReadableSpan[] {
  const base = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    resource: resourceA,
    scope: scopeOne,
    kind: SpanKind.CLIENT,
  };
  return [
    readableSpan({
      ...base,
      spanId: 'b7ad6b7169203331',
      name: 'every attribute type',
      // Sub-microsecond parts on both times: precision is checked against these exact nanoseconds.
      startTime: [1_795_687_200, 123_456_789],
      endTime: [1_795_687_201, 999_999_999],
      status: { code: SpanStatusCode.ERROR, message: 'upstream said 429 — rate limited' },
      attributes: {
        'str': 'plain',
        'str.empty': '',
        'str.unicode': 'naïve café 日本語 🚀',
        'bool.true': true,
        'bool.false': false,
        'int.zero': 0,
        'int.small': 443,
        'int.negative': -1,
        'int.negative.big': -(2 ** 40) - 7,
        'int.big': 2 ** 40 + 3,
        'int.max.safe': Number.MAX_SAFE_INTEGER,
        'int.min.int64': -(2 ** 63),
        'double': 0.7,
        'double.negative': -1234.5678,
        'double.tiny': 5e-324,
        'array.strings': ['stop', 'length'],
        'array.ints': [1, -2, 2 ** 35],
        'array.doubles': [0.25, -0.5],
        'array.bools': [true, false],
        'array.empty': [],
        // Computed, so that the literal makes an own key rather than setting the prototype.
        ['__proto__']: 'a key that must stay a key',
      },
    }),
    readableSpan({
      ...base,
      spanId: '00f067aa0ba902b7',
      parentSpanId: 'b7ad6b7169203331',
      name: '',
      kind: SpanKind.INTERNAL,
      startTime: [1_795_687_200, 0],
      endTime: [1_795_687_200, 0],
      status: { code: SpanStatusCode.OK },
      attributes: {},
    }),
    ...[SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER].map((kind, i) => readableSpan({
      ...base,
      spanId: `1000000000000${i}0${i}`,
      parentSpanId: 'b7ad6b7169203331',
      name: `kind ${kind}`,
      kind,
      scope: scopeTwo,
      startTime: [1_700_000_000 + i, 999_999_000],
      endTime: [1_700_000_001 + i, 1],
      attributes: { 'gen_ai.usage.input_tokens': 1000 + i },
    })),
    readableSpan({
      ...base,
      traceId: 'ffffffffffffffffffffffffffffffff',
      spanId: 'ffffffffffffffff',
      name: 'second resource',
      resource: resourceB,
      startTime: [1, 1],
      endTime: [4_102_444_800, 0],
      attributes: { 'user.id': 'user-000042' },
    }),
  ];
}

for (const encoding of encodings) {
  describe(`round trip through the official ${encoding.name} serializer`, () => {
    it('keeps every field of spans covering every attribute type, kind, status and time edge', () => {
      const spans = edgeSpans();
      const batch = encoding.decode(encoding.serialize(spans));
      assert.deepEqual(batch.rejected, []);
      assertDecodedEqual(batch.spans, inSerializedOrder(spans));
    });

    it('keeps every field of a realistic 512-span batch from two services', () => {
      const spans = makeBatch({ spans: 512, users: 1000, seed: 7, services: 2 });
      const batch = encoding.decode(encoding.serialize(spans));
      assert.deepEqual(batch.rejected, []);
      assertDecodedEqual(batch.spans, inSerializedOrder(spans));
    });

    it('shares one frozen resource object among the spans of a resource', () => {
      const spans = makeBatch({ spans: 64, users: 10, seed: 3, services: 2 });
      const decoded = encoding.decode(encoding.serialize(spans)).spans;
      const byService = new Map<unknown, Set<object>>();
      for (const span of decoded) {
        const name = span.resource['service.name'];
        if (!byService.has(name)) byService.set(name, new Set());
        byService.get(name)?.add(span.resource);
      }
      assert.equal(byService.size, 2);
      for (const objects of byService.values()) assert.equal(objects.size, 1);
      assert.ok(Object.isFrozen(decoded[0]?.resource));
    });

    it('keeps `__proto__` as an attribute key without touching the prototype', () => {
      const [span] = encoding.decode(encoding.serialize(edgeSpans().slice(0, 1))).spans;
      assert.ok(span !== undefined);
      assert.equal(Object.getPrototypeOf(span.attributes), Object.prototype);
      assert.equal(Object.getOwnPropertyDescriptor(span.attributes, '__proto__')?.value, 'a key that must stay a key');
    });

    it('decodes an export with no spans to an empty batch', () => {
      const batch = encoding.decode(encoding.serialize([]));
      assert.deepEqual(batch, { spans: [], rejected: [] });
    });
  });
}

describe('both decoders', () => {
  it('agree span for span on the same batch', () => {
    const spans = makeBatch({ spans: 300, users: 50, seed: 11 });
    const fromProtobuf = decodeProtobuf(serializeProtobuf(spans)).spans;
    const fromJson = decodeJson(serializeJson(spans)).spans;
    assert.equal(fromProtobuf.length, 300);
    const withoutTimes = (list: typeof fromJson) => list.map(({ startTimeMs: _s, endTimeMs: _e, ...rest }) => rest);
    assert.deepEqual(withoutTimes(fromProtobuf), withoutTimes(fromJson));
  });

  it('read ids written in upper case the same as in lower case', () => {
    const [span] = edgeSpans();
    assert.ok(span !== undefined);
    const json = new TextDecoder().decode(serializeJson([span])).replace('0af7651916cd43dd8448eb211c80319c', '0AF7651916CD43DD8448EB211C80319C');
    assert.equal(decodeJson(json).spans[0]?.traceId, '0af7651916cd43dd8448eb211c80319c');
  });
});
