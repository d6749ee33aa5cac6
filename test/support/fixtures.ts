import { readFileSync } from 'node:fs';

export interface CapturedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

const FIXTURES = new URL('../fixtures/codex-cli-0.169.0/', import.meta.url);

/** What Codex CLI 0.169.0 really sent (test/fixtures, copied from shared/fixtures). */
export function codexFixture(name: 'first-turn.json' | 'cold-resume.json'): CapturedRequest {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as CapturedRequest;
}

export function turnStateReplayFixture(): { requests: Array<{ n: number; headers: Record<string, string>; inputTypes: string[] }> } {
  return JSON.parse(readFileSync(new URL('turn-state-replay.json', FIXTURES), 'utf8'));
}
