/**
 * Every setting of the processor, read once from the environment at start-up and validated. Nothing else in the
 * processor reads process.env: the parsed Config is passed down.
 */

import { MAX_LABEL_TEXT_LENGTH } from './sources/bounded-text.ts';
import type { UserMetricsSet } from './sinks/metrics/usage-metrics.ts';
import { DEFAULT_PROPERTY_PREFIXES, DEFAULT_USER_KEYS } from './sources/identity.ts';
import type { CallLimits } from './sources/limits.ts';
import { DEFAULT_MAX_ATTRIBUTES_PER_SPAN } from './decode/limits.ts';
import { checkLedgerUrl } from './sinks/ledger/postgres/pg-url.ts';

export type UserIdLabelMode = 'raw' | 'hash';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Largest accepted export body, compressed or not (after gunzip too). */
  readonly maxBodyBytes: number;
  /** Custom properties that become labels on every per-user series, in this order. */
  readonly propertyLabels: readonly string[];
  /** Users with live series at once; past it new users fold into the overflow user. */
  readonly maxUsers: number;
  /** A user idle this long has their series removed from /metrics. */
  readonly userTtlSeconds: number;
  /** 'light': per-user series carry user_id and the properties only; 'full': provider and model too. */
  readonly userMetrics: UserMetricsSet;
  readonly userIdLabel: UserIdLabelMode;
  readonly userIdHashSalt: string;
  /** Path of a JSON file with the operator's own prices, or '' for none. */
  readonly pricesFile: string;
  /** Monthly price of each plan in USD, exported so PromQL can compute profit per user. */
  readonly planPricesUsd: Readonly<Record<string, number>>;
  readonly logLevel: LogLevel;
  /** Span attribute keys read as the end user, first present wins. */
  readonly userAttributeKeys: readonly string[];
  /** Span attribute key prefixes whose rest names a custom property. */
  readonly propertyAttributePrefixes: readonly string[];
  /** How long a call without a user waits for an ancestor span that names one. */
  readonly ancestorWaitSeconds: number;
  /** Spans remembered for attribution plus calls waiting, at most. */
  readonly ancestorMaxSpans: number;
  /** Directory of the usage ledger (ledger.sqlite). */
  readonly dataDir: string;
  /** 'off' only for benchmarks: no durable totals, no dedup, no /api. */
  readonly ledger: 'sqlite' | 'off';
  /**
   * postgres://user:password@host:port/database of a PostgreSQL ledger that several processors share, or '' for the
   * SQLite ledger in dataDir. Holds a password: never logged (displayLedgerUrl masks it).
   */
  readonly ledgerUrl: string;
  /** A span seen once is recognised as a retry for at least this long. */
  readonly dedupWindowHours: number;
  /** 'normal' survives kill -9; 'full' also survives power loss, with an fsync per group commit. */
  readonly ledgerSync: 'normal' | 'full';
  /** Usage by the hour older than this many days is dropped, daily totals kept (src/sinks/ledger/retention.ts); 0: kept. */
  readonly hourlyDetailDays: number;
  /** Bearer token required on /api/* and /metrics, or '' for none. */
  readonly apiToken: string;
  /** Ceilings one call must keep to, or its span is rejected alone (src/sources/limits.ts). */
  readonly callLimits: CallLimits;
  /** 'safe': CSV text cells that a spreadsheet would run as a formula get a leading single quote; 'raw': as stored. */
  readonly csvCells: 'safe' | 'raw';
  /** Bearer tokens of which /v1/traces requires one (several while tokens rotate); empty: ingest is open. */
  readonly ingestTokens: readonly string[];
  /** Export body bytes being received at once across all connections; a request that would pass it gets 503. */
  readonly maxReceivingBytes: number;
  /** An export whose body has not arrived whole this long after its headers gets 408. */
  readonly bodyTimeoutSeconds: number;
  /** On SIGTERM, how long requests in flight may take to finish before their sockets are closed. */
  readonly shutdownGraceSeconds: number;
  /** A span (or resource) with more attributes is rejected alone, before its attributes are read. */
  readonly maxAttributesPerSpan: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The OpenTelemetry Collector's OTLP/HTTP receiver accepts bodies up to 20 MiB by default; so do we. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;

/** Largest bodies being received at once, by default: 80 MiB of buffers at the default MAX_BODY_BYTES. */
export const DEFAULT_RECEIVING_BODIES = 4;

/** Labels the per-user families already use, plus the ones Prometheus gives meaning to. */
export const RESERVED_LABELS: ReadonlySet<string> = new Set([
  'user_id', 'provider', 'model', 'operation', 'status', 'type',
  'job', 'instance', 'le', 'quantile',
]);

