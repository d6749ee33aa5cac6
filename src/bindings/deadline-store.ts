import type { BindingStore } from './store.js';

export class StoreDeadlineError extends Error {
  constructor(operation: string, deadline: number) {
    super(`binding store: ${operation} took longer than ${deadline} ms`);
    this.name = 'StoreDeadlineError';
  }
}

/** The call's answer, or a StoreDeadlineError once `deadline` ms have passed without one. */
export async function withDeadline<T>(operation: string, deadline: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      call(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StoreDeadlineError(operation, deadline)), deadline);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A store whose every call fails after `deadline` ms: for stores that have no
 * deadline of their own (a store given by an embedder), so a hung store fails the
 * request closed instead of holding it until Envoy's message timeout.
 */
export function storeWithDeadline(inner: BindingStore, deadline: number): BindingStore {
  return {
    get isDegraded() {
      return inner.isDegraded;
    },
    read: (keys) => withDeadline('read', deadline, () => inner.read(keys)),
    create: (key, binding) => withDeadline('create', deadline, () => inner.create(key, binding)),
    compareAndSet: (key, version, binding) => withDeadline('compareAndSet', deadline, () => inner.compareAndSet(key, version, binding)),
    learn: (bindings) => withDeadline('learn', deadline, () => inner.learn(bindings)),
    deleteIf: (key, version) => withDeadline('deleteIf', deadline, () => inner.deleteIf(key, version)),
    readExclusion: (key) => withDeadline('readExclusion', deadline, () => inner.readExclusion(key)),
    exclude: (key, entry) => withDeadline('exclude', deadline, () => inner.exclude(key, entry)),
    close: () => inner.close(),
  };
}
