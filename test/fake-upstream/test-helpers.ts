// Shared helpers for the fake upstream tests (not a test file itself).
import { postResponses, type ResponsesResult } from '../workload/http-client.js';
import { startFakeAccount } from './server.js';
import type { FakeAccount, FakeAccountOptions } from './types.js';

export const accounts: FakeAccount[] = [];

export async function account(opts: FakeAccountOptions): Promise<FakeAccount> {
  const a = await startFakeAccount(opts);
  accounts.push(a);
  return a;
}

export async function closeAll(): Promise<void> {
  await Promise.all(accounts.splice(0).map((a) => a.close()));
}

export function post(a: FakeAccount, path: string, body: unknown, headers: Record<string, string> = {}): Promise<ResponsesResult> {
  return postResponses(`${a.url}${path}`, { 'content-type': 'application/json', ...headers }, body);
}

/** A minimal valid ChatGPT-backend body. */
export function codexBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'gpt-5.1-codex',
    instructions: 'You are Codex.',
    input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
    store: false,
    stream: true,
    include: ['reasoning.encrypted_content'],
    ...extra,
  };
}

/** A minimal public-API body (JSON answer). */
export function apiBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'gpt-5.1',
    input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello there' }] }],
    store: false,
    include: ['reasoning.encrypted_content'],
    ...extra,
  };
}

export function outputOf(r: ResponsesResult): Record<string, unknown>[] {
  return (r.response?.output as Record<string, unknown>[]) ?? [];
}
