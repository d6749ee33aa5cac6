/** Headers in which a client sends its own key; the principal is derived from the first one present. */
export const CLIENT_KEY_HEADERS = ['authorization', 'x-api-key', 'api-key'] as const;

/** Every header that carries the client's identity towards an upstream: its keys, cookies, organisation and project. */
export const CLIENT_CREDENTIAL_HEADERS = [...CLIENT_KEY_HEADERS, 'cookie', 'chatgpt-account-id', 'openai-organization', 'openai-project'] as const;
