import { routedCluster, ScriptedStream } from '../../support/processor.js';
import { runPool } from '../../workload/stats.js';
import { startStack } from '../stack.js';
import { TrackedSession } from './clients.js';
import { extProcClient } from './ext-proc.js';
import { countBy, liftRateLimit, rateLimit, sleep, THREE_DOMAINS, type Outcome } from './tools.js';

// ---------------------------------------------------------------------------------------------
// 2. Flood

export interface FloodFigures {
  sessionsA: number;
  /** 429s principal A saw while creating its sessions (the limited account, before the processor knew). */
  creationRateLimited: number;
  creationFailures: number;
  secondTurnFailures: number;
  homesA: Record<string, number>;
  floodRequests: number;
  floodErrors: number;
  floodSeconds: number;
  /** Entries in the processor's store after the flood, when the store tells (its `size`). */
  storeSizeAfterFlood: number | undefined;
  /** A's sessions answered by another account after the flood, and failed turns. */
  changedAccount: number;
  resumeFailures: number;
  resumeFailuresByClass: Record<string, number>;
}

/** Principal B's new sessions, one request each, straight at the processor's ext_proc stream. */
export async function floodNewSessions(address: string, options: { count: number; concurrency: number; apiKey: string; prefix: string }): Promise<{ errors: number; clusters: Record<string, number> }> {
  const { processor, close } = extProcClient(address);
  let errors = 0;
  const clusters: Record<string, number> = {};
  try {
    await runPool(options.count, options.concurrency, async (index) => {
      const stream = new ScriptedStream(processor);
      try {
        const session = `${options.prefix}-${index}`;
        await stream.requestHeaders({
          ':method': 'POST',
          ':path': '/v1/responses',
          ':scheme': 'http',
          ':authority': 'gateway',
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${options.apiKey}`,
          'session-id': session,
          'thread-id': session,
        });
        const routed = await stream.requestBody({ model: 'gpt-5.1-codex', stream: true, store: false, include: ['reasoning.encrypted_content'], input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: `flood ${index}` }] }] });
        const cluster = routedCluster(routed) ?? 'none';
        clusters[cluster] = (clusters[cluster] ?? 0) + 1;
        await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' }, true);
        await stream.end();
      } catch {
        errors++;
        stream.cancel();
      }
    });
  } finally {
    close();
  }
  return { errors, clusters };
}

export async function floodScenario(options: { sessionsA: number; flood: number; maxEntries: number; maxEntriesPerPrincipal?: number; concurrency: number; seed: number }): Promise<FloodFigures> {
  const store = { kind: 'memory' as const, maxEntries: options.maxEntries, ...(options.maxEntriesPerPrincipal ? { maxEntriesPerPrincipal: options.maxEntriesPerPrincipal } : {}) };
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS, processor: { store } });
  try {
    const limited = stack.accounts[0]!;
    rateLimit(limited, 2);
    let lastRateLimitAt = Date.now();
    const sessions = Array.from({ length: options.sessionsA }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index, { clientKey: 'principal-a' }));
    // New sessions while the account is limited: the first to land there gets its 429 and
    // starts again (a client retry), now away from the limited account.
    let creationRateLimited = 0;
    let creationFailures = 0;
    await runPool(sessions.length, 3, async (index) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const outcome = await sessions[index]!.turn();
        if (outcome.ok) return;
        if (outcome.status === 429) {
          creationRateLimited++;
          lastRateLimitAt = Date.now();
        } else creationFailures++;
      }
    });
    // Second turn: hard now (encrypted reasoning resent).
    let secondTurnFailures = 0;
    await runPool(sessions.length, 3, async (index) => {
      if (!(await sessions[index]!.turn()).ok) secondTurnFailures++;
    });
    const homes = new Map(sessions.map((session) => [session, session.home]));
    liftRateLimit(limited);
    await sleep(Math.max(0, lastRateLimitAt + 2200 - Date.now()));
    const started = Date.now();
    const flood = await floodNewSessions(stack.processor!.grpcAddress, { count: options.flood, concurrency: options.concurrency, apiKey: 'principal-b', prefix: `flood-${options.seed}` });
    const floodSeconds = (Date.now() - started) / 1000;
    const storeSizeAfterFlood = (stack.processor!.context.store as unknown as { size?: unknown }).size;
    const resumed: Outcome[] = [];
    let changedAccount = 0;
    await runPool(sessions.length, 3, async (index) => {
      const session = sessions[index]!;
      const outcome = await session.turn();
      resumed.push(outcome);
      if (outcome.account !== homes.get(session)) changedAccount++;
    });
    const failed = resumed.filter((outcome) => !outcome.ok);
    return {
      sessionsA: sessions.length,
      creationRateLimited,
      creationFailures,
      secondTurnFailures,
      homesA: countBy(sessions, (session) => homes.get(session) ?? 'none'),
      floodRequests: options.flood,
      floodErrors: flood.errors,
      floodSeconds,
      storeSizeAfterFlood: typeof storeSizeAfterFlood === 'number' ? storeSizeAfterFlood : undefined,
      changedAccount,
      resumeFailures: failed.length,
      resumeFailuresByClass: countBy(failed, (outcome) => outcome.failure ?? 'ok'),
    };
  } finally {
    await stack.close();
  }
}
