/** What the processor knows about a request after its headers. */
export interface RequestView {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly endOfStream: boolean;
}

export function pathWithoutQuery(rawPath: string): string {
  const query = rawPath.indexOf('?');
  return query < 0 ? rawPath : rawPath.slice(0, query);
}

export function isWebSocketUpgrade(view: RequestView): boolean {
  const upgrade = view.headers.get('upgrade');
  return upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}
