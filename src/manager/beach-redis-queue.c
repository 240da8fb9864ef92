/* beach-redis-queue.c: the fallback queue on Redis Streams
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-redis-queue"

#include "config.h"

#include <string.h>

#include "beach-redis-private.h"
#include "beach-redis-queue.h"
#include "beach-redis-scripts.h"

/**
 * BeachRedisQueue:
 *
 * The shared backend: each session's queue is a stream with the consumer
 * group `hosts`, so that any manager on the same Redis serves it and it
 * outlives every one of them. Each operation is one Lua script, so a cap
 * check can never race another manager's enqueue.
 *
 * Time-driven work (expiry with nobody reading, dead-lettering, waking a
 * parked poll when an entry comes due) runs on per-session timers of the
 * manager that caused it, exactly like the memory backend's; a manager
 * that dies takes its timers along, and its delivered entries are then
 * reclaimed by the next read anywhere. Wake-ups cross managers by PUBLISH
 * on `PREFIX:wake:{P:S}` with this queue's token as the payload, so that
 * it can skip its own (it has already woken its readers locally).
 */

/* Timers fire this long after the due moment, so that Redis, whose clock
 * counts whole milliseconds, already sees the entry idle long enough. A
 * run that comes early anyway finds the entry not due and re-arms. */
#define TIMER_SLACK_MS 2
/* After a failed maintenance run (Redis down), try again this soon. */
#define RETRY_MS         1000
#define WARN_INTERVAL_US (10 * G_USEC_PER_SEC)

typedef struct {
  BeachRedisQueue *queue; /* unowned: the queue owns its sessions */
  gchar *private_beach_id;
  gchar *session_id;
  gchar *tag; /* "{P:S}", the key in the sessions table */
  GSource *timer;
  BeachQueueStats told; /* what "depth-changed" said last */
} RedisSession;

/* One call's arguments, kept for its reply. */
typedef struct {
  BeachRedisQueue *queue; /* owned: only for calls without a GTask */
  gchar *private_beach_id;
  gchar *session_id;
  GPtrArray *items; /* the actions or acks of the call */
  gint64 now_ms;
  gint64 since_ms;
  BeachDeadLetterReason reason;
} OpData;

struct _BeachRedisQueue {
  BeachFallbackQueue parent_instance;

  BeachRedisClient *client;
  GMainContext *context;
  gchar *prefix;
  gchar *wake_prefix;   /* "PREFIX:wake:" */
  gchar *token;         /* our PUBLISH payload */
  gchar *instance_id;   /* named in in-flight records (nullable) */
  gint64 started_ms;    /* records of ours older than this are a past run's */
  GHashTable *sessions; /* tag → RedisSession*, owned */
  gulong notify_id;
  gulong message_id;
  gboolean available;
};

G_DEFINE_FINAL_TYPE (BeachRedisQueue, beach_redis_queue, BEACH_TYPE_FALLBACK_QUEUE)

G_LOCK_DEFINE_STATIC (warn);

static gboolean session_timer_cb (gpointer user_data);

static void warn_limited (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

/* Every repeated warning of this file goes through here: one per interval,
 * with a count of the ones held back. */
static void
warn_limited (const gchar *format, ...)
{
  static gint64 last_us = 0;
  static guint held = 0;
  gint64 now_us = g_get_monotonic_time ();
  g_autofree gchar *message = NULL;
  guint n_held;
  va_list ap;

  G_LOCK (warn);
  if (last_us != 0 && now_us - last_us < WARN_INTERVAL_US) {
    held++;
    G_UNLOCK (warn);
    return;
  }
  last_us = now_us;
  n_held = held;
  held = 0;
  G_UNLOCK (warn);

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (n_held > 0)
    g_warning ("%s (%u similar warnings held back)", message, n_held);
  else
    g_warning ("%s", message);
}

static gint64
now_wall_ms (void)
{
  return g_get_real_time () / 1000;
}

static gchar *
session_tag (const gchar *private_beach_id, const gchar *session_id)
{
  return g_strdup_printf ("{%s:%s}", private_beach_id, session_id);
}

/* KEYS of every script: actions, ids, dead, inflight (the fast path's
 * in-flight records, WIRE.md Routing step 1). */
static GStrv
session_keys (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  g_autofree gchar *tag = session_tag (private_beach_id, session_id);
  GStrv keys = g_new0 (gchar *, 5);

  keys[0] = g_strdup_printf ("%s:%s:actions", self->prefix, tag);
  keys[1] = g_strdup_printf ("%s:%s:ids", self->prefix, tag);
  keys[2] = g_strdup_printf ("%s:%s:dead", self->prefix, tag);
  keys[3] = g_strdup_printf ("%s:%s:inflight", self->prefix, tag);
  return keys;
}

static gchar *
wake_channel (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  return g_strdup_printf ("%s{%s:%s}", self->wake_prefix, private_beach_id, session_id);
}

/* The hash tag and the wake channel are parsed back on ':' and braces, so
 * ids must not hold them (the wire's id patterns never do). */
static gboolean
check_session_ids (const gchar *private_beach_id, const gchar *session_id, GError **error)
{
  if (private_beach_id == NULL || session_id == NULL || *private_beach_id == '\0' || *session_id == '\0' || strpbrk (private_beach_id, ":{}") != NULL || strpbrk (session_id, ":{}") != NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "session (%s, %s) cannot name a Redis queue", private_beach_id, session_id);
    return FALSE;
  }
  return TRUE;
}

/* -- reply shapes (Redis replies are outside input) */

static gboolean
malformed (GError **error, const gchar *what, guint index)
{
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
               "malformed reply from a Redis queue script: expected %s at element %u", what, index);
  return FALSE;
}

static const BeachRedisReply *
reply_at (const BeachRedisReply *reply, guint index, GError **error)
{
  if (reply == NULL || reply->type != BEACH_REDIS_REPLY_ARRAY || index >= reply->n_elements) {
    malformed (error, "an array element", index);
    return NULL;
  }
  return beach_redis_reply_get_element (reply, index, error);
}

static const BeachRedisReply *
reply_array_at (const BeachRedisReply *reply, guint index, guint min_elements, GError **error)
{
  const BeachRedisReply *element = reply_at (reply, index, error);

  if (element == NULL)
    return NULL;
  if (element->type != BEACH_REDIS_REPLY_ARRAY || element->n_elements < min_elements) {
    malformed (error, "an array", index);
    return NULL;
  }
  return element;
}

static gboolean
reply_int_at (const BeachRedisReply *reply, guint index, gint64 *out, GError **error)
{
  const BeachRedisReply *element = reply_at (reply, index, error);

  return element != NULL && beach_redis_reply_get_int (element, out, error);
}

static const gchar *
reply_string_at (const BeachRedisReply *reply, guint index, GError **error)
{
  const BeachRedisReply *element = reply_at (reply, index, error);

  return element != NULL ? beach_redis_reply_get_string (element, error) : NULL;
}

/* The (depth, delivered) pair every script ends with. */
static gboolean
reply_stats_at (const BeachRedisReply *reply, guint index, BeachQueueStats *out, GError **error)
{
  gint64 depth, delivered;

  if (!reply_int_at (reply, index, &depth, error) || !reply_int_at (reply, index + 1, &delivered, error))
    return FALSE;
  if (depth < 0 || depth > G_MAXUINT || delivered < 0)
    return malformed (error, "queue numbers", index);
  out->depth = (guint) depth;
  /* An entry deleted behind our back stays in the PEL until reclaimed. */
  out->delivered = (guint) MIN (delivered, depth);
  return TRUE;
}

