// Drains and flushes shared by replicas on one Redis: an admin call on one replica
// steers every replica, including one started afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codexRequest, metadataOf, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { redisProcessorSuite, TEST_REDIS_URL } from '../support/redis.js';

const suite = redisProcessorSuite('operator', { beforeAll, afterEach, afterAll });
const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-operator-'));
const tokenFile = join(directory, 'token');
writeFileSync(tokenFile, 'operator-token');
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function replica(): Promise<TestProcessor> {
  const processor = await startTestProcessor({
    admin: { tokenFile },
    store: { kind: 'redis', url: TEST_REDIS_URL, keyPrefix: suite.prefix, hmacSecret: { env: suite.secretVariable }, deadline: '200ms', accountStateRefresh: '300ms', nearCache: { maxEntries: 0 } },
  });
  suite.running.push(processor);
  return processor;
}

async function post(target: TestProcessor, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`http://127.0.0.1:${target.server.httpPort}${path}`, {
    method: 'POST',
    headers: { authorization: 'Bearer operator-token', 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  return response.json();
}

async function account(target: TestProcessor, session: string): Promise<string> {
  const request = codexRequest({ session, turn: 1 });
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const answer = await stream.requestBody(request.body);
  await stream.end();
  return String(metadataOf(answer).account);
}

async function within(milliseconds: number, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + milliseconds;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${milliseconds} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('operator state shared through Redis', () => {
  it('a drain on one replica keeps every replica, and one started later, from placing new sessions there; an undrain reaches them too', async () => {
    const [one, two] = [await replica(), await replica()];
    await post(one, '/admin/accounts/acct-b/drain');
    await within(3000, () => two.server.operatorState.isDrained('acct-b'));
    for (let index = 0; index < 30; index++) expect(await account(two, `d-${index}`)).not.toBe('acct-b');
    const late = await replica();
    await within(3000, () => late.server.operatorState.isDrained('acct-b'));
    await post(two, '/admin/accounts/acct-b/undrain');
    await within(3000, () => !one.server.operatorState.isDrained('acct-b') && !late.server.operatorState.isDrained('acct-b'));
    const placed = await Promise.all(Array.from({ length: 30 }, (_, index) => account(late, `u-${index}`)));
    expect(placed).toContain('acct-b');
  });

  it('an account flush on one replica: on the other, that account\'s soft sessions leave it', async () => {
    const [one, two] = [await replica(), await replica()];
    const first = await account(one, 'flushed-session');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await post(one, `/admin/accounts/${first}/flush`);
    await within(3000, async () => (await post(two, '/admin/sessions/lookup', { session: 'flushed-session', authorization: 'Bearer client-key-1' })).found === false);
    const request = codexRequest({ session: 'flushed-session', turn: 1 });
    const stream = new ScriptedStream(two);
    await stream.requestHeaders(request.headers);
    const metadata = metadataOf(await stream.requestBody(request.body));
    expect([metadata.outcome, metadata.move_reason, metadata.account === first]).toEqual(['moved', 'flushed', false]);
    await stream.end();
  });

  it('events about accounts the replica does not have are ignored', async () => {
    const one = await replica();
    await post(one, '/admin/accounts/acct-a/drain');
    expect(one.server.operatorState.drainedAccounts()).toEqual(['acct-a']);
    expect((await post(one, '/admin/accounts/acct-zz/drain')).error.code).toBe('account_not_found');
    await post(one, '/admin/accounts/acct-a/undrain');
  });
});
