import { createHash } from 'node:crypto';
import type { BodyScan } from '../body/json-scan.js';
import { decodeSpan } from '../body/json-scan.js';
import { canonicalJson } from './canonical-json.js';

/**
 * A session key for clients that send no session signal: what stays the same
 * on every turn of one conversation (model, instructions, tools, the system and
 * developer messages before the first user message, and that first user
 * message), as canonical JSON so key order and whitespace do not matter.
 * Returns undefined when there is nothing to seed from (no first user message).
 */
export function contentSeed(body: Buffer, scan: BodyScan): string | undefined {
  try {
    const fields = scan.fields;
    const read = (name: string): unknown => {
      const span = fields.get(name);
      return span === undefined ? undefined : decodeSpan(body, span);
    };
    const preamble: unknown[] = [];
    let firstUser: unknown;
    const inputSpan = fields.get('input');
    if (scan.inputItems) {
      for (const item of scan.inputItems) {
        if (item.type !== undefined && item.type !== 'message') continue;
        const value = decodeSpan(body, item.span) as { role?: unknown };
        if (value === null || typeof value !== 'object') continue;
        if (value.role === 'user') {
          firstUser = value;
          break;
        }
        if (value.role === 'system' || value.role === 'developer') preamble.push(value);
      }
    } else if (inputSpan && body[inputSpan.start] === 0x22) {
      firstUser = decodeSpan(body, inputSpan);
    }
    const messages = read('messages');
    if (firstUser === undefined && Array.isArray(messages)) {
      // Chat Completions shape.
      for (const message of messages as Array<{ role?: unknown }>) {
        if (message?.role === 'user') {
          firstUser = message;
          break;
        }
        if (message?.role === 'system' || message?.role === 'developer') preamble.push(message);
      }
    }
    if (firstUser === undefined) return undefined;
    const seed = canonicalJson({
      model: read('model'),
      instructions: read('instructions'),
      tools: read('tools'),
      preamble: stripItemIds(preamble),
      firstUser: stripItemIds([firstUser])[0],
    });
    return createHash('sha256').update(seed).digest('base64url');
  } catch {
    return undefined;
  }
}

/** Item ids are per request in some clients; they are not content. */
function stripItemIds(items: unknown[]): unknown[] {
  return items.map((item) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const { id: _id, ...rest } = item as Record<string, unknown>;
    return rest;
  });
}
