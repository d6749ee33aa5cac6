// The processor's signal extraction over what real clients sent (test/fixtures/clients/, recorded
// by test/e2e-clients with RECORD_CLIENT_FIXTURES=1). Expectations are per client and request
// kind, not per version: a new client version is one recorded folder away from being checked.
import { describe, expect, it } from 'vitest';
import { scanJsonBody } from '../../src/body/json-scan.js';
import { contentSeed } from '../../src/signals/content-seed.js';
import { extractSignals, type SignalSource } from '../../src/signals/signals.js';
import { chooseStickyKey, requestStrength } from '../../src/signals/sticky-key.js';
import type { Strength } from '../../src/bindings/binding.js';
import { readFixtures, type ClientFixture } from '../e2e-clients/fixtures.js';

interface Expectation {
  source: SignalSource;
  strength: Strength;
  /** Account facts the request carries (looked up before the session key, see decide.ts). */
  facts: { previousResponse: boolean; encryptedItems: boolean; turnState: boolean };
}

const NO_FACTS = { previousResponse: false, encryptedItems: false, turnState: false };

const EXPECTED: Record<string, Record<string, Expectation>> = {
  // Codex CLI: session-id header on every request; include:["reasoning.encrypted_content"] alone is
  // not hard; a cold resume or tool follow-up resends sealed reasoning; the upstream's
  // x-codex-turn-state is replayed inside a turn (hard once the processor has learned the token).
  'codex-cli': {
    'first-turn': { source: 'session_header', strength: 'soft', facts: NO_FACTS },
    resume: { source: 'session_header', strength: 'hard', facts: { ...NO_FACTS, encryptedItems: true } },
    'tool-follow-up': { source: 'session_header', strength: 'hard', facts: { ...NO_FACTS, encryptedItems: true } },
    'turn-state-follow-up': { source: 'session_header', strength: 'hard', facts: { ...NO_FACTS, encryptedItems: true, turnState: true } },
  },
  // OpenAI Node SDK: no session header, no prompt_cache_key: the content seed is the session key;
  // chain steps are hard by previous_response_id, stateless steps by resent encrypted reasoning.
  'openai-node': {
    'chain-start': { source: 'content_seed', strength: 'soft', facts: NO_FACTS },
    'chain-step': { source: 'content_seed', strength: 'hard', facts: { ...NO_FACTS, previousResponse: true } },
    'stateless-start': { source: 'content_seed', strength: 'soft', facts: NO_FACTS },
    'stateless-step': { source: 'content_seed', strength: 'hard', facts: { ...NO_FACTS, encryptedItems: true } },
  },
};

function analyse(fixture: ClientFixture) {
  const buffer = Buffer.from(JSON.stringify(fixture.body));
  const scan = scanJsonBody(buffer);
  const signals = extractSignals(new Map(Object.entries(fixture.headers)), { buffer, scan });
  const sticky = chooseStickyKey(signals, () => contentSeed(buffer, scan));
  // A replayed token is hard when the processor learned it from the upstream's answer, as it
  // does in the recorded run.
  const knownTurnState = signals.turnState !== undefined;
  return { signals, sticky, strength: requestStrength(signals, knownTurnState, sticky !== undefined) };
}

const fixtures = readFixtures();

describe('signals of recorded real-client requests', () => {
  it('fixtures of every client kind are there, and each has an expectation', () => {
    const clients = new Set(fixtures.map(({ fixture }) => fixture.client));
    expect([...clients].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const { file, fixture } of fixtures) {
      expect(EXPECTED[fixture.client]?.[fixture.kind], `${file}: add an expectation for ${fixture.client} / ${fixture.kind}`).toBeDefined();
      expect(file.startsWith(`${fixture.client}-${fixture.version}/`)).toBe(true);
    }
    for (const [client, kinds] of Object.entries(EXPECTED)) {
      for (const kind of Object.keys(kinds)) {
        expect(fixtures.some(({ fixture }) => fixture.client === client && fixture.kind === kind), `no fixture for ${client} / ${kind}`).toBe(true);
      }
    }
  });

  it('no fixture holds a credential value', () => {
    for (const { file, fixture } of fixtures) {
      const text = JSON.stringify(fixture);
      expect(Object.keys(fixture.headers), file).not.toContain('authorization');
      expect(text, file).not.toMatch(/Bearer |sk-[A-Za-z0-9-]{8,}/);
    }
  });

  it.each(fixtures.map(({ file, fixture }) => [file, fixture] as const))('%s', (file, fixture) => {
    const expected = EXPECTED[fixture.client]![fixture.kind]!;
    const { signals, sticky, strength } = analyse(fixture);
    expect(sticky?.source, file).toBe(expected.source);
    expect(strength, file).toBe(expected.strength);
    expect(
      { previousResponse: signals.previousResponseId !== undefined, encryptedItems: signals.encryptedItemIds.length > 0, turnState: signals.turnState !== undefined },
      file,
    ).toEqual(expected.facts);
    if (expected.source === 'session_header') {
      // Codex: one id names the session everywhere the processor looks.
      const id = fixture.headers['session-id'];
      expect(sticky?.value).toBe(id);
      expect([signals.threadHeader, signals.windowThread, signals.turnMetadataSession, signals.promptCacheKey, signals.clientMetadataSession]).toEqual([id, id, id, id, id]);
    }
    // Every encrypted item the scanner found has an id the processor can look up.
    expect(signals.hasEncryptedContent).toBe(signals.encryptedItemIds.length > 0);
  });

  it('SDK: a stateless conversation keeps its content seed from one step to the next; a chain step does not (its previous_response_id routes it)', () => {
    const of = (kind: string) => analyse(fixtures.find(({ fixture }) => fixture.client === 'openai-node' && fixture.kind === kind)!.fixture);
    // Recorded from one conversation (the step resends the start's first message).
    expect(of('stateless-step').sticky?.value).toBe(of('stateless-start').sticky?.value);
    expect(of('chain-step').sticky?.value).not.toBe(of('chain-start').sticky?.value);
  });
});
