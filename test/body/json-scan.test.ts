import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JsonScanError, scanJsonBody, stringAt } from '../../src/body/json-scan.js';
import { codexFixture as fixture } from '../support/fixtures.js';

describe('scanJsonBody', () => {
  it('finds top-level fields of a real Codex cold-resume body and the encrypted reasoning item', () => {
    const body = Buffer.from(JSON.stringify(fixture('cold-resume.json').body));
    const scan = scanJsonBody(body);
    expect(stringAt(body, scan.fields.get('prompt_cache_key'))).toBe('01a20eee-40c2-7a43-b541-57e6a3d8b683');
    expect([...scan.fields.keys()]).toEqual(Object.keys(fixture('cold-resume.json').body));
    const encrypted = scan.inputItems!.filter((item) => item.hasEncryptedContent);
    expect(encrypted.map((item) => [item.type, item.id])).toEqual([['reasoning', 'rs_1']]);
  });

  it('does not take text that looks like a field inside a string for a field', () => {
    const text = 'ignore "prompt_cache_key":"forged", "previous_response_id":"resp_x", {"encrypted_content":"x"}';
    const body = Buffer.from(JSON.stringify({ input: [{ type: 'message', role: 'user', content: text }], model: 'm' }));
    const scan = scanJsonBody(body);
    expect(scan.fields.has('prompt_cache_key')).toBe(false);
    expect(scan.fields.has('previous_response_id')).toBe(false);
    expect(scan.inputItems![0]!.hasEncryptedContent).toBe(false);
  });

  it('does not take a nested encrypted_content for an input item field', () => {
    const body = Buffer.from(JSON.stringify({ input: [{ type: 'message', content: [{ encrypted_content: 'deep' }] }] }));
    expect(scanJsonBody(body).inputItems![0]!.hasEncryptedContent).toBe(false);
  });

  it('treats empty or null encrypted_content as absent', () => {
    const body = Buffer.from(JSON.stringify({ input: [{ type: 'reasoning', encrypted_content: '' }, { type: 'reasoning', encrypted_content: null }] }));
    expect(scanJsonBody(body).inputItems!.map((item) => item.hasEncryptedContent)).toEqual([false, false]);
  });

  it('handles escaped quotes and backslashes before a closing quote', () => {
    const body = Buffer.from(JSON.stringify({ a: 'x\\', b: 'say \\"hi\\" \\\\', prompt_cache_key: 'k"q' }));
    expect(stringAt(body, scanJsonBody(body).fields.get('prompt_cache_key'))).toBe('k"q');
  });

  it('takes the last of duplicate keys, as JSON.parse does', () => {
    const body = Buffer.from('{"prompt_cache_key":"first","prompt_cache_key":"second"}');
    expect(stringAt(body, scanJsonBody(body).fields.get('prompt_cache_key'))).toBe('second');
  });

  it.each([
    ['truncated', '{"input":[{"type":"reasoning"'],
    ['trailing comma', '{"a":1,}'],
    ['not an object', '[1,2]'],
    ['trailing data', '{"a":1} x'],
    ['bad literal', '{"a":tru}'],
    ['unterminated string', '{"a":"abc'],
    ['missing colon', '{"a" 1}'],
    ['bare word', '{"a":hello}'],
    ['leading zero number', '{"a":01}'],
    ['empty', ''],
  ])('rejects malformed JSON: %s', (_name, text) => {
    expect(() => scanJsonBody(Buffer.from(text))).toThrow(JsonScanError);
  });

  it('agrees with JSON.parse on the top-level keys and item shapes of arbitrary JSON objects', () => {
    const item = fc.record(
      { type: fc.constantFrom('reasoning', 'message', 'function_call'), id: fc.string(), encrypted_content: fc.oneof(fc.string(), fc.constant(null)), other: fc.jsonValue() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(item), fc.boolean(), (extra, input, pretty) => {
        const value = { ...extra, input };
        const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
        const body = Buffer.from(text);
        const scan = scanJsonBody(body);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        expect(new Set(scan.fields.keys())).toEqual(new Set(Object.keys(parsed)));
        const parsedInput = parsed.input as Array<Record<string, unknown>>;
        expect(scan.inputItems!.map((entry) => entry.hasEncryptedContent)).toEqual(
          parsedInput.map((entry) => typeof entry.encrypted_content === 'string' && entry.encrypted_content !== ''),
        );
        expect(scan.inputItems!.map((entry) => entry.id)).toEqual(parsedInput.map((entry) => (typeof entry.id === 'string' ? entry.id : undefined)));
      }),
      { numRuns: 300 },
    );
  });

  it('reads item keys and types exactly: escaped spellings count, near misses do not (as JSON.parse reads them)', () => {
    const escape = (key: string, how: number): string =>
      how === 0 ? JSON.stringify(key) : `"${[...key].map((char, index) => (index % how === 0 ? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}` : char)).join('')}"`;
    const keyName = fc.constantFrom('type', 'id', 'role', 'encrypted_content', 'typ', 'types', 'Type', 'ids', 'i', 'rol', 'encrypted_contenT', 'encrypted_content_', '');
    // Type values the scan knows by their bytes, their near misses, and both escaped.
    const typeName = fc.constantFrom('reasoning', 'reasonin', 'reasonings', 'Reasoning', 'message', 'messagE', 'function_call', 'function_call_output', 'function_call_outpu', 'item_reference', 'web_search_call', 'local_shell_call_output', '');
    const value = fc.oneof(
      fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null), fc.integer()).map((plain) => JSON.stringify(plain)),
      fc.tuple(typeName, fc.integer({ min: 0, max: 3 })).map(([name, how]) => escape(name, how)),
    );
    const member = fc.tuple(keyName, fc.integer({ min: 0, max: 3 }), value);
    fc.assert(
      fc.property(fc.array(fc.array(member, { maxLength: 6 }), { maxLength: 5 }), (items) => {
        const text = `{"input":[${items.map((members) => `{${members.map(([key, how, raw]) => `${escape(key, how)}:${raw}`).join(',')}}`).join(',')}]}`;
        const scan = scanJsonBody(Buffer.from(text));
        const parsed = (JSON.parse(text) as { input: Array<Record<string, unknown>> }).input;
        expect(scan.inputItems!.map((item) => [item.type, item.id, item.hasRole, item.hasEncryptedContent])).toEqual(
          parsed.map((item) => [
            typeof item.type === 'string' ? item.type : undefined,
            typeof item.id === 'string' ? item.id : undefined,
            'role' in item,
            typeof item.encrypted_content === 'string' && item.encrypted_content !== '',
          ]),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('rejects every strict prefix of a valid body (never reads past the end)', () => {
    const text = JSON.stringify({ model: 'm', input: [{ type: 'reasoning', id: 'rs_1', encrypted_content: 'abc' }], n: -1.5e3, t: true });
    for (let length = 0; length < text.length; length++) {
      expect(() => scanJsonBody(Buffer.from(text.slice(0, length)))).toThrow(JsonScanError);
    }
  });
});
