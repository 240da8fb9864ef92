/* beach-cluster.c: several managers on one Redis
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-cluster"

#include "config.h"

#include <string.h>

#include "beach-cluster-scripts.h"
#include "beach-cluster.h"
#include "beach-config.h"
#include "beach-log-limiter.h"
#include "beach.h"

/**
 * BeachCluster:
 *
 * One per manager on Redis. Keys (under the queue's prefix, "beach"):
 *
 * - `PREFIX:instances`, a set of instance ids, and
 *   `PREFIX:instance:ID:alive`, a string with the owner TTL, refreshed by
 *   the heartbeat (a third of the TTL);
 * - `PREFIX:{P:S}:owner`, "ID GENERATION" while ID holds the session's
 *   healthy primary link, refreshed by the same heartbeat;
 * - `PREFIX:instance:ID:inbox`, a stream of actions forwarded to ID, read
 *   through the consumer group `owner`; `PUBLISH PREFIX:inbox-wake:ID`
 *   after each append;
 * - `PREFIX:instance:ID:reclaim`, a lock while a manager reclaims dead ID.
 *
 * Everything runs on the main context.
 */

#define INBOX_GROUP     "owner"
#define BATCH           100
#define RECLAIM_LOCK_MS 60000

typedef struct {
  gchar *private_beach_id;
  gchar *session_id;
  gchar *value; /* "ID GENERATION" */
} Owned;

struct _BeachCluster {
  GObject parent_instance;

  BeachRedisClient *client;
  BeachRedisQueue *queue;
  BeachMetrics *metrics;
  gchar *prefix;
  gchar *id;
  gchar *token; /* our PUBLISH payload */
  gchar *alive_key;
  gchar *instances_key;
  gchar *inbox_key;
  gchar *wake_channel;
  guint ttl_ms;
  guint inbox_cap;
  GHashTable *owned; /* session id -> Owned* */
  BeachClusterDeliverFunc deliver;
  gpointer deliver_data;
  guint tick_id;
  gulong notify_id;
  gulong message_id;
  gboolean recovered;      /* start-up recovery started */
  gboolean registered;     /* a heartbeat has gone through */
  gboolean heartbeat_busy; /* one at a time */
  gboolean liveness_busy;
  gboolean pump_busy;
  gboolean pump_again;
  gboolean pump_pel;      /* re-read our own pending entries first */
  GHashTable *reclaiming; /* dead instance ids under way */
  guint instance_count;
  gboolean stopped;
};

G_DEFINE_FINAL_TYPE (BeachCluster, beach_cluster, G_TYPE_OBJECT)

static void pump (BeachCluster *self);

static void
owned_free (Owned *o)
{
  g_free (o->private_beach_id);
  g_free (o->session_id);
  g_free (o->value);
  g_free (o);
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

gboolean
beach_cluster_instance_id_is_valid (const gchar *instance_id)
{
  return beach_config_instance_id_is_valid (instance_id);
}

static gchar *
owner_key (BeachCluster *self, const gchar *private_beach_id, const gchar *session_id)
{
  return g_strdup_printf ("%s:{%s:%s}:owner", self->prefix, private_beach_id, session_id);
}

static gchar *
instance_key (BeachCluster *self, const gchar *id, const gchar *what)
{
  return g_strdup_printf ("%s:instance:%s:%s", self->prefix, id, what);
}

/* "ID GENERATION" → a copy of ID, NULL when the record is not one. */
static gchar *
owner_instance (const gchar *owner)
{
  const gchar *space = owner != NULL ? strchr (owner, ' ') : NULL;
  g_autofree gchar *id = NULL;

  if (space == NULL)
    return NULL;
  id = g_strndup (owner, space - owner);
  return beach_cluster_instance_id_is_valid (id) ? g_steal_pointer (&id) : NULL;
}

gboolean
beach_cluster_owner_is_self (BeachCluster *self, const gchar *owner)
{
  g_autofree gchar *id = owner_instance (owner);

  return id != NULL && g_str_equal (id, self->id);
}

static void
warn_limited (const gchar *kind, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

/* Cluster-wide warnings repeat per tick while Redis misbehaves. */
static void
warn_limited (const gchar *kind, const gchar *format, ...)
{
  va_list args;
  g_autofree gchar *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  beach_log_limited (NULL, G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "cluster", kind, "%s", text);
}

/* A command's or script's reply, with ERROR replies made GErrors. */
static BeachRedisReply *
take_reply (BeachRedisReply *reply, GError **error)
{
  if (reply == NULL)
    return NULL;
  if (reply->type == BEACH_REDIS_REPLY_ERROR) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "Redis: %s", reply->str);
    beach_redis_reply_free (reply);
    return NULL;
  }
  return reply;
}

static BeachRedisReply *
eval_finish (BeachCluster *self, GAsyncResult *result, GError **error)
{
  return take_reply (beach_redis_client_eval_finish (self->client, result, error), error);
}

static BeachRedisReply *
command_finish (BeachCluster *self, GAsyncResult *result, GError **error)
{
  return take_reply (beach_redis_client_command_finish (self->client, result, error), error);
}

static void
eval (BeachCluster *self, const gchar *script, GPtrArray *keys, GPtrArray *args, GAsyncReadyCallback callback, gpointer user_data)
{
  g_ptr_array_add (keys, NULL);
  g_ptr_array_add (args, NULL);
  beach_redis_client_eval_async (self->client, script, (const gchar *const *) keys->pdata,
                                 (const gchar *const *) args->pdata, NULL, callback, user_data);
  g_ptr_array_unref (keys);
  g_ptr_array_unref (args);
}

