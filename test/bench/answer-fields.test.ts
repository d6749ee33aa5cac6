import { describe, expect, it } from 'vitest';
import { answerFields, IMMEDIATE_RESPONSE_FIELD } from '../../bench/ext-proc-call.js';
import { toProcessingResponse } from '../../src/extproc/adapter.js';
import { createResponseEncoder } from '../../src/extproc/response-encoder.js';

const encode = createResponseEncoder();

describe("the bench client's reading of answers", () => {
  it('names the phase answered and the other top-level fields, as the proto numbers them', () => {
    const routed = encode(
      toProcessingResponse(
        'request_headers',
        { headers: { set: [['x-cluster', 'a']], remove: [] }, clearRouteCache: true, dynamicMetadata: { ns: { account: 'a' } }, modeOverride: { requestBody: 'NONE', responseBody: 'NONE' } },
        () => undefined,
      ),
    );
    expect([...answerFields(routed).fields].sort()).toEqual([1, 8, 9]);
    expect([...answerFields(encode({ response_body: { response: {} } })).fields]).toEqual([4]);
    const refused = encode(toProcessingResponse('request_body', { immediate: { status: 503, headers: [], body: '{}', details: 'x' } }, () => undefined));
    expect(answerFields(refused).fields.has(IMMEDIATE_RESPONSE_FIELD)).toBe(true);
  });

  it('fails on a truncated answer instead of reading past its end', () => {
    const routed = encode(toProcessingResponse('request_headers', { headers: { set: [['x-cluster', 'a']], remove: [] } }, () => undefined));
    for (let length = 1; length < routed.length; length++) expect(() => answerFields(routed.subarray(0, length))).toThrow();
  });
});
