/* beach-router.c: where actions go, and each session's transport
 *
 * WIRE.md "Routing". The fast path (step 1) is not wired yet: a session has
 * no link, so fast_path_ready is always FALSE and only steps 3 and 4 apply.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-router"

#include "config.h"

#include "beach-log-limiter.h"

#include "beach-router.h"
#ifdef BEACH_REDIS_BACKEND
#include "beach-cluster.h"
#include "beach-session-store.h"
#endif

struct _BeachRouter {
  GObject parent_instance;

  const BeachConfig *config;
  BeachSessionRegistry *registry;
  BeachFallbackQueue *queue;
  BeachMetrics *metrics;
  BeachEventHub *events;
  BeachSessionStore *store; /* nullable: memory backend */
  BeachFastPath *fast_path; /* nullable in unit tests */
  GHashTable *deferred;     /* session id -> GQueue of GTask: calls waiting for a demotion */
  BeachAuth *auth;
  BeachCluster *cluster; /* nullable: one manager, or the memory backend */
};

G_DEFINE_FINAL_TYPE (BeachRouter, beach_router, G_TYPE_OBJECT)

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static JsonObject *
event_object (BeachSession *session)
{
  JsonObject *obj = json_object_new ();

  json_object_set_string_member (obj, "session_id", session->session_id);
  return obj;
}

static void
set_transport_gauges (BeachRouter *self, BeachSession *session)
{
  static const BeachTransport all[] = { BEACH_TRANSPORT_PENDING, BEACH_TRANSPORT_FAST_PATH,
                                        BEACH_TRANSPORT_HTTP_FALLBACK };

  for (guint i = 0; i < G_N_ELEMENTS (all); i++) {
    g_autofree gchar *labels = beach_metrics_session_labels (
      session->private_beach_id, session->session_id, "transport",
      beach_transport_to_string (all[i]), NULL);

    beach_metrics_gauge_set (self->metrics, "session_transport", labels,
                             session->transport == all[i] ? 1 : 0);
  }
}

/* Applies a transition: log once with its reason, count it, tell SSE. */
static void
transition (BeachRouter *self, BeachSession *session, BeachTransport to, BeachTransportReason reason)
{
  gboolean first = !session->transport_known;
  BeachTransport from = BEACH_TRANSPORT_PENDING;
  g_autoptr (JsonObject) ev = NULL;
  g_autofree gchar *labels = NULL;
  const gchar *from_str;

  if (!beach_session_set_transport (session, to, reason, now_ms (), &from))
    return;
  from_str = first ? "none" : beach_transport_to_string (from);
  beach_session_message (session->session_id, "transport", "session %s: transport %s -> %s (%s)", session->session_id, from_str,
                         beach_transport_to_string (to), beach_transport_reason_to_string (reason));
  labels = beach_metrics_labels ("from", from_str, "to", beach_transport_to_string (to),
                                 "reason", beach_transport_reason_to_string (reason), NULL);
  beach_metrics_counter_add (self->metrics, "transport_transitions_total", labels, 1);
  set_transport_gauges (self, session);
  ev = event_object (session);
  if (first)
    json_object_set_null_member (ev, "from");
  else
    json_object_set_string_member (ev, "from", from_str);
  json_object_set_string_member (ev, "to", beach_transport_to_string (to));
  json_object_set_string_member (ev, "reason", beach_transport_reason_to_string (reason));
  beach_event_hub_publish (self->events, session->session_id, "transport", ev);
}

static gboolean
demoting (BeachRouter *self, BeachSession *session)
{
  return self->fast_path != NULL && beach_fast_path_is_demoting (self->fast_path, session);
}

/* WIRE.md Routing step 4. In-flight actions on their way to the queue
 * count as queued: the host is about to be served by it. */
static BeachTransport
desired_transport (BeachRouter *self, BeachSession *session)
{
  gboolean backlog = session->pending > 0 || demoting (self, session);

  if (session->transport_mode == BEACH_TRANSPORT_MODE_HTTP_FALLBACK)
    return BEACH_TRANSPORT_HTTP_FALLBACK;
  if (session->fast_path_ready && !backlog)
    return BEACH_TRANSPORT_FAST_PATH;
  if (backlog)
    return BEACH_TRANSPORT_HTTP_FALLBACK;
  return BEACH_TRANSPORT_PENDING;
}

void
beach_router_update_transport (BeachRouter *self, BeachSession *session, BeachTransportReason reason)
{
  transition (self, session, desired_transport (self, session), reason);
  if (self->fast_path != NULL)
    beach_fast_path_status_changed (self->fast_path, session);
}

static BeachSession *
session_for (BeachRouter *self, const gchar *private_beach_id, const gchar *session_id)
{
  BeachSession *session = beach_session_registry_lookup (self->registry, session_id);

  if (session == NULL || g_strcmp0 (session->private_beach_id, private_beach_id) != 0)
    return NULL;
  return session;
}

static void
on_depth_changed (BeachFallbackQueue *queue, const gchar *p, const gchar *s, guint depth, guint delivered, BeachRouter *self)
{
  BeachSession *session = session_for (self, p, s);
  g_autofree gchar *labels = NULL;
  guint before;

  if (session == NULL)
    return;
  before = session->pending;
  beach_session_set_queue_stats (session, depth, delivered);
  labels = beach_metrics_session_labels (p, s, NULL, NULL);
  beach_metrics_gauge_set (self->metrics, "actions_queue_depth", labels, depth);
  beach_metrics_gauge_set (self->metrics, "actions_queue_pending", labels, delivered);
  if (g_object_get_data (G_OBJECT (session), "beach-deleting") != NULL)
    return;
  if (before > 0 && depth == 0) {
    g_autoptr (JsonObject) ev = event_object (session);

    beach_session_message (s, "queue_empty", "session %s: queue returned to zero", s);
    beach_event_hub_publish (self->events, s, "queue_empty", ev);
    beach_router_update_transport (self, session, BEACH_TRANSPORT_REASON_QUEUE_EMPTY);
  } else if (before == 0 && depth > 0) {
    beach_router_update_transport (self, session, BEACH_TRANSPORT_REASON_QUEUE_NONEMPTY);
  }
}

