// Account state shared by replicas on one Redis: what one replica learns from an
// upstream answer, the others know within a second.
import { Redis } from 'ioredis';
import { redisProcessorSuite, TEST_REDIS_URL } from '../support/redis.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

const REDIS_URL = TEST_REDIS_URL;
const suite = redisProcessorSuite('state', { beforeAll, afterEach, afterAll });
const { prefix, secretVariable, running } = suite;

async function replica(keyPrefix = prefix): Promise<TestProcessor> {
  const processor = await startTestProcessor({ store: { kind: 'redis', url: REDIS_URL, keyPrefix, hmacSecret: { env: secretVariable }, deadline: '200ms', accountStateRefresh: '1s' } });
  running.push(processor);
  return processor;
}

async function exchange(processor: TestProcessor, session: string, response: Record<string, string> = { ':status': '200' }) {
  const stream = new ScriptedStream(processor);
  const request = codexRequest({ session, turn: 1 });
  await stream.requestHeaders(request.headers);
  const routed = await stream.requestBody(request.body);
  await stream.responseHeaders(response, true);
  await stream.end();
  return { cluster: routedCluster(routed), account: String(metadataOf(routed).account) };
}

async function within(milliseconds: number, condition: () => boolean): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > milliseconds) throw new Error(`not within ${milliseconds} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

describe('account state shared through Redis', () => {
  it('a 429 on one replica: the others stop placing new sessions there within a second', async () => {
    const [one, two, three] = [await replica(), await replica(), await replica()];
    // Share one clock basis: cooldowns are epoch times.
    for (const processor of [two, three]) processor.clock.now = one.clock.now;
    const first = await exchange(one, 'limited-probe', { ':status': '429', 'retry-after': '120' });
    const seenIn = await within(1000, () => [two, three].every((processor) => processor.server.context.accountState.view(first.account, processor.clock.now).coolingDownUntil > processor.clock.now));
    for (let index = 0; index < 20; index++) {
      expect((await exchange(two, `after-${index}`)).account).not.toBe(first.account);
      expect((await exchange(three, `later-${index}`)).account).not.toBe(first.account);
    }
    console.log(`shared account state: a 429 on replica one reached two other replicas in ${seenIn} ms; 40 new sessions there avoided ${first.account}`);
  });

  it('a replica started later learns the cooldowns and usage readings already kept', async () => {
    const one = await replica();
    const limited = await exchange(one, 'early-probe', { ':status': '429', 'retry-after': '300' });
    const usage = await exchange(one, 'usage-probe', { ':status': '200', 'x-codex-primary-used-percent': '97' });
    const late = await replica();
    late.clock.now = one.clock.now;
    await within(2000, () => late.server.context.accountState.view(limited.account, late.clock.now).coolingDownUntil > late.clock.now);
    await within(2000, () => late.server.context.accountState.view(usage.account, late.clock.now).usedPercent === 97);
  });

  it('in-flight counts stay per replica', async () => {
    const [one, two] = [await replica(), await replica()];
    one.server.context.accountState.requestStarted('acct-a');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(two.server.context.accountState.view('acct-a', two.clock.now).inFlight).toBe(0);
    one.server.context.accountState.requestFinished('acct-a');
  });

  it('what another replica says is bounded: unknown accounts ignored, no wait beyond the longest an upstream names, times on the receiver’s clock', async () => {
    // A prefix of its own: no state kept by the other tests.
    const own = `${prefix}-bounded`;
    const [one, two] = [await replica(own), await replica(own)];
    two.clock.now = one.clock.now + 3_600_000; // two's clock runs an hour ahead
    const publisher = new Redis(REDIS_URL);
    try {
      const channel = `${own}:{accounts}:events`;
      const forged = (event: object) => publisher.publish(channel, JSON.stringify({ from: 'forger', event }));
      await forged({ kind: 'cooldown', account: 'acct-a', until: 1e15, at: one.clock.now });
      await forged({ kind: 'cooldown', account: 'no-such-account', until: one.clock.now + 60_000, at: one.clock.now });
      await forged({ kind: 'usage', account: 'acct-b', percent: 1e9, at: one.clock.now });
      await within(1000, () => one.server.context.accountState.view('acct-a', one.clock.now).coolingDownUntil > one.clock.now);
      const until = one.server.context.accountState.view('acct-a', one.clock.now).coolingDownUntil;
      expect(until - one.clock.now).toBeLessThanOrEqual(8 * 24 * 3600_000);
      expect(one.server.context.accountState.view('acct-b', one.clock.now).usedPercent).toBe(0);
      // Two, an hour ahead, sees a 60 s cooldown: one (and any other replica) cools for 60 s, not an hour.
      const limited = await exchange(two, 'skewed', { ':status': '429', 'retry-after': '60' });
      await within(1000, () => one.server.context.accountState.view(limited.account, one.clock.now).coolingDownUntil > one.clock.now);
      const wait = one.server.context.accountState.view(limited.account, one.clock.now).coolingDownUntil - one.clock.now;
      if (limited.account !== 'acct-a') expect(wait).toBeLessThanOrEqual(61_000);
    } finally {
      await publisher.quit();
    }
  });

  it('a success after a credential failure clears it on every replica, and the refresh does not bring it back', async () => {
    const own = `${prefix}-credential`;
    const [one, two] = [await replica(own), await replica(own)];
    two.clock.now = one.clock.now;
    one.server.context.accountState.recordCredentialFailure('acct-c', one.clock.now + 300_000, one.clock.now);
    await within(1000, () => two.server.context.accountState.view('acct-c', two.clock.now).credentialFailedUntil > two.clock.now);
    one.server.context.accountState.recordSuccess('acct-c');
    await within(1000, () => two.server.context.accountState.view('acct-c', two.clock.now).credentialFailedUntil === 0);
    await new Promise((resolve) => setTimeout(resolve, 1300)); // one refresh later
    expect(two.server.context.accountState.view('acct-c', two.clock.now).credentialFailedUntil).toBe(0);
    expect(one.server.context.accountState.view('acct-c', one.clock.now).credentialFailedUntil).toBe(0);
  });
});
