import protobuf from 'protobufjs';
import { loadExternalProcessor } from './dist/src/extproc/proto.js';
import { toProcessingResponse } from './dist/src/extproc/adapter.js';
const root = new protobuf.Root();
root.resolvePath = (origin, target) => target.startsWith('google/') ? target : new URL('./proto/' + target, import.meta.url).pathname;
root.loadSync('envoy/service/ext_proc/v3/external_processor.proto', { keepCase: true });
root.resolveAll();
const T = root.lookupType('envoy.service.ext_proc.v3.ProcessingResponse');
const serialize = loadExternalProcessor().service.Process.responseSerialize;
const answer = { headers: { set: [['x-codex-affinity-cluster','cluster-a'],['session-id','ws-123'],['openai-beta','responses_websockets=2026-02-06']], remove: ['accept-encoding'] }, clearRouteCache: true,
  dynamicMetadata: { 'codex_affinity': { account: 'acct-a', domain: 'org-a', strength: 'hard', source: 'session_id', outcome: 'bound' } }, modeOverride: { requestBody: 'NONE', responseBody: 'NONE' } };
const wire = toProcessingResponse('request_headers', answer, () => {});
const { dynamic_metadata, ...noMeta } = wire;
const N=100000;
function t(name, f) { for (let i=0;i<20000;i++) f(i); const s = process.hrtime.bigint(); for (let i=0;i<N;i++) f(i); console.log(name, (Number(process.hrtime.bigint()-s)/N).toFixed(0), 'ns'); }
t('adapter', () => toProcessingResponse('request_headers', answer, () => {}));
t('serialize full', () => serialize(wire));
t('serialize no meta', () => serialize(noMeta));
const msg = T.fromObject(wire);
t('fromObject full', () => T.fromObject(wire));
t('encode only full', () => T.encode(msg).finish());
t('empty continue', () => serialize({ response_headers: { response: {} } }));
console.log(serialize(wire).length, Buffer.compare(serialize(wire), T.encode(T.fromObject(wire)).finish()));
