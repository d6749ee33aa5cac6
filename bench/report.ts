import { writeFileSync } from 'node:fs';
import type { BenchCase, Target } from './targets.js';

export interface BenchResult {
  readonly machine: { readonly cpus: number; readonly cpuModel: string };
  readonly node: string;
  readonly date: string;
  readonly durationSeconds: number;
  readonly cases: Readonly<Record<string, BenchCase>>;
  readonly targets: readonly Target[];
}

const BEGIN = '<!-- bench-table:begin (written by npm run bench) -->';
const END = '<!-- bench-table:end -->';

const number = (value: number | undefined, digits = 3) => (value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits));

/** Markdown: the targets, then each case's floor and processor side by side. */
export function renderTable(result: BenchResult): string {
  const lines = [
    `Measured ${result.date.slice(0, 16).replace('T', ' ')} UTC on ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.node}, in ${result.durationSeconds} s (bench/results/latest.json).`,
    '',
    '| target | bound | this run | met |',
    '|---|---|---|---|',
    ...result.targets.map((target) => `| ${target.name} | ${target.target} ${target.unit} | ${target.value === null ? 'not run' : `${target.value} ${target.unit}`} | ${target.met ? 'yes' : '**no**'} |`),
    '',
    '| case | server | exchanges/s | exchange p50 / p99 / p99.9 ms | per-phase p50 / p99 ms | CPU ms per exchange | GC pauses (longest ms) | errors |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [id, benchCase] of Object.entries(result.cases)) {
    for (const [role, run] of Object.entries(benchCase.runs)) {
      const exchange = run.phases.exchange;
      const phases = Object.entries(run.phases)
        .filter(([phase]) => phase !== 'exchange')
        .map(([phase, summary]) => `${phase} ${number(summary.p50)} / ${number(summary.p99)}`)
        .join('; ');
      lines.push(
        `| ${id} | ${role} (${run.server}) | ${run.throughput} | ${number(exchange?.p50)} / ${number(exchange?.p99)} / ${number(exchange?.p999)} | ${phases} | ${number(run.cpuPerExchangeMs)} | ${run.gc.pauses} (${number(run.gc.longestMilliseconds)}) | ${run.errors} |`,
      );
    }
    if (benchCase.values) {
      lines.push(`| ${id} | | | ${Object.entries(benchCase.values).map(([name, value]) => `${name} ${value}`).join('; ')} | | | | |`);
    }
  }
  return lines.join('\n');
}

/** Replaces the table between the README's markers (they must be there). */
export function writeReadmeTable(path: string, readme: string, table: string): void {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README has no ${BEGIN} … ${END} markers`);
  writeFileSync(path, `${readme.slice(0, begin + BEGIN.length)}\n${table}\n${readme.slice(end)}`);
}
