// The real Codex CLI (pinned in test/e2e-clients/package.json), run non-interactively with a
// custom Responses provider pointing at the gateway: recorder → Envoy stand-in → codex-affinity
// → fake accounts in separate domains that really seal encrypted reasoning per domain. Every
// `codex exec resume --last` is a cold resume that resends the whole history, encrypted
// reasoning included, so a session that lands on another domain fails.
// RECORD_CLIENT_FIXTURES=1 rewrites test/fixtures/clients/codex-cli-<version>/ from these runs.
import { describe, expect, it } from 'vitest';
import { codexCli, pinnedVersions } from './clients.js';
import { codexRequestKind, runCodexSessions, summarize, type CodexSessionsResult } from './codex-sessions.js';
import { RECORDING, toFixture, writeFixture } from './fixtures.js';

const OPENAI_ACCOUNTS = [
  { name: 'acct-a', domain: 'org-a' },
  { name: 'acct-b', domain: 'org-b' },
  { name: 'acct-c', domain: 'org-c' },
];
const CHATGPT_ACCOUNTS = [
  { name: 'codex-a', domain: 'ws-a', profile: 'chatgpt-codex' as const },
  { name: 'codex-b', domain: 'ws-b', profile: 'chatgpt-codex' as const },
];
// First turn, then three cold resumes; the second resume runs one shell command (the fake model
// asks for one exec_command call), so that turn is two requests.
const PROMPTS = ['say hi', 'what did you just say?', 'run one command [tool_calls=1]', 'thanks, one more time'];
const REQUESTS_PER_SESSION = PROMPTS.length + 1;
const SESSIONS = 10;
// Each codex exec costs about a second of CPU (mostly starting up in a fresh CODEX_HOME); on
// two cores, running sessions side by side was no faster and slowed the rest of the suite.
const PARALLEL = 1;

function recordCodexFixtures(result: CodexSessionsResult, kinds: readonly string[], context: string): void {
  if (!RECORDING) return;
  const { version } = codexCli();
  for (const kind of kinds) {
    const request = result.captured.find((captured) => captured.status === 200 && codexRequestKind(captured) === kind);
    if (!request) throw new Error(`no successful ${kind} request was captured to record`);
    const note = `Recorded from codex exec (Codex CLI ${version}, custom provider wire_api=responses, CLI default model) ${context}. Regenerate: RECORD_CLIENT_FIXTURES=1 npx vitest run test/e2e-clients/codex-cli.test.ts`;
    console.log(`recorded ${writeFixture(toFixture('codex-cli', version, kind, request, note))}`);
  }
}

function failedRunOutput(result: CodexSessionsResult): string {
  return result.runs
    .flat()
    .filter((run) => run.code !== 0 || run.timedOut)
    .map((run) => `${run.args.join(' ')} → code ${run.code}${run.timedOut ? ' (timed out)' : ''}\n${run.stderr.slice(-800)}`)
    .join('\n---\n');
}