static void
on_settled (BeachFallbackQueue *queue, const gchar *p, const gchar *s, const gchar *action_id, gint status, const gchar *error_code, gint64 enqueued_ms, BeachRouter *self)
{
  BeachSession *session = session_for (self, p, s);
  const gchar *status_str = beach_ack_status_to_string ((BeachAckStatus) status);
  g_autoptr (JsonObject) ev = NULL;

  if (session != NULL) {
    g_autofree gchar *labels = beach_metrics_session_labels (p, s, "status", status_str, NULL);
    g_autofree gchar *plain = beach_metrics_session_labels (p, s, NULL, NULL);

    beach_metrics_counter_add (self->metrics, "actions_acked_total", labels, 1);
    beach_metrics_histogram_observe (self->metrics, "action_latency_seconds", plain,
                                     MAX (0, now_ms () - enqueued_ms) / 1000.0);
  }
  ev = json_object_new ();
  json_object_set_string_member (ev, "session_id", s);
  json_object_set_string_member (ev, "id", action_id);
  json_object_set_string_member (ev, "status", status_str);
  if (error_code != NULL)
    json_object_set_string_member (ev, "error_code", error_code);
  else
    json_object_set_null_member (ev, "error_code");
  json_object_set_string_member (ev, "via", "fallback");
  beach_event_hub_publish (self->events, s, "action_settled", ev);
}

static void
on_dead_lettered (BeachFallbackQueue *queue, const gchar *p, const gchar *s, const gchar *action_id, gint reason, BeachRouter *self)
{
  const gchar *reason_str = beach_dead_letter_reason_to_string ((BeachDeadLetterReason) reason);
  g_autoptr (JsonObject) ev = json_object_new ();

  if (session_for (self, p, s) != NULL) {
    g_autofree gchar *labels = beach_metrics_session_labels (p, s, "reason", reason_str, NULL);

    beach_metrics_counter_add (self->metrics, "actions_dead_lettered_total", labels, 1);
  }
  beach_session_message (s, "dead_letter", "session %s: action %s dead-lettered (%s)", s, action_id, reason_str);
  json_object_set_string_member (ev, "session_id", s);
  json_object_set_string_member (ev, "id", action_id);
  json_object_set_string_member (ev, "reason", reason_str);
  beach_event_hub_publish (self->events, s, "dead_letter", ev);
}

static void
on_delivered (BeachFallbackQueue *queue, const gchar *p, const gchar *s, const gchar *action_id, gboolean redelivery, BeachRouter *self)
{
  g_autofree gchar *labels = NULL;

  if (session_for (self, p, s) == NULL)
    return;
  labels = beach_metrics_session_labels (p, s, NULL, NULL);
  beach_metrics_counter_add (self->metrics, "actions_delivered_total", labels, 1);
  if (redelivery)
    beach_metrics_counter_add (self->metrics, "redis_pending_reclaimed_total", labels, 1);
}

static void
beach_router_dispose (GObject *object)
{
  BeachRouter *self = BEACH_ROUTER (object);

  if (self->queue != NULL)
    g_signal_handlers_disconnect_by_data (self->queue, self);
  g_clear_object (&self->queue);
  g_clear_object (&self->registry);
  g_clear_object (&self->metrics);
  g_clear_object (&self->events);
  g_clear_object (&self->store);
  g_clear_object (&self->auth);
  if (self->fast_path != NULL)
    g_signal_handlers_disconnect_by_data (self->fast_path, self);
  g_clear_object (&self->fast_path);
#ifdef BEACH_REDIS_BACKEND
  if (self->cluster != NULL)
    beach_cluster_set_deliver_func (self->cluster, NULL, NULL);
#endif
  g_clear_object (&self->cluster);
  g_clear_pointer (&self->deferred, g_hash_table_unref);
  G_OBJECT_CLASS (beach_router_parent_class)->dispose (object);
}

static void
beach_router_class_init (BeachRouterClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = beach_router_dispose;
}

static void
deferred_free (GQueue *q)
{
  g_queue_free_full (q, g_object_unref);
}

static void
beach_router_init (BeachRouter *self)
{
  self->deferred = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) deferred_free);
}

BeachRouter *
beach_router_new (const BeachConfig *config, BeachSessionRegistry *registry, BeachFallbackQueue *queue, BeachMetrics *metrics, BeachEventHub *events)
{
  BeachRouter *self = g_object_new (BEACH_TYPE_ROUTER, NULL);

  self->config = config;
  self->registry = g_object_ref (registry);
  self->queue = g_object_ref (queue);
  self->metrics = g_object_ref (metrics);
  self->events = g_object_ref (events);
  g_signal_connect (queue, "depth-changed", G_CALLBACK (on_depth_changed), self);
  g_signal_connect (queue, "settled", G_CALLBACK (on_settled), self);
  g_signal_connect (queue, "dead-lettered", G_CALLBACK (on_dead_lettered), self);
  g_signal_connect (queue, "delivered", G_CALLBACK (on_delivered), self);
  return self;
}

static void
mode_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *session_id = user_data;

  if (!beach_router_persist_session_finish (BEACH_ROUTER (source), result, &error))
    g_warning ("session %s: the new transport mode was not stored: %s", session_id, error->message);
}

/* An operator's mode change (D-Bus SetTransportMode): routing follows at
 * once (WIRE.md step 1 needs fast_path mode), the transition is recorded
 * with reason mode_changed, and the record is stored. */
void
beach_router_set_transport_mode (BeachRouter *self, BeachSession *session, BeachTransportMode mode)
{
  if (session->transport_mode == mode)
    return;
  beach_session_set_transport_mode (session, mode);
  beach_router_update_transport (self, session, BEACH_TRANSPORT_REASON_MODE_CHANGED);
  beach_router_persist_session_async (self, session, mode_saved_cb, g_strdup (session->session_id));
}

/* Creates the session, or refreshes it on re-registration (keeping leases,
 * queue, link and handshake id). Session ids are global: another private
 * beach's id is 409. */
