// Runs Envoy's preStop drain script (deploy/kubernetes/deployment.yaml, the chart's
// deployment template) with bash against a stand-in for Envoy's admin endpoint, so the script
// itself is tested: the drain request, the stats it reads, when it stops waiting. The waits
// are shortened (the settle sleep, the poll interval, the deadline), nothing else changes.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PreStopRun {
  /** Request lines the admin stand-in received, in order ("POST /drain_listeners?graceful"). */
  readonly requests: string[];
  readonly exitCode: number | null;
  readonly milliseconds: number;
  readonly stderr: string;
}

export interface ScriptParameters {
  readonly adminPort: number;
  readonly settleSeconds: number;
  readonly longestTurnSeconds: number;
}

/** The script's fixed numbers, read back so tests can assert them against the config. */
export function scriptParameters(script: string): ScriptParameters {
  const adminPort = Number(/\/dev\/tcp\/127\.0\.0\.1\/(\d+)/.exec(script)?.[1]);
  const settleSeconds = Number(/^\s*sleep (\d+)\s*$/m.exec(script)?.[1]);
  const longestTurnSeconds = Number(/end=\$\(\(SECONDS \+ (\d+)\)\)/.exec(script)?.[1]);
  return { adminPort, settleSeconds, longestTurnSeconds };
}

/**
 * Runs the script; `active(n)` says how many downstream requests Envoy reports at the n-th
 * stats read (undefined: the admin endpoint has closed, Envoy is gone).
 */
export async function runPreStop(script: string, active: (read: number) => number | undefined, deadlineSeconds = 3): Promise<PreStopRun> {
  const requests: string[] = [];
  let reads = 0;
  let closed = false;
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    if (request.url?.startsWith('/stats')) {
      const count = active(reads++);
      if (count === undefined) {
        closed = true;
        server.close();
        request.socket.destroy();
        return;
      }
      response.end(`http.codex_ingress.downstream_rq_active: ${count}\nhttp.envoy_readiness.downstream_rq_active: 1\nhttp.codex_ingress.downstream_rq_active_total: 10\n`);
      return;
    }
    response.end('OK\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const { adminPort, settleSeconds, longestTurnSeconds } = scriptParameters(script);
  const shortened = script
    .replaceAll(`/dev/tcp/127.0.0.1/${adminPort}`, `/dev/tcp/127.0.0.1/${port}`)
    .replace(new RegExp(`^(\\s*)sleep ${settleSeconds}\\s*$`, 'm'), '$1sleep 0')
    .replace(`end=$((SECONDS + ${longestTurnSeconds}))`, `end=$((SECONDS + ${deadlineSeconds}))`)
    .replace(/^(\s*)sleep 2\s*$/m, '$1sleep 0.1');
  const started = Date.now();
  const child = spawn('bash', ['-c', shortened], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (!closed) await new Promise((resolve) => server.close(resolve));
  return { requests, exitCode, milliseconds: Date.now() - started, stderr };
}
