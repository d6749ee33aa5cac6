// Loads the official Envoy / xDS protos shipped in @grpc/grpc-js-xds/deps with protobufjs
// (proto field names kept, i.e. snake_case), the same way test/proto/conformance.test.ts does.
// lookupOfficialType() also loads a type's package on demand, so a `google.protobuf.Any`
// "@type" that names any message of the official API can be resolved.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DEPS = path.join(REPO, 'node_modules/@grpc/grpc-js-xds/deps');
/** Where imports are looked up, in order. google/protobuf/{any,struct,duration,...} are bundled
 * with protobufjs and resolved by name; descriptor.proto (for validate.proto) lives in its dir. */
export const OFFICIAL_PROTO_DIRS = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(DEPS, d)),
  path.join(REPO, 'node_modules/protobufjs'),
];

function findInDirs(target: string): string | undefined {
  for (const dir of OFFICIAL_PROTO_DIRS) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A root with the given files (paths relative to the deps folders) loaded and resolved. */
export function loadOfficialRoot(files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : (findInDirs(target) ?? target));
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

/**
 * The message type `fullName` (no leading dot), loading every .proto of its package directory
 * (e.g. envoy/extensions/filters/http/ext_proc/v3/) into `root` when it is not there yet.
 * Returns null when no such message exists in the official protos.
 */
export function lookupOfficialType(root: protobuf.Root, fullName: string): protobuf.Type | null {
  const found = () => {
    const obj = root.lookup(fullName);
    return obj instanceof protobuf.Type ? obj : null;
  };
  if (found()) return found();
  const segments = fullName.split('.');
  const firstTypeSegment = segments.findIndex((s) => /^[A-Z]/.test(s));
  if (firstTypeSegment <= 0) return null;
  const pkgDir = segments.slice(0, firstTypeSegment).join('/');
  const dir = findInDirs(pkgDir);
  if (!dir || !fs.statSync(dir).isDirectory()) return null;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.proto')).map((f) => `${pkgDir}/${f}`);
  try {
    root.loadSync(files, { keepCase: true });
    root.resolveAll();
  } catch {
    return null;
  }
  return found();
}
