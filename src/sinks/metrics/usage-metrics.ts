import { NANO_USD_PER_USD, type PricedUsage } from '../../pricing/priced-usage.ts';
import { Histogram } from './histogram.ts';
import { labelPair, userLabelValue, type UserLabelPolicy } from './label-text.ts';

/** user_id of calls whose span names no user. */
export const NO_USER_ID = '__no_user__';
/** user_id that new users fold into once MAX_USERS users have live series. */
export const OVERFLOW_USER_ID = '__overflow__';

export const DURATION_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];
export const TTFT_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];
/** Distinct provider/model pairs kept in the unpriced counter before the rest fold into model="__other__". */
const MAX_UNPRICED_SERIES = 1000;

/**
 * A user's all-time totals for one provider, model, operation and property set, as a durable store (the ledger)
 * knows them: the counters of a user whose series are (re)created start from these instead of zero.
 */
export interface UserSeriesSeed {
  readonly provider: string;
  readonly model: string;
  readonly operation: string;
  readonly properties: Readonly<Record<string, string>>;
  /** Calls, errors included. */
  readonly requests: number;
  readonly errors: number;
  readonly costNanoUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly durationSumSeconds: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

/**
 * Which labels the per-user families carry. `light`: user_id and the property labels only, about 8 series per user
 * and property set; the provider / model / operation splits are in the llm_model_* families, without user_id.
 * `full`: provider, model (and operation, on requests) on every per-user series too, about 8 per user and model.
 */
export type UserMetricsSet = 'light' | 'full';

export interface UsageMetricsOptions {
  readonly propertyLabels: readonly string[];
  /** USER_METRICS; light unless given. */
  readonly userMetrics?: UserMetricsSet;
  readonly maxUsers: number;
  readonly userTtlSeconds: number;
  readonly userLabel: UserLabelPolicy;
  readonly planPricesUsd: Readonly<Record<string, number>>;
  /** MAX_RENDERED_LABEL_TEXT unless given (tests give less). */
  readonly maxRenderedLabelText?: number;
  /** Totals to start a user's counters from when their series are created (after a restart or an eviction). */
  readonly seedUser?: (userId: string) => Iterable<UserSeriesSeed>;
  /**
   * True for a call already inside its user's seed (the ledger committed it before the seed was read, and hands it
   * to the metrics after): its per-user counters are skipped so that it is not counted twice.
   */
  readonly countedInSeed?: (usage: PricedUsage, batch: readonly PricedUsage[]) => boolean;
}

/** The label text after `ok`/`error` request lines' user_id (full: per operation; light: per property set). */
interface RequestKeys {
  readonly okKey: string;
  readonly errorKey: string;
}

/**
 * What a user's counters are kept per, with the label text their lines carry after user_id: a Shape (provider,
 * model and properties) with USER_METRICS=full, a PropertySet with light.
 */
interface UserSeriesLabels {
  /** Live users with counters under these labels. */
  users: number;
  /** `,provider="..",model="..",plan=".."...` (full) or `,plan=".."...` (light): cost and duration lines. */
  readonly perUser: string;
  /** perUser with each token type. */
  readonly tokenKeys: readonly string[];
  /** `,plan="..",feature=".."` (the configured properties, in order) */
  readonly propertyLabels: string;
}

/** A property set, shared by every provider and model it is seen with: what light per-user counters are kept per. */
interface PropertySet extends UserSeriesLabels {
  readonly kind: 'properties';
  /** The latest call of this set: one no live user has and unused for USER_TTL_SECONDS is removed. */
  lastUsedMs: number;
  readonly requests: RequestKeys;
}

/**
 * The label text shared by every call of one provider, model and property set, rendered once and reused: the
 * per-call work is then a few map lookups on strings whose hashes V8 already knows. It also holds the per-model
 * counters (llm_model_*), which count every call this process records, never seeded.
 */
interface Shape extends UserSeriesLabels {
  readonly kind: 'shape';
  /** The keys of its place in the shape tree (provider, model, property values); undefined for the OTHER shape. */
  readonly path: readonly string[] | undefined;
  /** The latest call or seed of this shape: one unused for USER_TTL_SECONDS and no live user's is removed. */
  lastUsedMs: number;
  /** What the shape's own lines (its histograms) add to a render, in characters (see MAX_RENDERED_LABEL_TEXT). */
  textCost: number;
  /** `,provider="..",model=".."` */
  readonly modelLabels: string;
  /** modelLabels + propertyLabels */
  readonly perModel: string;
  readonly operations: OperationShape[];
  timeToFirstToken: Histogram | undefined;
  /** Calls recorded under this shape by this process (seeds excluded). */
  calls: number;
  costNanoUsd: number;
  readonly tokens: number[];
}

/** One operation of a shape: its request label sets, per-model request counts and duration histogram. */
interface OperationShape extends RequestKeys {
  readonly operation: string;
  ok: number;
  error: number;
  /** `provider="..",model="..",operation="..",<properties>` for the per-model histogram. */
  readonly histogramLabels: string;
  readonly durations: Histogram;
}

/** One user's counters under one set of labels. */
interface SeriesCounters {
  readonly labels: Shape | PropertySet;
  readonly requests: Array<{ readonly keys: RequestKeys; ok: number; error: number }>;
  costNanoUsd: number;
  readonly tokens: number[];
  durationSum: number;
  durationCount: number;
}

interface UserEntry {
  /** `user_id="..."`, escaped, ready to render. */
  readonly userLabels: string;
  /** What the user's lines add to a render, in characters (see MAX_RENDERED_LABEL_TEXT). */
  textCost: number;
  lastActivityMs: number;
  readonly series: Map<Shape | PropertySet, SeriesCounters>;
  /** First and last seen per property set, keyed by the shape's propertyLabels. */
  readonly seen: Map<string, { first: number; last: number }>;
}

const TOKEN_TYPES = ['input', 'output', 'cache_read', 'cache_write'] as const;
/** Distinct provider / model / property-value combinations kept; the rest are counted under OTHER. */
export const MAX_SHAPES = 10_000;
/** Distinct operations kept per shape; further ones are counted under operation="__other__". */
export const MAX_OPERATIONS_PER_SHAPE = 16;
/**
 * Characters of label text a render may write, at most (an estimate kept as series come and go). Every label value
 * is bounded (boundedText), but the series multiply: past this, a user's new combinations are counted under the
 * OTHER shape, so /metrics always renders (V8's strings end near 512 Mi characters; at 128 Mi a scrape stays a few
 * hundred MB of memory at worst). About 100,000 per-user series of ordinary labels.
 */
export const MAX_RENDERED_LABEL_TEXT = 128 * 1024 * 1024;
/** Per line, beside the label text: the name, braces, fixed labels and the value. */
const LINE_OVERHEAD = 64;
/** Lines of one user's counters of one shape, beside its request lines: cost, four token types, duration sum and count. */
const SERIES_LINES = 7;
/** Per-model counter lines of a shape, beside its request lines: cost and four token types. */
const SHAPE_LINES = 5;
/**
 * Lines rendered between two yields to the event loop: at ~1 µs a line a slice holds the thread a few ms, so an
 * export arriving during a scrape waits that long, not the whole render.
 */
export const RENDER_SLICE_LINES = 4096;
/** Lines of a histogram per label set: its buckets, +Inf, sum and count. */
const HISTOGRAM_LINES = DURATION_BUCKETS_SECONDS.length + 3;
export const OTHER = '__other__';

/**
 * The per-user Prometheus families, kept in plain maps with pre-rendered label text. prom-client renders 10,000
 * users in ~620 ms (shared/performance-facts.md); this renders the same in a fraction of that, and keeps money as
 * integer nano-dollars so that the exposed USD never drifts from the sum of the priced calls.
 */
export class UsageMetrics {
  private readonly options: UsageMetricsOptions;
  private readonly users = new Map<string, UserEntry>();
  /** provider -> model -> property value... -> Shape */
  private readonly shapeTree = new Map<string, unknown>();
  private readonly shapes: Shape[] = [];
  private otherShape: Shape | undefined;
  /** Light mode's per-user label sets, by their property label text. */
  private readonly propertySets = new Map<string, PropertySet>();
  private readonly light: boolean;
  private readonly unpriced = new Map<string, number>();
  /** Calls whose span reported no usage, by source + model labels (bounded like `unpriced`). */
  private readonly withoutUsage = new Map<string, number>();
  private overflowRequests = 0;
  private evictedUsers = 0;
  /** Calls counted under OTHER labels because MAX_SHAPES, MAX_OPERATIONS_PER_SHAPE or the text budget was reached. */
  private otherLabelRequests = 0;
  /** What the live series add to a render, in characters (estimated, see MAX_RENDERED_LABEL_TEXT). */
  private renderedText = 0;
  private readonly maxRenderedText: number;

