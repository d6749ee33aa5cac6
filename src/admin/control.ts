import type { AccountStatus } from '../accounts/account-status.js';
import { accountStatuses } from '../accounts/account-status.js';
import type { OperatorControl } from '../accounts/operator-state.js';
import { bindingKey, type BindingKey, type StoredBinding } from '../bindings/binding.js';
import { explainRequest, type ExplainRequest, type Explanation } from '../explain/explain.js';
import type { ProcessorContext } from '../processor/context.js';
import { requestScope } from '../processor/scope.js';

/** The longest cooldown an operator may set: no upstream names a longer wait. */
export const LONGEST_OPERATOR_COOLDOWN_SECONDS = 8 * 24 * 3600;

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/** Who a session belongs to, the way a request names it (hashed before any lookup). */
export interface SessionReference {
  readonly session: string;
  /** The pool (the pool header's value); the default pool otherwise. */
  readonly pool?: string;
  /** The principal header's value, when the processor is configured with one. */
  readonly principal?: string;
  /** The client's Authorization header, when the principal is its credential. */
  readonly authorization?: string;
}

export interface SessionAnswer {
  readonly found: boolean;
  readonly kind: 'session';
  readonly account?: string;
  readonly domain?: string;
  readonly strength?: string;
  readonly ageSeconds?: number;
  readonly lastSeenSeconds?: number;
}

export type AccountAnswer = AccountStatus & { readonly sessionBindings: { soft: number; hard: number } | null };

/**
 * What the admin API does, on the context in force: reads account state, drains and
 * undrains, cools down and resets accounts, looks up and flushes session bindings,
 * explains a request. Every answer names accounts, pools and numbers, never a
 * client value.
 */
export class AdminControl {
  constructor(
    private readonly current: () => ProcessorContext,
    private readonly operatorState: OperatorControl,
    private readonly sessionBindingsByAccount: (() => Map<string, { soft: number; hard: number }>) | undefined,
  ) {}

  private account(name: string): string {
    if (!this.current().directory.accounts.has(name)) throw new AdminError(404, 'account_not_found', `No account named "${name}" is configured.`);
    return name;
  }

  accounts(): { accounts: AccountAnswer[] } {
    const context = this.current();
    const now = context.clock();
    const counts = this.sessionBindingsByAccount?.();
    const statuses = accountStatuses(context.directory, (account) => context.accountState.view(account, now), (account) => this.operatorState.isDrained(account), context.accountState.healthPolicy, now);
    return { accounts: statuses.map((status) => ({ ...status, sessionBindings: counts ? (counts.get(status.account) ?? { soft: 0, hard: 0 }) : null })) };
  }

  drain(name: string): { account: string; drained: true; changed: boolean } {
    const changed = this.operatorState.drain(this.account(name));
    this.log('drain', name);
    return { account: name, drained: true, changed };
  }

  undrain(name: string): { account: string; drained: false; changed: boolean } {
    const changed = this.operatorState.undrain(this.account(name));
    this.log('undrain', name);
    return { account: name, drained: false, changed };
  }

