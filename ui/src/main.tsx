import { render, type ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import {
  apiGet, SignInNeeded, storeToken, storedToken,
  type Anomalies, type Meta, type Overview, type UserDetail, type UserRow,
} from './api.ts';
import {
  csvText, daysBetween, exactValue, formatValue, planLines, queryString, RANGE_LABELS, resolveRange, userPath,
  type Format, type RangeChoice, type RangeKind, type ResolvedRange,
} from './model.ts';

const PAGE_SIZE = 100;

// ---- location: the view is the path, its settings the query string, so a link or a reload shows the same view
function currentLocation() {
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}

function useLocation() {
  const [where, setWhere] = useState(currentLocation);
  useEffect(() => {
    const update = () => setWhere(currentLocation());
    addEventListener('popstate', update);
    addEventListener('app:navigate', update);
    return () => { removeEventListener('popstate', update); removeEventListener('app:navigate', update); };
  }, []);
  return where;
}

function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  dispatchEvent(new Event('app:navigate'));
}

/** The current query string with some parameters changed ('' or undefined removes one). */
function withParams(changes: Record<string, string | undefined>, path = location.pathname): string {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined || value === '') params.delete(name); else params.set(name, value);
  }
  const text = params.toString();
  return `${path}${text === '' ? '' : `?${text}`}`;
}

function Link(props: { href: string; children: ComponentChildren; class?: string; current?: boolean }) {
  return (
    <a href={props.href} class={props.class} aria-current={props.current ? 'page' : undefined} onClick={(event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      navigate(props.href);
    }}>{props.children}</a>
  );
}

function rangeOf(params: URLSearchParams): RangeChoice {
  const kind = (RANGE_LABELS.find(([name]) => name === params.get('range'))?.[0] ?? '30d') as RangeKind;
  return { kind, from: params.get('from') ?? undefined, to: params.get('to') ?? undefined };
}

// ---- data loading
type Loaded<T> = { state: 'loading' } | { state: 'ok'; value: T; ms: number } | { state: 'error'; error: Error };

/** What `path` answers; 'loading' until the answer to this very path is in (never the previous path's). */
function useApi<T>(path: string | undefined, onSignIn: (message: string) => void): Loaded<T> {
  const [loaded, setLoaded] = useState<{ path: string; result: Loaded<T> } | undefined>(undefined);
  useEffect(() => {
    if (path === undefined) return;
    const controller = new AbortController();
    const started = performance.now();
    apiGet<T>(path, controller.signal).then(
      (value) => setLoaded({ path, result: { state: 'ok', value, ms: performance.now() - started } }),
      (error: Error) => {
        if (controller.signal.aborted) return;
        if (error instanceof SignInNeeded) onSignIn(error.message);
        setLoaded({ path, result: { state: 'error', error } });
      },
    );
    return () => controller.abort();
  }, [path]);
  return loaded !== undefined && loaded.path === path ? loaded.result : { state: 'loading' };
}

function Problem({ error }: { error: Error }) {
  return <p class="problem" role="alert">{error.message}</p>;
}

// ---- numbers: the locale's format shown, the exact figure on hover
function Num({ value, format }: { value: unknown; format: Format }) {
  return <span title={exactValue(value)}>{formatValue(value, format)}</span>;
}

