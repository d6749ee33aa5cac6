import { describe, expect, it } from 'vitest';
import { classifyError, parseTryAgainIn, withoutQuotedSpans } from '../../src/responses/classify-error.js';
import { cooldownUntil, exhaustedUntil, parseResetDuration, usedPercent } from '../../src/responses/upstream-limits.js';
import { upstreamErrors } from '../support/upstream-errors.js';

const NOW = 1_800_000_000_000;

describe('classifyError on recorded upstream errors', () => {
  it.each(upstreamErrors(NOW).map((fixture) => [fixture.name, fixture] as const))('%s', (_name, fixture) => {
    const result = classifyError(fixture.status, fixture.body, NOW);
    expect(result.errorClass).toBe(fixture.class);
    if (fixture.resetInSeconds !== undefined) expect(Math.round((result.resetAt! - NOW) / 1000)).toBe(fixture.resetInSeconds);
  });

  it('a plain-text or unknown body is "other", never a throw', () => {
    expect(classifyError(400, 'bad request', NOW).errorClass).toBe('other');
    expect(classifyError(418, null, NOW).errorClass).toBe('other');
    expect(classifyError(502, undefined, NOW).errorClass).toBe('server_error');
  });
});

/** The OpenAI envelope the real upstream answers with (test/fake-upstream/errors.ts). */
const openai = (message: string, code: string | null, type = 'invalid_request_error') => ({ error: { message, type, param: null, code } });
/** OpenAI's 404 for a model the project cannot use: it quotes the client's model name. */
const modelNotFound = (model: string) => openai(`The model \`${model}\` does not exist or you do not have access to it.`, 'model_not_found');

describe('text the upstream echoes from the request cannot change account state', () => {
  it('a 404 model_not_found quoting a model named "usage limit" is about the request, not a usage limit', () => {
    expect(classifyError(404, modelNotFound('usage limit'), NOW).errorClass).toBe('other');
    // Without the code too: usage-limit text means something on a 429 only.
    expect(classifyError(404, openai('The model `usage limit` does not exist or you do not have access to it.', null), NOW).errorClass).toBe('other');
    expect(classifyError(400, { detail: 'Model usage limit is not supported' }, NOW).errorClass).toBe('other');
  });

  it('a 404 (or any 4xx) quoting a model named "overloaded" is not an overloaded server', () => {
    expect(classifyError(404, modelNotFound('overloaded'), NOW).errorClass).toBe('other');
    expect(classifyError(400, openai('Invalid model "overloaded".', null), NOW).errorClass).toBe('other');
    expect(classifyError(400, { detail: 'server overloaded is not a model' }, NOW).errorClass).toBe('other');
  });

  it('a 403 with a per-request code is forbidden whatever names it quotes; without a code, quoted names are not read', () => {
    const projectDenied = openai('Organization `org-abc` has no access to model `gpt-5` in project `deactivated-project`.', 'model_not_found');
    expect(classifyError(403, projectDenied, NOW).errorClass).toBe('forbidden');
    for (const code of ['unsupported_model', 'invalid_request_error', 'invalid_value']) {
      expect(classifyError(403, openai('This account has been deactivated, please reach out to support.', code), NOW).errorClass).toBe('forbidden');
    }
    expect(classifyError(403, openai('Your organization does not have access to model `revoked`.', null), NOW).errorClass).toBe('forbidden');
    expect(classifyError(403, openai("Your organization does not have access to model 'account deactivated'.", null), NOW).errorClass).toBe('forbidden');
    expect(classifyError(403, openai('Your organization does not have access to model "suspended".', null), NOW).errorClass).toBe('forbidden');
  });

  it('a quoted value holding the quote character itself is removed whole', () => {
    // Model name: a` usage limit `b (the upstream does not escape it)
    expect(classifyError(429, { detail: 'Model `a` usage limit `b` is not available.' }, NOW).errorClass).toBe('rate_limit_exceeded');
    expect(classifyError(503, openai('Model "a" overloaded "b" failed.', null, 'server_error'), NOW).errorClass).toBe('server_error');
    expect(classifyError(403, openai("Your organization has no access to model 'x' deactivated 'y'.", null), NOW).errorClass).toBe('forbidden');
  });

  it('a quoted value cut by the 2 KB read limit is removed to the end', () => {
    const model = `usage limit ${'x'.repeat(4096)}`;
    expect(classifyError(429, openai(`The model \`${model}\` is rate limited.`, null), NOW).errorClass).toBe('rate_limit_exceeded');
  });

  it('the real account-level errors still count', () => {
    // 403, no code, the account-deactivated sentence: the credential fails.
    expect(classifyError(403, openai('This account has been deactivated, please reach out to support.', null), NOW).errorClass).toBe('credentials');
    expect(classifyError(403, { detail: "Your workspace has been deactivated. Contact your workspace's admin." }, NOW).errorClass).toBe('credentials');
    // 429 usage_limit_reached (ChatGPT backend shape), and the same sentence without a type.
    const usage = upstreamErrors(NOW).find((entry) => entry.class === 'usage_limit_reached')!;
    expect(classifyError(429, usage.body, NOW)).toEqual({ errorClass: 'usage_limit_reached', resetAt: NOW + 3_600_000 });
    expect(classifyError(429, { detail: "You've hit your usage limit." }, NOW).errorClass).toBe('usage_limit_reached');
    // 500/503/529 saying overloaded, with or without a code.
    expect(classifyError(500, openai('The server is overloaded.', null, 'server_error'), NOW).errorClass).toBe('server_is_overloaded');
    expect(classifyError(529, { detail: 'Overloaded' }, NOW).errorClass).toBe('server_is_overloaded');
    expect(classifyError(200, openai('Our servers are currently overloaded. Please try again later.', 'server_is_overloaded', 'server_error'), NOW).errorClass).toBe('server_is_overloaded');
  });
});

