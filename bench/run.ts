/**
 * The processor against its floors, in one run, as ratios: grpc-js ext_proc
 * servers that do nothing (no-op) or only echo a body of the same size, and
 * JSON.parse + JSON.stringify of each body. Servers run in processes of their
 * own; floors and processors take turns within each case (rounds, order
 * alternating) so the machine's drift hits both. Writes
 * bench/results/latest.json (cases and the targets computed from them) and the
 * README's table.
 *
 *   npm run bench [-- --quick] [-- --only case,case] [-- --soak-seconds 300] [-- --soak-rate 500] [-- --cpu-prof DIR] [-- --no-write]
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Redis } from 'ioredis';
import { scanJsonBody } from '../src/body/json-scan.js';
import { Recorder, runExchange, type ExchangeSpec, type Phase } from './exchange.js';
import { closedLoop, openLoop } from './load.js';
import { startBenchServer, type BenchServer, type ServerKind, type ServerStats } from './servers.js';
import { round, summarize } from './stats.js';
import { computeTargets, type BenchCase, type BenchCases, type ServerRun } from './targets.js';
import { firstTurnBody, REALISTIC_MIX_DESCRIPTION, resumedTurnBody, sseChunks } from './workload.js';
import type { LoadWorkerData, LoadWorkerResult } from './load-worker.js';
import { renderTable, writeReadmeTable } from './report.js';
import { memoryStoreOps } from './memory-store-ops.js';
import { MemoryBindingStore } from '../src/bindings/memory-store.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'soak-seconds': { type: 'string' },
    'soak-rate': { type: 'string' },
    'cpu-prof': { type: 'string' },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const QUICK = values.quick;
/** Seconds per server per case (split over the rounds). */
const CASE_SECONDS = QUICK ? 1.5 : 5;
const ROUNDS = QUICK ? 2 : 3;
const SOAK_SECONDS = Number(values['soak-seconds'] ?? (QUICK ? 20 : 300));
/** The guard's rate is 500/s; another rate is for profiling below saturation (the guard target then reads that rate). */
const SOAK_RATE = Number(values['soak-rate'] ?? 500);
const ONLY = values.only ? new Set(values.only.split(',')) : undefined;
const repository = fileURLToPath(new URL('../..', import.meta.url));

type Load = { mode: 'open'; rate: number } | { mode: 'closed'; concurrency: number };

const servers = new Map<ServerKind, BenchServer>();
async function server(kind: ServerKind): Promise<BenchServer> {
  let running = servers.get(kind);
  if (!running) servers.set(kind, (running = await startBenchServer(kind, values['cpu-prof'])));
  return running;
}

interface Accumulated {
  recorder: Recorder;
  seconds: number;
  cpuMicroseconds: number;
  rssBytes: number;
  gcPauses: number;
  gcMilliseconds: number;
  gcLongestMilliseconds: number;
}

/** Adds one measured window of a server (its stats before and after) to `into`. */
function addServerStats(into: Accumulated, before: ServerStats, after: ServerStats): void {
  into.cpuMicroseconds += after.cpuMicroseconds - before.cpuMicroseconds;
  into.rssBytes = after.rssBytes;
  into.gcPauses += after.gcPauses - before.gcPauses;
  into.gcMilliseconds += after.gcMilliseconds - before.gcMilliseconds;
  into.gcLongestMilliseconds = Math.max(into.gcLongestMilliseconds, after.gcLongestMilliseconds);
}

/** Runs `load` of `spec` exchanges against one server for `seconds`; background work (if any) runs alongside. */
async function drive(target: BenchServer, load: Load, seconds: number, spec: (index: number) => ExchangeSpec, into: Accumulated, background?: () => Promise<void>): Promise<void> {
  const before = await target.stats(true);
  const started = process.hrtime.bigint();
  const recorder = new Recorder();
  const backgroundDone = background?.();
  if (load.mode === 'open') await openLoop(load.rate, seconds * 1000, (index, dueAt) => runExchange(target.client, spec(index), recorder, dueAt));
  else await closedLoop(load.concurrency, seconds * 1000, (index) => runExchange(target.client, spec(index), recorder));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  await backgroundDone;
  const after = await target.stats(true);
  into.recorder.merge(recorder);
  into.seconds += elapsed;
  addServerStats(into, before, after);
}

