/**
 * The decode-only floor: how fast this process turns OTLP export bodies into DecodedSpans, protobuf and JSON,
 * from the bytes the official serializers write. Whatever the processor does beyond decoding shows as the gap
 * between this and its ingest rate (bench/run.ts).
 *
 *   node bench/decode.ts            8 batches of 512 spans, 1,000 users, 7 rounds
 *   node bench/decode.ts --quick    a smoke run
 *
 * Rounds alternate the encodings so that both see the same machine noise; figures are medians over rounds.
 */
import { fileURLToPath } from 'node:url';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { decodeJson } from '../src/decode/json.ts';
import { decodeProtobuf } from '../src/decode/protobuf.ts';
import type { DecodedBatch } from '../src/decode/span.ts';
import { DEFAULT_BATCH_SPANS, makeBatch, serializeJson, serializeProtobuf } from './fixtures.ts';

export interface DecodeMeasurement {
  readonly encoding: 'protobuf' | 'json';
  /** Median over rounds. */
  readonly microsPerSpan: number;
  readonly spansPerSecond: number;
  readonly bytesPerSpan: number;
  /** µs per span of every round, in the order run. */
  readonly rounds: readonly number[];
}

export interface MeasureOptions {
  readonly rounds?: number;
  /** Each round decodes the bodies over and over for at least this long. */
  readonly minRoundMs?: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Decodes every body `passes` times; returns the spans decoded, so the work cannot be optimized away. */
function decodeAll(bodies: readonly Uint8Array[], decode: (body: Uint8Array) => DecodedBatch, passes: number): number {
  let spans = 0;
  for (let pass = 0; pass < passes; pass++) {
    for (const body of bodies) spans += decode(body).spans.length;
  }
  return spans;
}

/** µs per span of one round of at least `minRoundMs`. */
function round(bodies: readonly Uint8Array[], decode: (body: Uint8Array) => DecodedBatch, minRoundMs: number): number {
  let passes = 0;
  let spans = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    spans += decodeAll(bodies, decode, 1);
    passes++;
    elapsed = performance.now() - started;
  } while (elapsed < minRoundMs);
  return (elapsed * 1000) / spans;
}

/**
 * Measures decode throughput for the given span batches in both encodings. Call it in the process that will
 * report the figures; it takes about rounds x 2 x minRoundMs plus a warm-up.
 */
export function measureDecode(batches: readonly ReadableSpan[][], options: MeasureOptions = {}): DecodeMeasurement[] {
  const rounds = options.rounds ?? 7;
  const minRoundMs = options.minRoundMs ?? 250;
  const spanCount = batches.reduce((sum, batch) => sum + batch.length, 0);
  if (spanCount === 0) throw new RangeError('measureDecode: the batches hold no spans');
  const encodings = [
    { encoding: 'protobuf' as const, bodies: batches.map(serializeProtobuf), decode: decodeProtobuf },
    { encoding: 'json' as const, bodies: batches.map(serializeJson), decode: decodeJson },
  ];
  for (const { bodies, decode } of encodings) {
    const decoded = decodeAll(bodies, decode, 1);
    if (decoded !== spanCount) throw new Error(`measureDecode: decoded ${decoded} of ${spanCount} spans`);
    round(bodies, decode, minRoundMs); // warm-up: JIT tiers, intern cache
  }
  const times = encodings.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    encodings.forEach(({ bodies, decode }, i) => times[i]?.push(round(bodies, decode, minRoundMs)));
  }
  return encodings.map(({ encoding, bodies }, i) => {
    const micros = median(times[i] ?? []);
    return {
      encoding,
      microsPerSpan: micros,
      spansPerSecond: 1e6 / micros,
      bytesPerSpan: bodies.reduce((sum, body) => sum + body.length, 0) / spanCount,
      rounds: times[i] ?? [],
    };
  });
}

export function formatDecodeTable(measurements: readonly DecodeMeasurement[]): string {
  const lines = [
    '| encoding | µs per span (median) | spans/s | bytes per span | rounds (µs per span) |',
    '|---|---|---|---|---|',
  ];
  for (const m of measurements) {
    lines.push(`| ${m.encoding} | ${m.microsPerSpan.toFixed(2)} | ${Math.round(m.spansPerSecond).toLocaleString('en-US')} | ${Math.round(m.bytesPerSpan)} | ${m.rounds.map((r) => r.toFixed(2)).join(' ')} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const batchCount = quick ? 2 : 8;
  const batches = Array.from({ length: batchCount }, (_, i) => makeBatch({ spans: DEFAULT_BATCH_SPANS, users: 1000, seed: i + 1 }));
  console.log(`decode floor: ${batchCount} batches of ${DEFAULT_BATCH_SPANS} spans (1,000 users), Node ${process.version}`);
  console.log(formatDecodeTable(measureDecode(batches, quick ? { rounds: 3, minRoundMs: 50 } : {})));
}
