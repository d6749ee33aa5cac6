// Stored objects through the whole stack: conversations (created through /v1/conversations,
// used from several session ids) and item_reference histories (the Vercel AI SDK's default
// with store: true). The fake accounts resolve both only on the exact account that stored
// them, so a round-robin control fails where codex-affinity must not.
import { describe, expect, it } from 'vitest';
import { postResponses } from '../workload/index.js';
import { sdkHeaders } from './ownership/clients.js';
import { countBy, liftRateLimit, outcomeOf, rateLimit, sleep, type Outcome } from './ownership/tools.js';
import { startStack, type Stack, type Topology } from './stack.js';

const E2E_TIMEOUT = { timeout: 90_000 };

/** Two openai accounts in one organisation (stored objects still belong to one of them) and a ChatGPT Codex account. */
const ACCOUNTS = [
  { name: 'org1-x', domain: 'org-1', profile: 'openai' as const },
  { name: 'org1-y', domain: 'org-1', profile: 'openai' as const },
  { name: 'codex-z', domain: 'ws-z', profile: 'chatgpt-codex' as const },
];

async function createConversation(stack: Stack, apiKey: string): Promise<{ id: string | null; account: string | null; status: number }> {
  const result = await postResponses(new URL('/v1/conversations', stack.url).toString(), sdkHeaders(apiKey), { metadata: { topic: 'e2e' } }, { timeoutMs: 10_000 });
  const id = (result.json as { id?: unknown } | null)?.id;
  return { id: typeof id === 'string' ? id : null, account: result.headers['x-fake-account'] ?? null, status: result.status };
}

/** Conversations used from three session ids each; returns every step's outcome and where each conversation was created. */
async function conversationRun(topology: Topology, conversations: number) {
  const stack = await startStack({ topology, accounts: ACCOUNTS });
  try {
    const created: Array<{ id: string | null; account: string | null; status: number }> = [];
    const steps: Array<Outcome & { home: string | null }> = [];
    for (let index = 0; index < conversations; index++) {
      const conversation = await createConversation(stack, 'sk-conversations');
      created.push(conversation);
      if (!conversation.id) continue;
      for (const session of ['laptop', 'ci', 'phone']) {
        const headers = { ...sdkHeaders('sk-conversations'), 'session-id': `${session}-${index}` };
        const body = { model: 'gpt-5.1', input: `from ${session}`, conversation: conversation.id, store: true };
        const outcome = outcomeOf(await postResponses(new URL('/v1/responses', stack.url).toString(), headers, body, { timeoutMs: 10_000 }));
        steps.push({ ...outcome, home: conversation.account });
      }
    }
    return { created, steps };
  } finally {
    await stack.close();
  }
}

/** The Vercel AI SDK's history with store: true: earlier output items are sent back as item_reference. */
class ItemReferenceHistory {
  private readonly history: unknown[] = [];
  readonly outcomes: Outcome[] = [];
  constructor(
    private readonly stack: Stack,
    private readonly id: string,
  ) {}

  async next(text: string): Promise<Outcome> {
    const message = { role: 'user', content: [{ type: 'input_text', text: `${this.id}: ${text}` }] };
    const body = { model: 'gpt-5.1', input: [...this.history, message], store: true };
    const result = await postResponses(new URL('/v1/responses', this.stack.url).toString(), sdkHeaders('sk-vercel'), body, { timeoutMs: 10_000 });
    const outcome = outcomeOf(result);
    this.outcomes.push(outcome);
    if (outcome.ok && result.response) {
      const output = (result.response.output as Array<{ id?: string }> | undefined) ?? [];
      this.history.push(message, ...output.filter((item) => typeof item.id === 'string').map((item) => ({ type: 'item_reference', id: item.id })));
    }
    return outcome;
  }
}

describe('stored objects end to end', () => {
  it('a conversation used from three session ids stays on the account that created it (round robin: conversation not found)', E2E_TIMEOUT, async () => {
    const affinity = await conversationRun('affinity', 8);
    const control = await conversationRun('round-robin', 8);
    const misplaced = affinity.steps.filter((step) => step.account !== step.home);
    console.log(
      `stored objects, conversations: affinity ${affinity.steps.length} uses of ${affinity.created.length} conversations (created on ${JSON.stringify(countBy(affinity.created, (entry) => entry.account ?? 'none'))}), ` +
        `${affinity.steps.filter((step) => !step.ok).length} failed, ${misplaced.length} on another account; round robin: ${control.steps.filter((step) => !step.ok).length} of ${control.steps.length} failed ` +
        `${JSON.stringify(countBy(control.steps.filter((step) => !step.ok), (step) => `${step.status}`))}, ${control.created.filter((entry) => entry.status !== 200).length} creations refused`,
    );
    expect(affinity.created.every((entry) => entry.status === 200 && entry.account !== 'codex-z')).toBe(true);
    expect(affinity.steps).toHaveLength(8 * 3);
    expect(affinity.steps.filter((step) => !step.ok)).toHaveLength(0);
    expect(misplaced).toHaveLength(0);
    // The control can fail: the fake holds each conversation on one account only.
    expect(control.steps.filter((step) => !step.ok).length + control.created.filter((entry) => entry.status !== 200).length).toBeGreaterThan(0);
  });

  it('an item_reference history stays on its exact account through that account’s 429 (never item_not_found), then continues there', E2E_TIMEOUT, async () => {
    const stack = await startStack({ topology: 'affinity', accounts: ACCOUNTS });
    try {
      const histories = Array.from({ length: 6 }, (_, index) => new ItemReferenceHistory(stack, `vercel-${index}`));
      for (let step = 0; step < 3; step++) for (const history of histories) await history.next(`step ${step}`);
      const homes = histories.map((history) => history.outcomes[0]!.account);
      const limited = stack.accounts.find((account) => account.name === homes[0])!;
      rateLimit(limited, 1);
      const during: Outcome[] = [];
      for (const history of histories) during.push(await history.next('while limited'));
      liftRateLimit(limited);
      await sleep(1100);
      for (let step = 0; step < 2; step++) for (const history of histories) await history.next(`after ${step}`);
      const all = histories.flatMap((history) => history.outcomes);
      const wrongAccount = histories.flatMap((history, index) => history.outcomes.filter((outcome) => outcome.account !== homes[index]));
      console.log(
        `stored objects, item_reference histories: 6 histories on ${JSON.stringify(countBy(homes, (home) => home ?? 'none'))}, ${all.length} requests, ` +
          `while ${limited.name} was limited ${JSON.stringify(countBy(during, (outcome) => `${outcome.status}${outcome.code ? `:${outcome.code}` : ''}`))}, ` +
          `${all.filter((outcome) => outcome.code === 'item_not_found' || outcome.status === 404).length} item_not_found, ${wrongAccount.length} on another account`,
      );
      expect(homes.every((home) => home !== 'codex-z')).toBe(true);
      expect(wrongAccount).toHaveLength(0);
      expect(all.filter((outcome) => outcome.status === 404)).toHaveLength(0);
      const limitedHistories = histories.filter((_, index) => homes[index] === limited.name);
      expect(limitedHistories.every((history) => history.outcomes[3]!.status === 429)).toBe(true);
      // Outside the limited steps, every request succeeded.
      expect(histories.flatMap((history) => history.outcomes.filter((outcome, step) => step !== 3 && !outcome.ok))).toHaveLength(0);
    } finally {
      await stack.close();
    }
  });
});
