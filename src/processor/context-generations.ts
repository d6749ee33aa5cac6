import type { OperatorControl } from '../accounts/operator-state.js';
import { reloadProblems } from '../config/reloadable.js';
import type { Config } from '../config/schema.js';
import { CredentialStore } from '../credentials/credentials.js';
import type { ProcessorContext } from './context.js';
import { createProcessorContext, type ContextEdges } from './create-context.js';

export type ReloadResult = { readonly applied: true; readonly generation: number } | { readonly applied: false; readonly problems: readonly string[] };

/**
 * The context new streams get, one generation per applied configuration. A stream
 * keeps the context it started with, so a reload drops none; the credentials of a
 * replaced generation are closed once the shutdown grace has passed.
 */
export class ContextGenerations {
  private context: ProcessorContext;
  private credentials: CredentialStore;
  private generation = 1;
  private readonly retired = new Set<CredentialStore>();

  /** `credentials`: the configuration's, read before anything else started (a bad one stops the start early). */
  constructor(
    config: Config,
    credentials: CredentialStore,
    private readonly edges: Omit<ContextEdges, 'credentials'>,
    private readonly shared: {
      /** The configured accounts, kept current: shared state about other names is ignored. */
      readonly configuredAccounts: Set<string>;
      readonly operatorState: OperatorControl;
    },
  ) {
    this.credentials = credentials;
    this.context = createProcessorContext(config, { ...edges, credentials: this.credentials });
    edges.metrics.configGeneration.set(this.generation);
  }

  get current(): ProcessorContext {
    return this.context;
  }

  /** Applies `next` to new streams, or refuses it whole (one error line) and keeps the one in force. */
  reload(next: Config): ReloadResult {
    const { metrics, logger } = this.edges;
    const refuse = (problems: string[]): ReloadResult => {
      metrics.configReloads.inc({ outcome: 'refused' });
      logger.error({ generation: this.generation, problems }, `config reload refused, generation ${this.generation} stays: ${problems.join('; ')}`);
      return { applied: false, problems };
    };
    const problems = reloadProblems(this.context.config, next);
    if (problems.length > 0) return refuse(problems);
    let credentials: CredentialStore;
    try {
      credentials = new CredentialStore(next, logger);
    } catch (error) {
      return refuse([(error as Error).message]);
    }
    const previous = this.credentials;
    this.retired.add(previous);
    setTimeout(() => {
      previous.close();
      this.retired.delete(previous);
    }, next.shutdown.grace).unref();
    this.credentials = credentials;
    this.context = createProcessorContext(next, { ...this.edges, credentials });
    const { configuredAccounts, operatorState } = this.shared;
    configuredAccounts.clear();
    for (const account of next.accounts) configuredAccounts.add(account.name);
    operatorState.retainAccounts(configuredAccounts);
    this.generation++;
    metrics.configGeneration.set(this.generation);
    metrics.configReloads.inc({ outcome: 'applied' });
    if (next.logging.level !== logger.level) logger.level = next.logging.level;
    logger.warn({ generation: this.generation, accounts: next.accounts.length }, `config reloaded: generation ${this.generation}`);
    return { applied: true, generation: this.generation };
  }

  close(): void {
    this.credentials.close();
    for (const retired of this.retired) retired.close();
    this.retired.clear();
  }
}
