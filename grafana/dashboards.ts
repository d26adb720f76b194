/**
 * The Grafana dashboards, written as data. `node grafana/dashboards.ts` writes grafana/dashboards/*.json, which is
 * what Grafana loads; test/dashboards checks the committed files equal this output and runs every query on a real
 * Prometheus. Plain objects rather than @grafana/grafana-foundation-sdk: a few helpers cover the panels used here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ALL_VALUES, PROPERTY_NAMES_SQL, PROPERTY_VALUES_SQL, userDailySql, userModelsSql, usersTableSql, usersTotalsSql, userTotalsSql,
} from './ledger-sql.ts';

/** The uid the provisioned datasource has (grafana/provisioning/datasources/prometheus.yml). */
export const DATASOURCE_UID = 'llm-user-metrics-prometheus';
export const OVERVIEW_UID = 'llm-users';
export const USER_DETAIL_UID = 'llm-user-detail';
/** The uid of the provisioned PostgreSQL datasource (grafana/provisioning/datasources/ledger-postgres.yml). */
export const LEDGER_DATASOURCE_UID = 'llm-user-metrics-ledger';
export const LEDGER_USERS_UID = 'llm-users-ledger';
export const LEDGER_USER_UID = 'llm-user-ledger';
/** Average month (365.25 / 12 days): plan prices are monthly, ranges are not. */
const SECONDS_PER_MONTH = 2_629_800;

const DATASOURCE = { type: 'prometheus', uid: DATASOURCE_UID } as const;
const LEDGER = { type: 'grafana-postgresql-datasource', uid: LEDGER_DATASOURCE_UID } as const;
type Datasource = typeof DATASOURCE | typeof LEDGER;

/** Which datasource each dashboard file reads: every panel, query and variable in it uses that one. */
export const DASHBOARD_DATASOURCES: Readonly<Record<string, string>> = {
  'llm-users.json': DATASOURCE_UID,
  'llm-user-detail.json': DATASOURCE_UID,
  'llm-users-ledger.json': LEDGER_DATASOURCE_UID,
  'llm-user-ledger.json': LEDGER_DATASOURCE_UID,
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface Target {
  readonly refId: string;
  readonly expr: string;
  /** Instant queries answer "over the chosen range" questions; range queries draw lines. */
  readonly instant: boolean;
  readonly legendFormat?: string;
  /** 'table' for table panels: one row per series, labels as columns. */
  readonly format?: 'table';
}

/** A query of the ledger's PostgreSQL: Grafana's macros and the dashboard's variables in its text. */
export interface SqlTarget {
  readonly refId: string;
  readonly rawSql: string;
  /** 'time_series': columns time, metric and a value, one series per metric. */
  readonly format: 'table' | 'time_series';
}

interface PanelSpec {
  readonly title: string;
  /** The question the panel answers; shown as the panel's description and in docs/dashboards.md. */
  readonly question: string;
  readonly type: 'stat' | 'timeseries' | 'bargauge' | 'table' | 'piechart';
  readonly unit: string;
  readonly targets: readonly Target[] | readonly SqlTarget[];
  /** Prometheus unless said. */
  readonly datasource?: Datasource;
  readonly width: number;
  readonly height: number;
  readonly extra?: JsonObject;
}

// ---- label filters shared by the overview's queries -------------------------------------------------------------

/**
 * Per-user families carry the user and property labels (USER_METRICS=light, the default, has no provider or model
 * on them; full adds them, and these queries sum them away), so the provider and model filters do not apply here.
 */
const USER = 'user_id=~"$user", plan=~"$plan", feature=~"$feature"';
/** Per-model families (llm_model_*, histograms) carry no user_id: the user filter does not apply. */
const MODEL = 'plan=~"$plan", feature=~"$feature", provider=~"$provider", model=~"$model"';

const inRange = (metric: string, filter: string): string => `increase(${metric}{${filter}}[$__range])`;
const perSecond = (metric: string, filter: string): string => `rate(${metric}{${filter}}[$__rate_interval])`;

/** Revenue minus cost per user over the range, the plan price prorated from monthly to the range's length. */
function profitPerUser(filter: string): string {
  const revenue = `(group by (user_id, plan) (last_over_time(llm_user_last_seen_timestamp_seconds{${filter}}[$__range]))`
    + ` * on (plan) group_left max by (plan) (llm_plan_monthly_price_usd)`
    + ` * $__range_s / ${SECONDS_PER_MONTH})`;
  const cost = `sum by (user_id, plan) (${inRange('llm_cost_usd_total', filter)})`;
  return `${revenue} - on (user_id, plan) (${cost} or ${revenue} * 0)`;
}

// ---- panel builders ---------------------------------------------------------------------------------------------

const instant = (expr: string, legendFormat?: string): Target => ({ refId: 'A', expr, instant: true, legendFormat });
const overTime = (expr: string, legendFormat?: string): Target => ({ refId: 'A', expr, instant: false, legendFormat });
/** Several instant queries for one table, refIds A, B, C... in order. */
const columns = (exprs: readonly string[]): Target[] =>
  exprs.map((expr, index) => ({ refId: String.fromCharCode(65 + index), expr, instant: true }));

function stat(title: string, question: string, unit: string, expr: string, extra: JsonObject = {},
  legend?: string): PanelSpec {
  return { title, question, type: 'stat', unit, targets: [instant(expr, legend)], width: 4, height: 4, extra };
}

function lines(title: string, question: string, unit: string, targets: readonly Target[], width = 12): PanelSpec {
  return { title, question, type: 'timeseries', unit, targets, width, height: 8 };
}

function bars(title: string, question: string, unit: string, expr: string, legend: string, width = 8): PanelSpec {
  return { title, question, type: 'bargauge', unit, targets: [instant(expr, legend)], width, height: 8 };
}

interface Column {
  readonly name: string;
  readonly unit: string;
  readonly expr: string;
}

/** A table of instant queries merged on their labels; each query's value becomes a named, unit-formatted column. */
function table(title: string, question: string, cols: readonly Column[], options: {
  sortBy?: string;
  userLink?: boolean;
  width?: number;
} = {}): PanelSpec {
  const targets = columns(cols.map((column) => column.expr)).map((target): Target => ({ ...target, format: 'table' }));
  const overrides: Json[] = cols.map((column, index) => ({
    matcher: { id: 'byName', options: `Value #${targets[index]!.refId}` },
    properties: [{ id: 'displayName', value: column.name }, { id: 'unit', value: column.unit }],
  }));
  if (options.userLink) {
    overrides.push({
      matcher: { id: 'byName', options: 'user_id' },
      properties: [{
        id: 'links',
        value: [{
          title: 'Open this user',
          url: `/d/${USER_DETAIL_UID}/llm-user-detail?var-user=\${__value.raw}&\${__url_time_range}`,
        }],
      }],
    });
  }
  return {
    title,
    question,
    type: 'table',
    unit: 'short',
    targets,
    width: options.width ?? 24,
    height: 10,
    extra: {
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: { excludeByName: { Time: true } } },
      ],
      fieldConfig: { defaults: { unit: 'short' }, overrides },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        sortBy: options.sortBy ? [{ displayName: options.sortBy, desc: true }] : [],
      },
    },
  };
}