BeachSession *
beach_router_register (BeachRouter *self, const BeachRegistration *reg, const gchar *session_token, gboolean *out_created, GError **error)
{
  BeachSession *session = beach_session_registry_lookup (self->registry, reg->session_id);
  g_autoptr (BeachSession) created = NULL;

  *out_created = FALSE;
  if (session != NULL) {
    BeachTransportMode old_mode = session->transport_mode;

    if (g_strcmp0 (session->private_beach_id, reg->private_beach_id) != 0) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_CONFLICT,
                   "session %s is registered under another private beach",
                   reg->session_id);
      return NULL;
    }
    beach_session_update (session, reg);
    if (old_mode != session->transport_mode)
      beach_router_update_transport (self, session, BEACH_TRANSPORT_REASON_MODE_CHANGED);
    return session;
  }
  created = beach_session_new (reg, now_ms ());
  beach_session_registry_add (self->registry, created, session_token);
  beach_router_update_transport (self, created, BEACH_TRANSPORT_REASON_REGISTERED);
  {
    g_autofree gchar *labels = beach_metrics_session_labels (created->private_beach_id,
                                                             created->session_id, NULL, NULL);

    beach_metrics_gauge_set (self->metrics, "actions_queue_depth", labels, 0);
    beach_metrics_gauge_set (self->metrics, "actions_queue_pending", labels, 0);
    beach_metrics_gauge_set (self->metrics, "fastpath_link_healthy", labels, 0);
  }
  *out_created = TRUE;
  return created;
}

void
beach_router_record_drop (BeachRouter *self, BeachSession *session, BeachDropReason reason, guint count)
{
  const gchar *reason_str = beach_drop_reason_to_string (reason);
  g_autofree gchar *labels = beach_metrics_labels ("reason", reason_str, NULL);
  g_autoptr (JsonObject) ev = event_object (session);

  beach_metrics_counter_add (self->metrics, "controller_actions_dropped_total", labels, count);
  json_object_set_string_member (ev, "reason", reason_str);
  json_object_set_int_member (ev, "count", count);
  beach_event_hub_publish (self->events, session->session_id, "dropped", ev);
  /* Once per session until its transport state changes (UPSTREAM #14). */
  if (reason == BEACH_DROP_REASON_FAST_PATH_NOT_READY && !session->drop_logged) {
    session->drop_logged = TRUE;
    beach_session_warning (session->session_id, "refusal", "session %s: refusing actions, fast path not ready and queueing not allowed",
                           session->session_id);
  }
}

typedef struct {
  BeachSession *session;
  guint count;
  GPtrArray *actions;
  BeachFallbackPolicy policy;
  GStrvBuilder *in_flight_duplicates; /* nullable */
  guint forwards;                     /* attempts to forward to the owner (scale-out) */
} QueueData;

static void
queue_data_free (QueueData *d)
{
  g_clear_object (&d->session);
  g_clear_pointer (&d->actions, g_ptr_array_unref);
  g_clear_pointer (&d->in_flight_duplicates, g_strv_builder_unref);
  g_free (d);
}

static void
enqueue_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  QueueData *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  GPtrArray *out;

  if (!beach_fallback_queue_enqueue_finish (BEACH_FALLBACK_QUEUE (source), result,
                                            &accepted, &duplicates, &error)) {
    if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL))
      beach_router_record_drop (self, d->session, BEACH_DROP_REASON_QUEUE_FULL, d->count);
    else if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE))
      beach_router_record_drop (self, d->session, BEACH_DROP_REASON_UNAVAILABLE, d->count);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (accepted != NULL && accepted[0] != NULL) {
    g_autofree gchar *labels = beach_metrics_session_labels (d->session->private_beach_id,
                                                             d->session->session_id, NULL, NULL);

    beach_metrics_counter_add (self->metrics, "actions_enqueued_total", labels,
                               g_strv_length (accepted));
  }
  if (d->in_flight_duplicates != NULL) {
    if (duplicates != NULL)
      g_strv_builder_addv (d->in_flight_duplicates, (const gchar **) duplicates);
    g_strfreev (duplicates);
    duplicates = g_strv_builder_end (d->in_flight_duplicates);
  }
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_ptr_array_add (out, g_steal_pointer (&accepted));
  g_ptr_array_add (out, g_steal_pointer (&duplicates));
  g_task_return_pointer (task, out, (GDestroyNotify) g_ptr_array_unref);
}

static void route_actions (BeachRouter *self, GTask *task);

void
beach_router_queue_actions_async (BeachRouter *self, BeachSession *session, GPtrArray *actions, BeachFallbackPolicy policy, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  QueueData *d = g_new0 (QueueData, 1);

  d->session = g_object_ref (session);
  d->count = actions->len;
  d->actions = g_ptr_array_ref (actions);
  d->policy = policy;
  g_task_set_task_data (task, d, (GDestroyNotify) queue_data_free);
  g_task_set_source_tag (task, beach_router_queue_actions_async);
  route_actions (self, task);
}

#ifdef BEACH_REDIS_BACKEND
static gboolean
has_local_primary (BeachRouter *self, BeachSession *session)
{
  return self->fast_path != NULL && beach_fast_path_get_primary_generation (self->fast_path, session) > 0;
}

/* Another manager's owner record (or none) for a session, as last read:
 * without a link here, it is what says whether the fast path is up. */
static void
apply_owner (BeachRouter *self, BeachSession *session, const gchar *owner)
{
  const gchar *remote = owner != NULL && !beach_cluster_owner_is_self (self->cluster, owner) ? owner : NULL;
  gboolean ready = remote != NULL;

  if (g_strcmp0 (session->owner, remote) != 0) {
    g_free (session->owner);
    session->owner = g_strdup (remote);
    g_debug ("session %s: owner record %s", session->session_id, remote != NULL ? remote : "(none elsewhere)");
  }
  if (has_local_primary (self, session) || session->fast_path_ready == ready)
    return;
  session->fast_path_ready = ready;
  beach_session_notify_changed (session);
  beach_session_message (session->session_id, "owner", "session %s: %s", session->session_id,
                         ready ? "its link ends on another manager" : "no manager holds its link any more");
  beach_router_update_transport (self, session, ready ? BEACH_TRANSPORT_REASON_LINK_HEALTHY : BEACH_TRANSPORT_REASON_CHANNEL_CLOSED);
}

