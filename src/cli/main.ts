#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ENVOY_CONFIG_USAGE, envoyConfigText } from '../envoy/command.js';
import { EnvoyConfigError } from '../envoy/timeouts.js';
import { createLogger } from '../logging/logger.js';
import { startServer, type RunningServer } from '../server.js';
import { watchConfigFile } from '../config/watch.js';
import { ADMIN_USAGE, adminBaseUrl, adminCall, adminToken, runAdminCall } from './admin-command.js';
import { explainOffline, parseExplainInput } from './explain-command.js';

const USAGE = `usage:
  codex-affinity serve --config FILE [--grpc-port N] [--http-port N]
      reloads FILE when it changes (reload.watch) and on SIGHUP
  codex-affinity check --config FILE      validate a config file and exit
  ${ENVOY_CONFIG_USAGE}
  codex-affinity explain --config FILE < request.json
      what the processor would do with { "headers": {...}, "body": {...} }, and why
${ADMIN_USAGE}
  codex-affinity help`;

/** Exit code when the drain deadline cut open streams (turns lost): 0 is a clean drain, 1 an error, 2 a bad invocation or config. */
const EXIT_STREAMS_CUT = 3;

function fail(message: string, code = 2): never {
  process.stderr.write(`codex-affinity: ${message}\n`);
  process.exit(code);
}

function portOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65535) fail(`--${name} must be a port number (0-65535), got "${value}"`);
  return Number(value);
}

function readConfig(path: string | undefined): Config {
  if (!path) fail(`--config FILE is required\n${USAGE}`);
  try {
    return loadConfigFile(path);
  } catch (error) {
    if (error instanceof ConfigError) fail(`${path}: ${error.message}`);
    throw error;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function serve(values: { config?: string; 'grpc-port'?: string; 'http-port'?: string }): Promise<void> {
  const grpcPort = portOption(values['grpc-port'], 'grpc-port');
  const httpPort = portOption(values['http-port'], 'http-port');
  // Port options win over the file, at start and at every reload.
  const withOverrides = (loaded: Config): Config => ({
    ...loaded,
    grpc: { ...loaded.grpc, ...(grpcPort !== undefined ? { port: grpcPort } : {}) },
    http: { ...loaded.http, ...(httpPort !== undefined ? { port: httpPort } : {}) },
  });
  const config = withOverrides(readConfig(values.config));
  const logger = createLogger(config.logging.level);
  let server: RunningServer;
  try {
    server = await startServer(config, { logger, defaultMetrics: true });
  } catch (error) {
    fail(`cannot start: ${(error as Error).message}`, 1);
  }
  // The promised "listening" line appears at any level but silent: at info, or at the
  // configured level when that is higher.
  const listeningLevel = logger.isLevelEnabled('info') ? 'info' : config.logging.level === 'silent' ? undefined : config.logging.level;
  if (listeningLevel !== undefined) {
    logger[listeningLevel](
      { grpc: server.grpcAddress, http: server.httpAddress, accounts: config.accounts.length, store: config.store.kind },
      `listening grpc=${server.grpcAddress} http=${server.httpAddress}`,
    );
  }
  const reload = (): void => {
    let next: Config;
    try {
      next = withOverrides(loadConfigFile(values.config!));
    } catch (error) {
      server.context.metrics.configReloads.inc({ outcome: 'refused' });
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
      logger.error({ problems }, `config reload refused, the running config stays: ${problems.join('; ')}`);
      return;
    }
    server.reload(next);
  };
  if (config.reload.watch) watchConfigFile(values.config!, config.reload.pollInterval, reload);
  process.on('SIGHUP', reload);
  let signals = 0;
  const shutdown = (signal: string): void => {
    signals++;
    if (signals > 1) process.exit(1);
    logger.info({ signal, graceMs: config.shutdown.grace, envoyAdmin: config.shutdown.envoyAdmin }, 'draining: serving every stream until Envoy is done');
    server.drain().then(
      (outcome) => {
        if (outcome.step === 'deadline' && outcome.openStreams > 0) {
          logger.error({ cutStreams: outcome.openStreams, waitedMs: outcome.waitedMilliseconds }, `stopped at the deadline: ${outcome.openStreams} open streams cut`);
          process.exit(EXIT_STREAMS_CUT);
        }
        logger.info({ waitedMs: outcome.waitedMilliseconds }, 'stopped');
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'grpc-port': { type: 'string' },
        'http-port': { type: 'string' },
        url: { type: 'string' },
        'token-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        // envoy-config
        format: { type: 'string' },
        processor: { type: 'string' },
        gateway: { type: 'string' },
        namespace: { type: 'string' },
        selector: { type: 'string' },
        context: { type: 'string' },
        port: { type: 'string' },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n${USAGE}`);
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || command === 'help' || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(command === undefined && !parsed.values.help ? 2 : 0);
  }
  if (command === 'serve') return serve(parsed.values);
  if (command === 'check') {
    const config = readConfig(parsed.values.config);
    process.stdout.write(`ok: ${config.accounts.length} accounts, store ${config.store.kind}\n`);
    return;
  }
  if (command === 'envoy-config') {
    const path = parsed.values.config;
    const config = readConfig(path);
    try {
      process.stdout.write(envoyConfigText(config, path!, parsed.values));
    } catch (error) {
      if (error instanceof EnvoyConfigError) fail(`${path}: ${error.message}`);
      throw error;
    }
    return;
  }
  if (command === 'explain') {
    const config = readConfig(parsed.values.config);
    try {
      const explanation = await explainOffline(config, parseExplainInput(await readStdin()));
      process.stdout.write(`${JSON.stringify(explanation, null, 2)}\n`);
    } catch (error) {
      fail((error as Error).message);
    }
    return;
  }
  if (command === 'admin') {
    const [, action, ...parameters] = parsed.positionals;
    try {
      const config = parsed.values.config ? readConfig(parsed.values.config) : undefined;
      const call = adminCall(action, parameters);
      const answer = await runAdminCall(adminBaseUrl(parsed.values.url, config), adminToken(parsed.values['token-file'], config), call, readStdin);
      process.stdout.write(answer.text.endsWith('\n') ? answer.text : `${answer.text}\n`);
      process.exit(answer.status >= 200 && answer.status < 300 ? 0 : 1);
    } catch (error) {
      fail(`admin: ${(error as Error).message}\n${USAGE}`);
    }
  }
  fail(`unknown command "${command}"\n${USAGE}`);
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`codex-affinity: unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}\n`);
});

void main();
