import type { BodyScan } from '../body/json-scan.js';
import { stringAt } from '../body/json-scan.js';
import { editMembers, type MemberEdits } from '../body/edit-members.js';
import { headerSafe } from './continuity.js';
import type { ProfileRules } from './profiles.js';

export interface RewriteInput {
  /** Path without the query string, and the query string (with its "?") if any. */
  readonly path: string;
  readonly query: string;
  readonly headers: ReadonlyMap<string, string>;
  /** The (decoded) JSON body, when there is one that scanned. */
  readonly body: { readonly buffer: Buffer; readonly scan: BodyScan } | undefined;
  readonly rules: ProfileRules;
  /** The session's continuity identity (see continuity.ts), if any. */
  readonly continuity: string | undefined;
  /** Upstream session headers to carry the continuity identity. */
  readonly sessionHeaders: readonly string[];
  /**
   * The request borrows a credential shared by tenants: the caller's own
   * identities (prompt_cache_key, session headers) are replaced by the
   * continuity identity, which is then namespaced by principal.
   */
  readonly isolate?: boolean;
}

/** Headers in which clients (Codex among them) send their session id. */
const SESSION_IDENTITY_HEADERS = ['session_id', 'session-id'] as const;

export interface RewriteResult {
  readonly setHeaders: ReadonlyArray<readonly [string, string]>;
  readonly removeHeaders: readonly string[];
  /** The new body, only when it changed. */
  readonly body: Buffer | undefined;
  /** What was applied, for metrics (names of fields and rules, never values). */
  readonly applied: readonly string[];
}

function isBlankString(buffer: Buffer, scan: BodyScan, field: string): boolean {
  const span = scan.fields.get(field);
  if (span === undefined) return true;
  const first = buffer[span.start];
  if (first === 0x6e /* null */) return true;
  if (first !== 0x22) return false;
  try {
    return (stringAt(buffer, span) ?? '').trim() === '';
  } catch {
    return false;
  }
}

/**
 * The request an account accepts, from the request a client sent: a pure
 * function of the request, the account's profile rules and the session's
 * continuity identity. The input is never modified; a body comes back only
 * when it changed.
 */
export function rewriteRequest(input: RewriteInput): RewriteResult {
  const setHeaders: Array<readonly [string, string]> = [];
  const applied: string[] = [];
  const { rules, body } = input;

  const mappedPath = rules.paths[input.path];
  if (mappedPath !== undefined && mappedPath !== input.path) {
    setHeaders.push([':path', `${mappedPath}${input.query}`]);
    applied.push('path');
  }

  const continuity = headerSafe(input.continuity);
  if (continuity !== undefined) {
    const sessionHeaders = input.isolate ? [...new Set([...input.sessionHeaders, ...SESSION_IDENTITY_HEADERS.filter((name) => input.headers.has(name))])] : input.sessionHeaders;
    for (const name of sessionHeaders) {
      if (input.headers.get(name) !== continuity) {
        setHeaders.push([name, continuity]);
        applied.push(`header:${name}`);
      }
    }
  }

  let newBody: Buffer | undefined;
  if (body) {
    const remove = new Set<string>();
    const set = new Map<string, string>();
    for (const field of rules.remove) {
      if (body.scan.fields.has(field)) {
        remove.add(field);
        applied.push(`remove:${field}`);
      }
    }
    // The compact endpoint answers one JSON document ({model, input, instructions} in,
    // {output} out); forcing stream/store there is not known to be accepted, so not done.
    const force = input.path.endsWith('/compact') ? {} : rules.force;
    for (const [field, value] of Object.entries(force)) {
      const json = JSON.stringify(value);
      const span = body.scan.fields.get(field);
      if (span === undefined || body.buffer.toString('utf8', span.start, span.end) !== json) {
        set.set(field, json);
        applied.push(`force:${field}`);
      }
    }
    if (rules.defaultInstructions !== undefined && isBlankString(body.buffer, body.scan, 'instructions')) {
      set.set('instructions', JSON.stringify(rules.defaultInstructions));
      applied.push('instructions');
    }
    if (input.continuity !== undefined) {
      const span = body.scan.fields.get('prompt_cache_key');
      const json = JSON.stringify(input.continuity);
      if (span === undefined || (input.isolate === true && body.buffer.toString('utf8', span.start, span.end) !== json)) {
        set.set('prompt_cache_key', json);
        applied.push('prompt_cache_key');
      }
    }
    const edits: MemberEdits = { remove, set };
    newBody = editMembers(body.buffer, body.scan, edits);
  }
  return { setHeaders, removeHeaders: [], body: newBody, applied };
}
