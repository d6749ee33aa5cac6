// Envoy's route matching, for the matchers the generated configs use, so tests can ask which
// route a request takes. safe_regex is RE2 with a full match; it is run here as a JS RegExp,
// after refusing what RE2 and JS read differently (lookarounds, back-references, named groups,
// flags other than a leading (?i)) and giving "." RE2's meaning (anything but "\n").
type Json = any; // route objects, walked freely

/** An RE2 full match of `input`, for the subset of RE2 the generated configs use. */
export function re2FullMatch(regex: string, input: string): boolean {
  let source = regex;
  let flags = '';
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags = 'i';
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined || /[1-9kpPbBdDwWsSQEzACx]/.test(next)) throw new Error(`RE2 escape not modelled: \\${next ?? ''} in ${regex}`);
      out += c + next;
      i += 1;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      // A leading ] or ^] is a literal in both; keep it inside the class.
      if (source[i + 1] === '^') out += source[++i];
      if (source[i + 1] === ']') out += source[++i];
    } else if (c === '(' && source[i + 1] === '?') {
      if (source[i + 2] !== ':') throw new Error(`RE2 group not modelled: ${source.slice(i, i + 4)} in ${regex}`);
      out += c;
    } else if (c === '.') {
      out += '[^\\n]';
    } else {
      out += c;
    }
  }
  if (inClass) throw new Error(`unterminated class in ${regex}`);
  return new RegExp(`^(?:${out})$`, flags).test(input);
}

export interface RequestLine { method: string; path: string; headers?: Record<string, string> }

function stringMatches(matcher: Json, value: string): boolean {
  const keys = Object.keys(matcher);
  if (keys.some((k) => !['exact', 'ignore_case', 'safe_regex'].includes(k))) throw new Error(`string matcher not modelled: ${JSON.stringify(matcher)}`);
  if (matcher.exact !== undefined) return matcher.ignore_case ? value.toLowerCase() === matcher.exact.toLowerCase() : value === matcher.exact;
  if (matcher.safe_regex !== undefined) {
    // Envoy: ignore_case has no effect on safe_regex.
    if (Object.keys(matcher.safe_regex).some((k) => k !== 'regex')) throw new Error(`regex matcher not modelled: ${JSON.stringify(matcher.safe_regex)}`);
    return re2FullMatch(matcher.safe_regex.regex, value);
  }
  throw new Error(`string matcher without a pattern: ${JSON.stringify(matcher)}`);
}

/**
 * Envoy's RouteMatch: prefix (against :path, query included), path and safe_regex (against the
 * path without the query string), and headers (string_match exact, with ignore_case, or
 * safe_regex; invert_match), with :method and :path (query included) as headers. Anything else
 * throws, so a new kind of matcher must be modelled here before a test trusts it.
 */
export function routeMatches(match: Json, request: RequestLine): boolean {
  const unmodelled = Object.keys(match).filter((k) => !['prefix', 'path', 'safe_regex', 'headers'].includes(k));
  if (unmodelled.length > 0) throw new Error(`route matcher not modelled: ${unmodelled.join(', ')}`);
  const pathOnly = request.path.split('?')[0]!;
  let ok: boolean;
  if (match.prefix !== undefined) ok = request.path.startsWith(match.prefix);
  else if (match.path !== undefined) ok = pathOnly === match.path;
  else if (match.safe_regex !== undefined) ok = re2FullMatch(match.safe_regex.regex, pathOnly);
  else throw new Error('route matcher without a path specifier');
  const headers: Record<string, string> = { ':method': request.method, ':path': request.path };
  for (const [k, v] of Object.entries(request.headers ?? {})) headers[k.toLowerCase()] = v;
  for (const h of match.headers ?? []) {
    if (Object.keys(h).some((k) => !['name', 'string_match', 'invert_match'].includes(k))) throw new Error(`header matcher not modelled: ${JSON.stringify(h)}`);
    const value = headers[h.name];
    // A missing header does not match, inverted or not (Envoy: invert_match needs the header present).
    const matched = value !== undefined && stringMatches(h.string_match, value) !== Boolean(h.invert_match);
    ok &&= matched;
  }
  return ok;
}

/** The first route that matches, as Envoy picks it. */
export function routeFor(routes: Json[], request: RequestLine): Json {
  return routes.find((r) => routeMatches(r.match, request));
}