/* The top-level result of a script or command: an array of at least
 * @min_elements; an ERROR reply becomes a GError. */
static BeachRedisReply *
finish_reply (BeachRedisReply *reply, guint min_elements, GError **error)
{
  g_autoptr (BeachRedisReply) owned = reply;

  if (owned == NULL)
    return NULL;
  if (owned->type == BEACH_REDIS_REPLY_ERROR) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "Redis refused a queue command: %s",
                 owned->str != NULL ? owned->str : "");
    return NULL;
  }
  if (owned->type != BEACH_REDIS_REPLY_ARRAY || owned->n_elements < min_elements) {
    malformed (error, "an array result", 0);
    return NULL;
  }
  return g_steal_pointer (&owned);
}

static BeachRedisReply *
eval_finish (BeachRedisQueue *self, GAsyncResult *result, guint min_elements, GError **error)
{
  return finish_reply (beach_redis_client_eval_finish (self->client, result, error), min_elements, error);
}

/* -- sessions: timers and the numbers last told */

/* A one-shot timer re-armed by ready time, as in the memory backend. */
static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs timer_funcs = {
  .dispatch = timer_dispatch,
};

static RedisSession *
redis_session_new (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  RedisSession *s = g_new0 (RedisSession, 1);

  s->queue = self;
  s->private_beach_id = g_strdup (private_beach_id);
  s->session_id = g_strdup (session_id);
  s->tag = session_tag (private_beach_id, session_id);
  s->timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_name (s->timer, "[beach] redis queue timer");
  g_source_set_callback (s->timer, session_timer_cb, s, NULL);
  g_source_attach (s->timer, self->context);
  return s;
}

static void
redis_session_free (RedisSession *s)
{
  if (s->timer != NULL)
    g_source_destroy (s->timer);
  g_clear_pointer (&s->timer, g_source_unref);
  g_free (s->private_beach_id);
  g_free (s->session_id);
  g_free (s->tag);
  g_free (s);
}

static RedisSession *
lookup_session (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  g_autofree gchar *tag = session_tag (private_beach_id, session_id);

  return g_hash_table_lookup (self->sessions, tag);
}

static RedisSession *
ensure_session (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  RedisSession *s = lookup_session (self, private_beach_id, session_id);

  if (s == NULL) {
    s = redis_session_new (self, private_beach_id, session_id);
    g_hash_table_insert (self->sessions, s->tag, s);
  }
  return s;
}

/* Nothing armed and nothing told: Redis holds all there is to know. */
static void
maybe_forget_session (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  RedisSession *s = lookup_session (self, private_beach_id, session_id);

  if (s != NULL && g_source_get_ready_time (s->timer) < 0 && s->told.depth == 0 && s->told.delivered == 0)
    g_hash_table_remove (self->sessions, s->tag);
}

/* Arms the session's timer @delay_ms from now unless it is due earlier
 * already; with @replace, sets it outright, and a negative delay disarms. */
static void
session_arm (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id, gint64 delay_ms, gboolean replace)
{
  RedisSession *s;
  gint64 when, current;

  if (delay_ms < 0) {
    s = replace ? lookup_session (self, private_beach_id, session_id) : NULL;
    if (s != NULL)
      g_source_set_ready_time (s->timer, -1);
    return;
  }
  s = ensure_session (self, private_beach_id, session_id);
  when = g_get_monotonic_time () + (delay_ms + TIMER_SLACK_MS) * 1000;
  current = g_source_get_ready_time (s->timer);
  if (replace || current < 0 || when < current)
    g_source_set_ready_time (s->timer, when);
}

/* -- outbox: signals collected from one reply and emitted once the local
 * state (timers, the numbers last told) is up to date, since a handler may
 * call back in */

/* Records the numbers, emits what the reply caused, then "depth-changed"
 * if the numbers moved since last told, then "wake"; frees the outbox. */
static void
outbox_flush (BeachRedisQueue *self, BeachQueueOutbox *out)
{
  g_autoptr (BeachRedisQueue) hold = g_object_ref (self);
  BeachFallbackQueue *queue = BEACH_FALLBACK_QUEUE (self);
  RedisSession *s = lookup_session (self, out->private_beach_id, out->session_id);
  BeachQueueStats before = { 0, 0 };
  gboolean changed = FALSE;

  if (s != NULL)
    before = s->told;
  if (out->have_stats && (out->stats.depth != before.depth || out->stats.delivered != before.delivered)) {
    ensure_session (self, out->private_beach_id, out->session_id)->told = out->stats;
    changed = TRUE;
  }
  maybe_forget_session (self, out->private_beach_id, out->session_id);

  beach_queue_outbox_emit_events (queue, out);
  if (changed)
    beach_fallback_queue_emit_depth_changed (queue, out->private_beach_id, out->session_id,
                                             out->stats.depth, out->stats.delivered);
  if (out->wake)
    beach_fallback_queue_emit_wake (queue, out->private_beach_id, out->session_id);
  beach_queue_outbox_clear (out);
}

/* -- calls */

static void
op_data_free (OpData *op)
{
  g_clear_object (&op->queue);
  g_free (op->private_beach_id);
  g_free (op->session_id);
  g_clear_pointer (&op->items, g_ptr_array_unref);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OpData, op_data_free)

static OpData *
op_data_new (const gchar *private_beach_id, const gchar *session_id)
{
  OpData *op = g_new0 (OpData, 1);

  op->private_beach_id = g_strdup (private_beach_id);
  op->session_id = g_strdup (session_id);
  op->now_ms = now_wall_ms ();
  return op;
}

/* A task carrying @op; NULL (with the task answered) when the session ids
 * are unusable or the call was cancelled before it started. */
static GTask *
start_task (BeachRedisQueue *self, OpData *op, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GError) error = NULL;

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, op, (GDestroyNotify) op_data_free);
  /* Once sent, a script may have committed: a late cancel must not make an
   * enqueue or ack look as if it failed. */
  g_task_set_check_cancellable (task, FALSE);
  if (g_task_return_error_if_cancelled (task))
    return NULL;
  if (!check_session_ids (op->private_beach_id, op->session_id, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return NULL;
  }
  return g_steal_pointer (&task);
}

/* Runs @script on @op's session keys; @args is consumed. */
static void
queue_eval (BeachRedisQueue *self, OpData *op, const gchar *script, GPtrArray *args, GAsyncReadyCallback callback, gpointer user_data)
{
  g_auto (GStrv) keys = session_keys (self, op->private_beach_id, op->session_id);
  g_autoptr (GPtrArray) owned = args;

  g_ptr_array_add (owned, NULL);
  beach_redis_client_eval_async (self->client, script, (const gchar *const *) keys,
                                 (const gchar *const *) owned->pdata, NULL, callback, user_data);
}

static GPtrArray *
args_new (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

static void
args_add_int (GPtrArray *args, gint64 value)
{
  g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, value));
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

enum {
  FLAG_DUPLICATE = 0,
  FLAG_QUEUED = 1,
  FLAG_EXPIRED = 2,
};

/* The per-item flags of an enqueue or requeue reply at @index, and the
 * numbers after them; NULL with @error set on a malformed reply. */
