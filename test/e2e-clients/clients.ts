// Finds the real clients installed in test/e2e-clients/node_modules (own package.json, own lock).
// A missing client is an error with the install command, never a skipped test.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLIENTS_DIR = dirname(fileURLToPath(import.meta.url));
export const INSTALL_COMMAND = 'npm ci --prefix test/e2e-clients';

// Resolution starts at this folder, so test/e2e-clients/node_modules is found first.
const requireHere = createRequire(join(CLIENTS_DIR, 'package.json'));

function missing(what: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  return new Error(`${what} is not installed in test/e2e-clients/node_modules (${reason}). Install the real clients with: ${INSTALL_COMMAND}`);
}

/** Pinned versions, from test/e2e-clients/package.json. */
export function pinnedVersions(): { codex: string; openai: string } {
  const manifest = JSON.parse(readFileSync(join(CLIENTS_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return { codex: manifest.dependencies['@openai/codex']!, openai: manifest.dependencies.openai! };
}

const CODEX_PLATFORM_PACKAGES: Record<string, { pkg: string; triple: string }> = {
  'linux-x64': { pkg: '@openai/codex-linux-x64', triple: 'x86_64-unknown-linux-musl' },
  'linux-arm64': { pkg: '@openai/codex-linux-arm64', triple: 'aarch64-unknown-linux-musl' },
  'darwin-x64': { pkg: '@openai/codex-darwin-x64', triple: 'x86_64-apple-darwin' },
  'darwin-arm64': { pkg: '@openai/codex-darwin-arm64', triple: 'aarch64-apple-darwin' },
};

export interface CodexInstall {
  /** The native binary (what @openai/codex's bin/codex.js execs). */
  binary: string;
  version: string;
  /** The @openai/codex package folder (what its launcher passes as CODEX_MANAGED_PACKAGE_ROOT). */
  packageRoot: string;
}

/**
 * The Codex CLI binary, found as @openai/codex's own launcher finds it: the platform package
 * (an optional dependency from the npm registry) holds vendor/<triple>/bin/codex.
 */
export function codexCli(): CodexInstall {
  let version: string;
  let packageRoot: string;
  try {
    const manifest = requireHere.resolve('@openai/codex/package.json');
    packageRoot = dirname(manifest);
    version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  } catch (error) {
    throw missing('Codex CLI (@openai/codex)', error);
  }
  const platform = CODEX_PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!platform) throw new Error(`Codex CLI has no binary package for ${process.platform}-${process.arch} in this test setup`);
  let binary: string;
  try {
    binary = join(dirname(requireHere.resolve(`${platform.pkg}/package.json`)), 'vendor', platform.triple, 'bin', 'codex');
  } catch (error) {
    throw missing(`Codex CLI's platform package ${platform.pkg} (optional dependency of @openai/codex)`, error);
  }
  if (!existsSync(binary)) throw missing(`Codex CLI binary ${binary}`, 'file not found');
  return { binary, version, packageRoot };
}

/** The parts of the OpenAI Node SDK the tests use (typed here so typechecking needs no install). */
export interface OpenAIError extends Error {
  status?: number;
  code?: string | null;
  error?: unknown;
}
export interface WithResponse<T> {
  data: T;
  response: Response;
}
export interface APIPromiseLike<T> extends Promise<T> {
  withResponse(): Promise<WithResponse<T>>;
}
export interface OpenAIClient {
  responses: {
    create(body: Record<string, unknown>, options?: Record<string, unknown>): APIPromiseLike<unknown>;
  };
}
export interface OpenAISdk {
  version: string;
  create(options: { baseURL: string; apiKey: string; maxRetries?: number; timeout?: number; fetch?: unknown }): OpenAIClient;
  isAPIError(error: unknown): error is OpenAIError;
}

/** The `openai` package, imported from test/e2e-clients/node_modules. */
export async function openaiSdk(): Promise<OpenAISdk> {
  let version: string;
  try {
    // The package exports no ./package.json; its main entry sits beside it.
    const entry = requireHere.resolve('openai');
    version = (JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8')) as { version: string }).version;
  } catch (error) {
    throw missing('OpenAI Node SDK (openai)', error);
  }
  // A non-literal specifier: resolved at run time from this folder, not by the typechecker.
  const specifier: string = 'openai';
  const mod = (await import(specifier)) as { default: new (options: Record<string, unknown>) => OpenAIClient; APIError: new (...args: never[]) => OpenAIError };
  return {
    version,
    create: (options) => new mod.default(options),
    isAPIError: (error): error is OpenAIError => error instanceof mod.APIError,
  };
}
