/** What the processor knows about a request after its headers. */
export interface RequestView {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** The query string with its leading "?", or "". */
  readonly query: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly endOfStream: boolean;
}

export function splitPath(rawPath: string): { path: string; query: string } {
  const query = rawPath.indexOf('?');
  return query < 0 ? { path: rawPath, query: '' } : { path: rawPath.slice(0, query), query: rawPath.slice(query) };
}

export function isWebSocketUpgrade(view: RequestView): boolean {
  const upgrade = view.headers.get('upgrade');
  return upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}

/** application/json and application/<anything>+json. */
export const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;

/** Whether the endpoint stores a response when the request says nothing (Responses: yes; Chat Completions: no). */
export function storesByDefault(path: string): boolean {
  return !path.endsWith('/chat/completions');
}
