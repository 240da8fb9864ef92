/* beach-fallback-queue.c: the bounded fallback queue, abstract
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-fallback-queue"

#include "config.h"

#include "beach-fallback-queue.h"

/**
 * BeachFallbackQueue:
 *
 * The per-session queue that serves hosts over HTTP when the fast path
 * cannot. Backends subclass it and implement every vfunc; the base holds the
 * config and the signals, so that the router, the metrics and the event hub
 * listen to one object whatever the backend.
 */

typedef struct {
  BeachQueueConfig config;
} BeachFallbackQueuePrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (BeachFallbackQueue, beach_fallback_queue, G_TYPE_OBJECT)

enum {
  SIGNAL_WAKE,
  SIGNAL_SETTLED,
  SIGNAL_DEAD_LETTERED,
  SIGNAL_DELIVERED,
  SIGNAL_DEPTH_CHANGED,
  SIGNAL_AVAILABILITY_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * beach_queue_config_init_defaults:
 * @config: (out caller-allocates): the config to fill
 *
 * Fills @config with the defaults of the wire contract: 500 unacked entries
 * per session, redelivery after 5 s idle, dead-lettering after 5
 * deliveries, 10,000 dead letters kept per session.
 */
void
beach_queue_config_init_defaults (BeachQueueConfig *config)
{
  g_return_if_fail (config != NULL);

  config->cap = 500;
  config->reclaim_ms = 5000;
  config->max_deliveries = 5;
  config->dead_letters_kept = 10000;
}

/**
 * beach_queue_entry_free:
 * @entry: (nullable) (transfer full): an entry handed out by a read
 */
void
beach_queue_entry_free (BeachQueueEntry *entry)
{
  if (entry == NULL)
    return;
  g_clear_object (&entry->action);
  g_free (entry);
}

/**
 * beach_dead_letter_free:
 * @letter: (nullable) (transfer full): a dead letter
 */
void
beach_dead_letter_free (BeachDeadLetter *letter)
{
  if (letter == NULL)
    return;
  g_clear_pointer (&letter->id, g_free);
  g_clear_object (&letter->action);
  g_free (letter);
}

/* Defaults of the optional vfuncs: nothing is kept, nothing recovered. */
static void
default_track_in_flight (BeachFallbackQueue *self,
                         const gchar *private_beach_id,
                         const gchar *session_id,
                         BeachAction *action,
                         gint64 enqueued_ms,
                         guint64 seq)
{
}

static void
default_untrack_in_flight (BeachFallbackQueue *self,
                           const gchar *private_beach_id,
                           const gchar *session_id,
                           const gchar *action_id)
{
}

static void
default_recover_in_flight_async (BeachFallbackQueue *self,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, default_recover_in_flight_async);
  g_task_return_int (task, 0);
}

static gboolean
default_recover_in_flight_finish (BeachFallbackQueue *self,
                                  GAsyncResult *result,
                                  guint *out_requeued,
                                  GError **error)
{
  gssize n;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  n = g_task_propagate_int (G_TASK (result), error);
  if (n < 0)
    return FALSE;
  if (out_requeued != NULL)
    *out_requeued = (guint) n;
  return TRUE;
}

