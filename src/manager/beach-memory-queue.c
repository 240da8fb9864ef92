/* beach-memory-queue.c: the in-process fallback queue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-memory-queue"

#include "config.h"

#include "beach-memory-queue.h"

/**
 * BeachMemoryQueue:
 *
 * The embedded default backend: every session's queue lives in this
 * process and is lost with it. Each session keeps one timer, armed for the
 * earliest moment one of its entries comes due (redelivery, dead-lettering
 * or expiry), so that nothing polls on a tick.
 */

typedef struct {
  BeachAction *action;
  gint64 enqueued_ms; /* wall clock */
  guint deliveries;
  gint64 last_delivered_us; /* monotonic, valid once delivered */
  /* Set once the entry's reclaim time has passed since its last delivery,
   * so that its coming due wakes readers once, not on every timer run. */
  gboolean reclaim_due;
} MemEntry;

typedef struct {
  BeachMemoryQueue *queue; /* unowned: the queue owns its sessions */
  gchar *private_beach_id;
  gchar *session_id;
  gchar *key;
  GQueue entries;    /* MemEntry*, enqueue order */
  GHashTable *by_id; /* action id (borrowed) → GList* link in entries */
  GQueue dead;       /* BeachDeadLetter*, oldest first */
  guint delivered;   /* entries handed out at least once */
  GSource *timer;
} MemSession;

struct _BeachMemoryQueue {
  BeachFallbackQueue parent_instance;

  GMainContext *context;
  GHashTable *sessions; /* key → MemSession*, owned */
};

G_DEFINE_FINAL_TYPE (BeachMemoryQueue, beach_memory_queue, BEACH_TYPE_FALLBACK_QUEUE)

static gboolean session_timer_cb (gpointer user_data);

static gint64
now_wall_ms (void)
{
  return g_get_real_time () / 1000;
}

/* Length-prefixed so that no pair of ids can collide. */
static gchar *
session_key (const gchar *private_beach_id, const gchar *session_id)
{
  return g_strdup_printf ("%zu:%s/%s", strlen (private_beach_id),
                          private_beach_id, session_id);
}

static void
mem_entry_free (MemEntry *entry)
{
  g_clear_object (&entry->action);
  g_free (entry);
}

static const gchar *
mem_entry_id (MemEntry *entry)
{
  return beach_action_get_id (entry->action);
}

static gboolean
mem_entry_readable (MemEntry *entry)
{
  return entry->deliveries == 0 || entry->reclaim_due;
}

/* A one-shot timer re-armed by ready time: cheaper than a new
 * GTimeoutSource per change, and microsecond-precise. */
static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs timer_funcs = {
  .dispatch = timer_dispatch,
};

static MemSession *
mem_session_new (BeachMemoryQueue *queue, const gchar *private_beach_id, const gchar *session_id)
{
  MemSession *s = g_new0 (MemSession, 1);

  s->queue = queue;
  s->private_beach_id = g_strdup (private_beach_id);
  s->session_id = g_strdup (session_id);
  s->key = session_key (private_beach_id, session_id);
  g_queue_init (&s->entries);
  g_queue_init (&s->dead);
  s->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  s->timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_name (s->timer, "[beach] memory queue timer");
  g_source_set_callback (s->timer, session_timer_cb, s, NULL);
  g_source_attach (s->timer, queue->context);
  return s;
}

static void
mem_session_free (MemSession *s)
{
  if (s->timer != NULL)
    g_source_destroy (s->timer);
  g_clear_pointer (&s->timer, g_source_unref);
  g_clear_pointer (&s->by_id, g_hash_table_unref);
  g_queue_clear_full (&s->entries, (GDestroyNotify) mem_entry_free);
  g_queue_clear_full (&s->dead, (GDestroyNotify) beach_dead_letter_free);
  g_free (s->private_beach_id);
  g_free (s->session_id);
  g_free (s->key);
  g_free (s);
}

static MemSession *
lookup_session (BeachMemoryQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  g_autofree gchar *key = session_key (private_beach_id, session_id);

  return g_hash_table_lookup (self->sessions, key);
}

