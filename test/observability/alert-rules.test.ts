// The alert rules under promtool: valid, each alert's unit test passes, and each unit test
// would notice its alert never firing (the alert's expression is swapped for one that never
// holds, and promtool test rules must then fail).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { promtool } from '../support/promtool.js';

const DIRECTORY = fileURLToPath(new URL('../../deploy/observability/', import.meta.url));
const RULES = join(DIRECTORY, 'alerts.yaml');
const RULE_TESTS = join(DIRECTORY, 'alerts.test.yaml');

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string; labels?: Record<string, string> }> }>;
}
const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
const alerts = rules.groups.flatMap((group) => group.rules);

const scratch = mkdtempSync(join(tmpdir(), 'codex-affinity-rules-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('alert rules', () => {
  it('promtool check rules accepts them', () => {
    const checked = promtool(['check', 'rules', RULES]);
    expect(checked.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(checked.status).toBe(0);
  });

  it('promtool test rules: every alert has a firing case and passes', () => {
    const tested = parse(readFileSync(RULE_TESTS, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
    const fired = new Set(tested.tests.flatMap((test) => test.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname)));
    const silent = new Set(tested.tests.flatMap((test) => test.alert_rule_test.filter((check) => check.exp_alerts.length === 0).map((check) => check.alertname)));
    for (const alert of alerts) {
      expect(fired.has(alert.alert), `${alert.alert} has a case where it fires`).toBe(true);
      expect(silent.has(alert.alert), `${alert.alert} has a case where it stays silent`).toBe(true);
    }
    const result = promtool(['test', 'rules', RULE_TESTS]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('the cases would notice an alert that never fires, or that fires on everything', () => {
    copyFileSync(RULE_TESTS, join(scratch, 'alerts.test.yaml'));
    for (const alert of alerts) {
      for (const broken of ['vector(1) == 0', 'vector(1)']) {
        const mutated: RuleFile = structuredClone(rules);
        for (const rule of mutated.groups.flatMap((group) => group.rules)) if (rule.alert === alert.alert) rule.expr = broken;
        writeFileSync(join(scratch, 'alerts.yaml'), stringify(mutated));
        const result = promtool(['test', 'rules', join(scratch, 'alerts.test.yaml')]);
        expect(result.status, `${alert.alert} with expr ${broken}`).not.toBe(0);
      }
    }
  });

  it('every alert has a severity, a summary and a description; none uses a client value as a label', () => {
    for (const alert of alerts) {
      expect(['warning', 'critical']).toContain(alert.labels?.severity);
      const annotations = (alert as { annotations?: Record<string, string> }).annotations ?? {};
      expect(annotations.summary, alert.alert).toBeTruthy();
      expect(annotations.description, alert.alert).toBeTruthy();
      expect(alert.expr).not.toMatch(/session|principal|token="/);
    }
  });
});
