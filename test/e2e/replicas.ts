// The production topology on loopback: N "pods", each an Envoy stand-in with its own
// processor replica, all routing to the same fake upstream accounts (one cluster per account,
// cluster_header route, as in stack.ts), and a client-side spreader in front of them that
// sends every request to the next pod round-robin, as a mesh does, so the turns of one
// session land on different pods. With store 'redis' every replica shares one Redis (a
// key prefix unique to the stack, one HMAC secret read from an environment variable the
// caller sets); with 'memory' each replica keeps its own bindings.
//
// Everything (spreader, Envoys, processors, fakes, client) shares one event loop, so a
// Redis round trip here includes that loop's lag: the default Redis deadline is raised
// above the product's 50 ms (see REDIS_DEADLINE) and store errors are reported as figures.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeAccount, type FakeAccount, type FakeAccountOptions } from '../fake-upstream/index.js';
import { affinityEnvoy, configForAccounts } from './stack.js';
import { startEnvoy, type Envoy } from '../harness/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Above the product default (50 ms): the Redis client shares a busy event loop with the whole stack. */
export const REDIS_DEADLINE = '500ms';
const STOP_GRACE_MS = 3000;
const DRAIN_LIMIT_MS = 10_000;
const RETRY_DEFAULT = { retry_on: 'connect-failure,reset', num_retries: 1 };

export interface ReplicatedStackOptions {
  accounts: FakeAccountOptions[];
  replicas: number;
  store: 'memory' | 'redis';
  /** Extra processor configuration, the same for every replica (its `store` is ignored with 'redis'). */
  processor?: Partial<ConfigInput>;
  /** 'redis': the environment variable holding the shared HMAC secret (the caller sets it). */
  hmacSecretEnv?: string;
  redisUrl?: string;
  /** 'redis': a Cluster or Sentinel instead of the standalone redisUrl (no key scan or cleanup: such servers are throwaway). */
  redisTopology?: { nodes: string[] } | { sentinels: string[]; name: string };
  /** 'redis': store.deadline of every replica. Default REDIS_DEADLINE. */
  redisDeadline?: string;
  /** Envoy route retry policy; default: connect-failure and reset, one retry. */
  retry?: { retry_on: string; num_retries: number } | null;
}

export interface Pod {
  readonly index: number;
  readonly envoy: Envoy;
  /** Its processor replica (a new one after restartReplica). */
  readonly processor: RunningServer;
  /** The pod's own URL (its Envoy), bypassing the spreader. */
  readonly url: string;
  /** Requests the spreader sent to this pod. */
  readonly requests: number;
  readonly restarts: number;
}

/** One request as the spreader forwarded it. */
export interface SpreadRecord {
  pod: number;
  /** session-id (or session_id) request header. */
  session: string | null;
  status: number;
}

/** Passed to `stack.observe` after each forwarded exchange (bodies as received). */
export interface Exchange {
  pod: number;
  requestHeaders: http.IncomingHttpHeaders;
  requestBody: Buffer;
  status: number;
  responseHeaders: http.IncomingHttpHeaders;
  responseBody: Buffer;
}

export interface StoreCounters {
  /** codex_affinity_store_errors_total, all replicas (restarted ones included). */
  storeErrors: number;
  /** codex_affinity_binding_races_total. */
  bindingRaces: number;
  /** codex_affinity_orphans_total. */
  orphans: number;
  /** codex_affinity_bindings_written_total{kind="session",mode="create"}: session creations attempted. */
  sessionCreates: number;
}

export interface RedisEntry {
  key: string;
  type: string;
  values: string[];
}

export interface ReplicatedStack {
  /** The spreader: each request goes to the next ready pod. */
  readonly url: string;
  readonly pods: readonly Pod[];
  readonly accounts: FakeAccount[];
  readonly store: 'memory' | 'redis';
  /** 'redis': the prefix of every key of this stack. */
  readonly keyPrefix: string | undefined;
  /** Every request the spreader forwarded, in arrival order. */
  readonly spread: SpreadRecord[];
  /** Called with every exchange the spreader forwards (bodies buffered only while set). */
  observe: ((exchange: Exchange) => void) | undefined;
  /**
   * Restarts pod i's processor as a rolling update does: the spreader stops sending the pod
   * new requests (readiness), its in-flight requests finish (bounded), the processor stops
   * (graceful), a fresh one starts with the same configuration and a fresh store client
   * (memory: an empty store), the pod's Envoy is pointed at it, and the pod is ready again.
   * With `drain: false` the pod stays in rotation throughout (requests meanwhile may fail).
   */
  restartReplica(index: number, options?: { drain?: boolean }): Promise<RunningServer>;
  /** Sums of a few processor counters over all replicas, restarted ones included. */
  counters(): Promise<StoreCounters>;
  /** 'redis': every key of this stack with its value(s), read by type. */
  scanRedis(): Promise<RedisEntry[]>;
  /** Closes everything; 'redis': deletes the stack's keys (KEYS prefix:* then DEL). */
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

/** A client for test administration; rejects with what to install when Redis is not reachable. */
export async function connectRedisAdmin(url = REDIS_URL): Promise<Redis> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
  let cause: unknown;
  admin.on('error', (error: unknown) => (cause ??= error));
  try {
    await admin.connect();
    await admin.ping();
    return admin;
  } catch (error) {
    admin.disconnect();
    const reason = cause ?? error;
    throw new Error(
      `These tests need Redis 7 at ${url} and could not reach it (${reason instanceof Error ? reason.message : String(reason)}). ` +
        'Install and start it (Debian/Ubuntu: apt-get install redis-server && redis-server --daemonize yes; or docker run -d -p 6379:6379 redis:7), or set REDIS_URL.',
    );
  }
}

