import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real Prometheus (Debian's prometheus package) on loopback, scraping the given targets. */
export interface RunningPrometheus {
  readonly url: string;
  /** An instant query's result vector (throws on a query error). */
  query(expression: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Scrapes completed for a job's targets so far (from Prometheus's own `up` history). */
  scrapes(job: string, windowSeconds: number): Promise<number>;
  /** The loaded alerting rules with their evaluation health. */
  rules(): Promise<Array<{ name: string; health: string; lastError?: string; state: string }>>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startPrometheus(options: { job: string; targets: readonly string[]; scrapeIntervalSeconds: number; ruleFiles?: readonly string[] }): Promise<RunningPrometheus> {
  const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-prometheus-'));
  const configPath = join(directory, 'prometheus.yml');
  writeFileSync(
    configPath,
    [
      'global:',
      `  scrape_interval: ${options.scrapeIntervalSeconds}s`,
      `  evaluation_interval: ${options.scrapeIntervalSeconds}s`,
      ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((file) => `  - '${file}'`)] : []),
      'scrape_configs:',
      `  - job_name: ${options.job}`,
      `    scrape_timeout: ${options.scrapeIntervalSeconds}s`,
      '    static_configs:',
      `      - targets: [${options.targets.map((target) => `'${target}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${configPath}`, `--storage.tsdb.path=${join(directory, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h', '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk) => (output += String(chunk)));
  child.stderr?.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(directory, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`prometheus exited: ${output.slice(-2000)}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`prometheus not ready within 20 s: ${output.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const query = async (expression: string) => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`query ${expression} failed: ${body.error}`);
    return body.data!.result;
  };
  return {
    url,
    query,
    async scrapes(job, windowSeconds) {
      const result = await query(`count_over_time(up{job="${job}"}[${windowSeconds}s])`);
      return Number(result[0]?.value[1] ?? 0);
    },
    async rules() {
      const body = (await (await fetch(`${url}/api/v1/rules?type=alert`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; state: string }> }> } };
      return body.data.groups.flatMap((group) => group.rules);
    },
    close,
  };
}
