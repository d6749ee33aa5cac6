// The ChatGPT Codex backend (chatgpt.com/backend-api/codex/responses) rejects bodies that the public
// Responses API accepts. Each rule answers 400 {"detail": "..."} (sources listed in errors.ts).
// Order of checks when several rules fail: unsupported parameter first, then instructions (as observed in
// link-assistant/router #39); store before stream is ASSUMED.
import { detail, type DetailBody } from './errors.js';

export const CHATGPT_UNSUPPORTED_PARAMETERS = [
  'max_output_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'truncation',
  'prompt_cache_retention',
] as const;

export function checkChatgptCodexBody(body: Record<string, unknown>): DetailBody | null {
  for (const name of CHATGPT_UNSUPPORTED_PARAMETERS) {
    if (name in body) return detail(`Unsupported parameter: ${name}`);
  }
  const instructions = body.instructions;
  if (typeof instructions !== 'string' || instructions.trim() === '') return detail('Instructions are required');
  // A missing store is rejected too (vellum-ai PR #31957, openclaw PR #138703).
  if (body.store !== false) return detail('Store must be set to false');
  if (body.stream !== true) return detail('Stream must be set to true');
  return null;
}
