import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';

/** `codex-affinity admin ...`: the admin API from a shell. */
export const ADMIN_USAGE = `  codex-affinity admin [--config FILE | --url URL] [--token-file FILE] ACTION
      accounts                     accounts with their state and session bindings
      drain ACCOUNT | undrain ACCOUNT
      cooldown ACCOUNT SECONDS | reset ACCOUNT
      flush-account ACCOUNT | flush-pool POOL
      lookup-session | flush-session   session on stdin as JSON:
                                   { "session": ID, "authorization": "Bearer ..." | "principal": P, "pool": P }
      explain                      a request on stdin, explained with the live bindings`;

export interface AdminCall {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Read from standard input. */
  readonly stdinBody: boolean;
  readonly body?: unknown;
}

const segment = (value: string | undefined, what: string): string => {
  if (!value) throw new Error(`${what} is required`);
  return encodeURIComponent(value);
};

/** Pure: the HTTP call an admin action makes. */
export function adminCall(action: string | undefined, parameters: readonly string[]): AdminCall {
  switch (action) {
    case 'accounts':
      return { method: 'GET', path: '/admin/accounts', stdinBody: false };
    case 'drain':
    case 'undrain':
    case 'reset':
      return { method: 'POST', path: `/admin/accounts/${segment(parameters[0], 'ACCOUNT')}/${action}`, stdinBody: false };
    case 'cooldown': {
      const seconds = Number(parameters[1]);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('cooldown ACCOUNT SECONDS: SECONDS must be a positive number');
      return { method: 'POST', path: `/admin/accounts/${segment(parameters[0], 'ACCOUNT')}/cooldown`, stdinBody: false, body: { seconds } };
    }
    case 'flush-account':
      return { method: 'POST', path: `/admin/accounts/${segment(parameters[0], 'ACCOUNT')}/flush`, stdinBody: false };
    case 'flush-pool':
      return { method: 'POST', path: `/admin/pools/${segment(parameters[0], 'POOL')}/flush`, stdinBody: false };
    case 'lookup-session':
      return { method: 'POST', path: '/admin/sessions/lookup', stdinBody: true };
    case 'flush-session':
      return { method: 'POST', path: '/admin/sessions/flush', stdinBody: true };
    case 'explain':
      return { method: 'POST', path: '/admin/explain', stdinBody: true };
    default:
      throw new Error(`unknown admin action "${action ?? ''}"`);
  }
}

/** Where the admin API is: --url, else the config's HTTP port on loopback. */
export function adminBaseUrl(url: string | undefined, config: Config | undefined): string {
  if (url) return url.replace(/\/+$/, '');
  if (!config) throw new Error('--url URL or --config FILE is required');
  const host = ['0.0.0.0', '::', ''].includes(config.http.host) ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
}

/** The token: --token-file, else the config's admin.tokenFile, else CODEX_AFFINITY_ADMIN_TOKEN. */
export function adminToken(tokenFile: string | undefined, config: Config | undefined): string {
  const file = tokenFile ?? config?.admin.tokenFile;
  const token = file ? readFileSync(file, 'utf8').trim() : process.env.CODEX_AFFINITY_ADMIN_TOKEN?.trim();
  if (!token) throw new Error('no admin token: --token-file FILE, admin.tokenFile in --config, or CODEX_AFFINITY_ADMIN_TOKEN');
  return token;
}

export async function runAdminCall(baseUrl: string, token: string, call: AdminCall, stdin: () => Promise<string>): Promise<{ status: number; text: string }> {
  const body = call.stdinBody ? await stdin() : call.body !== undefined ? JSON.stringify(call.body) : undefined;
  const response = await fetch(`${baseUrl}${call.path}`, {
    method: call.method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, text: await response.text() };
}
