// Smaller defects found by probing main (issue "Security and fault behaviour"), each as
// the attack or mistake that exposed it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { SseInspector } from '../../src/responses/sse-inspector.js';
import { startServer } from '../../src/server.js';
import { createLogger } from '../../src/logging/logger.js';
import { codexRequest, metadataOf, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
let processor: TestProcessor | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await processor?.close();
  processor = undefined;
});

const directory = () => mkdtempSync(join(tmpdir(), 'codex-affinity-security-'));

describe('smaller defects', () => {
  it('a credential file with a second line (a comment) refuses to start, naming the file and not the secret', async () => {
    const file = join(directory(), 'key');
    writeFileSync(file, 'sk-live-secret-value\n# rotated 2026-11-01\n');
    const config = parseConfig({
      grpc: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      accounts: [{ name: 'a', cluster: 'c', credential: { apiKey: { file } } }],
    });
    const failure = await startServer(config, { logger: createLogger('silent') }).then(
      async (server) => {
        await server.stop(100);
        return undefined;
      },
      (error: Error) => error,
    );
    expect(failure?.message).toContain(file);
    expect(failure?.message).toMatch(/more than one line/);
    expect(failure?.message).not.toContain('sk-live-secret-value');
  });

  it('repeated request_headers on one stream leave no in-flight count behind', async () => {
    processor = await startTestProcessor();
    for (let index = 0; index < 20; index++) {
      const stream = new ScriptedStream(processor);
      const request = codexRequest({ session: `repeat-${index}`, turn: 1 });
      const first = await stream.requestHeaders(request.headers, true);
      await stream.requestHeaders(request.headers, true);
      await stream.end();
      expect(metadataOf(first).account).toBeDefined();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const account of ['acct-a', 'acct-b', 'acct-c']) expect(processor.server.context.accountState.view(account, processor.clock.now).inFlight).toBe(0);
  });

  it('at logging.level warn the promised listening line still appears', async () => {
    const config = join(directory(), 'config.yaml');
    writeFileSync(config, 'grpc: { host: 127.0.0.1, port: 0 }\nhttp: { host: 127.0.0.1, port: 0 }\nlogging: { level: warn }\naccounts:\n  - { name: a, cluster: c }\n');
    const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const deadline = Date.now() + 8000;
    while (!output.includes('listening') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(output).toContain('listening grpc=127.0.0.1:');
  });

  it('an SSE line that never ends is not held: reading stops at the bound and proves nothing', () => {
    const inspector = new SseInspector(1024 * 1024);
    const chunk = Buffer.from(`data: ${'x'.repeat(256 * 1024)}`);
    inspector.push(Buffer.from('event: response.created\n'));
    for (let index = 0; index < 8 && !inspector.finished; index++) inspector.push(chunk);
    expect([inspector.finished, inspector.abandoned, inspector.streamError]).toEqual([true, true, undefined]);
    expect(inspector.push(Buffer.from('\n\n'))).toEqual([]);
  });
});