static void
beach_fallback_queue_class_init (BeachFallbackQueueClass *klass)
{
  GType type = G_TYPE_FROM_CLASS (klass);

  klass->track_in_flight = default_track_in_flight;
  klass->untrack_in_flight = default_untrack_in_flight;
  klass->recover_in_flight_async = default_recover_in_flight_async;
  klass->recover_in_flight_finish = default_recover_in_flight_finish;

  /* No class closures: the class struct is frozen, and backends emit
   * through the helpers below rather than overriding handlers. */
  signals[SIGNAL_WAKE] = g_signal_new ("wake", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_SETTLED] = g_signal_new ("settled", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 6, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                          G_TYPE_INT, G_TYPE_STRING, G_TYPE_INT64);
  signals[SIGNAL_DEAD_LETTERED] = g_signal_new ("dead-lettered", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                                G_TYPE_INT);
  signals[SIGNAL_DELIVERED] = g_signal_new ("delivered", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                            G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                                            G_TYPE_BOOLEAN);
  signals[SIGNAL_DEPTH_CHANGED] = g_signal_new ("depth-changed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_UINT,
                                                G_TYPE_UINT);
  signals[SIGNAL_AVAILABILITY_CHANGED] = g_signal_new ("availability-changed", type, G_SIGNAL_RUN_LAST, 0, NULL,
                                                       NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

static void
beach_fallback_queue_init (BeachFallbackQueue *self)
{
  BeachFallbackQueuePrivate *priv = beach_fallback_queue_get_instance_private (self);

  beach_queue_config_init_defaults (&priv->config);
}

/**
 * beach_fallback_queue_set_config:
 * @self: a #BeachFallbackQueue
 * @config: the tunables
 *
 * For subclasses, from their constructor only.
 */
void
beach_fallback_queue_set_config (BeachFallbackQueue *self, const BeachQueueConfig *config)
{
  BeachFallbackQueuePrivate *priv = beach_fallback_queue_get_instance_private (self);

  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (config != NULL);
  /* Zero here would mean a queue that refuses everything, an entry that is
   * dead-lettered before its first delivery, or a redelivery loop. */
  g_return_if_fail (config->cap >= 1);
  g_return_if_fail (config->max_deliveries >= 1);
  g_return_if_fail (config->reclaim_ms >= 1);

  priv->config = *config;
}

/**
 * beach_fallback_queue_get_config:
 * @self: a #BeachFallbackQueue
 *
 * Returns: (transfer none): the tunables, fixed for the queue's lifetime
 */
const BeachQueueConfig *
beach_fallback_queue_get_config (BeachFallbackQueue *self)
{
  BeachFallbackQueuePrivate *priv;

  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), NULL);
  priv = beach_fallback_queue_get_instance_private (self);
  return &priv->config;
}

/**
 * beach_fallback_queue_enqueue_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @actions: (element-type BeachAction): the actions, in order
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the call is settled
 * @user_data: data for @callback
 *
 * Appends @actions to the session's queue, all or nothing; see
 * #BeachFallbackQueueClass.enqueue_async.
 */