function row(title: string): { row: string } {
  return { row: title };
}

type Layout = ReadonlyArray<PanelSpec | { row: string }>;

/** Lays panels out left to right in a 24-column grid, a row header starting a new line. */
function layOut(layout: Layout): JsonObject[] {
  const panels: JsonObject[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  let id = 1;
  for (const item of layout) {
    if ('row' in item) {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
      panels.push({ id: id++, type: 'row', title: item.row, collapsed: false, panels: [], gridPos: { h: 1, w: 24, x: 0, y } });
      y += 1;
      continue;
    }
    if (x + item.width > 24) {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
    }
    panels.push(renderPanel(item, id++, { h: item.height, w: item.width, x, y }));
    x += item.width;
    rowHeight = Math.max(rowHeight, item.height);
  }
  return panels;
}

function renderTarget(target: Target | SqlTarget): JsonObject {
  if ('rawSql' in target) {
    return { refId: target.refId, datasource: LEDGER, editorMode: 'code', rawQuery: true, format: target.format, rawSql: target.rawSql };
  }
  return {
    refId: target.refId,
    datasource: DATASOURCE,
    expr: target.expr,
    instant: target.instant,
    range: !target.instant,
    ...(target.legendFormat ? { legendFormat: target.legendFormat } : {}),
    ...(target.format ? { format: target.format } : {}),
  };
}

function renderPanel(spec: PanelSpec, id: number, gridPos: JsonObject): JsonObject {
  const targets: Json[] = spec.targets.map(renderTarget);
  const { fieldConfig, options, ...rest } = (spec.extra ?? {}) as { fieldConfig?: JsonObject; options?: JsonObject };
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.question,
    datasource: spec.datasource ?? DATASOURCE,
    gridPos,
    fieldConfig: fieldConfig ?? { defaults: { unit: spec.unit }, overrides: [] },
    options: options ?? defaultOptions(spec.type),
    targets,
    ...rest,
  };
}

