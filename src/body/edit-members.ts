import type { BodyScan } from './json-scan.js';

/** Top-level member changes: values are JSON text, already serialised. */
export interface MemberEdits {
  /** Members to drop (every occurrence). */
  readonly remove: ReadonlySet<string>;
  /** Members to set: replaces every occurrence's value in place, or appends when absent. */
  readonly set: ReadonlyMap<string, string>;
}

export function hasEdits(edits: MemberEdits): boolean {
  return edits.remove.size > 0 || edits.set.size > 0;
}

/**
 * Applies top-level edits by splicing the original bytes: untouched members
 * (a 1 MB `input` array included) are copied verbatim, never parsed or
 * re-serialised. Returns undefined when the edits change nothing.
 */
export function editMembers(body: Buffer, scan: BodyScan, edits: MemberEdits): Buffer | undefined {
  const parts: Buffer[] = [];
  let changed = false;
  const written = new Set<string>();
  for (const member of scan.members) {
    if (edits.remove.has(member.key)) {
      changed = true;
      continue;
    }
    const replacement = edits.set.get(member.key);
    if (replacement !== undefined) {
      written.add(member.key);
      const original = body.subarray(member.value.start, member.value.end);
      if (original.toString('utf8') !== replacement) changed = true;
      if (parts.length > 0) parts.push(COMMA);
      parts.push(body.subarray(member.span.start, member.value.start), Buffer.from(replacement, 'utf8'));
      continue;
    }
    if (parts.length > 0) parts.push(COMMA);
    parts.push(body.subarray(member.span.start, member.span.end));
  }
  for (const [key, value] of edits.set) {
    if (written.has(key)) continue;
    changed = true;
    if (parts.length > 0) parts.push(COMMA);
    parts.push(Buffer.from(`${JSON.stringify(key)}:${value}`, 'utf8'));
  }
  if (!changed) return undefined;
  return Buffer.concat([OPEN, ...parts, CLOSE]);
}

const OPEN = Buffer.from('{');
const CLOSE = Buffer.from('}');
const COMMA = Buffer.from(',');

/**
 * The `input` array without the items at `drop` (indexes), as JSON text built
 * from the original item bytes; undefined when there is no input array.
 */
export function inputWithout(body: Buffer, scan: BodyScan, drop: ReadonlySet<number>): string | undefined {
  if (!scan.inputItems) return undefined;
  const kept: string[] = [];
  scan.inputItems.forEach((item, index) => {
    if (!drop.has(index)) kept.push(body.toString('utf8', item.span.start, item.span.end));
  });
  return `[${kept.join(',')}]`;
}