static GPtrArray *
strings_new (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

/* Fire-and-forget commands log their failures. */
static void
logged_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree gchar *what = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = take_reply (beach_redis_client_eval_finish (BEACH_REDIS_CLIENT (source), result, &error), &error);

  if (reply == NULL)
    warn_limited (what, "%s: %s", what, error->message);
}

static void
command_logged_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree gchar *what = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = take_reply (beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &error), &error);

  if (reply == NULL && !g_str_has_prefix (error->message, "Redis: BUSYGROUP"))
    warn_limited (what, "%s: %s", what, error->message);
}

/* -- inbox entries */

typedef struct {
  gchar *private_beach_id;
  gchar *session_id;
  GPtrArray *entries; /* BeachQueueEntry*, owned */
  GPtrArray *eids;    /* stream entry ids, owned */
} Run;

static void
run_free (Run *run)
{
  g_free (run->private_beach_id);
  g_free (run->session_id);
  g_ptr_array_unref (run->entries);
  g_ptr_array_unref (run->eids);
  g_free (run);
}

static const gchar *
field (const BeachRedisReply *fields, const gchar *name)
{
  for (guint i = 0; i + 1 < fields->n_elements; i += 2) {
    const gchar *k = beach_redis_reply_get_string (fields->elements[i], NULL);

    if (k != NULL && g_str_equal (k, name))
      return beach_redis_reply_get_string (fields->elements[i + 1], NULL);
  }
  return NULL;
}

static gboolean
parse_int (const gchar *text, gint64 min, gint64 *out)
{
  gint64 v;

  if (text == NULL || !g_ascii_string_to_signed (text, 10, min, G_MAXINT64, &v, NULL))
    return FALSE;
  *out = v;
  return TRUE;
}

/* The one parser of inbox entries ([entry id, [field, value...]]), into
 * runs of one session each, in stream order. Entries without a body (gone
 * behind our back) or that do not parse go to @bad, to be deleted. */
static gboolean
parse_entries (const BeachRedisReply *list, GPtrArray *runs, GPtrArray *bad, GError **error)
{
  for (guint i = 0; i < list->n_elements; i++) {
    const BeachRedisReply *item = beach_redis_reply_get_element (list, i, error);
    const BeachRedisReply *fields;
    const gchar *eid = item != NULL ? beach_redis_reply_get_string (beach_redis_reply_get_element (item, 0, NULL), error) : NULL;
    const gchar *p, *s, *json;
    gint64 enqueued_ms = 0;
    g_autoptr (GError) local_error = NULL;
    g_autoptr (BeachAction) action = NULL;
    BeachQueueEntry *entry;
    Run *run = runs->len > 0 ? runs->pdata[runs->len - 1] : NULL;

    if (eid == NULL)
      return FALSE;
    fields = beach_redis_reply_get_element (item, 1, NULL);
    if (fields == NULL || fields->type != BEACH_REDIS_REPLY_ARRAY) {
      g_ptr_array_add (bad, g_strdup (eid));
      continue;
    }
    p = field (fields, "p");
    s = field (fields, "s");
    json = field (fields, "action");
    if (p == NULL || s == NULL || !beach_session_id_is_valid (s) || *p == '\0' || strpbrk (p, ":{}") != NULL || !parse_int (field (fields, "enqueued_ms"), 0, &enqueued_ms) || json == NULL || (action = beach_action_new_from_string (json, &local_error)) == NULL) {
      warn_limited ("bad-entry", "inbox entry %s does not parse, dropped: %s", eid,
                    local_error != NULL ? local_error->message : "missing or bad fields");
      g_ptr_array_add (bad, g_strdup (eid));
      continue;
    }
    if (run == NULL || !g_str_equal (run->session_id, s) || !g_str_equal (run->private_beach_id, p)) {
      run = g_new0 (Run, 1);
      run->private_beach_id = g_strdup (p);
      run->session_id = g_strdup (s);
      run->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_queue_entry_free);
      run->eids = strings_new ();
      g_ptr_array_add (runs, run);
    }
    entry = g_new0 (BeachQueueEntry, 1);
    entry->action = g_steal_pointer (&action);
    entry->enqueued_ms = enqueued_ms;
    entry->deliveries = 1;
    g_ptr_array_add (run->entries, entry);
    g_ptr_array_add (run->eids, g_strdup (eid));
  }
  return TRUE;
}

/* XACK + XDEL of @eids in @inbox; @callback may be NULL. */
static void
inbox_done (BeachCluster *self, const gchar *inbox, GPtrArray *eids, GAsyncReadyCallback callback, gpointer user_data)
{
  GPtrArray *keys = strings_new ();
  GPtrArray *args = strings_new ();

  g_ptr_array_add (keys, g_strdup (inbox));
  g_ptr_array_add (args, g_strdup (INBOX_GROUP));
  for (guint i = 0; i < eids->len; i++)
    g_ptr_array_add (args, g_strdup (eids->pdata[i]));
  if (callback == NULL) {
    callback = logged_cb;
    user_data = g_strdup ("inbox entries not deleted");
  }
  eval (self, beach_cluster_script_done, keys, args, callback, user_data);
}

/* -- the batch: runs handed one at a time to a step (deliver or requeue) */

typedef struct _Batch Batch;
typedef void (*BatchStep) (Batch *batch, Run *run);
typedef void (*BatchEnd) (Batch *batch, gboolean complete);

struct _Batch {
  BeachCluster *self; /* owned */
  gchar *inbox;
  GPtrArray *runs; /* Run*, owned */
  guint next;
  guint taken; /* actions moved */
  BatchStep step;
  BatchEnd end;
  gpointer data;
};

static void
batch_free (Batch *b)
{
  g_object_unref (b->self);
  g_free (b->inbox);
  g_ptr_array_unref (b->runs);
  g_free (b);
}

static void batch_next (Batch *b);