function toRun(kind: ServerKind, accumulated: Accumulated): ServerRun {
  const { recorder } = accumulated;
  const phases: Record<string, ReturnType<typeof summarize>> = {};
  for (const [phase, samples] of recorder.samples) phases[phase] = summarize(samples);
  return {
    server: kind,
    completed: recorder.completed,
    errors: recorder.errors,
    throughput: round(recorder.completed / accumulated.seconds, 1),
    cpuPerExchangeMs: round(accumulated.cpuMicroseconds / 1000 / Math.max(1, recorder.completed)),
    rssBytes: accumulated.rssBytes,
    gc: { pauses: accumulated.gcPauses, milliseconds: round(accumulated.gcMilliseconds), longestMilliseconds: round(accumulated.gcLongestMilliseconds) },
    phases,
  };
}

const empty = (): Accumulated => ({ recorder: new Recorder(), seconds: 0, cpuMicroseconds: 0, rssBytes: 0, gcPauses: 0, gcMilliseconds: 0, gcLongestMilliseconds: 0 });

interface RoleSpec {
  readonly server: ServerKind;
  /** Work running alongside this role's measured load (its samples are not counted). */
  readonly background?: (target: BenchServer, seconds: number) => Promise<void>;
}

/** Every role of a case gets the same load, round by round, in alternating order; a short warm-up first. */
async function measureCase(
  description: string,
  roles: Record<string, RoleSpec>,
  load: Load,
  spec: (index: number) => ExchangeSpec,
  caseSeconds = CASE_SECONDS,
): Promise<BenchCase> {
  const names = Object.keys(roles);
  const totals = Object.fromEntries(names.map((name) => [name, empty()]));
  for (const name of names) await drive(await server(roles[name]!.server), load, Math.min(1, caseSeconds / ROUNDS), spec, empty());
  let offset = 0;
  for (let roundIndex = 0; roundIndex < ROUNDS; roundIndex++) {
    const order = roundIndex % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const role = roles[name]!;
      const target = await server(role.server);
      const seconds = caseSeconds / ROUNDS;
      const base = offset;
      offset += 100_000;
      await drive(target, load, seconds, (index) => spec(base + index), totals[name]!, role.background ? () => role.background!(target, seconds) : undefined);
    }
  }
  return {
    description,
    load: { ...load, secondsPerServer: caseSeconds, rounds: ROUNDS },
    runs: Object.fromEntries(names.map((name) => [name, toRun(roles[name]!.server, totals[name]!)])),
  };
}

// ---- workloads ------------------------------------------------------------

const FIRST_TURN_BYTES = 40_000;
const SSE_CHUNKS = 200;
const firstTurns = Array.from({ length: 8 }, (_, index) => firstTurnBody(`first-${index}`, FIRST_TURN_BYTES));
const resumed = (bytes: number, count: number) => Array.from({ length: count }, (_, index) => resumedTurnBody(`resumed-${bytes}-${index}`, bytes));
const resumed40k = resumed(40_000, 50);
const resumed200k = resumed(200_000, 20);
const resumed1m = resumed(1_000_000, 8);
const rewrite1m = Array.from({ length: 8 }, (_, index) => resumedTurnBody(`rewrite-${index}`, 1_000_000, { max_output_tokens: 4096, temperature: 0.2 }));
const resumed8m = resumed(8_000_000, 1);
const sseStream = sseChunks('resp_bench', SSE_CHUNKS);

const turn = (session: string, body: Buffer, sse?: readonly Buffer[]): ExchangeSpec => ({ kind: 'turn', session, body, sse });
const pick = <T>(list: readonly T[], index: number): T => list[index % list.length]!;

/** 8 MB resumed turns at a fixed rate beside the measured load, from a thread of their own. */
const largeBodies = (rate: number) => async (target: BenchServer, seconds: number) => {
  const worker = new Worker(fileURLToPath(new URL('./large-body-sender.js', import.meta.url)), { workerData: { address: target.address, rate, seconds, bytes: 8_000_000 } });
  const [done] = (await once(worker, 'message')) as [{ errors: number }];
  await worker.terminate();
  if (done.errors > 0) throw new Error(`${done.errors} large-body exchanges failed`);
};

// ---- cases ----------------------------------------------------------------

type CaseRunner = () => Promise<BenchCase | undefined>;

