/**
 * One load-generator thread: the realistic mix, open loop, at its share of
 * the rate, on a connection of its own. Several of these together reach
 * rates one event loop cannot generate. Posts its samples when done.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Recorder, runExchange } from './exchange.js';
import { createBenchClient } from './ext-proc-call.js';
import { openLoop } from './load.js';
import { createRealisticMix } from './workload.js';

export interface LoadWorkerData {
  readonly address: string;
  readonly rate: number;
  readonly seconds: number;
  /** This thread's exchanges are offset, offset + stride, ... of the mix. */
  readonly offset: number;
  readonly stride: number;
}

export interface LoadWorkerResult {
  readonly samples: Record<string, Float64Array>;
  readonly errors: number;
  readonly completed: number;
  readonly seconds: number;
}

const { address, rate, seconds, offset, stride } = workerData as LoadWorkerData;
const client = createBenchClient(address);
const mix = createRealisticMix();
const recorder = new Recorder();
const started = process.hrtime.bigint();
await openLoop(rate, seconds * 1000, (index, dueAt) => runExchange(client, mix(offset + index * stride), recorder, dueAt));
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
client.close();
const samples = Object.fromEntries([...recorder.samples].map(([phase, values]) => [phase, Float64Array.from(values)]));
const result: LoadWorkerResult = { samples, errors: recorder.errors, completed: recorder.completed, seconds: elapsed };
parentPort!.postMessage(result, Object.values(samples).map((values) => values.buffer));