static void
forward_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  QueueData *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *owner = NULL;
  gboolean moved = FALSE;
  g_autoptr (GStrvBuilder) accepted = NULL;
  g_autoptr (GStrvBuilder) duplicates = NULL;
  g_autoptr (GHashTable) seen = NULL;
  GPtrArray *out;

  if (!beach_cluster_forward_finish (BEACH_CLUSTER (source), result, &moved, &owner, &error)) {
    if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL))
      beach_router_record_drop (self, d->session, BEACH_DROP_REASON_QUEUE_FULL, d->count);
    else
      beach_router_record_drop (self, d->session, BEACH_DROP_REASON_UNAVAILABLE, d->count);
    if (!g_error_matches (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL) && !g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE)) {
      g_warning ("session %s: %s", d->session->session_id, error->message);
      g_clear_error (&error);
      error = g_error_new (BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "session %s: the actions could not be forwarded to the manager holding its link",
                           d->session->session_id);
    }
    g_task_return_error (task, g_steal_pointer (&error));
    g_object_unref (task);
    return;
  }
  if (moved) {
    /* The owner changed meanwhile: the rules apply again. */
    apply_owner (self, d->session, owner);
    route_actions (self, task);
    return;
  }
  accepted = g_strv_builder_new ();
  duplicates = g_strv_builder_new ();
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < d->actions->len; i++) {
    const gchar *id = beach_action_get_id (d->actions->pdata[i]);

    g_strv_builder_add (g_hash_table_add (seen, (gpointer) id) ? accepted : duplicates, id);
  }
  beach_metrics_counter_add (self->metrics, "cluster_actions_forwarded_total", NULL, d->actions->len);
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_ptr_array_add (out, g_strv_builder_end (accepted));
  g_ptr_array_add (out, g_strv_builder_end (duplicates));
  g_task_return_pointer (task, out, (GDestroyNotify) g_ptr_array_unref);
  g_object_unref (task);
}

/* Step 1 on another manager: the session's healthy link ends there, its
 * queue is empty. Takes task when it returns TRUE. */
static gboolean
maybe_forward (BeachRouter *self, GTask *task)
{
  QueueData *d = g_task_get_task_data (task);
  BeachSession *session = d->session;

  if (self->cluster == NULL || session->owner == NULL || has_local_primary (self, session) || session->transport_mode != BEACH_TRANSPORT_MODE_FAST_PATH || session->pending > 0 || d->forwards >= 3)
    return FALSE;
  d->forwards++;
  beach_cluster_forward_async (self->cluster, session->private_beach_id, session->session_id, session->owner,
                               d->actions, forward_cb, task);
  return TRUE;
}
#endif

/* Takes task. */
static void
route_actions (BeachRouter *self, GTask *task)
{
  QueueData *d = g_task_get_task_data (task);
  BeachSession *session = d->session;
  g_autoptr (GPtrArray) to_queue = NULL;
  gboolean may_queue;

  /* Actions of a dead link are on their way to the queue: newer ones wait
   * behind them (WIRE.md Routing step 2). */
  if (demoting (self, session)) {
    GQueue *q = g_hash_table_lookup (self->deferred, session->session_id);

    /* They wait for the queue to come back: so would this call, as long
     * as it takes. Refused like any enqueue while the queue is down. */
    if (beach_fast_path_is_requeue_stalled (self->fast_path, session)) {
      beach_router_record_drop (self, session, BEACH_DROP_REASON_UNAVAILABLE, d->count);
      g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE,
                               "session %s: the queue is unavailable, and actions of a failed link wait to go into it first",
                               session->session_id);
      g_object_unref (task);
      return;
    }
    if (q == NULL) {
      q = g_queue_new ();
      g_hash_table_insert (self->deferred, g_strdup (session->session_id), q);
    }
    g_queue_push_tail (q, task);
    return;
  }

#ifdef BEACH_REDIS_BACKEND
  if (maybe_forward (self, task))
    return;
#endif

  /* Step 1: a healthy link and an empty queue take the whole call. */
  if (self->fast_path != NULL && session->transport_mode == BEACH_TRANSPORT_MODE_FAST_PATH && session->fast_path_ready && session->pending == 0) {
    g_auto (GStrv) accepted = NULL;
    g_auto (GStrv) duplicates = NULL;

    if (beach_fast_path_send_actions (self->fast_path, session, d->actions, &accepted, &duplicates)) {
      GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

      g_ptr_array_add (out, g_steal_pointer (&accepted));
      g_ptr_array_add (out, g_steal_pointer (&duplicates));
      g_task_return_pointer (task, out, (GDestroyNotify) g_ptr_array_unref);
      g_object_unref (task);
      return;
    }
  }

  /* Step 3: queue when the mode says so, the caller allows it, or a healthy
   * link still has a backlog ahead of these actions. */
  may_queue = d->policy != BEACH_FALLBACK_POLICY_NEVER && (session->transport_mode == BEACH_TRANSPORT_MODE_HTTP_FALLBACK || d->policy == BEACH_FALLBACK_POLICY_ALLOW || (session->fast_path_ready && session->pending > 0));
  if (!may_queue) {
    beach_router_record_drop (self, session, BEACH_DROP_REASON_FAST_PATH_NOT_READY, d->count);
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAST_PATH_NOT_READY,
                             d->policy == BEACH_FALLBACK_POLICY_NEVER
                               ? "session %s has no healthy fast path and the call says \"fallback\":\"never\""
                               : "session %s has no healthy fast path; send \"fallback\":\"allow\" to queue for HTTP polling",
                             session->session_id);
    g_object_unref (task);
    return;
  }
  /* An id still in flight on the link is outstanding too. */
  to_queue = g_ptr_array_new_with_free_func (g_object_unref);
  d->in_flight_duplicates = g_strv_builder_new ();
  for (guint i = 0; i < d->actions->len; i++) {
    BeachAction *a = d->actions->pdata[i];

    if (self->fast_path != NULL && beach_fast_path_is_in_flight (self->fast_path, session, beach_action_get_id (a)))
      g_strv_builder_add (d->in_flight_duplicates, beach_action_get_id (a));
    else
      g_ptr_array_add (to_queue, g_object_ref (a));
  }
  beach_fallback_queue_enqueue_async (self->queue, session->private_beach_id,
                                      session->session_id, to_queue, NULL, enqueue_cb, task);
}

gboolean
beach_router_queue_actions_finish (BeachRouter *self, GAsyncResult *result, GStrv *out_accepted_ids, GStrv *out_duplicate_ids, BeachTransport *out_transport, GError **error)
{
  g_autoptr (GPtrArray) out = g_task_propagate_pointer (G_TASK (result), error);
  QueueData *d = g_task_get_task_data (G_TASK (result));

  if (out == NULL)
    return FALSE;
  *out_accepted_ids = g_steal_pointer (&out->pdata[0]);
  *out_duplicate_ids = g_steal_pointer (&out->pdata[1]);
  *out_transport = d->session->transport;
  return TRUE;
}