static MemSession *
ensure_session (BeachMemoryQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  MemSession *s = lookup_session (self, private_beach_id, session_id);

  if (s == NULL) {
    s = mem_session_new (self, private_beach_id, session_id);
    g_hash_table_insert (self->sessions, s->key, s);
  }
  return s;
}

/* An unknown session is an empty queue, so an empty one need not be kept. */
static void
maybe_forget_session (BeachMemoryQueue *self, MemSession *s)
{
  if (s != NULL && s->entries.length == 0 && s->dead.length == 0)
    g_hash_table_remove (self->sessions, s->key);
}

static BeachQueueStats
session_stats (MemSession *s)
{
  BeachQueueStats stats = { 0, 0 };

  if (s != NULL) {
    stats.depth = s->entries.length;
    stats.delivered = s->delivered;
  }
  return stats;
}

/* Signals are collected during an operation and emitted once its state is
 * consistent, since a handler may call back into the queue. The outbox's
 * numbers are the session's before the operation. */
static void
outbox_init (BeachQueueOutbox *out, MemSession *s, const gchar *private_beach_id, const gchar *session_id)
{
  BeachQueueStats before = session_stats (s);

  beach_queue_outbox_init (out, private_beach_id, session_id);
  beach_queue_outbox_set_stats (out, &before);
}

/* Emits what the operation collected, then depth-changed if the numbers
 * moved, then wake; frees the outbox. The numbers are read live so that the
 * last depth-changed always tells the truth, even after a handler changed
 * the queue again. */
static void
outbox_flush (BeachMemoryQueue *self, BeachQueueOutbox *out)
{
  g_autoptr (BeachMemoryQueue) hold = g_object_ref (self);
  BeachFallbackQueue *queue = BEACH_FALLBACK_QUEUE (self);
  BeachQueueStats after;

  beach_queue_outbox_emit_events (queue, out);
  after = session_stats (lookup_session (self, out->private_beach_id, out->session_id));
  if (after.depth != out->stats.depth || after.delivered != out->stats.delivered)
    beach_fallback_queue_emit_depth_changed (queue, out->private_beach_id, out->session_id,
                                             after.depth, after.delivered);
  if (out->wake)
    beach_fallback_queue_emit_wake (queue, out->private_beach_id, out->session_id);
  beach_queue_outbox_clear (out);
}

/* Unlinks @link from the session; the caller owns the returned entry. */
static MemEntry *
session_take (MemSession *s, GList *link)
{
  MemEntry *entry = link->data;

  g_hash_table_remove (s->by_id, mem_entry_id (entry));
  g_queue_delete_link (&s->entries, link);
  if (entry->deliveries > 0)
    s->delivered--;
  return entry;
}

static void
session_settle (MemSession *s, GList *link, BeachAckStatus status, const gchar *error_code, BeachQueueOutbox *out)
{
  MemEntry *entry = session_take (s, link);

  beach_queue_outbox_add_settled (out, mem_entry_id (entry), status, error_code, entry->enqueued_ms);
  mem_entry_free (entry);
}

static void
session_add_dead_letter (MemSession *s, BeachAction *action, BeachDeadLetterReason reason)
{
  const BeachQueueConfig *config = beach_fallback_queue_get_config (BEACH_FALLBACK_QUEUE (s->queue));
  BeachDeadLetter *letter;

  if (config->dead_letters_kept == 0)
    return;
  letter = g_new0 (BeachDeadLetter, 1);
  letter->id = g_strdup (beach_action_get_id (action));
  letter->action = g_object_ref (action);
  letter->reason = reason;
  letter->at_ms = now_wall_ms ();
  g_queue_push_tail (&s->dead, letter);
  while (s->dead.length > config->dead_letters_kept)
    beach_dead_letter_free (g_queue_pop_head (&s->dead));
}

