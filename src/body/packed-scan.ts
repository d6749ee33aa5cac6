import type { BodyScan, InputItemScan, Member, Span } from './json-scan.js';

/**
 * A body scan in a few arrays, for the way back from a worker thread: a scan of a
 * large resumed body holds thousands of items, and a structured clone of as many
 * objects costs the event loop as much to read as the scan cost the worker.
 * Typed arrays copy as one block; the items' strings travel as two arrays.
 */
export interface PackedScan {
  readonly memberKeys: readonly string[];
  /** Per member: key start, value start, value end (the member's span ends with its value). */
  readonly memberOffsets: Float64Array;
  /** Absent when `input` is absent or not an array. */
  readonly items:
    | {
        /** Per item: span start, span end. */
        readonly spans: Float64Array;
        /** Per item: bit 0 encrypted content, bit 1 role, bit 2 has an id. */
        readonly flags: Uint8Array;
        /** Per item: index into `types`, -1 without a string type. */
        readonly typeIndexes: Int32Array;
        readonly types: readonly string[];
        /** Per item: its id, '' where it has none (bit 2 tells). */
        readonly ids: readonly string[];
      }
    | undefined;
}

const ENCRYPTED = 1;
const ROLE = 2;
const HAS_ID = 4;

export function packScan(scan: BodyScan): PackedScan {
  const memberOffsets = new Float64Array(scan.members.length * 3);
  scan.members.forEach((member, index) => {
    memberOffsets[index * 3] = member.span.start;
    memberOffsets[index * 3 + 1] = member.value.start;
    memberOffsets[index * 3 + 2] = member.value.end;
  });
  const memberKeys = scan.members.map((member) => member.key);
  const input = scan.inputItems;
  if (input === undefined) return { memberKeys, memberOffsets, items: undefined };
  const spans = new Float64Array(input.length * 2);
  const flags = new Uint8Array(input.length);
  const typeIndexes = new Int32Array(input.length);
  const types: string[] = [];
  const typeIndex = new Map<string, number>();
  const ids: string[] = new Array<string>(input.length);
  input.forEach((item, index) => {
    spans[index * 2] = item.span.start;
    spans[index * 2 + 1] = item.span.end;
    flags[index] = (item.hasEncryptedContent ? ENCRYPTED : 0) | (item.hasRole ? ROLE : 0) | (item.id !== undefined ? HAS_ID : 0);
    if (item.type === undefined) typeIndexes[index] = -1;
    else {
      let known = typeIndex.get(item.type);
      if (known === undefined) {
        known = types.length;
        types.push(item.type);
        typeIndex.set(item.type, known);
      }
      typeIndexes[index] = known;
    }
    ids[index] = item.id ?? '';
  });
  return { memberKeys, memberOffsets, items: { spans, flags, typeIndexes, types, ids } };
}

export function unpackScan(packed: PackedScan): BodyScan {
  const members: Member[] = [];
  const fields = new Map<string, Span>();
  packed.memberKeys.forEach((key, index) => {
    const value: Span = { start: packed.memberOffsets[index * 3 + 1]!, end: packed.memberOffsets[index * 3 + 2]! };
    members.push({ key, span: { start: packed.memberOffsets[index * 3]!, end: value.end }, value });
    // Last occurrence wins, as in the scan itself.
    fields.set(key, value);
  });
  const items = packed.items;
  if (items === undefined) return { fields, members, inputItems: undefined };
  const inputItems: InputItemScan[] = new Array<InputItemScan>(items.flags.length);
  for (let index = 0; index < items.flags.length; index++) {
    const flags = items.flags[index]!;
    const typeIndex = items.typeIndexes[index]!;
    inputItems[index] = {
      type: typeIndex < 0 ? undefined : items.types[typeIndex],
      id: (flags & HAS_ID) !== 0 ? items.ids[index] : undefined,
      hasEncryptedContent: (flags & ENCRYPTED) !== 0,
      hasRole: (flags & ROLE) !== 0,
      span: { start: items.spans[index * 2]!, end: items.spans[index * 2 + 1]! },
    };
  }
  return { fields, members, inputItems };
}