static void
batch_run_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Batch *b = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (b->self, result, &error);

  if (reply == NULL) {
    /* The actions are delivered or queued but still in the inbox: the
     * next read hands them out again (dedupe on in-flight and queued ids
     * catches most; the host's applied window the rest). */
    warn_limited ("inbox-delete", "inbox entries not deleted after delivery: %s", error->message);
    b->end (b, FALSE);
    return;
  }
  batch_next (b);
}

/* The step of run b->next - 1 is done. */
static void
batch_step_done (Batch *b, gboolean ok)
{
  Run *run = b->runs->pdata[b->next - 1];

  if (!ok) {
    b->end (b, FALSE);
    return;
  }
  b->taken += run->entries->len;
  inbox_done (b->self, b->inbox, run->eids, batch_run_deleted_cb, b);
}

static void
batch_next (Batch *b)
{
  if (b->next >= b->runs->len) {
    b->end (b, TRUE);
    return;
  }
  b->next++;
  b->step (b, b->runs->pdata[b->next - 1]);
}

static Batch *
batch_new (BeachCluster *self, const gchar *inbox, BatchStep step, BatchEnd end)
{
  Batch *b = g_new0 (Batch, 1);

  b->self = g_object_ref (self);
  b->inbox = g_strdup (inbox);
  b->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) run_free);
  b->step = step;
  b->end = end;
  return b;
}

/* -- reading our inbox */

static void pump_read (BeachCluster *self);

static void
deliver_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Batch *b = user_data;

  batch_step_done (b, g_task_propagate_boolean (G_TASK (result), NULL));
}

static void
pump_step (Batch *b, Run *run)
{
  BeachCluster *self = b->self;
  GTask *task;

  if (self->stopped || self->deliver == NULL) {
    /* Shutting down: the entries stay for the next reader. */
    b->end (b, FALSE);
    return;
  }
  task = g_task_new (self, NULL, deliver_cb, b);

  beach_metrics_counter_add (self->metrics, "cluster_inbox_actions_total", NULL, run->entries->len);
  self->deliver (task, run->private_beach_id, run->session_id, run->entries, self->deliver_data);
  g_object_unref (task);
}

static void
pump_end (Batch *b, gboolean complete)
{
  BeachCluster *self = b->self;
  gboolean full = GPOINTER_TO_UINT (b->data) >= BATCH;

  if (!complete) {
    /* What is left stays in our pending entries: the next tick tries again,
     * in order. */
    self->pump_pel = TRUE;
    self->pump_busy = FALSE;
    batch_free (b);
    return;
  }
  batch_free (b);
  if (full || self->pump_again || self->pump_pel) {
    self->pump_again = FALSE;
    pump_read (self);
    return;
  }
  self->pump_busy = FALSE;
}

static void
pump_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachCluster) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = command_finish (self, result, &error);
  g_autoptr (GPtrArray) bad = strings_new ();
  const BeachRedisReply *stream, *list;
  Batch *b;

  if (reply == NULL) {
    if (strstr (error->message, "NOGROUP") != NULL) {
      /* The inbox went (a manager took us for dead and reclaimed it). */
      beach_redis_client_commandv_async (self->client, NULL, command_logged_cb, g_strdup ("inbox group not created"),
                                         "XGROUP", "CREATE", self->inbox_key, INBOX_GROUP, "0", "MKSTREAM", NULL);
    } else {
      warn_limited ("inbox-read", "inbox not read: %s", error->message);
    }
    self->pump_busy = FALSE;
    return;
  }
  stream = reply->type == BEACH_REDIS_REPLY_ARRAY ? beach_redis_reply_get_element (reply, 0, NULL) : NULL;
  list = stream != NULL ? beach_redis_reply_get_element (stream, 1, NULL) : NULL;
  if (list == NULL || list->type != BEACH_REDIS_REPLY_ARRAY || list->n_elements == 0) {
    if (reply->type != BEACH_REDIS_REPLY_NIL && reply->type != BEACH_REDIS_REPLY_ARRAY)
      warn_limited ("inbox-read", "inbox read: an unexpected reply");
    if (self->pump_pel) {
      self->pump_pel = FALSE;
      pump_read (self);
      return;
    }
    self->pump_busy = FALSE;
    if (self->pump_again) {
      self->pump_again = FALSE;
      pump (self);
    }
    return;
  }
  b = batch_new (self, self->inbox_key, pump_step, pump_end);
  b->data = GUINT_TO_POINTER (list->n_elements);
  if (!parse_entries (list, b->runs, bad, &error)) {
    warn_limited ("inbox-read", "inbox read: %s", error->message);
    batch_free (b);
    self->pump_busy = FALSE;
    return;
  }
  if (bad->len > 0)
    inbox_done (self, self->inbox_key, bad, NULL, NULL);
  batch_next (b);
}

static void
pump_read (BeachCluster *self)
{
  g_autofree gchar *count = g_strdup_printf ("%d", BATCH);

  beach_redis_client_commandv_async (self->client, NULL, pump_read_cb, g_object_ref (self),
                                     "XREADGROUP", "GROUP", INBOX_GROUP, self->id, "COUNT", count,
                                     "STREAMS", self->inbox_key, self->pump_pel ? "0" : ">", NULL);
}

/* Reads the inbox until it is empty; one reader at a time. */
static void
pump (BeachCluster *self)
{
  if (self->stopped || self->deliver == NULL || !beach_redis_client_get_connected (self->client))
    return;
  if (self->pump_busy) {
    self->pump_again = TRUE;
    return;
  }
  self->pump_busy = TRUE;
  self->pump_again = FALSE;
  pump_read (self);
}

/* -- reclaiming a dead instance */

typedef struct {
  gchar *dead;
  gchar *lock_key;
  GStrv live;
  guint moved;
} Reclaim;

