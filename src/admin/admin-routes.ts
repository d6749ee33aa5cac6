import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerMatches } from './bearer.js';
import { AdminError, type AdminControl } from './control.js';

export interface AdminApi {
  /** The bearer token in force (re-read when its file changes). */
  readonly token: () => string;
  readonly control: AdminControl;
  /** Largest JSON body accepted (an explained request may be a whole Codex body). */
  readonly maxBodyBytes: number;
}

type Handler = (control: AdminControl, parameter: string | undefined, body: unknown) => unknown;

/** Method, path pattern (one name captured at most), handler. */
const ROUTES: ReadonlyArray<readonly [string, RegExp, Handler]> = [
  ['GET', /^\/admin\/accounts$/, (control) => control.accounts()],
  ['POST', /^\/admin\/accounts\/([^/]+)\/drain$/, (control, name) => control.drain(name!)],
  ['POST', /^\/admin\/accounts\/([^/]+)\/undrain$/, (control, name) => control.undrain(name!)],
  ['POST', /^\/admin\/accounts\/([^/]+)\/cooldown$/, (control, name, body) => control.coolDown(name!, (body as { seconds?: unknown } | undefined)?.seconds)],
  ['POST', /^\/admin\/accounts\/([^/]+)\/reset$/, (control, name) => control.reset(name!)],
  ['POST', /^\/admin\/accounts\/([^/]+)\/flush$/, (control, name) => control.flushAccount(name!)],
  ['POST', /^\/admin\/pools\/([^/]+)\/flush$/, (control, name) => control.flushPool(name!)],
  // Session ids travel in the body, never in a URL that access logs keep.
  ['POST', /^\/admin\/sessions\/lookup$/, (control, _, body) => control.lookupSession(body)],
  ['POST', /^\/admin\/sessions\/flush$/, (control, _, body) => control.flushSession(body)],
  ['POST', /^\/admin\/explain$/, (control, _, body) => control.explain(body)],
];

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(`${JSON.stringify(body, null, 2)}\n`);
}

const error = (code: string, message: string) => ({ error: { code, message } });

async function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AdminError(413, 'body_too_large', `The body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AdminError(400, 'invalid_json', 'The body is not JSON.');
  }
}

/** Serves /admin/...: bearer token first (401 before anything else is read), then the route. */
export async function serveAdmin(request: IncomingMessage, response: ServerResponse, path: string, api: AdminApi): Promise<void> {
  if (!bearerMatches(request.headers.authorization, api.token())) {
    request.resume();
    send(response, 401, error('unauthorized', 'A valid bearer token is required.'), { 'www-authenticate': 'Bearer realm="codex-affinity admin"' });
    return;
  }
  const route = ROUTES.find(([, pattern]) => pattern.test(path));
  if (!route) {
    request.resume();
    send(response, 404, error('not_found', 'No such admin endpoint.'));
    return;
  }
  const [method, pattern, handler] = route;
  if (request.method !== method) {
    request.resume();
    send(response, 405, error('method_not_allowed', `Use ${method}.`), { allow: method });
    return;
  }
  try {
    const body = method === 'POST' ? await readJson(request, api.maxBodyBytes) : undefined;
    const parameter = pattern.exec(path)?.[1];
    send(response, 200, await handler(api.control, parameter === undefined ? undefined : decodeURIComponent(parameter), body));
  } catch (caught) {
    if (caught instanceof AdminError) send(response, caught.status, error(caught.code, caught.message));
    else send(response, 500, error('internal_error', 'The admin action failed.'));
  }
}