const CASES: Record<string, CaseRunner> = {
  upgrade: () =>
    measureCase(
      'WebSocket upgrades (headers only, 101 answered), open loop',
      { floor: { server: 'noop' }, processor: { server: 'affinity' } },
      { mode: 'open', rate: 500 },
      (index) => ({ kind: 'upgrade', session: `ws-${index % 1000}` }),
      // p99 rests on the slowest 1%: 5,000 exchanges per server instead of 2,500.
      CASE_SECONDS * 2,
    ),
  'first-turn-sse': () =>
    measureCase(
      `Codex first turns (${FIRST_TURN_BYTES / 1000} KB, new session each) answered by SSE of ${SSE_CHUNKS} chunks, open loop`,
      { floor: { server: 'noop' }, processor: { server: 'affinity' } },
      { mode: 'open', rate: 20 },
      (index) => turn(`first-${index}`, pick(firstTurns, index), sseStream),
      // At 20 a second, 5 s would leave p99 to the single slowest of a hundred exchanges.
      CASE_SECONDS * 3,
    ),
  'first-turn-sse-max': () =>
    measureCase(
      `the same exchanges, closed loop of 32 at once: maximum throughput`,
      { floor: { server: 'noop' }, processor: { server: 'affinity' } },
      { mode: 'closed', concurrency: 32 },
      (index) => turn(`first-max-${index}`, pick(firstTurns, index), sseStream),
    ),
  'resumed-200kb': () =>
    measureCase('resumed turns, 200 KB, openai accounts (no body change), open loop', { floor: { server: 'noop' }, processor: { server: 'affinity' } }, { mode: 'open', rate: 50 }, (index) =>
      turn(`resumed-200-${index % 20}`, pick(resumed200k, index)),
    ),
  'resumed-1mb': () =>
    measureCase(
      'resumed turns, 1 MB, openai accounts (no body change), open loop',
      { floor: { server: 'noop' }, processor: { server: 'affinity' } },
      { mode: 'open', rate: 20 },
      (index) => turn(`resumed-1m-${index % 8}`, pick(resumed1m, index)),
      // At 20 a second, 5 s gives a p50 of a hundred exchanges, which one stalled round moves.
      CASE_SECONDS * 3,
    ),
  'rewrite-1mb': () =>
    measureCase('resumed turns, 1 MB, rewritten for chatgpt-codex accounts, against the echo floor', { floor: { server: 'echo' }, processor: { server: 'affinity-codex' } }, { mode: 'open', rate: 20 }, (index) =>
      turn(`rewrite-${index % 8}`, pick(rewrite1m, index)),
    ),
  'head-of-line': async () =>
    withLargeBodyRatios(await measureCase(
      'small requests (40 KB first turns, 50/s) alone and with 8 MB resumed turns arriving at 4/s',
      {
        floor: { server: 'noop' },
        floor_with_large: { server: 'noop', background: largeBodies(4) },
        processor: { server: 'affinity' },
        processor_with_large: { server: 'affinity', background: largeBodies(4) },
      },
      { mode: 'open', rate: 50 },
      (index) => turn(`hol-${index}`, pick(firstTurns, index)),
    )),
  'redis-store': async () => {
    if (!(await redisAnswers())) {
      console.log('  Redis does not answer at REDIS_URL / 127.0.0.1:6379: case not run');
      return undefined;
    }
    // Resumed sessions seen before by this replica: the near cache answers.
    return measureCase(
      'resumed 40 KB turns, memory store against the Redis store (near-cache hits), open loop',
      { processor: { server: 'affinity' }, redis: { server: 'affinity-redis' } },
      { mode: 'open', rate: 100 },
      (index) => turn(`store-${index % 50}`, pick(resumed40k, index)),
      // The target is a difference of 0.3 ms between two p50s of about 1 ms: 1,500 exchanges per server.
      CASE_SECONDS * 3,
    );
  },
  'json-parse-floor': async () => jsonParseFloor(),
  soak: () => soak(),
  'memory-1m-sessions': () => memoryPerBinding(),
  'memory-store-ops': async () => memoryStoreOpsCase(),
};

/**
 * Small-request p99 with 8 MB bodies in flight over small-request p99 alone, for the
 * no-op floor as for the processor: what the machine and grpc-js allow, beside what the
 * processor gets (the target reads the processor's).
 */