  constructor(options: UsageMetricsOptions) {
    this.options = options;
    this.maxRenderedText = options.maxRenderedLabelText ?? MAX_RENDERED_LABEL_TEXT;
    this.light = (options.userMetrics ?? 'light') === 'light';
  }

  get activeUsers(): number {
    return this.users.size;
  }

  /** Live provider / model / property-value combinations. */
  get activeShapes(): number {
    return this.shapes.length;
  }

  /** The estimated characters of label text a render writes now. */
  get renderedLabelText(): number {
    return this.renderedText;
  }

  /** `batch`: the array of calls this one came in (what the ledger's commit resolved with), for countedInSeed. */
  record(usage: PricedUsage, nowMs: number = Date.now(), batch: readonly PricedUsage[] = [usage]): void {
    const user = this.userEntry(usage.userId ?? NO_USER_ID, nowMs);
    user.lastActivityMs = nowMs;
    const shape = this.shapeOf(usage.provider, usage.model, usage.properties);
    shape.lastUsedMs = nowMs;
    const operation = this.operationOf(shape, usage.operation);
    let underOther = shape.path === undefined || operation.operation !== usage.operation;
    if (this.options.countedInSeed?.(usage, batch) !== true) {
      const wanted = this.userLabelsOf(shape, nowMs);
      const counters = this.countersOf(user, wanted);
      if (counters.labels !== wanted) underOther = true;
      const requests = this.requestCountersOf(user, counters, usage.operation);
      if (usage.isError) requests.error++;
      else requests.ok++;
      counters.costNanoUsd += usage.costNanoUsd;
      const { tokens } = usage;
      counters.tokens[0]! += tokens.input;
      counters.tokens[1]! += tokens.output;
      counters.tokens[2]! += tokens.cacheRead;
      counters.tokens[3]! += tokens.cacheWrite;
      counters.durationSum += usage.durationSeconds;
      counters.durationCount++;
      this.markSeen(user, counters.labels.propertyLabels, usage.endTimeMs);
    }

