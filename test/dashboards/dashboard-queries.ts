/** Reading a Grafana dashboard's queries the way Grafana would run them against Prometheus. */

export interface DashboardTarget {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  readonly instant: boolean;
  readonly datasourceUid: string | undefined;
}

export interface DashboardVariable {
  readonly name: string;
  readonly query: string;
  readonly multi: boolean;
  readonly includeAll: boolean;
  readonly allValue: string | undefined;
}

interface PanelJson {
  title?: string;
  type?: string;
  datasource?: { uid?: string };
  targets?: Array<{ refId?: string; expr?: string; rawSql?: string; format?: string; instant?: boolean; datasource?: { uid?: string } }>;
  panels?: PanelJson[];
}

interface DashboardJson {
  panels?: PanelJson[];
  templating?: { list?: Array<{ name?: string; type?: string; query?: string | { query?: string }; multi?: boolean; includeAll?: boolean; allValue?: string; datasource?: { uid?: string } }> };
}

/** Every panel that is not a row header, rows' nested panels included. */
export function panelsOf(dashboard: DashboardJson): PanelJson[] {
  const out: PanelJson[] = [];
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === 'row') out.push(...(panel.panels ?? []));
    else out.push(panel);
  }
  return out;
}

/** The Prometheus queries (the ledger's SQL ones are sqlTargetsOf's). */
export function targetsOf(dashboard: DashboardJson): DashboardTarget[] {
  return panelsOf(dashboard).flatMap((panel) => (panel.targets ?? []).filter((target) => target.rawSql === undefined).map((target) => {
    if (typeof target.expr !== 'string' || target.expr.trim() === '') {
      throw new Error(`panel "${panel.title}" target ${target.refId} has no expr`);
    }
    return {
      panel: panel.title ?? '(untitled)',
      refId: target.refId ?? '?',
      expr: target.expr,
      instant: target.instant === true,
      datasourceUid: target.datasource?.uid ?? panel.datasource?.uid,
    };
  }));
}

export function variablesOf(dashboard: DashboardJson): DashboardVariable[] {
  return (dashboard.templating?.list ?? []).map((variable) => ({
    name: variable.name ?? '',
    query: typeof variable.query === 'string' ? variable.query : variable.query?.query ?? '',
    multi: variable.multi === true,
    includeAll: variable.includeAll === true,
    allValue: variable.allValue,
  }));
}

/** `label_values(metric{...}, label)` -> its parts; the only variable query form the dashboards use. */
export function parseLabelValuesQuery(query: string): { match: string; label: string } {
  const found = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(query.trim());
  if (!found) throw new Error(`not a label_values(metric, label) query: ${query}`);
  return { match: found[1]!.trim(), label: found[2]! };
}

/** Grafana's time-range variables, as it would set them for a dashboard range of `rangeSeconds`. */
export interface TimeVariables {
  readonly rangeSeconds: number;
  /** What Grafana computes from the scrape interval: max(4 x scrape, interval + scrape). */
  readonly rateIntervalSeconds: number;
  readonly intervalSeconds: number;
}

/**
 * Replaces Grafana's built-in and the dashboard's own variables in a query. Longer names first, so `$__range_s` is not
 * read as `$__range` followed by `_s`. Throws on a `$name` left over, naming it.
 */
