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
