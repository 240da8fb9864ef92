/* beach-redis-scripts.h: the Lua scripts of the Redis fallback queue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Included by beach-redis-queue.c only. Every script works on one session's
 * keys (one {P:S} hash tag, so one cluster slot) and runs atomically: the
 * cap check, dedupe and XADD cannot interleave with another manager's.
 * Times are the calling manager's wall clock (ARGV), so that its timers and
 * the scripts agree on expiry; idle times are Redis's own. Each script that
 * changes a queue ends with its depth (XLEN) and delivered count (the PEL)
 * so that the caller can tell "depth-changed" without another round trip.
 */
#pragma once

#include <glib.h>

/* Shared helpers. remove() acks before it deletes, so that no id is left in
 * the PEL with a nil body (STACK.md). */
#define BEACH_REDIS_LUA_PRELUDE                                                            \
  "local G = 'hosts'\n"                                                                    \
  "local function field (f, name)\n"                                                       \
  "  if type (f) ~= 'table' then return nil end\n"                                         \
  "  for i = 1, #f - 1, 2 do\n"                                                            \
  "    if f[i] == name then return f[i + 1] end\n"                                         \
  "  end\n"                                                                                \
  "  return nil\n"                                                                         \
  "end\n"                                                                                  \
  "local function num (f, name, default)\n"                                                \
  "  return tonumber (field (f, name) or '') or default\n"                                 \
  "end\n"                                                                                  \
  "local function stats (key)\n"                                                           \
  "  if redis.call ('EXISTS', key) == 0 then return 0, 0 end\n"                            \
  "  local p = redis.pcall ('XPENDING', key, G)\n"                                         \
  "  if type (p) ~= 'table' or p.err then p = {0} end\n"                                   \
  "  local depth = redis.call ('XLEN', key)\n"                                             \
  "  return depth, math.min (p[1], depth)\n"                                               \
  "end\n"                                                                                  \
  "local function remove (key, ids, eid, aid)\n"                                           \
  "  redis.call ('XACK', key, G, eid)\n"                                                   \
  "  redis.call ('XDEL', key, eid)\n"                                                      \
  "  if aid and redis.call ('HGET', ids, aid) == eid then\n"                               \
  "    redis.call ('HDEL', ids, aid)\n"                                                    \
  "  end\n"                                                                                \
  "end\n"                                                                                  \
  "local function bury (dead, kept, f, reason, now)\n"                                     \
  "  if kept > 0 then\n"                                                                   \
  "    redis.call ('XADD', dead, 'MAXLEN', '=', kept, '*', 'id', field (f, 'id') or '',\n" \
  "                'action', field (f, 'action') or '', 'reason', reason, 'at_ms', now)\n" \
  "  end\n"                                                                                \
  "end\n"                                                                                  \
  "local function expiry (f, now)\n"                                                       \
  "  local e = num (f, 'expires_ms', -1)\n"                                                \
  "  return e >= 0 and now > e, e\n"                                                       \
  "end\n"                                                                                  \
  "local function outstanding (key, ids, id)\n"                                            \
  "  local eid = redis.call ('HGET', ids, id)\n"                                           \
  "  if eid and #redis.call ('XRANGE', key, eid, eid) == 0 then\n"                         \
  "    redis.call ('HDEL', ids, id)\n"                                                     \
  "    eid = false\n"                                                                      \
  "  end\n"                                                                                \
  "  return eid ~= false\n"                                                                \
  "end\n"                                                                                  \
  "local function ensure_group (key)\n"                                                    \
  "  local r = redis.pcall ('XGROUP', 'CREATE', key, G, '0', 'MKSTREAM')\n"                \
  "  if type (r) == 'table' and r.err\n"                                                   \
  "     and not string.find (r.err, 'BUSYGROUP', 1, true) then\n"                          \
  "    return r.err\n"                                                                     \
  "  end\n"                                                                                \
  "  return nil\n"                                                                         \
  "end\n"                                                                                  \
  "local function append (key, ids, id, action, enq, exp)\n"                               \
  "  local eid = redis.call ('XADD', key, '*', 'id', id, 'action', action,\n"              \
  "                          'enqueued_ms', enq, 'expires_ms', exp)\n"                     \
  "  redis.call ('HSET', ids, id, eid)\n"                                                  \
  "end\n"

