// `npm run demo`: fake accounts in three domains, the Envoy stand-in and the processor on
// loopback ports; a simulated Codex workload through codex-affinity, round robin and ring hash;
// then the comparison table. No Envoy install needed.
import { formatTable, runTopology, type ComparisonRow, type Scenario } from './comparison.js';
import type { Topology } from './stack.js';

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