    if (underOther) this.otherLabelRequests++;

    shape.calls++;
    if (usage.isError) operation.error++;
    else operation.ok++;
    shape.costNanoUsd += usage.costNanoUsd;
    shape.tokens[0]! += usage.tokens.input;
    shape.tokens[1]! += usage.tokens.output;
    shape.tokens[2]! += usage.tokens.cacheRead;
    shape.tokens[3]! += usage.tokens.cacheWrite;
    operation.durations.observe(usage.durationSeconds);
    if (usage.timeToFirstTokenSeconds !== undefined) {
      if (shape.timeToFirstToken === undefined) {
        shape.timeToFirstToken = new Histogram(TTFT_BUCKETS_SECONDS);
        const cost = (TTFT_BUCKETS_SECONDS.length + 3) * (shape.perModel.length + LINE_OVERHEAD);
        shape.textCost += cost;
        this.renderedText += cost;
      }
      shape.timeToFirstToken.observe(usage.timeToFirstTokenSeconds);
    }
    if (!usage.priced) {
      const key = this.unpriced.size < MAX_UNPRICED_SERIES || this.unpriced.has(shape.modelLabels)
        ? shape.modelLabels
        : labelPair('provider', usage.provider) + labelPair('model', OTHER);
      this.unpriced.set(key, (this.unpriced.get(key) ?? 0) + 1);
    }
    if (!usage.hasUsage) {
      const source = labelPair('source', usage.source);
      const key = this.withoutUsage.size < MAX_UNPRICED_SERIES || this.withoutUsage.has(source + shape.modelLabels)
        ? source + shape.modelLabels
        : source + labelPair('provider', usage.provider) + labelPair('model', OTHER);
      this.withoutUsage.set(key, (this.withoutUsage.get(key) ?? 0) + 1);
    }
  }

