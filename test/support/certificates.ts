// Throwaway certificates for TLS tests: a private CA, a server certificate for 127.0.0.1,
// and a client certificate, all made with openssl in a directory of their own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly directory: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

export function makeTestCertificates(host = '127.0.0.1', directory = mkdtempSync(join(tmpdir(), 'codex-affinity-certs-'))): TestCertificates {
  const version = spawnSync('openssl', ['version'], { timeout: 5000, stdio: 'ignore' });
  if (version.error || version.status !== 0) throw new Error('openssl is needed to make a test certificate (apt-get install openssl)');
  const run = (args: string[]) => {
    const result = spawnSync('openssl', args, { cwd: directory, timeout: 20_000, stdio: 'pipe' });
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${String(result.stderr)}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=codex-affinity-test-ca']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${host}`]);
  writeFileSync(join(directory, 'server.cnf'), `subjectAltName=IP:${host}\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.cnf']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=envoy']);
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2']);
  return {
    directory,
    caFile: join(directory, 'ca.crt'),
    serverCertFile: join(directory, 'server.crt'),
    serverKeyFile: join(directory, 'server.key'),
    clientCertFile: join(directory, 'client.crt'),
    clientKeyFile: join(directory, 'client.key'),
  };
}
