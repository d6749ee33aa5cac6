import { describe, expect, it } from 'vitest';
import { bindingKey, type Binding } from '../../src/bindings/binding.js';
import { GuardedStore } from '../../src/bindings/guarded-store.js';
import { createLogger } from '../../src/logging/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { faultyStore, memoryStore } from '../support/stores.js';

const bound = (account: string, strength: Binding['strength'] = 'soft'): Binding => ({ account, domain: `d-${account}`, strength, createdAt: 1, lastSeenAt: 1 });
const scope = { pool: 'default', principal: 'guarded' };

const counter = async (metrics: Metrics, name: string) => metrics.registry.getSingleMetricAsString(name);

describe('a store behind a deadline', () => {
  it('a hanging store answers "nothing known" at the deadline, and the state is logged once each way', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) } as never);
    const metrics = new Metrics();
    const backend = memoryStore();
    const { store, state } = faultyStore(backend);
    const guarded = new GuardedStore(store, { deadline: 30, metrics, logger, probeIntervalMilliseconds: 0 });
    const key = bindingKey(scope, 'session', 's1');
    await guarded.create(key, bound('x'));
    state.mode = 'hang';
    const started = Date.now();
    expect(await guarded.read([key])).toEqual([undefined]);
    expect(Date.now() - started).toBeLessThan(500);
    expect(await guarded.read([key])).toEqual([undefined]);
    expect(guarded.isDegraded).toBe(true);
    state.mode = 'up';
    expect((await guarded.read([key]))[0]?.account).toBe('x');
    expect(guarded.isDegraded).toBe(false);
    expect(lines.filter((line) => line.includes('binding store degraded'))).toHaveLength(1);
    expect(lines.filter((line) => line.includes('binding store recovered'))).toHaveLength(1);
    expect(await counter(metrics, 'codex_affinity_store_errors_total')).toMatch(/operation="read",reason="deadline"} 2/);
  });

  it('what was decided while degraded is never written, and what the store holds wins once it answers (counted)', async () => {
    const metrics = new Metrics();
    const backend = memoryStore();
    const { store, state } = faultyStore(backend);
    const guarded = new GuardedStore(store, { deadline: 200, metrics, logger: createLogger('silent'), probeIntervalMilliseconds: 0 });
    const held = bindingKey(scope, 'session', 'held-elsewhere');
    const same = bindingKey(scope, 'session', 'held-here');
    const fresh = bindingKey(scope, 'session', 'new-during-outage');
    await backend.create(held, bound('y', 'hard'));
    await backend.create(same, bound('x', 'hard'));
    state.mode = 'down';
    for (const key of [held, same, fresh]) {
      expect((await guarded.read([key]))[0]).toBeUndefined();
      expect((await guarded.create(key, bound('x'))).created).toBe(true);
    }
    state.mode = 'up';
    expect((await backend.read([fresh]))[0]).toBeUndefined(); // nothing written while degraded
    const [heldNow, sameNow, freshNow] = await guarded.read([held, same, fresh]);
    expect([heldNow?.account, heldNow?.strength, sameNow?.account, freshNow]).toEqual(['y', 'hard', 'x', undefined]);
    const text = await counter(metrics, 'codex_affinity_store_reconciliations_total');
    expect(text).toMatch(/outcome="store_won"} 1/);
    expect(text).toMatch(/outcome="agreed"} 1/);
    expect(text).toMatch(/outcome="store_had_none"} 1/);
  });

  it('while degraded, calls fail at once until the next probe: a phase costs one deadline, not one per call', async () => {
    const metrics = new Metrics();
    const { store, state } = faultyStore(memoryStore());
    const guarded = new GuardedStore(store, { deadline: 100, metrics, logger: createLogger('silent'), probeIntervalMilliseconds: 2000 });
    const key = bindingKey(scope, 'session', 'probe');
    state.mode = 'hang';
    const started = Date.now();
    for (let call = 0; call < 5; call++) await guarded.read([key]);
    await guarded.learn([{ key: bindingKey(scope, 'encrypted_item', 'rs_1'), binding: bound('x', 'hard') }]);
    // One deadline (100 ms), not six (600 ms).
    expect(Date.now() - started).toBeLessThan(350);
    expect(await counter(metrics, 'codex_affinity_store_errors_total')).toMatch(/reason="skipped_while_degraded"} 4/);
    state.mode = 'up';
    await new Promise((resolve) => setTimeout(resolve, 2050));
    await guarded.read([key]);
    expect(guarded.isDegraded).toBe(false);
  });

  it('a store that flaps logs its state once per interval', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) } as never);
    const { store, state } = faultyStore(memoryStore());
    const guarded = new GuardedStore(store, { deadline: 50, metrics: new Metrics(), logger, probeIntervalMilliseconds: 0 });
    const key = bindingKey(scope, 'session', 'flap');
    for (let flip = 0; flip < 20; flip++) {
      state.mode = flip % 2 === 0 ? 'down' : 'up';
      await guarded.read([key]);
    }
    expect(lines.filter((line) => line.includes('binding store degraded'))).toHaveLength(1);
    expect(lines.filter((line) => line.includes('binding store recovered'))).toHaveLength(1);
  });
});
