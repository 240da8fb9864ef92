/* beach-cluster.h: several managers on one Redis
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * WIRE.md "Redis keys": a manager holding a session's healthy primary link
 * owns the session (beach:{P:S}:owner, a short TTL refreshed by this
 * object's heartbeat), and any manager that accepts actions for a session
 * owned elsewhere appends them to the owner's inbox
 * (beach:instance:ID:inbox), which the owner reads and sends on its link.
 * The inbox of a manager that stops heart-beating goes to the sessions'
 * fallback queues, with its in-flight records. docs/scale-out.md has the
 * whole protocol.
 */
#pragma once

#include "beach-metrics.h"
#include "beach-redis-client.h"
#include "beach-redis-queue.h"

G_BEGIN_DECLS

#define BEACH_TYPE_CLUSTER (beach_cluster_get_type ())
G_DECLARE_FINAL_TYPE (BeachCluster, beach_cluster, BEACH, CLUSTER, GObject)

/* Defaults (WIRE.md: owner TTL 3 s). */
#define BEACH_CLUSTER_OWNER_TTL_MS_DEFAULT 3000
#define BEACH_CLUSTER_INBOX_CAP_DEFAULT    10000

/* Takes actions forwarded to this manager: entries (BeachQueueEntry*) of one
 * session in their order. The function must end @task with
 * g_task_return_boolean(): TRUE once the actions are on the link or in the
 * queue (they then leave the inbox), FALSE to be called again with them
 * later. */
typedef void (*BeachClusterDeliverFunc) (GTask *task,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         GPtrArray *entries,
                                         gpointer user_data);

/* 1 to 64 of [A-Za-z0-9_-]. */
gboolean beach_cluster_instance_id_is_valid (const gchar *instance_id);

/* @instance_id NULL: a random one. Does nothing until started. */
BeachCluster *beach_cluster_new (BeachRedisClient *client,
                                 BeachRedisQueue *queue,
                                 BeachMetrics *metrics,
                                 const gchar *prefix,
                                 const gchar *instance_id,
                                 guint owner_ttl_ms,
                                 guint inbox_cap);
const gchar *beach_cluster_get_instance_id (BeachCluster *self);
void beach_cluster_set_deliver_func (BeachCluster *self,
                                     BeachClusterDeliverFunc func,
                                     gpointer user_data);

/* Heart-beats while Redis answers: registers the instance, refreshes owned
 * sessions, reads the inbox, reclaims dead instances. The first time Redis
 * answers it also recovers the in-flight records of dead managers. */
void beach_cluster_start (BeachCluster *self);
/* Graceful: owner keys and the instance record are deleted (what is left
 * in the inbox is reclaimed by another manager at once). */
void beach_cluster_stop_async (BeachCluster *self,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean beach_cluster_stop_finish (BeachCluster *self,
                                    GAsyncResult *result,
                                    GError **error);

/* Ownership of a session whose healthy primary link is here. claim()
 * overwrites any owner (the host chose this manager); release() deletes
 * the key only while it is still ours. */
void beach_cluster_claim (BeachCluster *self,
                          const gchar *private_beach_id,
                          const gchar *session_id,
                          guint64 generation);
void beach_cluster_release (BeachCluster *self,
                            const gchar *private_beach_id,
                            const gchar *session_id);
gboolean beach_cluster_owns (BeachCluster *self,
                             const gchar *session_id);
guint beach_cluster_get_instance_count (BeachCluster *self);

/* The owner record ("INSTANCE GENERATION"), NULL when there is none. */
void beach_cluster_get_owner_async (BeachCluster *self,
                                    const gchar *private_beach_id,
                                    const gchar *session_id,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
gchar *beach_cluster_get_owner_finish (BeachCluster *self,
                                       GAsyncResult *result,
                                       GError **error);
/* Whether an owner record names this manager. */
gboolean beach_cluster_owner_is_self (BeachCluster *self,
                                      const gchar *owner);

/* Appends @actions (BeachAction*) to the inbox of the owner @owner names,
 * in one script that first checks the owner record still says @owner.
 * TRUE when they are there (durably, as Redis is); TRUE with
 * *@out_moved set when the owner changed meanwhile (nothing appended;
 * *@out_owner is the new record or NULL); FALSE with BEACH_ERROR_QUEUE_FULL
 * when the inbox is at its cap, BEACH_ERROR_UNAVAILABLE when Redis is away. */
void beach_cluster_forward_async (BeachCluster *self,
                                  const gchar *private_beach_id,
                                  const gchar *session_id,
                                  const gchar *owner,
                                  GPtrArray *actions,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean beach_cluster_forward_finish (BeachCluster *self,
                                       GAsyncResult *result,
                                       gboolean *out_moved,
                                       gchar **out_owner,
                                       GError **error);

G_END_DECLS
