import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { messageTimeoutFloor } from './message-timeout.js';
import { configSchema, type Config } from './schema.js';
import { poolTenancies } from './tenancy.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describePath(path: ReadonlyArray<PropertyKey>): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? String(part) : `.${String(part)}`;
  }
  return text === '' ? '(top level)' : text;
}

/** Cross-field rules zod cannot express per field. */
function checkConsistency(config: Config): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const clusters = new Map<string, string>();
  config.accounts.forEach((account, index) => {
    if (names.has(account.name)) problems.push(`accounts[${index}].name: duplicate account name "${account.name}"`);
    names.add(account.name);
    const owner = clusters.get(account.cluster);
    if (owner !== undefined) problems.push(`accounts[${index}].cluster: cluster "${account.cluster}" is already used by account "${owner}"`);
    clusters.set(account.cluster, account.name);
  });
  if (config.pools && config.pools.length > 0 && !config.routing.poolHeader && !config.pools.some((pool) => pool.name === 'default')) {
    problems.push('pools: without routing.poolHeader every request uses the pool named "default", and none is configured');
  }
  if (config.store.kind === 'redis') {
    const store = config.store;
    const topologies = [store.url, store.nodes, store.sentinels].filter((entry) => entry !== undefined).length;
    if (topologies !== 1) problems.push('store: a Redis store needs exactly one of url (standalone), nodes (Cluster) or sentinels (with name)');
    if (store.sentinels && !store.name) problems.push('store.name: Sentinel needs the name of the monitored master');
    if (!store.hmacSecret) {
      problems.push('store.hmacSecret: a Redis store needs a secret shared by all replicas ({ env: NAME } or { file: PATH }); keys are HMAC digests under it, so no session id reaches Redis');
    }
  }
  const floor = messageTimeoutFloor(config);
  if (config.envoy.messageTimeout !== undefined && config.envoy.messageTimeout < floor) {
    problems.push(`envoy.messageTimeout: ${config.envoy.messageTimeout}ms is shorter than ${floor}ms (the store's deadline for each of a message's store calls, plus processing): Envoy would answer 504 first`);
  }
  config.pools?.forEach((pool, index) => {
    pool.accounts.forEach((name, accountIndex) => {
      if (!names.has(name)) problems.push(`pools[${index}].accounts[${accountIndex}]: unknown account "${name}"`);
    });
  });
  if (problems.length === 0 && !config.responses.learnResponseIds) {
    for (const [name, tenancy] of poolTenancies(config, 'default')) {
      if (tenancy.unknownStoredReferences === 'refuse') {
        problems.push(
          `pool "${name}": unknownStoredReferences is refuse${tenancy.injectsCredentials ? ' (the default where credentials are injected)' : ''}, but responses.learnResponseIds is false, so every stored reference would be unknown; turn learning on or set tenancy.unknownStoredReferences: place`,
        );
      }
    }
  }
  if (config.grpc.tls && config.grpc.socket) problems.push('grpc: tls and socket exclude each other (a Unix socket is reached only through the shared volume)');
  return problems;
}

export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const problems: string[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${describePath([...issue.path, key])}: unknown key`);
      } else {
        problems.push(`${describePath(issue.path)}: ${issue.message}`);
      }
    }
    throw new ConfigError(problems);
  }
  const problems = checkConsistency(result.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data;
}

export function parseConfigText(text: string): Config {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError([`YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  return parseConfig(document);
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`]);
  }
  return parseConfigText(text);
}
