import { codexRequest, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../../support/processor.js';
import { createRng } from '../../workload/index.js';
import { answerUpstream } from './ext-proc.js';
import { delayedStore, newMemoryStore } from './stores.js';
import { sleep } from './tools.js';

// ---------------------------------------------------------------------------------------------
// 3. Races

export interface RaceFigures {
  sessions: number;
  /** Reconnects routed to another account than their session's first upgrade. */
  reconnectsMoved: number;
  /** Soft HTTP requests of the concurrent bursts, and those routed off the cooling account. */
  softRequests: number;
  softMovedOff: number;
  /** First upgrades routed to the cooling account. */
  upgradesOnCooling: number;
  storeCalls: number;
  setupSkipped: number;
}

const RACE_PRINCIPAL = 'client-key-1';

function websocketHandshake(session: string): Record<string, string> {
  return {
    ':method': 'GET',
    ':path': '/v1/responses',
    ':scheme': 'http',
    ':authority': 'gateway',
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    authorization: `Bearer ${RACE_PRINCIPAL}`,
    'session-id': session,
  };
}

const RATE_LIMIT_BODY = JSON.stringify({ error: { message: 'Rate limit reached. Please try again in 5s.', type: 'requests', param: null, code: 'rate_limit_exceeded' } });

/** One soft HTTP request of a session; the "upstream" answers 429 when it lands on `cooling`, else 200. */
async function softRequest(processor: TestProcessor, session: string, cooling: string | undefined, delayMilliseconds: number): Promise<string | undefined> {
  await sleep(delayMilliseconds);
  const stream = new ScriptedStream(processor);
  const request = codexRequest({ session, turn: 1, principal: RACE_PRINCIPAL });
  await stream.requestHeaders(request.headers);
  const cluster = routedCluster(await stream.requestBody(request.body));
  if (cluster !== undefined && cluster === cooling) await answerUpstream(stream, { ':status': '429', 'retry-after': '5', 'content-type': 'application/json' }, RATE_LIMIT_BODY);
  else await answerUpstream(stream, { ':status': '200', 'content-type': 'text/event-stream' });
  await stream.end();
  return cluster;
}

/** A WebSocket upgrade of a session; the upstream accepts it (101). */
async function upgradeRequest(processor: TestProcessor, session: string, delayMilliseconds: number): Promise<string | undefined> {
  await sleep(delayMilliseconds);
  const stream = new ScriptedStream(processor);
  const cluster = routedCluster(await stream.requestHeaders(websocketHandshake(session)));
  await stream.responseHeaders({ ':status': '101', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' });
  await stream.end();
  return cluster;
}

/**
 * Each round: a fresh session is soft-bound to account A; A answers 429 (cooling down);
 * then, concurrently, a WebSocket upgrade of the session and `softPerRound` soft HTTP
 * requests of it (staggered by 0-4 ms); then the socket reconnects (a second upgrade).
 * The store answers every call 2 ms late.
 */
export async function raceScenario(options: { rounds: number; softPerRound: number; seed: number }): Promise<RaceFigures> {
  let clock: { now: number } | undefined;
  const delayed = delayedStore(newMemoryStore({ maxEntries: 100_000, now: () => clock?.now ?? Date.now() }), 2);
  const processor = await startTestProcessor({}, { store: delayed.store });
  clock = processor.clock;
  const rng = createRng(options.seed, 'races');
  let reconnectsMoved = 0;
  let softRequests = 0;
  let softMovedOff = 0;
  let upgradesOnCooling = 0;
  let setupSkipped = 0;
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Earlier rounds' cooldowns (5 s) are over.
      processor.clock.now += 60_000;
      const session = `race-${options.seed}-${round}`;
      const home = await softRequest(processor, session, undefined, 0);
      // A starts cooling down: the session's next request gets A's 429.
      const again = await softRequest(processor, session, home, 0);
      if (home === undefined || again !== home) {
        setupSkipped++;
        continue;
      }
      const [first, ...soft] = await Promise.all([
        upgradeRequest(processor, session, rng.int(5)),
        ...Array.from({ length: options.softPerRound }, () => softRequest(processor, session, home, rng.int(5))),
      ]);
      softRequests += soft.length;
      softMovedOff += soft.filter((cluster) => cluster !== home).length;
      if (first === home) upgradesOnCooling++;
      const reconnect = await upgradeRequest(processor, session, 0);
      if (reconnect !== first) reconnectsMoved++;
    }
    return { sessions: options.rounds, reconnectsMoved, softRequests, softMovedOff, upgradesOnCooling, storeCalls: delayed.calls(), setupSkipped };
  } finally {
    await processor.close();
  }
}
