// Throwaway Redis topologies for tests: Cluster and Sentinel made of real
// redis-server processes on free loopback ports, in a temp dir, every wait
// bounded. stop() kills the processes and removes the dir; processes a test
// run leaves behind (a crashed worker) are killed when the Node process exits.
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestCertificates } from './certificates.js';

const HOST = '127.0.0.1';
/** The cluster bus listens on port + 10000: keep both under 65536 and out of the top of the ephemeral range. */
const MAX_PORT = 55_000;
const INSTALL_HINT = 'apt-get install redis-server redis-tools';

export interface RedisClusterHandle {
  /** Seed nodes as host:port (every master). */
  readonly nodes: readonly string[];
  stop(): Promise<void>;
}

export interface RedisSentinelHandle {
  /** Sentinels as host:port. */
  readonly sentinels: readonly string[];
  /** The monitored master's name. */
  readonly name: string;
  /** The master at start, host:port. */
  readonly master: string;
  /** The replica at start (the one a failover promotes), host:port. */
  readonly replica: string;
  /** Where the sentinel says the master is now, host:port. */
  masterAddress(): Promise<string>;
  /** SIGKILLs the master (resolves once it exited); the sentinel then fails over to the replica. */
  killMaster(): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

// ---- processes and cleanup -------------------------------------------------

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: a worker that dies between start and stop leaves no server behind.
  process.once('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

function requireBinaries(): void {
  for (const binary of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(binary, ['--version'], { timeout: 5000, stdio: 'ignore' });
    if (probe.error || probe.status !== 0) {
      throw new Error(`${binary} is needed to start a throwaway Redis Cluster/Sentinel for these tests (${INSTALL_HINT}): ${probe.error?.message ?? `exit ${probe.status}`}`);
    }
  }
}

function makeDir(): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'ca-redis-'));
  liveDirs.add(dir);
  return dir;
}

async function stopAll(children: readonly ChildProcess[], dir: string): Promise<void> {
  await Promise.all(children.map((child) => killAndWait(child)));
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

async function killAndWait(child: ChildProcess, timeoutMilliseconds = 3000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(timeoutMilliseconds)]);
  }
  live.delete(child);
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- ports -----------------------------------------------------------------

const handedOut = new Set<number>();

function listenable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, HOST, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A port the OS says is free on 127.0.0.1, below MAX_PORT, with port + 10000 free too when `bus`. */
async function freePort(bus: boolean): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await listenable(0);
    if (port === undefined || port >= MAX_PORT || handedOut.has(port)) continue;
    if (bus && (handedOut.has(port + 10_000) || (await listenable(port + 10_000)) === undefined)) continue;
    handedOut.add(port);
    if (bus) handedOut.add(port + 10_000);
    return port;
  }
  throw new Error(`no free loopback port below ${MAX_PORT} after 200 attempts`);
}

// ---- talking to servers ----------------------------------------------------