void
beach_fallback_queue_enqueue_async (BeachFallbackQueue *self,
                                    const gchar *private_beach_id,
                                    const gchar *session_id,
                                    GPtrArray *actions,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (actions != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->enqueue_async (self, private_beach_id, session_id, actions, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_enqueue_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @out_accepted_ids: (out) (optional) (transfer full): ids appended (or
 *   settled `expired` at once), in order
 * @out_duplicate_ids: (out) (optional) (transfer full): ids refused as
 *   duplicates, in order
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the call was accepted; %FALSE with
 *   %BEACH_ERROR_QUEUE_FULL or %BEACH_ERROR_UNAVAILABLE, nothing written
 */
gboolean
beach_fallback_queue_enqueue_finish (BeachFallbackQueue *self,
                                     GAsyncResult *result,
                                     GStrv *out_accepted_ids,
                                     GStrv *out_duplicate_ids,
                                     GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->enqueue_finish (self, result, out_accepted_ids, out_duplicate_ids, error);
}

/**
 * beach_fallback_queue_read_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @consumer: the reader's name (Redis: the group consumer)
 * @max: at most this many entries
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the entries
 * @user_data: data for @callback
 *
 * Hands out readable entries; see #BeachFallbackQueueClass.read_async.
 */
void
beach_fallback_queue_read_async (BeachFallbackQueue *self,
                                 const gchar *private_beach_id,
                                 const gchar *session_id,
                                 const gchar *consumer,
                                 guint max,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (consumer != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->read_async (self, private_beach_id, session_id, consumer, max, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_read_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (element-type BeachQueueEntry) (nullable): the
 *   entries in enqueue order, possibly none; %NULL with @error set
 */
GPtrArray *
beach_fallback_queue_read_finish (BeachFallbackQueue *self,
                                  GAsyncResult *result,
                                  GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->read_finish (self, result, error);
}

/**
 * beach_fallback_queue_ack_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @acks: (element-type BeachActionAck): the acks
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the count settled
 * @user_data: data for @callback
 *
 * Settles the acked ids; every status is final.
 */
void
beach_fallback_queue_ack_async (BeachFallbackQueue *self,
                                const gchar *private_beach_id,
                                const gchar *session_id,
                                GPtrArray *acks,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (acks != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->ack_async (self, private_beach_id, session_id, acks, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_ack_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @out_settled: (out) (optional): how many ids this call settled
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
beach_fallback_queue_ack_finish (BeachFallbackQueue *self,
                                 GAsyncResult *result,
                                 guint *out_settled,
                                 GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->ack_finish (self, result, out_settled, error);
}

/**
 * beach_fallback_queue_stats_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the numbers
 * @user_data: data for @callback
 */
void
beach_fallback_queue_stats_async (BeachFallbackQueue *self,
                                  const gchar *private_beach_id,
                                  const gchar *session_id,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->stats_async (self, private_beach_id, session_id, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_stats_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @out_stats: (out caller-allocates): the numbers
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
beach_fallback_queue_stats_finish (BeachFallbackQueue *self,
                                   GAsyncResult *result,
                                   BeachQueueStats *out_stats,
                                   GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->stats_finish (self, result, out_stats, error);
}

/**
 * beach_fallback_queue_dead_letters_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @since_ms: epoch milliseconds, inclusive
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the letters
 * @user_data: data for @callback
 */
void
beach_fallback_queue_dead_letters_async (BeachFallbackQueue *self,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         gint64 since_ms,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->dead_letters_async (self, private_beach_id, session_id, since_ms, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_dead_letters_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (element-type BeachDeadLetter) (nullable): the
 *   letters oldest first, possibly none; %NULL with @error set
 */
GPtrArray *
beach_fallback_queue_dead_letters_finish (BeachFallbackQueue *self,
                                          GAsyncResult *result,
                                          GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), NULL);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->dead_letters_finish (self, result, error);
}

/**
 * beach_fallback_queue_drop_session_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @reason: why the outstanding entries are dead-lettered
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the session is gone
 * @user_data: data for @callback
 */
void
beach_fallback_queue_drop_session_async (BeachFallbackQueue *self,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         BeachDeadLetterReason reason,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->drop_session_async (self, private_beach_id, session_id, reason, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_drop_session_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
beach_fallback_queue_drop_session_finish (BeachFallbackQueue *self,
                                          GAsyncResult *result,
                                          GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->drop_session_finish (self, result, error);
}

/**
 * beach_fallback_queue_requeue_async:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @entries: (element-type BeachQueueEntry): the entries, in order; only
 *   their action and enqueued_ms are read
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the count requeued
 * @user_data: data for @callback
 *
 * Appends @entries behind what is queued, past the cap; see
 * #BeachFallbackQueueClass.requeue_async.
 */
void
beach_fallback_queue_requeue_async (BeachFallbackQueue *self,
                                    const gchar *private_beach_id,
                                    const gchar *session_id,
                                    GPtrArray *entries,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (entries != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->requeue_async (self, private_beach_id, session_id, entries, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_requeue_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @out_requeued: (out) (optional): how many entries were appended; ids
 *   already outstanding and entries settled `expired` at once are not
 *   counted
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success; %FALSE with %BEACH_ERROR_UNAVAILABLE when
 *   the backend is down, nothing written
 */
gboolean
beach_fallback_queue_requeue_finish (BeachFallbackQueue *self,
                                     GAsyncResult *result,
                                     guint *out_requeued,
                                     GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->requeue_finish (self, result, out_requeued, error);
}

/**
 * beach_fallback_queue_track_in_flight:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @action: the action just sent on the fast path
 * @enqueued_ms: when it was accepted
 * @seq: its place in the session's send order, increasing
 *
 * Records @action as in flight, so that a manager that crashes does not
 * lose it; fire-and-forget. The memory backend keeps nothing: it loses
 * in-flight actions on a crash.
 */
void
beach_fallback_queue_track_in_flight (BeachFallbackQueue *self,
                                      const gchar *private_beach_id,
                                      const gchar *session_id,
                                      BeachAction *action,
                                      gint64 enqueued_ms,
                                      guint64 seq)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (BEACH_IS_ACTION (action));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->track_in_flight (self, private_beach_id, session_id, action, enqueued_ms, seq);
}

/**
 * beach_fallback_queue_untrack_in_flight:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @action_id: the action that left the in-flight table
 *
 * Forgets the record of beach_fallback_queue_track_in_flight(); call it
 * only once the action is settled or safely in the queue.
 * Fire-and-forget.
 */
void
beach_fallback_queue_untrack_in_flight (BeachFallbackQueue *self,
                                        const gchar *private_beach_id,
                                        const gchar *session_id,
                                        const gchar *action_id)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);
  g_return_if_fail (action_id != NULL);

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->untrack_in_flight (self, private_beach_id, session_id, action_id);
}

/**
 * beach_fallback_queue_recover_in_flight_async:
 * @self: a #BeachFallbackQueue
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the count requeued
 * @user_data: data for @callback
 *
 * At start-up: moves every in-flight record left behind by a crashed
 * manager to its session's queue, in send order; see
 * #BeachFallbackQueueClass.recover_in_flight_async.
 */
void
beach_fallback_queue_recover_in_flight_async (BeachFallbackQueue *self,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  BEACH_FALLBACK_QUEUE_GET_CLASS (self)->recover_in_flight_async (self, cancellable, callback, user_data);
}

/**
 * beach_fallback_queue_recover_in_flight_finish:
 * @self: a #BeachFallbackQueue
 * @result: the #GAsyncResult
 * @out_requeued: (out) (optional): how many entries were appended
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success; %FALSE with %BEACH_ERROR_UNAVAILABLE when the
 *   backend is down (what was not recovered stays recorded)
 */
gboolean
beach_fallback_queue_recover_in_flight_finish (BeachFallbackQueue *self,
                                               GAsyncResult *result,
                                               guint *out_requeued,
                                               GError **error)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->recover_in_flight_finish (self, result, out_requeued, error);
}

/**
 * beach_fallback_queue_is_available:
 * @self: a #BeachFallbackQueue
 *
 * Returns: %TRUE while the backend answers
 */
gboolean
beach_fallback_queue_is_available (BeachFallbackQueue *self)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), FALSE);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->is_available (self);
}

/**
 * beach_fallback_queue_get_backend_name:
 * @self: a #BeachFallbackQueue
 *
 * Returns: (transfer none): the backend's name, e.g. `memory` or `redis`
 */
const gchar *
beach_fallback_queue_get_backend_name (BeachFallbackQueue *self)
{
  g_return_val_if_fail (BEACH_IS_FALLBACK_QUEUE (self), NULL);

  return BEACH_FALLBACK_QUEUE_GET_CLASS (self)->get_backend_name (self);
}

/**
 * beach_fallback_queue_emit_wake:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 *
 * For subclasses: entries of the session became readable.
 */
void
beach_fallback_queue_emit_wake (BeachFallbackQueue *self,
                                const gchar *private_beach_id,
                                const gchar *session_id)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_WAKE], 0, private_beach_id, session_id);
}

/**
 * beach_fallback_queue_emit_settled:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @action_id: the settled action
 * @status: its final status
 * @error_code: (nullable): the ack's error code
 * @enqueued_ms: when the entry was accepted
 *
 * For subclasses: an entry left the queue by an ack or by expiry.
 */
void
beach_fallback_queue_emit_settled (BeachFallbackQueue *self,
                                   const gchar *private_beach_id,
                                   const gchar *session_id,
                                   const gchar *action_id,
                                   BeachAckStatus status,
                                   const gchar *error_code,
                                   gint64 enqueued_ms)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_SETTLED], 0, private_beach_id, session_id,
                 action_id, (gint) status, error_code, enqueued_ms);
}

/**
 * beach_fallback_queue_emit_dead_lettered:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @action_id: the dead-lettered action
 * @reason: why
 *
 * For subclasses: an entry left the queue for the dead letters.
 */
void
beach_fallback_queue_emit_dead_lettered (BeachFallbackQueue *self,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         const gchar *action_id,
                                         BeachDeadLetterReason reason)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_DEAD_LETTERED], 0, private_beach_id,
                 session_id, action_id, (gint) reason);
}

