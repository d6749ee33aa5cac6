import { readFileSync } from 'node:fs';
import type { ErrorClass } from '../../src/responses/classify-error.js';

export interface UpstreamErrorFixture {
  name: string;
  source: string;
  status: number;
  headers?: Record<string, string>;
  body: unknown;
  class: ErrorClass;
  resetInSeconds?: number;
}

/** The recorded upstream errors, with "NOW+N" placeholders turned into epoch seconds from `nowMs`. */
export function upstreamErrors(nowMs: number): UpstreamErrorFixture[] {
  const text = readFileSync(new URL('../fixtures/upstream-errors/errors.json', import.meta.url), 'utf8').replace(/"NOW\+(\d+)"/g, (_match, seconds: string) => String(Math.floor(nowMs / 1000) + Number(seconds)));
  return (JSON.parse(text) as { errors: UpstreamErrorFixture[] }).errors;
}
