import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJsonBody } from '../../src/body/json-scan.js';
import { packScan, unpackScan } from '../../src/body/packed-scan.js';

describe('a body scan packed for the way back from a worker', () => {
  it('unpacks, after a structured clone, to the scan itself: members, fields (last wins), items', () => {
    const item = fc.oneof(
      fc.record(
        {
          type: fc.oneof(fc.constantFrom('reasoning', 'message', 'function_call', 'item_reference'), fc.string({ maxLength: 6 }), fc.integer()),
          id: fc.oneof(fc.string({ maxLength: 12 }), fc.constant(null)),
          role: fc.constantFrom('user', 'assistant'),
          encrypted_content: fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null)),
          other: fc.jsonValue({ maxDepth: 2 }),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 1 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('model', 'input', 'store', 'x', 'input'), fc.jsonValue({ maxDepth: 1 }))), fc.option(fc.array(item, { maxLength: 20 })), (extra, input) => {
        // Duplicate keys on purpose: the last occurrence is the field, every one a member.
        const members = [...extra.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`), ...(input ? [`"input":${JSON.stringify(input)}`] : [])];
        const scan = scanJsonBody(Buffer.from(`{${members.join(',')}}`));
        expect(unpackScan(structuredClone(packScan(scan)))).toEqual(scan);
      }),
      { numRuns: 500 },
    );
  });
});
