import type { WireHeaderMap, WireHeaderValueOption } from './wire-types.js';

/**
 * Reads a HeaderMap. Current Envoy fills raw_value only; older Envoy filled
 * value: read raw_value and fall back to value. Repeated names are joined
 * with ", " as HTTP allows.
 */
export function readHeaderMap(map: WireHeaderMap | undefined): Map<string, string> {
  const headers = new Map<string, string>();
  for (const entry of map?.headers ?? []) {
    if (!entry || typeof entry.key !== 'string') continue;
    const key = entry.key.toLowerCase();
    const raw = entry.raw_value;
    const value = raw !== undefined && raw.length > 0 ? raw.toString('latin1') : (entry.value ?? '');
    const existing = headers.get(key);
    headers.set(key, existing === undefined ? value : `${existing}, ${value}`);
  }
  return headers;
}

const HEADER_NAME = /^:?[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** Envoy's HeaderValue limit (validate rules: max 16384 bytes). */
export const MAX_HEADER_VALUE_BYTES = 16384;

/** A value Envoy accepts: no CR, LF or NUL, within the size limit. */
export function isValidHeaderValue(value: string): boolean {
  if (Buffer.byteLength(value, 'latin1') > MAX_HEADER_VALUE_BYTES) return false;
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code === 0x0d || code === 0x0a || code === 0x00 || code > 0xff) return false;
  }
  return true;
}

export function isValidHeaderName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && HEADER_NAME.test(name);
}

/** A header set written to raw_value only (a value-only mutation is empty on current Envoy). */
export function headerOption(name: string, value: string): WireHeaderValueOption {
  return {
    header: { key: name, raw_value: Buffer.from(value, 'latin1') },
    append: { value: false },
  };
}
