// The CLI's admin and explain sub-commands and live reload of `serve`, run as users run
// them: the built bin, a config file on disk, standard input.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadExternalProcessor } from '../../src/extproc/proto.js';
import * as grpc from '@grpc/grpc-js';
import { codexRequest, routedCluster, ScriptedStream, type TestProcessor } from '../support/processor.js';

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/codex-cli-0.169.0/first-turn.json', import.meta.url), 'utf8')) as { path: string; headers: Record<string, string>; body: unknown };
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-cli-'));
const TOKEN = 'cli-admin-token-31c7';
const tokenFile = join(directory, 'token');
writeFileSync(tokenFile, TOKEN);

function configText(accounts: string[], extra = ''): string {
  return [
    'grpc: { host: 127.0.0.1, port: 0 }',
    'http: { host: 127.0.0.1, port: 0 }',
    `admin: { tokenFile: ${tokenFile} }`,
    'reload: { pollInterval: 100ms }',
    'logging: { level: info }',
    'accounts:',
    ...accounts.map((name) => `  - { name: ${name}, cluster: cluster-${name}, domain: org-${name} }`),
    extra,
  ].join('\n');
}

function writeConfig(text: string, name = `config-${Math.random().toString(36).slice(2)}.yaml`): string {
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

function run(args: string[], stdin?: string): { child: ChildProcess; output: () => string; stdout: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  let stdout = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => (output += chunk));
  if (stdin !== undefined) child.stdin!.end(stdin);
  else child.stdin!.end();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, stdout: () => stdout, exit };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMilliseconds = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMilliseconds;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function serve(configPath: string) {
  const server = run(['serve', '--config', configPath]);
  await waitFor(() => server.output().includes('listening'));
  const line = server.output().split('\n').find((entry) => entry.includes('listening'))!;
  return { ...server, http: /http=(http:\/\/[^ "]+)/.exec(line)![1]!, grpc: /grpc=([^ "]+)/.exec(line)![1]! };
}

