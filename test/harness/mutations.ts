// Header mutation rules and header validation, following
//  - envoy/config/common/mutation_rules/v3/mutation_rules.proto and
//    source/extensions/filters/common/mutation_rules/mutation_rules.cc (Checker::check)
//  - source/extensions/filters/http/ext_proc/mutation_utils.cc (applyHeaderMutations,
//    applyBodyMutations) and shared/envoy-ext-proc.md points 8 and 10.
import type { Headers } from './headers.js';
import type { BodyMutation, HeaderMutation } from './proto.js';

export interface MutationRulesConfig {
  allow_all_routing?: boolean;
  allow_envoy?: boolean;
  disallow_system?: boolean;
  disallow_all?: boolean;
  disallow_is_error?: boolean;
  allow_expression?: string;
  disallow_expression?: string;
}
export type CheckOperation = 'SET' | 'APPEND' | 'REMOVE';
export type CheckResult = 'OK' | 'IGNORE' | 'FAIL';

// mutation_rules.cc: the "routing headers" (host, :authority, :method, :scheme).
const ROUTING_HEADERS = new Set(['host', ':authority', ':method', ':scheme']);
// RFC 7230 tchar; HeaderUtility::headerNameIsValid allows upper case for regular headers
// (HTTP/1 semantics) and uses HTTP/2 (lower-case) rules for pseudo-headers.
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PSEUDO = /^:[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export function headerNameIsValid(name: string): boolean {
  if (name.length === 0) return false;
  return name.startsWith(':') ? PSEUDO.test(name) : TCHAR.test(name);
}
/** HeaderUtility::headerValueIsValid: NUL, CR and LF are never valid in a header value. */
export function headerValueIsValid(value: string): boolean {
  return !/[\0\r\n]/.test(value);
}

export class MutationChecker {
  private readonly allowRe?: RegExp;
  private readonly disallowRe?: RegExp;
  constructor(private readonly rules: MutationRulesConfig = {}) {
    if (rules.allow_expression) this.allowRe = new RegExp(`^(?:${rules.allow_expression})$`);
    if (rules.disallow_expression) this.disallowRe = new RegExp(`^(?:${rules.disallow_expression})$`);
  }

  /** Rules in the order of shared/envoy-ext-proc.md point 10 (Envoy's Checker::check). */
  check(op: CheckOperation, rawName: string, value = ''): CheckResult {
    const name = rawName.toLowerCase();
    const denied: CheckResult = this.rules.disallow_is_error ? 'FAIL' : 'IGNORE';
    // Removing host or any pseudo-header is never allowed.
    if (op === 'REMOVE' && (name === 'host' || name.startsWith(':'))) return denied;
    // :status must stay a valid HTTP status (Checker rejects an invalid :status value).
    if (name === ':status' && op !== 'REMOVE') {
      const n = Number(value);
      if (!/^\d{3}$/.test(value) || n < 200 || n > 599) return 'FAIL';
    }
    if (this.disallowRe?.test(name)) return denied;
    if (this.allowRe?.test(name)) return 'OK';
    if (this.rules.disallow_all) return denied;
    if (!this.rules.allow_all_routing && ROUTING_HEADERS.has(name)) return denied;
    if (name.startsWith(':') && (op === 'APPEND' || this.rules.disallow_system)) return denied;
    if (!this.rules.allow_envoy && name.startsWith('x-envoy')) return denied;
    return 'OK';
  }
}

export type MutationOutcome = { ok: true } | { ok: false; message: string };

export interface MutationContext {
  checker: MutationChecker;
  /** counter: ext_proc stat rejected_header_mutations */
  onRejected: () => void;
  /** CONTINUE_AND_REPLACE may change :method (mutation_utils.cc handleCheckResult). */
  replacingMessage?: boolean;
  /** On request headers "host" is the :authority header. */
  isRequest?: boolean;
}

function bytesToLatin1(b: Buffer | Uint8Array | undefined): string {
  return b ? Buffer.from(b).toString('latin1') : '';
}

/**
 * mutation_utils.cc applyHeaderMutations: removals first, then sets. Only the `append`
 * BoolValue is honoured (default overwrite). The value is read from raw_value only, so a
 * mutation setting only `value` yields an empty header; setting both non-empty is an error.
 * An invalid name or value is always an error; a denied mutation is ignored and counted
 * unless disallow_is_error.
 */
export function applyHeaderMutation(mut: HeaderMutation | undefined, headers: Headers, ctx: MutationContext): MutationOutcome {
  if (!mut) return { ok: true };
  const mapName = (n: string) => (ctx.isRequest && n === 'host' ? ':authority' : n);
  for (const raw of mut.remove_headers ?? []) {
    if (!headerNameIsValid(raw)) {
      ctx.onRejected();
      return { ok: false, message: 'Invalid character in remove_headers mutation.' };
    }
    const name = raw.toLowerCase();
    const r = ctx.checker.check('REMOVE', name);
    if (r === 'OK') headers.remove(mapName(name));
    else {
      ctx.onRejected();
      if (r === 'FAIL') return { ok: false, message: `Invalid attempt to remove ${name}` };
    }
  }
  for (const sh of mut.set_headers ?? []) {
    const h = sh.header;
    if (!h) continue;
    const rawValue = bytesToLatin1(h.raw_value);
    if ((h.value ?? '') !== '' && rawValue !== '') {
      ctx.onRejected();
      return { ok: false, message: 'Only one of value or raw_value in the HeaderValue message should be set.' };
    }
    const key = h.key ?? '';
    if (!headerNameIsValid(key) || !headerValueIsValid(rawValue)) {
      ctx.onRejected();
      return { ok: false, message: 'Invalid character in set_headers mutation.' };
    }
    const name = key.toLowerCase();
    const append = sh.append?.value ?? false;
    const op: CheckOperation = append && headers.has(mapName(name)) ? 'APPEND' : 'SET';
    let r = ctx.checker.check(op, name, rawValue);
    if (ctx.replacingMessage && name === ':method') r = 'OK';
    if (r === 'OK') {
      if (append) headers.add(mapName(name), rawValue);
      else headers.set(mapName(name), rawValue);
    } else {
      ctx.onRejected();
      if (r === 'FAIL') return { ok: false, message: `Invalid attempt to modify ${name}` };
    }
  }
  return { ok: true };
}

/** mutation_utils.cc applyBodyMutations: `body` replaces, `clear_body: true` empties. */
export function applyBodyMutation(mut: BodyMutation | undefined, body: Buffer): Buffer {
  if (!mut) return body;
  const which = mut.mutation ?? (mut.body !== undefined ? 'body' : mut.clear_body !== undefined ? 'clear_body' : undefined);
  if (which === 'body') return Buffer.from(mut.body ?? Buffer.alloc(0));
  if (which === 'clear_body') return mut.clear_body ? Buffer.alloc(0) : body;
  return body;
}

/** True when a body mutation is present (has_body_mutation with a set oneof). */
export function hasBodyMutation(mut: BodyMutation | undefined): boolean {
  return !!mut && (mut.mutation !== undefined || mut.body !== undefined || mut.clear_body !== undefined);
}