static void
session_dead_letter (MemSession *s, GList *link, BeachDeadLetterReason reason, gboolean keep, BeachQueueOutbox *out)
{
  MemEntry *entry = session_take (s, link);

  if (keep)
    session_add_dead_letter (s, entry->action, reason);
  beach_queue_outbox_add_dead_lettered (out, mem_entry_id (entry), reason);
  mem_entry_free (entry);
}

/* Dead-letters entries whose last delivery went unacked past the reclaim
 * time, marks the others due for redelivery, and settles expired readable
 * ones. Sets out->wake when an entry became readable. */
static void
session_process_due (MemSession *s, BeachQueueOutbox *out)
{
  const BeachQueueConfig *config = beach_fallback_queue_get_config (BEACH_FALLBACK_QUEUE (s->queue));
  gint64 now_us = g_get_monotonic_time ();
  gint64 now_ms = now_wall_ms ();
  gint64 reclaim_us = (gint64) config->reclaim_ms * 1000;
  GList *next;

  for (GList *l = s->entries.head; l != NULL; l = next) {
    MemEntry *entry = l->data;
    gboolean came_due = FALSE;

    next = l->next;
    if (entry->deliveries > 0 && !entry->reclaim_due && now_us - entry->last_delivered_us >= reclaim_us) {
      if (entry->deliveries >= config->max_deliveries) {
        session_dead_letter (s, l, BEACH_DEAD_LETTER_REASON_MAX_DELIVERIES, TRUE, out);
        continue;
      }
      entry->reclaim_due = TRUE;
      came_due = TRUE;
    }
    if (mem_entry_readable (entry) && beach_action_is_expired (entry->action, now_ms)) {
      session_settle (s, l, BEACH_ACK_STATUS_EXPIRED, NULL, out);
      continue;
    }
    if (came_due)
      out->wake = TRUE;
  }
}

/* When @entry next needs the timer, in monotonic µs, or G_MAXINT64. */
static gint64
mem_entry_due_us (MemEntry *entry, guint reclaim_ms, gint64 now_us, gint64 now_ms)
{
  gint64 expires_at = beach_action_get_expires_at_ms (entry->action);

  if (!mem_entry_readable (entry))
    return entry->last_delivered_us + (gint64) reclaim_ms * 1000;
  if (expires_at < 0)
    return G_MAXINT64;
  /* beach_action_is_expired() is strict: due one ms after expires_at. */
  return now_us + MAX (0, expires_at + 1 - now_ms) * 1000;
}

static void
session_rearm (MemSession *s)
{
  const BeachQueueConfig *config = beach_fallback_queue_get_config (BEACH_FALLBACK_QUEUE (s->queue));
  gint64 now_us = g_get_monotonic_time ();
  gint64 now_ms = now_wall_ms ();
  gint64 due = G_MAXINT64;

  for (GList *l = s->entries.head; l != NULL; l = l->next)
    due = MIN (due, mem_entry_due_us (l->data, config->reclaim_ms, now_us, now_ms));
  g_source_set_ready_time (s->timer, due == G_MAXINT64 ? -1 : due);
}

static gboolean
session_timer_cb (gpointer user_data)
{
  MemSession *s = user_data;
  BeachMemoryQueue *self = s->queue;
  BeachQueueOutbox out;

  outbox_init (&out, s, s->private_beach_id, s->session_id);
  session_process_due (s, &out);
  session_rearm (s);
  maybe_forget_session (self, g_steal_pointer (&s));
  outbox_flush (self, &out);
  return G_SOURCE_CONTINUE;
}

static GTask *
new_task (BeachMemoryQueue *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  /* Work is done before the task returns: a late cancel must not make a
   * committed enqueue or ack look as if it failed. */
  g_task_set_check_cancellable (task, FALSE);
  return task;
}

/* -- enqueue */

typedef struct {
  GStrv accepted;
  GStrv duplicates;
} EnqueueResult;

static void
enqueue_result_free (EnqueueResult *result)
{
  g_strfreev (result->accepted);
  g_strfreev (result->duplicates);
  g_free (result);
}

/* Sorts @actions into fresh ones and duplicates without touching the queue;
 * fresh[i] tells whether actions[i] would be accepted. */
