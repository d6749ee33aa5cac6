// Fake upstream accounts that behave like the OpenAI Responses API / ChatGPT Codex backend.
export { startFakeAccount } from './server.js';
export { FAKE_ACCOUNT_HEADER, TURN_STATE_HEADER } from './handler.js';
export { DomainStore, sharedDomainStore, type StoredConversation, type StoredResponse } from './domain-store.js';
export { seal, verifySealed, inspectSealed, defaultDomainKey } from './sealing.js';
export { CHATGPT_UNSUPPORTED_PARAMETERS, checkChatgptCodexBody } from './strictness.js';
export { formatResetDuration, type RateLimitSettings, type RateLimitUpdate, type RejectSetting, type UsageWindow } from './rate-limit.js';
export * as fakeErrors from './errors.js';
export type { Fault, FakeAccount, FakeAccountOptions, Profile, RequestLogEntry } from './types.js';
export type { SseEvent } from './sse.js';
