import type { Cluster, Redis } from 'ioredis';
import { quitOrDisconnect } from './client.js';

export interface SharedChannelOptions {
  /** Reads the kept state back (and publishes). */
  readonly client: Redis | Cluster;
  /** A second connection in subscriber mode. */
  readonly subscriber: Redis | Cluster;
  readonly channel: string;
  /** How often the kept state is read back, for replicas that missed a message. */
  readonly refreshMilliseconds: number;
  readonly receive: (text: string) => void;
  readonly refresh: () => Promise<void>;
  readonly warn: (operation: string, error: unknown) => void;
}

export interface SharedChannel {
  close(): Promise<void>;
}

/**
 * State replicas share through Redis: each change published on a channel, the
 * latest state kept beside it and read back on connect and every refresh
 * interval, so a replica that missed a message (or started later) catches up.
 */
export function openSharedChannel(options: SharedChannelOptions): SharedChannel {
  const { client, subscriber, channel } = options;
  subscriber.on('message', (from: string, text: string) => {
    if (from === channel) options.receive(text);
  });
  // Commands wait for no connection (no offline queue): subscribe once connected;
  // ioredis subscribes again by itself after a reconnect.
  const subscribe = () => void Promise.resolve(subscriber.subscribe(channel)).catch((error: unknown) => options.warn('subscribe', error));
  if (subscriber.status === 'ready') subscribe();
  else subscriber.once('ready', subscribe);
  client.on('ready', () => void options.refresh());
  const timer = setInterval(() => void options.refresh(), options.refreshMilliseconds);
  timer.unref();
  void options.refresh();
  return {
    async close() {
      clearInterval(timer);
      await Promise.all([quitOrDisconnect(subscriber), quitOrDisconnect(client)]);
    },
  };
}
