import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJson } from '../../src/decode/json.ts';
import { ExportTraceServiceRequest } from '../../src/decode/otlp-schema.ts';
import { decodeProtobuf } from '../../src/decode/protobuf.ts';
import { DecodeError } from '../../src/decode/span.ts';

const limits = { maxAttributesPerSpan: 16 };
const keyValues = (count: number) => Array.from({ length: count }, (_, index) => ({ key: `k${index}`, value: { intValue: index } }));
const now = Date.now();
const span = (spanByte: number, attributeCount: number) => ({
  traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, spanByte), name: 'chat',
  startTimeUnixNano: (now - 100) * 1e6, endTimeUnixNano: now * 1e6, attributes: keyValues(attributeCount),
});
const protobufBody = (resourceAttributes: number, spans: ReturnType<typeof span>[]) => ExportTraceServiceRequest.encode(
  ExportTraceServiceRequest.fromObject({ resourceSpans: [{ resource: { attributes: keyValues(resourceAttributes) }, scopeSpans: [{ spans }] }] })).finish();
const jsonBody = (resourceAttributes: number, spans: ReturnType<typeof span>[]) => JSON.stringify({ resourceSpans: [{
  resource: { attributes: keyValues(resourceAttributes) },
  scopeSpans: [{ spans: spans.map((one) => ({ ...one, traceId: one.traceId.toString('hex'), spanId: one.spanId.toString('hex'),
    startTimeUnixNano: String(one.startTimeUnixNano), endTimeUnixNano: String(one.endTimeUnixNano) })) }],
}] });

for (const [encoding, decode, body] of [
  ['protobuf', decodeProtobuf, protobufBody],
  ['json', decodeJson, jsonBody],
] as const) {
  describe(`MAX_ATTRIBUTES_PER_SPAN in ${encoding}`, () => {
    it('rejects a span past the limit alone, naming the count and the setting; the span beside it stays', () => {
      const batch = (decode as (body: Uint8Array | string, l: typeof limits) => ReturnType<typeof decodeJson>)(
        body(0, [span(2, 16), span(3, 17)]), limits);
      assert.deepEqual(batch.spans.map((one) => one.spanId), ['0202020202020202']);
      assert.equal(Object.keys(batch.spans[0]!.attributes).length, 16, 'at the limit: every attribute kept');
      assert.equal(batch.rejected.length, 1);
      assert.match(batch.rejected[0]!.reason, /spans\[1\]: has 17 attributes, more than the limit of 16 \(MAX_ATTRIBUTES_PER_SPAN\)/);
    });

    it('refuses a resource past the limit as a body that cannot be used', () => {
      assert.throws(() => (decode as (body: Uint8Array | string, l: typeof limits) => unknown)(body(17, [span(2, 1)]), limits),
        (error: unknown) => error instanceof DecodeError && /resource.*has 17 attributes.*MAX_ATTRIBUTES_PER_SPAN/.test(error.message));
    });
  });
}