static guint
enqueue_classify (MemSession *s, GPtrArray *actions, gboolean *fresh)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint n_fresh = 0;

  for (guint i = 0; i < actions->len; i++) {
    const gchar *id = beach_action_get_id (g_ptr_array_index (actions, i));

    fresh[i] = !(s != NULL && g_hash_table_contains (s->by_id, id)) && g_hash_table_add (seen, (gpointer) id);
    if (fresh[i])
      n_fresh++;
  }
  return n_fresh;
}

/* Appends one fresh @action accepted at @enqueued_ms, or settles it
 * `expired` at once if it is past expires_at at @now_ms; creates the
 * session on the first append. Returns TRUE if it was appended. */
static gboolean
session_append (BeachMemoryQueue *self, MemSession **s, const gchar *private_beach_id, const gchar *session_id, BeachAction *action, gint64 enqueued_ms, gint64 now_ms, BeachQueueOutbox *out)
{
  MemEntry *entry;

  /* Never readable; enqueue still reports it accepted so the caller's
   * count adds up. */
  if (beach_action_is_expired (action, now_ms)) {
    beach_queue_outbox_add_settled (out, beach_action_get_id (action), BEACH_ACK_STATUS_EXPIRED, NULL,
                                    enqueued_ms);
    return FALSE;
  }
  if (*s == NULL)
    *s = ensure_session (self, private_beach_id, session_id);
  entry = g_new0 (MemEntry, 1);
  entry->action = g_object_ref (action);
  entry->enqueued_ms = enqueued_ms;
  g_queue_push_tail (&(*s)->entries, entry);
  g_hash_table_insert ((*s)->by_id, (gpointer) mem_entry_id (entry), (*s)->entries.tail);
  out->wake = TRUE;
  return TRUE;
}

static EnqueueResult *
enqueue_apply (BeachMemoryQueue *self, MemSession **s, const gchar *private_beach_id, const gchar *session_id, GPtrArray *actions, const gboolean *fresh, BeachQueueOutbox *out)
{
  g_autoptr (GStrvBuilder) accepted = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) duplicates = g_strv_builder_new ();
  EnqueueResult *result = g_new0 (EnqueueResult, 1);
  gint64 now_ms = now_wall_ms ();

  for (guint i = 0; i < actions->len; i++) {
    BeachAction *action = g_ptr_array_index (actions, i);
    const gchar *id = beach_action_get_id (action);

    if (!fresh[i]) {
      g_strv_builder_add (duplicates, id);
      continue;
    }
    g_strv_builder_add (accepted, id);
    session_append (self, s, private_beach_id, session_id, action, now_ms, now_ms, out);
  }
  result->accepted = g_strv_builder_end (accepted);
  result->duplicates = g_strv_builder_end (duplicates);
  return result;
}

static void
beach_memory_queue_enqueue_async (BeachFallbackQueue *queue,
                                  const gchar *private_beach_id,
                                  const gchar *session_id,
                                  GPtrArray *actions,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  const BeachQueueConfig *config = beach_fallback_queue_get_config (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_enqueue_async);
  g_autofree gboolean *fresh = g_new0 (gboolean, actions->len + 1);
  MemSession *s = lookup_session (self, private_beach_id, session_id);
  EnqueueResult *result;
  guint depth = s != NULL ? s->entries.length : 0;
  guint n_fresh;
  BeachQueueOutbox out;

  if (g_task_return_error_if_cancelled (task))
    return;
  n_fresh = enqueue_classify (s, actions, fresh);
  if ((guint64) depth + n_fresh > config->cap) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL,
                             "queue for session %s holds %u of %u unacked actions; %u more do not fit",
                             session_id, depth, config->cap, n_fresh);
    return;
  }
  outbox_init (&out, s, private_beach_id, session_id);
  result = enqueue_apply (self, &s, private_beach_id, session_id, actions, fresh, &out);
  if (s != NULL)
    session_rearm (s);
  outbox_flush (self, &out);
  g_task_return_pointer (task, result, (GDestroyNotify) enqueue_result_free);
}

