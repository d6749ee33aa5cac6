import type * as grpc from '@grpc/grpc-js';
import type { Http2Server, Http2Session, Http2SecureServer } from 'node:http2';

/**
 * How much request data Envoy may send on one ext_proc connection before the
 * processor acknowledges it (HTTP/2 flow control). Node's default is 64 KiB per
 * stream and per connection, so a 1 MB body needs sixteen round trips, each
 * waiting for the event loop; under load that made a 1 MB body's p99 hundreds of
 * milliseconds on a server that does nothing (`npm run bench`, soak).
 */
export interface ReceiveWindows {
  /** SETTINGS_INITIAL_WINDOW_SIZE: what one stream (one HTTP request) may have in flight. */
  readonly streamBytes: number;
  /** The connection's window, shared by every stream on it. */
  readonly connectionBytes: number;
}

type HttpServer = Http2Server | Http2SecureServer;
type ServerWithFactory = { createHttp2Server?: (this: unknown, credentials: unknown) => HttpServer };

/**
 * Widens the receive windows of every HTTP/2 session the gRPC server accepts. Call
 * before `bindAsync`. grpc-js has no server option for this, so the server's
 * factory of HTTP/2 servers (a method of grpc-js's Server, here 1.14) is wrapped
 * to announce the windows on each new session. Returns false when that method is
 * not there (another grpc-js), and the windows stay Node's defaults;
 * test/extproc/receive-window.test.ts fails then, so an upgrade cannot lose them
 * unnoticed.
 */
export function widenReceiveWindows(server: grpc.Server, windows: ReceiveWindows): boolean {
  const target = server as unknown as ServerWithFactory;
  const create = target.createHttp2Server;
  if (typeof create !== 'function') return false;
  target.createHttp2Server = function (this: unknown, credentials: unknown): HttpServer {
    const http2Server = create.call(this, credentials);
    (http2Server as Http2Server).on('session', (session: Http2Session) => announce(session, windows));
    return http2Server;
  };
  return true;
}

function announce(session: Http2Session, windows: ReceiveWindows): void {
  try {
    session.settings({ initialWindowSize: windows.streamBytes });
    session.setLocalWindowSize(windows.connectionBytes);
  } catch {
    // A session that closed at once: nothing to widen.
  }
}
