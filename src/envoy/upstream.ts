import type { AccountConfig, Profile } from '../config/schema.js';

export interface Upstream {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

/** The public host each profile talks to. */
export const PROFILE_HOSTS: Record<Profile, string> = {
  openai: 'api.openai.com',
  'chatgpt-codex': 'chatgpt.com',
};

/** Where Envoy sends an account's requests: its own upstream, else its profile's host over TLS. */
export function upstreamOf(account: AccountConfig): Upstream {
  return account.upstream ?? { host: PROFILE_HOSTS[account.profile], port: 443, tls: true };
}
