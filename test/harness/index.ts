// Envoy stand-in for tests: an HTTP/1.1 front with Envoy's ext_proc filter and router
// semantics (see shared/envoy-ext-proc.md). Usage:
//   const envoy = await startEnvoy({ ext_proc: { grpc_service: { target } , ... },
//     route_config: { routes: [...] }, clusters: [...] });
//   await fetch(`${envoy.url}/v1/responses`, ...); envoy.log[0].cluster; envoy.stats.get('message_timeouts');
//   await envoy.close();
export { startEnvoy, type Envoy } from './envoy.js';
export { parseConfig, ConfigError, type EnvoyConfigInput, type ResolvedConfig } from './config.js';
export { Stats, STAT_NAMES, type RequestRecord, type AttemptRecord, type StatName } from './stats.js';
export { Headers } from './headers.js';
export { MutationChecker, applyHeaderMutation, headerNameIsValid, headerValueIsValid } from './mutations.js';
export { loadExtProc, structToJs, jsToStruct, type ProcessingRequest, type ProcessingResponse } from './proto.js';
export { startScriptedProcessor, respond, header, setRaw, continueFor, type Script, type Action, type ScriptedProcessor } from './scripted-processor.js';
export { startTestUpstream, type TestUpstream, type TestUpstreamOptions } from './test-upstream.js';
