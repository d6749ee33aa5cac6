import * as crypto from 'node:crypto';

/**
 * SHA-256 of text, for keys computed on every request. Node's one-shot
 * `crypto.hash` (Node ≥ 20.12) costs about a quarter of a `createHash` object
 * for inputs this short; older Node takes the object path. Both hash the UTF-8
 * bytes of the text, so every key stays what it was.
 */
type OneShot = (algorithm: string, data: string, outputEncoding: 'base64url' | 'hex') => string;
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

/** The parts joined by NUL, each followed by one: `a\0b\0`. */
export function joinParts(parts: readonly string[]): string {
  return `${parts.join('\u0000')}\u0000`;
}

export function sha256Base64url(text: string): string {
  return oneShot ? oneShot('sha256', text, 'base64url') : crypto.createHash('sha256').update(text).digest('base64url');
}

export function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex');
}