static void
ack_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  guint total = GPOINTER_TO_UINT (g_task_get_task_data (task));
  g_autoptr (GError) error = NULL;
  guint settled = 0;

  if (!beach_fallback_queue_ack_finish (BEACH_FALLBACK_QUEUE (source), result, &settled, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (total > settled)
    beach_metrics_counter_add (self->metrics, "actions_ack_unknown_total", NULL, total - settled);
  g_task_return_int (task, settled + GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (task), "beach-settled")));
}

/* An ack settles its id wherever it is: in flight on the link, else in
 * the queue. */
void
beach_router_ack_async (BeachRouter *self, BeachSession *session, GPtrArray *acks, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autoptr (GPtrArray) rest = NULL;
  guint settled = 0;

  if (self->fast_path != NULL)
    rest = beach_fast_path_settle (self->fast_path, session, acks, &settled);
  else
    rest = g_ptr_array_ref (acks);
  g_object_set_data (G_OBJECT (task), "beach-settled", GUINT_TO_POINTER (settled));
  g_task_set_task_data (task, GUINT_TO_POINTER (rest->len), NULL);
  if (rest->len == 0) {
    g_task_return_int (task, settled);
    g_object_unref (task);
    return;
  }
  beach_fallback_queue_ack_async (self->queue, session->private_beach_id,
                                  session->session_id, rest, NULL, ack_cb, task);
}

gboolean
beach_router_ack_finish (BeachRouter *self, GAsyncResult *result, guint *out_acknowledged, GError **error)
{
  gssize n = g_task_propagate_int (G_TASK (result), error);

  if (n < 0)
    return FALSE;
  *out_acknowledged = (guint) n;
  return TRUE;
}

static void
drop_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  BeachSession *session = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  if (!beach_fallback_queue_drop_session_finish (BEACH_FALLBACK_QUEUE (source), result, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  /* The session leaves the registry first, so its parked polls are answered
   * 404 rather than woken by the transport change; then the last word on
   * its streams (a session already `pending` announces its end too, so
   * this is not transition()). */
  {
    const gchar *from = beach_transport_to_string (session->transport);
    g_autofree gchar *labels = beach_metrics_labels ("from", from, "to", "pending", "reason",
                                                     "session_deleted", NULL);
    g_autoptr (JsonObject) ev = event_object (session);

    beach_session_registry_remove (self->registry, session->session_id);
    beach_metrics_counter_add (self->metrics, "transport_transitions_total", labels, 1);
    json_object_set_string_member (ev, "from", from);
    json_object_set_string_member (ev, "to", "pending");
    json_object_set_string_member (ev, "reason", "session_deleted");
    beach_event_hub_publish (self->events, session->session_id, "transport", ev);
    session->fast_path_ready = FALSE;
    beach_session_set_transport (session, BEACH_TRANSPORT_PENDING,
                                 BEACH_TRANSPORT_REASON_SESSION_DELETED, now_ms (), NULL);
  }
  beach_event_hub_close_session (self->events, session->session_id);
  beach_metrics_remove_session (self->metrics, session->private_beach_id, session->session_id);
#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL)
    beach_session_store_delete_async (self->store, session->private_beach_id, session->session_id,
                                      NULL, NULL);
#endif
  g_message ("session %s deleted", session->session_id);
  beach_log_limiter_forget_session (beach_log_limiter_get_default (), session->session_id);
  g_task_return_boolean (task, TRUE);
}

void
beach_router_delete_session_async (BeachRouter *self, BeachSession *session, BeachDeadLetterReason reason, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  g_task_set_task_data (task, g_object_ref (session), g_object_unref);
  /* Its queue empties because it is going, not because it drained: no
   * queue_empty event or transition for that (the last transport event says
   * session_deleted, from the transport it really had). */
  g_object_set_data (G_OBJECT (session), "beach-deleting", GINT_TO_POINTER (1));
  /* In-flight actions join the queue first (operations on one session
   * run in order), so the drop dead-letters them too. */
  if (self->fast_path != NULL)
    beach_fast_path_close_session (self->fast_path, session, BEACH_TRANSPORT_REASON_SESSION_DELETED);
  beach_fallback_queue_drop_session_async (self->queue, session->private_beach_id,
                                           session->session_id, reason, NULL, drop_cb, task);
}

gboolean
beach_router_delete_session_finish (BeachRouter *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- persistence */

void
beach_router_set_store (BeachRouter *self, BeachSessionStore *store, BeachAuth *auth)
{
  g_set_object (&self->store, store);
  g_set_object (&self->auth, auth);
}

gboolean
beach_router_has_store (BeachRouter *self)
{
  return self->store != NULL;
}

BeachSessionStore *
beach_router_get_store (BeachRouter *self)
{
  return self->store;
}

#ifdef BEACH_REDIS_BACKEND
static void
set_initial_gauges (BeachRouter *self, BeachSession *session)
{
  g_autofree gchar *labels = beach_metrics_session_labels (session->private_beach_id,
                                                           session->session_id, NULL, NULL);

  beach_metrics_gauge_set (self->metrics, "actions_queue_depth", labels, session->pending);
  beach_metrics_gauge_set (self->metrics, "actions_queue_pending", labels, session->delivered);
  beach_metrics_gauge_set (self->metrics, "fastpath_link_healthy", labels, session->fast_path_ready ? 1 : 0);
}

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

/* The session remembers its router weakly: a stats reply may come back
 * after the router is gone (a daemon stopping right after a restore). */
static void
remember_router (BeachSession *session, BeachRouter *self)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, self);
  g_object_set_data_full (G_OBJECT (session), "beach-router", ref, (GDestroyNotify) weak_ref_free);
}

static BeachRouter *
router_of (BeachSession *session)
{
  GWeakRef *ref = g_object_get_data (G_OBJECT (session), "beach-router");

  return ref != NULL ? g_weak_ref_get (ref) : NULL;
}

static void
restored_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachSession) session = user_data;
  g_autoptr (BeachRouter) self = router_of (session);
  BeachQueueStats stats = { 0 };

  if (self == NULL || !beach_fallback_queue_stats_finish (BEACH_FALLBACK_QUEUE (source), result, &stats, NULL))
    return;
  if (beach_session_registry_lookup (self->registry, session->session_id) != session)
    return;
  beach_session_set_queue_stats (session, stats.depth, stats.delivered);
  set_initial_gauges (self, session);
  beach_router_update_transport (self, session, stats.depth > 0 ? BEACH_TRANSPORT_REASON_QUEUE_NONEMPTY : BEACH_TRANSPORT_REASON_REGISTERED);
}

