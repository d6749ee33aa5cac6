import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toProcessingResponse } from '../../src/extproc/adapter.js';
import type { PhaseAnswer } from '../../src/extproc/phase-answer.js';
import { loadExternalProcessor } from '../../src/extproc/proto.js';
import { createResponseEncoder } from '../../src/extproc/response-encoder.js';
import type { RequestKind, WireProcessingResponse } from '../../src/extproc/wire-types.js';

const { service } = loadExternalProcessor();
const reference = service.Process!.responseSerialize as (value: WireProcessingResponse) => Buffer;
/** What Envoy reads, as a client decodes it (proto-loader's deserializer). */
const decode = (service.Process!.responseDeserialize as (bytes: Buffer) => unknown);

const kinds: RequestKind[] = ['request_headers', 'response_headers', 'request_body', 'response_body', 'request_trailers', 'response_trailers'];
const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
const metadataValue = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -1000, max: 1000 }), fc.boolean());
const answer: fc.Arbitrary<PhaseAnswer> = fc.record(
  {
    headers: fc.record({ set: fc.array(fc.tuple(token, fc.string({ maxLength: 20 })), { maxLength: 4 }), remove: fc.array(token, { maxLength: 3 }) }),
    body: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    clearRouteCache: fc.boolean(),
    modeOverride: fc.record({ requestBody: fc.constantFrom('NONE', 'BUFFERED', 'STREAMED'), responseBody: fc.constantFrom('NONE', 'BUFFERED', 'STREAMED') }),
    dynamicMetadata: fc.dictionary(fc.constantFrom('codex_affinity', 'other', '\u0000odd'), fc.dictionary(fc.string({ maxLength: 8 }), metadataValue, { maxKeys: 6 }), { maxKeys: 2 }),
  },
  { requiredKeys: [] },
) as fc.Arbitrary<PhaseAnswer>;

describe('response encoder', () => {
  it('decodes to what the proto-loader serializer encodes, for any answer, cached metadata or not', () => {
    const encode = createResponseEncoder();
    fc.assert(
      fc.property(fc.constantFrom(...kinds), answer, (kind, phaseAnswer) => {
        const wire = toProcessingResponse(kind, phaseAnswer, () => undefined);
        const expected = decode(reference(wire));
        // Twice: the second time the metadata comes from the cache.
        expect(decode(encode(wire))).toEqual(expected);
        expect(decode(encode(wire))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes every field the wire types allow as the proto-loader serializer does (objects built directly)', () => {
    const encode = createResponseEncoder();
    const bytes = fc.uint8Array({ maxLength: 40 }).map((array) => Buffer.from(array));
    const text = fc.string({ maxLength: 30 });
    const mutation = fc.record(
      {
        set_headers: fc.array(
          fc.record(
            {
              header: fc.record({ key: text, raw_value: bytes }),
              append: fc.record({ value: fc.boolean() }, { requiredKeys: [] }),
              append_action: fc.constantFrom('APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'),
            },
            { requiredKeys: ['header'] },
          ),
          { maxLength: 4 },
        ),
        remove_headers: fc.array(text, { maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    const common = fc.record(
      {
        status: fc.constantFrom('CONTINUE' as const, 'CONTINUE_AND_REPLACE' as const),
        header_mutation: mutation,
        body_mutation: fc.oneof(fc.record({ body: bytes }), fc.record({ clear_body: fc.boolean() })),
        clear_route_cache: fc.boolean(),
      },
      { requiredKeys: [] },
    );
    const headerMode = fc.constantFrom('DEFAULT' as const, 'SEND' as const, 'SKIP' as const);
    const bodyMode = fc.constantFrom('NONE' as const, 'STREAMED' as const, 'BUFFERED' as const, 'BUFFERED_PARTIAL' as const);
    const phase = fc.oneof(
      ...(['request_headers', 'response_headers', 'request_body', 'response_body'] as const).map((kind) =>
        fc.record({ response: common }, { requiredKeys: [] }).map((inner) => ({ [kind]: inner }) as WireProcessingResponse),
      ),
      ...(['request_trailers', 'response_trailers'] as const).map((kind) =>
        fc.record({ header_mutation: mutation }, { requiredKeys: [] }).map((inner) => ({ [kind]: inner }) as WireProcessingResponse),
      ),
      fc
        .record({ status: fc.record({ code: fc.integer({ min: 100, max: 599 }) }), headers: mutation, body: bytes, details: text }, { requiredKeys: ['status'] })
        .map((immediate) => ({ immediate_response: immediate }) as WireProcessingResponse),
    );
    const response = fc
      .tuple(
        phase,
        fc.option(
          fc.record(
            {
              request_header_mode: headerMode,
              response_header_mode: headerMode,
              request_body_mode: bodyMode,
              response_body_mode: bodyMode,
              request_trailer_mode: headerMode,
              response_trailer_mode: headerMode,
            },
            { requiredKeys: [] },
          ),
          { nil: undefined },
        ),
      )
      .map(([base, mode]) => (mode ? { ...base, mode_override: mode } : base));
    fc.assert(
      fc.property(response, (wire) => {
        expect(decode(encode(wire))).toEqual(decode(reference(wire)));
      }),
      { numRuns: 1000 },
    );
  });

  it('never answers one metadata value with another one cached (same values, other types or order)', () => {
    const encode = createResponseEncoder();
    const variants: PhaseAnswer[] = [
      { dynamicMetadata: { ns: { a: '1' } } },
      { dynamicMetadata: { ns: { a: 1 } } },
      { dynamicMetadata: { ns: { a: true } } },
      { dynamicMetadata: { ns: { a: 'true' } } },
      { dynamicMetadata: { ns: { a: '1', b: '2' } } },
      { dynamicMetadata: { ns: { b: '2', a: '1' } } },
      { dynamicMetadata: { ns: { 'a\u0001s1': '' } } },
      { dynamicMetadata: { 'ns\u0000a': { x: '' } } },
    ];
    for (const variant of variants) {
      const wire = toProcessingResponse('request_headers', { ...variant, headers: { set: [['x-cluster', 'c']], remove: [] } }, () => undefined);
      expect(decode(encode(wire))).toEqual(decode(reference(wire)));
    }
  });
});
