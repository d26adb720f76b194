/**
 * Interning of short strings at the byte level, before a string is made: an export repeats the same attribute
 * keys on every span and the same few values (models, providers, plans, scope names) on many, and decoding each
 * copy afresh is most of the cost of reading a span. A hit returns the string made the first time, which is also
 * already internalized as a property key.
 *
 * A direct-mapped table: the slot comes from a hash of the bytes, and a hit is confirmed by comparing the bytes.
 * A string that occurs once (a response id) must not push out one that occurs on every span, so an occupied slot
 * is only taken over by a string seen at that slot twice in a row.
 */

const SLOTS = 4096;
const SLOT_MASK = SLOTS - 1;
/** Longer strings are rarely repeated and costlier to compare; they are decoded every time. */
export const MAX_INTERNED_BYTES = 48;

export class StringCache {
  readonly #strings: Array<string | undefined> = new Array<string | undefined>(SLOTS).fill(undefined);
  readonly #lengths = new Uint8Array(SLOTS);
  readonly #bytes = new Uint8Array(SLOTS * MAX_INTERNED_BYTES);
  /** Hash of the last string that missed at each slot, for the seen-twice rule. */
  readonly #candidates = new Int32Array(SLOTS);
  readonly #decode: (buffer: Uint8Array, start: number, end: number) => string;

  /** `decode` makes a string from bytes the first time they are seen (and every time past the length limit). */
  constructor(decode: (buffer: Uint8Array, start: number, end: number) => string) {
    this.#decode = decode;
  }

  get(buffer: Uint8Array, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_INTERNED_BYTES || length === 0) return length === 0 ? '' : this.#decode(buffer, start, end);
    // FNV-1a over the bytes.
    let hash = 0x811c9dc5;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ (buffer[i] as number), 0x01000193);
    const slot = (hash ^ (hash >>> 15)) & SLOT_MASK;
    const bytes = this.#bytes;
    const base = slot * MAX_INTERNED_BYTES;
    if (this.#lengths[slot] === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (bytes[base + i] !== buffer[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#strings[slot] as string;
    }
    const value = this.#decode(buffer, start, end);
    if (this.#lengths[slot] === 0 || this.#candidates[slot] === hash) {
      this.#strings[slot] = value;
      this.#lengths[slot] = length;
      for (let i = 0; i < length; i++) bytes[base + i] = buffer[start + i] as number;
    } else {
      this.#candidates[slot] = hash;
    }
    return value;
  }
}