static gint64 *
append_reply_parse (OpData *op, const BeachRedisReply *reply, guint index, const gchar *what, BeachQueueStats *stats, GError **error)
{
  const BeachRedisReply *flags = reply_array_at (reply, index, op->items->len, error);
  g_autofree gint64 *values = g_new0 (gint64, op->items->len + 1);

  if (flags == NULL || !reply_stats_at (reply, index + 1, stats, error))
    return NULL;
  for (guint i = 0; i < op->items->len; i++) {
    if (!reply_int_at (flags, i, &values[i], error))
      return NULL;
    if (values[i] < FLAG_DUPLICATE || values[i] > FLAG_EXPIRED) {
      malformed (error, what, i);
      return NULL;
    }
  }
  return g_steal_pointer (&values);
}

/* The signals and the timer after an enqueue's or a requeue's @flags.
 * @op->items holds the actions, accepted at @op->now_ms, or with @entries
 * the BeachQueueEntry* requeued, accepted at their enqueued_ms. Returns how
 * many were queued. */
static gint64
append_flush (BeachRedisQueue *self, OpData *op, gboolean entries, const gint64 *flags, const BeachQueueStats *stats)
{
  gint64 due_ms = -1, queued = 0;
  BeachQueueOutbox out;

  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  for (guint i = 0; i < op->items->len; i++) {
    BeachQueueEntry *entry = entries ? g_ptr_array_index (op->items, i) : NULL;
    BeachAction *action = entry != NULL ? entry->action : g_ptr_array_index (op->items, i);
    gint64 expires_at = beach_action_get_expires_at_ms (action);

    if (flags[i] == FLAG_EXPIRED)
      beach_queue_outbox_add_settled (&out, beach_action_get_id (action), BEACH_ACK_STATUS_EXPIRED, NULL,
                                      entry != NULL ? entry->enqueued_ms : op->now_ms);
    if (flags[i] != FLAG_QUEUED)
      continue;
    queued++;
    out.wake = TRUE;
    /* Expiry is strict: due one ms after expires_at. */
    if (expires_at >= 0)
      due_ms = MIN (due_ms < 0 ? G_MAXINT64 : due_ms, MAX (0, expires_at + 1 - now_wall_ms ()));
  }
  if (due_ms >= 0)
    session_arm (self, op->private_beach_id, op->session_id, due_ms, FALSE);
  beach_queue_outbox_set_stats (&out, stats);
  outbox_flush (self, &out);
  return queued;
}

/* Turns the script's per-action flags into the result and the signals. */
static EnqueueResult *
enqueue_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, GError **error)
{
  g_autoptr (GStrvBuilder) accepted = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) duplicates = g_strv_builder_new ();
  g_autofree gint64 *flags = NULL;
  EnqueueResult *result;
  BeachQueueStats stats;

  flags = append_reply_parse (op, reply, 1, "an enqueue flag", &stats, error);
  if (flags == NULL)
    return NULL;
  for (guint i = 0; i < op->items->len; i++)
    g_strv_builder_add (flags[i] == FLAG_DUPLICATE ? duplicates : accepted,
                        beach_action_get_id (g_ptr_array_index (op->items, i)));
  append_flush (self, op, FALSE, flags, &stats);

  result = g_new0 (EnqueueResult, 1);
  result->accepted = g_strv_builder_end (accepted);
  result->duplicates = g_strv_builder_end (duplicates);
  return result;
}

static void
enqueue_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  OpData *op = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 3, &error);
  EnqueueResult *result;
  gint64 code, depth, fresh;

  if (reply == NULL || !reply_int_at (reply, 0, &code, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (code == 1) {
    if (!reply_int_at (reply, 1, &depth, &error) || !reply_int_at (reply, 2, &fresh, &error)) {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL,
                             "queue for session %s holds %" G_GINT64_FORMAT " of %u unacked actions; %" G_GINT64_FORMAT " more do not fit",
                             op->session_id, depth,
                             beach_fallback_queue_get_config (BEACH_FALLBACK_QUEUE (self))->cap, fresh);
    return;
  }
  result = code == 0 ? enqueue_apply (self, op, reply, &error) : NULL;
  if (result == NULL) {
    if (error == NULL)
      malformed (&error, "a known result code", 0);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, result, (GDestroyNotify) enqueue_result_free);
}

static void
beach_redis_queue_enqueue_async (BeachFallbackQueue *queue,
                                 const gchar *private_beach_id,
                                 const gchar *session_id,
                                 GPtrArray *actions,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GPtrArray *args = args_new ();
  GTask *task;

  op->items = g_ptr_array_ref (actions);
  task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_enqueue_async);
  if (task == NULL) {
    g_ptr_array_unref (args);
    return;
  }
  args_add_int (args, op->now_ms);
  args_add_int (args, beach_fallback_queue_get_config (queue)->cap);
  g_ptr_array_add (args, wake_channel (self, private_beach_id, session_id));
  g_ptr_array_add (args, g_strdup (self->token));
  for (guint i = 0; i < actions->len; i++) {
    BeachAction *action = g_ptr_array_index (actions, i);

    g_ptr_array_add (args, g_strdup (beach_action_get_id (action)));
    g_ptr_array_add (args, beach_action_to_string (action));
    args_add_int (args, beach_action_get_expires_at_ms (action));
  }
  queue_eval (self, op, beach_redis_script_enqueue, args, enqueue_done_cb, task);
}

static gboolean
beach_redis_queue_enqueue_finish (BeachFallbackQueue *queue,
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

/* Turns the script's per-entry flags into the count appended and the
 * signals; -1 with @error set on a malformed reply. */
static gint64
requeue_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, GError **error)
{
  g_autofree gint64 *flags = NULL;
  BeachQueueStats stats;

  flags = append_reply_parse (op, reply, 0, "a requeue flag", &stats, error);
  if (flags == NULL)
    return -1;
  return append_flush (self, op, TRUE, flags, &stats);
}

static void
requeue_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 3, &error);
  gint64 requeued = reply != NULL ? requeue_apply (self, g_task_get_task_data (task), reply, &error) : -1;

  if (requeued < 0)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_int (task, (gssize) requeued);
}

static void
beach_redis_queue_requeue_async (BeachFallbackQueue *queue,
                                 const gchar *private_beach_id,
                                 const gchar *session_id,
                                 GPtrArray *entries,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GPtrArray *args = args_new ();
  GTask *task;

  op->items = g_ptr_array_ref (entries);
  task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_requeue_async);
  if (task == NULL) {
    g_ptr_array_unref (args);
    return;
  }
  args_add_int (args, op->now_ms);
  g_ptr_array_add (args, wake_channel (self, private_beach_id, session_id));
  g_ptr_array_add (args, g_strdup (self->token));
  for (guint i = 0; i < entries->len; i++) {
    BeachQueueEntry *entry = g_ptr_array_index (entries, i);

    g_ptr_array_add (args, g_strdup (beach_action_get_id (entry->action)));
    g_ptr_array_add (args, beach_action_to_string (entry->action));
    args_add_int (args, beach_action_get_expires_at_ms (entry->action));
    args_add_int (args, entry->enqueued_ms);
  }
  queue_eval (self, op, beach_redis_script_requeue, args, requeue_done_cb, task);
}

