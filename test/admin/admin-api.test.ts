// The admin API on the processor's HTTP port, against the real gRPC processor: it exists
// only with a token, takes only that token, and its actions change routing the way the
// README promises (drain, cooldown, reset, session lookup and flush, account and pool
// flush, explain), naming accounts but never a client value.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

const TOKEN = 'adm-0d9c3f7e51b2a4';
const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-admin-'));
const tokenFile = join(directory, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`);
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function start(overrides: Partial<ConfigInput> = {}): Promise<TestProcessor> {
  processor = await startTestProcessor({ admin: { tokenFile }, ...overrides });
  return processor;
}

async function admin(target: TestProcessor, method: string, path: string, body?: unknown, token = TOKEN): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(`http://127.0.0.1:${target.server.httpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text };
}

/** One turn of a Codex session through the processor, answered 200: the account it went to. */
async function turn(target: TestProcessor, session: string, number: number, principal = 'client-1'): Promise<{ account: string; outcome: unknown; strength: unknown }> {
  const request = codexRequest({ session, turn: number, principal });
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const answer = await stream.requestBody(request.body);
  await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
  await stream.end();
  const metadata = metadataOf(answer);
  return { account: String(routedCluster(answer)).replace('cluster-', 'acct-'), outcome: metadata.outcome, strength: metadata.strength };
}

/** Session ids whose first request goes to `account` (placement is deterministic). */
async function sessionsOn(target: TestProcessor, account: string, count: number, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (let index = 0; found.length < count && index < 200; index++) {
    const session = `${prefix}-${index}`;
    if ((await turn(target, session, 1)).account === account) found.push(session);
  }
  expect(found).toHaveLength(count);
  return found;
}

