"""The Lua scripts behind login sessions (``service/auth/sessions.py``), one round trip each.

Each runs atomically in Redis: a check and the change it guards cannot be
split by another instance's request. Each touches only keys it is given in
KEYS, all under one account's hash tag (``session_keys``): one Redis Cluster
slot. The cookie record of a cookie login lives in another slot, so a script
that ends sessions returns those records' keys for the caller to delete.

Session fields, short because every byte is paid per session (a hash of a
few short fields stays a listpack): ``s`` last seen, ``c`` the client that
last logged in or refreshed with it, packed (``session_keys.pack_client``:
the live refresh token's handle, the digest of the client's user agent,
which is itself stored once per deployment outside the scripts, and its
address), ``f`` a cookie login's cookie record key; after a refresh ``t``
when the previous token was spent (seconds) and ``g`` by whom (a
fingerprint). A record written before ``c`` has ``r``, ``a`` and ``i``
instead, read as ``c``'s parts until its next refresh replaces them. Ids are
short ids. Times are Redis's clock in microseconds, written as integers: the
index's score is the creation time. ``TIME``'s two parts are joined as text,
since Lua's numbers print a 16-digit integer in exponent notation.
"""

# One round trip per authenticated request: the check and the last-seen
# update together, atomically (the HSET cannot recreate a deleted record).
# The update is skipped while the recorded time is less than ARGV[1]
# microseconds old: most requests then write nothing, so nothing to fsync
# to the AOF or replicate. KEYS: the session.
TOUCH = """
local seen = redis.call('HGET', KEYS[1], 's')
if not seen then return 0 end
local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', t[2])
if tonumber(seen) + tonumber(ARGV[1]) < tonumber(now) then redis.call('HSET', KEYS[1], 's', now) end
return 1
"""

# Record a login. KEYS: the session, the index; ARGV: ttl, limit, the
# session's short id, then the record's field/value pairs. Ordered by Redis's
# clock, not the instances' (which may disagree). Returns the index's oldest
# members beyond the limit, for the caller to end (their keys were not given
# here). The user agent is stored after it: its key is in its own slot.
START = """
local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', t[2])
redis.call('HSET', KEYS[1], 's', now, unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if excess > 0 then return redis.call('ZRANGE', KEYS[2], 0, excess - 1) end
return {}
"""

# Spend the presented refresh token. Atomic, so two concurrent refreshes with
# one token cannot both see it live. KEYS: the session, the index; ARGV: the
# presented token's handle (``session_keys.refresh_handle``), its
# successor's, ttl, the session's short id, the client's fingerprint, the
# grace in seconds, the record's new ``c`` (the successor's handle, the
# client's agent digest and address: the caller stores the agent after a
# rotation). The first use records when (t, Redis's clock, so instances
# agree) and by whom (g), and the client's address and user agent together:
# the session list shows the last client that used the session, never one
# client's agent with another's address. The same client presenting it again
# within the grace, while the successor is still the live one, is told to
# re-issue that successor (2 and the first use's time): the family never
# forks. The spent id itself need not be kept: a successor id is a digest of
# its predecessor's, so a live successor equal to the presented token's names
# the presented token as the one just spent. Anything else spent is reuse,
# treated as theft: the whole session is revoked (-1, and the key of a
# cookie record to delete, if any). The live handle is the start of ``c``, or
# of ``r`` in a record written before ``c`` (whose ``r``, ``a`` and ``i``
# the rotation replaces).
ROTATE = """
local s = redis.call('HMGET', KEYS[1], 's', 'c', 'f', 't', 'g', 'r')
if not s[1] then return {0, 0} end
local live = string.sub(s[2] or s[6] or '', 1, string.len(ARGV[1]))
local t = redis.call('TIME')
local now = tonumber(t[1])
if live == ARGV[1] then
  local seen = t[1] .. string.format('%06d', t[2])
  redis.call('HSET', KEYS[1], 'c', ARGV[7], 's', seen, 't', t[1], 'g', ARGV[5])
  if s[6] then redis.call('HDEL', KEYS[1], 'r', 'a', 'i') end
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return {1, now}
end
local grace = tonumber(ARGV[6])
if grace > 0 and s[4] and live == ARGV[2] and s[5] == ARGV[5]
    and now - tonumber(s[4]) <= grace then
  return {2, tonumber(s[4])}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[4])
return {-1, 0, s[3]}
"""

# End sessions of one account. KEYS: the index, then the sessions' keys;
# ARGV: their short ids, in the same order. Returns how many existed, then
# the keys of their cookie records, for the caller to delete.
END = """
local ended, records = 0, {}
for i = 2, #KEYS do
  local record = redis.call('HGET', KEYS[i], 'f')
  if record then records[#records + 1] = record end
  ended = ended + redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[1], ARGV[i - 1])
end
return {ended, unpack(records)}
"""