// ---- the app
function App() {
  const { path, params } = useLocation();
  const [signIn, setSignIn] = useState<string | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  const meta = useApi<Meta>(signIn === undefined ? `/api/meta#${generation}` : undefined, setSignIn);
  if (signIn !== undefined) {
    return <Shell path={path}><SignIn message={signIn} onDone={() => { setSignIn(undefined); setGeneration(generation + 1); }} /></Shell>;
  }
  if (meta.state === 'loading') return <Shell path={path}><p aria-busy="true">Loading…</p></Shell>;
  if (meta.state === 'error') return <Shell path={path}><Problem error={meta.error} /></Shell>;
  const range = rangeOf(params);
  const resolved = resolveRange(range, Date.now());
  let view: ComponentChildren;
  if (path.startsWith('/users/')) {
    let userId: string | undefined;
    try { userId = decodeURIComponent(path.slice('/users/'.length)); } catch { userId = undefined; }
    view = userId === undefined ? <p class="problem">Not a user address.</p>
      : <UserPage key={userId} userId={userId} range={range} resolved={resolved} onSignIn={setSignIn} />;
  } else if (path === '/plans') {
    view = <PlansPage meta={meta.value} range={range} resolved={resolved} onSignIn={setSignIn} />;
  } else if (path === '/anomalies') {
    view = <AnomaliesPage onSignIn={setSignIn} />;
  } else {
    view = <UsersPage meta={meta.value} params={params} range={range} resolved={resolved} onSignIn={setSignIn} />;
  }
  return <Shell path={path}>{view}</Shell>;
}

function Shell({ path, children }: { path: string; children: ComponentChildren }) {
  const [theme, setTheme] = useState(() => localStorage.getItem('llm-user-metrics.theme') ?? '');
  useEffect(() => {
    if (theme === '') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.setAttribute('data-theme', theme);
  }, [theme]);
  const toggle = () => {
    const dark = theme === 'dark' || (theme === '' && matchMedia('(prefers-color-scheme: dark)').matches);
    const next = dark ? 'light' : 'dark';
    localStorage.setItem('llm-user-metrics.theme', next);
    setTheme(next);
  };
  const keep = withParams({ search: undefined, page: undefined, sort: undefined, order: undefined }, '');
  return (
    <>
      <header>
        <strong class="brand">LLM users</strong>
        <nav aria-label="Views">
          <Link href={`/${keep}`} current={path === '/' || path.startsWith('/users/')}>Users</Link>
          <Link href={`/plans${keep}`} current={path === '/plans'}>Plans</Link>
          <Link href={`/anomalies${keep}`} current={path === '/anomalies'}>Anomalies</Link>
        </nav>
        <button type="button" class="theme" onClick={toggle} aria-label="Switch between light and dark">◐</button>
      </header>
      <main>{children}</main>
    </>
  );
}

function SignIn({ message, onDone }: { message: string; onDone: () => void }) {
  const [token, setToken] = useState('');
  return (
    <form class="sign-in" onSubmit={(event) => { event.preventDefault(); storeToken(token.trim()); onDone(); }}>
      <h1>Sign in</h1>
      <p>{message} It is kept for this tab only (sessionStorage) and sent as a bearer header.</p>
      <label>API token <input type="password" name="token" autocomplete="current-password" value={token}
        onInput={(event) => setToken((event.target as HTMLInputElement).value)} required autoFocus /></label>
      <button type="submit">Sign in</button>
      {storedToken() !== undefined && <button type="button" onClick={() => { storeToken(undefined); setToken(''); }}>Forget the token</button>}
    </form>
  );
}

function RangePicker({ range }: { range: RangeChoice }) {
  return (
    <fieldset class="range">
      <legend class="visually-hidden">Range</legend>
      <label>Range <select name="range" value={range.kind} onChange={(event) => navigate(withParams({
        range: (event.target as HTMLSelectElement).value, page: undefined,
      }))}>{RANGE_LABELS.map(([kind, label]) => <option value={kind}>{label}</option>)}</select></label>
      {range.kind === 'custom' && (
        <>
          <label>From <input type="date" name="from" value={range.from ?? ''} onChange={(event) => navigate(withParams({ from: (event.target as HTMLInputElement).value, page: undefined }))} /></label>
          <label>To <input type="date" name="to" value={range.to ?? ''} onChange={(event) => navigate(withParams({ to: (event.target as HTMLInputElement).value, page: undefined }))} /></label>
        </>
      )}
    </fieldset>
  );
}