describe('admin API access', () => {
  it('without admin.tokenFile the endpoints do not exist (404 for every method)', async () => {
    processor = await startTestProcessor();
    for (const [method, path] of [['GET', '/admin/accounts'], ['POST', '/admin/accounts/acct-a/drain'], ['POST', '/admin/explain']] as const) {
      expect((await admin(processor, method, path, method === 'POST' ? {} : undefined)).status).toBe(404);
    }
  });

  it('takes only the configured bearer token: none, wrong, longer, shorter or another scheme get 401 and change nothing', async () => {
    const target = await start();
    for (const token of ['', 'wrong', `${TOKEN}0`, TOKEN.slice(0, -1)]) {
      expect((await admin(target, 'POST', '/admin/accounts/acct-a/drain', {}, token)).status).toBe(401);
    }
    const basic = await fetch(`http://127.0.0.1:${target.server.httpPort}/admin/accounts`, { headers: { authorization: `Basic ${TOKEN}` } });
    expect([basic.status, basic.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="codex-affinity admin"']);
    expect(target.server.operatorState.isDrained('acct-a')).toBe(false);
    expect((await admin(target, 'GET', '/admin/accounts')).status).toBe(200);
  });

  it('a rotated token file takes effect without a restart', async () => {
    const rotated = join(directory, 'rotating');
    writeFileSync(rotated, 'first-token');
    processor = await startTestProcessor({ admin: { tokenFile: rotated } });
    expect((await admin(processor, 'GET', '/admin/accounts', undefined, 'first-token')).status).toBe(200);
    writeFileSync(rotated, 'second-token');
    await expect.poll(async () => (await admin(processor!, 'GET', '/admin/accounts', undefined, 'second-token')).status, { timeout: 8000, interval: 200 }).toBe(200);
    expect((await admin(processor, 'GET', '/admin/accounts', undefined, 'first-token')).status).toBe(401);
  });

  it('an unreadable token file stops the start with a message naming the key', async () => {
    await expect(startTestProcessor({ admin: { tokenFile: join(directory, 'missing') } })).rejects.toThrow(/admin\.tokenFile/);
  });

  it('unknown endpoints, wrong methods, bad JSON and unknown accounts get JSON errors', async () => {
    const target = await start();
    expect((await admin(target, 'GET', '/admin/nothing')).status).toBe(404);
    expect((await admin(target, 'GET', '/admin/accounts/acct-a/drain')).status).toBe(405);
    expect((await admin(target, 'POST', '/admin/accounts/nobody/drain', {})).body.error.code).toBe('account_not_found');
    const bad = await fetch(`http://127.0.0.1:${target.server.httpPort}/admin/sessions/lookup`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{' });
    expect(bad.status).toBe(400);
    expect((await admin(target, 'POST', '/admin/accounts/acct-a/cooldown', { seconds: -1 })).status).toBe(400);
    expect((await admin(target, 'POST', '/admin/accounts/acct-a/cooldown', { seconds: 'soon' })).status).toBe(400);
  });
});

describe('admin API actions', () => {
  it('lists accounts with state, pools and session bindings by strength', async () => {
    const target = await start();
    const [session] = await sessionsOn(target, 'acct-b', 1, 'list');
    await turn(target, session!, 2); // encrypted content answered 200: the session binding is hard now
    const listed = (await admin(target, 'GET', '/admin/accounts')).body.accounts as Array<Record<string, any>>;
    expect(listed.map((entry) => entry.account)).toEqual(['acct-a', 'acct-b', 'acct-c']);
    const b = listed.find((entry) => entry.account === 'acct-b')!;
    expect(b).toMatchObject({ state: 'usable', usable: true, drained: false, pools: ['default'], domain: 'org-b', cooldownSecondsLeft: 0 });
    expect(b.sessionBindings.hard).toBe(1);
    const total = listed.reduce((sum, entry) => sum + entry.sessionBindings.soft + entry.sessionBindings.hard, 0);
    expect(total).toBeGreaterThanOrEqual(1);
  });

  it('drain: no new session on the account, its soft sessions move (reason drained), its hard sessions stay; undrain restores it', async () => {
    const target = await start();
    const soft = await sessionsOn(target, 'acct-a', 3, 'soft');
    const [hard] = await sessionsOn(target, 'acct-a', 1, 'hard');
    await turn(target, hard!, 2);
    expect((await admin(target, 'POST', '/admin/accounts/acct-a/drain')).body).toEqual({ account: 'acct-a', drained: true, changed: true });

    for (let index = 0; index < 40; index++) expect((await turn(target, `new-${index}`, 1)).account).not.toBe('acct-a');
    for (const session of soft) {
      const moved = await turn(target, session, 1);
      expect([moved.account === 'acct-a', moved.outcome]).toEqual([false, 'moved']);
      // Moved once: it stays where it went.
      expect((await turn(target, session, 1)).outcome).toBe('bound');
    }
    expect(await turn(target, hard!, 3)).toMatchObject({ account: 'acct-a', strength: 'hard' });
    const metrics = await (await fetch(`http://127.0.0.1:${target.server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^codex_affinity_binding_moves_total\{pool="default",reason="drained",account="acct-a"\} 3$/m);
    expect(metrics).toMatch(/^codex_affinity_account_drained\{account="acct-a"\} 1$/m);

    expect((await admin(target, 'POST', '/admin/accounts/acct-a/undrain')).body.changed).toBe(true);
    const afterwards = await Promise.all(Array.from({ length: 30 }, (_, index) => turn(target, `later-${index}`, 1)));
    expect(afterwards.some((result) => result.account === 'acct-a')).toBe(true);
  });

  it('cooldown keeps new sessions away for the given time and shows in the gauges; reset ends it', async () => {
    const target = await start();
    const cooled = await admin(target, 'POST', '/admin/accounts/acct-c/cooldown', { seconds: 120 });
    expect(cooled.body).toEqual({ account: 'acct-c', cooldownSecondsLeft: 120 });
    for (let index = 0; index < 30; index++) expect((await turn(target, `c-${index}`, 1)).account).not.toBe('acct-c');
    const listed = (await admin(target, 'GET', '/admin/accounts')).body.accounts as Array<Record<string, any>>;
    expect(listed.find((entry) => entry.account === 'acct-c')).toMatchObject({ state: 'cooling_down', usable: false, cooldownSecondsLeft: 120 });
    target.clock.now += 30_000;
    const metrics = await (await fetch(`http://127.0.0.1:${target.server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^codex_affinity_account_cooldown_seconds\{account="acct-c"\} 90$/m);
    expect((await admin(target, 'POST', '/admin/accounts/acct-c/reset')).status).toBe(200);
    const reset = (await admin(target, 'GET', '/admin/accounts')).body.accounts as Array<Record<string, any>>;
    expect(reset.find((entry) => entry.account === 'acct-c')).toMatchObject({ state: 'usable', cooldownSecondsLeft: 0 });
    const afterwards = await Promise.all(Array.from({ length: 30 }, (_, index) => turn(target, `after-${index}`, 1)));
    expect(afterwards.some((result) => result.account === 'acct-c')).toBe(true);
  });

  it('session lookup: hashed by id and principal, so another principal finds nothing; the answer carries no id', async () => {
    const target = await start();
    const session = 'lookup-0f4e2d9c';
    const first = await turn(target, session, 1, 'client-1');
    const found = await admin(target, 'POST', '/admin/sessions/lookup', { session, authorization: 'Bearer client-1' });
    expect(found.body).toMatchObject({ found: true, kind: 'session', account: first.account, strength: 'soft', ageSeconds: 0 });
    expect(found.text).not.toContain(session);
    expect(found.text).not.toContain('client-1');
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session, authorization: 'Bearer client-2' })).body.found).toBe(false);
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'never-seen', authorization: 'Bearer client-1' })).body.found).toBe(false);
    // A principal header is only meaningful when the processor takes principals from one.
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session, principal: 'x' })).body.error.code).toBe('no_principal_header');
    await turn(target, session, 2, 'client-1');
    target.clock.now += 5000;
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session, authorization: 'Bearer client-1' })).body).toMatchObject({ strength: 'hard', ageSeconds: 5 });
  });

  it('session lookup with a principal header and a pool header, as the request would name them', async () => {
    const target = await start({ routing: { principalHeader: 'x-tenant', poolHeader: 'x-pool' }, pools: [{ name: 'default', accounts: ['acct-a', 'acct-b'] }, { name: 'team', accounts: ['acct-c'] }] });
    const request = codexRequest({ session: 'tenant-session', turn: 1, extraHeaders: { 'x-tenant': 'team-7', 'x-pool': 'team' } });
    const stream = new ScriptedStream(target);
    await stream.requestHeaders(request.headers);
    await stream.requestBody(request.body);
    await stream.end();
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'tenant-session', principal: 'team-7', pool: 'team' })).body).toMatchObject({ found: true, account: 'acct-c' });
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'tenant-session', principal: 'team-8', pool: 'team' })).body.found).toBe(false);
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'tenant-session', principal: 'team-7' })).body.found).toBe(false);
  });

  it('session flush forgets a soft binding (the session is placed afresh) and refuses a hard one', async () => {
    const target = await start();
    await turn(target, 'flush-soft', 1);
    const flushed = await admin(target, 'POST', '/admin/sessions/flush', { session: 'flush-soft', authorization: 'Bearer client-1' });
    expect(flushed.body).toMatchObject({ flushed: true, binding: { found: true, strength: 'soft' } });
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'flush-soft', authorization: 'Bearer client-1' })).body.found).toBe(false);
    expect((await turn(target, 'flush-soft', 1)).outcome).toBe('new');
    await turn(target, 'flush-hard', 1);
    await turn(target, 'flush-hard', 2);
    const refused = await admin(target, 'POST', '/admin/sessions/flush', { session: 'flush-hard', authorization: 'Bearer client-1' });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'hard_binding']);
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'flush-hard', authorization: 'Bearer client-1' })).body.strength).toBe('hard');
  });

  it('account flush and pool flush forget soft bindings made before them, not hard ones, not later ones', async () => {
    const target = await start();
    const [softA] = await sessionsOn(target, 'acct-a', 1, 'fa');
    const [softB] = await sessionsOn(target, 'acct-b', 1, 'fb');
    const [hardA] = await sessionsOn(target, 'acct-a', 1, 'fh');
    await turn(target, hardA!, 2);
    target.clock.now += 1000;
    expect((await admin(target, 'POST', '/admin/accounts/acct-a/flush')).status).toBe(200);
    const lookup = async (session: string) => (await admin(target, 'POST', '/admin/sessions/lookup', { session, authorization: 'Bearer client-1' })).body;
    expect((await lookup(softA!)).found).toBe(false);
    expect((await lookup(softB!)).found).toBe(true);
    expect((await lookup(hardA!)).strength).toBe('hard');
    target.clock.now += 1000;
    // The flushed session's next request leaves the account (balance/reconsider.ts); its new binding the earlier flush does not touch.
    expect(await turn(target, softA!, 1)).toMatchObject({ outcome: 'moved' });
    expect((await turn(target, softA!, 1)).account).not.toBe('acct-a');
    expect((await lookup(softA!)).found).toBe(true);
    expect((await admin(target, 'POST', '/admin/pools/default/flush')).status).toBe(200);
    expect((await lookup(softB!)).found).toBe(false);
    expect((await lookup(hardA!)).found).toBe(true);
    expect((await admin(target, 'POST', '/admin/pools/nowhere/flush')).status).toBe(404);
  });

  it('explain: signals, sticky key, strength, anchors, account and rewrites, without writing a binding or sending anything', async () => {
    const target = await start();
    const session = 'explain-5e6f7a';
    const first = await turn(target, session, 1);
    await turn(target, session, 2);
    const request = codexRequest({ session, turn: 3, principal: 'client-1' });
    const explained = await admin(target, 'POST', '/admin/explain', { headers: request.headers, body: request.body });
    expect(explained.status).toBe(200);
    const answer = explained.body;
    expect(answer.stickyKey.source).toBe('session_header');
    expect(answer.stickyKey.value).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(answer.strength).toBe('hard');
    expect(answer.signals).toMatchObject({ encrypted_items: 2, store: false });
    expect(answer.anchorsLookedUp.map((anchor: { kind: string }) => anchor.kind)).toEqual(['encrypted_item']);
    expect(answer.sessionBinding).toMatchObject({ account: first.account, strength: 'hard' });
    expect(answer.decision).toMatchObject({ kind: 'route', account: first.account, outcome: 'bound' });
    expect(answer.decision.why).toMatch(/binding/);
    expect(answer.rewrites.setHeaders[0]).toEqual({ name: 'x-codex-affinity-cluster', value: first.account.replace('acct-', 'cluster-') });
    expect(explained.text).not.toContain(session);
    expect(explained.text).not.toContain('client-1');

    // A new session explained leaves no binding behind.
    const fresh = codexRequest({ session: 'explain-new', turn: 1 });
    const explainedNew = (await admin(target, 'POST', '/admin/explain', { headers: fresh.headers, body: fresh.body })).body;
    expect(explainedNew.decision).toMatchObject({ kind: 'route', outcome: 'new', sessionWrite: 'create' });
    expect((await admin(target, 'POST', '/admin/sessions/lookup', { session: 'explain-new', authorization: 'Bearer client-key-1' })).body.found).toBe(false);

    // Not an inference call: passes through.
    expect((await admin(target, 'POST', '/admin/explain', { headers: { ':method': 'GET', ':path': '/v1/models' } })).body.decision.kind).toBe('pass_through');
    expect((await admin(target, 'POST', '/admin/explain', { body: {} })).status).toBe(400);
  });

  it('actions are logged by name and account only, and counted', async () => {
    const target = await start();
    await admin(target, 'POST', '/admin/accounts/acct-b/drain');
    await admin(target, 'POST', '/admin/sessions/lookup', { session: 'secret-session-77', authorization: 'Bearer secret-client-88' });
    const logs = target.logs.join('');
    expect(logs).toContain('"action":"drain"');
    for (const secret of ['secret-session-77', 'secret-client-88', TOKEN]) expect(logs).not.toContain(secret);
    const metrics = await (await fetch(`http://127.0.0.1:${target.server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^codex_affinity_operator_actions_total\{action="drain"\} 1$/m);
  });
});