static void
reclaim_free (Reclaim *r)
{
  g_free (r->dead);
  g_free (r->lock_key);
  g_strfreev (r->live);
  g_free (r);
}

static void reclaim_read (BeachCluster *self, Reclaim *r);

static void
reclaim_finish (BeachCluster *self, Reclaim *r, gboolean ok)
{
  if (ok && r->moved > 0)
    g_message ("instance %s is gone: %u forwarded actions moved from its inbox to the fallback queues", r->dead, r->moved);
  if (!ok) /* the lock expires; a later tick tries again */
    beach_redis_client_commandv_async (self->client, NULL, command_logged_cb, g_strdup ("reclaim lock not released"),
                                       "DEL", r->lock_key, NULL);
  g_hash_table_remove (self->reclaiming, r->dead);
  reclaim_free (r);
}

typedef struct {
  BeachCluster *self; /* owned */
  Reclaim *r;
} ReclaimCall;

static ReclaimCall *
reclaim_call_new (BeachCluster *self, Reclaim *r)
{
  ReclaimCall *c = g_new0 (ReclaimCall, 1);

  c->self = g_object_ref (self);
  c->r = r;
  return c;
}

static void
reclaim_forgotten_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReclaimCall *c = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (c->self, result, &error);

  if (reply == NULL)
    warn_limited ("reclaim", "instance %s: not forgotten: %s", c->r->dead, error->message);
  else
    g_debug ("instance %s forgotten", c->r->dead);
  reclaim_finish (c->self, c->r, TRUE);
  g_object_unref (c->self);
  g_free (c);
}

static void
reclaim_recovered_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReclaimCall *c = user_data;
  BeachCluster *self = c->self;
  g_autoptr (GError) error = NULL;
  guint requeued = 0;
  GPtrArray *keys, *args;

  if (!beach_fallback_queue_recover_in_flight_finish (BEACH_FALLBACK_QUEUE (source), result, &requeued, &error)) {
    warn_limited ("reclaim", "instance %s: in-flight records not recovered: %s", c->r->dead, error->message);
    reclaim_finish (self, c->r, FALSE);
    g_object_unref (c->self);
    g_free (c);
    return;
  }
  if (requeued > 0)
    g_message ("instance %s is gone: %u of its fast-path in-flight actions moved to the fallback queues", c->r->dead, requeued);
  beach_metrics_counter_add (self->metrics, "cluster_actions_reclaimed_total", NULL, requeued);
  keys = strings_new ();
  args = strings_new ();
  g_ptr_array_add (keys, g_strdup (self->instances_key));
  g_ptr_array_add (keys, instance_key (self, c->r->dead, "inbox"));
  g_ptr_array_add (keys, instance_key (self, c->r->dead, "alive"));
  g_ptr_array_add (keys, g_strdup (c->r->lock_key));
  g_ptr_array_add (args, g_strdup (c->r->dead));
  eval (self, beach_cluster_script_forget, keys, args, reclaim_forgotten_cb, c);
}

static void
reclaim_requeued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Batch *b = user_data;
  g_autoptr (GError) error = NULL;
  guint n = 0;

  if (!beach_fallback_queue_requeue_finish (BEACH_FALLBACK_QUEUE (source), result, &n, &error)) {
    warn_limited ("reclaim", "forwarded actions of a dead instance not requeued: %s", error->message);
    batch_step_done (b, FALSE);
    return;
  }
  batch_step_done (b, TRUE);
}

static void
reclaim_step (Batch *b, Run *run)
{
  beach_fallback_queue_requeue_async (BEACH_FALLBACK_QUEUE (b->self->queue), run->private_beach_id,
                                      run->session_id, run->entries, NULL, reclaim_requeued_cb, b);
}

static void
reclaim_end (Batch *b, gboolean complete)
{
  BeachCluster *self = g_object_ref (b->self);
  Reclaim *r = b->data;

  r->moved += b->taken;
  beach_metrics_counter_add (self->metrics, "cluster_actions_reclaimed_total", NULL, b->taken);
  batch_free (b);
  if (complete)
    reclaim_read (self, r);
  else
    reclaim_finish (self, r, FALSE);
  g_object_unref (self);
}

static void
reclaim_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReclaimCall *c = user_data;
  BeachCluster *self = c->self;
  Reclaim *r = c->r;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = command_finish (self, result, &error);
  g_autoptr (GPtrArray) bad = strings_new ();
  g_autofree gchar *inbox = instance_key (self, r->dead, "inbox");
  Batch *b;

  g_free (c);
  if (reply == NULL || reply->type != BEACH_REDIS_REPLY_ARRAY) {
    warn_limited ("reclaim", "instance %s: inbox not read: %s", r->dead, error != NULL ? error->message : "an unexpected reply");
    reclaim_finish (self, r, FALSE);
    g_object_unref (self);
    return;
  }
  if (reply->n_elements == 0) {
    /* The inbox is empty: now the in-flight records of every dead
     * instance (the live ones keep theirs), then forget this one. */
    GPtrArray *live = g_ptr_array_new ();

    for (guint i = 0; r->live != NULL && r->live[i] != NULL; i++)
      g_ptr_array_add (live, r->live[i]);
    g_ptr_array_add (live, self->id);
    g_ptr_array_add (live, NULL);
    beach_redis_queue_recover_async (self->queue, (const gchar *const *) live->pdata, NULL, reclaim_recovered_cb,
                                     reclaim_call_new (self, r));
    g_ptr_array_unref (live);
    g_object_unref (self);
    return;
  }
  b = batch_new (self, inbox, reclaim_step, reclaim_end);
  b->data = r;
  if (!parse_entries (reply, b->runs, bad, &error)) {
    warn_limited ("reclaim", "instance %s: inbox read: %s", r->dead, error->message);
    batch_free (b);
    reclaim_finish (self, r, FALSE);
    g_object_unref (self);
    return;
  }
  if (bad->len > 0)
    inbox_done (self, inbox, bad, NULL, NULL);
  batch_next (b);
  g_object_unref (self);
}