function defaultOptions(type: PanelSpec['type']): JsonObject {
  const lastValue = { calcs: ['lastNotNull'], fields: '', values: false };
  switch (type) {
    case 'stat':
      return { reduceOptions: lastValue, colorMode: 'value', graphMode: 'none', textMode: 'auto' };
    case 'bargauge':
      return { reduceOptions: { ...lastValue, values: false }, orientation: 'horizontal', displayMode: 'gradient', showUnfilled: true };
    case 'piechart':
      return { reduceOptions: lastValue, pieType: 'donut', legend: { displayMode: 'table', placement: 'right', values: ['value', 'percent'] } };
    case 'timeseries':
      return { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi', sort: 'desc' } };
    case 'table':
      return { showHeader: true };
  }
}

// ---- variables ----------------------------------------------------------------------------------------------------

function labelVariable(name: string, label: string, query: string, multi: boolean): JsonObject {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    sort: 1,
    multi,
    includeAll: multi,
    ...(multi ? { allValue: '.*', current: { text: 'All', value: '$__all' } } : { current: {} }),
    hide: 0,
    options: [],
  };
}

function dashboard(uid: string, title: string, description: string, variables: JsonObject[], layout: Layout,
  links: Json[] = [], options: { timezone?: string; time?: JsonObject; refresh?: string } = {}): JsonObject {
  return {
    uid,
    title,
    description,
    tags: ['llm', 'llm-user-metrics'],
    timezone: options.timezone ?? 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: options.refresh ?? '30s',
    time: options.time ?? { from: 'now-24h', to: 'now' },
    templating: { list: variables },
    annotations: { list: [] },
    links,
    panels: layOut(layout),
  };
}

// ---- the overview ---------------------------------------------------------------------------------------------------