describe('Codex CLI end to end (real client)', () => {
  it('is installed at the pinned version', () => {
    const codex = codexCli();
    expect(codex.version).toBe(pinnedVersions().codex);
  });

  it(
    `through codex-affinity: ${SESSIONS} sessions × (first turn + ${PROMPTS.length - 1} cold resumes), zero failed turns, every session on one account`,
    async () => {
      const ours = await runCodexSessions({ topology: 'affinity', accounts: OPENAI_ACCOUNTS, sessions: SESSIONS, prompts: PROMPTS, parallel: PARALLEL });
      console.log(summarize('codex-cli via codex-affinity', ours));
      expect(ours.egress, 'the CLI tried to reach something outside loopback').toEqual([]);
      expect(ours.failedTurns, failedRunOutput(ours)).toBe(0);
      expect(ours.turns).toBe(SESSIONS * PROMPTS.length);
      expect(ours.captured).toHaveLength(SESSIONS * REQUESTS_PER_SESSION);
      expect(ours.captured.every((request) => request.method === 'POST' && request.path === '/v1/responses' && request.status === 200)).toBe(true);
      // The fake accounts saw every request, each with a session-id, and no error.
      expect(ours.upstream).toHaveLength(SESSIONS * REQUESTS_PER_SESSION);
      expect(ours.upstreamErrors).toEqual({});
      expect(ours.accountsBySession.has('(none)')).toBe(false);
      expect(ours.accountsBySession.size).toBe(SESSIONS);
      for (const [session, accounts] of ours.accountsBySession) expect([session, accounts.size]).toEqual([session, 1]);
      // New sessions were spread over the pool, so staying put was the processor's doing.
      expect(new Set(ours.upstream.map((entry) => entry.account)).size).toBeGreaterThan(1);
      // The resumes really resent sealed reasoning (the state only one domain can read).
      const kinds = ours.captured.map(codexRequestKind);
      expect(kinds.filter((kind) => kind === 'first-turn')).toHaveLength(SESSIONS);
      expect(kinds.filter((kind) => kind === 'resume')).toHaveLength(SESSIONS * (PROMPTS.length - 1));
      expect(kinds.filter((kind) => kind === 'tool-follow-up')).toHaveLength(SESSIONS);
      const resumes = ours.captured.filter((request) => codexRequestKind(request) !== 'first-turn');
      expect(resumes.every((request) => request.body.includes('"encrypted_content":"'))).toBe(true);
      recordCodexFixtures(ours, ['first-turn', 'resume', 'tool-follow-up'], 'through the Envoy stand-in and codex-affinity to an openai-profile fake account');
    },
    240_000,
  );

  it(
    `round-robin control: the same ${SESSIONS} sessions, resumes fail with invalid_encrypted_content`,
    async () => {
      const roundRobin = await runCodexSessions({ topology: 'round-robin', accounts: OPENAI_ACCOUNTS, sessions: SESSIONS, prompts: PROMPTS, parallel: PARALLEL });
      console.log(summarize('codex-cli via round-robin', roundRobin));
      expect(roundRobin.egress).toEqual([]);
      // First turns carry no state: they succeed wherever they land.
      expect(roundRobin.runs.every((runs) => runs[0]!.code === 0)).toBe(true);
      // Resumes that land in another domain are refused; Codex does not retry a 400.
      expect(roundRobin.failedTurns).toBeGreaterThan(SESSIONS);
      expect(Object.keys(roundRobin.upstreamErrors)).toEqual(['invalid_encrypted_content']);
      expect(roundRobin.upstreamErrors.invalid_encrypted_content).toBe(roundRobin.failedTurns);
      const failed = roundRobin.runs.flat().filter((run) => run.code !== 0);
      expect(failed.every((run) => run.stderr.includes('invalid_encrypted_content'))).toBe(true);
      const onOneAccount = [...roundRobin.accountsBySession.values()].filter((accounts) => accounts.size === 1).length;
      expect(onOneAccount).toBeLessThan(SESSIONS);
    },
    240_000,
  );

  it(
    'chatgpt-codex accounts (backend strictness on): Codex CLI sessions succeed through codex-affinity, turn-state tokens replayed to their account',
    async () => {
      const sessions = 4;
      const ours = await runCodexSessions({ topology: 'affinity', accounts: CHATGPT_ACCOUNTS, sessions, prompts: PROMPTS, parallel: PARALLEL });
      console.log(summarize('codex-cli via codex-affinity, chatgpt-codex accounts', ours));
      expect(ours.egress).toEqual([]);
      expect(ours.failedTurns, failedRunOutput(ours)).toBe(0);
      expect(ours.upstream).toHaveLength(sessions * REQUESTS_PER_SESSION);
      expect(ours.upstreamErrors).toEqual({});
      for (const accounts of ours.accountsBySession.values()) expect(accounts.size).toBe(1);
      // Codex sends no instructions; the backend requires them: the processor's chatgpt-codex
      // rewrite adds them. store:false and stream:true are Codex's own.
      for (const request of ours.captured) {
        const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
        expect(body.instructions).toBeUndefined();
        expect([body.store, body.stream]).toEqual([false, true]);
      }
      expect(ours.upstream.every((entry) => entry.bodyKeys.includes('instructions'))).toBe(true);
      // The backend issues x-codex-turn-state; Codex replays it on the tool call's follow-up,
      // and that request reached the account that issued it.
      const followUps = ours.upstream.filter((entry) => entry.turnStateIn !== null);
      expect(followUps).toHaveLength(sessions);
      const issuedBy = new Map(ours.upstream.filter((entry) => entry.turnStateOut !== null && entry.turnStateIn === null).map((entry) => [entry.turnStateOut!, entry.account]));
      for (const entry of followUps) expect(issuedBy.get(entry.turnStateIn!)).toBe(entry.account);
      recordCodexFixtures(ours, ['turn-state-follow-up'], 'through codex-affinity to a chatgpt-codex-profile fake account that issues x-codex-turn-state');
    },
    240_000,
  );

  it(
    'chatgpt-codex control without the processor: the backend strictness refuses what Codex CLI sends (no instructions)',
    async () => {
      const direct = await runCodexSessions({ topology: 'round-robin', accounts: CHATGPT_ACCOUNTS, sessions: 1, prompts: PROMPTS.slice(0, 1), parallel: 1 });
      console.log(summarize('codex-cli via round-robin, chatgpt-codex accounts', direct));
      expect(direct.failedTurns).toBe(1);
      expect(direct.upstream).toHaveLength(1);
      expect(direct.upstream[0]).toMatchObject({ status: 400, errorCode: 'Instructions are required' });
      expect(direct.runs[0]![0]!.stderr).toContain('Instructions are required');
    },
    60_000,
  );
});
