// The real OpenAI Node SDK (pinned in test/e2e-clients/package.json) with baseURL at the
// gateway: recorder → Envoy stand-in → codex-affinity → fake accounts in three domains.
// The SDK sends no session header at all: previous_response_id chains are routed by the
// response ids the processor learned, stateless conversations by their content seed and the
// encrypted reasoning items they resend.
// RECORD_CLIENT_FIXTURES=1 rewrites test/fixtures/clients/openai-node-<version>/ from these runs.
import { describe, expect, it } from 'vitest';
import { openaiSdk, pinnedVersions } from './clients.js';
import { RECORDING, toFixture, writeFixture } from './fixtures.js';
import { runSdkConversations, sdkRequestKind, sdkSummary, type ConversationSpec, type SdkRunResult } from './sdk-conversations.js';

const ACCOUNTS = [
  { name: 'acct-a', domain: 'org-a' },
  { name: 'acct-b', domain: 'org-b' },
  { name: 'acct-c', domain: 'org-c' },
];
const STEPS = 5;
const PER_KIND = 5;
const PARALLEL = 4;

function conversations(): ConversationSpec[] {
  const specs: ConversationSpec[] = [];
  for (const mode of ['chain', 'stateless'] as const) {
    for (const stream of [false, true]) {
      for (let n = 0; n < PER_KIND; n++) specs.push({ id: `${mode}-${stream ? 'stream' : 'json'}-${n}`, mode, stream });
    }
  }
  return specs;
}

function failures(result: SdkRunResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const step of result.conversations.flatMap((conversation) => conversation.steps)) {
    if (!step.ok) out[step.code ?? String(step.status)] = (out[step.code ?? String(step.status)] ?? 0) + 1;
  }
  return out;
}

function recordSdkFixtures(result: SdkRunResult): void {
  if (!RECORDING) return;
  // Streamed variants; a non-streamed request differs only by the absent `stream` key.
  const streamed = result.captured.filter((captured) => captured.status === 200 && captured.body.includes('"stream":true'));
  const firstInput = (request: { body: Buffer }) => JSON.stringify((JSON.parse(request.body.toString('utf8')) as { input: unknown[] }).input[0]);
  const chosen = new Map<string, (typeof streamed)[number]>();
  for (const kind of ['chain-start', 'chain-step', 'stateless-start'] as const) {
    const request = streamed.find((captured) => sdkRequestKind(captured) === kind);
    if (request) chosen.set(kind, request);
  }
  // The stateless step of the same conversation as the recorded start (same first message).
  const start = chosen.get('stateless-start');
  const step = start && streamed.find((captured) => sdkRequestKind(captured) === 'stateless-step' && firstInput(captured) === firstInput(start));
  if (step) chosen.set('stateless-step', step);
  for (const kind of ['chain-start', 'chain-step', 'stateless-start', 'stateless-step']) {
    const request = chosen.get(kind);
    if (!request) throw new Error(`no successful streamed ${kind} request was captured to record`);
    const note = `Recorded from the OpenAI Node SDK ${result.sdkVersion} (client.responses.create, stream: true, baseURL at the gateway) through the Envoy stand-in and codex-affinity to an openai-profile fake account. Regenerate: RECORD_CLIENT_FIXTURES=1 npx vitest run test/e2e-clients/openai-sdk.test.ts`;
    console.log(`recorded ${writeFixture(toFixture('openai-node', result.sdkVersion, kind, request, note))}`);
  }
}

describe('OpenAI Node SDK end to end (real client)', () => {
  it('is installed at the pinned version', async () => {
    const sdk = await openaiSdk();
    expect(sdk.version).toBe(pinnedVersions().openai);
  });

  it(
    `through codex-affinity: previous_response_id chains and stateless encrypted-reasoning conversations, streamed and not, zero failures, each on one account`,
    async () => {
      const ours = await runSdkConversations({ topology: 'affinity', accounts: ACCOUNTS, conversations: conversations(), steps: STEPS, parallel: PARALLEL });
      console.log(sdkSummary('openai-node via codex-affinity', ours));
      expect(failures(ours)).toEqual({});
      const total = 4 * PER_KIND * STEPS;
      expect(ours.captured).toHaveLength(total);
      expect(ours.upstream).toHaveLength(total);
      expect(ours.upstream.every((entry) => entry.status === 200)).toBe(true);
      const accountOfResponse = new Map(ours.upstream.map((entry) => [entry.responseId, entry.account]));
      for (const conversation of ours.conversations) {
        const accounts = new Set(conversation.steps.map((step) => step.account));
        expect([conversation.id, accounts.size]).toEqual([conversation.id, 1]);
        // The answering account (response header) is the one whose log holds the response.
        for (const step of conversation.steps) expect(accountOfResponse.get(step.responseId)).toBe(step.account);
      }
      // Conversations were spread over the pool: staying put was the processor's doing.
      expect(new Set(ours.conversations.map((conversation) => conversation.steps[0]!.account)).size).toBeGreaterThan(1);
      // What the SDK sent: no session header; steps carry the account-bound state.
      expect(ours.captured.every((request) => request.headers['session-id'] === undefined && request.headers.session_id === undefined)).toBe(true);
      const kinds = ours.captured.map(sdkRequestKind);
      for (const kind of ['chain-start', 'stateless-start'] as const) expect(kinds.filter((k) => k === kind)).toHaveLength(2 * PER_KIND);
      for (const kind of ['chain-step', 'stateless-step'] as const) expect(kinds.filter((k) => k === kind)).toHaveLength(2 * PER_KIND * (STEPS - 1));
      recordSdkFixtures(ours);
    },
    120_000,
  );

  it(
    'round-robin control: chains fail with previous_response_not_found, stateless conversations with invalid_encrypted_content',
    async () => {
      const roundRobin = await runSdkConversations({ topology: 'round-robin', accounts: ACCOUNTS, conversations: conversations(), steps: STEPS, parallel: PARALLEL });
      console.log(sdkSummary('openai-node via round-robin', roundRobin));
      const byMode = (mode: string) => roundRobin.conversations.filter((conversation) => conversation.mode === mode).flatMap((conversation) => conversation.steps);
      const chainFailures = byMode('chain').filter((step) => !step.ok);
      const statelessFailures = byMode('stateless').filter((step) => !step.ok);
      expect(chainFailures.length).toBeGreaterThan(0);
      expect(statelessFailures.length).toBeGreaterThan(0);
      expect(new Set(chainFailures.map((step) => `${step.status} ${step.code}`))).toEqual(new Set(['400 previous_response_not_found']));
      expect(new Set(statelessFailures.map((step) => `${step.status} ${step.code}`))).toEqual(new Set(['400 invalid_encrypted_content']));
      // A first step carries no state: it never fails.
      expect(roundRobin.conversations.every((conversation) => conversation.steps[0]!.ok)).toBe(true);
    },
    120_000,
  );
});