/**
 * beach_fallback_queue_emit_delivered:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @action_id: the action handed out
 * @redelivery: %TRUE if it had been handed out before
 *
 * For subclasses: a read handed an entry out.
 */
void
beach_fallback_queue_emit_delivered (BeachFallbackQueue *self,
                                     const gchar *private_beach_id,
                                     const gchar *session_id,
                                     const gchar *action_id,
                                     gboolean redelivery)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_DELIVERED], 0, private_beach_id,
                 session_id, action_id, redelivery);
}

/**
 * beach_fallback_queue_emit_depth_changed:
 * @self: a #BeachFallbackQueue
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @depth: entries not yet acked
 * @delivered: entries handed out and not acked
 *
 * For subclasses: the session's #BeachQueueStats changed.
 */
void
beach_fallback_queue_emit_depth_changed (BeachFallbackQueue *self,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         guint depth,
                                         guint delivered)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_DEPTH_CHANGED], 0, private_beach_id,
                 session_id, depth, delivered);
}

/**
 * beach_fallback_queue_emit_availability_changed:
 * @self: a #BeachFallbackQueue
 * @available: whether the backend now answers
 *
 * For subclasses.
 */
void
beach_fallback_queue_emit_availability_changed (BeachFallbackQueue *self,
                                                gboolean available)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));

  g_signal_emit (self, signals[SIGNAL_AVAILABILITY_CHANGED], 0, available);
}

