import type { Profile } from '../config/schema.js';
import type { Signals } from '../signals/signals.js';

/** What an upstream keeps between requests. */
export type Capability =
  /** keeps responses sent with store: true (and their items) */
  | 'stored_responses'
  /** continues from a stored response named by previous_response_id */
  | 'previous_response'
  /** server-side conversations */
  | 'conversations'
  /** background responses, polled later */
  | 'background'
  /** input items sent as item_reference (or by id alone) */
  | 'item_reference';

export const PROFILE_CAPABILITIES: Readonly<Record<Profile, ReadonlySet<Capability>>> = {
  openai: new Set<Capability>(['stored_responses', 'previous_response', 'conversations', 'background', 'item_reference']),
  // The ChatGPT Codex backend keeps nothing: store must be false, previous_response_id
  // does not resolve across requests, and there are no conversations.
  'chatgpt-codex': new Set<Capability>(),
};

export interface CapabilityNeeds {
  /** Only accounts with all of these can serve the request. */
  readonly required: readonly Capability[];
  /**
   * Accounts with these are preferred when the pool has one: `store` true or
   * absent (the API's default) asks for a stored response, but the profile
   * rewrite of an account that cannot store turns it off rather than failing.
   */
  readonly preferred: readonly Capability[];
}

const NOTHING: CapabilityNeeds = { required: [], preferred: [] };
const PREFERS_STORAGE: CapabilityNeeds = { required: [], preferred: ['stored_responses'] };

/** `asksForStorage`: the request would be stored (store true, or absent where the endpoint stores by default). */
export function capabilityNeeds(signals: Signals, asksForStorage: boolean): CapabilityNeeds {
  const required: Capability[] = [];
  if (signals.previousResponseId !== undefined) required.push('previous_response');
  if (signals.conversation !== undefined) required.push('conversations');
  if (signals.background) required.push('background');
  if (signals.hasStoredReference) required.push('item_reference');
  if (required.length > 0) return { required, preferred: [] };
  return asksForStorage ? PREFERS_STORAGE : NOTHING;
}

export function hasCapabilities(profile: Profile, capabilities: readonly Capability[]): boolean {
  const held = PROFILE_CAPABILITIES[profile];
  return capabilities.every((capability) => held.has(capability));
}

const CAPABILITY_PHRASES: Readonly<Record<Capability, string>> = {
  stored_responses: 'stored responses (store: true)',
  previous_response: 'previous_response_id (a stored previous response)',
  conversations: 'server-side conversations (conversation)',
  background: 'background responses (background: true)',
  item_reference: 'stored items sent by reference (item_reference)',
};

export function describeCapabilities(capabilities: readonly Capability[]): string {
  return capabilities.map((capability) => CAPABILITY_PHRASES[capability]).join(', ');
}