  coolDown(name: string, seconds: unknown): { account: string; cooldownSecondsLeft: number } {
    this.account(name);
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0 || seconds > LONGEST_OPERATOR_COOLDOWN_SECONDS) {
      throw new AdminError(400, 'invalid_seconds', `seconds: a number of seconds above 0 and at most ${LONGEST_OPERATOR_COOLDOWN_SECONDS}.`);
    }
    const context = this.current();
    const now = context.clock();
    // Never shortens a longer cooldown the upstream asked for: reset first to end it.
    const until = context.accountState.coolDown(name, now + Math.round(seconds * 1000));
    this.log('cooldown', name);
    return { account: name, cooldownSecondsLeft: Math.max(0, (until - now) / 1000) };
  }

  reset(name: string): { account: string; reset: true } {
    this.current().accountState.reset(this.account(name));
    this.log('reset', name);
    return { account: name, reset: true };
  }

  flushAccount(name: string): { account: string; flushed: 'soft session bindings' } {
    // Balancing reads the same marks (one mechanism: accounts/operator-state.ts).
    const context = this.current();
    context.balance.flushAccount(this.account(name), context.clock());
    this.log('flush_account', name);
    return { account: name, flushed: 'soft session bindings' };
  }

  flushPool(name: string): { pool: string; flushed: 'soft session bindings' } {
    const context = this.current();
    if (!context.directory.pools.has(name)) throw new AdminError(404, 'pool_not_found', `No pool named "${name}" is configured.`);
    context.balance.flushPool(name, context.clock());
    this.log('flush_pool', name);
    return { pool: name, flushed: 'soft session bindings' };
  }

  private sessionKey(reference: unknown): { key: BindingKey; pool: string } {
    const given = (reference ?? {}) as Record<string, unknown>;
    if (typeof given.session !== 'string' || given.session.trim() === '') throw new AdminError(400, 'invalid_session', 'session: the session id, a non-empty string.');
    for (const field of ['pool', 'principal', 'authorization'] as const) {
      if (given[field] !== undefined && typeof given[field] !== 'string') throw new AdminError(400, `invalid_${field}`, `${field}: a string.`);
    }
    const context = this.current();
    const routing = context.config.routing;
    if (given.principal !== undefined && !routing.principalHeader) {
      throw new AdminError(400, 'no_principal_header', 'principal: the processor takes principals from client credentials (routing.principalHeader is not set); send authorization instead.');
    }
    // The principal and pool are derived exactly as for a request, so the key is the request's.
    const headers = new Map<string, string>();
    if (given.pool !== undefined && routing.poolHeader) headers.set(routing.poolHeader, given.pool as string);
    if (given.principal !== undefined) headers.set(routing.principalHeader!, given.principal as string);
    if (given.authorization !== undefined) headers.set('authorization', given.authorization as string);
    const scope = requestScope(headers, routing);
    if (given.pool !== undefined && scope.pool !== given.pool) throw new AdminError(400, 'no_pool_header', 'pool: every request uses the default pool (routing.poolHeader is not set).');
    if (!context.directory.pools.has(scope.pool)) throw new AdminError(404, 'pool_not_found', 'No such pool is configured.');
    return { key: bindingKey(scope, 'session', (given.session as string).trim()), pool: scope.pool };
  }

  private describe(binding: StoredBinding | undefined): SessionAnswer {
    if (!binding) return { found: false, kind: 'session' };
    const now = this.current().clock();
    return {
      found: true,
      kind: 'session',
      account: binding.account,
      domain: binding.domain,
      strength: binding.strength,
      ageSeconds: Math.max(0, Math.round((now - binding.createdAt) / 1000)),
      lastSeenSeconds: Math.max(0, Math.round((now - binding.lastSeenAt) / 1000)),
    };
  }

  async lookupSession(reference: unknown): Promise<SessionAnswer> {
    const { key, pool } = this.sessionKey(reference);
    const [binding] = await this.current().store.read([key]);
    const flushed = binding !== undefined && this.operatorState.isFlushed(binding, pool);
    return this.describe(flushed ? undefined : binding);
  }

  /** Forgets a soft session binding; a hard one stays (its state lives on that account). */
  async flushSession(reference: unknown): Promise<{ flushed: boolean; binding: SessionAnswer }> {
    const { key } = this.sessionKey(reference);
    const store = this.current().store;
    const [binding] = await store.read([key]);
    if (!binding) return { flushed: false, binding: this.describe(undefined) };
    if (binding.strength === 'hard') {
      throw new AdminError(409, 'hard_binding', 'The session is bound hard: its state (encrypted reasoning, stored objects) lives on that account, so it is not flushed.');
    }
    const flushed = await store.deleteIf(key, binding.version);
    this.log('flush_session', binding.account);
    return { flushed, binding: this.describe(binding) };
  }

  explain(request: unknown): Promise<Explanation> {
    const given = (request ?? {}) as Record<string, unknown>;
    if (given.headers === null || typeof given.headers !== 'object' || Array.isArray(given.headers)) {
      throw new AdminError(400, 'invalid_request', 'headers: an object of request headers (":path", "session-id", ...).');
    }
    return explainRequest(this.current(), given as unknown as ExplainRequest);
  }

  private log(action: string, account: string): void {
    const context = this.current();
    context.metrics.operatorActions.inc({ action });
    context.logger.warn({ action, target: account }, 'admin action');
  }
}