function withLargeBodyRatios(measured: BenchCase): BenchCase {
  const p99 = (role: string): number => measured.runs[role]!.phases.exchange!.p99;
  return {
    ...measured,
    values: {
      floorRatio: round(p99('floor_with_large') / p99('floor')),
      processorRatio: round(p99('processor_with_large') / p99('processor')),
    },
  };
}

async function redisAnswers(): Promise<boolean> {
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** What a full parse and re-serialisation of each body costs, beside the scan the processor does. */
async function jsonParseFloor(): Promise<BenchCase> {
  const values: Record<string, number> = {};
  const bodies: Array<[string, Buffer]> = [
    ['40kb', pick(firstTurns, 0)],
    ['200kb', pick(resumed200k, 0)],
    ['1mb', pick(resumed1m, 0)],
    ['8mb', pick(resumed8m, 0)],
  ];
  const time = (repeat: number, work: () => void): number => {
    for (let index = 0; index < 3; index++) work();
    const started = process.hrtime.bigint();
    for (let index = 0; index < repeat; index++) work();
    return Number(process.hrtime.bigint() - started) / 1e6 / repeat;
  };
  for (const [name, body] of bodies) {
    const repeat = Math.max(5, Math.round(20_000_000 / body.length));
    values[`parseStringifyMs_${name}`] = round(time(repeat, () => JSON.stringify(JSON.parse(body.toString('utf8')))));
    values[`scanMs_${name}`] = round(time(repeat, () => scanJsonBody(body)));
  }
  return { description: 'JSON.parse + JSON.stringify of each body against the exact scan the processor does (in the bench process, ms per body)', load: {}, runs: {}, values };
}

const LOAD_THREADS = 2;

/** The realistic mix at `rate`, generated by LOAD_THREADS threads of their own, against one server. */
async function driveMix(target: BenchServer, rate: number, seconds: number, into: Accumulated): Promise<void> {
  const before = await target.stats(true);
  const script = fileURLToPath(new URL('./load-worker.js', import.meta.url));
  const results = await Promise.all(
    Array.from({ length: LOAD_THREADS }, async (_, offset) => {
      const data: LoadWorkerData = { address: target.address, rate: rate / LOAD_THREADS, seconds, offset, stride: LOAD_THREADS };
      const worker = new Worker(script, { workerData: data });
      const [result] = (await once(worker, 'message')) as [LoadWorkerResult];
      await worker.terminate();
      return result;
    }),
  );
  const after = await target.stats(true);
  for (const result of results) {
    for (const [phase, samples] of Object.entries(result.samples)) for (const sample of samples) into.recorder.add(phase as Phase, sample);
    into.recorder.errors += result.errors;
    into.recorder.completed += result.completed;
  }
  into.seconds += Math.max(...results.map((result) => result.seconds));
  addServerStats(into, before, after);
}

/** The highest p99 of the request and response phases (not whole exchanges, not time to first token). */
function highestPhaseP99(run: ServerRun): number {
  return Math.max(...Object.entries(run.phases).filter(([phase]) => phase !== 'exchange' && phase !== 'first_token').map(([, summary]) => summary.p99));
}

/**
 * The guard and the memory drift: the realistic mix at 500 requests/s against
 * the processor for SOAK_SECONDS, RSS sampled every 5 s; and the same mix
 * against the no-op floor for a tenth of that, to show what the harness and
 * the machine themselves allow (a tenth of the time).
 */
async function soak(): Promise<BenchCase> {
  const rate = SOAK_RATE;
  const floor = empty();
  await driveMix(await server('noop'), rate, Math.max(10, SOAK_SECONDS / 10), floor);
  const target = await server('affinity');
  const accumulated = empty();
  const rss: number[] = [];
  const sampler = setInterval(() => void target.stats().then((stats) => rss.push(stats.rssBytes)), 5000);
  try {
    await driveMix(target, rate, SOAK_SECONDS, accumulated);
  } finally {
    clearInterval(sampler);
  }
  const run = toRun('affinity', accumulated);
  const floorRun = toRun('noop', floor);
  // The first fifth is warm-up (JIT, pools, the store filling with new sessions): growth is counted from there.
  const settled = rss.slice(Math.floor(rss.length / 5));
  const base = settled[0] ?? run.rssBytes;
  const highest = Math.max(...settled, run.rssBytes);
  return {
    description: `the realistic mix (${REALISTIC_MIX_DESCRIPTION}) at ${rate}/s from ${LOAD_THREADS} load threads: the processor for ${SOAK_SECONDS} s (RSS every 5 s), the no-op floor for a tenth of that`,
    load: { mode: 'open', rate, seconds: SOAK_SECONDS, loadThreads: LOAD_THREADS },
    runs: { floor: floorRun, processor: run },
    values: {
      rssStartBytes: base,
      rssHighestBytes: highest,
      rssGrowthPercent: round(((highest - base) / base) * 100, 1),
      highestPhaseP99Ms: highestPhaseP99(run),
      floorHighestPhaseP99Ms: highestPhaseP99(floorRun),
    },
  };
}

async function memoryPerBinding(): Promise<BenchCase> {
  const script = fileURLToPath(new URL('./memory-per-binding.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', script, '1000000'], { maxBuffer: 1 << 20 });
  const measured = JSON.parse(stdout.trim()) as { sessions: number; rssBytes: number; heapBytesPerBinding: number; rssBytesPerBinding: number };
  return {
    description: '1,000,000 distinct session bindings created in the memory store (process of its own, after GC)',
    load: { sessions: measured.sessions },
    runs: {},
    values: {
      rssMegabytes: round(measured.rssBytes / 1024 / 1024, 1),
      heapBytesPerBinding: Math.round(measured.heapBytesPerBinding),
      rssBytesPerBinding: Math.round(measured.rssBytesPerBinding),
    },
  };
}

/** The memory store's creates and reads per second, in the bench process (its hot path alone). */
function memoryStoreOpsCase(): BenchCase {
  const ttls = { session: 6 * 3_600_000, response: 7 * 86_400_000, stored_item: 7 * 86_400_000, encrypted_item: 7 * 86_400_000, conversation: 30 * 86_400_000, turn_state: 3 * 3_600_000, exclusion: 900_000 };
  const measured = memoryStoreOps({ memory: (maxEntries) => new MemoryBindingStore({ maxEntries, maxEntriesPerPrincipal: maxEntries, ttls, slideFraction: 0.5, now: Date.now }) });
  return {
    description: "the memory store's own work: 200,000 session bindings created, then read twice in a scattered order (in the bench process, median of 5 rounds)",
    load: { sessions: 200_000 },
    runs: {},
    values: { ...measured.memory! },
  };
}

// ---- main -----------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const cases: Record<string, BenchCase> = {};
  try {
    for (const [id, runner] of Object.entries(CASES)) {
      if (ONLY && !ONLY.has(id)) continue;
      const caseStarted = Date.now();
      process.stdout.write(`${id} ...`);
      const result = await runner();
      if (result) cases[id] = result;
      process.stdout.write(` ${((Date.now() - caseStarted) / 1000).toFixed(0)} s\n`);
    }
  } finally {
    const pids = [...servers.values()].map((running) => running.pid);
    for (const running of servers.values()) running.stop();
    await cleanRedis(pids);
  }
  const targets = computeTargets(cases as BenchCases);
  const result = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem(), loadAverageAtEnd: (await import('node:os')).loadavg().map((load) => round(load, 2)) },
    node: process.version,
    date: new Date().toISOString(),
    durationSeconds: round((Date.now() - started) / 1000, 0),
    options: { quick: QUICK, caseSeconds: CASE_SECONDS, rounds: ROUNDS, soakSeconds: SOAK_SECONDS },
    cases,
    targets,
  };
  const table = renderTable(result);
  console.log(`\n${table}`);
  if (values['no-write'] || ONLY) return;
  mkdirSync(`${repository}bench/results`, { recursive: true });
  writeFileSync(`${repository}bench/results/latest.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeReadmeTable(`${repository}README.md`, readFileSync(`${repository}README.md`, 'utf8'), table);
}

/** Keys under this run's servers' prefixes (ca-bench-<pid>, see server-process.ts): removed at the end. */
async function cleanRedis(pids: readonly number[]): Promise<void> {
  if (!(await redisAnswers())) return;
  const admin = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    const keys: string[] = [];
    for (const pid of pids) {
      for await (const batch of admin.scanStream({ match: `ca-bench-${pid}:*`, count: 1000 }) as AsyncIterable<string[]>) keys.push(...batch);
    }
    for (let index = 0; index < keys.length; index += 1000) await admin.del(...keys.slice(index, index + 1000));
  } finally {
    await admin.quit();
  }
}

await main();
