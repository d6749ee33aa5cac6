// `npm run demo`: fake accounts in three domains, the Envoy stand-in and the processor on
// loopback ports; a simulated Codex workload through codex-affinity, round robin and ring hash;
// then the comparison table. No Envoy install needed.
import { formatTable, runTopology, type ComparisonRow, type Scenario } from './comparison.js';
import type { Topology } from './stack.js';
import { connectRedisAdmin } from './replicas.js';
import { sharedCooldownScenario, showRun, workloadScenario } from './replicas-scenarios.js';
import { DAY_DEFAULTS, formatDay, runDay, type DayResult } from './balance/day.js';
import { runSlowAccount, turnsToLeave } from './balance/slow-account.js';

const SESSIONS = Number(process.env.DEMO_SESSIONS ?? 60);
const TURNS = Number(process.env.DEMO_TURNS ?? 5);
const SCENARIOS: Scenario[] = ['steady', 'rate-limited', 'account-removed'];
const TOPOLOGIES: Topology[] = ['affinity', 'round-robin', 'ring-hash'];

function progress(scenario: Scenario, topology: Topology, done: number, total: number): void {
  if (!process.stdout.isTTY && done !== total) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stdout.write(`\r${scenario.padEnd(16)} ${topology.padEnd(12)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} requests${done === total ? '\n' : ''}`);
}

console.log(`codex-affinity demo: ${SESSIONS} simulated Codex sessions × ${TURNS} turns per run, 3 accounts in 3 domains.`);
console.log('Every turn resends the whole history with encrypted reasoning; an account outside the session\'s domain answers 400 invalid_encrypted_content.\n');
const rows: ComparisonRow[] = [];
for (const scenario of SCENARIOS) {
  for (const topology of TOPOLOGIES) {
    const { row } = await runTopology(topology, scenario, {
      sessions: SESSIONS,
      turns: TURNS,
      onProgress: (_topology, done, total) => progress(scenario, topology, done, total),
    });
    rows.push(row);
  }
}
console.log(`\n${formatTable(rows)}\n`);
console.log('* sessions whose successful requests were all answered by one account.');
console.log('rate-limited: one account answers usage_limit_reached from a third of the run on; account-removed: one account goes away at that point.');
console.log('codex-affinity keeps hard sessions in their domain; its remaining failures are sessions whose only account stopped serving.');

// Balancing: a compressed day with one account starting at 60% of its usage window, through
// codex-affinity, the same processor with every move turned off, and round robin.
console.log(
  `\nBalancing: a simulated day (${DAY_DEFAULTS.codexSessions} Codex sessions, hard from turn 2, and ${DAY_DEFAULTS.softSessions} SDK-style soft sessions, working in bursts with idle gaps of 15 min to 3 h),`,
);
console.log('3 accounts (acct-a1 and acct-a2 in one organisation), acct-a1 starting at 60% of its usage window; prompt caches forget a key after 10 idle minutes.');
const days: DayResult[] = [];
for (const topology of ['balanced', 'sticky', 'round-robin'] as const) days.push(await runDay(topology, DAY_DEFAULTS));
console.log(`\n${formatDay(days)}\n`);
console.log('never-moving stickiness: the same processor with balancing off (sessions never leave a usable account).');
const slow = await runSlowAccount();
const leftWithin = Math.max(...slow.softPaths.map((path) => turnsToLeave(path, slow.slowAccount)));
console.log(
  `One account made slow (+2 s to its first event): ${slow.softPaths.length} soft sessions left it within ${leftWithin} turn(s), ${slow.hardPaths.length} hard sessions stayed (${slow.heldForLatency} requests held for latency), ${slow.encryptedContentFailures} encrypted-content failures.`,
);

// The production topology: every Envoy pod has its own replica, a mesh spreads each
// session's requests over the pods. Memory per replica against replicas sharing Redis.
process.env.CODEX_AFFINITY_DEMO_HMAC ??= `demo-${process.pid}-${Date.now()}`;
const redis = { store: 'redis' as const, hmacSecretEnv: 'CODEX_AFFINITY_DEMO_HMAC' };
const memory = { store: 'memory' as const };
let redisReachable = true;
try {
  await (await connectRedisAdmin()).quit();
} catch (error) {
  redisReachable = false;
  console.log(`\nReplicas: skipped, no Redis to share (${(error as Error).message.split('. ')[0]}).`);
}
if (redisReachable) {
  console.log('\nReplicas: 3 pods (an Envoy and its own processor each) behind a spreader that sends every request to the next pod.');
  const workload = { replicas: 3, sessions: SESSIONS, turns: TURNS, concurrency: 10, seed: 7 };
  console.log(`  ${showRun((await workloadScenario(memory, workload)).run)}`);
  console.log(`  ${showRun((await workloadScenario(redis, workload)).run)}`);
  const separate = await sharedCooldownScenario(memory, { replicas: 3, sessions: 30 });
  const shared = await sharedCooldownScenario(redis, { replicas: 3, sessions: 30 });
  console.log(`  one account answering 429, 30 new sessions: ${separate} reached it with memory per replica (each replica learns alone), ${shared} with Redis (the first tells the others)`);
  console.log('  orphans: hard requests whose state the replica did not know; with memory they are placed deterministically and still land home.');
}