/* KEYS actions, ids. ARGV now_ms, cap, wake channel, wake payload,
 * then (id, action JSON, expires_ms or -1) per action. An id whose entry was
 * deleted behind our back is not outstanding. Returns {1, depth, fresh} when
 * the call does not fit, else {0, flags, depth, delivered} with one flag per
 * action: 0 duplicate, 1 queued, 2 accepted but already expired. */
static const gchar beach_redis_script_enqueue[] = BEACH_REDIS_LUA_PRELUDE
  "local key, ids = KEYS[1], KEYS[2]\n"
  "local now, cap = tonumber (ARGV[1]), tonumber (ARGV[2])\n"
  "local n = math.floor ((#ARGV - 4) / 3)\n"
  "local flags, seen, fresh = {}, {}, 0\n"
  "for i = 1, n do\n"
  "  local id = ARGV[3 * i + 2]\n"
  "  local dup = seen[id] ~= nil\n"
  "  if not dup then\n"
  "    local eid = redis.call ('HGET', ids, id)\n"
  "    if eid and #redis.call ('XRANGE', key, eid, eid) == 0 then\n"
  "      redis.call ('HDEL', ids, id)\n"
  "      eid = false\n"
  "    end\n"
  "    dup = eid ~= false\n"
  "    seen[id] = true\n"
  "  end\n"
  "  if dup then flags[i] = 0 else flags[i] = 1; fresh = fresh + 1 end\n"
  "end\n"
  "local depth = 0\n"
  "if redis.call ('EXISTS', key) == 1 then depth = redis.call ('XLEN', key) end\n"
  "if depth + fresh > cap then return {1, depth, fresh} end\n"
  "local added = 0\n"
  "for i = 1, n do\n"
  "  local b = 3 * i + 2\n"
  "  local exp = tonumber (ARGV[b + 2]) or -1\n"
  "  if flags[i] == 1 and exp >= 0 and now > exp then\n"
  "    flags[i] = 2\n"
  "  elseif flags[i] == 1 then\n"
  "    if added == 0 then\n"
  "      local r = redis.pcall ('XGROUP', 'CREATE', key, G, '0', 'MKSTREAM')\n"
  "      if type (r) == 'table' and r.err and not string.find (r.err, 'BUSYGROUP', 1, true) then\n"
  "        return redis.error_reply (r.err)\n"
  "      end\n"
  "    end\n"
  "    local eid = redis.call ('XADD', key, '*', 'id', ARGV[b], 'action', ARGV[b + 1],\n"
  "                            'enqueued_ms', ARGV[1], 'expires_ms', ARGV[b + 2])\n"
  "    redis.call ('HSET', ids, ARGV[b], eid)\n"
  "    added = added + 1\n"
  "  end\n"
  "end\n"
  "if added > 0 then redis.call ('PUBLISH', ARGV[3], ARGV[4]) end\n"
  "local d, p = stats (key)\n"
  "return {0, flags, d, p}\n";

/* KEYS actions, ids. ARGV now_ms, wake channel, wake payload, then (id,
 * action JSON, expires_ms or -1, enqueued_ms) per entry. Demotion: like
 * enqueue, but the cap is not checked (the actions were accepted already)
 * and each entry keeps the enqueued_ms it was accepted at. Returns {flags,
 * depth, delivered} with one flag per entry, as enqueue's. */
static const gchar beach_redis_script_requeue[] = BEACH_REDIS_LUA_PRELUDE
  "local key, ids = KEYS[1], KEYS[2]\n"
  "local now = tonumber (ARGV[1])\n"
  "local n = math.floor ((#ARGV - 3) / 4)\n"
  "local flags, seen, added = {}, {}, 0\n"
  "for i = 1, n do\n"
  "  local b = 4 * i\n"
  "  local id = ARGV[b]\n"
  "  local dup = seen[id] ~= nil\n"
  "  if not dup then\n"
  "    dup = outstanding (key, ids, id)\n"
  "    seen[id] = true\n"
  "  end\n"
  "  local exp = tonumber (ARGV[b + 2]) or -1\n"
  "  if dup then\n"
  "    flags[i] = 0\n"
  "  elseif exp >= 0 and now > exp then\n"
  "    flags[i] = 2\n"
  "  else\n"
  "    flags[i] = 1\n"
  "    if added == 0 then\n"
  "      local err = ensure_group (key)\n"
  "      if err then return redis.error_reply (err) end\n"
  "    end\n"
  "    append (key, ids, id, ARGV[b + 1], ARGV[b + 3], ARGV[b + 2])\n"
  "    added = added + 1\n"
  "  end\n"
  "end\n"
  "if added > 0 then redis.call ('PUBLISH', ARGV[2], ARGV[3]) end\n"
  "local d, p = stats (key)\n"
  "return {flags, d, p}\n";

