/**
 * Headers a Responses WebSocket handshake must not carry upstream: HTTP-only
 * request headers and hop-by-hop headers other than the upgrade itself
 * (Envoy manages `connection` / `upgrade` for the upgrade).
 */
export const WEBSOCKET_UNSAFE_HEADERS = [
  'accept',
  'accept-encoding',
  'content-type',
  'content-length',
  'content-encoding',
  'cookie',
  'transfer-encoding',
  'te',
  'trailer',
  'keep-alive',
  'proxy-connection',
  'expect',
  'x-forwarded-host',
] as const;

const HTTP_BETA_TOKEN = /^responses=experimental$/i;

/**
 * The handshake's header changes: unsafe headers removed, and the HTTP
 * Responses beta token replaced by the WebSocket one in OpenAI-Beta.
 */
export function websocketHandshakeChanges(
  headers: ReadonlyMap<string, string>,
  websocketBeta: string,
): { set: Array<readonly [string, string]>; remove: string[] } {
  const remove = WEBSOCKET_UNSAFE_HEADERS.filter((name) => headers.has(name));
  const set: Array<readonly [string, string]> = [];
  const beta = headers.get('openai-beta');
  if (beta !== undefined) {
    const tokens = beta.split(',').map((token) => token.trim()).filter((token) => token !== '');
    if (tokens.some((token) => HTTP_BETA_TOKEN.test(token))) {
      const replaced = [...new Set(tokens.map((token) => (HTTP_BETA_TOKEN.test(token) ? websocketBeta : token)))];
      set.push(['openai-beta', replaced.join(', ')]);
    }
  }
  return { set, remove };
}