async function readCounter(processor: RunningServer, name: string, labels: string[] = []): Promise<number> {
  try {
    const text = await (await fetch(`${processor.httpAddress}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (match && match[1] === name && labels.every((label) => (match[2] ?? '').includes(label))) sum += Number(match[3]);
    }
    return sum;
  } catch {
    return 0;
  }
}

async function countersOf(processor: RunningServer): Promise<StoreCounters> {
  const [storeErrors, bindingRaces, orphans, sessionCreates] = await Promise.all([
    readCounter(processor, 'codex_affinity_store_errors_total'),
    readCounter(processor, 'codex_affinity_binding_races_total'),
    readCounter(processor, 'codex_affinity_orphans_total'),
    readCounter(processor, 'codex_affinity_bindings_written_total', ['kind="session"', 'mode="create"']),
  ]);
  return { storeErrors, bindingRaces, orphans, sessionCreates };
}

function addCounters(a: StoreCounters, b: StoreCounters): StoreCounters {
  return { storeErrors: a.storeErrors + b.storeErrors, bindingRaces: a.bindingRaces + b.bindingRaces, orphans: a.orphans + b.orphans, sessionCreates: a.sessionCreates + b.sessionCreates };
}

const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

interface PodState {
  index: number;
  envoy: Envoy;
  processor: RunningServer;
  ready: boolean;
  inFlight: number;
  requests: number;
  restarts: number;
}

export async function startReplicatedStack(options: ReplicatedStackOptions): Promise<ReplicatedStack> {
  if (options.replicas < 1) throw new Error('startReplicatedStack: replicas must be at least 1');
  const closers: Array<() => Promise<unknown>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  try {
    let admin: Redis | undefined;
    let keyPrefix: string | undefined;
    let storeInput: ConfigInput['store'];
    if (options.store === 'redis' && options.redisTopology) {
      if (!options.hmacSecretEnv || !process.env[options.hmacSecretEnv]) {
        throw new Error('startReplicatedStack: a Redis stack needs hmacSecretEnv naming an environment variable the test has set');
      }
      keyPrefix = `ca-rep-${randomUUID().slice(0, 8)}`;
      storeInput = { kind: 'redis', ...options.redisTopology, keyPrefix, hmacSecret: { env: options.hmacSecretEnv }, deadline: options.redisDeadline ?? REDIS_DEADLINE };
    } else if (options.store === 'redis') {
      const url = options.redisUrl ?? REDIS_URL;
      if (!options.hmacSecretEnv || !process.env[options.hmacSecretEnv]) {
        throw new Error('startReplicatedStack: a Redis stack needs hmacSecretEnv naming an environment variable the test has set');
      }
      admin = await connectRedisAdmin(url);
      const client = admin;
      keyPrefix = `ca-rep-${randomUUID().slice(0, 8)}`;
      const prefix = keyPrefix;
      // Registered first, so it runs last: the stack's keys go once every replica has stopped.
      closers.push(async () => {
        try {
          const keys = await client.keys(`${prefix}:*`);
          if (keys.length > 0) await client.del(...keys);
        } finally {
          await client.quit().catch(() => client.disconnect());
        }
      });
      storeInput = { kind: 'redis', url, keyPrefix, hmacSecret: { env: options.hmacSecretEnv }, deadline: options.redisDeadline ?? REDIS_DEADLINE };
    } else {
      storeInput = options.processor?.store ?? { kind: 'memory' };
    }

    const accounts: FakeAccount[] = [];
    for (const account of options.accounts) {
      const fake = await startFakeAccount(account);
      accounts.push(fake);
      closers.push(() => fake.close());
    }
    const config = configForAccounts(options.accounts, { ...options.processor, store: storeInput });
    const startReplica = () => startServer(config, { logger: createLogger('warn') });
    const retry = options.retry === null ? undefined : (options.retry ?? RETRY_DEFAULT);

    const pods: PodState[] = [];
    closers.push(async () => {
      for (const pod of pods) await pod.processor.stop(1000).catch(() => undefined);
    });
    for (let index = 0; index < options.replicas; index++) {
      const processor = await startReplica();
      const envoy = await startEnvoy(affinityEnvoy(processor.grpcAddress, config.routing.clusterHeader, accounts, retry));
      pods.push({ index, envoy, processor, ready: true, inFlight: 0, requests: 0, restarts: 0 });
      closers.push(() => envoy.close());
    }

    // The spreader: round robin over the ready pods, per request.
    const spread: SpreadRecord[] = [];
    let next = 0;
    let observe: ((exchange: Exchange) => void) | undefined;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    const pick = (): PodState | undefined => {
      for (let tried = 0; tried < pods.length; tried++) {
        const pod = pods[next++ % pods.length]!;
        if (pod.ready) return pod;
      }
      return undefined;
    };
    const server = http.createServer((req, res) => {
      const pod = pick();
      if (!pod) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('no ready pod');
        return;
      }
      pod.requests++;
      pod.inFlight++;
      let settled = false;
      const settle = () => {
        if (!settled) {
          settled = true;
          pod.inFlight--;
        }
      };
      const sessionHeader = req.headers['session-id'] ?? req.headers['session_id'];
      const record: SpreadRecord = { pod: pod.index, session: typeof sessionHeader === 'string' ? sessionHeader : null, status: 0 };
      spread.push(record);
      const requestChunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => requestChunks.push(chunk));
      req.on('end', () => {
        const requestBody = Buffer.concat(requestChunks);
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
        headers['content-length'] = String(requestBody.length);
        const target = new URL(req.url ?? '/', pod.envoy.url);
        const up = http.request(target, { method: req.method, headers, agent }, (upRes) => {
          record.status = upRes.statusCode ?? 0;
          const out: Record<string, string | string[]> = {};
          for (const [name, value] of Object.entries(upRes.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
          res.writeHead(upRes.statusCode ?? 502, out);
          const watcher = observe;
          const responseChunks: Buffer[] = [];
          if (watcher) upRes.on('data', (chunk: Buffer) => responseChunks.push(chunk));
          upRes.pipe(res);
          upRes.on('end', () => {
            settle();
            watcher?.({ pod: pod.index, requestHeaders: req.headers, requestBody, status: upRes.statusCode ?? 0, responseHeaders: upRes.headers, responseBody: Buffer.concat(responseChunks) });
          });
          upRes.on('aborted', () => {
            settle();
            res.destroy();
          });
          upRes.on('error', () => {
            settle();
            res.destroy();
          });
        });
        up.on('error', () => {
          settle();
          res.destroy();
        });
        up.end(requestBody);
      });
      res.on('close', settle);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          agent.destroy();
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    let retired: StoreCounters = { storeErrors: 0, bindingRaces: 0, orphans: 0, sessionCreates: 0 };
    const podViews: Pod[] = pods.map((pod) => ({
      index: pod.index,
      envoy: pod.envoy,
      url: pod.envoy.url,
      get processor() {
        return pod.processor;
      },
      get requests() {
        return pod.requests;
      },
      get restarts() {
        return pod.restarts;
      },
    }));

    const stack: ReplicatedStack = {
      url,
      pods: podViews,
      accounts,
      store: options.store,
      keyPrefix,
      spread,
      get observe() {
        return observe;
      },
      set observe(watcher) {
        observe = watcher;
      },
      async restartReplica(index, restart = {}) {
        const pod = pods[index];
        if (!pod) throw new Error(`restartReplica: no pod ${index}`);
        const drain = restart.drain ?? true;
        if (drain) {
          pod.ready = false;
          const until = Date.now() + DRAIN_LIMIT_MS;
          while (pod.inFlight > 0 && Date.now() < until) await sleep(10);
        }
        try {
          retired = addCounters(retired, await countersOf(pod.processor));
          await pod.processor.stop(STOP_GRACE_MS);
          pod.processor = await startReplica();
          // The Envoy stand-in opens its ext_proc streams to the configured target per request.
          pod.envoy.config.ext_proc!.target = pod.processor.grpcAddress;
          pod.restarts++;
          return pod.processor;
        } finally {
          pod.ready = true;
        }
      },
      async counters() {
        let sum = retired;
        for (const pod of pods) sum = addCounters(sum, await countersOf(pod.processor));
        return sum;
      },
      async scanRedis() {
        if (!admin || !keyPrefix) return [];
        const entries: RedisEntry[] = [];
        for (const key of await admin.keys(`${keyPrefix}:*`)) {
          const type = await admin.type(key);
          let values: string[];
          if (type === 'string') values = [(await admin.get(key)) ?? ''];
          else if (type === 'set') values = await admin.smembers(key);
          else if (type === 'hash') values = Object.entries(await admin.hgetall(key)).flat();
          else if (type === 'list') values = await admin.lrange(key, 0, -1);
          else if (type === 'zset') values = await admin.zrange(key, '0', '-1', 'WITHSCORES');
          else if (type === 'none') continue; // expired between KEYS and TYPE
          else values = [`<${type}>`];
          entries.push({ key, type, values });
        }
        return entries;
      },
      async close() {
        await closeAll();
      },
    };
    return stack;
  } catch (error) {
    await closeAll();
    throw error;
  }
}
