// Dockerfile and .dockerignore: linted and validated by dockerfile-utils (no Docker engine runs
// here), then checked for what the issue asks: multi-stage, `npm ci --omit=dev`, a current
// Node LTS within package.json's engines, non-root, no shell at run time, and a build context
// that holds what the build copies and nothing secret.
import fs from 'node:fs';
import path from 'node:path';
import { ValidationSeverity, validate, type ValidatorSettings } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { REPO } from './kube-tools.js';

const DOCKERFILE = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
const IGNORE = fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8');
/** Every rule dockerfile-utils has, as an error. */
const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

/** Instructions with their arguments, continuation lines joined, comments dropped. */
const INSTRUCTIONS = DOCKERFILE.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
  .map((line) => { const [keyword, ...rest] = line.split(/\s+/); return { keyword: keyword!.toUpperCase(), args: rest.join(' ') }; });
const stages = (): Array<Array<{ keyword: string; args: string }>> => {
  const result: Array<Array<{ keyword: string; args: string }>> = [];
  for (const instruction of INSTRUCTIONS) {
    if (instruction.keyword === 'FROM') result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
};
const nodeMajor = Number(/^ARG NODE_MAJOR=(\d+)$/m.exec(DOCKERFILE)?.[1]);

/** .dockerignore's verdict for a path, the way Docker reads it: the last matching pattern wins. */
function ignored(file: string): boolean {
  let verdict = false;
  for (const raw of IGNORE.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/\/$/, '');
    const regex = new RegExp(`^${pattern.split('**/').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')).join('(?:.*/)?')}(?:/.*)?$`);
    if (regex.test(file)) verdict = !negate;
  }
  return verdict;
}

describe('Dockerfile', () => {
  it('passes dockerfile-utils with every rule as an error', () => {
    expect(validate(DOCKERFILE, STRICT)).toEqual([]);
  });

  it('the linter catches a misspelt instruction, a relative WORKDIR and a second CMD', () => {
    const broken = DOCKERFILE.replace('WORKDIR /app', 'WORKDIR app').replace('EXPOSE', 'EXPOZE') + 'CMD ["again"]\n';
    const messages = validate(broken, STRICT).map((d) => (typeof d.message === "string" ? d.message : d.message.value));
    expect(messages.some((m) => /Unknown instruction: EXPOZE/i.test(m))).toBe(true);
    expect(messages.some((m) => /WORKDIR paths should be absolute/i.test(m))).toBe(true);
    expect(messages.some((m) => /only be one CMD instruction/i.test(m))).toBe(true);
  });

  it('three stages: build with the dev tools, runtime dependencies with npm ci --omit=dev, a distroless run stage', () => {
    const [build, dependencies, run] = stages();
    expect(stages()).toHaveLength(3);
    expect(build![0]!.args).toBe('node:${NODE_MAJOR}-bookworm-slim AS build');
    expect(dependencies!.map((i) => i.args)).toContain('npm ci --omit=dev --ignore-scripts --no-audit --no-fund');
    expect(run![0]!.args).toBe('gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot');
    expect(run!.filter((i) => i.keyword === 'COPY' && i.args.includes('--from=')).map((i) => i.args)).toEqual([
      '--from=dependencies /app/node_modules ./node_modules', '--from=build /app/dist/src ./dist/src']);
  });

  it('a current Node.js LTS that package.json\'s engines allow', () => {
    expect(nodeMajor % 2).toBe(0); // LTS lines are even
    expect(nodeMajor).toBeGreaterThanOrEqual(24);
    const engines: string = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).engines.node;
    expect(engines).toBe('>=20.10 <25');
    expect(nodeMajor).toBeLessThan(25);
  });

  it('runs as a numeric non-root user, with no shell: exec-form entry point into the built CLI', () => {
    const run = stages()[2]!;
    expect(run.find((i) => i.keyword === 'USER')!.args).toBe('65532:65532');
    expect(run.some((i) => i.keyword === 'RUN')).toBe(false); // nothing to run in an image without a shell
    expect(JSON.parse(run.find((i) => i.keyword === 'ENTRYPOINT')!.args)).toEqual(['/nodejs/bin/node', '/app/dist/src/cli/main.js']);
    expect(JSON.parse(run.find((i) => i.keyword === 'CMD')!.args)).toEqual(['serve', '--config', '/etc/codex-affinity/config.yaml']);
    // The chart and the kustomize base pass the same arguments.
    const deployment = fs.readFileSync(path.join(REPO, 'deploy/kubernetes/deployment.yaml'), 'utf8');
    expect(deployment).toContain('args: [serve, --config, /etc/codex-affinity/config.yaml]');
    expect(fs.existsSync(path.join(REPO, 'src/cli/main.ts'))).toBe(true);
  });

  it('.dockerignore lets in exactly what the build copies, and keeps out secrets, local state and tests', () => {
    const copied = INSTRUCTIONS.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from=')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect([...new Set(copied)].sort()).toEqual(['package-lock.json', 'package.json', 'proto', 'src', 'tsconfig.json']);
    for (const file of copied) {
      expect(fs.existsSync(path.join(REPO, file)), file).toBe(true);
      expect(ignored(file), file).toBe(false);
    }
    expect(ignored('src/cli/main.ts')).toBe(false);
    expect(ignored('proto/envoy/service/ext_proc/v3/external_processor.proto')).toBe(false);
    for (const file of ['node_modules/x/index.js', 'dist/src/cli/main.js', '.git/config', 'test/deploy/x.ts', '.env', 'src/.env.local', 'src/secret.key', 'deploy/tls.pem', 'charts/codex-affinity/values.yaml']) {
      expect(ignored(file), file).toBe(true);
    }
  });
});