/* Brings the cache in line with a stored record. Returns the session. */
static BeachSession *
apply_stored (BeachRouter *self, BeachStoredSession *stored)
{
  const BeachRegistration *reg = stored->registration;
  BeachSession *session = beach_session_registry_lookup (self->registry, reg->session_id);
  gint64 now = now_ms ();

  if (session == NULL) {
    g_autoptr (BeachSession) restored = beach_session_new_restored (reg, stored->harness_id,
                                                                    stored->registered_at_ms,
                                                                    stored->handshake_id, now);
    g_autofree gchar *token = beach_auth_session_token (self->auth, reg->session_id);

    for (guint i = 0; i < stored->leases->len; i++)
      beach_session_restore_lease (restored, g_steal_pointer (&stored->leases->pdata[i]));
    beach_session_registry_add (self->registry, restored, token);
    remember_router (restored, self);
    beach_router_update_transport (self, restored, BEACH_TRANSPORT_REASON_REGISTERED);
    set_initial_gauges (self, restored);
    g_message ("session %s restored from the store", reg->session_id);
    beach_fallback_queue_stats_async (self->queue, restored->private_beach_id, restored->session_id,
                                      NULL, restored_stats_cb, g_object_ref (restored));
    return restored;
  }
  if (session->transport_mode != reg->transport_mode) {
    beach_session_update (session, reg);
    beach_router_update_transport (self, session, BEACH_TRANSPORT_REASON_MODE_CHANGED);
  }
  if (g_strcmp0 (session->handshake_id, stored->handshake_id) != 0) {
    g_free (session->handshake_id);
    session->handshake_id = g_strdup (stored->handshake_id);
    g_signal_emit_by_name (session, "changed");
  }
  for (guint i = 0; i < stored->leases->len; i++)
    beach_session_restore_lease (session, g_steal_pointer (&stored->leases->pdata[i]));
  return session;
}

static void
forget_session (BeachRouter *self, BeachSession *session)
{
  g_autoptr (BeachSession) hold = g_object_ref (session);

  g_message ("session %s was deleted by another manager", session->session_id);
  beach_event_hub_close_session (self->events, session->session_id);
  beach_session_registry_remove (self->registry, session->session_id);
  beach_metrics_remove_session (self->metrics, session->private_beach_id, session->session_id);
}

/* The session's owner record, read with each sync: a manager without the
 * link reports the transport the owner's link gives. */
static void
sync_owner_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  BeachSession *session = g_object_get_data (G_OBJECT (task), "beach-session");
  g_autoptr (GError) error = NULL;
  g_autofree gchar *owner = beach_cluster_get_owner_finish (BEACH_CLUSTER (source), result, &error);

  if (error != NULL)
    g_debug ("session %s: owner record not read: %s", session->session_id, error->message);
  else if (beach_session_registry_lookup (self->registry, session->session_id) == session)
    apply_owner (self, session, owner);
  g_task_return_pointer (task, g_object_ref (session), g_object_unref);
}

static void
sync_fetch_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  const gchar *id = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachStoredSession) stored = beach_session_store_fetch_finish (BEACH_SESSION_STORE (source),
                                                                            result, &error);
  BeachSession *cached = beach_session_registry_lookup (self->registry, id);
  BeachSession *session;

  if (error != NULL) {
    /* Unreachable store: known sessions stay served from the cache. */
    if (!g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE))
      g_warning ("session %s: %s", id, error->message);
    g_task_return_pointer (task, cached != NULL ? g_object_ref (cached) : NULL, g_object_unref);
    return;
  }
  if (stored == NULL) {
    if (cached != NULL)
      forget_session (self, cached);
    g_task_return_pointer (task, NULL, NULL);
    return;
  }
  session = apply_stored (self, stored);
  if (self->cluster != NULL) {
    g_object_set_data_full (G_OBJECT (task), "beach-session", g_object_ref (session), g_object_unref);
    beach_cluster_get_owner_async (self->cluster, session->private_beach_id, session->session_id, sync_owner_cb,
                                   g_steal_pointer (&task));
    return;
  }
  g_task_return_pointer (task, g_object_ref (session), g_object_unref);
}
#endif

void
beach_router_sync_session_async (BeachRouter *self, const gchar *session_id, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  BeachSession *cached = beach_session_registry_lookup (self->registry, session_id);

  g_task_set_task_data (task, g_strdup (session_id), g_free);
#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL && beach_session_id_is_valid (session_id)) {
    beach_session_store_fetch_async (self->store, session_id, sync_fetch_cb, g_steal_pointer (&task));
    return;
  }
#endif
  g_task_return_pointer (task, cached != NULL ? g_object_ref (cached) : NULL, g_object_unref);
}

BeachSession *
beach_router_sync_session_finish (BeachRouter *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  BeachRegistration *reg;
  gchar *token;
  BeachSession *session;
  gboolean created;
} RegisterData;

static void
register_data_free (RegisterData *d)
{
  beach_registration_free (d->reg);
  g_free (d->token);
  g_clear_object (&d->session);
  g_free (d);
}

static BeachRegistration *
registration_copy (const BeachRegistration *reg)
{
  BeachRegistration *copy = g_new0 (BeachRegistration, 1);

  copy->session_id = g_strdup (reg->session_id);
  copy->private_beach_id = g_strdup (reg->private_beach_id);
  copy->harness_type = reg->harness_type;
  copy->capabilities = g_strdupv (reg->capabilities);
  copy->location_hint = g_strdup (reg->location_hint);
  copy->metadata = reg->metadata != NULL ? json_object_ref (reg->metadata) : NULL;
  copy->version = g_strdup (reg->version);
  copy->transport_mode = reg->transport_mode;
  return copy;
}

#ifdef BEACH_REDIS_BACKEND
static void
register_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  RegisterData *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  if (!beach_session_store_save_finish (BEACH_SESSION_STORE (source), result, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, g_object_ref (d->session), g_object_unref);
}

static void
register_claimed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  RegisterData *d = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *holder = beach_session_store_claim_finish (BEACH_SESSION_STORE (source), result, &error);
  BeachSession *session;

  if (holder == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (g_strcmp0 (holder, d->reg->private_beach_id) != 0) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_CONFLICT,
                             "session %s is registered under another private beach",
                             d->reg->session_id);
    return;
  }
  session = beach_router_register (self, d->reg, d->token, &d->created, &error);
  if (session == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  remember_router (session, self);
  d->session = g_object_ref (session);
  beach_session_store_save_async (self->store, session, register_saved_cb, g_steal_pointer (&task));
}