/* KEYS actions, ids, dead (unused), inflight. ARGV now_ms, wake channel,
 * wake payload, this manager's instance id, when it started (ms), then the
 * ids of the live manager instances.
 * Recovery of dead managers' fast-path in-flight records (hash: action id
 * -> {"seq","sent_ms","enqueued_ms","expires_ms","instance","action"},
 * "action" last and written by us, so that its text is taken as is rather
 * than re-encoded): a record whose "instance" is live is left alone (its
 * manager still tracks the action), unless it is ours from before our start
 * (a restart with the same instance id); the others go back to the queue in seq
 * order, like requeue (no cap, enqueued_ms kept, outstanding ids skipped,
 * expired ones settled), and their fields are deleted. A record without
 * "instance" (written before scale-out) belongs to no live manager. A
 * record that does not parse is dropped with a note. Returns {appended,
 * {{id, enqueued_ms}...} expired, unparsed ids, depth, delivered}. */
static const gchar beach_redis_script_recover[] = BEACH_REDIS_LUA_PRELUDE
  "local key, ids, inflight = KEYS[1], KEYS[2], KEYS[4]\n"
  "local now = tonumber (ARGV[1])\n"
  "local me, since = ARGV[4] or '', tonumber (ARGV[5] or '') or 0\n"
  "local live = {}\n"
  "for i = 6, #ARGV do live[ARGV[i]] = true end\n"
  "local all = redis.call ('HGETALL', inflight)\n"
  "local recs, bad = {}, {}\n"
  "for i = 1, #all - 1, 2 do\n"
  "  local id, v = all[i], all[i + 1]\n"
  "  local ok, r = pcall (cjson.decode, v)\n"
  "  local at = string.find (v, '\"action\":', 1, true)\n"
  "  if ok and type (r) == 'table' and type (r.instance) == 'string' and live[r.instance]\n"
  "     and not (r.instance == me and (tonumber (r.sent_ms) or 0) < since) then\n"
  "    -- a live manager's: not ours to take\n"
  "  elseif ok and type (r) == 'table' and tonumber (r.seq) and at then\n"
  "    recs[#recs + 1] = {id = id, seq = tonumber (r.seq),\n"
  "                       enq = tonumber (r.enqueued_ms) or now,\n"
  "                       exp = tonumber (r.expires_ms) or -1,\n"
  "                       action = string.sub (v, at + 9, #v - 1)}\n"
  "  else\n"
  "    bad[#bad + 1] = id\n"
  "  end\n"
  "end\n"
  "table.sort (recs, function (a, b) return a.seq < b.seq end)\n"
  "local added, expired = 0, {}\n"
  "for _, r in ipairs (recs) do\n"
  "  if not outstanding (key, ids, r.id) then\n"
  "    if r.exp >= 0 and now > r.exp then\n"
  "      expired[#expired + 1] = {r.id, r.enq}\n"
  "    else\n"
  "      if added == 0 then\n"
  "        local err = ensure_group (key)\n"
  "        if err then return redis.error_reply (err) end\n"
  "      end\n"
  "      append (key, ids, r.id, r.action, string.format ('%d', r.enq), string.format ('%d', r.exp))\n"
  "      added = added + 1\n"
  "    end\n"
  "  end\n"
  "end\n"
  "for _, r in ipairs (recs) do redis.call ('HDEL', inflight, r.id) end\n"
  "for _, id in ipairs (bad) do redis.call ('HDEL', inflight, id) end\n"
  "if added > 0 then redis.call ('PUBLISH', ARGV[2], ARGV[3]) end\n"
  "local d, p = stats (key)\n"
  "return {added, expired, bad, d, p}\n";

/* KEYS actions, ids, dead. ARGV consumer, max, reclaim_ms,
 * max_deliveries, dead_letters_kept, now_ms. Reclaims entries idle past
 * reclaim_ms first (their ids precede every undelivered one, so the result
 * stays in stream order), then reads new ones. XAUTOCLAIM has already
 * counted the delivery, so a count past max_deliveries means the last one
 * went unacked. Returns {{entry id, action, enqueued_ms, deliveries}...,
 * dead-lettered ids, {{id, enqueued_ms}...} expired, depth, delivered}. */
