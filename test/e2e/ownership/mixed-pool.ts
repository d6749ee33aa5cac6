import type { FakeAccountOptions } from '../../fake-upstream/index.js';
import { runPool } from '../../workload/stats.js';
import { startStack } from '../stack.js';
import { SdkChain, StatelessConversation, TrackedSession } from './clients.js';
import type { Outcome } from './tools.js';

// ---------------------------------------------------------------------------------------------
// 5. Mixed pool

export interface MixedPoolFigures {
  chainRequests: Outcome[];
  statelessRequests: Outcome[];
  codexRequests: Outcome[];
  /** Upstream requests per account (from the fake accounts' logs). */
  perAccount: Record<string, number>;
}

/** Two openai accounts (two domains) and one chatgpt-codex account, as deploy/example-config.yaml. */
export const MIXED_POOL: FakeAccountOptions[] = [
  { name: 'acct-a', domain: 'org-1', profile: 'openai' },
  { name: 'acct-b', domain: 'org-2', profile: 'openai' },
  { name: 'acct-c', profile: 'chatgpt-codex' },
];

export async function mixedPoolScenario(options: { each: number; steps: number; concurrency: number; seed: number }): Promise<MixedPoolFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: MIXED_POOL });
  try {
    const chains = Array.from({ length: options.each }, (_, index) => new SdkChain(stack.url, `mixed-chain-${options.seed}-${index}`, { stream: index % 2 === 1 }));
    const stateless = Array.from(
      { length: options.each },
      (_, index) => new StatelessConversation(stack.url, `mixed-stateless-${options.seed}-${index}: hello`, { stream: index % 2 === 1 }),
    );
    const codex = Array.from({ length: options.each }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index));
    // Interleaved: one job per conversation, all kinds at once.
    const jobs: Array<() => Promise<unknown>> = [];
    for (let index = 0; index < options.each; index++) {
      jobs.push(async () => {
        for (let step = 0; step < options.steps; step++) await chains[index]!.next();
      });
      jobs.push(async () => {
        for (let step = 0; step < options.steps; step++) await stateless[index]!.next();
      });
      jobs.push(async () => {
        for (let step = 0; step < options.steps; step++) await codex[index]!.turn();
      });
    }
    await runPool(jobs.length, options.concurrency, (index) => jobs[index]!().then(() => undefined));
    return {
      chainRequests: chains.flatMap((chain) => chain.outcomes),
      statelessRequests: stateless.flatMap((conversation) => conversation.outcomes),
      codexRequests: codex.flatMap((session) => session.outcomes),
      perAccount: Object.fromEntries(stack.accounts.map((account) => [account.name, account.requests.length])),
    };
  } finally {
    await stack.close();
  }
}
