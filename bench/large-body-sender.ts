/**
 * Sends 8 MB resumed turns at a fixed rate from a thread of its own (own
 * event loop, own connection), so serialising them does not stall the load
 * generator measuring the small requests beside them. Posts the number of
 * failed exchanges when done.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Recorder, runExchange } from './exchange.js';
import { createBenchClient } from './ext-proc-call.js';
import { openLoop } from './load.js';
import { resumedTurnBody } from './workload.js';

const { address, rate, seconds, bytes } = workerData as { address: string; rate: number; seconds: number; bytes: number };
const client = createBenchClient(address);
const bodies = [resumedTurnBody('large-0', bytes), resumedTurnBody('large-1', bytes)];
const recorder = new Recorder();
await openLoop(rate, seconds * 1000, (index) => runExchange(client, { kind: 'turn', session: `large-${index % 2}`, body: bodies[index % 2]!, sse: undefined }, recorder));
client.close();
parentPort!.postMessage({ errors: recorder.errors, completed: recorder.completed, requestBodyP50: recorder.samples.get('request_body')?.sort((a, b) => a - b)[Math.floor((recorder.samples.get('request_body')?.length ?? 0) / 2)] });
