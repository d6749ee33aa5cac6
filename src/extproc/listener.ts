import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';

export class ListenerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenerError';
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Where the gRPC server binds: a Unix socket when configured, else host:port. */
export function grpcBindAddress(listener: Config['grpc']): string {
  return listener.socket !== undefined ? `unix:${listener.socket}` : `${hostForUrl(listener.host)}:${listener.port}`;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ListenerError(`grpc.tls.${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * Plain gRPC for loopback and sockets; TLS from files (a mounted Secret) when
 * configured, and with a client CA, mutual TLS: Envoy must present a
 * certificate that CA signed.
 */
export function grpcServerCredentials(listener: Config['grpc']): grpc.ServerCredentials {
  const tls = listener.tls;
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const keyPair = { private_key: readPem(tls.keyFile, 'keyFile'), cert_chain: readPem(tls.certFile, 'certFile') };
  const clientCa = tls.clientCaFile !== undefined ? readPem(tls.clientCaFile, 'clientCaFile') : null;
  return grpc.ServerCredentials.createSsl(clientCa, [keyPair], clientCa !== null);
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Why the listener is exposed, or undefined when it is not: every routed answer
 * carries the injected credential, so a plaintext port off loopback hands it to
 * whoever reaches the port.
 */
export function listenerExposure(listener: Config['grpc'], injectsCredentials: boolean): string | undefined {
  if (!injectsCredentials || listener.socket !== undefined || listener.tls !== undefined || LOOPBACK.test(listener.host)) return undefined;
  return `grpc.host ${listener.host} is not loopback and grpc.tls is not set: the answers on this port carry the accounts' credentials; restrict it (NetworkPolicy) or set grpc.tls with clientCaFile`;
}