// ---- Users
interface Column {
  readonly key: string;
  readonly label: string;
  readonly format: Format;
  /** The users API's sort parameter; undefined: not sortable server-side. */
  readonly sort?: string;
  readonly value: (user: UserRow) => string | number | null;
}

const USER_COLUMNS: readonly Column[] = [
  { key: 'userId', label: 'User', format: 'text', sort: 'userId', value: (user) => user.userId },
  { key: 'activeFor', label: 'Active for', format: 'duration', sort: 'activeFor', value: (user) => activeForMs(user) },
  { key: 'lastSeen', label: 'Last active', format: 'date', sort: 'lastSeen', value: (user) => user.lastSeen },
  { key: 'requests', label: 'Requests', format: 'count', sort: 'requests', value: (user) => user.requests },
  { key: 'avgRequestsPerDay', label: 'Avg req / day', format: 'decimal', sort: 'avgRequestsPerDay', value: (user) => user.avgRequestsPerDay },
  { key: 'avgTokensPerRequest', label: 'Avg tokens / req', format: 'decimal', sort: 'avgTokensPerRequest', value: (user) => user.avgTokensPerRequest },
  { key: 'costUsd', label: 'Total cost', format: 'usd', sort: 'costUsd', value: (user) => user.costUsd },
  { key: 'costPerRequest', label: 'Cost / req', format: 'usd', sort: 'costPerRequest', value: (user) => (user.requests === 0 ? 0 : user.costUsd / user.requests) },
  { key: 'errors', label: 'Errors', format: 'count', sort: 'errors', value: (user) => user.errors },
  { key: 'errorRate', label: 'Error rate', format: 'percent', sort: 'errorRate', value: (user) => user.errorRate },
  { key: 'avgLatencyMs', label: 'Avg latency', format: 'ms', sort: 'avgLatencyMs', value: (user) => user.avgLatencyMs },
];

function activeForMs(user: UserRow): number | null {
  return user.firstSeen === null || user.lastSeen === null ? null : Date.parse(user.lastSeen) - Date.parse(user.firstSeen);
}

function propertyColumns(names: readonly string[]): Column[] {
  return names.map((name) => ({ key: `property.${name}`, label: name, format: 'text' as const, value: (user: UserRow) => user.properties?.[name] ?? null }));
}

