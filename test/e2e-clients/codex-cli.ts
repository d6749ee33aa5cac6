// Runs the real Codex CLI non-interactively (`codex exec`, `codex exec resume --last`) against a
// custom Responses provider on loopback. One session = one temporary folder holding its own
// CODEX_HOME (config.toml, rollout files that `resume --last` reads), HOME and working directory.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codexCli, type CodexInstall } from './clients.js';

/** Not a credential: the fake accounts accept any key (Envoy's authn would sit in front). */
export const POOL_API_KEY = 'sk-e2e-clients-not-a-secret';

export interface CodexRun {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CodexSessionOptions {
  /** Base URL of the provider, e.g. `${recorder.url}/v1`. */
  baseUrl: string;
  /** HTTP(S)_PROXY environment that traps any call outside loopback (see egress-trap.ts). */
  egressEnv: Record<string, string>;
  /** Per invocation; the process group is killed after it. Default 60 s. */
  timeoutMs?: number;
  /** Default: none in config.toml, so the CLI uses its own default model (as a user would). */
  model?: string;
}

/**
 * config.toml for a pool behind the gateway. Everything that would call out is off:
 * - check_for_update_on_startup: the release check;
 * - features.plugins: with it on, 0.169.0 syncs plugin marketplaces at start (github.com,
 *   api.github.com, chatgpt.com were seen at the egress trap);
 * - analytics / feedback: telemetry uploads (off even though no egress was seen with them on);
 * - request/stream retries 0: a failed request fails its turn at once (the control runs).
 */
export function codexConfigToml(baseUrl: string, model?: string): string {
  return `${model === undefined ? '' : `model = "${model}"\n`}model_provider = "pool"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[features]
plugins = false

[analytics]
enabled = false

[feedback]
enabled = false

[history]
persistence = "none"

[model_providers.pool]
name = "pool"
base_url = "${baseUrl}"
wire_api = "responses"
env_key = "POOL_API_KEY"
request_max_retries = 0
stream_max_retries = 0
`;
}

export class CodexSession {
  readonly root: string;
  readonly codexHome: string;
  readonly home: string;
  readonly workdir: string;
  readonly runs: CodexRun[] = [];
  private readonly install: CodexInstall;

  constructor(private readonly options: CodexSessionOptions) {
    this.install = codexCli();
    this.root = mkdtempSync(join(tmpdir(), 'codex-e2e-'));
    this.codexHome = join(this.root, 'codex-home');
    this.home = join(this.root, 'home');
    this.workdir = join(this.root, 'work');
    for (const dir of [this.codexHome, this.home, this.workdir]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(this.codexHome, 'config.toml'), codexConfigToml(options.baseUrl, options.model));
  }

  /** First turn of a new session. */
  exec(prompt: string): Promise<CodexRun> {
    return this.run(['exec', '--strict-config', '--skip-git-repo-check', prompt]);
  }

  /** Cold resume of the newest session in this CODEX_HOME: the whole history is resent. */
  resume(prompt: string): Promise<CodexRun> {
    return this.run(['exec', '--strict-config', '--skip-git-repo-check', 'resume', '--last', prompt]);
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private run(args: string[]): Promise<CodexRun> {
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const started = Date.now();
    return new Promise((resolve, reject) => {
      // A clean environment: nothing of the parent's (no real API keys, no ~/.codex).
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        HOME: this.home,
        CODEX_HOME: this.codexHome,
        POOL_API_KEY,
        NO_COLOR: '1',
        TERM: 'dumb',
        LANG: 'C.UTF-8',
        // What @openai/codex's bin/codex.js sets before it execs the binary.
        CODEX_MANAGED_BY_NPM: '1',
        CODEX_MANAGED_PACKAGE_ROOT: this.install.packageRoot,
        ...this.options.egressEnv,
      };
      const child = spawn(this.install.binary, args, { cwd: this.workdir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => {
        timedOut = true;
        // The whole process group this run started (the CLI and any sandboxed command).
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const run: CodexRun = { args, code, signal, timedOut, stdout, stderr, durationMs: Date.now() - started };
        this.runs.push(run);
        resolve(run);
      });
    });
  }
}

/** Runs `tasks` with at most `limit` in flight; results in task order. */
export async function withLimit<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
