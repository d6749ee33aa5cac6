import { createServer, type Server } from 'node:http';
import type { Metrics } from '../metrics/metrics.js';
import { serveAdmin, type AdminApi } from './admin-routes.js';

export interface AdminStatus {
  /** Ready to take traffic (gRPC listening, not draining). */
  ready(): boolean;
  /** Lines shown under the answer (e.g. the binding store's state); never a client value. */
  detail?(): string[];
}

/**
 * /metrics (Prometheus text), /healthz (process alive), /readyz (serving), and, only
 * when a bearer token is configured, the admin API under /admin/.
 */
export function createAdminServer(metrics: Metrics, status: AdminStatus, admin?: AdminApi): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    if (path === '/admin' || path.startsWith('/admin/')) {
      // Without a configured token the admin API does not exist.
      if (admin) void serveAdmin(request, response, path, admin);
      else response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end('metrics unavailable\n'),
      );
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ready = status.ready();
      const detail = status.detail?.() ?? [];
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end([ready ? 'ready' : 'not ready', ...detail, ''].join('\n'));
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
}