static gboolean
beach_redis_queue_requeue_finish (BeachFallbackQueue *queue,
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

/* -- settled and dead-lettered lists, shared by read and maintain */

/* @reply[index]: dead-lettered ids; @reply[index + 1]: {id, enqueued_ms}
 * pairs settled expired. */
static gboolean
collect_removed (const BeachRedisReply *reply, guint index, BeachQueueOutbox *out, GError **error)
{
  const BeachRedisReply *buried = reply_array_at (reply, index, 0, error);
  const BeachRedisReply *expired = reply_array_at (reply, index + 1, 0, error);

  if (buried == NULL || expired == NULL)
    return FALSE;
  for (guint i = 0; i < buried->n_elements; i++) {
    const gchar *id = reply_string_at (buried, i, error);

    if (id == NULL)
      return FALSE;
    beach_queue_outbox_add_dead_lettered (out, id, BEACH_DEAD_LETTER_REASON_MAX_DELIVERIES);
  }
  for (guint i = 0; i < expired->n_elements; i++) {
    const BeachRedisReply *pair = reply_array_at (expired, i, 2, error);
    const gchar *id = pair != NULL ? reply_string_at (pair, 0, error) : NULL;
    gint64 enqueued_ms;

    if (id == NULL || !reply_int_at (pair, 1, &enqueued_ms, error))
      return FALSE;
    beach_queue_outbox_add_settled (out, id, BEACH_ACK_STATUS_EXPIRED, NULL, enqueued_ms);
  }
  return TRUE;
}

/* -- read */

/* One {entry id, action JSON, enqueued_ms, deliveries}; NULL without an
 * error for an action that no longer parses (warned about and skipped). */
static BeachQueueEntry *
parse_entry (const gchar *session_id, const BeachRedisReply *reply, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (BeachQueueEntry) entry = g_new0 (BeachQueueEntry, 1);
  const gchar *entry_id = reply_string_at (reply, 0, error);
  const gchar *json = entry_id != NULL ? reply_string_at (reply, 1, error) : NULL;
  gint64 deliveries;

  if (json == NULL || !reply_int_at (reply, 2, &entry->enqueued_ms, error) || !reply_int_at (reply, 3, &deliveries, error))
    return NULL;
  if (deliveries < 1 || deliveries > G_MAXUINT) {
    malformed (error, "a delivery count", 3);
    return NULL;
  }
  entry->deliveries = (guint) deliveries;
  entry->action = beach_action_new_from_string (json, &local_error);
  if (entry->action == NULL) {
    warn_limited ("session %s: skipping queued entry %s, whose action does not parse: %s",
                  session_id, entry_id, local_error->message);
    return NULL;
  }
  return g_steal_pointer (&entry);
}

static GPtrArray *
read_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, GError **error)
{
  const BeachRedisReply *list = reply_array_at (reply, 0, 0, error);
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_queue_entry_free);
  BeachQueueStats stats;
  BeachQueueOutbox out;

  if (list == NULL || !reply_stats_at (reply, 3, &stats, error))
    return NULL;
  /* Whatever went out comes due after the reclaim time, parsed or not. */
  if (list->n_elements > 0)
    session_arm (self, op->private_beach_id, op->session_id,
                 beach_fallback_queue_get_config (BEACH_FALLBACK_QUEUE (self))->reclaim_ms, FALSE);
  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  if (!collect_removed (reply, 1, &out, error)) {
    beach_queue_outbox_clear (&out);
    return NULL;
  }
  for (guint i = 0; i < list->n_elements; i++) {
    g_autoptr (GError) local_error = NULL;
    const BeachRedisReply *item = reply_array_at (list, i, 4, &local_error);
    BeachQueueEntry *entry = item != NULL ? parse_entry (op->session_id, item, &local_error) : NULL;

    if (local_error != NULL) {
      beach_queue_outbox_clear (&out);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    if (entry == NULL)
      continue;
    beach_queue_outbox_add_delivered (&out, beach_action_get_id (entry->action), entry->deliveries > 1);
    g_ptr_array_add (entries, entry);
  }
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (self, &out);
  return g_steal_pointer (&entries);
}

static void
read_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 5, &error);
  GPtrArray *entries = reply != NULL ? read_apply (self, g_task_get_task_data (task), reply, &error) : NULL;

  if (entries == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, entries, (GDestroyNotify) g_ptr_array_unref);
}

static void
beach_redis_queue_read_async (BeachFallbackQueue *queue,
                              const gchar *private_beach_id,
                              const gchar *session_id,
                              const gchar *consumer,
                              guint max,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  const BeachQueueConfig *config = beach_fallback_queue_get_config (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GTask *task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_read_async);
  GPtrArray *args;

  if (task == NULL)
    return;
  if (max == 0) {
    g_task_return_pointer (task, g_ptr_array_new_with_free_func ((GDestroyNotify) beach_queue_entry_free),
                           (GDestroyNotify) g_ptr_array_unref);
    g_object_unref (task);
    return;
  }
  args = args_new ();
  g_ptr_array_add (args, g_strconcat ("h:", consumer != NULL ? consumer : "", NULL));
  args_add_int (args, max);
  args_add_int (args, config->reclaim_ms);
  args_add_int (args, config->max_deliveries);
  args_add_int (args, config->dead_letters_kept);
  args_add_int (args, op->now_ms);
  queue_eval (self, op, beach_redis_script_read, args, read_done_cb, task);
}

static GPtrArray *
beach_redis_queue_read_finish (BeachFallbackQueue *queue,
                               GAsyncResult *result,
                               GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, queue), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- ack */

static gboolean
ack_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, guint *out_settled, GError **error)
{
  const BeachRedisReply *settled = reply_array_at (reply, 0, 0, error);
  g_autofree gint64 *enqueued = NULL;
  g_autofree guint *indexes = NULL;
  BeachQueueStats stats;
  BeachQueueOutbox out;

  if (settled == NULL || !reply_stats_at (reply, 1, &stats, error))
    return FALSE;
  enqueued = g_new0 (gint64, settled->n_elements + 1);
  indexes = g_new0 (guint, settled->n_elements + 1);
  for (guint i = 0; i < settled->n_elements; i++) {
    const BeachRedisReply *pair = reply_array_at (settled, i, 2, error);
    gint64 index;

    if (pair == NULL || !reply_int_at (pair, 0, &index, error) || !reply_int_at (pair, 1, &enqueued[i], error))
      return FALSE;
    if (index < 1 || index > op->items->len)
      return malformed (error, "an ack index", i);
    indexes[i] = (guint) index - 1;
  }

  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  for (guint i = 0; i < settled->n_elements; i++) {
    BeachActionAck *ack = g_ptr_array_index (op->items, indexes[i]);

    beach_queue_outbox_add_settled (&out, beach_action_ack_get_id (ack), beach_action_ack_get_status (ack),
                                    beach_action_ack_get_error_code (ack), enqueued[i]);
  }
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (self, &out);
  *out_settled = settled->n_elements;
  return TRUE;
}