static const gchar beach_redis_script_read[] = BEACH_REDIS_LUA_PRELUDE
  "local key, ids, dead = KEYS[1], KEYS[2], KEYS[3]\n"
  "local consumer, max = ARGV[1], tonumber (ARGV[2])\n"
  "local reclaim, maxdel = ARGV[3], tonumber (ARGV[4])\n"
  "local kept, now = tonumber (ARGV[5]), tonumber (ARGV[6])\n"
  "local out, buried, expired = {}, {}, {}\n"
  "if max < 1 or redis.call ('EXISTS', key) == 0 then return {out, buried, expired, 0, 0} end\n"
  "local function take (eid, f, count)\n"
  "  local enq = num (f, 'enqueued_ms', 0)\n"
  "  if expiry (f, now) then\n"
  "    remove (key, ids, eid, field (f, 'id'))\n"
  "    expired[#expired + 1] = {field (f, 'id') or '', enq}\n"
  "  else\n"
  "    out[#out + 1] = {eid, field (f, 'action') or '', enq, count}\n"
  "  end\n"
  "end\n"
  "local cursor = '0-0'\n"
  "repeat\n"
  "  local r = redis.call ('XAUTOCLAIM', key, G, consumer, reclaim, cursor, 'COUNT', max - #out)\n"
  "  cursor = r[1]\n"
  "  for i = 1, #r[2] do\n"
  "    local e = r[2][i]\n"
  "    if type (e) == 'table' and type (e[2]) == 'table' then\n"
  "      local eid, f = e[1], e[2]\n"
  "      local p = redis.call ('XPENDING', key, G, eid, eid, 1)\n"
  "      local count = 1\n"
  "      if p[1] then count = p[1][4] end\n"
  "      if count > maxdel then\n"
  "        bury (dead, kept, f, 'max_deliveries', now)\n"
  "        remove (key, ids, eid, field (f, 'id'))\n"
  "        buried[#buried + 1] = field (f, 'id') or ''\n"
  "      else\n"
  "        take (eid, f, count)\n"
  "      end\n"
  "    elseif type (e) == 'table' then\n"
  "      redis.call ('XACK', key, G, e[1])\n"
  "    end\n"
  "  end\n"
  "  for _, eid in ipairs (r[3] or {}) do\n"
  "    redis.call ('XACK', key, G, eid)\n"
  "  end\n"
  "until cursor == '0-0' or #out >= max\n"
  "while #out < max do\n"
  "  local r = redis.call ('XREADGROUP', 'GROUP', G, consumer, 'COUNT', max - #out, 'STREAMS', key, '>')\n"
  "  if not r or not r[1] or #r[1][2] == 0 then break end\n"
  "  for _, e in ipairs (r[1][2]) do\n"
  "    if type (e[2]) == 'table' then take (e[1], e[2], 1) end\n"
  "  end\n"
  "end\n"
  "local d, p = stats (key)\n"
  "return {out, buried, expired, d, p}\n";

/* KEYS actions, ids, dead. ARGV reclaim_ms, max_deliveries,
 * dead_letters_kept, now_ms, wake channel, wake payload. What the queue's
 * timer does when nobody reads: dead-letters or expires entries idle past
 * reclaim_ms, expires undelivered entries, publishes a wake when entries are
 * due for redelivery. Returns {dead-lettered ids, expired, ms until the next
 * due moment or -1, woke, depth, delivered}. */
