import { LRUCache } from 'lru-cache';
import { sha256Base64url } from '../hashing/sha256.js';
import { CLIENT_KEY_HEADERS } from '../credentials/client-credentials.js';
import { DEFAULT_POOL } from '../accounts/account.js';
import type { BindingScope } from '../bindings/binding.js';

/** The principal of a request that names none (no principal header, no client credential). */
export const ANONYMOUS_PRINCIPAL = 'anonymous';


/**
 * Principals of the credentials seen lately: a client sends the same one on every
 * request. Held in this process's memory only, as the credentials themselves are
 * while a request is processed; never logged, exported or stored.
 */
const credentialPrincipals = new LRUCache<string, string>({ max: 4096 });

function credentialPrincipal(credential: string): string {
  let principal = credentialPrincipals.get(credential);
  if (principal === undefined) {
    principal = `credential:${sha256Base64url(credential).slice(0, 24)}`;
    credentialPrincipals.set(credential, principal);
  }
  return principal;
}

/**
 * Pool and principal of a request. The principal is the configured header (set
 * by Envoy's authn; when it is configured and absent, the request is anonymous)
 * or else a hash of the client's credential, so one client can never read,
 * steer or evict another's bindings.
 */
export function requestScope(
  headers: ReadonlyMap<string, string>,
  options: { poolHeader?: string | undefined; principalHeader?: string | undefined },
): BindingScope {
  const pool = (options.poolHeader && headers.get(options.poolHeader)?.trim()) || DEFAULT_POOL;
  if (options.principalHeader) {
    // Where authn names the caller, nothing else does: a made-up bearer token is no identity.
    const principal = headers.get(options.principalHeader)?.trim();
    return { pool, principal: principal ? `header:${principal}` : ANONYMOUS_PRINCIPAL };
  }
  for (const name of CLIENT_KEY_HEADERS) {
    const credential = headers.get(name);
    if (credential) return { pool, principal: credentialPrincipal(credential) };
  }
  return { pool, principal: ANONYMOUS_PRINCIPAL };
}
