// Simulated Codex CLI 0.169.0 client workload and an OpenAI SDK-style previous_response_id workload.
export { runCodexWorkload, appendOutput, ACCOUNT_HEADER, type CodexWorkloadOptions } from './codex-workload.js';
export { runResponsesChainWorkload, type ChainWorkloadOptions } from './chain-workload.js';
export { buildCodexRequest, sampleCodexRequest, initialHistory, userMessage, CODEX_TOOLS, type CodexRequest, type CodexTurnContext, type SampleCodexRequestOptions, type HeaderStyle, type InputItem } from './codex-request.js';
export { postResponses, type ResponsesResult } from './http-client.js';
export { classify, summarize, usageOf, type FailureClass, type RequestRecord, type WorkloadStats } from './stats.js';
export { createRng, type Rng } from './rng.js';
export { startRoundRobinForwarder, type RoundRobinForwarder } from './rr-forwarder.js';