static gboolean
beach_memory_queue_enqueue_finish (BeachFallbackQueue *queue,
                                   GAsyncResult *result,
                                   GStrv *out_accepted_ids,
                                   GStrv *out_duplicate_ids,
                                   GError **error)
{
  EnqueueResult *res;

  g_return_val_if_fail (g_task_is_valid (result, queue), FALSE);
  res = g_task_propagate_pointer (G_TASK (result), error);
  if (res == NULL)
    return FALSE;
  if (out_accepted_ids != NULL)
    *out_accepted_ids = g_steal_pointer (&res->accepted);
  if (out_duplicate_ids != NULL)
    *out_duplicate_ids = g_steal_pointer (&res->duplicates);
  enqueue_result_free (res);
  return TRUE;
}

/* -- requeue */

static void
beach_memory_queue_requeue_async (BeachFallbackQueue *queue,
                                  const gchar *private_beach_id,
                                  const gchar *session_id,
                                  GPtrArray *entries,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_requeue_async);
  g_autoptr (GPtrArray) actions = g_ptr_array_new_full (entries->len, g_object_unref);
  g_autofree gboolean *fresh = g_new0 (gboolean, entries->len + 1);
  MemSession *s = lookup_session (self, private_beach_id, session_id);
  gint64 now_ms = now_wall_ms ();
  gssize requeued = 0;
  BeachQueueOutbox out;

  if (g_task_return_error_if_cancelled (task))
    return;
  for (guint i = 0; i < entries->len; i++)
    g_ptr_array_add (actions, g_object_ref (((BeachQueueEntry *) g_ptr_array_index (entries, i))->action));
  /* Same dedupe as enqueue, but no cap: these were accepted already. */
  enqueue_classify (s, actions, fresh);
  outbox_init (&out, s, private_beach_id, session_id);
  for (guint i = 0; i < entries->len; i++) {
    BeachQueueEntry *entry = g_ptr_array_index (entries, i);

    if (fresh[i] && session_append (self, &s, private_beach_id, session_id, entry->action, entry->enqueued_ms, now_ms, &out))
      requeued++;
  }
  if (s != NULL)
    session_rearm (s);
  outbox_flush (self, &out);
  g_task_return_int (task, requeued);
}

static gboolean
beach_memory_queue_requeue_finish (BeachFallbackQueue *queue,
                                   GAsyncResult *result,
                                   guint *out_requeued,
                                   GError **error)
{
  gssize requeued;

  g_return_val_if_fail (g_task_is_valid (result, queue), FALSE);
  requeued = g_task_propagate_int (G_TASK (result), error);
  if (requeued < 0)
    return FALSE;
  if (out_requeued != NULL)
    *out_requeued = (guint) requeued;
  return TRUE;
}

/* -- read */

static BeachQueueEntry *
session_deliver (MemSession *s, MemEntry *entry, BeachQueueOutbox *out)
{
  BeachQueueEntry *copy = g_new0 (BeachQueueEntry, 1);

  if (entry->deliveries == 0)
    s->delivered++;
  entry->deliveries++;
  entry->last_delivered_us = g_get_monotonic_time ();
  entry->reclaim_due = FALSE;
  beach_queue_outbox_add_delivered (out, mem_entry_id (entry), entry->deliveries > 1);

  copy->action = g_object_ref (entry->action);
  copy->enqueued_ms = entry->enqueued_ms;
  copy->deliveries = entry->deliveries;
  return copy;
}

static void
beach_memory_queue_read_async (BeachFallbackQueue *queue,
                               const gchar *private_beach_id,
                               const gchar *session_id,
                               const gchar *consumer,
                               guint max,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_read_async);
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_queue_entry_free);
  MemSession *s = lookup_session (self, private_beach_id, session_id);
  BeachQueueOutbox out;

  if (g_task_return_error_if_cancelled (task))
    return;
  if (s != NULL) {
    outbox_init (&out, s, private_beach_id, session_id);
    session_process_due (s, &out);
    for (GList *l = s->entries.head; l != NULL && entries->len < max; l = l->next) {
      if (mem_entry_readable (l->data))
        g_ptr_array_add (entries, session_deliver (s, l->data, &out));
    }
    /* This reader takes what came due; nobody else needs waking for it. */
    out.wake = FALSE;
    session_rearm (s);
    maybe_forget_session (self, g_steal_pointer (&s));
    outbox_flush (self, &out);
  }
  g_task_return_pointer (task, g_steal_pointer (&entries), (GDestroyNotify) g_ptr_array_unref);
}