  /**
   * Removes the series of users idle for longer than the TTL, then the combinations (shapes) no live user has and
   * no call used for as long, with their per-model histograms; Prometheus keeps what it already scraped.
   */
  evictIdleUsers(nowMs: number = Date.now()): number {
    const cutoff = nowMs - this.options.userTtlSeconds * 1000;
    let evicted = 0;
    for (const [userId, entry] of this.users) {
      if (entry.lastActivityMs < cutoff) {
        this.users.delete(userId);
        for (const labels of entry.series.keys()) labels.users--;
        this.renderedText -= entry.textCost;
        evicted++;
      }
    }
    this.evictedUsers += evicted;
    this.evictIdleShapes(cutoff);
    for (const [key, set] of this.propertySets) {
      if (set.users === 0 && set.lastUsedMs < cutoff) this.propertySets.delete(key);
    }
    return evicted;
  }

  private evictIdleShapes(cutoff: number): void {
    let kept = 0;
    for (const shape of this.shapes) {
      if (shape.users > 0 || shape.lastUsedMs >= cutoff) {
        this.shapes[kept++] = shape;
        continue;
      }
      this.renderedText -= shape.textCost;
      if (shape === this.otherShape) this.otherShape = undefined;
      if (shape.path !== undefined) removeFromTree(this.shapeTree, shape.path);
    }
    this.shapes.length = kept;
  }

  /** Creates the series of users that were active recently (at start-up, from the ledger), seeded by `seedUser`. */
  restoreUsers(userIds: Iterable<string>, nowMs: number = Date.now()): void {
    for (const userId of userIds) this.userEntry(userId, nowMs);
  }

  /** Appends the exposition text of every family to `out`, one line per element, in one go (tests, small sets). */
  render(out: string[]): void {
    for (const slice of this.renderSlices()) for (const line of slice) out.push(line);
  }