/* The dead instance's inbox, oldest first, in batches. */
static void
reclaim_read (BeachCluster *self, Reclaim *r)
{
  g_autofree gchar *inbox = instance_key (self, r->dead, "inbox");
  g_autofree gchar *count = g_strdup_printf ("%d", BATCH);

  beach_redis_client_commandv_async (self->client, NULL, reclaim_read_cb, reclaim_call_new (self, r),
                                     "XRANGE", inbox, "-", "+", "COUNT", count, NULL);
}

static void
reclaim_locked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ReclaimCall *c = user_data;
  g_autoptr (BeachCluster) self = c->self;
  Reclaim *r = c->r;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = command_finish (self, result, &error);

  g_free (c);
  if (reply == NULL || reply->type == BEACH_REDIS_REPLY_NIL) {
    /* Another manager reclaims it, or Redis went: nothing to do here. */
    g_hash_table_remove (self->reclaiming, r->dead);
    reclaim_free (r);
    return;
  }
  g_message ("instance %s stopped heart-beating: reclaiming its inbox and in-flight actions", r->dead);
  reclaim_read (self, r);
}

static void
reclaim (BeachCluster *self, const gchar *dead, const BeachRedisReply *live)
{
  Reclaim *r;
  g_autoptr (GStrvBuilder) ids = g_strv_builder_new ();
  g_autofree gchar *ttl = g_strdup_printf ("%d", RECLAIM_LOCK_MS);

  if (g_str_equal (dead, self->id) || g_hash_table_contains (self->reclaiming, dead))
    return;
  for (guint i = 0; i < live->n_elements; i++) {
    const gchar *id = beach_redis_reply_get_string (live->elements[i], NULL);

    if (id != NULL)
      g_strv_builder_add (ids, id);
  }
  r = g_new0 (Reclaim, 1);
  r->dead = g_strdup (dead);
  r->lock_key = instance_key (self, dead, "reclaim");
  r->live = g_strv_builder_end (ids);
  g_hash_table_add (self->reclaiming, g_strdup (dead));
  beach_redis_client_commandv_async (self->client, NULL, reclaim_locked_cb, reclaim_call_new (self, r),
                                     "SET", r->lock_key, self->id, "NX", "PX", ttl, NULL);
}

/* -- liveness */

static void
startup_recovered_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  guint requeued = 0;

  if (!beach_fallback_queue_recover_in_flight_finish (BEACH_FALLBACK_QUEUE (source), result, &requeued, &error))
    g_warning ("fast-path in-flight actions left by an earlier manager were not all recovered: %s",
               error->message);
  else if (requeued > 0)
    g_message ("recovered %u fast-path in-flight actions left by an earlier manager into the fallback queue",
               requeued);
  else
    g_debug ("no fast-path in-flight actions to recover");
}

static void
liveness_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachCluster) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, result, &error);
  const BeachRedisReply *live = reply != NULL ? beach_redis_reply_get_element (reply, 0, &error) : NULL;
  const BeachRedisReply *dead = live != NULL ? beach_redis_reply_get_element (reply, 1, &error) : NULL;

  self->liveness_busy = FALSE;
  if (dead == NULL || live->type != BEACH_REDIS_REPLY_ARRAY || dead->type != BEACH_REDIS_REPLY_ARRAY) {
    warn_limited ("liveness", "instances not checked: %s", error != NULL ? error->message : "an unexpected reply");
    return;
  }
  if (self->instance_count != live->n_elements) {
    self->instance_count = live->n_elements;
    beach_metrics_gauge_set (self->metrics, "cluster_instances", NULL, live->n_elements);
  }
  if (!self->recovered && !self->stopped) {
    /* Once, at the first connection: in-flight records of managers that
     * are not alive go back to their queues (a live manager's stay). */
    GPtrArray *ids = g_ptr_array_new ();

    self->recovered = TRUE;
    for (guint i = 0; i < live->n_elements; i++) {
      const gchar *id = beach_redis_reply_get_string (live->elements[i], NULL);

      if (id != NULL)
        g_ptr_array_add (ids, (gpointer) id);
    }
    g_ptr_array_add (ids, self->id);
    g_ptr_array_add (ids, NULL);
    beach_redis_queue_recover_async (self->queue, (const gchar *const *) ids->pdata, NULL, startup_recovered_cb, NULL);
    g_ptr_array_unref (ids);
  }
  for (guint i = 0; i < dead->n_elements && !self->stopped; i++) {
    const gchar *id = beach_redis_reply_get_string (dead->elements[i], NULL);

    if (id != NULL && beach_cluster_instance_id_is_valid (id))
      reclaim (self, id, live);
  }
}

static void
check_liveness (BeachCluster *self)
{
  GPtrArray *keys = strings_new ();
  GPtrArray *args = strings_new ();

  if (self->liveness_busy)
    return;
  self->liveness_busy = TRUE;
  g_ptr_array_add (keys, g_strdup (self->instances_key));
  g_ptr_array_add (args, g_strdup (self->prefix));
  eval (self, beach_cluster_script_liveness, keys, args, liveness_cb, g_object_ref (self));
}

/* -- heartbeat */

