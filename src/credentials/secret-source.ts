import { readFileSync, unwatchFile, watchFile } from 'node:fs';

export type SecretSourceConfig = { readonly file: string } | { readonly env: string };

/** Where the secret came from, for errors and logs: never the value. */
export function describeSource(source: SecretSourceConfig): string {
  return 'file' in source ? `file ${source.file}` : `environment variable ${source.env}`;
}

export class SecretUnavailableError extends Error {
  constructor(readonly where: string) {
    super(`secret unavailable (${where})`);
    this.name = 'SecretUnavailableError';
  }
}

export function readSource(source: SecretSourceConfig): string {
  let value: string | undefined;
  if ('file' in source) {
    try {
      value = readFileSync(source.file, 'utf8');
    } catch {
      value = undefined;
    }
  } else {
    value = process.env[source.env];
  }
  const trimmed = value?.trim();
  if (!trimmed) throw new SecretUnavailableError(describeSource(source));
  // A key, token or password is one line: a second one (a comment, a pasted pair) would
  // make an invalid header that is silently dropped, and the client's own key would go upstream.
  if (/[\r\n]/.test(trimmed)) throw new SecretUnavailableError(`${describeSource(source)} holds more than one line`);
  return trimmed;
}

/**
 * A secret held in memory and refreshed when its file changes (stat polling
 * follows Kubernetes' symlink swap of mounted Secrets, which inotify on the
 * file itself misses). A failed re-read keeps the last good value.
 */
export class SecretValue {
  private value: string;
  private readonly stopWatching: () => void;

  constructor(readonly source: SecretSourceConfig, onReload: (ok: boolean) => void, pollMilliseconds = 2000) {
    this.value = readSource(source);
    if ('file' in source) {
      const listener = (): void => {
        try {
          this.value = readSource(source);
          onReload(true);
        } catch {
          onReload(false);
        }
      };
      watchFile(source.file, { interval: pollMilliseconds, persistent: false }, listener);
      this.stopWatching = () => unwatchFile(source.file, listener);
    } else {
      this.stopWatching = () => undefined;
    }
  }

  get current(): string {
    return this.value;
  }

  close(): void {
    this.stopWatching();
  }
}
