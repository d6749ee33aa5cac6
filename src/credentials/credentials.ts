import type { Config } from '../config/schema.js';
import type { Logger } from '../logging/logger.js';
import { isValidHeaderValue } from '../extproc/headers.js';
import { SecretValue, describeSource, SecretUnavailableError, type SecretSourceConfig } from './secret-source.js';

import { CLIENT_CREDENTIAL_HEADERS } from './client-credentials.js';

interface AccountCredential {
  headers(): Array<readonly [string, string]>;
  close(): void;
}

export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

/** Per-account upstream credentials, loaded at start and refreshed when their files change. */
export class CredentialStore {
  private readonly byAccount = new Map<string, AccountCredential>();

  constructor(config: Pick<Config, 'accounts'>, logger: Logger, pollMilliseconds?: number) {
    try {
      for (const account of config.accounts) {
        const credential = account.credential;
        if (!credential) continue;
        const load = (source: SecretSourceConfig, what: string): SecretValue => {
          try {
            return new SecretValue(
              source,
              (ok) => (ok ? logger.info({ account: account.name, what }, 'credential reloaded') : logger.warn({ account: account.name, what }, 'credential re-read failed; keeping the previous one')),
              pollMilliseconds,
            );
          } catch (error) {
            if (error instanceof SecretUnavailableError) {
              const problem = error.where.endsWith('more than one line') ? error.where : `empty or unreadable ${describeSource(source)}`;
              throw new CredentialError(`accounts "${account.name}" credential ${what}: ${problem}`);
            }
            throw error;
          }
        };
        if ('apiKey' in credential) {
          const key = load(credential.apiKey, 'apiKey');
          this.byAccount.set(account.name, { headers: () => [['authorization', `Bearer ${key.current}`]], close: () => key.close() });
        } else {
          const token = load(credential.chatgpt.accessToken, 'chatgpt.accessToken');
          const accountId = load(credential.chatgpt.accountId, 'chatgpt.accountId');
          this.byAccount.set(account.name, {
            headers: () => [
              ['authorization', `Bearer ${token.current}`],
              ['chatgpt-account-id', accountId.current],
            ],
            close: () => {
              token.close();
              accountId.close();
            },
          });
        }
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  has(account: string): boolean {
    return this.byAccount.has(account);
  }

  /**
   * Header changes for a request going to `account`: the account's credential
   * replaces the client's; nothing when the account has none configured.
   */
  headersFor(account: string, clientHeaders: ReadonlyMap<string, string>): { set: Array<readonly [string, string]>; remove: string[] } {
    const credential = this.byAccount.get(account);
    if (!credential) return { set: [], remove: [] };
    const set = credential.headers().filter(([, value]) => isValidHeaderValue(value));
    const setNames = new Set(set.map(([name]) => name));
    const remove = CLIENT_CREDENTIAL_HEADERS.filter((name) => clientHeaders.has(name) && !setNames.has(name));
    return { set, remove };
  }

  close(): void {
    for (const credential of this.byAccount.values()) credential.close();
    this.byAccount.clear();
  }
}
