import type { FakeAccountOptions } from '../../fake-upstream/index.js';
import { startStack } from '../stack.js';
import { SdkChain } from './clients.js';
import { liftRateLimit, rateLimit, sleep, type Outcome } from './tools.js';

// ---------------------------------------------------------------------------------------------
// 4. Stored-object failover

export interface StoredFailoverFigures {
  startAttempts: number;
  home: string | null;
  homeDomain: string | null;
  stepsBefore: Outcome[];
  stepsLimited: Outcome[];
  stepsAfter: Outcome[];
}

/**
 * Two openai accounts in org-1 and one in org-2. A previous_response_id chain (store:true,
 * no session header) that starts on an org-1 account X; X answers 429 (retry-after 2 s) for
 * `limitedSteps` steps; the limit is lifted and, retry-after honoured, the chain goes on.
 */
export async function storedFailoverScenario(options: { stepsBefore: number; limitedSteps: number; stepsAfter: number }): Promise<StoredFailoverFigures> {
  const accounts: FakeAccountOptions[] = [
    { name: 'org1-x', domain: 'org-1' },
    { name: 'org1-y', domain: 'org-1' },
    { name: 'org2-z', domain: 'org-2' },
  ];
  const stack = await startStack({ topology: 'affinity', accounts });
  try {
    // Chains start until one is placed in org-1 (the domain with two accounts).
    let chain: SdkChain | undefined;
    let startAttempts = 0;
    for (let attempt = 0; attempt < 24 && !chain; attempt++) {
      startAttempts++;
      const candidate = new SdkChain(stack.url, `stored-chain-${attempt}`, { apiKey: 'sk-stored-chain' });
      const outcome = await candidate.next();
      if (outcome.ok && outcome.account && outcome.account.startsWith('org1-')) chain = candidate;
    }
    if (!chain) return { startAttempts, home: null, homeDomain: null, stepsBefore: [], stepsLimited: [], stepsAfter: [] };
    const home = chain.outcomes[0]!.account!;
    const stepsBefore: Outcome[] = [chain.outcomes[0]!];
    for (let step = 1; step < options.stepsBefore; step++) stepsBefore.push(await chain.next());
    const x = stack.accounts.find((account) => account.name === home)!;
    rateLimit(x, 2);
    const stepsLimited: Outcome[] = [];
    let lastRateLimitAt = Date.now();
    for (let step = 0; step < options.limitedSteps; step++) {
      const outcome = await chain.next();
      stepsLimited.push(outcome);
      if (outcome.status === 429) lastRateLimitAt = Date.now();
      await sleep(100);
    }
    liftRateLimit(x);
    await sleep(Math.max(0, lastRateLimitAt + 2100 - Date.now()));
    const stepsAfter: Outcome[] = [];
    for (let step = 0; step < options.stepsAfter; step++) stepsAfter.push(await chain.next());
    return { startAttempts, home, homeDomain: x.domain, stepsBefore, stepsLimited, stepsAfter };
  } finally {
    await stack.close();
  }
}
