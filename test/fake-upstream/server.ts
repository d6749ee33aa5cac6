// startFakeAccount: one HTTP server per fake upstream account (loopback, port 0).
// HTTP I/O only: body reading, fault injection, writing JSON/SSE answers, the request log.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as errors from './errors.js';
import { sharedDomainStore } from './domain-store.js';
import { AccountCore, TURN_STATE_HEADER, type Answer } from './handler.js';
import { defaultDomainKey } from './sealing.js';
import { encodeSseEvent } from './sse.js';
import type { Fault, FakeAccount, FakeAccountOptions, RequestLogEntry } from './types.js';
import { isRecord, sleep } from './util.js';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

export async function startFakeAccount(options: FakeAccountOptions): Promise<FakeAccount> {
  const profile = options.profile ?? 'openai';
  const domain = options.domain ?? options.name;
  const core = new AccountCore({
    name: options.name,
    domain,
    domainKey: options.domainKey ?? defaultDomainKey(domain),
    profile,
    serveCodexBackend: options.serveCodexBackend ?? false,
    serveV1Paths: options.serveV1Paths ?? true,
    issueTurnState: options.issueTurnState ?? profile === 'chatgpt-codex',
    foreignTurnState: options.foreignTurnState ?? { status: 400, body: errors.foreignTurnStateDefault() },
    encryptedErrorStyle: options.encryptedErrorStyle ?? 'item-reason',
    chatgptEncryptedError: options.chatgptEncryptedError ?? {},
    domainStore: options.domainStore ?? sharedDomainStore,
    minCachedTokens: options.minCachedTokens ?? 0,
    ...(options.cacheExpiry ? { cacheExpiry: options.cacheExpiry } : {}),
  });
  if (options.rateLimit) core.rateLimiter.update(options.rateLimit);
  const faults: (Fault & { remaining: number })[] = [];
  const addFault = (f: Fault): void => {
    faults.push({ ...f, remaining: f.count ?? 1 });
  };
  for (const f of options.faults ?? []) addFault(f);
  const requests: RequestLogEntry[] = [];
  const sseDelay = options.sseEventDelayMs ?? 0;

  const takeFault = (): Fault | null => {
    while (faults.length > 0) {
      const f = faults[0]!;
      if (f.remaining > 0) {
        f.remaining -= 1;
        if (f.remaining <= 0) faults.shift();
        return f;
      }
      faults.shift();
    }
    return null;
  };

  const server = http.createServer((req, res) => {
    void handleRequest(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const headers = lowerHeaders(req);
    const path = (req.url ?? '/').split('?')[0]!;
    let body: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {};
      body = isRecord(parsed) ? parsed : null;
    } catch {
      body = null;
    }
    const entry: RequestLogEntry = {
      seq: requests.length,
      account: options.name,
      domain,
      method: req.method ?? 'GET',
      path,
      headers,
      bodyKeys: body ? Object.keys(body) : [],
      sessionId: headers['session-id'] ?? headers['session_id'] ?? null,
      promptCacheKey: body && typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : null,
      previousResponseId: body && typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
      conversationId: requestConversationId(path, body),
      status: 0,
      errorCode: null,
      turnStateIn: headers[TURN_STATE_HEADER] ?? null,
      turnStateOut: null,
      inputTokens: 0,
      cachedTokens: 0,
      responseId: null,
      reset: false,
      at: Date.now(),
    };
    requests.push(entry);

    let resetAfterHeaders = false;
    const fault = takeFault();
    if (fault?.kind === 'delay') await sleep(fault.ms);
    if (fault?.kind === 'reset' && !fault.afterHeaders) {
      entry.reset = true;
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'reset') resetAfterHeaders = true;

    let answer: Answer;
    if (fault?.kind === 'status') {
      const fallback = fault.status === 503 ? 'server_is_overloaded' : fault.status === 502 ? 'bad_gateway' : 'server_error';
      answer = core.error(fault.status, fault.body ?? errors.serverError(fault.code ?? fallback));
    } else if (fault?.kind === 'unauthorized' || (options.expectedAuthorization !== undefined && headers.authorization !== options.expectedAuthorization)) {
      answer = core.unauthorized();
    } else if (body === null) {
      answer = core.error(400, errors.invalidJson());
    } else {
      answer = core.handle({ method: entry.method, path, headers, body });
    }
    entry.status = answer.status;
    Object.assign(entry, answer.log);
    await writeAnswer(res, answer, resetAfterHeaders, entry);
  }

  async function writeAnswer(res: http.ServerResponse, answer: Answer, resetAfterHeaders: boolean, entry: RequestLogEntry): Promise<void> {
    if (answer.events) {
      res.writeHead(answer.status, { ...answer.headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      for (const [i, ev] of answer.events.entries()) {
        if (res.destroyed) return;
        if (resetAfterHeaders && i === 0) {
          // Let the headers and first event reach the client, then cut the connection.
          await new Promise<void>((resolve) => res.write(encodeSseEvent(ev), () => resolve()));
          await sleep(20);
          entry.reset = true;
          res.destroy();
          return;
        }
        res.write(encodeSseEvent(ev));
        if (sseDelay > 0) await sleep(sseDelay);
      }
      res.end();
      return;
    }
    const text = JSON.stringify(answer.body ?? {});
    res.writeHead(answer.status, { ...answer.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    if (resetAfterHeaders) {
      entry.reset = true;
      res.flushHeaders();
      await sleep(20);
      res.destroy();
      return;
    }
    res.end(text);
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    name: options.name,
    domain,
    profile,
    url: `http://${host}:${port}`,
    port,
    requests,
    get issuedTurnStates() {
      return core.turnStates.all;
    },
    setFault(fault) {
      faults.length = 0;
      if (fault) addFault(fault);
    },
    addFault,
    setRateLimit(update) {
      core.rateLimiter.update(update);
    },
    get rateLimit() {
      return core.rateLimiter.settings;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The conversation a request names (body `conversation`, or the /v1/conversations/{id} path). */
function requestConversationId(path: string, body: Record<string, unknown> | null): string | null {
  const m = /^\/v1\/conversations\/([^/]+)$/.exec(path);
  if (m) {
    try {
      return decodeURIComponent(m[1]!);
    } catch {
      return m[1]!;
    }
  }
  const c = body?.conversation;
  if (typeof c === 'string') return c;
  if (isRecord(c) && typeof c.id === 'string') return c.id;
  return null;
}

function lowerHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