function overview(): JsonObject {
  const cost = (filter = USER) => inRange('llm_cost_usd_total', filter);
  const requests = (filter = USER) => inRange('llm_requests_total', filter);
  const errorShare = (by: string) =>
    `(sum${by} (${requests(`${USER}, status="error"`)}) or sum${by} (${requests()}) * 0) / sum${by} (${requests()})`;
  const modelRequests = (filter = MODEL) => inRange('llm_model_requests_total', filter);
  const seenUsers = `last_over_time(llm_user_last_seen_timestamp_seconds{${USER}}[$__range])`;

  const variables = [
    labelVariable('provider', 'Provider', 'label_values(llm_model_requests_total, provider)', true),
    labelVariable('model', 'Model', 'label_values(llm_model_requests_total{provider=~"$provider"}, model)', true),
    labelVariable('plan', 'Plan', 'label_values(llm_requests_total, plan)', true),
    labelVariable('feature', 'Feature', 'label_values(llm_requests_total, feature)', true),
    labelVariable('user', 'User', 'label_values(llm_requests_total{plan=~"$plan", feature=~"$feature"}, user_id)', true),
  ];

  const layout: Layout = [
    row('Spend'),
    stat('Cost', 'What did the selected users cost over the chosen range?', 'currencyUSD',
      `sum(${cost()})`),
    stat('Requests', 'How many LLM calls did they make?', 'short', `sum(${requests()})`),
    stat('Users seen', 'How many users made calls in the range?', 'short',
      `count(group by (user_id) (${seenUsers}))`),
    stat('Error rate', 'What share of calls failed?', 'percentunit', errorShare(''),
      { fieldConfig: thresholds('percentunit', [[0, 'green'], [0.05, 'orange'], [0.2, 'red']]) }),
    stat('Tokens in', 'How many prompt tokens (uncached, cache read and cache write)?', 'count:tokens',
      `sum(${inRange('llm_tokens_total', `${USER}, type=~"input|cache_read|cache_write"`)})`),
    stat('Tokens out', 'How many completion tokens (reasoning included)?', 'count:tokens',
      `sum(${inRange('llm_tokens_total', `${USER}, type="output"`)})`),
    bars('Top 10 spenders', 'Who are the top spenders over the range?', 'currencyUSD',
      `topk(10, sum by (user_id) (${cost()}))`, '{{user_id}}'),
    lines('Spend per hour, top 10 users', 'Who is spending right now, and since when?', 'currencyUSD',
      [overTime(`topk(10, sum by (user_id) (${perSecond('llm_cost_usd_total', USER)})) * 3600`, '{{user_id}}')], 8),
    lines('Spend per hour by model', 'Which models does the money go to?', 'currencyUSD',
      [overTime(`sum by (provider, model) (${perSecond('llm_model_cost_usd_total', MODEL)}) * 3600`, '{{provider}} {{model}}')], 8),

    row('Plans and features'),
    bars('Average cost per user by plan', 'What does a user of each plan cost on average over the range?',
      'currencyUSD',
      `sum by (plan) (${cost()}) / count by (plan) (group by (user_id, plan) (${seenUsers}))`, '{{plan}}', 6),
    bars('Cost by feature', 'Which features cost the most?', 'currencyUSD',
      `sum by (feature) (${cost()})`, '{{feature}}', 6),
    bars('Requests by feature', 'Which features make the most calls?', 'short',
      `sum by (feature) (${requests()})`, '{{feature}}', 6),
    bars('Plan prices', 'What does each plan pay per month (PLAN_PRICES_USD)?', 'currencyUSD',
      'max by (plan) (llm_plan_monthly_price_usd{plan=~"$plan"})', '{{plan}}', 6),
    lines('Spend per hour by plan', 'How does spend per plan move over time?', 'currencyUSD',
      [overTime(`sum by (plan) (${perSecond('llm_cost_usd_total', USER)}) * 3600`, '{{plan}}')]),
    lines('Requests per second by feature', 'How does traffic per feature move over time?', 'reqps',
      [overTime(`sum by (feature) (${perSecond('llm_requests_total', USER)})`, '{{feature}}')]),

    row('Profit: plan revenue minus LLM cost'),
    bars('Most profitable users', 'Which users earn the most over their LLM cost (plan price prorated to the range)?',
      'currencyUSD', `topk(10, ${profitPerUser(USER)})`, '{{user_id}} ({{plan}})'),
    bars('Least profitable users', 'Which users cost more than they pay?', 'currencyUSD',
      `bottomk(10, ${profitPerUser(USER)})`, '{{user_id}} ({{plan}})'),
    bars('Profit by plan', 'Does each plan pay for its LLM use?', 'currencyUSD',
      `sum by (plan) (${profitPerUser(USER)})`, '{{plan}}'),

    row('Users'),
    table('Users', 'Per user over the range: what did they cost, how many calls and tokens, how fast, how many failed, when were they first and last seen? Sort by any column; click a user for their detail.', [
      { name: 'Cost', unit: 'currencyUSD', expr: `sum by (user_id, plan) (${cost()})` },
      { name: 'Requests', unit: 'short', expr: `sum by (user_id, plan) (${requests()})` },
      { name: 'Tokens in', unit: 'count:tokens', expr: `sum by (user_id, plan) (${inRange('llm_tokens_total', `${USER}, type=~"input|cache_read|cache_write"`)})` },
      { name: 'Tokens out', unit: 'count:tokens', expr: `sum by (user_id, plan) (${inRange('llm_tokens_total', `${USER}, type="output"`)})` },
      { name: 'Avg latency', unit: 's', expr: `sum by (user_id, plan) (${inRange('llm_user_request_duration_seconds_sum', USER)}) / sum by (user_id, plan) (${inRange('llm_user_request_duration_seconds_count', USER)})` },
      { name: 'Error rate', unit: 'percentunit', expr: errorShare(' by (user_id, plan)') },
      { name: 'First seen', unit: 'dateTimeAsLocal', expr: `min by (user_id, plan) (min_over_time(llm_user_last_seen_timestamp_seconds{${USER}}[$__range])) * 1000` },
      { name: 'Last seen', unit: 'dateTimeFromNow', expr: `max by (user_id, plan) (${seenUsers}) * 1000` },
    ], { sortBy: 'Cost', userLink: true }),
    table('Models', 'Which models get the calls and the money, and how often do they fail?', [
      { name: 'Requests', unit: 'short', expr: `sum by (provider, model) (${modelRequests()})` },
      { name: 'Cost', unit: 'currencyUSD', expr: `sum by (provider, model) (${inRange('llm_model_cost_usd_total', MODEL)})` },
      { name: 'Error rate', unit: 'percentunit', expr: `(sum by (provider, model) (${modelRequests(`${MODEL}, status="error"`)}) or sum by (provider, model) (${modelRequests()}) * 0) / sum by (provider, model) (${modelRequests()})` },
    ], { sortBy: 'Cost', width: 12 }),
    table('Unpriced calls', 'Which models have no price, so their calls count as 0 USD? (add them to PRICES_FILE)', [
      { name: 'Calls', unit: 'short', expr: `sum by (provider, model) (increase(llm_unpriced_requests_total{provider=~"$provider", model=~"$model"}[$__range]))` },
    ], { sortBy: 'Calls', width: 12 }),

    row('Latency'),
    lines('Request duration p50 / p95 by model', 'How long do calls take, per model?', 's', [
      { refId: 'A', expr: `histogram_quantile(0.95, sum by (provider, model, le) (${perSecond('llm_request_duration_seconds_bucket', MODEL)}))`, instant: false, legendFormat: 'p95 {{provider}} {{model}}' },
      { refId: 'B', expr: `histogram_quantile(0.5, sum by (provider, model, le) (${perSecond('llm_request_duration_seconds_bucket', MODEL)}))`, instant: false, legendFormat: 'p50 {{provider}} {{model}}' },
    ]),
    lines('Time to first token p95 (streams)', 'How long do streamed calls wait for their first token?', 's', [
      overTime(`histogram_quantile(0.95, sum by (provider, model, le) (${perSecond('llm_time_to_first_token_seconds_bucket', MODEL)}))`, '{{provider}} {{model}}'),
    ]),

    row('Anomalies'),
    bars('Spend: last 5 minutes vs own last hour', 'Whose spend jumped above their own baseline? 1x is steady; the spend alert fires above 3x (and 1 USD/hour).',
      'suffix:x', `topk(10, llm:user_cost_usd:rate5m{user_id=~"$user"} / (llm:user_cost_usd:rate1h{user_id=~"$user"} > 0))`, '{{user_id}}'),
    bars('Requests: last 5 minutes vs own last hour', 'Whose request rate jumped above their own baseline? The flood alert fires above 3x (and 12 requests/minute).',
      'suffix:x', `topk(10, llm:user_requests:rate5m{user_id=~"$user"} / (llm:user_requests:rate1h{user_id=~"$user"} > 0))`, '{{user_id}}'),
    bars('Error rate by user, last 5 minutes', 'Which users see their calls fail?', 'percentunit',
      `topk(10, llm:user_error_ratio:rate5m{user_id=~"$user"})`, '{{user_id}}'),
    lines('Failed calls per second by provider and model', 'Is there an error storm, and where?', 'reqps',
      [overTime(`sum by (provider, model) (${perSecond('llm_model_requests_total', `${MODEL}, status="error"`)})`, '{{provider}} {{model}}')], 24),

    row('Processor'),
    stat('Processor up', 'Is Prometheus scraping the processor?', 'none', 'min(up{job="llm-user-metrics"})', {
      fieldConfig: {
        defaults: {
          unit: 'none',
          mappings: [{ type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } }],
        },
        overrides: [],
      },
    }),
    stat('Users with live series', 'How many users have series on /metrics now (MAX_USERS caps it)?', 'short',
      'sum(llm_active_users)'),
    stat('Overflowed calls', 'How many calls were folded into __overflow__ over the range (MAX_USERS reached)?', 'short',
      'sum(increase(llm_user_overflow_requests_total[$__range]))'),
    stat('/metrics render time', 'How long did the last scrape take to render?', 's',
      'max(llm_user_metrics_render_seconds)'),
    stat('Memory', 'How much memory does the processor use?', 'bytes', 'max(process_resident_memory_bytes{job="llm-user-metrics"})'),
    stat('Export size p95', 'How large are the OTLP export requests?', 'bytes',
      'histogram_quantile(0.95, sum by (le) (rate(llm_user_metrics_export_request_bytes_bucket[$__rate_interval])))'),
    lines('Spans per second', 'Are spans arriving, and are any ignored (not LLM calls), rejected or undecodable?', 'short', [
      { refId: 'A', expr: 'sum(rate(llm_user_metrics_spans_received_total[$__rate_interval]))', instant: false, legendFormat: 'received' },
      { refId: 'B', expr: 'sum(rate(llm_user_metrics_spans_ignored_total[$__rate_interval]))', instant: false, legendFormat: 'ignored (not LLM)' },
      { refId: 'C', expr: 'sum(rate(llm_user_metrics_spans_rejected_total[$__rate_interval])) or vector(0)', instant: false, legendFormat: 'rejected' },
      { refId: 'D', expr: 'sum(rate(llm_user_metrics_decode_errors_total[$__rate_interval])) or vector(0)', instant: false, legendFormat: 'undecodable requests' },
    ], 24),
  ];

  return dashboard(OVERVIEW_UID, 'LLM users: cost, usage and profit',
    'Per-user LLM cost, usage, profit and anomalies from llm-user-metrics. Ranges follow the time picker.',
    variables, layout, [{ title: 'User detail', type: 'link', url: `/d/${USER_DETAIL_UID}/llm-user-detail`, keepTime: true, includeVars: false }]);
}

