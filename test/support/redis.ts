import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL, or the one the machine runs. */
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** An admin client; rejects, saying what to install, when no Redis answers (never a silent skip). */
export async function connectTestRedis(url = TEST_REDIS_URL): Promise<Redis> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await admin.ping();
    return admin;
  } catch (error) {
    admin.disconnect();
    throw new Error(`These tests need a Redis at ${url} (set REDIS_URL, or install redis-server: apt-get install redis-server): ${String(error)}`);
  }
}

/** Deletes every key under a prefix, then closes the client. */
export async function dropKeysAndQuit(admin: Redis, prefix: string): Promise<void> {
  const keys = await admin.keys(`${prefix}*`);
  for (let index = 0; index < keys.length; index += 1000) await admin.del(...keys.slice(index, index + 1000));
  await admin.quit();
}

/**
 * Registers the hooks of a suite whose processors share the test Redis: a key prefix
 * and an HMAC secret of its own, processors closed after each test, keys dropped at
 * the end.
 */
export function redisProcessorSuite(name: string, hooks: { beforeAll: (run: () => Promise<void>) => void; afterEach: (run: () => Promise<void>) => void; afterAll: (run: () => Promise<void>) => void }) {
  const suite = {
    prefix: `ca-${name}-${randomUUID().slice(0, 8)}`,
    secretVariable: `CODEX_AFFINITY_TEST_HMAC_${randomUUID().slice(0, 8)}`,
    running: [] as Array<{ close(): Promise<void> }>,
  };
  let admin: Redis | undefined;
  hooks.beforeAll(async () => {
    process.env[suite.secretVariable] = `${name}-secret`;
    admin = await connectTestRedis();
  });
  hooks.afterEach(async () => {
    await Promise.all(suite.running.splice(0).map((processor) => processor.close()));
  });
  hooks.afterAll(async () => {
    if (admin) await dropKeysAndQuit(admin, suite.prefix);
    delete process.env[suite.secretVariable];
  });
  return suite;
}