static void
heartbeat_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachCluster) self = user_data;
  g_auto (GStrv) sessions = g_object_steal_data (G_OBJECT (self), "beach-heartbeat-sessions");
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, result, &error);
  const BeachRedisReply *lost = reply != NULL ? beach_redis_reply_get_element (reply, 1, &error) : NULL;
  gint64 was = 0;

  self->heartbeat_busy = FALSE;
  if (lost == NULL || lost->type != BEACH_REDIS_REPLY_ARRAY || !beach_redis_reply_get_int (reply->elements[0], &was, &error)) {
    warn_limited ("heartbeat", "heartbeat not written: %s", error != NULL ? error->message : "an unexpected reply");
    return;
  }
  if (was == 0 && self->registered)
    g_warning ("instance %s: its record had expired (no heartbeat for %u ms); another manager may have reclaimed its forwarded and in-flight actions, which may then reach hosts twice",
               self->id, self->ttl_ms);
  if (!self->registered)
    g_message ("instance %s registered (owner TTL %u ms)", self->id, self->ttl_ms);
  self->registered = TRUE;
  for (guint i = 0; i < lost->n_elements; i++) {
    gint64 index = 0;

    if (beach_redis_reply_get_int (lost->elements[i], &index, NULL) && sessions != NULL && index >= 1 && index <= (gint64) g_strv_length (sessions)) {
      const gchar *sid = sessions[index - 1];

      beach_session_message (sid, "owner_lost", "session %s: another manager owns it now; this one stops refreshing its owner record", sid);
      g_hash_table_remove (self->owned, sid);
    }
  }
  beach_metrics_gauge_set (self->metrics, "cluster_owned_sessions", NULL, g_hash_table_size (self->owned));
}

static void
heartbeat (BeachCluster *self)
{
  GPtrArray *keys = strings_new ();
  GPtrArray *args = strings_new ();
  g_autoptr (GStrvBuilder) sessions = g_strv_builder_new ();
  GHashTableIter iter;
  gpointer value;

  if (self->heartbeat_busy)
    return;
  self->heartbeat_busy = TRUE;
  g_ptr_array_add (keys, g_strdup (self->alive_key));
  g_ptr_array_add (keys, g_strdup (self->instances_key));
  g_ptr_array_add (args, g_strdup_printf ("%u", self->ttl_ms));
  g_ptr_array_add (args, g_strdup (self->id));
  g_hash_table_iter_init (&iter, self->owned);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Owned *o = value;

    g_ptr_array_add (keys, owner_key (self, o->private_beach_id, o->session_id));
    g_ptr_array_add (args, g_strdup (o->value));
    g_strv_builder_add (sessions, o->session_id);
  }
  g_object_set_data_full (G_OBJECT (self), "beach-heartbeat-sessions", g_strv_builder_end (sessions),
                          (GDestroyNotify) g_strfreev);
  eval (self, beach_cluster_script_heartbeat, keys, args, heartbeat_cb, g_object_ref (self));
}

static gboolean
on_tick (gpointer user_data)
{
  BeachCluster *self = user_data;

  if (self->stopped || !beach_redis_client_get_connected (self->client))
    return G_SOURCE_CONTINUE;
  heartbeat (self);
  check_liveness (self);
  pump (self);
  return G_SOURCE_CONTINUE;
}

static void
on_connected (GObject *client, GParamSpec *pspec, gpointer user_data)
{
  BeachCluster *self = user_data;

  if (self->stopped || !beach_redis_client_get_connected (self->client))
    return;
  /* Before anything this manager writes: its alive key, so that no one
   * takes its in-flight records for a dead manager's. */
  heartbeat (self);
  beach_redis_client_commandv_async (self->client, NULL, command_logged_cb, g_strdup ("inbox group not created"),
                                     "XGROUP", "CREATE", self->inbox_key, INBOX_GROUP, "0", "MKSTREAM", NULL);
  self->pump_pel = TRUE;
  check_liveness (self);
  pump (self);
}

static void
on_message (BeachRedisClient *client, const gchar *channel, const gchar *payload, gpointer user_data)
{
  BeachCluster *self = user_data;

  if (g_strcmp0 (channel, self->wake_channel) == 0)
    pump (self);
}

/* PSUBSCRIBE globs: the channel must match only itself. */
static gchar *
exact_pattern (const gchar *channel)
{
  GString *pattern = g_string_new (NULL);

  for (const gchar *p = channel; *p != '\0'; p++) {
    if (strchr ("*?[]\\", *p) != NULL)
      g_string_append_c (pattern, '\\');
    g_string_append_c (pattern, *p);
  }
  return g_string_free (pattern, FALSE);
}

void
beach_cluster_start (BeachCluster *self)
{
  g_autofree gchar *pattern = exact_pattern (self->wake_channel);

  g_return_if_fail (BEACH_IS_CLUSTER (self));
  g_return_if_fail (self->tick_id == 0);

  self->notify_id = g_signal_connect (self->client, "notify::connected", G_CALLBACK (on_connected), self);
  self->message_id = g_signal_connect (self->client, "message", G_CALLBACK (on_message), self);
  beach_redis_client_psubscribe (self->client, pattern);
  self->tick_id = g_timeout_add (MAX (100, self->ttl_ms / 3), on_tick, self);
  on_connected (G_OBJECT (self->client), NULL, self);
}

/* -- ownership */