export function substitute(expr: string, variables: Readonly<Record<string, string>>, time: TimeVariables): string {
  const builtIns: Record<string, string> = {
    __range_ms: String(time.rangeSeconds * 1000),
    __range_s: String(time.rangeSeconds),
    __range: `${time.rangeSeconds}s`,
    __rate_interval: `${time.rateIntervalSeconds}s`,
    __interval_ms: String(time.intervalSeconds * 1000),
    __interval: `${time.intervalSeconds}s`,
  };
  const all: Record<string, string> = { ...builtIns, ...variables };
  const names = Object.keys(all).sort((a, b) => b.length - a.length);
  let out = expr;
  for (const name of names) {
    out = out.replace(new RegExp(`\\$\\{${escapeRegExp(name)}\\}|\\$${escapeRegExp(name)}(?![a-zA-Z0-9_])`, 'g'), () => all[name]!);
  }
  const left = /\$\{?([a-zA-Z_][a-zA-Z0-9_]*)/.exec(out);
  if (left) throw new Error(`query uses $${left[1]}, which no variable defines: ${expr}`);
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface SqlDashboardTarget {
  readonly panel: string;
  readonly refId: string;
  readonly rawSql: string;
  readonly format: string | undefined;
  readonly datasourceUid: string | undefined;
}

/** The SQL queries of a dashboard, each with its panel's title. */
export function sqlTargetsOf(dashboard: DashboardJson): SqlDashboardTarget[] {
  return panelsOf(dashboard).flatMap((panel) => (panel.targets ?? []).filter((target) => target.rawSql !== undefined).map((target) => ({
    panel: panel.title ?? '(untitled)',
    refId: target.refId ?? '?',
    rawSql: target.rawSql!,
    format: target.format,
    datasourceUid: target.datasource?.uid ?? panel.datasource?.uid,
  })));
}

/** Every target's and variable's datasource uid, and each panel's, where the dashboard names one. */
export function datasourceUidsOf(dashboard: DashboardJson): Array<string | undefined> {
  return [
    ...panelsOf(dashboard).flatMap((panel) => [panel.datasource?.uid, ...(panel.targets ?? []).map((target) => target.datasource?.uid ?? panel.datasource?.uid)]),
    ...(dashboard.templating?.list ?? []).filter((variable) => variable.type !== 'textbox').map((variable) => variable.datasource?.uid),
  ];
}

/** A variable's selection: one value, several, or All. */
export type SqlSelection = string | readonly string[] | 'All';

/**
 * Fills a SQL panel's text as Grafana's SQL datasources do: the range macros from a range in milliseconds (the
 * nanosecond ones are the milliseconds x 10^6); a multi-value or All-able variable as quoted literals joined by
 * commas, its custom All value as written; any other variable's value with its single quotes doubled, unquoted.
 * Throws on a `$` left over, naming it.
 */
export function substituteSql(sql: string, range: { fromMs: number; toMs: number }, dashboard: DashboardJson,
  selections: Readonly<Record<string, SqlSelection>>): string {
  const macros: Record<string, string> = {
    __unixEpochNanoFrom: (BigInt(range.fromMs) * 1_000_000n).toString(),
    __unixEpochNanoTo: (BigInt(range.toMs) * 1_000_000n).toString(),
    __unixEpochFrom: String(Math.floor(range.fromMs / 1000)),
    __unixEpochTo: String(Math.floor(range.toMs / 1000)),
    __timeFrom: `'${new Date(range.fromMs).toISOString()}'`,
    __timeTo: `'${new Date(range.toMs).toISOString()}'`,
  };
  let out = sql.replace(/\$(__[a-zA-Z]+)\(\)/g, (whole, name: string) => {
    const value = macros[name];
    if (value === undefined) throw new Error(`unknown macro ${whole}`);
    return value;
  });
  const variables = new Map((dashboard.templating?.list ?? []).map((variable) => [variable.name ?? '', variable]));
  const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;
  // One pass, as Grafana's: a value that contains `$name` is not filled again.
  out = out.replace(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}|\$([a-zA-Z_][a-zA-Z0-9_]*)/g, (_whole, braced?: string, bare?: string) => {
    const name = (braced ?? bare)!;
    const variable = variables.get(name);
    const selection = selections[name];
    if (variable === undefined) throw new Error(`query uses $${name}, which no variable defines: ${sql.slice(0, 80)}`);
    if (selection === undefined) throw new Error(`the query uses $${name}, which the test did not select`);
    if (selection === 'All') {
      if (!variable.includeAll || variable.allValue === undefined) throw new Error(`$${name} has no custom All value`);
      return variable.allValue;
    }
    if (variable.multi || variable.includeAll) return (typeof selection === 'string' ? [selection] : selection).map(quoteLiteral).join(',');
    if (typeof selection !== 'string') throw new Error(`$${name} takes one value`);
    return selection.replaceAll("'", "''");
  });
  return out;
}
