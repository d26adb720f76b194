/** The dashboard files Grafana loads: generated from grafana/dashboards.ts, wired to the provisioned datasource. */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import {
  buildDashboards, DASHBOARD_DATASOURCES, DATASOURCE_UID, LEDGER_DATASOURCE_UID, LEDGER_USER_UID, renderDashboardFile, renderPanelDocs,
  withPanelDocs,
} from '../../grafana/dashboards.ts';
import { datasourceUidsOf, panelsOf, parseLabelValuesQuery, sqlTargetsOf, substitute, targetsOf, variablesOf } from './dashboard-queries.ts';

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const built = buildDashboards();
const TIME = { rangeSeconds: 3600, rateIntervalSeconds: 60, intervalSeconds: 15 };

describe('Grafana dashboards', () => {
  it('the committed JSON is exactly what grafana/dashboards.ts builds (run `node grafana/dashboards.ts` after editing it)', () => {
    assert.deepEqual(readdirSync(repoFile('grafana/dashboards')).sort(), Object.keys(built).sort());
    for (const [name, dashboard] of Object.entries(built)) {
      assert.equal(readFileSync(repoFile(`grafana/dashboards/${name}`), 'utf8'), renderDashboardFile(dashboard), name);
    }
  });

  it('docs/dashboards.md lists every panel with its question and queries, as built', () => {
    const docs = readFileSync(repoFile('docs/dashboards.md'), 'utf8');
    assert.equal(docs, withPanelDocs(docs, renderPanelDocs(built)), 'run `node grafana/dashboards.ts` to refresh docs/dashboards.md');
    for (const dashboard of Object.values(built)) {
      for (const panel of panelsOf(dashboard)) assert.ok(docs.includes(`**${panel.title}**`), `${panel.title} is documented`);
    }
    assert.throws(() => withPanelDocs('no markers here'), /markers/);
  });

  it('every panel, query and variable of a dashboard uses its one provisioned datasource uid', () => {
    const provisioned = parse(readFileSync(repoFile('grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as
      { datasources: Array<{ uid: string; type: string; url: string }> };
    assert.equal(provisioned.datasources.length, 1);
    assert.equal(provisioned.datasources[0]!.uid, DATASOURCE_UID);
    assert.equal(provisioned.datasources[0]!.type, 'prometheus');
    assert.deepEqual(Object.keys(DASHBOARD_DATASOURCES).sort(), Object.keys(built).sort(), 'every dashboard names its datasource');
    for (const [name, dashboard] of Object.entries(built)) {
      const uid = DASHBOARD_DATASOURCES[name];
      assert.ok(uid === DATASOURCE_UID || uid === LEDGER_DATASOURCE_UID, `${name}: ${uid}`);
      const uids = datasourceUidsOf(dashboard);
      assert.ok(uids.length > 0);
      for (const found of uids) assert.equal(found, uid, `${name} uses ${uid} throughout`);
      // A Prometheus dashboard has PromQL only, a ledger dashboard SQL only.
      assert.equal(targetsOf(dashboard).length > 0, uid === DATASOURCE_UID, `${name}: PromQL targets`);
      assert.equal(sqlTargetsOf(dashboard).length > 0, uid === LEDGER_DATASOURCE_UID, `${name}: SQL targets`);
    }
  });

  it('the ledger datasource reads the replicas profile\'s database as the read-only role, with the password compose gives both', () => {
    const provisioned = parse(readFileSync(repoFile('grafana/provisioning/datasources/ledger-postgres.yml'), 'utf8')) as
      { datasources: Array<{ uid: string; type: string; url: string; user: string; jsonData: { database: string }; secureJsonData: { password: string } }> };
    const [ledger, ...more] = provisioned.datasources;
    assert.equal(more.length, 0);
    assert.equal(ledger!.uid, LEDGER_DATASOURCE_UID);
    assert.equal(ledger!.type, 'grafana-postgresql-datasource');
    const compose = parse(readFileSync(repoFile('docker-compose.yml'), 'utf8')) as
      { services: Record<string, { environment: Record<string, string>; volumes?: string[]; profiles?: string[] }> };
    const postgres = compose.services.postgres!;
    assert.deepEqual(postgres.profiles, ['replicas']);
    assert.equal(ledger!.url, 'postgres:5432', 'the compose service name and port');
    assert.equal(ledger!.jsonData.database, postgres.environment.POSTGRES_DB);
    const script = readFileSync(repoFile('grafana/postgres-init/grafana-reader.sh'), 'utf8');
    assert.match(script, new RegExp(`CREATE ROLE ${ledger!.user} LOGIN`), 'the role the init script makes');
    assert.ok(postgres.volumes?.includes('./grafana/postgres-init:/docker-entrypoint-initdb.d:ro'), 'PostgreSQL runs the init script');
    // The password is not in the file: Grafana reads it from its environment, which compose fills as it fills PostgreSQL's.
    assert.equal(ledger!.secureJsonData.password, '${LEDGER_READER_PASSWORD}');
    assert.equal(compose.services.grafana!.environment.LEDGER_READER_PASSWORD, postgres.environment.LEDGER_READER_PASSWORD);
    assert.match(postgres.environment.LEDGER_READER_PASSWORD!, /^\$\{LEDGER_READER_PASSWORD:-/);
  });

  it('the ledger users table links each user to the ledger user dashboard, with the range and the filter', () => {
    const users = panelsOf(built['llm-users-ledger.json']!).find((panel) => panel.title === 'Users') as Record<string, any>;
    const links = JSON.stringify(users.fieldConfig.overrides);
    assert.match(links, new RegExp(`/d/${LEDGER_USER_UID}/llm-user-ledger\\?var-user=\\$\\{__value.raw\\}`));
    for (const part of ['${property:queryparam}', '${value:queryparam}', '${__url_time_range}']) assert.ok(links.includes(part), part);
    const names = (dashboard: string) => variablesOf(built[dashboard]!).map((variable) => variable.name);
    assert.deepEqual(names('llm-users-ledger.json'), ['property', 'value']);
    assert.deepEqual(names('llm-user-ledger.json'), ['user', 'property', 'value']);
  });

  it('the dashboard provider loads the folder docker-compose.yml mounts the dashboards into', () => {
    const provider = parse(readFileSync(repoFile('grafana/provisioning/dashboards/llm-user-metrics.yml'), 'utf8')) as
      { providers: Array<{ type: string; options: { path: string } }> };
    const compose = parse(readFileSync(repoFile('docker-compose.yml'), 'utf8')) as { services: { grafana: { volumes: string[] } } };
    const mounted = compose.services.grafana.volumes.map((volume) => volume.split(':'));
    assert.ok(mounted.some(([from, to]) => from === './grafana/dashboards' && to === provider.providers[0]!.options.path),
      `grafana mounts ./grafana/dashboards at ${provider.providers[0]!.options.path}: ${compose.services.grafana.volumes.join(', ')}`);
  });

  it('the overview filters by user, plan, feature, model and provider; the detail picks one user', () => {
    const overview = variablesOf(built['llm-users.json']!);
    assert.deepEqual(overview.map((variable) => variable.name).sort(), ['feature', 'model', 'plan', 'provider', 'user']);
    for (const variable of overview) {
      assert.ok(variable.multi && variable.includeAll && variable.allValue === '.*', `${variable.name} is multi-value with All = .*`);
      parseLabelValuesQuery(variable.query);
    }
    const detail = variablesOf(built['llm-user-detail.json']!);
    assert.deepEqual(detail.map((variable) => [variable.name, variable.multi]), [['user', false]]);
  });

  it('panels have a unit, a question, a place on the grid and unique ids; range questions use $__range, rates $__rate_interval', () => {
    for (const [name, dashboard] of Object.entries(built)) {
      const panels = panelsOf(dashboard) as Array<Record<string, any>>;
      const ids = (dashboard.panels as Array<{ id: number }>).map((panel) => panel.id);
      assert.equal(new Set(ids).size, ids.length, `${name}: unique panel ids`);
      for (const panel of panels) {
        const where = `${name} "${panel.title}"`;
        assert.ok(typeof panel.fieldConfig?.defaults?.unit === 'string' && panel.fieldConfig.defaults.unit !== '', `${where} has a unit`);
        assert.match(String(panel.description), /\?/, `${where} states its question`);
        const { x, w, h } = panel.gridPos;
        assert.ok(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${where} fits the 24-column grid`);
      }
      for (const target of targetsOf(dashboard)) {
        const where = `${name} "${target.panel}" ${target.refId}`;
        // An instant panel answers "over the chosen range"; a fixed window there would ignore the time picker.
        for (const window of target.expr.matchAll(/\[([^\]]+)\]/g)) {
          assert.ok(['$__range', '$__rate_interval'].includes(window[1]!), `${where} uses [${window[1]}], not a Grafana interval`);
        }
        if (/\brate\(/.test(target.expr)) assert.match(target.expr, /\[\$__rate_interval\]/, `${where}: rate() over $__rate_interval`);
        if (/\bincrease\(/.test(target.expr)) assert.match(target.expr, /\[\$__range\]/, `${where}: increase() over $__range`);
        if (target.expr.includes('$__range')) assert.ok(target.instant, `${where}: a whole-range answer is an instant query`);
      }
    }
  });

  it('the users table has the columns of a users tab and links each user to the detail dashboard', () => {
    const users = panelsOf(built['llm-users.json']!).find((panel) => panel.title === 'Users') as Record<string, any>;
    const columns = users.fieldConfig.overrides
      .flatMap((override: { properties: Array<{ id: string; value: unknown }> }) => override.properties)
      .filter((property: { id: string }) => property.id === 'displayName').map((property: { value: string }) => property.value);
    assert.deepEqual(columns, ['Cost', 'Requests', 'Tokens in', 'Tokens out', 'Avg latency', 'Error rate', 'First seen', 'Last seen']);
    assert.match(JSON.stringify(users.fieldConfig.overrides), /\/d\/llm-user-detail\/llm-user-detail\?var-user=\$\{__value.raw\}/);
  });
});

describe('substituting Grafana variables', () => {
  it('fills built-in intervals and the dashboard variables, longest name first', () => {
    assert.equal(
      substitute('sum(increase(x{user_id=~"$user"}[$__range])) * $__range_s / 60 + rate(y[$__rate_interval]) + ${plan}', { user: '.*', plan: 'pro' }, TIME),
      'sum(increase(x{user_id=~".*"}[3600s])) * 3600 / 60 + rate(y[60s]) + pro');
  });

  it('names a variable no one defines', () => {
    assert.throws(() => substitute('x{a="$nope"}', {}, TIME), /\$nope/);
  });

  it('reads label_values(metric, label) queries and refuses anything else', () => {
    assert.deepEqual(parseLabelValuesQuery('label_values(llm_requests_total{provider=~"$provider"}, model)'),
      { match: 'llm_requests_total{provider=~"$provider"}', label: 'model' });
    assert.throws(() => parseLabelValuesQuery('query_result(up)'), /label_values/);
  });
});