void
beach_cluster_claim (BeachCluster *self, const gchar *private_beach_id, const gchar *session_id, guint64 generation)
{
  Owned *o;
  g_autofree gchar *key = NULL;
  g_autofree gchar *ttl = NULL;
  g_autofree gchar *value = NULL;

  g_return_if_fail (BEACH_IS_CLUSTER (self));
  if (self->stopped)
    return;
  o = g_hash_table_lookup (self->owned, session_id);
  value = g_strdup_printf ("%s %" G_GUINT64_FORMAT, self->id, generation);
  if (o != NULL && g_str_equal (o->value, value))
    return;
  o = g_new0 (Owned, 1);
  o->private_beach_id = g_strdup (private_beach_id);
  o->session_id = g_strdup (session_id);
  o->value = g_steal_pointer (&value);
  key = owner_key (self, private_beach_id, session_id);
  ttl = g_strdup_printf ("%u", self->ttl_ms);
  g_debug ("session %s: owned here (%s)", session_id, o->value);
  beach_redis_client_commandv_async (self->client, NULL, command_logged_cb,
                                     g_strdup_printf ("session %s: owner record not written", session_id),
                                     "SET", key, o->value, "PX", ttl, NULL);
  g_hash_table_replace (self->owned, o->session_id, o);
  beach_metrics_gauge_set (self->metrics, "cluster_owned_sessions", NULL, g_hash_table_size (self->owned));
}

void
beach_cluster_release (BeachCluster *self, const gchar *private_beach_id, const gchar *session_id)
{
  Owned *o;
  GPtrArray *keys, *args;

  g_return_if_fail (BEACH_IS_CLUSTER (self));
  o = g_hash_table_lookup (self->owned, session_id);
  if (o == NULL)
    return;
  keys = strings_new ();
  args = strings_new ();
  g_ptr_array_add (keys, owner_key (self, o->private_beach_id, o->session_id));
  g_ptr_array_add (args, g_strdup (o->value));
  g_debug ("session %s: no longer owned here", session_id);
  eval (self, beach_cluster_script_release, keys, args, logged_cb,
        g_strdup_printf ("session %s: owner record not deleted (it expires)", session_id));
  g_hash_table_remove (self->owned, session_id);
  beach_metrics_gauge_set (self->metrics, "cluster_owned_sessions", NULL, g_hash_table_size (self->owned));
}

gboolean
beach_cluster_owns (BeachCluster *self, const gchar *session_id)
{
  return g_hash_table_contains (self->owned, session_id);
}

guint
beach_cluster_get_instance_count (BeachCluster *self)
{
  return self->instance_count;
}

static void
get_owner_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachCluster *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, result, &error);
  g_autofree gchar *instance = NULL;
  const gchar *value;

  if (reply == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (reply->type == BEACH_REDIS_REPLY_NIL) {
    g_task_return_pointer (task, NULL, NULL);
    return;
  }
  value = beach_redis_reply_get_string (reply, &error);
  if (value == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  instance = owner_instance (value);
  if (instance == NULL) {
    /* Not a record this program writes: as good as none. */
    warn_limited ("bad-owner", "an owner record that does not parse, ignored: %.64s", value);
    g_task_return_pointer (task, NULL, NULL);
    return;
  }
  g_task_return_pointer (task, g_strdup (value), g_free);
}

void
beach_cluster_get_owner_async (BeachCluster *self, const gchar *private_beach_id, const gchar *session_id, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  GPtrArray *keys = strings_new ();
  GPtrArray *args = strings_new ();

  g_ptr_array_add (keys, owner_key (self, private_beach_id, session_id));
  g_ptr_array_add (args, g_strdup (self->prefix));
  eval (self, beach_cluster_script_owner, keys, args, get_owner_cb, task);
}

gchar *
beach_cluster_get_owner_finish (BeachCluster *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- forwarding */

typedef struct {
  gboolean moved;
  gchar *owner;
} ForwardResult;

static void
forward_result_free (ForwardResult *r)
{
  g_free (r->owner);
  g_free (r);
}

static void
forward_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachCluster *self = g_task_get_source_object (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = eval_finish (self, result, &error);
  gint64 code = -1, n = 0;
  ForwardResult *r;

  if (reply == NULL) {
    if (!g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE))
      g_prefix_error (&error, "forwarding: ");
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (reply->type != BEACH_REDIS_REPLY_ARRAY || reply->n_elements != 2 || !beach_redis_reply_get_int (reply->elements[0], &code, NULL)) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED, "forwarding: an unexpected reply");
    return;
  }
  r = g_new0 (ForwardResult, 1);
  if (code == 1) {
    const gchar *owner = beach_redis_reply_get_string (reply->elements[1], NULL);

    r->moved = TRUE;
    r->owner = owner != NULL && owner_instance (owner) != NULL ? g_strdup (owner) : NULL;
  } else if (code == 2) {
    beach_redis_reply_get_int (reply->elements[1], &n, NULL);
    forward_result_free (r);
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL,
                             "the inbox of the manager holding the session's link is full (%" G_GINT64_FORMAT " of %u actions)",
                             n, self->inbox_cap);
    return;
  } else if (code != 0) {
    forward_result_free (r);
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED, "forwarding: an unexpected reply");
    return;
  }
  g_task_return_pointer (task, r, (GDestroyNotify) forward_result_free);
}

void
beach_cluster_forward_async (BeachCluster *self, const gchar *private_beach_id, const gchar *session_id, const gchar *owner, GPtrArray *actions, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *instance = owner_instance (owner);
  GPtrArray *keys, *args;

  if (instance == NULL) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED, "forwarding: not an owner record");
    g_object_unref (task);
    return;
  }
  keys = strings_new ();
  args = strings_new ();
  g_ptr_array_add (keys, owner_key (self, private_beach_id, session_id));
  g_ptr_array_add (keys, instance_key (self, instance, "inbox"));
  g_ptr_array_add (keys, instance_key (self, instance, "alive"));
  g_ptr_array_add (args, g_strdup (owner));
  g_ptr_array_add (args, g_strdup (private_beach_id));
  g_ptr_array_add (args, g_strdup (session_id));
  g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, now_ms ()));
  g_ptr_array_add (args, g_strdup_printf ("%u", self->inbox_cap));
  g_ptr_array_add (args, g_strdup_printf ("%s:inbox-wake:%s", self->prefix, instance));
  g_ptr_array_add (args, g_strdup (self->token));
  for (guint i = 0; i < actions->len; i++) {
    BeachAction *a = actions->pdata[i];

    g_ptr_array_add (args, g_strdup (beach_action_get_id (a)));
    g_ptr_array_add (args, beach_action_to_string (a));
    g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, beach_action_get_expires_at_ms (a)));
  }
  eval (self, beach_cluster_script_forward, keys, args, forward_cb, task);
}

