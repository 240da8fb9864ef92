/* beach-redis-queue.h: the fallback queue on Redis Streams
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-fallback-queue.h"
#include "beach-redis-client.h"

G_BEGIN_DECLS

#define BEACH_TYPE_REDIS_QUEUE (beach_redis_queue_get_type ())
G_DECLARE_FINAL_TYPE (BeachRedisQueue, beach_redis_queue, BEACH, REDIS_QUEUE, BeachFallbackQueue)

/* Keys live under @prefix ("beach" when NULL), as in WIRE.md "Redis keys".
 * The queue holds a reference on @client and subscribes to the wake-ups
 * of its prefix; the caller starts and stops the client. Timers, replies
 * and signals run on the thread-default main context at construction. */
BeachRedisQueue *beach_redis_queue_new (BeachRedisClient *client,
                                        const gchar *prefix,
                                        const BeachQueueConfig *config);

void beach_redis_queue_set_instance_id (BeachRedisQueue *self,
                                        const gchar *instance_id);
void beach_redis_queue_recover_async (BeachRedisQueue *self,
                                      const gchar *const *live_instances,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);

G_END_DECLS