function thresholds(unit: string, steps: ReadonlyArray<readonly [number, string]>): JsonObject {
  return {
    defaults: {
      unit,
      thresholds: {
        mode: 'absolute',
        steps: steps.map(([value, color], index) => ({ value: index === 0 ? null : value, color })),
      },
    },
    overrides: [],
  };
}

// ---- one user in detail -------------------------------------------------------------------------------------------

function userDetail(): JsonObject {
  const ONE = 'user_id="$user"';
  const cost = inRange('llm_cost_usd_total', ONE);
  const requests = inRange('llm_requests_total', ONE);
  const variables = [labelVariable('user', 'User', 'label_values(llm_requests_total, user_id)', false)];

  const layout: Layout = [
    row('$user over the range'),
    stat('Cost', 'What did this user cost over the range?', 'currencyUSD', `sum(${cost})`),
    stat('Requests', 'How many calls did they make?', 'short', `sum(${requests})`),
    stat('Avg latency', 'How long did their calls take on average?', 's',
      `sum(${inRange('llm_user_request_duration_seconds_sum', ONE)}) / sum(${inRange('llm_user_request_duration_seconds_count', ONE)})`),
    stat('Error rate', 'What share of their calls failed?', 'percentunit',
      `(sum(${inRange('llm_requests_total', `${ONE}, status="error"`)}) or vector(0)) / sum(${requests})`),
    stat('First seen', 'When did the processor first see them in the range (to a scrape interval)?', 'dateTimeAsLocal',
      `min(min_over_time(llm_user_last_seen_timestamp_seconds{${ONE}}[$__range])) * 1000`),
    stat('Last seen', 'When did they last make a call?', 'dateTimeFromNow',
      `max(max_over_time(llm_user_last_seen_timestamp_seconds{${ONE}}[$__range])) * 1000`),
    stat('Plan', 'Which plan are they on?', 'none',
      `group by (plan) (last_over_time(llm_user_last_seen_timestamp_seconds{${ONE}}[$__range]))`,
      { options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, textMode: 'name', colorMode: 'none', graphMode: 'none' } },
      '{{plan}}'),
    stat('Revenue minus cost', 'Does this user pay for their LLM use (plan price prorated to the range)?', 'currencyUSD',
      `sum(${profitPerUser(ONE)})`),
    stat('Tokens in', 'How many prompt tokens did they send?', 'count:tokens',
      `sum(${inRange('llm_tokens_total', `${ONE}, type=~"input|cache_read|cache_write"`)})`),
    stat('Tokens out', 'How many completion tokens did they get?', 'count:tokens',
      `sum(${inRange('llm_tokens_total', `${ONE}, type="output"`)})`),

    row('$user over time'),
    lines('Spend per hour by feature', 'How does their spend move, and on which features?', 'currencyUSD',
      [overTime(`sum by (feature) (${perSecond('llm_cost_usd_total', ONE)}) * 3600`, '{{feature}}')]),
    lines('Spend: last 5 minutes vs last hour', 'Is their spend above their own baseline?', 'currencyUSD', [
      { refId: 'A', expr: 'llm:user_cost_usd:rate5m{user_id="$user"} * 3600', instant: false, legendFormat: 'last 5 minutes (USD/hour)' },
      { refId: 'B', expr: 'llm:user_cost_usd:rate1h{user_id="$user"} * 3600', instant: false, legendFormat: 'last hour (USD/hour)' },
    ]),
    lines('Requests per second by status', 'How many calls do they make, and how many fail?', 'reqps',
      [overTime(`sum by (status) (${perSecond('llm_requests_total', ONE)})`, '{{status}}')]),
    lines('Average latency by feature', 'How long do their calls take?', 's',
      [overTime(`sum by (feature) (${perSecond('llm_user_request_duration_seconds_sum', ONE)}) / sum by (feature) (${perSecond('llm_user_request_duration_seconds_count', ONE)})`, '{{feature}}')]),
    lines('Tokens per second by type', 'What kind of tokens do they use?', 'count:tokens',
      [overTime(`sum by (type) (${perSecond('llm_tokens_total', ONE)})`, '{{type}}')]),
    lines('Error rate', 'Are their calls failing?', 'percentunit',
      [overTime('llm:user_error_ratio:rate5m{user_id="$user"}', 'error rate (5 m)')]),

    // No per-model split for one user: the default light set has none (its models are in the users API,
    // /api/users/:id, or on /metrics with USER_METRICS=full).
    row('$user by feature'),
    table('Features used', 'Which features did they use over the range?', [
      { name: 'Requests', unit: 'short', expr: `sum by (feature) (${requests})` },
      { name: 'Cost', unit: 'currencyUSD', expr: `sum by (feature) (${cost})` },
    ], { sortBy: 'Cost', width: 24 }),
  ];

  return dashboard(USER_DETAIL_UID, 'LLM user detail',
    'One user in detail: pick a user to see their cost, requests, latency and errors over time.',
    variables, layout, [{ title: 'All users', type: 'link', url: `/d/${OVERVIEW_UID}/llm-users`, keepTime: true, includeVars: false }]);
}

