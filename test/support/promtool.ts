import { spawnSync } from 'node:child_process';

/** Runs Debian's promtool (the prometheus package; .ci/run installs it). Fails loudly when it is missing. */
export function promtool(args: readonly string[], input?: string): { status: number; output: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw new Error(`promtool could not run (install Debian's prometheus package): ${result.error.message}`);
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

export interface MetricFamily {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }>;
}