/* One signal an outbox holds back. */
typedef enum {
  OUT_SETTLED,
  OUT_DEAD_LETTERED,
  OUT_DELIVERED,
} OutKind;

typedef struct {
  OutKind kind;
  gchar *action_id;
  gint code; /* BeachAckStatus or BeachDeadLetterReason */
  gchar *error_code;
  gint64 enqueued_ms;
  gboolean redelivery;
} OutEvent;

static void
out_event_clear (OutEvent *ev)
{
  g_free (ev->action_id);
  g_free (ev->error_code);
}

/**
 * beach_queue_outbox_init:
 * @out: (out caller-allocates): the outbox to set up
 * @private_beach_id: the session's private beach
 * @session_id: the session
 *
 * For subclasses: starts an empty outbox for one operation on a session,
 * without numbers and without a wake. Clear it with
 * beach_queue_outbox_clear().
 */
void
beach_queue_outbox_init (BeachQueueOutbox *out,
                         const gchar *private_beach_id,
                         const gchar *session_id)
{
  g_return_if_fail (out != NULL);

  out->private_beach_id = g_strdup (private_beach_id);
  out->session_id = g_strdup (session_id);
  out->events = g_array_new (FALSE, TRUE, sizeof (OutEvent));
  g_array_set_clear_func (out->events, (GDestroyNotify) out_event_clear);
  out->have_stats = FALSE;
  out->stats = (BeachQueueStats){ 0, 0 };
  out->wake = FALSE;
}

/**
 * beach_queue_outbox_set_stats:
 * @out: an outbox
 * @stats: the numbers to keep for the flush
 *
 * For subclasses.
 */
void
beach_queue_outbox_set_stats (BeachQueueOutbox *out, const BeachQueueStats *stats)
{
  g_return_if_fail (out != NULL);
  g_return_if_fail (stats != NULL);

  out->have_stats = TRUE;
  out->stats = *stats;
}