// ---- the ledger: users and one user from PostgreSQL (LEDGER_URL) --------------------------------------------------

/** The unit of each figure the ledger queries name (grafana/ledger-sql.ts); cost shown to the nano-dollar. */
const LEDGER_UNITS: ReadonlyArray<readonly [string, JsonObject]> = [
  ['Users', { unit: 'short' }],
  ['Requests', { unit: 'short' }],
  ['Errors', { unit: 'short' }],
  ['Error rate', { unit: 'percentunit', decimals: 2 }],
  ['Cost', { unit: 'currencyUSD', decimals: 9 }],
  ['Tokens in', { unit: 'count:tokens' }],
  ['Tokens out', { unit: 'count:tokens' }],
  ['Avg latency', { unit: 's', decimals: 3 }],
  ['First seen', { unit: 'dateTimeAsIso' }],
  ['Last seen', { unit: 'dateTimeAsIso' }],
];

function ledgerFieldConfig(extraOverrides: Json[] = [], defaults: JsonObject = {}): JsonObject {
  const overrides: Json[] = LEDGER_UNITS.map(([name, properties]) => ({
    matcher: { id: 'byName', options: name },
    properties: Object.entries(properties).map(([id, value]) => ({ id, value })),
  }));
  return { defaults: { unit: 'short', ...defaults }, overrides: [...overrides, ...extraOverrides] };
}

