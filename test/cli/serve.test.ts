import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { codexRequest, ScriptedStream, startTestProcessor } from '../support/processor.js';

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function writeConfig(text: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-'));
  const path = join(directory, 'config.yaml');
  writeFileSync(path, text);
  return path;
}

function run(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

async function waitFor(predicate: () => boolean, timeoutMilliseconds = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMilliseconds;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const VALID = `
grpc: { host: 127.0.0.1, port: 50051 }
http: { host: 127.0.0.1, port: 9464 }
accounts:
  - { name: acct-a, cluster: openai-acct-a, profile: openai, weight: 1, domain: org-1 }
  - { name: acct-b, cluster: openai-acct-b, profile: chatgpt-codex }
`;

describe('codex-affinity serve', () => {
  it('prints one listening line with both addresses, honours port overrides, serves health, and exits 0 on SIGTERM', async () => {
    const process = run(['serve', '--config', writeConfig(VALID), '--grpc-port', '0', '--http-port', '0']);
    await waitFor(() => process.output().includes('listening'));
    const line = process.output().split('\n').find((entry) => entry.includes('listening'))!;
    const http = /http=(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!;
    expect(line).toMatch(/grpc=127\.0\.0\.1:\d+/);
    expect(line).not.toMatch(/:50051|:9464/);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('codex_affinity_open_streams');
    process.child.kill('SIGTERM');
    expect(await process.exit).toBe(0);
  });

  it.each([
    ['an unknown key', VALID.replace('weight: 1,', 'wieght: 1,'), /accounts\[0\]\.wieght: unknown key/],
    ['a wrong type', VALID.replace('port: 50051', 'port: fifty'), /grpc\.port: /],
    ['no accounts', 'accounts: []\n', /at least one account/],
  ])('refuses a config with %s: names the key, no stack trace, non-zero exit', async (_name, text, pattern) => {
    const process = run(['serve', '--config', writeConfig(text)]);
    expect(await process.exit).not.toBe(0);
    expect(process.output()).toMatch(pattern);
    expect(process.output()).not.toMatch(/\n\s+at /);
  });

  it('check validates a config without starting', async () => {
    const process = run(['check', '--config', writeConfig(VALID)]);
    expect(await process.exit).toBe(0);
    expect(process.output()).toMatch(/ok: 2 accounts/);
  });
});

describe('/metrics', () => {
  it('is valid Prometheus text (checked by a real parser) and carries no session ids or credentials', async () => {
    const processor = await startTestProcessor();
    try {
      const request = codexRequest({ session: 'secret-session-id-123', turn: 2, principal: 'sk-secret-key' });
      const stream = new ScriptedStream(processor);
      await stream.requestHeaders(request.headers);
      await stream.requestBody(request.body);
      await stream.responseHeaders({ ':status': '429', 'retry-after': '5', 'x-codex-turn-state': 'secret-token' }, true);
      await stream.end();
      const text = await (await fetch(`http://127.0.0.1:${processor.server.httpPort}/metrics`)).text();
      const families = parsePrometheusTextFormat(text) as Array<{ name: string; metrics: Array<{ labels?: Record<string, string>; value?: string }> }>;
      const requests = families.find((family) => family.name === 'codex_affinity_requests_total')!;
      expect(requests.metrics[0]!.labels).toMatchObject({ strength: 'hard', source: 'session_header', outcome: 'orphan' });
      expect(families.find((family) => family.name === 'codex_affinity_cooldowns_total')!.metrics).toHaveLength(1);
      expect(text).not.toMatch(/secret-session-id|sk-secret-key|secret-token/);
    } finally {
      await processor.close();
    }
  });
});