gboolean
beach_cluster_forward_finish (BeachCluster *self, GAsyncResult *result, gboolean *out_moved, gchar **out_owner, GError **error)
{
  ForwardResult *r = g_task_propagate_pointer (G_TASK (result), error);

  if (r == NULL)
    return FALSE;
  *out_moved = r->moved;
  *out_owner = g_steal_pointer (&r->owner);
  forward_result_free (r);
  return TRUE;
}

/* -- stop */

static void
stop_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &error);

  if (reply == NULL)
    g_debug ("instance record not deleted (it expires): %s", error->message);
  g_task_return_boolean (task, TRUE);
}

void
beach_cluster_stop_async (BeachCluster *self, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  GList *sessions = g_hash_table_get_values (self->owned);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  for (GList *l = sessions; l != NULL; l = l->next) {
    Owned *o = l->data;

    g_ptr_array_add (ids, g_strdup (o->private_beach_id));
    g_ptr_array_add (ids, g_strdup (o->session_id));
  }
  g_list_free (sessions);
  for (guint i = 0; i + 1 < ids->len; i += 2)
    beach_cluster_release (self, ids->pdata[i], ids->pdata[i + 1]);
  self->stopped = TRUE;
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (!beach_redis_client_get_connected (self->client)) {
    g_task_return_boolean (task, TRUE);
    g_object_unref (task);
    return;
  }
  /* The alive key goes; the instance stays in the set, so that another
   * manager reclaims whatever is left in the inbox at its next tick. */
  beach_redis_client_commandv_async (self->client, NULL, stop_cb, task, "DEL", self->alive_key, NULL);
}

gboolean
beach_cluster_stop_finish (BeachCluster *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- object */

void
beach_cluster_set_deliver_func (BeachCluster *self, BeachClusterDeliverFunc func, gpointer user_data)
{
  self->deliver = func;
  self->deliver_data = user_data;
}

const gchar *
beach_cluster_get_instance_id (BeachCluster *self)
{
  return self->id;
}

static void
beach_cluster_dispose (GObject *object)
{
  BeachCluster *self = BEACH_CLUSTER (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->client != NULL) {
    g_clear_signal_handler (&self->notify_id, self->client);
    g_clear_signal_handler (&self->message_id, self->client);
  }
  g_clear_object (&self->client);
  g_clear_object (&self->queue);
  g_clear_object (&self->metrics);
  G_OBJECT_CLASS (beach_cluster_parent_class)->dispose (object);
}

static void
beach_cluster_finalize (GObject *object)
{
  BeachCluster *self = BEACH_CLUSTER (object);

  g_free (self->prefix);
  g_free (self->id);
  g_free (self->token);
  g_free (self->alive_key);
  g_free (self->instances_key);
  g_free (self->inbox_key);
  g_free (self->wake_channel);
  g_hash_table_unref (self->owned);
  g_hash_table_unref (self->reclaiming);
  G_OBJECT_CLASS (beach_cluster_parent_class)->finalize (object);
}

static void
beach_cluster_class_init (BeachClusterClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = beach_cluster_dispose;
  G_OBJECT_CLASS (klass)->finalize = beach_cluster_finalize;
}

static void
beach_cluster_init (BeachCluster *self)
{
  self->owned = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) owned_free);
  self->reclaiming = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->token = g_uuid_string_random ();
}

BeachCluster *
beach_cluster_new (BeachRedisClient *client, BeachRedisQueue *queue, BeachMetrics *metrics, const gchar *prefix, const gchar *instance_id, guint owner_ttl_ms, guint inbox_cap)
{
  BeachCluster *self;

  g_return_val_if_fail (BEACH_IS_REDIS_CLIENT (client), NULL);
  g_return_val_if_fail (instance_id == NULL || beach_cluster_instance_id_is_valid (instance_id), NULL);

  self = g_object_new (BEACH_TYPE_CLUSTER, NULL);
  self->client = g_object_ref (client);
  self->queue = g_object_ref (queue);
  self->metrics = g_object_ref (metrics);
  self->prefix = g_strdup (prefix != NULL ? prefix : "beach");
  if (instance_id != NULL) {
    self->id = g_strdup (instance_id);
  } else {
    g_autofree gchar *uuid = g_uuid_string_random ();
    gchar *w = uuid;

    /* 16 hex digits of a random UUID: unique enough among managers. */
    for (const gchar *r = uuid; *r != '\0' && w - uuid < 16; r++)
      if (*r != '-')
        *w++ = *r;
    *w = '\0';
    self->id = g_strdup (uuid);
  }
  self->ttl_ms = owner_ttl_ms > 0 ? owner_ttl_ms : BEACH_CLUSTER_OWNER_TTL_MS_DEFAULT;
  self->inbox_cap = inbox_cap > 0 ? inbox_cap : BEACH_CLUSTER_INBOX_CAP_DEFAULT;
  self->alive_key = instance_key (self, self->id, "alive");
  self->inbox_key = instance_key (self, self->id, "inbox");
  self->instances_key = g_strdup_printf ("%s:instances", self->prefix);
  self->wake_channel = g_strdup_printf ("%s:inbox-wake:%s", self->prefix, self->id);
  beach_redis_queue_set_instance_id (queue, self->id);
  return self;
}