function ledgerPanel(title: string, question: string, type: PanelSpec['type'], sql: string, options: {
  format?: SqlTarget['format'];
  width?: number;
  height?: number;
  unit?: string;
  extra?: JsonObject;
} = {}): PanelSpec {
  return {
    title,
    question,
    type,
    unit: options.unit ?? 'short',
    datasource: LEDGER,
    targets: [{ refId: 'A', rawSql: sql, format: options.format ?? 'table' }],
    width: options.width ?? 24,
    height: options.height ?? 8,
    extra: options.extra,
  };
}

/** A stat panel showing every figure of its one-row query, each in its unit. */
function ledgerFigures(title: string, question: string, sql: string): PanelSpec {
  return ledgerPanel(title, question, 'stat', sql, {
    height: 4,
    extra: {
      fieldConfig: ledgerFieldConfig(),
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '/.*/', values: false },
        colorMode: 'none', graphMode: 'none', textMode: 'value_and_name', justifyMode: 'auto',
      },
    },
  });
}

/** Daily bars, one series per model. */
function ledgerDaily(title: string, question: string, sql: string, unit: string): PanelSpec {
  return ledgerPanel(title, question, 'timeseries', sql, {
    format: 'time_series',
    width: 12,
    unit,
    extra: {
      fieldConfig: {
        defaults: {
          unit,
          ...(unit === 'currencyUSD' ? { decimals: 9 } : {}),
          custom: { drawStyle: 'bars', fillOpacity: 80, stacking: { mode: 'normal', group: 'A' }, lineWidth: 1 },
        },
        overrides: [],
      },
      options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['sum'] }, tooltip: { mode: 'multi', sort: 'desc' } },
    },
  });
}

/** $property picks a property of the calls (PROPERTY_LABELS), $value its values; All is no filter. */
function propertyVariables(): JsonObject[] {
  const sqlVariable = (name: string, label: string, query: string, multi: boolean, current: JsonObject): JsonObject => ({
    name,
    label,
    type: 'query',
    datasource: LEDGER,
    definition: query,
    query,
    refresh: 2,
    sort: 1,
    multi,
    includeAll: multi,
    ...(multi ? { allValue: ALL_VALUES } : {}),
    current,
    hide: 0,
    options: [],
  });
  return [
    sqlVariable('property', 'Property', PROPERTY_NAMES_SQL, false, { text: 'plan', value: 'plan' }),
    sqlVariable('value', 'Value', PROPERTY_VALUES_SQL, true, { text: 'All', value: '$__all' }),
  ];
}

/** Days are the ledger's UTC days: in UTC, "this month" or "last 7 days" in the picker are whole days of it. */
const LEDGER_TIME = { timezone: 'utc', time: { from: 'now-30d', to: 'now' }, refresh: '1m' };

function ledgerUsers(): JsonObject {
  const userLink = {
    matcher: { id: 'byName', options: 'User' },
    properties: [{
      id: 'links',
      value: [{
        title: 'Open this user',
        url: `/d/${LEDGER_USER_UID}/llm-user-ledger?var-user=\${__value.raw}&\${property:queryparam}&\${value:queryparam}&\${__url_time_range}`,
      }],
    }],
  };
  const layout: Layout = [
    row('All users over the range'),
    ledgerFigures('Totals', 'How many users made calls over the range, and what did they cost, use and suffer in all (exact to the nano-dollar)?',
      usersTotalsSql()),
    row('Users'),
    ledgerPanel('Users', 'Per user over the range, from the ledger the users API reads: how many calls and errors, what cost (to the nano-dollar), how many tokens, how fast, first and last seen? Click a user for their days and models.',
      'table', usersTableSql(), {
        height: 16,
        extra: {
          fieldConfig: ledgerFieldConfig([userLink]),
          options: { showHeader: true, cellHeight: 'sm', sortBy: [{ displayName: 'Cost', desc: true }] },
        },
      }),
  ];
  return dashboard(LEDGER_USERS_UID, 'LLM users (ledger)',
    'Users from the PostgreSQL ledger (LEDGER_URL): the billing figures of the users API, exact for any range. The Prometheus dashboards beside it show the live view.',
    propertyVariables(), layout,
    [{ title: 'LLM users (Prometheus)', type: 'link', url: `/d/${OVERVIEW_UID}/llm-users`, keepTime: true, includeVars: false }],
    LEDGER_TIME);
}

