import { inputTierOf } from '../../pricing/long-context.ts';
import type { PricedUsage } from '../../pricing/priced-usage.ts';
import { canonicalProperties, ledgerUserId } from './aggregate.ts';
import type { SeriesTuple } from './ledger-protocol.ts';

/**
 * Past this many known series the table starts over; it only saves work (and bounds memory in a flood of users).
 * Starting over sends every series' line again and makes the writer learn it again: a table smaller than the
 * series an app keeps busy (1,000 users of the benchmark use ~35,000) would start over every few seconds.
 */
export const MAX_KNOWN_SERIES = 65_536;
/** Slots of the open-addressing table: a power of two, at most half full. */
const TABLE_SLOTS = 131_072;
/**
 * Each slot's numbers side by side, so that a lookup reads one cache line, not one per array (with separate arrays
 * of a megabyte each, the misses cost ~0.5 us per call): both hash lanes, the known series' index + 1 (0: empty
 * slot), the group that last numbered it and its index there. 8 numbers (32 bytes) keep slots from straddling lines.
 */
const SLOT_FIELDS = 8;
const LANE_A = 0;
const LANE_B = 1;
const KNOWN = 2;
const GROUP = 3;
const INDEX_IN_GROUP = 4;

/** A series as the main thread knows it across groups. */
export interface KnownSeries {
  readonly userId: string;
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly isError: boolean;
  readonly propertiesJson: string;
  /** The web search tier the calls said they used ('' for none), and their input tier (inputTierOf). */
  readonly searchTier: string;
  readonly inputTier: number;
  /** Unique for the ledger's life: the writer keys its sums by it. */
  readonly number: number;
  /** Whether the writer has its line (the JSON of its SeriesTuple, built when sent: not kept, to save memory). */
  lineSent: boolean;
}

/** One group's series, by index. */
export interface GroupSeries {
  /** GroupRequest.series */
  readonly text: string;
  /** GroupRequest.seriesNumbers */
  readonly numbers: Float64Array;
  /** GroupRequest.seriesReset */
  readonly reset: boolean;
  readonly series: readonly KnownSeries[];
}

/**
 * Numbers the distinct series of each group commit (user, provider, model, operation, status, property set).
 *
 * This runs for every call on the thread that decodes and answers exports, so it touches as little memory as it
 * can: a call's fields are hashed into two independent 32-bit lanes (the properties pair by pair and added up, so
 * that their order does not matter), and the 64-bit pair is looked up in an open-addressing table of typed arrays,
 * which also holds each known series' index in the current group. A series object is read only when a group first
 * meets it. No key text is built per call, and a series' line is built and sent once. Two different series would
 * share a number only if both 32-bit lanes agreed: about 1 in 10^10 for a full table, against ids that are
 * compared nowhere else (the dedup keys of the ledger rest on a 53-bit hash the same way).
 */
export class GroupSeriesNumbering {
  private readonly table = new Int32Array(TABLE_SLOTS * SLOT_FIELDS);
  private known: KnownSeries[] = [];
  private nextNumber = 1;
  private reset = false;
  private group = 0;
  private series: KnownSeries[] = [];

  /** Starts numbering a new group. */
  begin(): void {
    if (this.group === 0x7fffffff) {
      // The table holds 32-bit group numbers: start them over rather than wrap.
      this.group = 0;
      for (let at = GROUP; at < this.table.length; at += SLOT_FIELDS) this.table[at] = 0;
    }
    this.group++;
    this.series = [];
  }

  /**
   * Forgets every known series, so that the next group sends all its lines and tells the writer to forget the ones
   * it had: after a group that may not have reached the writer, whose lines count as sent.
   */
  forgetAll(): void {
    this.startOver();
  }

