import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout. Nothing that identifies a client session or
 * carries a credential is ever passed to the logger; the redact list is a
 * second line of defence for header dumps.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'codex-affinity' },
      redact: { paths: ['headers.authorization', 'headers.cookie', 'headers["x-api-key"]', 'headers["session-id"]', 'headers["session_id"]', 'headers["x-codex-turn-state"]'], censor: '[redacted]' },
    },
    destination ?? process.stdout,
  );
}