/** One redis-cli call, bounded; resolves to its stdout (errors as rejections). */
export function redisCli(port: number, args: readonly string[], timeoutMilliseconds = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: timeoutMilliseconds }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Polls `check` until it returns a value, at most `timeoutMilliseconds`. */
async function waitFor<T>(what: string, timeoutMilliseconds: number, check: () => Promise<T | undefined>, intervalMilliseconds = 100): Promise<T> {
  const deadline = Date.now() + timeoutMilliseconds;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMilliseconds);
  }
  throw new Error(`timed out after ${timeoutMilliseconds} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

// ---- one server --------------------------------------------------------------

interface Server {
  readonly port: number;
  readonly child: ChildProcess;
  readonly log: string;
}

/**
 * Starts redis-server on a free port (a new one when the chosen port was taken
 * in the meantime) and waits until it answers PING.
 */
async function startServer(dir: string, options: { bus?: boolean; args?: (port: number, nodeDir: string) => string[]; sentinelConf?: (port: number) => string }): Promise<Server> {
  let failure = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(options.bus ?? false);
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    const log = join(nodeDir, 'redis.log');
    let argv: string[];
    if (options.sentinelConf) {
      const conf = join(nodeDir, 'sentinel.conf');
      writeFileSync(conf, options.sentinelConf(port));
      argv = [conf, '--sentinel'];
    } else {
      argv = ['--port', String(port), '--bind', HOST, '--dir', nodeDir, '--logfile', log, '--daemonize', 'no', '--save', '', '--appendonly', 'no', ...(options.args?.(port, nodeDir) ?? [])];
    }
    const child = spawn('redis-server', argv, { stdio: 'ignore' });
    live.add(child);
    child.once('exit', () => live.delete(child));
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    try {
      await Promise.race([
        waitFor(`redis-server on ${HOST}:${port}`, 5000, async () => {
          if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
          return (await redisCli(port, ['PING'], 1000)).trim() === 'PONG' ? true : undefined;
        }),
        spawnError.then((error) => Promise.reject(error)),
      ]);
      return { port, child, log };
    } catch (error) {
      failure = `${String(error)}\n${tail(log)}`;
      await killAndWait(child);
    }
  }
  throw new Error(`could not start redis-server: ${failure}`);
}

// ---- Cluster -----------------------------------------------------------------

/** A Cluster of `masters` masters (no replicas), slots spread by redis-cli --cluster create, state ok on every node. */
export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisClusterHandle> {
  requireBinaries();
  const masters = options.masters ?? 3;
  const dir = makeDir();
  const servers: Server[] = [];
  const stop = () => stopAll(servers.map((server) => server.child), dir);
  try {
    for (let index = 0; index < masters; index++) {
      servers.push(
        await startServer(dir, {
          bus: true,
          args: (port) => ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'yes'],
        }),
      );
    }
    const nodes = servers.map((server) => `${HOST}:${server.port}`);
    await new Promise<void>((resolve, reject) => {
      execFile('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`redis-cli --cluster create failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(),
      );
    });
    await waitFor('cluster_state:ok on every node', 20_000, async () => {
      const infos = await Promise.all(servers.map((server) => redisCli(server.port, ['CLUSTER', 'INFO'], 1000)));
      const ok = infos.every((info) => field(info, 'cluster_state') === 'ok' && field(info, 'cluster_slots_assigned') === '16384' && field(info, 'cluster_known_nodes') === String(masters));
      return ok ? true : undefined;
    });
    return { nodes, stop };
  } catch (error) {
    const logs = servers.map((server) => `--- ${server.port}\n${tail(server.log)}`).join('\n');
    await stop();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs}`);
  }
}

// ---- Sentinel ----------------------------------------------------------------

/**
 * A master, one replica, one sentinel (quorum 1, so it fails over on its own)
 * watching the master as `mymaster`; resolves once the sentinel knows the master and the replica.
 */
export async function startRedisSentinel(options: { name?: string; downAfterMilliseconds?: number } = {}): Promise<RedisSentinelHandle> {
  requireBinaries();
  const name = options.name ?? 'mymaster';
  const downAfter = options.downAfterMilliseconds ?? 1000;
  const dir = makeDir();
  const servers: Server[] = [];
  const stop = () => stopAll(servers.map((server) => server.child), dir);
  try {
    // Diskless sync without its default 5 s delay: the replica is in sync in milliseconds.
    const replication = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];
    const master = await startServer(dir, { args: () => replication });
    servers.push(master);
    const replica = await startServer(dir, { args: () => [...replication, '--replicaof', HOST, String(master.port)] });
    servers.push(replica);
    await waitFor('the replica in sync', 10_000, async () => (field(await redisCli(replica.port, ['INFO', 'replication'], 1000), 'master_link_status') === 'up' ? true : undefined));
    // Started after the replica is in sync, so the sentinel's first INFO of the master already lists it
    // (otherwise it learns of it only at the next INFO, 10 s later).
    const sentinel = await startServer(dir, {
      sentinelConf: (port) =>
        [
          `port ${port}`,
          `bind ${HOST}`,
          'daemonize no',
          `dir ${join(dir, String(port))}`,
          `logfile ${join(dir, String(port), 'redis.log')}`,
          `sentinel monitor ${name} ${HOST} ${master.port} 1`,
          `sentinel down-after-milliseconds ${name} ${downAfter}`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
    });
    servers.push(sentinel);
    await waitFor('the sentinel to know the master and its replica', 15_000, async () => {
      const address = await redisCli(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', name], 1000);
      const replicas = await redisCli(sentinel.port, ['SENTINEL', 'replicas', name], 1000);
      return address.includes(String(master.port)) && replicas.includes(String(replica.port)) ? true : undefined;
    });
    const masterAddress = async (): Promise<string> => {
      const [host, port] = (await redisCli(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', name], 1000)).trim().split('\n');
      return `${host}:${port}`;
    };
    return {
      sentinels: [`${HOST}:${sentinel.port}`],
      name,
      master: `${HOST}:${master.port}`,
      replica: `${HOST}:${replica.port}`,
      masterAddress,
      killMaster: () => killAndWait(master.child),
      stop,
    };
  } catch (error) {
    const logs = servers.map((server) => `--- ${server.port}\n${tail(server.log)}`).join('\n');
    await stop();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs}`);
  }
}

