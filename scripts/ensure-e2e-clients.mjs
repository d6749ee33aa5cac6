// `npm test` runs the real-client tests too (Codex CLI, OpenAI SDK). Their packages live in
// test/e2e-clients so the main install stays small; install them on first use.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const folder = fileURLToPath(new URL('../test/e2e-clients/', import.meta.url));
const marker = new URL('../test/e2e-clients/node_modules/@openai/codex/package.json', import.meta.url);
const sdk = new URL('../test/e2e-clients/node_modules/openai/package.json', import.meta.url);
if (!existsSync(marker) || !existsSync(sdk)) {
  console.log('installing the real-client test packages (npm ci --prefix test/e2e-clients) ...');
  execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--prefix', folder, '--no-audit', '--no-fund'], { stdio: 'inherit' });
}
