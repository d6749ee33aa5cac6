// Sealing of encrypted_content: binds an item to the domain (organisation / workspace)
// that produced it. The real upstream returns opaque Fernet-like blobs ("gAAAA…"); the fake
// returns "gAAAAB" + base64url(JSON {d, n, i, k}) + "." + base64url(HMAC-SHA256(domainKey, payload)).
// Any account holding the same domain id and key can verify it; nobody else can.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'gAAAAB';

export interface SealMeta {
  /** Item id the content belongs to (rs_…, cmp_…). Informational: not enforced on verify. */
  itemId: string;
  /** 'reasoning' | 'compaction' */
  kind: string;
}

export interface SealedClaims {
  d: string;
  n: string;
  i: string;
  k: string;
}

/** A stable default key per domain id, so tests only need to name domains. */
export function defaultDomainKey(domain: string): string {
  return createHash('sha256').update(`fake-upstream-domain-key:${domain}`).digest('hex');
}

export function seal(domain: string, domainKey: string, meta: SealMeta): string {
  const claims: SealedClaims = { d: domain, n: randomBytes(12).toString('base64url'), i: meta.itemId, k: meta.kind };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const mac = createHmac('sha256', domainKey).update(payload).digest('base64url');
  return `${PREFIX}${payload}.${mac}`;
}

export type VerifyResult = { ok: true; claims: SealedClaims } | { ok: false; reason: 'malformed' | 'bad_mac' | 'wrong_domain' };

export function verifySealed(token: string, domain: string, domainKey: string): VerifyResult {
  const parsed = splitToken(token);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const expected = createHmac('sha256', domainKey).update(parsed.payload).digest();
  const given = Buffer.from(parsed.mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad_mac' };
  const claims = decodeClaims(parsed.payload);
  if (!claims) return { ok: false, reason: 'malformed' };
  if (claims.d !== domain) return { ok: false, reason: 'wrong_domain' };
  return { ok: true, claims };
}

/** Reads the claimed domain WITHOUT verifying (for test diagnostics only). */
export function inspectSealed(token: string): SealedClaims | null {
  const parsed = splitToken(token);
  return parsed ? decodeClaims(parsed.payload) : null;
}

function splitToken(token: string): { payload: string; mac: string } | null {
  if (typeof token !== 'string' || !token.startsWith(PREFIX)) return null;
  const body = token.slice(PREFIX.length);
  const dot = body.indexOf('.');
  if (dot <= 0 || dot === body.length - 1) return null;
  return { payload: body.slice(0, dot), mac: body.slice(dot + 1) };
}

function decodeClaims(payload: string): SealedClaims | null {
  try {
    const v = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<SealedClaims>;
    if (typeof v.d !== 'string' || typeof v.n !== 'string') return null;
    return { d: v.d, n: v.n, i: String(v.i ?? ''), k: String(v.k ?? '') };
  } catch {
    return null;
  }
}