// ---- one standalone server, to kill and bring back -----------------------------

export interface RedisStandaloneHandle {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL): clients see refused connections. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A standalone redis-server on a free loopback port, for outage tests. */
export async function startRedisStandalone(): Promise<RedisStandaloneHandle> {
  requireBinaries();
  const dir = makeDir();
  let server = await startServer(dir, {});
  const port = server.port;
  const restartOnPort = async () => {
    const log = join(dir, `restart-${Date.now()}.log`);
    const child = spawn('redis-server', ['--port', String(port), '--bind', HOST, '--dir', dir, '--logfile', log, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    live.add(child);
    child.once('exit', () => live.delete(child));
    await waitFor(`redis-server back on ${HOST}:${port}`, 5000, async () => ((await redisCli(port, ['PING'], 1000).catch(() => '')).trim() === 'PONG' ? true : undefined));
    server = { port, child, log };
  };
  return {
    url: `redis://${HOST}:${port}`,
    port,
    kill: () => killAndWait(server.child),
    restart: restartOnPort,
    stop: () => stopAll([server.child], dir),
  };
}

// ---- TLS ----------------------------------------------------------------------

export interface RedisTlsHandle {
  /** rediss://127.0.0.1:<port> */
  readonly url: string;
  /** The PEM of the private CA that signed the server's certificate. */
  readonly caFile: string;
  stop(): Promise<void>;
}

/** A standalone redis-server speaking TLS only, its certificate signed by a throwaway CA (openssl). */
export async function startRedisTls(): Promise<RedisTlsHandle> {
  requireBinaries();
  const dir = makeDir();
  const certificates = makeTestCertificates(HOST, dir);
  const port = await freePort(false);
  const child = spawn(
    'redis-server',
    ['--port', '0', '--tls-port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no',
      '--tls-cert-file', certificates.serverCertFile, '--tls-key-file', certificates.serverKeyFile, '--tls-ca-cert-file', certificates.caFile, '--tls-auth-clients', 'no'],
    { stdio: 'ignore' },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));
  await waitFor(`TLS redis-server on ${HOST}:${port}`, 5000, async () => {
    const answer = await new Promise<string>((resolve) => {
      const probe = spawn('redis-cli', ['--tls', '--cacert', join(dir, 'ca.crt'), '-h', HOST, '-p', String(port), 'PING'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      probe.stdout!.on('data', (chunk: Buffer) => (out += String(chunk)));
      probe.once('exit', () => resolve(out.trim()));
    });
    return answer === 'PONG' ? true : undefined;
  });
  return { url: `rediss://${HOST}:${port}`, caFile: join(dir, 'ca.crt'), stop: () => stopAll([child], dir) };
}