  /**
   * The exposition text of every family, one line per element, in slices of about `sliceLines` lines, so that the
   * caller can yield to the event loop between them: a render at 10,000 users then never holds the thread long.
   * Users and shapes are taken as they are when the render starts; counters read later in it may be a little newer,
   * as they would be in a scrape a moment later.
   */
  *renderSlices(sliceLines: number = RENDER_SLICE_LINES): Generator<string[], void, undefined> {
    const users = [...this.users.values()];
    const shapes = [...this.shapes];
    const full = !this.light;
    let out: string[] = [];
    const perUser: Array<readonly [name: string, type: string, help: string, lines: (user: UserEntry, out: string[]) => void]> = [
      ['llm_requests_total', 'counter', full
        ? 'LLM calls per user, provider, model, operation and status (ok|error).'
        : 'LLM calls per user and status (ok|error); per provider, model and operation in llm_model_requests_total.',
      (user, into) => {
        for (const counters of user.series.values()) {
          for (const requests of counters.requests) {
            if (requests.ok > 0) into.push(`llm_requests_total{${user.userLabels}${requests.keys.okKey}} ${requests.ok}`);
            if (requests.error > 0) into.push(`llm_requests_total{${user.userLabels}${requests.keys.errorKey}} ${requests.error}`);
          }
        }
      }],
      ['llm_cost_usd_total', 'counter', full ? 'Cost of LLM calls in USD, per user, provider and model.' : 'Cost of LLM calls in USD, per user.',
        (user, into) => {
          for (const counters of user.series.values()) {
            into.push(`llm_cost_usd_total{${user.userLabels}${counters.labels.perUser}} ${counters.costNanoUsd / NANO_USD_PER_USD}`);
          }
        }],
      ['llm_tokens_total', 'counter',
        'Tokens per user and type; types are disjoint (input excludes cache tokens, output includes reasoning).',
        (user, into) => {
          for (const counters of user.series.values()) {
            for (let index = 0; index < TOKEN_TYPES.length; index++) {
              into.push(`llm_tokens_total{${user.userLabels}${counters.labels.tokenKeys[index]}} ${counters.tokens[index]}`);
            }
          }
        }],
      ['llm_user_request_duration_seconds', 'summary', 'Duration of LLM calls per user.', (user, into) => {
        for (const counters of user.series.values()) {
          into.push(`llm_user_request_duration_seconds_sum{${user.userLabels}${counters.labels.perUser}} ${counters.durationSum}`);
          into.push(`llm_user_request_duration_seconds_count{${user.userLabels}${counters.labels.perUser}} ${counters.durationCount}`);
        }
      }],
      ...(full ? [['llm_user_first_seen_timestamp_seconds', 'gauge', 'When the user was first seen (end of their first LLM call), Unix seconds.',
        (user: UserEntry, into: string[]) => {
          for (const [key, seen] of user.seen) into.push(`llm_user_first_seen_timestamp_seconds{${user.userLabels}${key}} ${seen.first}`);
        }] as const] : []),
      ['llm_user_last_seen_timestamp_seconds', 'gauge', 'When the user was last seen (end of their latest LLM call), Unix seconds.',
        (user, into) => {
          for (const [key, seen] of user.seen) into.push(`llm_user_last_seen_timestamp_seconds{${user.userLabels}${key}} ${seen.last}`);
        }],
    ];
    for (const [name, type, help, lines] of perUser) {
      family(out, name, type, help);
      for (const user of users) {
        lines(user, out);
        if (out.length >= sliceLines) {
          yield out;
          out = [];
        }
      }
    }

    const perShape: Array<readonly [name: string, type: string, help: string, lines: (shape: Shape, out: string[]) => void]> = [
      ['llm_model_requests_total', 'counter', 'LLM calls per provider, model, operation and status (ok|error).', (shape, into) => {
        for (const operation of shape.operations) {
          if (operation.ok > 0) into.push(`llm_model_requests_total{${operation.okKey.slice(1)}} ${operation.ok}`);
          if (operation.error > 0) into.push(`llm_model_requests_total{${operation.errorKey.slice(1)}} ${operation.error}`);
        }
      }],
      ['llm_model_cost_usd_total', 'counter', 'Cost of LLM calls in USD, per provider and model.', (shape, into) => {
        if (shape.calls > 0) into.push(`llm_model_cost_usd_total{${shape.perModel.slice(1)}} ${shape.costNanoUsd / NANO_USD_PER_USD}`);
      }],
      ['llm_model_tokens_total', 'counter', 'Tokens per provider, model and type; types are disjoint, as in llm_tokens_total.',
        (shape, into) => {
          if (shape.calls === 0) return;
          for (let index = 0; index < TOKEN_TYPES.length; index++) {
            into.push(`llm_model_tokens_total{${shape.tokenKeys[index]!.slice(1)}} ${shape.tokens[index]}`);
          }
        }],
      ['llm_request_duration_seconds', 'histogram', 'Duration of LLM calls per provider, model and operation.', (shape, into) => {
        for (const operation of shape.operations) operation.durations.render('llm_request_duration_seconds', operation.histogramLabels, into);
      }],
      ['llm_time_to_first_token_seconds', 'histogram', 'Time to the first token of streamed LLM calls per provider and model.',
        (shape, into) => { shape.timeToFirstToken?.render('llm_time_to_first_token_seconds', shape.perModel.slice(1), into); }],
    ];
    for (const [name, type, help, lines] of perShape) {
      family(out, name, type, help);
      for (const shape of shapes) {
        lines(shape, out);
        if (out.length >= sliceLines) {
          yield out;
          out = [];
        }
      }
    }

    family(out, 'llm_unpriced_requests_total', 'counter', 'LLM calls whose model has no known price (counted at cost 0).');
    for (const [labels, count] of this.unpriced) out.push(`llm_unpriced_requests_total{${labels.slice(1)}} ${count}`);
    family(out, 'llm_requests_without_usage_total', 'counter',
      'LLM calls whose span reported no token usage (streams without usage, failures, embeddings under some sources): counted as requests at cost 0.');
    for (const [labels, count] of this.withoutUsage) out.push(`llm_requests_without_usage_total{${labels.slice(1)}} ${count}`);

    family(out, 'llm_plan_monthly_price_usd', 'gauge', 'Monthly price of each plan (PLAN_PRICES_USD), for revenue minus cost per user.');
    for (const [plan, price] of Object.entries(this.options.planPricesUsd)) {
      out.push(`llm_plan_monthly_price_usd{${labelPair('plan', plan).slice(1)}} ${price}`);
    }
    family(out, 'llm_active_users', 'gauge', 'Users with live series (seen within USER_TTL_SECONDS).');
    out.push(`llm_active_users ${this.users.size}`);
    family(out, 'llm_user_overflow_requests_total', 'counter',
      `LLM calls of new users counted under user_id="${OVERFLOW_USER_ID}" because MAX_USERS users had live series.`);
    out.push(`llm_user_overflow_requests_total ${this.overflowRequests}`);
    family(out, 'llm_user_series_evicted_total', 'counter', 'Users whose series were removed after USER_TTL_SECONDS idle.');
    out.push(`llm_user_series_evicted_total ${this.evictedUsers}`);
    family(out, 'llm_label_overflow_requests_total', 'counter',
      `LLM calls counted under "${OTHER}" labels because the label combinations or their text reached their bounds.`);
    out.push(`llm_label_overflow_requests_total ${this.otherLabelRequests}`);
    yield out;
  }

