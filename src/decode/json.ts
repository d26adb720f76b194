/**
 * OTLP/HTTP JSON bodies (ExportTraceServiceRequest in the OTLP JSON encoding) -> DecodedSpan.
 *
 * What the spec writes: lowerCamelCase keys, hex trace and span ids (any case), int64 values as decimal strings
 * or numbers, enums as integers. What receivers meet anyway and we also accept: the proto field names
 * (snake_case keys, which the proto3 JSON mapping tells parsers to accept) and enum names (`SPAN_KIND_CLIENT`,
 * `STATUS_CODE_ERROR`). Unknown keys are ignored, as the spec requires. kvlistValue and bytesValue attribute
 * values are dropped (see AttributeValue).
 */
import { checkAttributeCount, DEFAULT_DECODE_LIMITS, type DecodeLimits } from './limits.ts';
import { DecodeError } from './span.ts';
import type { AttributeValue, Attributes, DecodedBatch, DecodedSpan, RejectedSpan } from './span.ts';
import { checkId, checkTimes, isZeroSpanId, setAttribute } from './validate.ts';

type JsonObject = { readonly [key: string]: unknown };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A field under its lowerCamelCase JSON name, else under its proto (snake_case) name. */
function field(object: JsonObject, camel: string, snake: string): unknown {
  const value = object[camel];
  return value === undefined ? object[snake] : value;
}

const SPAN_KINDS: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Readonly<Record<string, number>> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

/** Why a span is rejected: thrown inside the span walk, caught per span. */
class SpanProblem extends Error {}

const LOWER_HEX = /^[0-9a-f]*$/;
const ANY_HEX = /^[0-9a-fA-F]*$/;

/** An id as lower-case hex; '' when absent. Throws SpanProblem when it is not `bytes` bytes of hex. */
function hexId(value: unknown, name: string, bytes: 8 | 16): string {
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string') throw new SpanProblem(`${name} is not a string`);
  if (value.length !== bytes * 2) throw new SpanProblem(`${name} is ${value.length} hex digits, want ${bytes * 2}`);
  if (LOWER_HEX.test(value)) return value;
  if (ANY_HEX.test(value)) return value.toLowerCase();
  throw new SpanProblem(`${name} is not hex`);
}

function requiredId(value: unknown, name: string, bytes: 8 | 16): string {
  const id = hexId(value, name, bytes);
  const problem = checkId(name, id, bytes);
  if (problem !== undefined) throw new SpanProblem(problem);
  return id;
}

const DECIMAL_UINT64 = /^\d{1,20}$/;

/**
 * A fixed64 nanosecond time as fractional ms; 0 when absent. From a string the whole milliseconds and the
 * sub-millisecond rest are converted apart, so the result is the double nearest the exact value.
 */
function timeMs(value: unknown, name: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'string') {
    if (!DECIMAL_UINT64.test(value)) throw new SpanProblem(`${name} is not a decimal integer`);
    return value.length > 6 ? Number(value.slice(0, -6)) + Number(value.slice(-6)) / 1e6 : Number(value) / 1e6;
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value / 1e6;
  throw new SpanProblem(`${name} is not a non-negative integer`);
}

function enumValue(value: unknown, names: Readonly<Record<string, number>>, name: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && Object.hasOwn(names, value)) return names[value] as number;
  throw new SpanProblem(`${name} is not a valid enum value: ${JSON.stringify(value)}`);
}

const DECIMAL_INT64 = /^-?\d{1,20}$/;
const DOUBLE_WORDS: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity };

function intValue(value: unknown, key: string): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && DECIMAL_INT64.test(value)) return Number(value);
  throw new SpanProblem(`attribute "${key}": intValue is not an integer`);
}

function doubleValue(value: unknown, key: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const word = DOUBLE_WORDS[value];
    if (word !== undefined) return word;
    const parsed = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw new SpanProblem(`attribute "${key}": doubleValue is not a number`);
}