static GPtrArray *
beach_memory_queue_read_finish (BeachFallbackQueue *queue,
                                GAsyncResult *result,
                                GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, queue), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- ack */

static void
beach_memory_queue_ack_async (BeachFallbackQueue *queue,
                              const gchar *private_beach_id,
                              const gchar *session_id,
                              GPtrArray *acks,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_ack_async);
  MemSession *s = lookup_session (self, private_beach_id, session_id);
  gssize settled = 0;
  BeachQueueOutbox out;

  if (g_task_return_error_if_cancelled (task))
    return;
  if (s != NULL) {
    outbox_init (&out, s, private_beach_id, session_id);
    for (guint i = 0; i < acks->len; i++) {
      BeachActionAck *ack = g_ptr_array_index (acks, i);
      GList *link = g_hash_table_lookup (s->by_id, beach_action_ack_get_id (ack));

      if (link == NULL)
        continue;
      session_settle (s, link, beach_action_ack_get_status (ack),
                      beach_action_ack_get_error_code (ack), &out);
      settled++;
    }
    session_rearm (s);
    maybe_forget_session (self, g_steal_pointer (&s));
    outbox_flush (self, &out);
  }
  g_task_return_int (task, settled);
}

static gboolean
beach_memory_queue_ack_finish (BeachFallbackQueue *queue,
                               GAsyncResult *result,
                               guint *out_settled,
                               GError **error)
{
  gssize settled;

  g_return_val_if_fail (g_task_is_valid (result, queue), FALSE);
  settled = g_task_propagate_int (G_TASK (result), error);
  if (settled < 0)
    return FALSE;
  if (out_settled != NULL)
    *out_settled = (guint) settled;
  return TRUE;
}

/* -- stats */

static void
beach_memory_queue_stats_async (BeachFallbackQueue *queue,
                                const gchar *private_beach_id,
                                const gchar *session_id,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_stats_async);
  BeachQueueStats stats = session_stats (lookup_session (self, private_beach_id, session_id));

  if (g_task_return_error_if_cancelled (task))
    return;
  g_task_return_pointer (task, g_memdup2 (&stats, sizeof stats), g_free);
}

static gboolean
beach_memory_queue_stats_finish (BeachFallbackQueue *queue,
                                 GAsyncResult *result,
                                 BeachQueueStats *out_stats,
                                 GError **error)
{
  g_autofree BeachQueueStats *stats = NULL;

  g_return_val_if_fail (g_task_is_valid (result, queue), FALSE);
  stats = g_task_propagate_pointer (G_TASK (result), error);
  if (stats == NULL)
    return FALSE;
  if (out_stats != NULL)
    *out_stats = *stats;
  return TRUE;
}

/* -- dead letters */

static BeachDeadLetter *
dead_letter_copy (const BeachDeadLetter *letter)
{
  BeachDeadLetter *copy = g_new0 (BeachDeadLetter, 1);

  copy->id = g_strdup (letter->id);
  copy->action = g_object_ref (letter->action);
  copy->reason = letter->reason;
  copy->at_ms = letter->at_ms;
  return copy;
}

static void
beach_memory_queue_dead_letters_async (BeachFallbackQueue *queue,
                                       const gchar *private_beach_id,
                                       const gchar *session_id,
                                       gint64 since_ms,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_dead_letters_async);
  g_autoptr (GPtrArray) letters = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_dead_letter_free);
  MemSession *s = lookup_session (self, private_beach_id, session_id);

  if (g_task_return_error_if_cancelled (task))
    return;
  for (GList *l = s != NULL ? s->dead.head : NULL; l != NULL; l = l->next) {
    BeachDeadLetter *letter = l->data;

    if (letter->at_ms >= since_ms)
      g_ptr_array_add (letters, dead_letter_copy (letter));
  }
  g_task_return_pointer (task, g_steal_pointer (&letters), (GDestroyNotify) g_ptr_array_unref);
}