  private userEntry(userId: string, nowMs: number): UserEntry {
    const existing = this.users.get(userId);
    if (existing) return existing;
    if (this.users.size >= this.options.maxUsers && userId !== OVERFLOW_USER_ID) {
      this.overflowRequests++;
      return this.userEntry(OVERFLOW_USER_ID, nowMs);
    }
    const special = userId === NO_USER_ID || userId === OVERFLOW_USER_ID;
    const labelValue = special ? userId : userLabelValue(userId, this.options.userLabel);
    const entry: UserEntry = {
      userLabels: labelPair('user_id', labelValue).slice(1),
      textCost: 0,
      lastActivityMs: nowMs,
      series: new Map(),
      seen: new Map(),
    };
    this.users.set(userId, entry);
    if (this.options.seedUser && userId !== OVERFLOW_USER_ID) {
      for (const seed of this.options.seedUser(userId)) this.applySeed(entry, seed);
    }
    return entry;
  }

  private applySeed(user: UserEntry, seed: UserSeriesSeed): void {
    const shape = this.shapeOf(seed.provider, seed.model, seed.properties);
    shape.lastUsedMs = Math.max(shape.lastUsedMs, user.lastActivityMs);
    const counters = this.countersOf(user, this.userLabelsOf(shape, user.lastActivityMs));
    const requests = this.requestCountersOf(user, counters, seed.operation);
    requests.ok += seed.requests - seed.errors;
    requests.error += seed.errors;
    counters.costNanoUsd += seed.costNanoUsd;
    counters.tokens[0]! += seed.inputTokens;
    counters.tokens[1]! += seed.outputTokens;
    counters.tokens[2]! += seed.cacheReadTokens;
    counters.tokens[3]! += seed.cacheWriteTokens;
    counters.durationSum += seed.durationSumSeconds;
    counters.durationCount += seed.requests;
    this.markSeen(user, counters.labels.propertyLabels, seed.firstSeenMs);
    this.markSeen(user, counters.labels.propertyLabels, seed.lastSeenMs);
  }

  /** What a call of this shape is counted under per user: the shape itself (full), or its property set (light). */
  private userLabelsOf(shape: Shape, nowMs: number): Shape | PropertySet {
    if (!this.light) return shape;
    // Looked up by text on every call rather than held by the shape: a set is removed once idle while a shape may
    // live on, and two sets with the same text would render duplicate series.
    let set = this.propertySets.get(shape.propertyLabels);
    if (set === undefined) {
      set = newPropertySet(shape.propertyLabels);
      this.propertySets.set(shape.propertyLabels, set);
    }
    set.lastUsedMs = Math.max(set.lastUsedMs, nowMs);
    return set;
  }