static void
register_synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachRouter *self = g_task_get_source_object (task);
  RegisterData *d = g_task_get_task_data (task);
  g_autoptr (BeachSession) known = beach_router_sync_session_finish (self, result, NULL);

  beach_session_store_claim_async (self->store, d->reg->session_id, d->reg->private_beach_id,
                                   register_claimed_cb, g_steal_pointer (&task));
}
#endif

void
beach_router_register_async (BeachRouter *self, const BeachRegistration *reg, const gchar *session_token, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  RegisterData *d = g_new0 (RegisterData, 1);
  g_autoptr (GError) error = NULL;
  BeachSession *session;

  d->reg = registration_copy (reg);
  d->token = g_strdup (session_token);
  g_task_set_task_data (task, d, (GDestroyNotify) register_data_free);
#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL) {
    /* Restore first (a restart keeps ids, leases and queue), then claim
     * the global id, then write the record. */
    beach_router_sync_session_async (self, reg->session_id, register_synced_cb, g_steal_pointer (&task));
    return;
  }
#endif
  session = beach_router_register (self, d->reg, d->token, &d->created, &error);
  if (session == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  d->session = g_object_ref (session);
  g_task_return_pointer (task, g_object_ref (session), g_object_unref);
}

BeachSession *
beach_router_register_finish (BeachRouter *self, GAsyncResult *result, gboolean *out_created, GError **error)
{
  RegisterData *d = g_task_get_task_data (G_TASK (result));

  *out_created = d->created;
  return g_task_propagate_pointer (G_TASK (result), error);
}

#ifdef BEACH_REDIS_BACKEND
static void
lease_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_session_store_save_lease_finish (BEACH_SESSION_STORE (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}
#endif

void
beach_router_persist_lease_async (BeachRouter *self, BeachSession *session, BeachLease *lease, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);

#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL) {
    beach_session_store_save_lease_async (self->store, session, lease, lease_saved_cb,
                                          g_steal_pointer (&task));
    return;
  }
#endif
  g_task_return_boolean (task, TRUE);
}

#ifdef BEACH_REDIS_BACKEND
static void
session_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_session_store_save_finish (BEACH_SESSION_STORE (source), result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}
#endif

/* Makes the session record (handshake id included) durable; completes at
 * once on the memory backend. */
void
beach_router_persist_session_async (BeachRouter *self, BeachSession *session, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);

#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL) {
    beach_session_store_save_async (self->store, session, session_saved_cb, g_steal_pointer (&task));
    return;
  }
#endif
  g_task_return_boolean (task, TRUE);
}

gboolean
beach_router_persist_session_finish (BeachRouter *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
beach_router_persist_lease_finish (BeachRouter *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Activity reaches the store at most every 5 s per session: enough for a
 * 24 h expiry, and no write per request. */
void
beach_router_note_activity (BeachRouter *self, BeachSession *session)
{
  gint64 now = now_ms ();
  gint64 last = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (session), "beach-stored-activity"));

  beach_session_touch (session, now);
#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL && now - last >= 5000) {
    g_object_set_data (G_OBJECT (session), "beach-stored-activity", GSIZE_TO_POINTER ((gsize) now));
    beach_session_store_touch (self->store, session->session_id, now);
  }
#else
  (void) last;
#endif
}

static void
sweep_delete_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!beach_router_delete_session_finish (BEACH_ROUTER (source), result, &error))
    g_warning ("expiring a session failed: %s", error->message);
}

#ifdef BEACH_REDIS_BACKEND
static void
sweep_synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BeachRouter *self = BEACH_ROUTER (source);
  g_autoptr (BeachSession) session = beach_router_sync_session_finish (self, result, NULL);
  gint64 cutoff = GPOINTER_TO_SIZE (user_data);

  /* Activity elsewhere may have refreshed it since the listing. */
  if (session != NULL && session->last_activity_ms < cutoff) {
    g_message ("session %s: idle past its expiry, removing", session->session_id);
    beach_router_delete_session_async (self, session, BEACH_DEAD_LETTER_REASON_SESSION_EXPIRED,
                                       sweep_delete_cb, NULL);
  }
}

static void
sweep_idle_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRouter) self = user_data;
  g_auto (GStrv) ids = beach_session_store_idle_finish (BEACH_SESSION_STORE (source), result, NULL);
  gint64 cutoff = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (self), "beach-sweep-cutoff"));

  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    beach_router_sync_session_async (self, ids[i], sweep_synced_cb, GSIZE_TO_POINTER ((gsize) cutoff));
}
#endif

/* Sessions idle past the expiry go, their queued actions dead-lettered
 * session_expired first; no TTL ever drops an accepted action. */
void
beach_router_sweep_idle (BeachRouter *self, guint idle_secs)
{
  gint64 cutoff = now_ms () - (gint64) idle_secs * 1000;
  g_autoptr (GPtrArray) list = beach_session_registry_list (self->registry);

#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL) {
    g_object_set_data (G_OBJECT (self), "beach-sweep-cutoff", GSIZE_TO_POINTER ((gsize) cutoff));
    beach_session_store_idle_async (self->store, cutoff, sweep_idle_cb, g_object_ref (self));
    return;
  }
#endif
  for (guint i = 0; i < list->len; i++) {
    BeachSession *s = list->pdata[i];

    if (s->last_activity_ms < cutoff) {
      g_message ("session %s: idle past its expiry, removing", s->session_id);
      beach_router_delete_session_async (self, s, BEACH_DEAD_LETTER_REASON_SESSION_EXPIRED,
                                         sweep_delete_cb, NULL);
    }
  }
}

/* -- fast path */

/* The owner record follows the healthy primary link here. */
static void
update_ownership (BeachRouter *self, BeachSession *session)
{
#ifdef BEACH_REDIS_BACKEND
  guint64 generation;

  if (self->cluster == NULL)
    return;
  generation = beach_fast_path_get_primary_generation (self->fast_path, session);
  if (generation > 0)
    beach_cluster_claim (self->cluster, session->private_beach_id, session->session_id, generation);
  else
    beach_cluster_release (self->cluster, session->private_beach_id, session->session_id);
#endif
}