function ledgerUser(): JsonObject {
  const user: JsonObject = {
    name: 'user', label: 'User', type: 'textbox', query: '', current: { text: '', value: '' }, hide: 0, options: [],
  };
  const layout: Layout = [
    row('$user over the range'),
    ledgerFigures('Totals', 'What did this user cost, use and suffer over the range (exact to the nano-dollar)?', userTotalsSql()),
    row('$user per day'),
    ledgerDaily('Cost per day by model', 'What did they cost each UTC day of the range, and on which models?', userDailySql('cost'), 'currencyUSD'),
    ledgerDaily('Requests per day by model', 'How many calls did they make each UTC day, and to which models?', userDailySql('requests'), 'short'),
    ledgerPanel('Models', 'Which models did they use over the range, and what did each cost?', 'table', userModelsSql(), {
      extra: {
        fieldConfig: ledgerFieldConfig(),
        options: { showHeader: true, cellHeight: 'sm', sortBy: [{ displayName: 'Cost', desc: true }] },
      },
    }),
  ];
  return dashboard(LEDGER_USER_UID, 'LLM user (ledger)',
    'One user from the PostgreSQL ledger: totals, daily cost and requests by model, exactly as /api/users/:id answers.',
    [user, ...propertyVariables()], layout,
    [{ title: 'LLM users (ledger)', type: 'link', url: `/d/${LEDGER_USERS_UID}/llm-users-ledger`, keepTime: true, includeVars: true }],
    LEDGER_TIME);
}

/** The dashboards by file name under grafana/dashboards/. */
export function buildDashboards(): Record<string, JsonObject> {
  return {
    'llm-users.json': overview(),
    'llm-user-detail.json': userDetail(),
    'llm-users-ledger.json': ledgerUsers(),
    'llm-user-ledger.json': ledgerUser(),
  };
}

export function renderDashboardFile(dashboard: JsonObject): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

export const PANEL_DOCS_START = '<!-- panels:start (generated by `node grafana/dashboards.ts`) -->';
export const PANEL_DOCS_END = '<!-- panels:end -->';

/** The panels section of docs/dashboards.md: each panel's question and its queries, as Grafana runs them. */
export function renderPanelDocs(dashboards: Record<string, JsonObject> = buildDashboards()): string {
  const out: string[] = [];
  for (const [file, dashboard] of Object.entries(dashboards)) {
    out.push(`### ${String(dashboard.title)} (\`grafana/dashboards/${file}\`)`, '');
    for (const panel of dashboard.panels as JsonObject[]) {
      if (panel.type === 'row') {
        out.push(`#### ${String(panel.title)}`, '');
        continue;
      }
      const targets = panel.targets as JsonObject[];
      const sql = targets.some((target) => 'rawSql' in target);
      out.push(`**${String(panel.title)}**: ${String(panel.description)}`, '', sql ? '```sql' : '```promql');
      for (const target of targets) out.push(String(sql ? target.rawSql : target.expr));
      out.push('```', '');
    }
  }
  return `${PANEL_DOCS_START}\n${out.join('\n')}${PANEL_DOCS_END}`;
}

/** Puts the generated panels section into the document, between its markers. */
export function withPanelDocs(document: string, section: string = renderPanelDocs()): string {
  const start = document.indexOf(PANEL_DOCS_START);
  const end = document.indexOf(PANEL_DOCS_END);
  if (start < 0 || end < start) throw new Error('docs/dashboards.md lacks the panels:start / panels:end markers');
  return document.slice(0, start) + section + document.slice(end + PANEL_DOCS_END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, dashboard] of Object.entries(buildDashboards())) {
    const path = fileURLToPath(new URL(`dashboards/${name}`, import.meta.url));
    writeFileSync(path, renderDashboardFile(dashboard));
    console.log(`wrote ${path}`);
  }
  const docs = fileURLToPath(new URL('../docs/dashboards.md', import.meta.url));
  writeFileSync(docs, withPanelDocs(readFileSync(docs, 'utf8')));
  console.log(`wrote ${docs}`);
}