describe('withoutQuotedSpans', () => {
  it.each([
    ['The model `usage limit` does not exist', 'The model `` does not exist'],
    ["Item with id 'rs_1' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true.", "Item with id '' not found. Items are not persisted when `` set to true."],
    ['Invalid value "x" for y', 'Invalid value "" for y'],
    ["You've hit your usage limit. We aren't sure; the users' keys", "You've hit your usage limit. We aren't sure; the users' keys"],
    ["model 'a'b' deactivated' here", "model '' here"],
    ['cut `usage limit', 'cut ``'],
    ['no quotes', 'no quotes'],
  ])('%j → %j', (input, expected) => {
    expect(withoutQuotedSpans(input)).toBe(expected);
  });

  it('takes linear time on any mix of quotes', () => {
    const mixes = ["'a ".repeat(700), '`"\''.repeat(700), " '".repeat(1024), "a' ".repeat(700)];
    const started = performance.now();
    for (let round = 0; round < 50; round++) for (const mix of mixes) withoutQuotedSpans(mix);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('limits from headers and messages', () => {
  it.each([
    ['Please try again in 20s.', 20_000],
    ['Please try again in 1.5s.', 1500],
    ['Please try again in 120ms.', 120],
    ['Please try again in 6m0s.', 360_000],
    ['no hint', undefined],
  ])('parseTryAgainIn(%j) = %s', (message, expected) => {
    expect(parseTryAgainIn(message)).toBe(expected);
  });

  it('retry-after seconds and HTTP dates, x-codex reset-at when a window is full', () => {
    expect(cooldownUntil(new Map([['retry-after', '30']]), NOW)).toBe(NOW + 30_000);
    expect(cooldownUntil(new Map([['retry-after', new Date(NOW + 90_000).toUTCString()]]), NOW)).toBe(NOW + 90_000);
    const full = new Map([
      ['x-codex-primary-used-percent', '100'],
      ['x-codex-primary-reset-at', String(NOW / 1000 + 600)],
    ]);
    expect(cooldownUntil(full, NOW)).toBe(NOW + 600_000);
    expect(cooldownUntil(new Map([['x-codex-primary-used-percent', '40'], ['x-codex-primary-reset-at', String(NOW / 1000 + 600)]]), NOW)).toBeUndefined();
  });

  it('usage percent and exhausted public-API budgets', () => {
    expect(usedPercent(new Map([['x-codex-primary-used-percent', '12'], ['x-codex-secondary-used-percent', '93.5']]))).toBe(93.5);
    expect(usedPercent(new Map())).toBeUndefined();
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(exhaustedUntil(new Map([['x-ratelimit-remaining-requests', '0'], ['x-ratelimit-reset-requests', '1.5s']]), NOW)).toBe(NOW + 1500);
    expect(exhaustedUntil(new Map([['x-ratelimit-remaining-requests', '3'], ['x-ratelimit-reset-requests', '1.5s']]), NOW)).toBeUndefined();
  });
});