/** A scalar AnyValue; undefined for an empty one or one of a kind we drop (kvlist, bytes, nested array). */
function scalarValue(value: JsonObject, key: string): string | number | boolean | undefined {
  const s = field(value, 'stringValue', 'string_value');
  if (s !== undefined && s !== null) {
    if (typeof s !== 'string') throw new SpanProblem(`attribute "${key}": stringValue is not a string`);
    return s;
  }
  const b = field(value, 'boolValue', 'bool_value');
  if (b !== undefined && b !== null) {
    if (typeof b !== 'boolean') throw new SpanProblem(`attribute "${key}": boolValue is not a boolean`);
    return b;
  }
  const i = field(value, 'intValue', 'int_value');
  if (i !== undefined && i !== null) return intValue(i, key);
  const d = field(value, 'doubleValue', 'double_value');
  if (d !== undefined && d !== null) return doubleValue(d, key);
  return undefined;
}

function anyValue(value: unknown, key: string): AttributeValue | undefined {
  if (!isObject(value)) {
    if (value === undefined || value === null) return undefined;
    throw new SpanProblem(`attribute "${key}": value is not an object`);
  }
  const scalar = scalarValue(value, key);
  if (scalar !== undefined) return scalar;
  const array = field(value, 'arrayValue', 'array_value');
  if (array === undefined || array === null) return undefined;
  if (!isObject(array)) throw new SpanProblem(`attribute "${key}": arrayValue is not an object`);
  const items = array['values'];
  if (items === undefined || items === null) return [];
  if (!Array.isArray(items)) throw new SpanProblem(`attribute "${key}": arrayValue.values is not an array`);
  const out: Array<string | number | boolean> = [];
  for (const item of items) {
    if (!isObject(item)) throw new SpanProblem(`attribute "${key}": an array item is not an object`);
    const itemValue = scalarValue(item, key);
    if (itemValue !== undefined) out.push(itemValue);
  }
  return out;
}

function attributes(list: unknown, limits: DecodeLimits): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (list === undefined || list === null) return out;
  if (!Array.isArray(list)) throw new SpanProblem('attributes is not an array');
  const tooMany = checkAttributeCount(list.length, limits);
  if (tooMany !== undefined) throw new SpanProblem(tooMany);
  for (let i = 0; i < list.length; i++) {
    const kv: unknown = list[i];
    if (!isObject(kv)) throw new SpanProblem(`attributes[${i}] is not an object`);
    const key = kv['key'];
    if (typeof key !== 'string') throw new SpanProblem(`attributes[${i}].key is not a string`);
    const value = anyValue(kv['value'], key);
    if (value !== undefined) setAttribute(out, key, value);
  }
  return out;
}