static const gchar beach_redis_script_maintain[] = BEACH_REDIS_LUA_PRELUDE
  "local key, ids, dead = KEYS[1], KEYS[2], KEYS[3]\n"
  "local reclaim, maxdel = tonumber (ARGV[1]), tonumber (ARGV[2])\n"
  "local kept, now = tonumber (ARGV[3]), tonumber (ARGV[4])\n"
  "local buried, expired, next_ms, wake = {}, {}, -1, 0\n"
  "if redis.call ('EXISTS', key) == 0 then return {buried, expired, -1, 0, 0, 0} end\n"
  "local function due (ms)\n"
  "  if ms < 0 then ms = 0 end\n"
  "  if next_ms < 0 or ms < next_ms then next_ms = ms end\n"
  "end\n"
  "local function settle (eid, f)\n"
  "  remove (key, ids, eid, field (f, 'id'))\n"
  "  expired[#expired + 1] = {field (f, 'id') or '', num (f, 'enqueued_ms', 0)}\n"
  "end\n"
  "local start = '-'\n"
  "repeat\n"
  "  local pel = redis.call ('XPENDING', key, G, start, '+', 100)\n"
  "  for _, p in ipairs (pel) do\n"
  "    local eid, idle, count = p[1], p[3], p[4]\n"
  "    if idle < reclaim then\n"
  "      due (reclaim - idle)\n"
  "    else\n"
  "      local r = redis.call ('XRANGE', key, eid, eid)\n"
  "      local f = r[1] and r[1][2]\n"
  "      if type (f) ~= 'table' then\n"
  "        redis.call ('XACK', key, G, eid)\n"
  "      elseif count >= maxdel then\n"
  "        bury (dead, kept, f, 'max_deliveries', now)\n"
  "        remove (key, ids, eid, field (f, 'id'))\n"
  "        buried[#buried + 1] = field (f, 'id') or ''\n"
  "      else\n"
  "        local gone, exp = expiry (f, now)\n"
  "        if gone then\n"
  "          settle (eid, f)\n"
  "        else\n"
  "          wake = 1\n"
  "          if exp >= 0 then due (exp + 1 - now) end\n"
  "        end\n"
  "      end\n"
  "    end\n"
  "  end\n"
  "  if #pel > 0 then start = '(' .. pel[#pel][1] end\n"
  "until #pel < 100\n"
  "local last = '0-0'\n"
  "for _, g in ipairs (redis.call ('XINFO', 'GROUPS', key)) do\n"
  "  if field (g, 'name') == G then last = field (g, 'last-delivered-id') or last end\n"
  "end\n"
  "start = '(' .. last\n"
  "repeat\n"
  "  local batch = redis.call ('XRANGE', key, start, '+', 'COUNT', 100)\n"
  "  for _, e in ipairs (batch) do\n"
  "    local gone, exp = expiry (e[2], now)\n"
  "    if gone then\n"
  "      settle (e[1], e[2])\n"
  "    elseif exp >= 0 then\n"
  "      due (exp + 1 - now)\n"
  "    end\n"
  "  end\n"
  "  if #batch > 0 then start = '(' .. batch[#batch][1] end\n"
  "until #batch < 100\n"
  "if wake == 1 then redis.call ('PUBLISH', ARGV[5], ARGV[6]) end\n"
  "local d, p = stats (key)\n"
  "return {buried, expired, next_ms, wake, d, p}\n";

/* KEYS actions, ids. ARGV wake channel, wake payload, then the acked ids.
 * When an ack empties the queue, a wake-up tells the other managers that
 * its depth changed (they learn of growth from the enqueue's). Returns
 * {{index of the acked id (1 = the first), enqueued_ms}... settled, depth,
 * delivered}. */
static const gchar beach_redis_script_ack[] = BEACH_REDIS_LUA_PRELUDE
  "local key, ids = KEYS[1], KEYS[2]\n"
  "local settled = {}\n"
  "for i = 3, #ARGV do\n"
  "  local eid = redis.call ('HGET', ids, ARGV[i])\n"
  "  if eid then\n"
  "    local r = redis.call ('XRANGE', key, eid, eid)\n"
  "    remove (key, ids, eid, ARGV[i])\n"
  "    if r[1] then settled[#settled + 1] = {i - 2, num (r[1][2], 'enqueued_ms', 0)} end\n"
  "  end\n"
  "end\n"
  "local d, p = stats (key)\n"
  "if #settled > 0 and d == 0 then redis.call ('PUBLISH', ARGV[1], ARGV[2]) end\n"
  "return {settled, d, p}\n";

/* KEYS actions. Returns {depth, delivered}. */
static const gchar beach_redis_script_stats[] = BEACH_REDIS_LUA_PRELUDE
  "local d, p = stats (KEYS[1])\n"
  "return {d, p}\n";

/* KEYS actions, ids, dead, inflight. Returns {outstanding ids in order,
 * 0, 0} and deletes the session's keys, its dead letters and its fast-path
 * in-flight records included (a deleted session has nothing to recover). */
static const gchar beach_redis_script_drop[] = BEACH_REDIS_LUA_PRELUDE
  "local gone = {}\n"
  "if redis.call ('EXISTS', KEYS[1]) == 1 then\n"
  "  for _, e in ipairs (redis.call ('XRANGE', KEYS[1], '-', '+')) do\n"
  "    gone[#gone + 1] = field (e[2], 'id') or ''\n"
  "  end\n"
  "end\n"
  "redis.call ('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])\n"
  "return {gone, 0, 0}\n";
