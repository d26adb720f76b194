/** promtool's own checks of the Prometheus config and rules, and that every alert has a unit test that fires it. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: repoFile('.'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const failed = error as { code?: string; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') throw new Error('promtool is not installed: install the Debian package "prometheus" (scripts/ensure-promtool.sh)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
  }
}

interface RuleGroupFile { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> }
interface RuleTestFile {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

describe('Prometheus config and rules (promtool)', () => {
  it('promtool check config accepts prometheus/prometheus.yml and the rule files it loads', () => {
    assert.match(promtool('check', 'config', 'prometheus/prometheus.yml'), /SUCCESS: prometheus\/prometheus.yml is valid/);
  });

  it('promtool check rules accepts the recording and alert rules', () => {
    const out = promtool('check', 'rules', 'prometheus/rules/recording.yml', 'prometheus/rules/alerts.yml');
    assert.equal(out.match(/SUCCESS/g)?.length, 2, out);
  });

  it('promtool test rules passes the alert unit tests', () => {
    assert.match(promtool('test', 'rules', 'prometheus/tests/alerts.test.yml'), /SUCCESS/);
  });

  it('every alert has a unit test in which it fires, and the tests load the rule files the config loads', () => {
    const alerts = (parse(readFileSync(repoFile('prometheus/rules/alerts.yml'), 'utf8')) as RuleGroupFile)
      .groups.flatMap((group) => group.rules).map((rule) => rule.alert).filter((name) => name !== undefined);
    assert.ok(alerts.length >= 7, `alerts: ${alerts.join(', ')}`);
    const tests = parse(readFileSync(repoFile('prometheus/tests/alerts.test.yml'), 'utf8')) as RuleTestFile;
    const firing = new Set(tests.tests.flatMap((test) => test.alert_rule_test ?? [])
      .filter((check) => (check.exp_alerts ?? []).length > 0).map((check) => check.alertname));
    assert.deepEqual(alerts.filter((name) => !firing.has(name)), [], 'alerts without a firing test');
    assert.deepEqual(tests.rule_files.map((file) => file.replace('../', '')).sort(), ['rules/alerts.yml', 'rules/recording.yml']);
  });
});
