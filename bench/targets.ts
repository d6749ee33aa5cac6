import type { Summary } from './stats.js';
import { round } from './stats.js';

/** One server's measurements in one case (latencies in ms). */
export interface ServerRun {
  readonly server: string;
  readonly completed: number;
  readonly errors: number;
  /** Exchanges completed per second of the measured time. */
  readonly throughput: number;
  /** Server CPU time (user + system) per completed exchange, ms. */
  readonly cpuPerExchangeMs: number;
  /** Server RSS at the end of the case, bytes. */
  readonly rssBytes: number;
  /** The server's garbage-collection pauses while measured: how many, their total and the longest, ms. */
  readonly gc: { readonly pauses: number; readonly milliseconds: number; readonly longestMilliseconds: number };
  readonly phases: Readonly<Record<string, Summary>>;
}

export interface BenchCase {
  readonly description: string;
  readonly load: Readonly<Record<string, number | string>>;
  /** By role: `floor`, `processor`, and case-specific roles (`floor_with_large`, ...). */
  readonly runs: Readonly<Record<string, ServerRun>>;
  /** Case-specific numbers (memory cases). */
  readonly values?: Readonly<Record<string, number>>;
}

export type BenchCases = Readonly<Record<string, BenchCase>>;

export interface Target {
  readonly name: string;
  /** The bound, in `unit`, and which way it goes. */
  readonly target: string;
  /** What this run measured (null: the case did not run). */
  readonly value: number | null;
  readonly unit: string;
  readonly met: boolean;
}

type Read = (cases: BenchCases) => number | undefined;

const phase =
  (caseId: string, role: string, phaseName: string, statistic: 'p50' | 'p99'): Read =>
  (cases) =>
    cases[caseId]?.runs[role]?.phases[phaseName]?.[statistic];

const ratio =
  (numerator: Read, denominator: Read): Read =>
  (cases) => {
    const top = numerator(cases);
    const bottom = denominator(cases);
    return top === undefined || bottom === undefined || !(bottom > 0) ? undefined : top / bottom;
  };

const value =
  (caseId: string, name: string): Read =>
  (cases) =>
    cases[caseId]?.values?.[name];

/** Against a floor in the same case: the processor's statistic over the floor's. */
const againstFloor = (caseId: string, phaseName: string, statistic: 'p50' | 'p99', floorRole = 'floor') =>
  ratio(phase(caseId, 'processor', phaseName, statistic), phase(caseId, floorRole, phaseName, statistic));

interface Definition {
  readonly name: string;
  readonly unit: string;
  readonly bound: number;
  readonly direction: 'at_most' | 'at_least';
  readonly read: Read;
}

/** The targets, each read from the cases of one run. */
export const TARGETS: readonly Definition[] = [
  { name: 'header-only upgrade p50 vs no-op floor', unit: 'ratio', bound: 1.2, direction: 'at_most', read: againstFloor('upgrade', 'exchange', 'p50') },
  { name: 'header-only upgrade p99 vs no-op floor', unit: 'ratio', bound: 1.5, direction: 'at_most', read: againstFloor('upgrade', 'exchange', 'p99') },
  { name: '40 KB first turn with SSE p50 vs no-op floor', unit: 'ratio', bound: 1.3, direction: 'at_most', read: againstFloor('first-turn-sse', 'exchange', 'p50') },
  { name: '40 KB first turn with SSE p99 vs no-op floor', unit: 'ratio', bound: 2, direction: 'at_most', read: againstFloor('first-turn-sse', 'exchange', 'p99') },
  {
    name: '40 KB first turn with SSE maximum throughput vs no-op floor',
    unit: 'ratio',
    bound: 0.75,
    direction: 'at_least',
    read: (cases) => {
      const runs = cases['first-turn-sse-max']?.runs;
      return runs?.processor && runs.floor && runs.floor.throughput > 0 ? runs.processor.throughput / runs.floor.throughput : undefined;
    },
  },
  { name: '1 MB resumed turn p50 vs no-op floor', unit: 'ratio', bound: 1.2, direction: 'at_most', read: againstFloor('resumed-1mb', 'exchange', 'p50') },
  { name: '1 MB rewrite p50 vs echo floor', unit: 'ratio', bound: 1.3, direction: 'at_most', read: againstFloor('rewrite-1mb', 'exchange', 'p50') },
  { name: 'SSE per-chunk answer p50 vs no-op floor', unit: 'ratio', bound: 1.3, direction: 'at_most', read: againstFloor('first-turn-sse', 'response_body', 'p50') },
  {
    name: 'head-of-line: small-request p99 with 8 MB bodies in flight vs alone',
    unit: 'ratio',
    bound: 2,
    direction: 'at_most',
    read: ratio(phase('head-of-line', 'processor_with_large', 'exchange', 'p99'), phase('head-of-line', 'processor', 'exchange', 'p99')),
  },
  { name: 'memory: RSS growth over the soak run', unit: 'percent', bound: 10, direction: 'at_most', read: value('soak', 'rssGrowthPercent') },
  { name: 'memory: RSS with 1 million sessions in the memory store', unit: 'MB', bound: 500, direction: 'at_most', read: value('memory-1m-sessions', 'rssMegabytes') },
  { name: 'guard: highest phase p99 at 500 requests/s of the realistic mix', unit: 'ms', bound: 50, direction: 'at_most', read: value('soak', 'highestPhaseP99Ms') },
  {
    name: 'Redis store (near-cache hit) decision p50 over memory store',
    unit: 'ms',
    bound: 0.3,
    direction: 'at_most',
    read: (cases) => {
      const redis = phase('redis-store', 'redis', 'request_body', 'p50')(cases);
      const memory = phase('redis-store', 'processor', 'request_body', 'p50')(cases);
      return redis === undefined || memory === undefined ? undefined : redis - memory;
    },
  },
];

export function computeTargets(cases: BenchCases, definitions: readonly Definition[] = TARGETS): Target[] {
  return definitions.map((definition) => {
    const measured = definition.read(cases);
    const known = measured !== undefined && Number.isFinite(measured);
    const met = known && (definition.direction === 'at_most' ? measured <= definition.bound : measured >= definition.bound);
    return {
      name: definition.name,
      target: `${definition.direction === 'at_most' ? '≤' : '≥'} ${definition.bound}`,
      value: known ? round(measured, 3) : null,
      unit: definition.unit,
      met,
    };
  });
}
