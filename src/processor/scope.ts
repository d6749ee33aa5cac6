import { createHash } from 'node:crypto';
import { DEFAULT_POOL } from '../accounts/account.js';
import type { BindingScope } from '../bindings/binding.js';

/** The principal of a request that names none (no principal header, no client credential). */
export const ANONYMOUS_PRINCIPAL = 'anonymous';

const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key'] as const;

/**
 * Pool and principal of a request. The principal is the configured header (set
 * by Envoy's authn) or a hash of the client's credential, so one client can
 * never read, steer or evict another's bindings.
 */
export function requestScope(
  headers: ReadonlyMap<string, string>,
  options: { poolHeader?: string | undefined; principalHeader?: string | undefined },
): BindingScope {
  const pool = (options.poolHeader && headers.get(options.poolHeader)?.trim()) || DEFAULT_POOL;
  if (options.principalHeader) {
    const principal = headers.get(options.principalHeader)?.trim();
    if (principal) return { pool, principal: `header:${principal}` };
  }
  for (const name of CREDENTIAL_HEADERS) {
    const credential = headers.get(name);
    if (credential) return { pool, principal: `credential:${createHash('sha256').update(credential).digest('base64url').slice(0, 24)}` };
  }
  return { pool, principal: ANONYMOUS_PRINCIPAL };
}