static void
ack_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 3, &error);
  guint settled = 0;

  if (reply == NULL || !ack_apply (self, g_task_get_task_data (task), reply, &settled, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_int (task, settled);
}

static void
beach_redis_queue_ack_async (BeachFallbackQueue *queue,
                             const gchar *private_beach_id,
                             const gchar *session_id,
                             GPtrArray *acks,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GTask *task;
  GPtrArray *args;

  op->items = g_ptr_array_ref (acks);
  task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_ack_async);
  if (task == NULL)
    return;
  args = args_new ();
  g_ptr_array_add (args, wake_channel (self, private_beach_id, session_id));
  g_ptr_array_add (args, g_strdup (self->token));
  for (guint i = 0; i < acks->len; i++)
    g_ptr_array_add (args, g_strdup (beach_action_ack_get_id (g_ptr_array_index (acks, i))));
  queue_eval (self, op, beach_redis_script_ack, args, ack_done_cb, task);
}

static gboolean
beach_redis_queue_ack_finish (BeachFallbackQueue *queue,
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
stats_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  OpData *op = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 2, &error);
  BeachQueueStats stats;
  BeachQueueOutbox out;

  if (reply == NULL || !reply_stats_at (reply, 0, &stats, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* Another manager may have moved the numbers: say so. */
  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (self, &out);
  g_task_return_pointer (task, g_memdup2 (&stats, sizeof stats), g_free);
}

static void
beach_redis_queue_stats_async (BeachFallbackQueue *queue,
                               const gchar *private_beach_id,
                               const gchar *session_id,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GTask *task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_stats_async);

  if (task != NULL)
    queue_eval (self, op, beach_redis_script_stats, args_new (), stats_done_cb, task);
}

static gboolean
beach_redis_queue_stats_finish (BeachFallbackQueue *queue,
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

/* One XRANGE entry of the dead stream; NULL without an error for a letter
 * that does not parse (warned about and skipped). */
static BeachDeadLetter *
parse_dead_letter (const gchar *session_id, const BeachRedisReply *item, GError **error)
{
  const BeachRedisReply *fields = reply_array_at (item, 1, 0, error);
  g_autoptr (BeachDeadLetter) letter = g_new0 (BeachDeadLetter, 1);
  g_autoptr (GError) local_error = NULL;
  const gchar *json = NULL, *reason = NULL, *at_ms = NULL;

  if (fields == NULL || reply_string_at (item, 0, error) == NULL)
    return NULL;
  for (guint i = 0; i + 1 < fields->n_elements; i += 2) {
    const gchar *name = reply_string_at (fields, i, error);
    const gchar *value = name != NULL ? reply_string_at (fields, i + 1, error) : NULL;

    if (value == NULL)
      return NULL;
    /* A stream entry may repeat a field: the last one wins. */
    if (g_str_equal (name, "id")) {
      g_free (letter->id);
      letter->id = g_strdup (value);
    } else if (g_str_equal (name, "action")) {
      json = value;
    } else if (g_str_equal (name, "reason")) {
      reason = value;
    } else if (g_str_equal (name, "at_ms")) {
      at_ms = value;
    }
  }
  if (letter->id == NULL || json == NULL || reason == NULL || at_ms == NULL || !g_ascii_string_to_signed (at_ms, 10, 0, G_MAXINT64, &letter->at_ms, &local_error) || !beach_dead_letter_reason_from_string (reason, &letter->reason, &local_error) || (letter->action = beach_action_new_from_string (json, &local_error)) == NULL) {
    warn_limited ("session %s: skipping a dead letter that does not parse: %s", session_id,
                  local_error != NULL ? local_error->message : "a field is missing");
    return NULL;
  }
  return g_steal_pointer (&letter);
}

static GPtrArray *
dead_letters_apply (OpData *op, const BeachRedisReply *reply, GError **error)
{
  g_autoptr (GPtrArray) letters = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_dead_letter_free);

  for (guint i = 0; i < reply->n_elements; i++) {
    g_autoptr (GError) local_error = NULL;
    const BeachRedisReply *item = reply_array_at (reply, i, 2, &local_error);
    BeachDeadLetter *letter = item != NULL ? parse_dead_letter (op->session_id, item, &local_error) : NULL;

    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
    if (letter == NULL)
      continue;
    if (letter->at_ms >= op->since_ms)
      g_ptr_array_add (letters, letter);
    else
      beach_dead_letter_free (letter);
  }
  return g_steal_pointer (&letters);
}

static void
dead_letters_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = finish_reply (beach_redis_client_command_finish (self->client, res, &error), 0, &error);
  GPtrArray *letters = reply != NULL ? dead_letters_apply (g_task_get_task_data (task), reply, &error) : NULL;

  if (letters == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, letters, (GDestroyNotify) g_ptr_array_unref);
}

static void
beach_redis_queue_dead_letters_async (BeachFallbackQueue *queue,
                                      const gchar *private_beach_id,
                                      const gchar *session_id,
                                      gint64 since_ms,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GTask *task;
  g_auto (GStrv) keys = NULL;

  op->since_ms = since_ms;
  task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_dead_letters_async);
  if (task == NULL)
    return;
  /* at_ms is this manager's clock and the entry ids Redis's, so the
   * filter on since runs here, not on the ids. */
  keys = session_keys (self, private_beach_id, session_id);
  beach_redis_client_commandv_async (self->client, NULL, dead_letters_done_cb, task,
                                     "XRANGE", keys[2], "-", "+", NULL);
}

static GPtrArray *
beach_redis_queue_dead_letters_finish (BeachFallbackQueue *queue,
                                       GAsyncResult *result,
                                       GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, queue), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- drop session */

static gboolean
drop_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, GError **error)
{
  const BeachRedisReply *gone = reply_array_at (reply, 0, 0, error);
  BeachQueueStats stats = { 0, 0 };
  BeachQueueOutbox out;

  if (gone == NULL)
    return FALSE;
  for (guint i = 0; i < gone->n_elements; i++) {
    if (reply_string_at (gone, i, error) == NULL)
      return FALSE;
  }
  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  for (guint i = 0; i < gone->n_elements; i++)
    beach_queue_outbox_add_dead_lettered (&out, gone->elements[i]->str, op->reason);
  session_arm (self, op->private_beach_id, op->session_id, -1, TRUE);
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (self, &out);
  return TRUE;
}

static void
drop_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 3, &error);

  if (reply == NULL || !drop_apply (self, g_task_get_task_data (task), reply, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
beach_redis_queue_drop_session_async (BeachFallbackQueue *queue,
                                      const gchar *private_beach_id,
                                      const gchar *session_id,
                                      BeachDeadLetterReason reason,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  OpData *op = op_data_new (private_beach_id, session_id);
  GTask *task;

  op->reason = reason;
  task = start_task (self, op, cancellable, callback, user_data, beach_redis_queue_drop_session_async);
  if (task != NULL)
    queue_eval (self, op, beach_redis_script_drop, args_new (), drop_done_cb, task);
}

static gboolean
beach_redis_queue_drop_session_finish (BeachFallbackQueue *queue,
                                       GAsyncResult *result,
                                       GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, queue), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- timers: maintenance when nobody reads */

static gboolean
maintain_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, GError **error)
{
  BeachQueueStats stats;
  gint64 next_ms, woke;
  BeachQueueOutbox out;

  if (!reply_int_at (reply, 2, &next_ms, error) || !reply_int_at (reply, 3, &woke, error) || !reply_stats_at (reply, 4, &stats, error))
    return FALSE;
  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  if (!collect_removed (reply, 0, &out, error)) {
    beach_queue_outbox_clear (&out);
    return FALSE;
  }
  /* The script saw every change made before it ran, and replies come in
   * order, so its next due moment replaces whatever is armed. */
  session_arm (self, op->private_beach_id, op->session_id, next_ms, TRUE);
  out.wake = woke != 0;
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (self, &out);
  return TRUE;
}

static void
maintain_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (OpData) op = user_data;
  BeachRedisQueue *self = op->queue;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 6, &error);

  if (reply != NULL && maintain_apply (self, op, reply, &error))
    return;
  if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE))
    g_debug ("session %s: queue maintenance postponed: %s", op->session_id, error->message);
  else
    warn_limited ("session %s: queue maintenance failed: %s", op->session_id, error->message);
  /* Unless the session was dropped meanwhile, try again. */
  if (lookup_session (self, op->private_beach_id, op->session_id) != NULL)
    session_arm (self, op->private_beach_id, op->session_id, RETRY_MS, FALSE);
}