const metric = async (http: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${http}/metrics`)).text())?.[1]);

describe('codex-affinity explain', () => {
  it('explains a recorded Codex CLI request from standard input: sticky key, strength, account and rewrites; no client value printed', async () => {
    const config = writeConfig(configText(['acct-a', 'acct-b', 'acct-c']));
    const input = JSON.stringify({ headers: { ':path': FIXTURE.path, ...FIXTURE.headers }, body: FIXTURE.body });
    const explained = run(['explain', '--config', config], input);
    expect(await explained.exit).toBe(0);
    const answer = JSON.parse(explained.stdout());
    expect(answer.request).toEqual({ path: '/v1/responses', pool: 'default', inference: true });
    expect(answer.stickyKey.source).toBe('session_header');
    expect(answer.strength).toBe('soft');
    expect(answer.decision).toMatchObject({ kind: 'route', outcome: 'new', sessionWrite: 'create' });
    expect(['acct-a', 'acct-b', 'acct-c']).toContain(answer.decision.account);
    expect(answer.rewrites.setHeaders[0]).toEqual({ name: 'x-codex-affinity-cluster', value: `cluster-${answer.decision.account}` });
    const sessionId = FIXTURE.headers['session-id'] ?? FIXTURE.headers['session_id'];
    expect(sessionId).toBeTruthy();
    expect(explained.stdout()).not.toContain(sessionId!);
    // The same request explained twice lands on the same account: placement is deterministic.
    const again = run(['explain', '--config', config], input);
    expect(await again.exit).toBe(0);
    expect(JSON.parse(again.stdout()).decision.account).toBe(answer.decision.account);
  });

  it('refuses input that is not a request, naming what is wrong', async () => {
    const config = writeConfig(configText(['acct-a']));
    const bad = run(['explain', '--config', config], '{"body":{}}');
    expect(await bad.exit).toBe(2);
    expect(bad.output()).toContain('"headers"');
    const notJson = run(['explain', '--config', config], 'nope');
    expect(await notJson.exit).toBe(2);
    expect(notJson.output()).toContain('not JSON');
  });
});

describe('codex-affinity admin', () => {
  it('drains, lists, looks up a session from stdin, and fails with a wrong token', async () => {
    const config = writeConfig(configText(['acct-a', 'acct-b']));
    const server = await serve(config);
    const admin = (args: string[], stdin?: string, token = tokenFile) => run(['admin', '--url', server.http, '--token-file', token, ...args], stdin);
    const drained = admin(['drain', 'acct-a']);
    expect(await drained.exit).toBe(0);
    expect(JSON.parse(drained.stdout())).toEqual({ account: 'acct-a', drained: true, changed: true });
    const listed = admin(['accounts']);
    expect(await listed.exit).toBe(0);
    expect(JSON.parse(listed.stdout()).accounts.map((entry: { account: string; drained: boolean }) => [entry.account, entry.drained])).toEqual([['acct-a', true], ['acct-b', false]]);
    const lookup = admin(['lookup-session'], JSON.stringify({ session: 'nobody', authorization: 'Bearer x' }));
    expect(await lookup.exit).toBe(0);
    expect(JSON.parse(lookup.stdout())).toEqual({ found: false, kind: 'session' });
    const cooled = admin(['cooldown', 'acct-b', '60']);
    expect(await cooled.exit).toBe(0);
    expect(JSON.parse(cooled.stdout()).cooldownSecondsLeft).toBeGreaterThan(59);
    const wrongToken = writeConfig('not-the-token', 'wrong-token');
    const refused = admin(['accounts'], undefined, wrongToken);
    expect(await refused.exit).toBe(1);
    expect(refused.stdout()).toContain('unauthorized');
    const unknown = admin(['frobnicate']);
    expect(await unknown.exit).toBe(2);
    // Using --config: the URL and token come from the config file.
    const fromConfig = run(['admin', '--url', server.http, '--config', config, 'undrain', 'acct-a']);
    expect(await fromConfig.exit).toBe(0);
  });
});

describe('live reload (serve)', () => {
  function client(address: string): TestProcessor {
    const { client: Client } = loadExternalProcessor();
    return { client: new Client(address, grpc.credentials.createInsecure()) } as unknown as TestProcessor;
  }

  it('applies an edited config to new streams without dropping an open one; refuses a bad one with one log line; the generation metric says which is live', async () => {
    const path = writeConfig(configText(['acct-a']), 'live.yaml');
    const server = await serve(path);
    expect(await metric(server.http, 'codex_affinity_config_generation')).toBe(1);
    const target = client(server.grpc);
    // A stream opened on generation 1, with only acct-a, left mid-request across the reload.
    const open = new ScriptedStream(target);
    const pending = codexRequest({ session: 'across-reload', turn: 1 });
    await open.requestHeaders(pending.headers);

    // As a ConfigMap update does: a new file swapped in.
    writeFileSync(`${path}.new`, configText(['acct-a', 'acct-b', 'acct-c']));
    renameSync(`${path}.new`, path);
    await waitFor(async () => (await metric(server.http, 'codex_affinity_config_generation')) === 2);
    expect(server.output()).toMatch(/config reloaded: generation 2/);

    // The open stream finishes on its own generation: answered, on acct-a.
    const answer = await open.requestBody(pending.body);
    expect(routedCluster(answer)).toBe('cluster-acct-a');
    await open.end();

    // New streams see the new accounts.
    const clusters = new Set<string>();
    for (let index = 0; index < 30; index++) {
      const request = codexRequest({ session: `after-${index}`, turn: 1 });
      const stream = new ScriptedStream(target);
      await stream.requestHeaders(request.headers);
      clusters.add(routedCluster(await stream.requestBody(request.body))!);
      await stream.end();
    }
    expect([...clusters].sort()).toEqual(['cluster-acct-a', 'cluster-acct-b', 'cluster-acct-c']);
    const accounts = await (await fetch(`${server.http}/admin/accounts`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    expect(accounts.accounts.map((entry: { account: string }) => entry.account)).toEqual(['acct-a', 'acct-b', 'acct-c']);

    // A broken file: refused with one line naming the key, generation 2 stays.
    const before = server.output().split('\n').length;
    writeFileSync(path, configText(['acct-a']).replace('accounts:', 'acounts:'));
    await waitFor(() => server.output().includes('config reload refused'));
    const refusedLines = server.output().split('\n').slice(before - 1).filter((line) => line.includes('config reload refused'));
    expect(refusedLines).toHaveLength(1);
    expect(refusedLines[0]).toContain('acounts');
    expect(await metric(server.http, 'codex_affinity_config_generation')).toBe(2);
    expect(await metric(server.http, 'codex_affinity_config_reloads_total{outcome="refused"}')).toBe(1);

    // A change that needs a restart (the store) is refused too, whole.
    writeFileSync(path, configText(['acct-a', 'acct-b'], 'store: { kind: memory, maxEntries: 10 }'));
    await waitFor(async () => (await metric(server.http, 'codex_affinity_config_reloads_total{outcome="refused"}')) === 2);
    expect(server.output()).toMatch(/store: changed, needs a restart/);
    expect(await metric(server.http, 'codex_affinity_config_generation')).toBe(2);

    // Reweighted and an account removed: applied (generation 3); the removed account disappears from the gauges.
    writeFileSync(path, configText(['acct-a', 'acct-c']).replace('cluster: cluster-acct-c,', 'cluster: cluster-acct-c, weight: 5,'));
    await waitFor(async () => (await metric(server.http, 'codex_affinity_config_generation')) === 3);
    const text = await (await fetch(`${server.http}/metrics`)).text();
    // Account gauges follow the config in force (counters keep their history, as Prometheus expects).
    expect(text).not.toMatch(/^codex_affinity_account_\w+\{account="acct-b"/m);
    expect(text).toMatch(/^codex_affinity_account_usable\{account="acct-c"\} 1$/m);
    expect(text).toMatch(/^codex_affinity_pool_accounts\{pool="default"\} 2$/m);
    (target.client as grpc.Client).close();
  });
});
