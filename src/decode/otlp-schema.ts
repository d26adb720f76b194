/**
 * The parts of the OTLP trace protocol the processor reads, as .proto text taken from opentelemetry-proto
 * (common/v1/common.proto, resource/v1/resource.proto, trace/v1/trace.proto,
 * collector/trace/v1/trace_service.proto) and parsed once at load, so the schema ships inside the compiled JS.
 *
 * Field numbers and wire types are the spec's; fields the processor never reads (trace_state, flags, events,
 * links, dropped counts, schema urls, entity refs, scope attributes) are left out and skipped by the decoder as
 * unknown fields. Two deliberate differences from the spec text, neither visible on the wire:
 * - AnyValue's members are proto3 `optional` fields instead of a `oneof`. A oneof is a presence rule, not a wire
 *   format, and protobufjs enforces it with a setter that deletes every sibling member for each value decoded,
 *   which cost about 2 µs per span (40% of decoding). With `optional` every member still has presence (a false
 *   bool or a zero int is told apart from "no value"), and the decoder picks one member in a fixed order.
 * - AnyValue's kvlist_value and bytes_value are left out: the processor flattens attributes to scalars and scalar
 *   arrays (see AttributeValue in span.ts), so such values are dropped like any unknown field.
 */
import protobuf from 'protobufjs';

const COMMON_PROTO = `
syntax = "proto3";
package opentelemetry.proto.common.v1;

message AnyValue {
  optional string string_value = 1;
  optional bool bool_value = 2;
  optional int64 int_value = 3;
  optional double double_value = 4;
  optional ArrayValue array_value = 5;
}

message ArrayValue {
  repeated AnyValue values = 1;
}

message KeyValue {
  string key = 1;
  AnyValue value = 2;
}

message InstrumentationScope {
  string name = 1;
  string version = 2;
}
`;

const RESOURCE_PROTO = `
syntax = "proto3";
package opentelemetry.proto.resource.v1;

message Resource {
  repeated opentelemetry.proto.common.v1.KeyValue attributes = 1;
}
`;

const TRACE_PROTO = `
syntax = "proto3";
package opentelemetry.proto.trace.v1;

message ResourceSpans {
  opentelemetry.proto.resource.v1.Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
}

message ScopeSpans {
  opentelemetry.proto.common.v1.InstrumentationScope scope = 1;
  repeated Span spans = 2;
}

message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;

  enum SpanKind {
    SPAN_KIND_UNSPECIFIED = 0;
    SPAN_KIND_INTERNAL = 1;
    SPAN_KIND_SERVER = 2;
    SPAN_KIND_CLIENT = 3;
    SPAN_KIND_PRODUCER = 4;
    SPAN_KIND_CONSUMER = 5;
  }
  SpanKind kind = 6;

  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated opentelemetry.proto.common.v1.KeyValue attributes = 9;
  Status status = 15;
}

message Status {
  reserved 1;
  string message = 2;

  enum StatusCode {
    STATUS_CODE_UNSET = 0;
    STATUS_CODE_OK = 1;
    STATUS_CODE_ERROR = 2;
  }
  StatusCode code = 3;
}
`;

const TRACE_SERVICE_PROTO = `
syntax = "proto3";
package opentelemetry.proto.collector.trace.v1;

message ExportTraceServiceRequest {
  repeated opentelemetry.proto.trace.v1.ResourceSpans resource_spans = 1;
}

message ExportTraceServiceResponse {
  ExportTracePartialSuccess partial_success = 1;
}

message ExportTracePartialSuccess {
  int64 rejected_spans = 1;
  string error_message = 2;
}
`;

/**
 * google.rpc.Status, the body OTLP/HTTP requires on every 4xx and 5xx answer, with the BadRequest detail the spec
 * recommends for 400 (googleapis google/rpc/status.proto, error_details.proto; google/protobuf/any.proto).
 */
const ANY_PROTO = `
syntax = "proto3";
package google.protobuf;

message Any {
  string type_url = 1;
  bytes value = 2;
}
`;

const RPC_PROTO = `
syntax = "proto3";
package google.rpc;

message Status {
  int32 code = 1;
  string message = 2;
  repeated google.protobuf.Any details = 3;
}

message BadRequest {
  message FieldViolation {
    string field = 1;
    string description = 2;
  }
  repeated FieldViolation field_violations = 1;
}
`;

function buildRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const text of [COMMON_PROTO, RESOURCE_PROTO, TRACE_PROTO, TRACE_SERVICE_PROTO, ANY_PROTO, RPC_PROTO]) {
    protobuf.parse(text, root);
  }
  root.resolveAll();
  return root;
}

export const otlpRoot: protobuf.Root = buildRoot();

export const ExportTraceServiceRequest: protobuf.Type =
  otlpRoot.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
export const ExportTraceServiceResponse: protobuf.Type =
  otlpRoot.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
export const RpcStatus: protobuf.Type = otlpRoot.lookupType('google.rpc.Status');
export const RpcBadRequest: protobuf.Type = otlpRoot.lookupType('google.rpc.BadRequest');

/** Type URL of a google.rpc.BadRequest packed in google.protobuf.Any. */
export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';
