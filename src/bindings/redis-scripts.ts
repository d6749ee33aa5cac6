/**
 * Lua scripts of the Redis binding store. Every script touches the keys of one
 * partition only (they share a hash tag), so each runs on one Cluster slot.
 * A stored value is "<version>|<json>". A version is the server's clock in
 * microseconds, and always above the version it replaces, so a key written
 * again (after a delete or an expiry) never repeats a version a reader holds.
 * A value that is not ours (no "<digits>|" prefix) counts as absent.
 */

const NEXT_VERSION = `
local function next_version(existing)
  local now = redis.call('TIME')
  local version = tonumber(now[1]) * 1000000 + tonumber(now[2])
  if existing then
    local old = tonumber(string.match(existing, '^(%d+)|') or '0')
    if old >= version then version = old + 1 end
  end
  return string.format('%.0f', version)
end
local function ours(value)
  if value and string.match(value, '^%d+|') then return value end
  return false
end
`;

/** KEYS: bindings. ARGV: slide fraction, then each key's TTL (ms). Slides a TTL only when less than the fraction is left. */
export const READ = `
local fraction = tonumber(ARGV[1])
local out = {}
for index, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    local ttl = tonumber(ARGV[index + 1])
    local left = redis.call('PTTL', key)
    if left >= 0 and left < ttl * fraction then redis.call('PEXPIRE', key, ttl) end
    out[index] = value
  else
    out[index] = ''
  end
end
return out
`;

/** KEYS: binding. ARGV: json, ttl. First writer wins. */
export const CREATE = `${NEXT_VERSION}
local existing = ours(redis.call('GET', KEYS[1]))
if existing then return {0, existing} end
local value = next_version(existing) .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value}
`;

/** KEYS: binding. ARGV: expected version ('' = absent), json, ttl. */
export const COMPARE_AND_SET = `${NEXT_VERSION}
local existing = ours(redis.call('GET', KEYS[1]))
local current = ''
if existing then current = string.match(existing, '^(%d+)|') end
if current ~= ARGV[1] then return {0, existing or ''} end
local value = next_version(existing) .. '|' .. ARGV[2]
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
return {1, value}
`;

/** KEYS: bindings. ARGV: json and ttl per binding. Unconditional: learned ids are facts. */
export const LEARN = `${NEXT_VERSION}
for index = 1, #KEYS do
  local value = next_version(ours(redis.call('GET', KEYS[index]))) .. '|' .. ARGV[index * 2 - 1]
  redis.call('SET', KEYS[index], value, 'PX', ARGV[index * 2])
end
return #KEYS
`;

/** KEYS: binding. ARGV: expected version. */
export const DELETE_IF = `
local existing = redis.call('GET', KEYS[1])
if not existing then return 0 end
if (string.match(existing, '^(%d+)|') or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;
