"""The Lua scripts behind login sessions (``service/auth/sessions.py``), one round trip each.

Each runs atomically in Redis: a check and the change it guards cannot be
split by another instance's request. Record fields: ``uid`` the account's
``redis_name`` (``"<id>:<account key>"``), ``seen`` the last-seen time,
``rt`` the live refresh token's id, ``fs`` the key of a cookie login's
cookie record.
"""

# One round trip per authenticated request: the check and the last-seen
# update together, atomically (the HSET cannot recreate a deleted record).
# The update is skipped while the recorded time is newer than ARGV[3]: most
# requests then write nothing, so nothing to fsync to the AOF or replicate.
# ISO times in UTC with microseconds compare as strings in time order.
TOUCH = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'seen')
if s[1] ~= ARGV[1] then return 0 end
if not s[2] or s[2] < ARGV[3] then redis.call('HSET', KEYS[1], 'seen', ARGV[2]) end
return 1
"""

# Record a login unless the password changed meanwhile (see password_epochs),
# and end the oldest sessions beyond the user's limit. KEYS: the session, the
# index, the password epoch; ARGV: ttl, limit, sid, session key prefix, the
# epoch the login read, then the record's field/value pairs. Ordered by
# Redis's clock, not the instances' (which may disagree). Returns -1 when the
# epoch changed, else 1 plus the number of sessions it ended.
START = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[5] then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local now = redis.call('TIME')
redis.call('ZADD', KEYS[2], now[1] + now[2] / 1000000, ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
local ended = 0
if excess > 0 then
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    local key = ARGV[4] .. sid
    local fs = redis.call('HGET', key, 'fs')
    if fs then redis.call('DEL', fs) end
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], sid)
    ended = ended + 1
  end
end
return 1 + ended
"""

# Spend the presented refresh token. Atomic, so two concurrent refreshes with
# one token cannot both see it live. KEYS: the session, the index; ARGV: uid,
# the presented token id, its successor's id, now (ISO), ttl, sid, the
# client's fingerprint, the grace in seconds. The first use records the
# spent id (prt), when (rat, Redis's clock, so instances agree) and by whom
# (rcl). The same client presenting it again within the grace, while the
# successor is still the live one, is told to re-issue that successor
# (returns 2 and the first use's time): the family never forks. Anything
# else spent is reuse, treated as theft: the whole session is revoked (-1).
ROTATE = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'rt', 'fs', 'prt', 'rat', 'rcl')
if s[1] ~= ARGV[1] then return {0, 0} end
local now = tonumber(redis.call('TIME')[1])
if s[2] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'rt', ARGV[3], 'seen', ARGV[4], 'prt', ARGV[2], 'rat', now, 'rcl', ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return {1, now}
end
local grace = tonumber(ARGV[8])
if grace > 0 and s[4] == ARGV[2] and s[2] == ARGV[3] and s[6] == ARGV[7]
    and now - tonumber(s[5]) <= grace then
  return {2, tonumber(s[5])}
end
redis.call('DEL', KEYS[1])
if s[3] then redis.call('DEL', s[3]) end
redis.call('ZREM', KEYS[2], ARGV[6])
return {-1, 0}
"""

# End one session if it belongs to the user; its cookie record goes with it.
END_ONE = """
local s = redis.call('HMGET', KEYS[1], 'uid', 'fs')
redis.call('ZREM', KEYS[2], ARGV[2])
if s[1] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if s[2] then redis.call('DEL', s[2]) end
return 1
"""

# End every session of the user but ARGV[2] (empty: all of them).
END_ALL = """
local ended = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= ARGV[2] then
    local key = ARGV[1] .. sid
    local fs = redis.call('HGET', key, 'fs')
    if fs then redis.call('DEL', fs) end
    ended = ended + redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], sid)
  end
end
return ended
"""
