// Runs the simulated Codex workload through each topology and condenses what a user feels:
// failed requests by cause, encrypted-content failures, cache hit ratio, and sessions that
// stayed on one account. Shared by the end-to-end test and `npm run demo`.
import { runCodexWorkload, type RequestRecord, type WorkloadStats } from '../workload/index.js';
import { startStack, type Topology } from './stack.js';

export type Scenario = 'steady' | 'rate-limited' | 'account-removed';

export interface ComparisonRow {
  topology: Topology;
  scenario: Scenario;
  requests: number;
  sessions: number;
  failed: number;
  encryptedContentFailures: number;
  previousResponseFailures: number;
  rateLimited: number;
  otherFailures: number;
  cacheHitRatio: number;
  /** Sessions whose successful requests were all answered by one account. */
  sessionsOnOneAccount: number;
}

export interface ComparisonOptions {
  sessions: number;
  turns: number;
  concurrency?: number;
  seed?: number;
  onProgress?: (topology: Topology, done: number, total: number) => void;
}

const ACCOUNTS = [
  { name: 'acct-a', domain: 'org-a' },
  { name: 'acct-b', domain: 'org-b' },
  { name: 'acct-c', domain: 'org-c' },
];

function sessionsOnOneAccount(stats: WorkloadStats): number {
  const bySession = new Map<string, Set<string>>();
  for (const record of stats.records) {
    if (!record.ok || record.account === null) continue;
    const accounts = bySession.get(record.session) ?? new Set<string>();
    accounts.add(record.account);
    bySession.set(record.session, accounts);
  }
  return [...bySession.values()].filter((accounts) => accounts.size === 1).length;
}

export async function runTopology(topology: Topology, scenario: Scenario, options: ComparisonOptions): Promise<{ row: ComparisonRow; stats: WorkloadStats }> {
  const stack = await startStack({ topology, accounts: ACCOUNTS });
  const total = options.sessions * options.turns;
  let done = 0;
  let disturbed = false;
  const disturb = (): void => {
    // A third of the way in, one account stops serving: rate limited for an hour, or gone.
    disturbed = true;
    const victim = stack.accounts[0]!;
    if (scenario === 'rate-limited') victim.setRateLimit({ reject: { kind: 'usage_limit_reached', retryAfterSeconds: 3600 } });
    if (scenario === 'account-removed') void victim.close();
  };
  try {
    const stats = await runCodexWorkload({
      baseUrl: stack.url,
      sessions: options.sessions,
      turns: options.turns,
      concurrency: options.concurrency ?? 12,
      seed: options.seed ?? 7,
      timeoutMs: 20_000,
      onProgress: (record: RequestRecord) => {
        done++;
        if (!disturbed && scenario !== 'steady' && done >= total / 3) disturb();
        options.onProgress?.(topology, done, total);
        void record;
      },
    });
    const row: ComparisonRow = {
      topology,
      scenario,
      requests: stats.requests,
      sessions: stats.sessions,
      failed: stats.failedTotal,
      encryptedContentFailures: stats.failed.invalid_encrypted_content,
      previousResponseFailures: stats.failed.previous_response_not_found,
      rateLimited: stats.failed.rate_limit,
      otherFailures: stats.failed['5xx'] + stats.failed.network + stats.failed.other,
      cacheHitRatio: stats.cachedTokenRatio,
      sessionsOnOneAccount: sessionsOnOneAccount(stats),
    };
    return { row, stats };
  } finally {
    await stack.close();
  }
}

export function formatTable(rows: readonly ComparisonRow[]): string {
  const header = ['scenario', 'topology', 'requests', 'sessions', 'failed', 'encrypted-content', 'prev-response', '429', 'other', 'cache hit', 'one account*'];
  const lines = rows.map((row) => [
    row.scenario,
    row.topology === 'affinity' ? 'codex-affinity' : row.topology,
    String(row.requests),
    String(row.sessions),
    String(row.failed),
    String(row.encryptedContentFailures),
    String(row.previousResponseFailures),
    String(row.rateLimited),
    String(row.otherFailures),
    `${(row.cacheHitRatio * 100).toFixed(1)}%`,
    `${row.sessionsOnOneAccount}/${row.sessions}`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: string[]) => cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...lines.map(format)].join('\n');
}
