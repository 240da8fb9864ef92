/* beach-redis-private.h: the parsers of Redis replies, exposed for
 * fuzz/fuzz-redis-reply.c
 *
 * Redis replies are outside input: these are the functions that read the
 * reply trees of the queue scripts, XRANGE and HGETALL. Thin wrappers over
 * the static functions of beach-redis-client.c, beach-redis-queue.c and
 * beach-session-store.c; the daemon itself does not call them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <hiredis/hiredis.h>

#include "beach-fallback-queue.h"
#include "beach-redis-client.h"
#include "beach-session-store.h"

G_BEGIN_DECLS

/* A deep copy of a hiredis reply tree, as the client hands replies out. */
BeachRedisReply *beach_redis_reply_new_from_hiredis (const redisReply *reply);

/* Takes @reply: NULL with an error unless it is an array of at least
 * @min_elements; an ERROR reply becomes the error. */
BeachRedisReply *beach_redis_queue_finish_reply (BeachRedisReply *reply,
                                                 guint min_elements,
                                                 GError **error);
/* The (depth, delivered) pair at @index, @index + 1. */
gboolean beach_redis_queue_parse_stats (const BeachRedisReply *reply,
                                        guint index,
                                        BeachQueueStats *out,
                                        GError **error);
/* Dead-lettered ids at @index, {id, enqueued_ms} pairs at @index + 1. */
gboolean beach_redis_queue_collect_removed (const BeachRedisReply *reply,
                                            guint index,
                                            BeachQueueOutbox *out,
                                            GError **error);
/* {entry id, action JSON, enqueued_ms, deliveries}; NULL without an error
 * for an action that does not parse. */
BeachQueueEntry *beach_redis_queue_parse_entry (const gchar *session_id,
                                                const BeachRedisReply *reply,
                                                GError **error);
/* One XRANGE entry of a dead stream; NULL without an error for a letter
 * that does not parse. */
BeachDeadLetter *beach_redis_queue_parse_dead_letter (const gchar *session_id,
                                                      const BeachRedisReply *item,
                                                      GError **error);
/* "{P:S}" → P, S. */
gboolean beach_redis_queue_parse_tag (const gchar *tag,
                                      gsize len,
                                      gchar **out_private_beach_id,
                                      gchar **out_session_id);

/* A stored session hash (HGETALL reply). */
BeachStoredSession *beach_session_store_parse_stored (const BeachRedisReply *reply,
                                                      GError **error);

G_END_DECLS