/** The widest any time ceiling may be set: beyond it a ceiling stops protecting the sums. */
const CENTURY_SECONDS = 100 * 366 * 24 * 3600;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** Parses and validates the environment; throws a ConfigError listing every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = <T>(name: string, fallback: T, parse: (raw: string) => T): T => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    try {
      return parse(raw.trim());
    } catch (error) {
      problems.push(`${name}=${JSON.stringify(raw)}: ${(error as Error).message}`);
      return fallback;
    }
  };

  const userIdLabel = read<UserIdLabelMode>('USER_ID_LABEL', 'raw', oneOf(['raw', 'hash']));
  const userIdHashSalt = env.USER_ID_HASH_SALT ?? '';
  if (userIdLabel === 'hash' && userIdHashSalt.length < 16) {
    problems.push('USER_ID_HASH_SALT: must be set, at least 16 characters, when USER_ID_LABEL=hash');
  }

  // Not through read(): its message quotes the value, and a token must not reach the logs.
  const apiToken = (env.API_TOKEN ?? '').trim();
  if (apiToken !== '') {
    try {
      parseApiToken(apiToken);
    } catch (error) {
      problems.push(`API_TOKEN: ${(error as Error).message} (value not shown)`);
    }
  }

  // Same care as API_TOKEN; a problem names the token's place in the list, never its value.
  const ingestTokens = (env.INGEST_TOKEN ?? '').split(',').map((token) => token.trim()).filter((token) => token !== '');
  ingestTokens.forEach((token, index) => {
    try {
      parseApiToken(token);
    } catch (error) {
      problems.push(`INGEST_TOKEN: token ${index + 1} of ${ingestTokens.length} ${(error as Error).message} (value not shown)`);
    }
  });

  // Same care as the tokens: the URL carries the database password, so a problem never quotes it.
  const ledgerUrl = (env.LEDGER_URL ?? '').trim();
  if (ledgerUrl !== '') {
    try {
      checkLedgerUrl(ledgerUrl);
    } catch (error) {
      problems.push(`LEDGER_URL: ${(error as Error).message} (value not shown)`);
    }
    if ((env.LEDGER ?? '').trim() === 'off') problems.push('LEDGER=off and LEDGER_URL are both set: choose one');
  }

  const maxBodyBytes = read('MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, integer(1024, 1024 ** 3));
  const config: Config = {
    host: read('HOST', '127.0.0.1', (raw) => raw),
    port: read('PORT', 4318, integer(0, 65535)),
    maxBodyBytes,
    // Set but empty means no property labels at all, unlike the other settings where empty means the default.
    propertyLabels: env.PROPERTY_LABELS !== undefined && env.PROPERTY_LABELS.trim() === ''
      ? []
      : read('PROPERTY_LABELS', ['plan', 'feature'], parsePropertyLabels),
    maxUsers: read('MAX_USERS', 10_000, integer(1, 10_000_000)),
    userTtlSeconds: read('USER_TTL_SECONDS', 3600, integer(1, 365 * 24 * 3600)),
    userMetrics: read<UserMetricsSet>('USER_METRICS', 'light', oneOf(['light', 'full'])),
    userIdLabel,
    userIdHashSalt,
    pricesFile: read('PRICES_FILE', '', (raw) => raw),
    planPricesUsd: read('PLAN_PRICES_USD', {}, parsePlanPrices),
    logLevel: read<LogLevel>('LOG_LEVEL', 'info', oneOf(['debug', 'info', 'warn', 'error'])),
    userAttributeKeys: read('USER_ATTRIBUTE_KEYS', DEFAULT_USER_KEYS, attributeKeyList),
    propertyAttributePrefixes: read('PROPERTY_ATTRIBUTE_PREFIXES', DEFAULT_PROPERTY_PREFIXES, attributeKeyList),
    ancestorWaitSeconds: read('ANCESTOR_WAIT_SECONDS', 30, integer(0, 3600)),
    ancestorMaxSpans: read('ANCESTOR_MAX_SPANS', 50_000, integer(1, 10_000_000)),
    dataDir: read('DATA_DIR', './data', (raw) => raw),
    ledger: read<'sqlite' | 'off'>('LEDGER', 'sqlite', oneOf(['sqlite', 'off'])),
    ledgerUrl,
    dedupWindowHours: read('DEDUP_WINDOW_HOURS', 24, integer(1, 24 * 31)),
    ledgerSync: read<'normal' | 'full'>('LEDGER_SYNC', 'full', oneOf(['normal', 'full'])),
    hourlyDetailDays: read('HOURLY_DETAIL_DAYS', 0, integer(0, 36_600)),
    apiToken,
    callLimits: {
      maxTokensPerCall: read('MAX_TOKENS_PER_CALL', 100_000_000, integer(1, Number.MAX_SAFE_INTEGER)),
      maxCallSeconds: read('MAX_CALL_SECONDS', 86_400, integer(1, CENTURY_SECONDS)),
      maxSpanAgeMs: read('MAX_SPAN_AGE_HOURS', 24 * 31, integer(1, CENTURY_SECONDS / 3600)) * 3_600_000,
      maxClockSkewMs: read('MAX_CLOCK_SKEW_SECONDS', 600, integer(0, CENTURY_SECONDS)) * 1000,
    },
    csvCells: read<'safe' | 'raw'>('CSV_CELLS', 'safe', oneOf(['safe', 'raw'])),
    ingestTokens,
    maxReceivingBytes: read('MAX_RECEIVING_BYTES', DEFAULT_RECEIVING_BODIES * maxBodyBytes, integer(1024, 16 * 1024 ** 3)),
    bodyTimeoutSeconds: read('BODY_TIMEOUT_SECONDS', 30, integer(1, 3600)),
    shutdownGraceSeconds: read('SHUTDOWN_GRACE_SECONDS', 5, integer(0, 300)),
    maxAttributesPerSpan: read('MAX_ATTRIBUTES_PER_SPAN', DEFAULT_MAX_ATTRIBUTES_PER_SPAN, integer(16, 1_000_000)),
  };
  if (config.maxReceivingBytes < config.maxBodyBytes) {
    problems.push(`MAX_RECEIVING_BYTES: must be at least MAX_BODY_BYTES (${config.maxBodyBytes}), or no export of the largest size could ever be received`);
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return config;
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw new Error('not a whole number');
    const value = Number(raw);
    if (value < min || value > max) throw new Error(`must be between ${min} and ${max}`);
    return value;
  };
}

