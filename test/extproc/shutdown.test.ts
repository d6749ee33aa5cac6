import { describe, expect, it } from 'vitest';
import { metadataOf, routedCluster, ScriptedStream, startTestProcessor } from '../support/processor.js';

describe('graceful shutdown', () => {
  it('lets an open stream finish after stop() begins, refuses new ones, and reports not ready', async () => {
    const processor = await startTestProcessor();
    const open = new ScriptedStream(processor);
    await open.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'session-id': 'draining' });
    const stopping = processor.server.stop(5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await fetch(`http://127.0.0.1:${processor.server.httpPort}/readyz`).catch(() => undefined))?.status ?? 503).toBe(503);
    const answer = await open.requestBody({ model: 'm', input: 'still served' });
    expect(routedCluster(answer)).toMatch(/^cluster-/);
    expect(metadataOf(answer).outcome).toBe('new');
    await open.end();
    await stopping;
    processor.client.close();
  });

  it('bounds the drain: a stream that never ends is cut after the grace period', async () => {
    const processor = await startTestProcessor();
    const open = new ScriptedStream(processor);
    await open.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'session-id': 'stuck' });
    const started = Date.now();
    await processor.server.stop(300);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await open.ended).code).not.toBe(0);
    processor.client.close();
  });
});