static void
outbox_add (BeachQueueOutbox *out, OutKind kind, const gchar *action_id, gint code, const gchar *error_code, gint64 enqueued_ms, gboolean redelivery)
{
  OutEvent ev = {
    .kind = kind,
    .action_id = g_strdup (action_id),
    .code = code,
    .error_code = g_strdup (error_code),
    .enqueued_ms = enqueued_ms,
    .redelivery = redelivery,
  };

  g_array_append_val (out->events, ev);
}

/**
 * beach_queue_outbox_add_settled:
 * @out: an outbox
 * @action_id: the settled action
 * @status: its final status
 * @error_code: (nullable): the ack's error code
 * @enqueued_ms: when the entry was accepted
 *
 * For subclasses: holds back a "settled".
 */
void
beach_queue_outbox_add_settled (BeachQueueOutbox *out,
                                const gchar *action_id,
                                BeachAckStatus status,
                                const gchar *error_code,
                                gint64 enqueued_ms)
{
  g_return_if_fail (out != NULL);

  outbox_add (out, OUT_SETTLED, action_id, status, error_code, enqueued_ms, FALSE);
}

/**
 * beach_queue_outbox_add_dead_lettered:
 * @out: an outbox
 * @action_id: the dead-lettered action
 * @reason: why
 *
 * For subclasses: holds back a "dead-lettered".
 */
void
beach_queue_outbox_add_dead_lettered (BeachQueueOutbox *out,
                                      const gchar *action_id,
                                      BeachDeadLetterReason reason)
{
  g_return_if_fail (out != NULL);

  outbox_add (out, OUT_DEAD_LETTERED, action_id, reason, NULL, 0, FALSE);
}

/**
 * beach_queue_outbox_add_delivered:
 * @out: an outbox
 * @action_id: the action handed out
 * @redelivery: %TRUE if it had been handed out before
 *
 * For subclasses: holds back a "delivered".
 */
void
beach_queue_outbox_add_delivered (BeachQueueOutbox *out,
                                  const gchar *action_id,
                                  gboolean redelivery)
{
  g_return_if_fail (out != NULL);

  outbox_add (out, OUT_DELIVERED, action_id, 0, NULL, 0, redelivery);
}

/**
 * beach_queue_outbox_emit_events:
 * @self: a #BeachFallbackQueue
 * @out: an outbox
 *
 * For subclasses: emits the signals @out holds back, in the order they were
 * added, for @out's session. Neither "depth-changed" nor "wake": each
 * backend knows its numbers its own way. The caller must hold a reference
 * on @self, since a handler may drop the last other one.
 */
void
beach_queue_outbox_emit_events (BeachFallbackQueue *self, BeachQueueOutbox *out)
{
  g_return_if_fail (BEACH_IS_FALLBACK_QUEUE (self));
  g_return_if_fail (out != NULL);

  for (guint i = 0; i < out->events->len; i++) {
    OutEvent *ev = &g_array_index (out->events, OutEvent, i);

    switch (ev->kind) {
      case OUT_SETTLED:
        beach_fallback_queue_emit_settled (self, out->private_beach_id, out->session_id, ev->action_id,
                                           (BeachAckStatus) ev->code, ev->error_code, ev->enqueued_ms);
        break;
      case OUT_DEAD_LETTERED:
        beach_fallback_queue_emit_dead_lettered (self, out->private_beach_id, out->session_id,
                                                 ev->action_id, (BeachDeadLetterReason) ev->code);
        break;
      case OUT_DELIVERED:
        beach_fallback_queue_emit_delivered (self, out->private_beach_id, out->session_id,
                                             ev->action_id, ev->redelivery);
        break;
      default:
        g_assert_not_reached ();
    }
  }
}

/**
 * beach_queue_outbox_clear:
 * @out: an outbox
 *
 * For subclasses: frees what @out holds, without emitting it.
 */
void
beach_queue_outbox_clear (BeachQueueOutbox *out)
{
  g_return_if_fail (out != NULL);

  g_clear_pointer (&out->events, g_array_unref);
  g_clear_pointer (&out->private_beach_id, g_free);
  g_clear_pointer (&out->session_id, g_free);
}