function oneOf<T extends string>(allowed: readonly T[]) {
  return (raw: string): T => {
    if (!(allowed as readonly string[]).includes(raw)) throw new Error(`must be one of ${allowed.join(', ')}`);
    return raw as T;
  };
}

/** A bearer token: long enough not to be guessed, and only characters a header carries unchanged. */
export function parseApiToken(raw: string): string {
  if (raw.length < 16) throw new Error('must be at least 16 characters');
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(raw)) throw new Error('may contain only letters, digits and . _ ~ + / = -');
  return raw;
}

/** `user.id, app.customer` -> ['user.id', 'app.customer']: attribute keys are case-sensitive and kept as written. */
export function attributeKeyList(raw: string): string[] {
  const keys = raw.split(',').map((key) => key.trim()).filter((key) => key !== '');
  if (keys.length === 0) throw new Error('lists no attribute key');
  for (const key of keys) {
    if (/\s/.test(key)) throw new Error(`"${key}" contains white space`);
    if (keys.indexOf(key) !== keys.lastIndexOf(key)) throw new Error(`"${key}" is listed twice`);
  }
  return keys;
}

/** `plan,feature` -> ['plan', 'feature']; property names are matched lower-cased, as the instrumentation writes them. */
export function parsePropertyLabels(raw: string): string[] {
  const names = raw.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const seen = new Set<string>();
  for (const name of names) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`"${name}" is not a valid Prometheus label name`);
    if (name.length > MAX_LABEL_TEXT_LENGTH) throw new Error(`"${name.slice(0, 32)}..." is longer than ${MAX_LABEL_TEXT_LENGTH} characters`);
    if (RESERVED_LABELS.has(name)) throw new Error(`"${name}" clashes with a label the metrics already use`);
    if (seen.has(name)) throw new Error(`"${name}" is listed twice`);
    seen.add(name);
  }
  return names;
}

/** `free=0,pro=20,premium=49.5` -> { free: 0, pro: 20, premium: 49.5 } */
export function parsePlanPrices(raw: string): Record<string, number> {
  const prices: Record<string, number> = {};
  for (const entry of raw.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const match = /^([^=]+)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!match) throw new Error(`"${entry}" is not plan=monthlyPriceUsd`);
    // Defined rather than assigned, so that a plan named `__proto__` is a plan like any other.
    Object.defineProperty(prices, match[1]!.trim(), { value: Number(match[2]), enumerable: true, writable: true, configurable: true });
  }
  return prices;
}
