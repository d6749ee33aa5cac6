import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The repo's proto/ folder, from src/ (vitest) or dist/src/ (built). */
export function protoRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = resolve(directory, 'proto');
    if (existsSync(resolve(candidate, 'envoy/service/ext_proc/v3/external_processor.proto'))) return candidate;
    directory = dirname(directory);
  }
  throw new Error('proto/ folder not found next to the package');
}

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

export interface ExternalProcessorDefinition {
  service: grpc.ServiceDefinition;
  client: grpc.ServiceClientConstructor;
}

export function loadExternalProcessor(): ExternalProcessorDefinition {
  const root = protoRoot();
  const definition = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [root],
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  const client = loaded.envoy.service.ext_proc.v3.ExternalProcessor;
  return { service: client.service, client };
}
