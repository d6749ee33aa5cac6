/**
 * Reads a V8 CPU profile (`npm run bench -- --cpu-prof DIR`, or `node --cpu-prof`) and
 * prints where the busy time went: by function (self), by file, and by function with
 * everything it called (inclusive), as shares of the samples that were not idle.
 *
 *   node dist/bench/profile-summary.js DIR/affinity.cpuprofile [rows]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

const [file, rowsArgument] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary <file.cpuprofile> [rows]');
  process.exit(2);
}
const rows = Number(rowsArgument ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

const where = (url: string): string => url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, '');
const nameOf = (node: ProfileNode): string => `${node.callFrame.functionName || '(anonymous)'} ${where(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

const hits = new Map<number, number>();
for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);

const self = new Map<string, number>();
const files = new Map<string, number>();
const inclusive = new Map<string, number>();
let busy = 0;
for (const [id, count] of hits) {
  const node = nodes.get(id)!;
  if (node.callFrame.functionName === '(idle)') continue;
  busy += count;
  const name = nameOf(node);
  self.set(name, (self.get(name) ?? 0) + count);
  const fileName = where(node.callFrame.url) || node.callFrame.functionName;
  files.set(fileName, (files.get(fileName) ?? 0) + count);
  // Each function once per sample, however deep it recursed.
  const seen = new Set<string>();
  for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
    const frame = nameOf(nodes.get(current)!);
    if (seen.has(frame)) continue;
    seen.add(frame);
    inclusive.set(frame, (inclusive.get(frame) ?? 0) + count);
  }
}

const table = (title: string, counts: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [name, count] of [...counts].sort((left, right) => right[1] - left[1]).slice(0, rows)) {
    console.log(`${((100 * count) / busy).toFixed(1).padStart(6)}%  ${name}`);
  }
};
const seconds = (profile.endTime - profile.startTime) / 1e6;
console.log(`${file}: ${profile.samples.length} samples over ${seconds.toFixed(1)} s, ${busy} busy (${((100 * busy) / profile.samples.length).toFixed(1)}%)`);
table('self (busy share)', self);
table('by file', files);
table('inclusive (the function and what it called)', inclusive);
