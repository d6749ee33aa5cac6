import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';

/**
 * Calls `onChange` when the file's content changes. Stat polling, not inotify: a
 * Kubernetes ConfigMap update swaps a symlink, which a watch on the file misses.
 * Only a change of content counts (a touch, or a swap to the same text, does not).
 */
export function watchConfigFile(path: string, intervalMilliseconds: number, onChange: () => void): () => void {
  const digest = (): string | undefined => {
    try {
      return createHash('sha256').update(readFileSync(path)).digest('hex');
    } catch {
      return undefined;
    }
  };
  let last = digest();
  const listener = (): void => {
    const now = digest();
    if (now === undefined || now === last) return;
    last = now;
    onChange();
  };
  watchFile(path, { interval: intervalMilliseconds, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}
