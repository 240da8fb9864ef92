/* beach-cluster-scripts.h: the Lua scripts of several managers on one Redis
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Included by beach-cluster.c only. Unlike the queue's scripts, forward
 * touches keys of two hash slots (a session's owner record and an
 * instance's inbox) and liveness builds key names: they need one Redis, not
 * a Redis Cluster (docs/scale-out.md).
 */
#pragma once

#include <glib.h>

/* clang-format off */

/* KEYS alive, instances, then owner records. ARGV ttl_ms, instance id,
 * then the owner value of each record. The heartbeat: the alive key and
 * the instance's membership, and every owner record still ours or gone
 * (expired while we stalled) is set again with a fresh TTL. A record
 * another manager holds now is left alone. Returns {whether the alive key
 * was still there, {indexes (1 = the first record) of records lost}}. */
static const gchar beach_cluster_script_heartbeat[] =
  "local ttl, me = ARGV[1], ARGV[2]\n"
  "local was = redis.call ('EXISTS', KEYS[1])\n"
  "redis.call ('SET', KEYS[1], me, 'PX', ttl)\n"
  "redis.call ('SADD', KEYS[2], me)\n"
  "local lost = {}\n"
  "for i = 3, #KEYS do\n"
  "  local v = redis.call ('GET', KEYS[i])\n"
  "  if v == false or v == ARGV[i] then\n"
  "    redis.call ('SET', KEYS[i], ARGV[i], 'PX', ttl)\n"
  "  else\n"
  "    lost[#lost + 1] = i - 2\n"
  "  end\n"
  "end\n"
  "return {was, lost}\n";

/* KEYS owner. ARGV prefix. The owner record, or nil when there is none or
 * its instance is no longer alive. */
static const gchar beach_cluster_script_owner[] =
  "local v = redis.call ('GET', KEYS[1])\n"
  "if not v then return false end\n"
  "local id = string.match (v, '^([%w_-]+) ')\n"
  "if not id or redis.call ('EXISTS', ARGV[1] .. ':instance:' .. id .. ':alive') == 0 then return false end\n"
  "return v\n";

/* KEYS owner. ARGV value. Deletes the record while it is still @value. */
static const gchar beach_cluster_script_release[] =
  "if redis.call ('GET', KEYS[1]) == ARGV[1] then\n"
  "  return redis.call ('DEL', KEYS[1])\n"
  "end\n"
  "return 0\n";

/* KEYS instances. ARGV prefix. Returns {live ids, dead ids}: members of
 * the set whose PREFIX:instance:ID:alive key is there, and the others. */
static const gchar beach_cluster_script_liveness[] =
  "local live, dead = {}, {}\n"
  "for _, id in ipairs (redis.call ('SMEMBERS', KEYS[1])) do\n"
  "  if redis.call ('EXISTS', ARGV[1] .. ':instance:' .. id .. ':alive') == 1 then\n"
  "    live[#live + 1] = id\n"
  "  else\n"
  "    dead[#dead + 1] = id\n"
  "  end\n"
  "end\n"
  "return {live, dead}\n";

/* KEYS owner, inbox, the owner's alive key. ARGV expected owner value,
 * private beach id, session id, now_ms, inbox cap, wake channel, wake
 * payload, then (id, action JSON, expires_ms or -1) per action. Appends the
 * actions to the inbox only while the owner record is still @expected, its
 * instance is alive, and the inbox has room. An instance whose alive key
 * expired gets nothing more: its inbox may be reclaimed (and forgotten) at
 * any moment. Returns {0, appended}, {1, the owner record now or ""} when
 * it changed (or its instance is dead), or {2, inbox length} when the call
 * does not fit. */
static const gchar beach_cluster_script_forward[] =
  "local cur = redis.call ('GET', KEYS[1])\n"
  "if cur ~= ARGV[1] then return {1, cur or ''} end\n"
  "if redis.call ('EXISTS', KEYS[3]) == 0 then return {1, ''} end\n"
  "local n = math.floor ((#ARGV - 7) / 3)\n"
  "local len = redis.call ('XLEN', KEYS[2])\n"
  "if len + n > tonumber (ARGV[5]) then return {2, len} end\n"
  "for i = 1, n do\n"
  "  local b = 3 * i + 5\n"
  "  redis.call ('XADD', KEYS[2], '*', 'p', ARGV[2], 's', ARGV[3], 'id', ARGV[b],\n"
  "              'action', ARGV[b + 1], 'enqueued_ms', ARGV[4], 'expires_ms', ARGV[b + 2])\n"
  "end\n"
  "if n > 0 then redis.call ('PUBLISH', ARGV[6], ARGV[7]) end\n"
  "return {0, n}\n";

/* KEYS inbox. ARGV group, then entry ids. Done with these entries. */
static const gchar beach_cluster_script_done[] =
  "if #ARGV < 2 then return 0 end\n"
  "if redis.call ('EXISTS', KEYS[1]) == 0 then return 0 end\n"
  "redis.pcall ('XACK', KEYS[1], ARGV[1], unpack (ARGV, 2))\n"
  "return redis.call ('XDEL', KEYS[1], unpack (ARGV, 2))\n";

/* KEYS instances, inbox, alive, lock. ARGV the dead instance id. After a
 * reclaim: forget the instance, unless it came back meanwhile. */
static const gchar beach_cluster_script_forget[] =
  "if redis.call ('EXISTS', KEYS[3]) == 1 then return 0 end\n"
  "if redis.call ('XLEN', KEYS[2]) > 0 then return 0 end\n"
  "redis.call ('DEL', KEYS[2], KEYS[4])\n"
  "redis.call ('SREM', KEYS[1], ARGV[1])\n"
  "return 1\n";
/* clang-format on */