  indexOf(record: PricedUsage): number {
    const userId = ledgerUserId(record);
    const { provider, model, operation, isError, properties } = record;
    const searchTier = record.searchContextSize ?? '';
    const inputTier = inputTierOf(record.tokens);
    const lanes = LANES;
    lanes[0] = isError ? 0x2c1b3c6d : 0x297a2d39;
    lanes[1] = isError ? 0x7f4a7c15 : 0x27d4eb2f;
    hashInto(lanes, userId);
    hashInto(lanes, provider);
    hashInto(lanes, model);
    hashInto(lanes, operation);
    hashInto(lanes, searchTier);
    lanes[0] = Math.imul(lanes[0]! ^ inputTier, 0x01000193);
    lanes[1] = Math.imul(lanes[1]! ^ inputTier, 0x5bd1e995);
    let propertiesA = 0;
    let propertiesB = 0;
    for (const name in properties) {
      PAIR[0] = 0x3c6ef372;
      PAIR[1] = 0x1b873593;
      hashInto(PAIR, name);
      hashInto(PAIR, properties[name]!);
      propertiesA = (propertiesA + PAIR[0]!) | 0;
      propertiesB = (propertiesB + PAIR[1]!) | 0;
    }
    const a = Math.imul(lanes[0]! ^ propertiesA, 0x01000193);
    const b = Math.imul(lanes[1]! ^ propertiesB, 0x5bd1e995);
    const table = this.table;
    let at = (a & (TABLE_SLOTS - 1)) * SLOT_FIELDS;
    let known = 0;
    while ((known = table[at + KNOWN]!) !== 0 && (table[at + LANE_A] !== a || table[at + LANE_B] !== b)) {
      at = (at + SLOT_FIELDS) & (TABLE_SLOTS * SLOT_FIELDS - 1);
    }
    if (known === 0) {
      if (this.known.length >= MAX_KNOWN_SERIES) {
        this.startOver();
        at = (a & (TABLE_SLOTS - 1)) * SLOT_FIELDS;
      }
      const propertiesJson = canonicalProperties(properties);
      this.known.push({
        userId, provider, model, operation, isError, propertiesJson, searchTier, inputTier, number: this.nextNumber++, lineSent: false,
      });
      known = this.known.length;
      table[at + LANE_A] = a;
      table[at + LANE_B] = b;
      table[at + KNOWN] = known;
      table[at + GROUP] = 0;
    }
    if (table[at + GROUP] !== this.group) {
      table[at + GROUP] = this.group;
      table[at + INDEX_IN_GROUP] = this.series.length;
      this.series.push(this.known[known - 1]!);
    }
    return table[at + INDEX_IN_GROUP]!;
  }

  /**
   * The series of the group begun last; their lines count as sent. After starting over, the group sends every one of
   * its lines, since the writer forgets all it was sent before this group.
   */
  end(): GroupSeries {
    const numbers = new Float64Array(this.series.length);
    const lines: string[] = [];
    const reset = this.reset;
    this.series.forEach((series, index) => {
      numbers[index] = series.number;
      lines.push(series.lineSent && !reset ? '' : lineOf(series));
      series.lineSent = true;
    });
    this.reset = false;
    return { text: lines.join('\n'), numbers, reset, series: this.series };
  }

  /**
   * Forgets the known series (the table is full). The group being numbered keeps its list: a series it has met keeps
   * its index; met again, it gets a new number and a second index with the same line, which the writer and the seeds
   * add up by line.
   */
  private startOver(): void {
    this.table.fill(0);
    this.known = [];
    this.reset = true;
  }
}

function lineOf(series: KnownSeries): string {
  const tuple: SeriesTuple = [
    series.userId, series.provider, series.model, series.operation, series.isError, series.propertiesJson, series.searchTier, series.inputTier,
  ];
  return JSON.stringify(tuple);
}

const LANES = new Int32Array(2);
const PAIR = new Int32Array(2);

/**
 * Continues two independent 32-bit lanes (FNV-1a, and a multiply-xorshift) over the text's UTF-16 code units and
 * then its length, so that where one field ends and the next begins counts.
 */
function hashInto(lanes: Int32Array, text: string): void {
  let a = lanes[0]!;
  let b = lanes[1]!;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
    b ^= b >>> 15;
  }
  lanes[0] = Math.imul(a ^ text.length, 0x01000193);
  lanes[1] = Math.imul(b ^ text.length, 0x5bd1e995) ^ (b >>> 13);
}