static gboolean
session_timer_cb (gpointer user_data)
{
  RedisSession *s = user_data;
  BeachRedisQueue *self = s->queue;
  const BeachQueueConfig *config = beach_fallback_queue_get_config (BEACH_FALLBACK_QUEUE (self));
  OpData *op = op_data_new (s->private_beach_id, s->session_id);
  GPtrArray *args = args_new ();

  /* The reply finds its session by name: it may be gone by then. */
  op->queue = g_object_ref (self);
  args_add_int (args, config->reclaim_ms);
  args_add_int (args, config->max_deliveries);
  args_add_int (args, config->dead_letters_kept);
  args_add_int (args, op->now_ms);
  g_ptr_array_add (args, wake_channel (self, s->private_beach_id, s->session_id));
  g_ptr_array_add (args, g_strdup (self->token));
  queue_eval (self, op, beach_redis_script_maintain, args, maintain_done_cb, op);
  return G_SOURCE_CONTINUE;
}

/* -- wake-ups from other managers */

static void
refresh_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (OpData) op = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (op->queue, res, 2, &error);
  BeachQueueStats stats;
  BeachQueueOutbox out;

  if (reply == NULL || !reply_stats_at (reply, 0, &stats, &error)) {
    g_debug ("session %s: numbers not refreshed: %s", op->session_id, error->message);
    return;
  }
  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (op->queue, &out);
}

/* "{P:S}" (@len bytes at @tag) → P, S. */
static gboolean
parse_tag (const gchar *tag, gsize len, gchar **out_private_beach_id, gchar **out_session_id)
{
  const gchar *colon;

  if (len < 5 || tag[0] != '{' || tag[len - 1] != '}')
    return FALSE;
  colon = memchr (tag, ':', len);
  if (colon == NULL)
    return FALSE;
  *out_private_beach_id = g_strndup (tag + 1, colon - tag - 1);
  *out_session_id = g_strndup (colon + 1, tag + len - 1 - (colon + 1));
  if (!check_session_ids (*out_private_beach_id, *out_session_id, NULL)) {
    g_clear_pointer (out_private_beach_id, g_free);
    g_clear_pointer (out_session_id, g_free);
    return FALSE;
  }
  return TRUE;
}

/* "PREFIX:wake:{P:S}" → P, S. */
static gboolean
parse_wake_channel (BeachRedisQueue *self, const gchar *channel, gchar **out_private_beach_id, gchar **out_session_id)
{
  const gchar *tag;

  if (channel == NULL || !g_str_has_prefix (channel, self->wake_prefix))
    return FALSE;
  tag = channel + strlen (self->wake_prefix);
  return parse_tag (tag, strlen (tag), out_private_beach_id, out_session_id);
}

static void
on_message (BeachRedisClient *client, const gchar *channel, const gchar *payload, gpointer user_data)
{
  BeachRedisQueue *self = user_data;
  g_autofree gchar *private_beach_id = NULL;
  g_autofree gchar *session_id = NULL;
  OpData *op;

  /* Our own wake-ups were emitted when they happened. */
  if (g_strcmp0 (payload, self->token) == 0 || !parse_wake_channel (self, channel, &private_beach_id, &session_id))
    return;
  beach_fallback_queue_emit_wake (BEACH_FALLBACK_QUEUE (self), private_beach_id, session_id);
  /* The other manager's enqueue moved this session's numbers too. */
  op = op_data_new (private_beach_id, session_id);
  op->queue = g_object_ref (self);
  queue_eval (self, op, beach_redis_script_stats, args_new (), refresh_done_cb, op);
}

static void
on_connected_changed (GObject *client, GParamSpec *pspec, gpointer user_data)
{
  BeachRedisQueue *self = user_data;
  gboolean available = beach_redis_client_get_connected (self->client);

  if (available == self->available)
    return;
  self->available = available;
  beach_fallback_queue_emit_availability_changed (BEACH_FALLBACK_QUEUE (self), available);
}

/* -- fast-path in-flight records (WIRE.md Routing step 1) */

static gchar *wake_pattern (const gchar *wake_prefix);

static void
in_flight_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree gchar *what = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), res, &error);

  if (reply == NULL)
    warn_limited ("%s: %s", what, error->message);
  else if (reply->type == BEACH_REDIS_REPLY_ERROR)
    warn_limited ("%s: Redis refused: %s", what, reply->str != NULL ? reply->str : "");
}

static gchar *
in_flight_key (BeachRedisQueue *self, const gchar *private_beach_id, const gchar *session_id)
{
  return g_strdup_printf ("%s:{%s:%s}:inflight", self->prefix, private_beach_id, session_id);
}

/* One HSET per send; hiredis pipelines them. "action" goes last: the
 * recovery script takes its text as is (beach-redis-scripts.h). */
static void
beach_redis_queue_track_in_flight (BeachFallbackQueue *queue,
                                   const gchar *private_beach_id,
                                   const gchar *session_id,
                                   BeachAction *action,
                                   gint64 enqueued_ms,
                                   guint64 seq)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  g_autofree gchar *key = NULL;
  g_autofree gchar *json = NULL;
  g_autofree gchar *value = NULL;

  if (!check_session_ids (private_beach_id, session_id, NULL))
    return;
  key = in_flight_key (self, private_beach_id, session_id);
  json = beach_action_to_string (action);
  /* The instance id is [A-Za-z0-9_-] (beach_cluster_instance_id_is_valid). */
  value = g_strdup_printf ("{\"seq\":%" G_GUINT64_FORMAT ",\"sent_ms\":%" G_GINT64_FORMAT
                           ",\"enqueued_ms\":%" G_GINT64_FORMAT ",\"expires_ms\":%" G_GINT64_FORMAT
                           ",\"instance\":\"%s\",\"action\":%s}",
                           seq, now_wall_ms (), enqueued_ms, beach_action_get_expires_at_ms (action),
                           self->instance_id != NULL ? self->instance_id : "", json);
  beach_redis_client_commandv_async (self->client, NULL, in_flight_done_cb,
                                     g_strdup_printf ("session %s: in-flight action %s not recorded", session_id,
                                                      beach_action_get_id (action)),
                                     "HSET", key, beach_action_get_id (action), value, NULL);
}

static void
beach_redis_queue_untrack_in_flight (BeachFallbackQueue *queue,
                                     const gchar *private_beach_id,
                                     const gchar *session_id,
                                     const gchar *action_id)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (queue);
  g_autofree gchar *key = NULL;

  if (!check_session_ids (private_beach_id, session_id, NULL))
    return;
  key = in_flight_key (self, private_beach_id, session_id);
  beach_redis_client_commandv_async (self->client, NULL, in_flight_done_cb,
                                     g_strdup_printf ("session %s: in-flight record of %s not removed (a restart would requeue it; dedupe or the host's ack settles it)",
                                                      session_id, action_id),
                                     "HDEL", key, action_id, NULL);
}

