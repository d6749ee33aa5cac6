import { startStack } from '../e2e/stack.js';
import { startRecorder } from './recorder.js';
import { startEgressTrap } from './egress-trap.js';
import { CodexSession } from './codex-cli.js';
import { writeFileSync } from 'node:fs';

const topology = (process.argv[2] ?? 'affinity') as 'affinity';
const profile = (process.argv[3] ?? 'openai') as 'openai';
const stack = await startStack({ topology, accounts: [ { name: 'acct-a', domain: 'org-a', profile }, { name: 'acct-b', domain: 'org-b', profile }, { name: 'acct-c', domain: 'org-c', profile } ] });
const rec = await startRecorder(stack.url);
const trap = await startEgressTrap();
const s = new CodexSession({ baseUrl: `${rec.url}/v1`, egressEnv: trap.env, model: process.env.MODEL });
const runs = [await s.exec('say hi'), await s.resume('run it [tool_calls=1]'), await s.resume('third')];
for (const r of runs) console.log('RUN', r.args.slice(-1), r.code, r.durationMs, r.stdout.slice(0, 300).replace(/\n/g, ' | '), '\nSTDERR', r.stderr.slice(-1500));
console.log('EGRESS', trap.attempts);
const out = rec.requests.map((r) => ({ method: r.method, path: r.path, status: r.status, account: r.account, headers: r.headers, body: JSON.parse(r.body.toString() || 'null'), responseBody: r.responseBody }));
writeFileSync('/tmp/cx/captured.json', JSON.stringify(out, null, 1));
for (const r of out) console.log(r.method, r.path, r.status, r.account, Object.keys(r.body ?? {}).join(','), (r.body?.input ?? []).map((i: any) => i.type + (i.encrypted_content ? '*' : '')).join(' '));
s.dispose(); await rec.close(); await trap.close(); await stack.close();
