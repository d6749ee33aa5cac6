/**
 * Lua scripts of the Redis binding store. Every script touches the keys of one
 * partition only (they share a hash tag), so each runs on one Cluster slot.
 * A stored value is "<version>|<json>"; versions come from the partition's
 * counter key, so a re-created key never repeats a version a reader holds.
 */

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

/** KEYS: binding, counter. ARGV: json, ttl, counter ttl. First writer wins. */
export const CREATE = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
local version = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local value = version .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value}
`;

/** KEYS: binding, counter. ARGV: expected version ('' = absent), json, ttl, counter ttl. */
export const COMPARE_AND_SET = `
local existing = redis.call('GET', KEYS[1])
local current = ''
if existing then current = string.match(existing, '^(%d+)|') or '' end
if current ~= ARGV[1] then return {0, existing or ''} end
local version = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local value = version .. '|' .. ARGV[2]
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
return {1, value}
`;

/** KEYS: bindings..., counter (last). ARGV: counter ttl, then json and ttl per binding. Unconditional. */
export const LEARN = `
local count = #KEYS - 1
local last = redis.call('INCRBY', KEYS[#KEYS], count)
redis.call('PEXPIRE', KEYS[#KEYS], ARGV[1])
for index = 1, count do
  local version = last - count + index
  redis.call('SET', KEYS[index], version .. '|' .. ARGV[index * 2], 'PX', ARGV[index * 2 + 1])
end
return count
`;

/** KEYS: binding. ARGV: expected version. */
export const DELETE_IF = `
local existing = redis.call('GET', KEYS[1])
if not existing then return 0 end
if (string.match(existing, '^(%d+)|') or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;