/* Recovery: SCAN for every session's inflight key, then one script per key,
 * one at a time. */
typedef struct {
  gchar *pattern;
  GStrv live; /* instances whose records stay */
  gchar *cursor;
  GQueue keys; /* gchar*, found and not yet recovered */
  guint requeued;
  OpData *op; /* the key under way */
} RecoverData;

static void
recover_data_free (RecoverData *d)
{
  g_free (d->pattern);
  g_strfreev (d->live);
  g_free (d->cursor);
  g_queue_clear_full (&d->keys, g_free);
  g_clear_pointer (&d->op, op_data_free);
  g_free (d);
}

static void recover_next (GTask *task);

/* {appended, expired, unparsed ids, depth, delivered}: the signals, as
 * after a requeue. Returns the count appended, -1 with @error set. */
static gint64
recover_apply (BeachRedisQueue *self, OpData *op, const BeachRedisReply *reply, GError **error)
{
  const BeachRedisReply *bad = reply_array_at (reply, 2, 0, error);
  const BeachRedisReply *expired = bad != NULL ? reply_array_at (reply, 1, 0, error) : NULL;
  BeachQueueStats stats;
  BeachQueueOutbox out;
  gint64 added = -1;

  if (expired == NULL || !reply_int_at (reply, 0, &added, error) || !reply_stats_at (reply, 3, &stats, error))
    return -1;
  if (added < 0 || expired == NULL) {
    if (added < 0)
      malformed (error, "a count", 0);
    return -1;
  }
  beach_queue_outbox_init (&out, op->private_beach_id, op->session_id);
  for (guint i = 0; i < expired->n_elements; i++) {
    const BeachRedisReply *pair = reply_array_at (expired, i, 2, error);
    const gchar *id = pair != NULL ? reply_string_at (pair, 0, error) : NULL;
    gint64 enqueued_ms;

    if (id == NULL || !reply_int_at (pair, 1, &enqueued_ms, error)) {
      beach_queue_outbox_clear (&out);
      return -1;
    }
    beach_queue_outbox_add_settled (&out, id, BEACH_ACK_STATUS_EXPIRED, NULL, enqueued_ms);
  }
  for (guint i = 0; i < bad->n_elements; i++) {
    const gchar *id = reply_string_at (bad, i, NULL);

    warn_limited ("session %s: dropping an in-flight record (%s) that does not parse", op->session_id,
                  id != NULL ? id : "?");
  }
  /* The maintenance run finds when the entries come due for expiry. */
  if (added > 0)
    session_arm (self, op->private_beach_id, op->session_id, 0, FALSE);
  out.wake = added > 0;
  beach_queue_outbox_set_stats (&out, &stats);
  outbox_flush (self, &out);
  return added;
}

static void
recover_key_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  RecoverData *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, res, 5, &error);
  gint64 added = reply != NULL ? recover_apply (self, d->op, reply, &error) : -1;

  g_clear_pointer (&d->op, op_data_free);
  if (added < 0) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  d->requeued += (guint) added;
  recover_next (g_steal_pointer (&task));
}

static void
recover_scan_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRedisQueue *self = g_task_get_source_object (task);
  RecoverData *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = finish_reply (beach_redis_client_command_finish (self->client, res, &error), 2, &error);
  const gchar *cursor = reply != NULL ? reply_string_at (reply, 0, &error) : NULL;
  const BeachRedisReply *keys = cursor != NULL ? reply_array_at (reply, 1, 0, &error) : NULL;

  if (keys == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  for (guint i = 0; i < keys->n_elements; i++) {
    const gchar *key = reply_string_at (keys, i, &error);

    if (key == NULL) {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
    g_queue_push_tail (&d->keys, g_strdup (key));
  }
  g_debug ("recovery scan (cursor %s): %u keys", cursor, keys->n_elements);
  g_free (d->cursor);
  d->cursor = g_strdup (cursor);
  recover_next (g_steal_pointer (&task));
}

/* "PREFIX:{P:S}:inflight" → P, S. */
static gboolean
parse_in_flight_key (BeachRedisQueue *self, const gchar *key, gchar **out_private_beach_id, gchar **out_session_id)
{
  gsize plen = strlen (self->prefix);
  const gchar *tag;

  if (!g_str_has_prefix (key, self->prefix) || key[plen] != ':' || !g_str_has_suffix (key, ":inflight"))
    return FALSE;
  tag = key + plen + 1;
  if (strlen (tag) < strlen (":inflight"))
    return FALSE;
  return parse_tag (tag, strlen (tag) - strlen (":inflight"), out_private_beach_id, out_session_id);
}

static void
recover_next (GTask *task)
{
  BeachRedisQueue *self = g_task_get_source_object (task);
  RecoverData *d = g_task_get_task_data (task);
  gchar *key;

  while ((key = g_queue_pop_head (&d->keys)) != NULL) {
    g_autofree gchar *owned = key;
    g_autofree gchar *private_beach_id = NULL;
    g_autofree gchar *session_id = NULL;
    GPtrArray *args;

    if (!parse_in_flight_key (self, owned, &private_beach_id, &session_id)) {
      g_debug ("not an in-flight record key, left alone: %s", owned);
      continue;
    }
    d->op = op_data_new (private_beach_id, session_id);
    args = args_new ();
    args_add_int (args, d->op->now_ms);
    g_ptr_array_add (args, wake_channel (self, private_beach_id, session_id));
    g_ptr_array_add (args, g_strdup (self->token));
    g_ptr_array_add (args, g_strdup (self->instance_id != NULL ? self->instance_id : ""));
    args_add_int (args, self->started_ms);
    for (guint i = 0; d->live != NULL && d->live[i] != NULL; i++)
      g_ptr_array_add (args, g_strdup (d->live[i]));
    queue_eval (self, d->op, beach_redis_script_recover, args, recover_key_done_cb, task);
    return;
  }
  if (d->cursor != NULL && g_str_equal (d->cursor, "0")) {
    g_task_return_int (task, d->requeued);
    g_object_unref (task);
    return;
  }
  beach_redis_client_commandv_async (self->client, NULL, recover_scan_done_cb, task,
                                     "SCAN", d->cursor != NULL ? d->cursor : "0", "MATCH", d->pattern,
                                     "COUNT", "100", NULL);
}

static void
beach_redis_queue_recover_in_flight_async (BeachFallbackQueue *queue,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  beach_redis_queue_recover_async (BEACH_REDIS_QUEUE (queue), NULL, cancellable, callback, user_data);
}

/**
 * beach_redis_queue_recover_async:
 * @self: the queue
 * @live_instances: (nullable): ids of the manager instances alive now
 *
 * Requeues the fast-path in-flight records of every session, except those
 * written by a live instance (beach-redis-scripts.h, recover). Finish with
 * beach_fallback_queue_recover_in_flight_finish().
 */
void
beach_redis_queue_recover_async (BeachRedisQueue *self,
                                 const gchar *const *live_instances,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  RecoverData *d = g_new0 (RecoverData, 1);
  g_autofree gchar *prefix = g_strdup_printf ("%s:", self->prefix);
  g_autofree gchar *head = wake_pattern (prefix);

  g_task_set_source_tag (task, beach_redis_queue_recover_in_flight_async);
  /* Each script commits on its own: a late cancel must not hide that. */
  g_task_set_check_cancellable (task, FALSE);
  d->pattern = g_strconcat (head, ":inflight", NULL);
  d->live = g_strdupv ((gchar **) live_instances);
  g_queue_init (&d->keys);
  g_task_set_task_data (task, d, (GDestroyNotify) recover_data_free);
  if (g_task_return_error_if_cancelled (task)) {
    g_object_unref (task);
    return;
  }
  recover_next (task);
}

/* -- object */

static gboolean
beach_redis_queue_is_available (BeachFallbackQueue *queue)
{
  return beach_redis_client_get_connected (BEACH_REDIS_QUEUE (queue)->client);
}

static const gchar *
beach_redis_queue_get_backend_name (BeachFallbackQueue *queue)
{
  return "redis";
}

static void
beach_redis_queue_dispose (GObject *object)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (object);

  if (self->client != NULL) {
    g_clear_signal_handler (&self->notify_id, self->client);
    g_clear_signal_handler (&self->message_id, self->client);
  }
  if (self->sessions != NULL)
    g_hash_table_remove_all (self->sessions);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (beach_redis_queue_parent_class)->dispose (object);
}

