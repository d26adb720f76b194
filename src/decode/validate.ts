/** Checks and helpers shared by the protobuf and JSON decoders. */
import type { AttributeValue } from './span.ts';

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * Why an id (already lower-case hex) cannot be used, or undefined when it can. The spec calls an id of the wrong
 * length or of all zeros invalid.
 */
export function checkId(field: string, hex: string, bytes: 8 | 16): string | undefined {
  if (hex.length === bytes * 2) {
    return hex === (bytes === 16 ? ZERO_TRACE_ID : ZERO_SPAN_ID) ? `${field} is all zeros` : undefined;
  }
  if (hex.length === 0) return `${field} is missing`;
  return `${field} is ${hex.length / 2} bytes, want ${bytes}`;
}

/** Why a span's times cannot be used, or undefined. Zero is what an absent fixed64 decodes to. */
export function checkTimes(startNanos: number, endNanos: number): string | undefined {
  if (startNanos === 0) return 'start_time_unix_nano is missing';
  if (endNanos === 0) return 'end_time_unix_nano is missing';
  if (endNanos < startNanos) return 'end_time_unix_nano is before start_time_unix_nano';
  return undefined;
}

/** An all-zero parent id is what some emitters send for "no parent". */
export function isZeroSpanId(hex: string): boolean {
  return hex === ZERO_SPAN_ID;
}

/**
 * Sets one attribute on a plain object. `__proto__` would otherwise replace the object's prototype (or be
 * ignored) instead of becoming a key.
 */
export function setAttribute(target: Record<string, AttributeValue>, key: string, value: AttributeValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}