static GPtrArray *
beach_memory_queue_dead_letters_finish (BeachFallbackQueue *queue,
                                        GAsyncResult *result,
                                        GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, queue), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- drop session */

static void
beach_memory_queue_drop_session_async (BeachFallbackQueue *queue,
                                       const gchar *private_beach_id,
                                       const gchar *session_id,
                                       BeachDeadLetterReason reason,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (queue);
  g_autoptr (GTask) task = new_task (self, cancellable, callback, user_data, beach_memory_queue_drop_session_async);
  MemSession *s = lookup_session (self, private_beach_id, session_id);
  BeachQueueOutbox out;

  if (g_task_return_error_if_cancelled (task))
    return;
  if (s != NULL) {
    outbox_init (&out, s, private_beach_id, session_id);
    /* The letters go with the session, so keeping them would be wasted. */
    while (s->entries.head != NULL)
      session_dead_letter (s, s->entries.head, reason, FALSE, &out);
    g_hash_table_remove (self->sessions, s->key);
    outbox_flush (self, &out);
  }
  g_task_return_boolean (task, TRUE);
}

static gboolean
beach_memory_queue_drop_session_finish (BeachFallbackQueue *queue,
                                        GAsyncResult *result,
                                        GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, queue), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- object */

static gboolean
beach_memory_queue_is_available (BeachFallbackQueue *queue)
{
  return TRUE;
}

static const gchar *
beach_memory_queue_get_backend_name (BeachFallbackQueue *queue)
{
  return "memory";
}

static void
beach_memory_queue_finalize (GObject *object)
{
  BeachMemoryQueue *self = BEACH_MEMORY_QUEUE (object);

  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (beach_memory_queue_parent_class)->finalize (object);
}

static void
beach_memory_queue_class_init (BeachMemoryQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  BeachFallbackQueueClass *queue_class = BEACH_FALLBACK_QUEUE_CLASS (klass);

  object_class->finalize = beach_memory_queue_finalize;
  queue_class->enqueue_async = beach_memory_queue_enqueue_async;
  queue_class->enqueue_finish = beach_memory_queue_enqueue_finish;
  queue_class->read_async = beach_memory_queue_read_async;
  queue_class->read_finish = beach_memory_queue_read_finish;
  queue_class->ack_async = beach_memory_queue_ack_async;
  queue_class->ack_finish = beach_memory_queue_ack_finish;
  queue_class->stats_async = beach_memory_queue_stats_async;
  queue_class->stats_finish = beach_memory_queue_stats_finish;
  queue_class->dead_letters_async = beach_memory_queue_dead_letters_async;
  queue_class->dead_letters_finish = beach_memory_queue_dead_letters_finish;
  queue_class->drop_session_async = beach_memory_queue_drop_session_async;
  queue_class->drop_session_finish = beach_memory_queue_drop_session_finish;
  queue_class->requeue_async = beach_memory_queue_requeue_async;
  queue_class->requeue_finish = beach_memory_queue_requeue_finish;
  queue_class->is_available = beach_memory_queue_is_available;
  queue_class->get_backend_name = beach_memory_queue_get_backend_name;
}

static void
beach_memory_queue_init (BeachMemoryQueue *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) mem_session_free);
}

/**
 * beach_memory_queue_new:
 * @config: (nullable): the tunables, or %NULL for the defaults
 *
 * Returns: (transfer full): a new memory queue
 */
BeachFallbackQueue *
beach_memory_queue_new (const BeachQueueConfig *config)
{
  BeachFallbackQueue *self = g_object_new (BEACH_TYPE_MEMORY_QUEUE, NULL);

  if (config != NULL)
    beach_fallback_queue_set_config (self, config);
  return self;
}
