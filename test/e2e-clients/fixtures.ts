// Recorded client requests (test/fixtures/clients/<client>-<version>/<kind>.json): what a real
// client sent through the gateway, reduced to what the processor reads. Written by the
// e2e-clients tests when RECORD_CLIENT_FIXTURES=1; read by test/signals/client-fixtures.test.ts.
// This module imports no client, so the unit test runs without test/e2e-clients/node_modules.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLIENT_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/clients/', import.meta.url));

/**
 * Headers whose values the processor reads (src/signals/signals.ts) or may read (sub-agent
 * markers). Every other header is recorded by name only; credentials never by value.
 */
export const RECORDED_HEADER_VALUES = [
  'session-id',
  'session_id',
  'thread-id',
  'thread_id',
  'conversation_id',
  'conversation-id',
  'x-codex-window-id',
  'x-codex-turn-metadata',
  'x-codex-turn-state',
  'x-openai-subagent',
  'x-codex-parent-thread-id',
  'x-codex-forked-from-thread-id',
] as const;

export type ClientName = 'codex-cli' | 'openai-node';

export interface ClientFixture {
  note: string;
  client: ClientName;
  version: string;
  kind: string;
  method: string;
  path: string;
  /** Every header name, in the order the client sent them (lower-case). */
  headerNames: string[];
  /** Values of RECORDED_HEADER_VALUES that were present. */
  headers: Record<string, string>;
  userAgent: string | null;
  /** Top-level body keys, in order. */
  bodyKeys: string[];
  /** The body as sent, with every string longer than SHORTEN_OVER cut (structure and keys kept). */
  body: Record<string, unknown>;
  bodyBytes: number;
}

const SHORTEN_OVER = 96;

function shorten(value: unknown): unknown {
  if (typeof value === 'string') return value.length <= SHORTEN_OVER ? value : `${value.slice(0, 48)}...[${value.length} chars]`;
  if (Array.isArray(value)) return value.map(shorten);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, shorten(item)]));
  }
  return value;
}

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export function toFixture(client: ClientName, version: string, kind: string, request: RawRequest, note: string): ClientFixture {
  const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
  const headers: Record<string, string> = {};
  for (const name of RECORDED_HEADER_VALUES) {
    const value = request.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return {
    note,
    client,
    version,
    kind,
    method: request.method,
    path: request.path,
    headerNames: Object.keys(request.headers),
    headers,
    userAgent: request.headers['user-agent'] ?? null,
    bodyKeys: Object.keys(body),
    body: shorten(body) as Record<string, unknown>,
    bodyBytes: request.body.length,
  };
}

export const RECORDING = process.env.RECORD_CLIENT_FIXTURES === '1';

/** Writes test/fixtures/clients/<client>-<version>/<kind>.json; returns the path. */
export function writeFixture(fixture: ClientFixture): string {
  const dir = join(CLIENT_FIXTURES_DIR, `${fixture.client}-${fixture.version}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${fixture.kind}.json`);
  writeFileSync(path, `${JSON.stringify(fixture, null, 1)}\n`);
  return path;
}

/** Every recorded fixture, with its file path relative to test/fixtures/clients/. */
export function readFixtures(): Array<{ file: string; fixture: ClientFixture }> {
  const out: Array<{ file: string; fixture: ClientFixture }> = [];
  for (const dir of readdirSync(CLIENT_FIXTURES_DIR, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const name of readdirSync(join(CLIENT_FIXTURES_DIR, dir.name)).sort()) {
      if (!name.endsWith('.json')) continue;
      out.push({ file: `${dir.name}/${name}`, fixture: JSON.parse(readFileSync(join(CLIENT_FIXTURES_DIR, dir.name, name), 'utf8')) as ClientFixture });
    }
  }
  return out;
}
