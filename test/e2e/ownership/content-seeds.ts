import { startStack } from '../stack.js';
import { StatelessConversation } from './clients.js';
import { rateLimit, THREE_DOMAINS, type Outcome } from './tools.js';

// ---------------------------------------------------------------------------------------------
// 6. Content seeds

export interface ContentSeedFigures {
  home: string | null;
  firstTurns: Outcome[];
  /** Conversation 1's next turn once its account is limited (it carries encrypted reasoning). */
  limitedTurn: Outcome | null;
  newFirstTurns: Outcome[];
  newSecondTurns: Outcome[];
}

/**
 * Clients with no session signal at all, all opening with the same instructions and "hi".
 * Conversation 1 runs two turns on X; X is limited (long retry-after) and conversation 1's
 * next turn meets the 429; then `newConversations` new conversations with the same opening
 * run two turns each.
 */
export async function contentSeedScenario(options: { newConversations: number }): Promise<ContentSeedFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS });
  try {
    const first = new StatelessConversation(stack.url, 'hi', { apiKey: 'sk-seed-client' });
    const firstTurns = [await first.next(), await first.next()];
    const home = firstTurns[1]!.ok ? firstTurns[1]!.account : null;
    const x = stack.accounts.find((account) => account.name === home);
    if (!x) return { home, firstTurns, limitedTurn: null, newFirstTurns: [], newSecondTurns: [] };
    rateLimit(x, 600);
    const limitedTurn = await first.next();
    const conversations = Array.from({ length: options.newConversations }, () => new StatelessConversation(stack.url, 'hi', { apiKey: 'sk-seed-client' }));
    const newFirstTurns: Outcome[] = [];
    for (const conversation of conversations) newFirstTurns.push(await conversation.next());
    const newSecondTurns: Outcome[] = [];
    for (const conversation of conversations) if (conversation.step === 1) newSecondTurns.push(await conversation.next());
    return { home, firstTurns, limitedTurn, newFirstTurns, newSecondTurns };
  } finally {
    await stack.close();
  }
}