function optionalString(object: JsonObject, key: string, name: string): string {
  const value = object[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new SpanProblem(`${name} is not a string`);
  return value;
}

interface SpanGroup {
  readonly scopeName: string;
  readonly scopeVersion: string;
  readonly resource: Attributes;
  readonly limits: DecodeLimits;
}

function decodeSpan(span: unknown, group: SpanGroup): DecodedSpan {
  if (!isObject(span)) throw new SpanProblem('span is not an object');
  const traceId = requiredId(field(span, 'traceId', 'trace_id'), 'trace_id', 16);
  const spanId = requiredId(field(span, 'spanId', 'span_id'), 'span_id', 8);
  const parentSpanId = hexId(field(span, 'parentSpanId', 'parent_span_id'), 'parent_span_id', 8);
  const startTimeMs = timeMs(field(span, 'startTimeUnixNano', 'start_time_unix_nano'), 'start_time_unix_nano');
  const endTimeMs = timeMs(field(span, 'endTimeUnixNano', 'end_time_unix_nano'), 'end_time_unix_nano');
  const timeProblem = checkTimes(startTimeMs, endTimeMs);
  if (timeProblem !== undefined) throw new SpanProblem(timeProblem);
  const status = span['status'];
  if (status !== undefined && status !== null && !isObject(status)) throw new SpanProblem('status is not an object');
  return {
    traceId,
    spanId,
    parentSpanId: isZeroSpanId(parentSpanId) ? '' : parentSpanId,
    name: optionalString(span, 'name', 'name'),
    kind: enumValue(span['kind'], SPAN_KINDS, 'kind'),
    startTimeMs,
    endTimeMs,
    statusCode: isObject(status) ? enumValue(status['code'], STATUS_CODES, 'status.code') : 0,
    statusMessage: isObject(status) ? optionalString(status, 'message', 'status.message') : '',
    attributes: attributes(span['attributes'], group.limits),
    scopeName: group.scopeName,
    scopeVersion: group.scopeVersion,
    resource: group.resource,
  };
}

/** A list under a field that may be absent (no items) but must otherwise be an array, or the body is unusable. */
function list(object: JsonObject, camel: string, snake: string, path: string): readonly unknown[] {
  const value = field(object, camel, snake);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new DecodeError(`${path}${camel} is not an array`);
  return value;
}

function objectAt(value: unknown, path: string): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new DecodeError(`${path} is not an object`);
  return value;
}

function stringAt(object: JsonObject | undefined, key: string, path: string): string {
  const value = object?.[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new DecodeError(`${path}.${key} is not a string`);
  return value;
}

function bodyText(body: string | Uint8Array): string {
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  // A byte order mark is not JSON, but some writers put one in front.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Decodes an OTLP ExportTraceServiceRequest in the OTLP JSON encoding. Spans that cannot be used are listed in
 * `rejected`; a body that is not JSON, or whose resource and scope structure is not the request's, throws
 * DecodeError naming the place.
 */
export function decodeJson(body: string | Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedBatch {
  let request: unknown;
  try {
    request = JSON.parse(bodyText(body));
  } catch (error) {
    throw new DecodeError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!isObject(request)) throw new DecodeError('the body is not a JSON object');
  const spans: DecodedSpan[] = [];
  const rejected: RejectedSpan[] = [];
  const resourceSpansList = list(request, 'resourceSpans', 'resource_spans', '');
  for (let r = 0; r < resourceSpansList.length; r++) {
    const rsPath = `resourceSpans[${r}]`;
    const resourceSpans = objectAt(resourceSpansList[r], rsPath) ?? {};
    const resourceObject = objectAt(resourceSpans['resource'], `${rsPath}.resource`);
    let resource: Attributes;
    try {
      resource = Object.freeze(attributes(resourceObject?.['attributes'], limits));
    } catch (error) {
      if (error instanceof SpanProblem) throw new DecodeError(`${rsPath}.resource: ${error.message}`);
      throw error;
    }
    const scopeSpansList = list(resourceSpans, 'scopeSpans', 'scope_spans', `${rsPath}.`);
    for (let s = 0; s < scopeSpansList.length; s++) {
      const ssPath = `${rsPath}.scopeSpans[${s}]`;
      const scopeSpans = objectAt(scopeSpansList[s], ssPath) ?? {};
      const scope = objectAt(scopeSpans['scope'], `${ssPath}.scope`);
      const group: SpanGroup = {
        scopeName: stringAt(scope, 'name', `${ssPath}.scope`),
        scopeVersion: stringAt(scope, 'version', `${ssPath}.scope`),
        resource,
        limits,
      };
      const spanList = list(scopeSpans, 'spans', 'spans', `${ssPath}.`);
      for (let i = 0; i < spanList.length; i++) {
        try {
          spans.push(decodeSpan(spanList[i], group));
        } catch (error) {
          if (!(error instanceof SpanProblem)) throw error;
          rejected.push({ reason: `${ssPath}.spans[${i}]: ${error.message}` });
        }
      }
    }
  }
  return { spans, rejected };
}