static void
beach_redis_queue_finalize (GObject *object)
{
  BeachRedisQueue *self = BEACH_REDIS_QUEUE (object);

  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->prefix);
  g_free (self->wake_prefix);
  g_free (self->token);
  g_free (self->instance_id);
  G_OBJECT_CLASS (beach_redis_queue_parent_class)->finalize (object);
}

static void
beach_redis_queue_class_init (BeachRedisQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  BeachFallbackQueueClass *queue_class = BEACH_FALLBACK_QUEUE_CLASS (klass);

  object_class->dispose = beach_redis_queue_dispose;
  object_class->finalize = beach_redis_queue_finalize;
  queue_class->enqueue_async = beach_redis_queue_enqueue_async;
  queue_class->enqueue_finish = beach_redis_queue_enqueue_finish;
  queue_class->read_async = beach_redis_queue_read_async;
  queue_class->read_finish = beach_redis_queue_read_finish;
  queue_class->ack_async = beach_redis_queue_ack_async;
  queue_class->ack_finish = beach_redis_queue_ack_finish;
  queue_class->stats_async = beach_redis_queue_stats_async;
  queue_class->stats_finish = beach_redis_queue_stats_finish;
  queue_class->dead_letters_async = beach_redis_queue_dead_letters_async;
  queue_class->dead_letters_finish = beach_redis_queue_dead_letters_finish;
  queue_class->drop_session_async = beach_redis_queue_drop_session_async;
  queue_class->drop_session_finish = beach_redis_queue_drop_session_finish;
  queue_class->requeue_async = beach_redis_queue_requeue_async;
  queue_class->requeue_finish = beach_redis_queue_requeue_finish;
  queue_class->track_in_flight = beach_redis_queue_track_in_flight;
  queue_class->untrack_in_flight = beach_redis_queue_untrack_in_flight;
  queue_class->recover_in_flight_async = beach_redis_queue_recover_in_flight_async;
  /* recover_in_flight_finish: the base class's propagates the count. */
  queue_class->is_available = beach_redis_queue_is_available;
  queue_class->get_backend_name = beach_redis_queue_get_backend_name;
}

static void
beach_redis_queue_init (BeachRedisQueue *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) redis_session_free);
  self->token = g_uuid_string_random ();
  self->started_ms = now_wall_ms ();
}

/* PSUBSCRIBE patterns glob: the prefix must match only itself. */
static gchar *
wake_pattern (const gchar *wake_prefix)
{
  GString *pattern = g_string_new (NULL);

  for (const gchar *p = wake_prefix; *p != '\0'; p++) {
    if (strchr ("*?[]\\", *p) != NULL)
      g_string_append_c (pattern, '\\');
    g_string_append_c (pattern, *p);
  }
  g_string_append_c (pattern, '*');
  return g_string_free (pattern, FALSE);
}

/**
 * beach_redis_queue_new:
 * @client: the Redis client to run on; started by the caller
 * @prefix: (nullable): the key prefix, or %NULL for "beach"
 * @config: (nullable): the tunables, or %NULL for the defaults
 *
 * Returns: (transfer full): a new Redis queue
 */
BeachRedisQueue *
beach_redis_queue_new (BeachRedisClient *client, const gchar *prefix, const BeachQueueConfig *config)
{
  BeachRedisQueue *self;
  g_autofree gchar *pattern = NULL;

  g_return_val_if_fail (BEACH_IS_REDIS_CLIENT (client), NULL);
  g_return_val_if_fail (prefix == NULL || *prefix != '\0', NULL);

  self = g_object_new (BEACH_TYPE_REDIS_QUEUE, NULL);
  if (config != NULL)
    beach_fallback_queue_set_config (BEACH_FALLBACK_QUEUE (self), config);
  self->client = g_object_ref (client);
  self->prefix = g_strdup (prefix != NULL ? prefix : "beach");
  self->wake_prefix = g_strdup_printf ("%s:wake:", self->prefix);
  self->available = beach_redis_client_get_connected (client);
  self->notify_id = g_signal_connect (client, "notify::connected", G_CALLBACK (on_connected_changed), self);
  self->message_id = g_signal_connect (client, "message", G_CALLBACK (on_message), self);
  pattern = wake_pattern (self->wake_prefix);
  beach_redis_client_psubscribe (client, pattern);
  return self;
}

/**
 * beach_redis_queue_set_instance_id:
 * @self: the queue
 * @instance_id: (nullable): this manager's instance id
 *
 * Names the manager in the in-flight records written from now on, so that
 * recovery leaves a live manager's records alone.
 */
void
beach_redis_queue_set_instance_id (BeachRedisQueue *self, const gchar *instance_id)
{
  g_return_if_fail (BEACH_IS_REDIS_QUEUE (self));

  g_free (self->instance_id);
  self->instance_id = g_strdup (instance_id);
}

/* -- for the fuzz target (beach-redis-private.h) */

BeachRedisReply *
beach_redis_queue_finish_reply (BeachRedisReply *reply, guint min_elements, GError **error)
{
  return finish_reply (reply, min_elements, error);
}

gboolean
beach_redis_queue_parse_stats (const BeachRedisReply *reply, guint index, BeachQueueStats *out, GError **error)
{
  return reply_stats_at (reply, index, out, error);
}

gboolean
beach_redis_queue_collect_removed (const BeachRedisReply *reply, guint index, BeachQueueOutbox *out, GError **error)
{
  return collect_removed (reply, index, out, error);
}

BeachQueueEntry *
beach_redis_queue_parse_entry (const gchar *session_id, const BeachRedisReply *reply, GError **error)
{
  return parse_entry (session_id, reply, error);
}

BeachDeadLetter *
beach_redis_queue_parse_dead_letter (const gchar *session_id, const BeachRedisReply *item, GError **error)
{
  return parse_dead_letter (session_id, item, error);
}

gboolean
beach_redis_queue_parse_tag (const gchar *tag, gsize len, gchar **out_private_beach_id, gchar **out_session_id)
{
  return parse_tag (tag, len, out_private_beach_id, out_session_id);
}
