import { describe, expect, it } from 'vitest';
import { storedObjectCall } from '../../src/request/stored-object-call.js';

const call = (method: string, path: string) => storedObjectCall({ method, path, query: '', headers: new Map(), endOfStream: true });

describe('calls on stored objects, read from the path', () => {
  it.each([
    ['POST', '/v1/conversations', { kind: 'create_conversation' }],
    ['POST', '/v1/conversations/', { kind: 'create_conversation' }],
    ['GET', '/v1/conversations/conv_1', { kind: 'conversation', id: 'conv_1' }],
    ['POST', '/v1/conversations/conv_1/items', { kind: 'conversation', id: 'conv_1' }],
    ['DELETE', '/v1/conversations/conv_1/items/msg_2', { kind: 'conversation', id: 'conv_1' }],
    ['GET', '/v1/responses/resp_1', { kind: 'response', id: 'resp_1' }],
    ['GET', '/v1/responses/resp_1/', { kind: 'response', id: 'resp_1' }],
    ['POST', '/v1/responses/resp_1/cancel', { kind: 'response', id: 'resp_1' }],
    ['GET', '/responses/resp_1/input_items', { kind: 'response', id: 'resp_1' }],
  ] as const)('%s %s', (method, path, expected) => {
    expect(call(method, path)).toMatchObject(expected);
  });

  it.each([
    ['GET', '/v1/conversations'],
    ['OPTIONS', '/v1/responses/resp_1'],
    ['PUT', '/v1/conversations/conv_1'],
    ['POST', '/v1/responses/compact'],
    ['POST', '/v1/responses/input_tokens'],
    ['GET', '/v1/conversations/conv%5F1'],
    ['GET', '/v1/conversations//conv_1'],
    ['GET', '/v1/responses/resp_1/../../conversations/conv_9'],
    ['GET', '/v1/responses/./resp_1'],
    ['GET', '/v1/models'],
  ] as const)('%s %s is not one', (method, path) => {
    expect(call(method, path)).toBeUndefined();
  });
});
