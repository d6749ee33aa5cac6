// Minimal client for POST /responses: sends JSON, reads either an SSE stream (parsed with
// eventsource-parser) or a JSON body. Never throws: network failures come back as `networkError`.
import http from 'node:http';
import { createParser } from 'eventsource-parser';

export interface ResponsesResult {
  status: number;
  /** Response headers, lower-case names (first value when repeated). */
  headers: Record<string, string>;
  /** Parsed SSE payloads (JSON), in order, when the answer was text/event-stream. */
  events: Record<string, unknown>[] | null;
  /** Parsed JSON body for non-SSE answers (null if not JSON). */
  json: unknown;
  /** The final Response object (response.completed payload or the JSON body on 2xx). */
  response: Record<string, unknown> | null;
  networkError: string | null;
  durationMs: number;
}

export function postResponses(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  opts: { agent?: http.Agent; timeoutMs?: number } = {},
): Promise<ResponsesResult> {
  const started = Date.now();
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<ResponsesResult, 'durationMs'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...r, durationMs: Date.now() - started });
    };
    const fail = (status: number, hdrs: Record<string, string>, message: string, events: Record<string, unknown>[] | null = null): void =>
      done({ status, headers: hdrs, events, json: null, response: null, networkError: message });
    const req = http.request(url, {
      method: 'POST',
      agent: opts.agent,
      headers: { ...headers, 'content-length': String(payload.length) },
      timeout: opts.timeoutMs ?? 15_000,
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => fail(0, {}, e.message));
    req.on('response', (res) => {
      const hdrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) hdrs[k] = Array.isArray(v) ? v[0]! : v;
      const status = res.statusCode ?? 0;
      const isSse = (hdrs['content-type'] ?? '').includes('text/event-stream');
      const events: Record<string, unknown>[] = [];
      const parser = createParser({
        onEvent: (ev) => {
          try {
            events.push(JSON.parse(ev.data) as Record<string, unknown>);
          } catch {
            events.push({ type: ev.event ?? 'unparsed', raw: ev.data });
          }
        },
      });
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (isSse) parser.feed(c.toString('utf8'));
        else chunks.push(c);
      });
      res.on('aborted', () => fail(status, hdrs, 'aborted', isSse ? events : null));
      res.on('error', (e) => fail(status, hdrs, e.message, isSse ? events : null));
      res.on('end', () => {
        if (isSse) {
          const terminal = events.find((e) => e.type === 'response.completed' || e.type === 'response.failed' || e.type === 'response.incomplete');
          if (!terminal) return fail(status, hdrs, 'stream closed before response.completed', events);
          const response = (terminal.response as Record<string, unknown> | undefined) ?? null;
          return done({ status, headers: hdrs, events, json: null, response, networkError: null });
        }
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = text.length > 0 ? JSON.parse(text) : null;
        } catch {
          json = null;
        }
        const response = status >= 200 && status < 300 && json && typeof json === 'object' ? (json as Record<string, unknown>) : null;
        done({ status, headers: hdrs, events: null, json, response, networkError: null });
      });
    });
    req.end(payload);
  });
}
