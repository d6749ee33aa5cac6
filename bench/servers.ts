import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createBenchClient, type ProcessClient } from './ext-proc-call.js';

export type ServerKind = 'noop' | 'echo' | 'affinity' | 'affinity-codex' | 'affinity-redis' | 'affinity-redis-direct';

/** A server process's counters: CPU, RSS, and its garbage-collection pauses (the longest since the last call). */
export interface ServerStats {
  readonly cpuMicroseconds: number;
  readonly rssBytes: number;
  readonly gcPauses: number;
  readonly gcMilliseconds: number;
  readonly gcLongestMilliseconds: number;
}

/** A server under test in a process of its own, with a client and its CPU/RSS on demand. */
export interface BenchServer {
  readonly kind: ServerKind;
  readonly pid: number;
  readonly address: string;
  readonly client: ProcessClient;
  /** `window`: a measured window starts or ends here (the longest pause is since the previous one). */
  stats(window?: boolean): Promise<ServerStats>;
  stop(): void;
}

/** `profileDirectory`: run the server with --cpu-prof, writing its profile there. */
export async function startBenchServer(kind: ServerKind, profileDirectory?: string): Promise<BenchServer> {
  const script = fileURLToPath(new URL('./server-process.js', import.meta.url));
  const flags = [...(process.env.BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []), ...(profileDirectory ? ['--cpu-prof', `--cpu-prof-dir=${profileDirectory}`, `--cpu-prof-name=${kind}.cpuprofile`] : [])];
  const child: ChildProcess = spawn(process.execPath, [...flags, script, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error(`${kind} server exited before listening`);
  const { address } = JSON.parse(first.value) as { address: string };
  const client = createBenchClient(address);
  return {
    kind,
    pid: child.pid!,
    address,
    client,
    stats: async (window = false) => {
      child.stdin!.write(window ? 'stats window\n' : 'stats\n');
      const line = await lines.next();
      if (line.done) throw new Error(`${kind} server exited`);
      return JSON.parse(line.value) as ServerStats;
    },
    // Closing stdin lets the server exit on its own, which writes its CPU profile.
    stop: () => {
      client.close();
      child.stdin!.end();
    },
  };
}
