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
  targets?: Array<{ refId?: string; expr?: string; instant?: boolean; datasource?: { uid?: string } }>;
  panels?: PanelJson[];
}

interface DashboardJson {
  panels?: PanelJson[];
  templating?: { list?: Array<{ name?: string; query?: string | { query?: string }; multi?: boolean; includeAll?: boolean; allValue?: string }> };
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

export function targetsOf(dashboard: DashboardJson): DashboardTarget[] {
  return panelsOf(dashboard).flatMap((panel) => (panel.targets ?? []).map((target) => {
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
