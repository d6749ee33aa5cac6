import type { Profile } from '../config/schema.js';

/**
 * What an upstream profile accepts, as data: one place to review every rewrite
 * the processor applies on the way to an account. Per-account overrides in the
 * config are merged over these (see mergeRules).
 */
export interface ProfileRules {
  /** Top-level body fields set to a fixed JSON value. */
  readonly force: Readonly<Record<string, boolean | string | number | null>>;
  /** Top-level body fields the upstream rejects: removed. */
  readonly remove: readonly string[];
  /** Default instructions injected when the body has none or an empty string; undefined: never. */
  readonly defaultInstructions: string | undefined;
  /** Request path → upstream path (query string kept). */
  readonly paths: Readonly<Record<string, string>>;
}

export const DEFAULT_CODEX_INSTRUCTIONS = 'You are a helpful coding assistant.';

export const PROFILE_RULES: Readonly<Record<Profile, ProfileRules>> = {
  // The ChatGPT Codex backend: answers 400 to each removed parameter
  // ({"detail":"Unsupported parameter: max_output_tokens"}), to a missing
  // instructions field ("Instructions are required"), to store:true ("Store must
  // be set to false") and to a non-streamed request ("Stream must be set to true").
  'chatgpt-codex': {
    force: { stream: true, store: false },
    remove: ['max_output_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'truncation', 'prompt_cache_retention'],
    defaultInstructions: DEFAULT_CODEX_INSTRUCTIONS,
    paths: {
      '/v1/responses': '/backend-api/codex/responses',
      '/responses': '/backend-api/codex/responses',
      '/v1/responses/compact': '/backend-api/codex/responses/compact',
      '/responses/compact': '/backend-api/codex/responses/compact',
    },
  },
  // The public Responses API takes what callers send, prompt_cache_retention included.
  openai: {
    force: {},
    remove: [],
    defaultInstructions: undefined,
    paths: {},
  },
};

/** Rules that change nothing: with rewrites off, only continuity isolation still applies. */
export const NO_PROFILE_RULES: ProfileRules = PROFILE_RULES.openai;

export interface RulesOverride {
  readonly force?: Readonly<Record<string, boolean | string | number | null>> | undefined;
  readonly remove?: readonly string[] | undefined;
  /** Fields the profile removes that this account keeps. */
  readonly keep?: readonly string[] | undefined;
  readonly defaultInstructions?: string | null | undefined;
  readonly paths?: Readonly<Record<string, string>> | undefined;
}

export function mergeRules(base: ProfileRules, override: RulesOverride | undefined): ProfileRules {
  if (!override) return base;
  const keep = new Set(override.keep ?? []);
  return {
    force: { ...base.force, ...override.force },
    remove: [...new Set([...base.remove, ...(override.remove ?? [])])].filter((field) => !keep.has(field)),
    defaultInstructions: override.defaultInstructions === null ? undefined : (override.defaultInstructions ?? base.defaultInstructions),
    paths: { ...base.paths, ...override.paths },
  };
}