  /** The user's counters under these labels, or under the OTHER labels once the render budget is spent. */
  private countersOf(user: UserEntry, labels: Shape | PropertySet): SeriesCounters {
    let counters = user.series.get(labels);
    if (counters) return counters;
    const cost = SERIES_LINES * (user.userLabels.length + labels.perUser.length + LINE_OVERHEAD);
    // The OTHER labels are let past the budget: one series per user (bounded by MAX_USERS), and totals stay right.
    if (this.renderedText + cost > this.maxRenderedText) {
      const other = this.userLabelsOf(this.theOtherShape(), user.lastActivityMs);
      if (labels !== other) return this.countersOf(user, other);
    }
    counters = { labels, requests: [], costNanoUsd: 0, tokens: [0, 0, 0, 0], durationSum: 0, durationCount: 0 };
    user.series.set(labels, counters);
    labels.users++;
    this.charge(user, cost);
    return counters;
  }

  private requestCountersOf(user: UserEntry, counters: SeriesCounters, operationName: string) {
    const { labels } = counters;
    const keys = labels.kind === 'shape' ? this.operationOf(labels, operationName) : labels.requests;
    for (const candidate of counters.requests) if (candidate.keys === keys) return candidate;
    const created = { keys, ok: 0, error: 0 };
    counters.requests.push(created);
    this.charge(user, 2 * (user.userLabels.length + keys.okKey.length + LINE_OVERHEAD));
    return created;
  }

  /** The operation's label sets and histogram in this shape; past MAX_OPERATIONS_PER_SHAPE, the OTHER operation's. */
  private operationOf(shape: Shape, operation: string): OperationShape {
    for (const candidate of shape.operations) if (candidate.operation === operation) return candidate;
    const full = shape.operations.length >= MAX_OPERATIONS_PER_SHAPE - 1
      || this.renderedText > this.maxRenderedText;
    if (full && operation !== OTHER) return this.operationOf(shape, OTHER);
    const created = newOperation(shape, operation);
    shape.operations.push(created);
    const cost = (HISTOGRAM_LINES + 2) * (created.histogramLabels.length + LINE_OVERHEAD);
    shape.textCost += cost;
    this.renderedText += cost;
    return created;
  }

  private charge(user: UserEntry, cost: number): void {
    user.textCost += cost;
    this.renderedText += cost;
  }

  private markSeen(user: UserEntry, propertyLabels: string, atMs: number): void {
    const atSeconds = atMs / 1000;
    const seen = user.seen.get(propertyLabels);
    if (!seen) {
      user.seen.set(propertyLabels, { first: atSeconds, last: atSeconds });
      this.charge(user, 2 * (user.userLabels.length + propertyLabels.length + LINE_OVERHEAD));
      return;
    }
    if (atSeconds < seen.first) seen.first = atSeconds;
    if (atSeconds > seen.last) seen.last = atSeconds;
  }

  private theOtherShape(): Shape {
    if (this.otherShape === undefined) {
      const properties = Object.fromEntries(this.options.propertyLabels.map((name) => [name, OTHER]));
      this.otherShape = this.newShape(OTHER, OTHER, properties, undefined);
    }
    return this.otherShape;
  }

  /** The shared Shape of a provider, model and property set, found through one map level per value. */
  private shapeOf(provider: string, model: string, properties: Readonly<Record<string, string>>): Shape {
    let node = this.shapeTree.get(provider) as Map<string, unknown> | undefined;
    if (node !== undefined) node = node.get(model) as Map<string, unknown> | undefined;
    for (const name of this.options.propertyLabels) {
      if (node === undefined) break;
      node = node.get(propertyValue(properties, name)) as Map<string, unknown> | undefined;
    }
    return (node?.get(SHAPE) as Shape | undefined) ?? this.addShape(provider, model, properties);
  }