function UsersPage({ meta, params, range, resolved, onSignIn }: {
  meta: Meta; params: URLSearchParams; range: RangeChoice; resolved: ResolvedRange; onSignIn: (message: string) => void;
}) {
  const sort = params.get('sort') ?? 'costUsd';
  const order = params.get('order') ?? (sort === 'userId' ? 'asc' : 'desc');
  const search = params.get('search') ?? '';
  const page = Math.max(0, Number.parseInt(params.get('page') ?? '0', 10) || 0);
  const filters = Object.fromEntries(meta.propertyNames.map((name) => [`property.${name}`, params.get(`property.${name}`) ?? undefined]));
  const filterQuery = { ...resolved.params, ...filters };
  const usersPath = `/api/users${queryString({
    ...filterQuery, sort, order, search, limit: PAGE_SIZE, offset: page * PAGE_SIZE, properties: meta.propertyNames.join(','),
  })}`;
  const users = useApi<{ users: UserRow[]; total: number }>(usersPath, onSignIn);
  // The totals read every matching user: asked for once the table is in, so that it never waits behind them.
  const overview = useApi<Overview>(users.state === 'loading' ? undefined
    : `/api/overview${queryString({ ...filterQuery, properties: ',', values: meta.propertyNames.join(',') })}`, onSignIn);
  const [searchText, setSearchText] = useState(search);
  useEffect(() => setSearchText(search), [search]);
  const columns = [...USER_COLUMNS, ...propertyColumns(meta.propertyNames)];
  const rows = users.state === 'ok' ? users.value.users : [];
  const download = () => {
    const text = csvText(columns.map((column) => column.key), rows.map((user) => columns.map((column) => column.value(user))));
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    link.download = `users-${resolved.firstDay}-${resolved.lastDay}-page${page + 1}.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  };
  const valuesOf = (name: string) => (overview.state === 'ok' ? [...(overview.value.values?.[name] ?? [])] : []);
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <div class="controls">
        <RangePicker range={range} />
        <form role="search" onSubmit={(event) => { event.preventDefault(); navigate(withParams({ search: searchText, page: undefined })); }}>
          <label>User id contains <input type="search" name="search" value={searchText} onInput={(event) => setSearchText((event.target as HTMLInputElement).value)} /></label>
          <button type="submit">Search</button>
        </form>
        {meta.propertyNames.map((name) => {
          const current = filters[`property.${name}`];
          const values = valuesOf(name);
          if (current !== undefined && !values.includes(current)) values.push(current);
          return (
            <label>{name} <select name={`property.${name}`} value={current ?? ''} onChange={(event) => navigate(withParams({
              [`property.${name}`]: (event.target as HTMLSelectElement).value, page: undefined,
            }))}>
              <option value="">any</option>
              {values.map((value) => <option value={value}>{value === '' ? '(none)' : value}</option>)}
            </select></label>
          );
        })}
        <button type="button" onClick={download} disabled={rows.length === 0}>Download CSV</button>
      </div>
      <Totals overview={overview} />
      {users.state === 'error' && <Problem error={users.error} />}
      <div class="table-wrap">
        <table class="users" aria-busy={users.state === 'loading'} data-state={users.state}>
          <thead><tr>{columns.map((column) => {
            const sorted = column.sort === sort;
            return (
              <th scope="col" aria-sort={sorted ? (order === 'asc' ? 'ascending' : 'descending') : undefined} data-key={column.key}>
                {column.sort === undefined ? column.label : (
                  <button type="button" onClick={() => navigate(withParams({
                    sort: column.sort, order: sorted ? (order === 'asc' ? 'desc' : 'asc') : (column.sort === 'userId' ? 'asc' : 'desc'), page: undefined,
                  }))}>{column.label}{sorted ? (order === 'asc' ? ' ▲' : ' ▼') : ''}</button>
                )}
              </th>
            );
          })}</tr></thead>
          <tbody>{rows.map((user) => (
            <tr data-user={user.userId}>{columns.map((column) => (
              <td data-key={column.key} data-value={exactValue(column.value(user))} class={column.format === 'text' ? 'text' : 'num'}>
                {column.key === 'userId'
                  ? <Link href={`${userPath(user.userId)}${withParams({ sort: undefined, order: undefined, page: undefined, search: undefined }, '')}`}>{user.userId}</Link>
                  : <Num value={column.value(user)} format={column.format} />}
              </td>
            ))}</tr>
          ))}</tbody>
        </table>
      </div>
      {users.state === 'ok' && (
        <nav class="pager" aria-label="Pages">
          <button type="button" disabled={page === 0} onClick={() => navigate(withParams({ page: String(page - 1) }))}>Previous</button>
          <span class="page-info">{users.value.total === 0 ? 'No users in this range'
            : `${formatValue(page * PAGE_SIZE + 1, 'count')}–${formatValue(page * PAGE_SIZE + rows.length, 'count')} of ${formatValue(users.value.total, 'count')}`}</span>
          <button type="button" disabled={(page + 1) * PAGE_SIZE >= users.value.total} onClick={() => navigate(withParams({ page: String(page + 1) }))}>Next</button>
        </nav>
      )}
    </section>
  );
}

function Totals({ overview }: { overview: Loaded<Overview> }) {
  if (overview.state === 'error') return <Problem error={overview.error} />;
  if (overview.state === 'loading') return <dl class="totals" aria-busy="true" />;
  const { users, totals } = overview.value;
  return (
    <dl class="totals" data-state="ok">
      <div><dt>Users</dt><dd data-total="users"><Num value={users} format="count" /></dd></div>
      <div><dt>Requests</dt><dd data-total="requests"><Num value={totals.requests} format="count" /></dd></div>
      <div><dt>Cost</dt><dd data-total="costUsd"><Num value={totals.costUsd} format="usd" /></dd></div>
      <div><dt>Errors</dt><dd data-total="errors"><Num value={totals.errors} format="count" /></dd></div>
      <div><dt>Tokens</dt><dd data-total="tokens"><Num value={totals.inputTokens + totals.outputTokens + totals.cacheReadTokens + totals.cacheWriteTokens} format="count" /></dd></div>
      <div><dt>Avg latency</dt><dd data-total="avgLatencyMs"><Num value={totals.avgLatencyMs} format="ms" /></dd></div>
    </dl>
  );
}

// ---- one user
function UserPage({ userId, range, resolved, onSignIn }: {
  userId: string; range: RangeChoice; resolved: ResolvedRange; onSignIn: (message: string) => void;
}) {
  const detail = useApi<UserDetail>(`/api/users/${encodeURIComponent(userId)}${queryString(resolved.params)}`, onSignIn);
  const days = useMemo(() => daysBetween(resolved.firstDay, resolved.lastDay), [resolved.firstDay, resolved.lastDay]);
  return (
    <section aria-labelledby="user-title">
      <p><Link href={`/${withParams({}, '')}`}>← All users</Link></p>
      <h1 id="user-title">User <code>{userId}</code></h1>
      <div class="controls"><RangePicker range={range} /></div>
      {detail.state === 'loading' && <p aria-busy="true">Loading…</p>}
      {detail.state === 'error' && <Problem error={detail.error} />}
      {detail.state === 'ok' && <UserDetailView detail={detail.value} days={days} />}
    </section>
  );
}

function UserDetailView({ detail, days }: { detail: UserDetail; days: string[] }) {
  const { user } = detail;
  const byDay = new Map(detail.daily.map((entry) => [entry.date, entry]));
  const series = (pick: (entry: UserDetail['daily'][number]) => number) => days.map((day) => { const entry = byDay.get(day); return entry === undefined ? 0 : pick(entry); });
  const latency = days.map((day) => { const entry = byDay.get(day); return entry === undefined || entry.requests === 0 ? null : entry.avgLatencyMs; });
  const facts: Array<[string, string, unknown, Format]> = [
    ['costUsd', 'Cost', user.costUsd, 'usd'], ['requests', 'Requests', user.requests, 'count'],
    ['totalTokens', 'Tokens', user.totalTokens, 'count'], ['errors', 'Errors', user.errors, 'count'],
    ['errorRate', 'Error rate', user.errorRate, 'percent'], ['avgLatencyMs', 'Avg latency', user.avgLatencyMs, 'ms'],
    ['firstSeen', 'First seen', user.firstSeen, 'date'], ['lastSeen', 'Last seen', user.lastSeen, 'date'],
  ];
  return (
    <>
      <dl class="totals user-totals">{facts.map(([key, label, value, format]) => (
        <div><dt>{label}</dt><dd data-total={key} data-value={exactValue(value)}><Num value={value} format={format} /></dd></div>
      ))}</dl>
      <div class="charts">
        <Chart title="Cost per day (USD)" days={days} values={series((entry) => entry.costUsd)} />
        <Chart title="Requests per day" days={days} values={series((entry) => entry.requests)} />
        <Chart title="Tokens per day" days={days} values={series((entry) => entry.inputTokens + entry.outputTokens + entry.cacheReadTokens + entry.cacheWriteTokens)} />
        <Chart title="Errors per day" days={days} values={series((entry) => entry.errors)} />
        <Chart title="Average latency per day (ms)" days={days} values={latency} />
      </div>
      <div class="splits">
        <SplitTable caption="By model" rows={detail.byModel.map((entry) => [`${entry.provider} / ${entry.model}`, entry])} />
        <SplitTable caption="By property" rows={detail.byProperty.map((entry) => [`${entry.name} = ${entry.value}`, entry])} />
      </div>
    </>
  );
}

function SplitTable({ caption, rows }: { caption: string; rows: Array<[string, { requests: number; errors: number; costUsd: number; avgLatencyMs: number }]> }) {
  return (
    <table class="split">
      <caption>{caption}</caption>
      <thead><tr><th scope="col">Of</th><th scope="col">Requests</th><th scope="col">Errors</th><th scope="col">Cost</th><th scope="col">Avg latency</th></tr></thead>
      <tbody>{rows.map(([label, sums]) => (
        <tr><th scope="row" class="text">{label}</th><td class="num"><Num value={sums.requests} format="count" /></td>
          <td class="num"><Num value={sums.errors} format="count" /></td><td class="num"><Num value={sums.costUsd} format="usd" /></td>
          <td class="num"><Num value={sums.avgLatencyMs} format="ms" /></td></tr>
      ))}</tbody>
    </table>
  );
}

function Chart({ title, days, values }: { title: string; days: string[]; values: Array<number | null> }) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = holder.current;
    if (element === null) return;
    const style = getComputedStyle(document.documentElement);
    const ink = style.getPropertyValue('--muted').trim() || '#666';
    const accent = style.getPropertyValue('--accent').trim() || '#2563eb';
    const grid = style.getPropertyValue('--line').trim() || '#ddd';
    const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const xs = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
    const plot = new uPlot({
      width: Math.max(280, element.clientWidth), height: 180, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { show: false }, cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 60 }],
      series: [{}, { label: title, stroke: accent, fill: `${accent}33`, width: 2, points: { show: days.length <= 45 } }],
    }, [xs, values], element);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, element.clientWidth), height: 180 }));
    resize.observe(element);
    return () => { resize.disconnect(); plot.destroy(); };
  }, [days, values.join(',')]);
  return <figure class="chart"><figcaption>{title}</figcaption><div ref={holder} role="img" aria-label={`${title}, ${days.length} days`} /></figure>;
}

// ---- Plans
function PlansPage({ meta, range, resolved, onSignIn }: { meta: Meta; range: RangeChoice; resolved: ResolvedRange; onSignIn: (message: string) => void }) {
  const overview = useApi<Overview>(`/api/overview${queryString({ ...resolved.params, properties: 'plan' })}`, onSignIn);
  const priced = Object.keys(meta.planPricesUsd);
  const [worst, setWorst] = useState<Loaded<Array<{ user: UserRow; plan: string; marginUsd: number }>>>({ state: 'loading' });
  useEffect(() => {
    const controller = new AbortController();
    setWorst({ state: 'loading' });
    // Within a plan every user brings the same revenue, so its least profitable users are its costliest.
    Promise.all(priced.map((plan) => apiGet<{ users: UserRow[] }>(`/api/users${queryString({ ...resolved.params, 'property.plan': plan, sort: 'costUsd', order: 'desc', limit: 10 })}`, controller.signal)
      .then(({ users }) => users.map((user) => ({ user, plan, marginUsd: meta.planPricesUsd[plan]! * resolved.months - user.costUsd })))))
      .then((lists) => setWorst({ state: 'ok', value: lists.flat().sort((a, b) => a.marginUsd - b.marginUsd).slice(0, 10), ms: 0 }),
        (error: Error) => { if (!controller.signal.aborted) { if (error instanceof SignInNeeded) onSignIn(error.message); setWorst({ state: 'error', error }); } });
    return () => controller.abort();
  }, [JSON.stringify(resolved.params), priced.join(',')]);
  return (
    <section aria-labelledby="plans-title">
      <h1 id="plans-title">Plans</h1>
      <div class="controls"><RangePicker range={range} /></div>
      {priced.length === 0 && <p class="note">No plan prices: set <code>PLAN_PRICES_USD</code> (e.g. <code>free=0,pro=20</code>) to see revenue and margin.</p>}
      <p class="note">Revenue: users with calls in the range × the plan's monthly price × {formatValue(resolved.months, 'decimal')} month(s).</p>
      {overview.state === 'error' && <Problem error={overview.error} />}
      {overview.state === 'ok' && (
        <table class="plans">
          <thead><tr><th scope="col">Plan</th><th scope="col">Users</th><th scope="col">Price / month</th><th scope="col">Revenue</th><th scope="col">LLM cost</th><th scope="col">Margin</th></tr></thead>
          <tbody>{planLines(overview.value.byProperty.filter((entry) => entry.name === 'plan'), meta.planPricesUsd, resolved.months).map((line) => (
            <tr data-plan={line.plan}><th scope="row" class="text">{line.plan === '' ? '(no plan)' : line.plan}</th>
              <td class="num"><Num value={line.users} format="count" /></td><td class="num"><Num value={line.priceUsd} format="usd" /></td>
              <td class="num"><Num value={line.revenueUsd} format="usd" /></td><td class="num"><Num value={line.costUsd} format="usd" /></td>
              <td class={`num ${line.marginUsd !== undefined && line.marginUsd < 0 ? 'loss' : ''}`}><Num value={line.marginUsd} format="usd" /></td></tr>
          ))}</tbody>
        </table>
      )}
      <h2>Least profitable users</h2>
      {worst.state === 'error' && <Problem error={worst.error} />}
      {worst.state === 'ok' && (
        <table class="least-profitable">
          <thead><tr><th scope="col">User</th><th scope="col">Plan</th><th scope="col">LLM cost</th><th scope="col">Margin</th></tr></thead>
          <tbody>{worst.value.map(({ user, plan, marginUsd }) => (
            <tr><th scope="row" class="text"><Link href={`${userPath(user.userId)}${withParams({}, '')}`}>{user.userId}</Link></th><td class="text">{plan}</td>
              <td class="num"><Num value={user.costUsd} format="usd" /></td><td class={`num ${marginUsd < 0 ? 'loss' : ''}`}><Num value={marginUsd} format="usd" /></td></tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}

// ---- Anomalies
function AnomaliesPage({ onSignIn }: { onSignIn: (message: string) => void }) {
  const found = useApi<Anomalies>('/api/anomalies', onSignIn);
  return (
    <section aria-labelledby="anomalies-title">
      <h1 id="anomalies-title">Anomalies</h1>
      {found.state === 'error' && <Problem error={found.error} />}
      {found.state === 'ok' && (
        <>
          <p class="note">Today ({found.value.today}, UTC) against each user's median of the {found.value.baselineDays} days before, in robust
            deviations (1.4826 × MAD, at least {found.value.rules.floorRequests} requests or {formatValue(found.value.rules.floorCostUsd, 'usd')}); listed from {found.value.rules.threshold}.</p>
          {found.value.anomalies.length === 0 ? <p>No user is far above their baseline today.</p> : (
            <table class="anomalies">
              <thead><tr><th scope="col">User</th><th scope="col">Requests today</th><th scope="col">Median</th><th scope="col">Score</th><th scope="col">Cost today</th><th scope="col">Median</th><th scope="col">Score</th></tr></thead>
              <tbody>{found.value.anomalies.map((entry) => (
                <tr><th scope="row" class="text"><Link href={`${userPath(entry.userId)}?range=7d`}>{entry.userId}</Link></th>
                  <td class="num"><Num value={entry.requestsToday} format="count" /></td><td class="num"><Num value={entry.requestsMedian} format="decimal" /></td>
                  <td class="num"><Num value={entry.requestsScore} format="decimal" /></td><td class="num"><Num value={entry.costUsdToday} format="usd" /></td>
                  <td class="num"><Num value={entry.costUsdMedian} format="usd" /></td><td class="num"><Num value={entry.costScore} format="decimal" /></td></tr>
              ))}</tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

render(<App />, document.getElementById('app')!);