static void
on_link_changed (BeachFastPath *fp, const gchar *session_id, gint reason, BeachRouter *self)
{
  BeachSession *session = beach_session_registry_lookup (self->registry, session_id);

  if (session == NULL)
    return;
  update_ownership (self, session);
  beach_router_update_transport (self, session, (BeachTransportReason) reason);
}

/* A demotion finished: the transport follows the queue now, and calls that
 * waited behind the demotion run in their order. */
static void
on_demoted (BeachFastPath *fp, const gchar *session_id, gint reason, BeachRouter *self)
{
  BeachSession *session = beach_session_registry_lookup (self->registry, session_id);
  g_autofree gchar *key = NULL;
  GQueue *q = NULL;

  if (session == NULL) {
    /* The session has left the registry (deleted, here or by another
     * manager, which closes its links and so demotes): calls that waited
     * behind the demotion have no session to go to. */
    if (g_hash_table_steal_extended (self->deferred, session_id, (gpointer *) &key, (gpointer *) &q)) {
      while (!g_queue_is_empty (q)) {
        GTask *task = g_queue_pop_head (q);

        g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_NOT_FOUND, "session %s was deleted", session_id);
        g_object_unref (task);
      }
      g_queue_free (q);
    }
    return;
  }
  beach_router_update_transport (self, session, (BeachTransportReason) reason);
  if (beach_fast_path_is_demoting (fp, session))
    return;
  /* Stolen (key and queue are ours now): routing may defer again, into a
   * new entry. */
  if (!g_hash_table_steal_extended (self->deferred, session_id, (gpointer *) &key, (gpointer *) &q))
    return;
  while (!g_queue_is_empty (q))
    route_actions (self, g_queue_pop_head (q));
  g_queue_free (q);
}

void
beach_router_set_fast_path (BeachRouter *self, BeachFastPath *fast_path)
{
  g_set_object (&self->fast_path, fast_path);
  g_signal_connect (fast_path, "link-changed", G_CALLBACK (on_link_changed), self);
  g_signal_connect (fast_path, "demoted", G_CALLBACK (on_demoted), self);
}

#ifdef BEACH_REDIS_BACKEND
/* -- scale-out: actions other managers forwarded to this one */

typedef struct {
  GTask *task; /* owned; returns whether the entries are taken */
  GPtrArray *entries;
  gchar *private_beach_id;
  gchar *session_id;
} Delivery;

static void
delivery_free (Delivery *d)
{
  g_clear_object (&d->task);
  g_ptr_array_unref (d->entries);
  g_free (d->private_beach_id);
  g_free (d->session_id);
  g_free (d);
}

static void
delivery_requeued_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Delivery *d = user_data;
  g_autoptr (GError) error = NULL;
  guint n = 0;

  if (!beach_fallback_queue_requeue_finish (BEACH_FALLBACK_QUEUE (source), result, &n, &error)) {
    beach_session_warning (d->session_id, "forwarded", "session %s: forwarded actions not queued, kept in the inbox: %s",
                           d->session_id, error->message);
    g_task_return_boolean (d->task, FALSE);
  } else {
    g_task_return_boolean (d->task, TRUE);
  }
  delivery_free (d);
}

/* Takes d. On the link when it is healthy here and the queue is empty
 * (WIRE.md Routing step 1), else into the queue without the cap, like a
 * demotion: the actions were accepted already. */
static void
deliver_to (BeachRouter *self, BeachSession *session, Delivery *d)
{
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;

  if (session == NULL) {
    beach_session_message (d->session_id, "forwarded", "session %s: %u forwarded actions dropped: the session is gone",
                           d->session_id, d->entries->len);
    g_task_return_boolean (d->task, TRUE);
    delivery_free (d);
    return;
  }
  if (demoting (self, session)) {
    /* Behind the actions of the failed link: try again later. */
    g_task_return_boolean (d->task, FALSE);
    delivery_free (d);
    return;
  }
  if (session->transport_mode == BEACH_TRANSPORT_MODE_FAST_PATH && has_local_primary (self, session) && session->pending == 0 && beach_fast_path_send_entries (self->fast_path, session, d->entries, &accepted, &duplicates)) {
    g_task_return_boolean (d->task, TRUE);
    delivery_free (d);
    return;
  }
  beach_fallback_queue_requeue_async (self->queue, d->private_beach_id, d->session_id, d->entries, NULL,
                                      delivery_requeued_cb, d);
}

static void
deliver_synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Delivery *d = user_data;
  g_autoptr (BeachSession) session = beach_router_sync_session_finish (BEACH_ROUTER (source), result, NULL);

  if (session != NULL && g_strcmp0 (session->private_beach_id, d->private_beach_id) != 0)
    g_clear_object (&session);
  deliver_to (BEACH_ROUTER (source), session, d);
}

static void
deliver_forwarded (GTask *task, const gchar *private_beach_id, const gchar *session_id, GPtrArray *entries, gpointer user_data)
{
  BeachRouter *self = user_data;
  BeachSession *session = session_for (self, private_beach_id, session_id);
  Delivery *d = g_new0 (Delivery, 1);

  d->task = g_object_ref (task);
  d->entries = g_ptr_array_ref (entries);
  d->private_beach_id = g_strdup (private_beach_id);
  d->session_id = g_strdup (session_id);
  if (session == NULL) {
    beach_router_sync_session_async (self, session_id, deliver_synced_cb, d);
    return;
  }
  deliver_to (self, session, d);
}

static void
on_session_removed (BeachSessionRegistry *registry, BeachSession *session, BeachRouter *self)
{
  beach_cluster_release (self->cluster, session->private_beach_id, session->session_id);
}
#endif

/**
 * beach_router_set_cluster:
 * @self: the router
 * @cluster: (nullable): the cluster (several managers on one Redis)
 *
 * From now on sessions owned by another manager get their actions
 * forwarded there, the owner record follows this manager's healthy links,
 * and actions forwarded here are delivered.
 */
void
beach_router_set_cluster (BeachRouter *self, BeachCluster *cluster)
{
#ifdef BEACH_REDIS_BACKEND
  g_return_if_fail (self->cluster == NULL);

  if (cluster == NULL)
    return;
  self->cluster = g_object_ref (cluster);
  beach_cluster_set_deliver_func (cluster, deliver_forwarded, self);
  g_signal_connect_object (self->registry, "session-removed", G_CALLBACK (on_session_removed), self, 0);
#else
  g_return_if_fail (cluster == NULL);
#endif
}