  /**
   * Providers, models and property values come from untrusted spans: past MAX_SHAPES, every new combination is
   * counted under one shape whose labels are all "__other__", so memory and /metrics stay bounded.
   */
  private addShape(provider: string, model: string, properties: Readonly<Record<string, string>>): Shape {
    if (this.shapes.length >= MAX_SHAPES || this.renderedText > this.maxRenderedText) return this.theOtherShape();
    const path = [provider, model, ...this.options.propertyLabels.map((name) => propertyValue(properties, name))];
    let node = this.shapeTree;
    for (const key of path) node = descend(node, key);
    const shape = this.newShape(provider, model, properties, path);
    node.set(SHAPE, shape);
    return shape;
  }

  private newShape(provider: string, model: string, properties: Readonly<Record<string, string>>,
    path: readonly string[] | undefined): Shape {
    const modelLabels = labelPair('provider', provider) + labelPair('model', model);
    let propertyLabels = '';
    for (const name of this.options.propertyLabels) propertyLabels += labelPair(name, propertyValue(properties, name));
    const perModel = modelLabels + propertyLabels;
    const textCost = SHAPE_LINES * (perModel.length + LINE_OVERHEAD);
    const shape: Shape = {
      kind: 'shape',
      path,
      lastUsedMs: 0,
      users: 0,
      textCost,
      modelLabels,
      propertyLabels,
      perModel,
      perUser: perModel,
      tokenKeys: TOKEN_TYPES.map((type) => `${modelLabels},type="${type}"${propertyLabels}`),
      operations: [],
      timeToFirstToken: undefined,
      calls: 0,
      costNanoUsd: 0,
      tokens: [0, 0, 0, 0],
    };
    this.renderedText += textCost;
    this.shapes.push(shape);
    return shape;
  }
}

const SHAPE = '\u0000shape';

function descend(level: Map<string, unknown>, key: string): Map<string, unknown> {
  let next = level.get(key) as Map<string, unknown> | undefined;
  if (!next) {
    next = new Map();
    level.set(key, next);
  }
  return next;
}

/**
 * A property's value by name, '' when absent. Own properties only: sets read back from JSON (the ledger's seeds)
 * have Object.prototype, whose `constructor` or `toString` must not read as a value.
 */
function propertyValue(properties: Readonly<Record<string, string>>, name: string): string {
  return Object.hasOwn(properties, name) ? properties[name]! : '';
}

/** Removes a shape's leaf from the tree, and every level it leaves empty. */
function removeFromTree(tree: Map<string, unknown>, path: readonly string[]): void {
  const levels: Array<Map<string, unknown>> = [tree];
  for (const key of path) {
    const next = levels[levels.length - 1]!.get(key) as Map<string, unknown> | undefined;
    if (next === undefined) return;
    levels.push(next);
  }
  levels[levels.length - 1]!.delete(SHAPE);
  for (let depth = path.length; depth > 0 && levels[depth]!.size === 0; depth--) levels[depth - 1]!.delete(path[depth - 1]!);
}

function newPropertySet(propertyLabels: string): PropertySet {
  return {
    kind: 'properties',
    users: 0,
    lastUsedMs: 0,
    perUser: propertyLabels,
    propertyLabels,
    tokenKeys: TOKEN_TYPES.map((type) => `,type="${type}"${propertyLabels}`),
    requests: { okKey: `,status="ok"${propertyLabels}`, errorKey: `,status="error"${propertyLabels}` },
  };
}

function newOperation(shape: Shape, operation: string): OperationShape {
  const operationLabel = labelPair('operation', operation);
  return {
    operation,
    ok: 0,
    error: 0,
    okKey: `${shape.modelLabels}${operationLabel},status="ok"${shape.propertyLabels}`,
    errorKey: `${shape.modelLabels}${operationLabel},status="error"${shape.propertyLabels}`,
    histogramLabels: `${shape.modelLabels.slice(1)}${operationLabel}${shape.propertyLabels}`,
    durations: new Histogram(DURATION_BUCKETS_SECONDS),
  };
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}
