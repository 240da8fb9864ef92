/* beach-fast-path.c: the manager's side of the fast path
 *
 * WIRE.md "Fast-path signalling", "Fast path" and "Routing" steps 1-2.
 * Every link is an answerer; the host's harness offers. A link becomes the
 * session's primary only once it is healthy, and the primary it replaces
 * gives its in-flight actions to the fallback queue, in order, before it
 * is closed. Nothing accepted is ever dropped: an action leaves the
 * in-flight table by an ack, or by moving to the queue.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-fast-path"

#include "config.h"

#include "beach-log-limiter.h"
#include "beach-sdp-private.h"

#include "beach-fast-path.h"

typedef struct {
  BeachAction *action;
  gint64 enqueued_ms; /* accepted */
  gint64 sent_us;     /* monotonic */
  BeachFastPathLink *link;
} InFlight;

typedef struct {
  BeachFastPath *owner; /* not owned */
  gchar *session_id;
  gchar *private_beach_id;
  BeachFastPathLink *primary;
  GPtrArray *links;  /* every live link of the session, oldest first */
  GQueue in_flight;  /* InFlight*, send order */
  GHashTable *by_id; /* action id -> GList* in in_flight */
  guint ack_timer_id;
  guint demoting; /* requeues under way */
  guint stalled;  /* of those, waiting for the queue to come back */
  guint moving;   /* their actions: out of in_flight, not yet in the queue */
  guint64 generation;
  gchar *pinged_status; /* what the last ping said */
  guint64 send_seq;     /* last seq of the queue's in-flight records */
} SessionLinks;

struct _BeachFastPath {
  GObject parent_instance;

  const BeachConfig *config;
  BeachSessionRegistry *registry;
  BeachFallbackQueue *queue;
  BeachMetrics *metrics;
  BeachEventHub *events;
  GHashTable *sessions; /* session id -> SessionLinks* */
  guint link_counter;
};

enum {
  SIGNAL_DEMOTED,
  SIGNAL_LINK_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachFastPath, beach_fast_path, G_TYPE_OBJECT)

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static void
in_flight_free (InFlight *f)
{
  g_clear_object (&f->action);
  g_clear_object (&f->link);
  g_free (f);
}

static void
links_free (SessionLinks *sl)
{
  g_clear_handle_id (&sl->ack_timer_id, g_source_remove);
  for (guint i = 0; i < sl->links->len; i++) {
    g_signal_handlers_disconnect_by_data (sl->links->pdata[i], sl);
    g_object_set_data (G_OBJECT (sl->links->pdata[i]), "beach-links", NULL);
  }
  g_ptr_array_unref (sl->links);
  g_clear_object (&sl->primary);
  g_queue_clear_full (&sl->in_flight, (GDestroyNotify) in_flight_free);
  g_hash_table_unref (sl->by_id);
  g_free (sl->session_id);
  g_free (sl->private_beach_id);
  g_free (sl->pinged_status);
  g_free (sl);
}

static SessionLinks *
links_for (BeachFastPath *self, BeachSession *session, gboolean create)
{
  SessionLinks *sl = g_hash_table_lookup (self->sessions, session->session_id);

  if (sl == NULL && create) {
    sl = g_new0 (SessionLinks, 1);
    sl->owner = self;
    sl->session_id = g_strdup (session->session_id);
    sl->private_beach_id = g_strdup (session->private_beach_id);
    sl->links = g_ptr_array_new_with_free_func (g_object_unref);
    g_queue_init (&sl->in_flight);
    sl->by_id = g_hash_table_new (g_str_hash, g_str_equal);
    sl->generation = session->link_generation;
    g_hash_table_insert (self->sessions, g_strdup (session->session_id), sl);
  }
  return sl;
}

static BeachSession *
session_of (SessionLinks *sl)
{
  return beach_session_registry_lookup (sl->owner->registry, sl->session_id);
}

static gchar *
labels (SessionLinks *sl, const gchar *key, const gchar *value)
{
  return beach_metrics_session_labels (sl->private_beach_id, sl->session_id, key, value, NULL);
}

/* -- settlement and demotion */

static void
publish_settled (SessionLinks *sl, const gchar *id, BeachAckStatus status, const gchar *error_code, gint64 enqueued_ms)
{
  BeachFastPath *self = sl->owner;
  const gchar *status_str = beach_ack_status_to_string (status);
  g_autofree gchar *by_status = labels (sl, "status", status_str);
  g_autofree gchar *plain = labels (sl, NULL, NULL);
  g_autoptr (JsonObject) ev = json_object_new ();

  beach_metrics_counter_add (self->metrics, "actions_acked_total", by_status, 1);
  beach_metrics_histogram_observe (self->metrics, "action_latency_seconds", plain,
                                   MAX (0, now_ms () - enqueued_ms) / 1000.0);
  json_object_set_string_member (ev, "session_id", sl->session_id);
  json_object_set_string_member (ev, "id", id);
  json_object_set_string_member (ev, "status", status_str);
  if (error_code != NULL)
    json_object_set_string_member (ev, "error_code", error_code);
  else
    json_object_set_null_member (ev, "error_code");
  json_object_set_string_member (ev, "via", "fast_path");
  beach_event_hub_publish (self->events, sl->session_id, "action_settled", ev);
}

static void
update_in_flight_count (SessionLinks *sl)
{
  BeachSession *s = session_of (sl);
  /* Actions on their way to the queue still count: until the queue holds
   * them, /pending must not say 0 and 0 for a session that owes them. */
  guint n = g_queue_get_length (&sl->in_flight) + sl->moving;

  if (s != NULL && s->in_flight != n) {
    s->in_flight = n;
    g_signal_emit_by_name (s, "changed");
  }
}

static void arm_ack_timer (SessionLinks *sl);
static void maybe_close_drained (SessionLinks *sl, BeachFastPathLink *link);

typedef struct {
  BeachFastPath *self;
  gchar *private_beach_id;
  gchar *session_id;
  BeachTransportReason reason;
  GStrv ids;          /* the requeued actions, to untrack once they are queued */
  GPtrArray *entries; /* BeachQueueEntry*, kept for a retry */
  guint attempts;     /* failed so far (the queue was unavailable) */
} RequeueData;

/* A requeue the queue refused as unavailable is retried after this long,
 * doubling up to the maximum, until the queue takes it. */
#define REQUEUE_RETRY_MIN_MS 100
#define REQUEUE_RETRY_MAX_MS 2000

static void requeue_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
on_requeue_retry (gpointer user_data)
{
  RequeueData *d = user_data;

  beach_fallback_queue_requeue_async (d->self->queue, d->private_beach_id, d->session_id, d->entries,
                                      NULL, requeue_cb, d);
}

static void
requeue_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RequeueData *d = user_data;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  SessionLinks *sl = g_hash_table_lookup (d->self->sessions, d->session_id);

  if (!beach_fallback_queue_requeue_finish (BEACH_FALLBACK_QUEUE (source), result, &n, &error)) {
    if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE)) {
      /* The queue is down (Redis away). These actions were accepted and
       * may be nowhere else (an in-flight record is written only while
       * Redis answers): keep them and try again until the queue takes
       * them. The session stays demoting meanwhile, so no newer action
       * overtakes them (the router answers 503 for it). */
      guint delay = MIN (REQUEUE_RETRY_MAX_MS, REQUEUE_RETRY_MIN_MS << MIN (d->attempts, 5));

      if (d->attempts == 0) {
        g_warning ("session %s: could not move %u in-flight actions to the queue: %s; retrying until it answers",
                   d->session_id, d->entries->len, error->message);
        if (sl != NULL)
          sl->stalled++;
      }
      d->attempts++;
      g_timeout_add_once (delay, on_requeue_retry, d);
      return;
    }
    /* Any other refusal is a bug: say so loudly. The in-flight records
     * stay, and a restart requeues them. */
    g_critical ("session %s: could not move in-flight actions to the queue: %s",
                d->session_id, error->message);
  } else {
    if (d->attempts > 0)
      g_message ("session %s: %u in-flight actions are in the queue after %u retries", d->session_id,
                 d->entries->len, d->attempts);
    /* Only now are they in the queue: the in-flight records go last, so
     * that a crash never finds them in memory only. On failure the records
     * stay, and a restart requeues them. */
    for (guint i = 0; d->ids[i] != NULL; i++)
      beach_fallback_queue_untrack_in_flight (BEACH_FALLBACK_QUEUE (source), d->private_beach_id,
                                              d->session_id, d->ids[i]);
  }
  if (sl != NULL && d->attempts > 0 && sl->stalled > 0)
    sl->stalled--;
  if (sl != NULL && sl->demoting > 0)
    sl->demoting--;
  if (sl != NULL) {
    sl->moving -= MIN (sl->moving, d->entries->len);
    update_in_flight_count (sl);
  }
  g_signal_emit (d->self, signals[SIGNAL_DEMOTED], 0, d->session_id, (gint) d->reason);
  g_object_unref (d->self);
  g_free (d->private_beach_id);
  g_free (d->session_id);
  g_strfreev (d->ids);
  g_ptr_array_unref (d->entries);
  g_free (d);
}

/* Moves every in-flight action sent on @link (all of them when NULL) to
 * the fallback queue in send order. WIRE.md Routing step 2. */
static guint
demote (SessionLinks *sl, BeachFastPathLink *link, BeachTransportReason reason)
{
  BeachFastPath *self = sl->owner;
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_queue_entry_free);
  RequeueData *d;
  GList *l = sl->in_flight.head;

  while (l != NULL) {
    GList *next = l->next;
    InFlight *f = l->data;

    if (link == NULL || f->link == link) {
      BeachQueueEntry *e = g_new0 (BeachQueueEntry, 1);

      e->action = g_object_ref (f->action);
      e->enqueued_ms = f->enqueued_ms;
      g_ptr_array_add (entries, e);
      g_hash_table_remove (sl->by_id, beach_action_get_id (f->action));
      g_queue_delete_link (&sl->in_flight, l);
      in_flight_free (f);
    }
    l = next;
  }
  sl->moving += entries->len;
  update_in_flight_count (sl);
  arm_ack_timer (sl);
  {
    /* Replaced links with nothing left in flight have nothing to wait for. */
    g_autoptr (GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);

    for (guint i = 0; i < sl->links->len; i++)
      g_ptr_array_add (links, g_object_ref (sl->links->pdata[i]));
    for (guint i = 0; i < links->len; i++)
      maybe_close_drained (sl, links->pdata[i]);
  }
  if (entries->len == 0) {
    g_signal_emit (self, signals[SIGNAL_DEMOTED], 0, sl->session_id, (gint) reason);
    return 0;
  }
  {
    g_autofree gchar *l_reason = labels (sl, "reason", beach_transport_reason_to_string (reason));

    beach_metrics_counter_add (self->metrics, "fastpath_failovers_total", l_reason, 1);
  }
  beach_session_message (sl->session_id, "demote", "session %s: %u in-flight actions move to the fallback queue (%s)", sl->session_id,
                         entries->len, beach_transport_reason_to_string (reason));
  /* Announced before the requeue: the router sees the session as demoting
   * (so http_fallback, with this reason) before the queue's own
   * depth-changed could name another one. */
  sl->demoting++;
  g_signal_emit (self, signals[SIGNAL_LINK_CHANGED], 0, sl->session_id, (gint) reason);
  d = g_new0 (RequeueData, 1);
  d->self = g_object_ref (self);
  d->private_beach_id = g_strdup (sl->private_beach_id);
  d->session_id = g_strdup (sl->session_id);
  d->reason = reason;
  d->ids = g_new0 (gchar *, entries->len + 1);
  for (guint i = 0; i < entries->len; i++)
    d->ids[i] = g_strdup (beach_action_get_id (((BeachQueueEntry *) entries->pdata[i])->action));
  d->entries = g_ptr_array_ref (entries);
  beach_fallback_queue_requeue_async (self->queue, sl->private_beach_id, sl->session_id, entries,
                                      NULL, requeue_cb, d);
  return entries->len;
}

static gboolean
on_ack_timeout (gpointer user_data)
{
  SessionLinks *sl = user_data;

  sl->ack_timer_id = 0;
  beach_session_message (sl->session_id, "ack_timeout", "session %s: an in-flight action went unacked for %u ms", sl->session_id,
                         sl->owner->config->fast_path.ack_timeout_ms);
  demote (sl, NULL, BEACH_TRANSPORT_REASON_ACK_TIMEOUT);
  return G_SOURCE_REMOVE;
}

/* One timer, for the oldest in-flight action. */
static void
arm_ack_timer (SessionLinks *sl)
{
  InFlight *oldest = g_queue_peek_head (&sl->in_flight);
  gint64 due_us, wait_ms;

  g_clear_handle_id (&sl->ack_timer_id, g_source_remove);
  if (oldest == NULL)
    return;
  due_us = oldest->sent_us + (gint64) sl->owner->config->fast_path.ack_timeout_ms * 1000;
  wait_ms = MAX (0, (due_us - g_get_monotonic_time () + 999) / 1000);
  sl->ack_timer_id = g_timeout_add ((guint) wait_ms, on_ack_timeout, sl);
}

static guint
count_in_flight_on (SessionLinks *sl, BeachFastPathLink *link)
{
  guint n = 0;

  for (GList *l = sl->in_flight.head; l != NULL; l = l->next)
    n += ((InFlight *) l->data)->link == link ? 1 : 0;
  return n;
}

static gboolean
is_draining (BeachFastPathLink *link)
{
  return g_object_get_data (G_OBJECT (link), "beach-draining") != NULL;
}

static void close_link (SessionLinks *sl, BeachFastPathLink *link);

/* A replaced link is closed once every action sent on it is settled. */
static void
maybe_close_drained (SessionLinks *sl, BeachFastPathLink *link)
{
  if (link != NULL && link != sl->primary && is_draining (link) && count_in_flight_on (sl, link) == 0) {
    beach_session_message (sl->session_id, "link_replaced", "session %s: replaced link %s has settled its actions, closing", sl->session_id,
                           beach_fast_path_link_get_link_id (link));
    close_link (sl, link);
  }
}

static void
set_primary_gauges (SessionLinks *sl, gboolean healthy)
{
  g_autofree gchar *plain = labels (sl, NULL, NULL);

  beach_metrics_gauge_set (sl->owner->metrics, "fastpath_link_healthy", plain, healthy ? 1 : 0);
}

static void
close_link (SessionLinks *sl, BeachFastPathLink *link)
{
  g_autoptr (BeachFastPathLink) hold = g_object_ref (link);

  g_signal_handlers_disconnect_by_data (link, sl);
  g_object_set_data (G_OBJECT (link), "beach-links", NULL);
  if (sl->primary == link)
    g_clear_object (&sl->primary);
  g_ptr_array_remove (sl->links, link);
  beach_fast_path_link_close_async (link, NULL, NULL, NULL);
}

/* A healthy link becomes primary: newer wins (the host re-offered for a
 * reason). The old primary's in-flight actions go to the queue first. */
static void
promote (SessionLinks *sl, BeachFastPathLink *link)
{
  BeachSession *s = session_of (sl);
  BeachFastPathLink *old = sl->primary;

  if (old == link || s == NULL)
    return;
  if (old != NULL) {
    /* Make-before-break: the old link sends nothing more, but the acks of
     * what it already carried are still on their way. It stays open until
     * they are in (then it closes), or until it dies or an ack is late
     * (then they move to the queue). Requeueing now would deliver twice. */
    g_object_set_data (G_OBJECT (old), "beach-draining", GINT_TO_POINTER (1));
    g_clear_object (&sl->primary);
  }
  sl->primary = g_object_ref (link);
  maybe_close_drained (sl, old);
  sl->generation++;
  s->link_generation = sl->generation;
  s->fast_path_ready = TRUE;
  set_primary_gauges (sl, TRUE);
  beach_session_notify_changed (s);
  beach_session_message (sl->session_id, "link_primary", "session %s: link %s is primary (generation %" G_GUINT64_FORMAT ")", sl->session_id,
                         beach_fast_path_link_get_link_id (link), sl->generation);
  g_signal_emit (sl->owner, signals[SIGNAL_LINK_CHANGED], 0, sl->session_id,
                 (gint) BEACH_TRANSPORT_REASON_LINK_HEALTHY);
  beach_fast_path_status_changed (sl->owner, s);
}

static void
on_link_health (BeachFastPathLink *link, GParamSpec *pspec, SessionLinks *sl)
{
  BeachLinkHealth health = beach_fast_path_link_get_health (link);
  BeachSession *s = session_of (sl);

  if (health == BEACH_LINK_HEALTH_HEALTHY) {
    promote (sl, link);
    return;
  }
  if (link == sl->primary && health != BEACH_LINK_HEALTH_CONNECTING) {
    BeachTransportReason reason = health == BEACH_LINK_HEALTH_CLOSED
                                    ? BEACH_TRANSPORT_REASON_CHANNEL_CLOSED
                                    : BEACH_TRANSPORT_REASON_HEARTBEAT_TIMEOUT;

    beach_session_message (sl->session_id, "link_lost", "session %s: primary link %s is %s", sl->session_id,
                           beach_fast_path_link_get_link_id (link), beach_link_health_to_string (health));
    g_clear_object (&sl->primary);
    if (s != NULL) {
      s->fast_path_ready = FALSE;
      s->heartbeat_rtt_us = -1;
      beach_session_notify_changed (s);
    }
    set_primary_gauges (sl, FALSE);
    if (demote (sl, link, reason) == 0)
      g_signal_emit (sl->owner, signals[SIGNAL_LINK_CHANGED], 0, sl->session_id, (gint) reason);
  } else if (link != sl->primary && health != BEACH_LINK_HEALTH_CONNECTING && count_in_flight_on (sl, link) > 0) {
    /* A replaced link died before its acks came in: what it carried goes
     * to the queue. */
    demote (sl, link, health == BEACH_LINK_HEALTH_CLOSED ? BEACH_TRANSPORT_REASON_CHANNEL_CLOSED : BEACH_TRANSPORT_REASON_LINK_REPLACED);
  }
  if (health == BEACH_LINK_HEALTH_CLOSED || (link != sl->primary && is_draining (link) && health == BEACH_LINK_HEALTH_UNHEALTHY))
    close_link (sl, link);
}

static gboolean
settle_one (SessionLinks *sl, BeachActionAck *ack)
{
  GList *l = g_hash_table_lookup (sl->by_id, beach_action_ack_get_id (ack));
  g_autoptr (BeachFastPathLink) link = NULL;
  InFlight *f;

  if (l == NULL)
    return FALSE;
  f = l->data;
  link = g_object_ref (f->link);
  publish_settled (sl, beach_action_ack_get_id (ack), beach_action_ack_get_status (ack),
                   beach_action_ack_get_error_code (ack), f->enqueued_ms);
  beach_fallback_queue_untrack_in_flight (sl->owner->queue, sl->private_beach_id, sl->session_id,
                                          beach_action_ack_get_id (ack));
  g_hash_table_remove (sl->by_id, beach_action_ack_get_id (ack));
  g_queue_delete_link (&sl->in_flight, l);
  in_flight_free (f);
  maybe_close_drained (sl, link);
  return TRUE;
}

static void
queue_ack_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachMetrics) metrics = user_data;
  guint settled = 0;
  g_autoptr (GError) error = NULL;

  if (!beach_fallback_queue_ack_finish (BEACH_FALLBACK_QUEUE (source), result, &settled, &error))
    g_warning ("an ack from the fast path could not reach the queue: %s", error->message);
  else if (settled == 0)
    beach_metrics_counter_add (metrics, "actions_ack_unknown_total", NULL, 1);
}

static void
handle_frame (SessionLinks *sl, BeachFastPathLink *link, const gchar *type, JsonNode *payload)
{
  BeachFastPath *self = sl->owner;
  BeachSession *s = session_of (sl);
  g_autoptr (GError) error = NULL;

  if (s == NULL)
    return;
  if (g_str_equal (type, "ack")) {
    g_autoptr (BeachActionAck) ack = beach_action_ack_new_from_json (payload, &error);
    g_autofree gchar *plain = labels (sl, NULL, NULL);

    if (ack == NULL) {
      g_debug ("session %s: bad ack frame: %s", sl->session_id, error->message);
      return;
    }
    beach_metrics_counter_add (self->metrics, "fastpath_acks_received_total", plain, 1);
    if (settle_one (sl, ack)) {
      update_in_flight_count (sl);
      arm_ack_timer (sl);
    } else {
      /* Acks settle their id wherever it is: this one was queued. */
      g_autoptr (GPtrArray) one = g_ptr_array_new_with_free_func (g_object_unref);

      g_ptr_array_add (one, g_object_ref (ack));
      beach_fallback_queue_ack_async (self->queue, sl->private_beach_id, sl->session_id, one, NULL,
                                      queue_ack_cb, g_object_ref (self->metrics));
    }
  } else if (g_str_equal (type, "state")) {
    g_autoptr (BeachStateDiff) diff = beach_state_diff_new_from_json (payload, &error);
    g_autofree gchar *plain = labels (sl, NULL, NULL);
    g_autoptr (JsonNode) stored = NULL;
    g_autoptr (JsonObject) ev = NULL;

    if (diff == NULL)
      return;
    beach_metrics_counter_add (self->metrics, "fastpath_state_received_total", plain, 1);
    stored = beach_state_diff_to_json (diff);
    beach_session_set_state (s, stored);
    ev = json_object_new ();
    json_object_set_string_member (ev, "session_id", sl->session_id);
    json_object_set_int_member (ev, "sequence", (gint64) beach_state_diff_get_sequence (diff));
    beach_event_hub_publish (self->events, sl->session_id, "state", ev);
  } else if (g_str_equal (type, "health")) {
    g_autoptr (BeachHealth) health = beach_health_new_from_json (payload, &error);

    if (health != NULL && JSON_NODE_HOLDS_OBJECT (payload)) {
      beach_session_set_health (s, json_node_get_object (payload), now_ms ());
      if (beach_health_has_fast_path (health))
        beach_metrics_set_harness_state (self->metrics, sl->private_beach_id, sl->session_id,
                                         beach_health_get_fast_path_state (health));
    }
  } else if (g_str_equal (type, "pong") && link == sl->primary) {
    gint64 rtt = beach_fast_path_link_get_rtt_us (link);
    g_autofree gchar *plain = labels (sl, NULL, NULL);

    if (rtt >= 0) {
      s->heartbeat_rtt_us = rtt;
      beach_metrics_histogram_observe (self->metrics, "fastpath_heartbeat_rtt_seconds", plain,
                                       rtt / 1e6);
    }
  }
}

static void
on_frame (BeachFastPathLink *link, BeachFastPathChannel channel, const gchar *type, JsonNode *payload, SessionLinks *sl)
{
  handle_frame (sl, link, type, payload);
}

static void
on_local_candidate (BeachFastPathLink *link, const gchar *candidate, guint mline, SessionLinks *sl)
{
  GPtrArray *list = g_object_get_data (G_OBJECT (link), "beach-candidates");

  if (candidate == NULL || *candidate == '\0') {
    g_object_set_data (G_OBJECT (link), "beach-gathered", GINT_TO_POINTER (1));
    return;
  }
  {
    JsonObject *c = json_object_new ();
    /* The answer mirrors the offer's sections, so the offer's a=mid names
     * the section the candidate belongs to. */
    g_autofree gchar *mid = beach_sdp_get_mid (g_object_get_data (G_OBJECT (link), "beach-offer-sdp"), mline);

    json_object_set_string_member (c, "candidate", candidate);
    if (mid != NULL)
      json_object_set_string_member (c, "sdp_mid", mid);
    else
      json_object_set_null_member (c, "sdp_mid");
    json_object_set_int_member (c, "sdp_mline_index", mline);
    g_ptr_array_add (list, c);
  }
}

/* A candidate that never became healthy goes. */
static gboolean
on_candidate_deadline (gpointer user_data)
{
  BeachFastPathLink *link = user_data;
  SessionLinks *sl = g_object_get_data (G_OBJECT (link), "beach-links");

  g_object_set_data (G_OBJECT (link), "beach-deadline", NULL);
  if (sl != NULL && link != sl->primary && beach_fast_path_link_get_health (link) != BEACH_LINK_HEALTH_HEALTHY) {
    beach_session_message (sl->session_id, "candidate_timeout", "session %s: link %s not healthy within %u ms, closing", sl->session_id,
                           beach_fast_path_link_get_link_id (link), sl->owner->config->fast_path.candidate_timeout_ms);
    close_link (sl, link);
  }
  return G_SOURCE_REMOVE;
}

/* -- signalling */

typedef struct {
  SessionLinks *sl;
  BeachFastPathLink *link;
} OfferData;

static void
answer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachFastPathLink *link = BEACH_FAST_PATH_LINK (source);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sdp = beach_fast_path_link_answer_finish (link, result, &error);

  if (sdp == NULL) {
    SessionLinks *sl = g_object_get_data (G_OBJECT (link), "beach-links");

    if (sl != NULL)
      close_link (sl, link);
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, g_steal_pointer (&sdp), g_free);
}

static void
unref_candidates (gpointer data)
{
  g_ptr_array_unref (data);
}

void
beach_fast_path_offer_async (BeachFastPath *self, BeachSession *session, const gchar *offer_sdp, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  SessionLinks *sl = links_for (self, session, TRUE);
  const BeachConfig *c = self->config;
  g_autoptr (BeachFastPathLink) link = beach_fast_path_link_new (BEACH_FAST_PATH_ROLE_ANSWERER);
  g_autofree gchar *uuid = g_uuid_string_random ();
  g_autofree gchar *link_id = g_strdup_printf ("l%u-%s", ++self->link_counter, uuid);
  guint candidates = 0;

  /* At most max_candidates links besides the primary: the oldest other
   * one makes room. */
  for (guint i = 0; i < sl->links->len; i++)
    candidates += sl->links->pdata[i] != sl->primary ? 1 : 0;
  while (candidates >= c->fast_path.max_candidates) {
    for (guint i = 0; i < sl->links->len; i++) {
      if (sl->links->pdata[i] != sl->primary) {
        beach_session_message (sl->session_id, "candidates", "session %s: too many candidate links, closing the oldest", sl->session_id);
        close_link (sl, sl->links->pdata[i]);
        break;
      }
    }
    candidates--;
  }

  g_object_set (link,
                "link-id", link_id,
                "local-addresses", c->fast_path.local_addresses,
                "ice-servers", c->fast_path.ice_servers,
                "heartbeat-interval-ms", c->fast_path.heartbeat_interval_ms,
                "heartbeat-timeout-ms", c->fast_path.heartbeat_timeout_ms,
                "unhealthy-close-ms", c->fast_path.unhealthy_close_ms,
                NULL);
  g_object_set_data_full (G_OBJECT (link), "beach-candidates",
                          g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref),
                          unref_candidates);
  g_object_set_data (G_OBJECT (link), "beach-links", sl);
  g_object_set_data_full (G_OBJECT (link), "beach-offer-sdp", g_strdup (offer_sdp), g_free);
  g_signal_connect (link, "notify::health", G_CALLBACK (on_link_health), sl);
  g_signal_connect (link, "frame-received", G_CALLBACK (on_frame), sl);
  g_signal_connect (link, "local-candidate", G_CALLBACK (on_local_candidate), sl);
  g_ptr_array_add (sl->links, g_object_ref (link));
  g_timeout_add_full (G_PRIORITY_DEFAULT, c->fast_path.candidate_timeout_ms, on_candidate_deadline,
                      g_object_ref (link), g_object_unref);
  /* No status until the session's status changes: the link's first ping
   * (at transport up, before it is primary) would otherwise carry the
   * transport from before it, and could reach the host after the answer to
   * a poll that already says fast_path. A null transport is proof of life
   * only. */
  beach_fast_path_link_set_ping_status (link, session->handshake_id, NULL, 0);
  g_task_set_task_data (task, g_strdup (link_id), g_free);
  beach_fast_path_link_answer_async (link, offer_sdp, cancellable, answer_cb, g_steal_pointer (&task));
}

gchar *
beach_fast_path_offer_finish (BeachFastPath *self, GAsyncResult *result, gchar **out_link_id, GError **error)
{
  gchar *sdp = g_task_propagate_pointer (G_TASK (result), error);

  if (sdp != NULL && out_link_id != NULL)
    *out_link_id = g_strdup (g_task_get_task_data (G_TASK (result)));
  return sdp;
}

static BeachFastPathLink *
find_link (SessionLinks *sl, const gchar *link_id, GError **error)
{
  if (sl == NULL || sl->links->len == 0) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_NOT_FOUND, "the session has no link; offer first");
    return NULL;
  }
  if (link_id == NULL)
    return sl->links->pdata[sl->links->len - 1];
  for (guint i = 0; i < sl->links->len; i++) {
    if (g_strcmp0 (beach_fast_path_link_get_link_id (sl->links->pdata[i]), link_id) == 0)
      return sl->links->pdata[i];
  }
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_NOT_FOUND, "no link %s on this session", link_id);
  return NULL;
}

gboolean
beach_fast_path_add_remote_candidate (BeachFastPath *self, BeachSession *session, const gchar *link_id, const gchar *candidate, guint sdp_mline_index, GError **error)
{
  BeachFastPathLink *link = find_link (links_for (self, session, FALSE), link_id, error);

  if (link == NULL)
    return FALSE;
  return beach_fast_path_link_add_remote_candidate (link, candidate, sdp_mline_index, error);
}

JsonNode *
beach_fast_path_get_local_candidates (BeachFastPath *self, BeachSession *session, const gchar *link_id, guint since, guint *out_next, gboolean *out_complete, GError **error)
{
  BeachFastPathLink *link = find_link (links_for (self, session, FALSE), link_id, error);
  g_autoptr (JsonArray) array = NULL;
  GPtrArray *list;
  JsonNode *node;

  if (link == NULL)
    return NULL;
  list = g_object_get_data (G_OBJECT (link), "beach-candidates");
  array = json_array_new ();
  for (guint i = since; i < list->len; i++) {
    JsonNode *n = json_node_new (JSON_NODE_OBJECT);

    json_node_set_object (n, list->pdata[i]);
    json_array_add_element (array, n);
  }
  *out_next = MAX (since, list->len);
  *out_complete = g_object_get_data (G_OBJECT (link), "beach-gathered") != NULL;
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (node, array);
  return node;
}

/* -- routing */

/* Increasing per session, and across restarts too (wall-clock µs unless
 * sends come faster), so that in-flight records left behind by an earlier
 * run sort before this run's. Stays below 2^53: exact in Lua. */
static guint64
next_seq (SessionLinks *sl)
{
  sl->send_seq = MAX (sl->send_seq + 1, (guint64) MAX (0, g_get_real_time ()));
  return sl->send_seq;
}

/* @enqueued_ms: when each action was accepted (NULL: now). */
static gboolean
send_actions (BeachFastPath *self, BeachSession *session, GPtrArray *actions, const gint64 *enqueued_ms, GStrv *out_accepted, GStrv *out_duplicates)
{
  SessionLinks *sl = links_for (self, session, FALSE);
  g_autoptr (GStrvBuilder) accepted = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) duplicates = g_strv_builder_new ();
  g_autoptr (GPtrArray) to_send = NULL;
  g_autofree gchar *plain = NULL;
  BeachFastPathLink *link;
  gint64 now = now_ms ();

  if (sl == NULL || sl->primary == NULL || sl->demoting > 0 || beach_fast_path_link_get_health (sl->primary) != BEACH_LINK_HEALTH_HEALTHY)
    return FALSE;
  link = sl->primary;
  plain = labels (sl, NULL, NULL);

  /* The whole call is in flight before the first send: if a send fails,
   * demotion moves every one of them, sent or not, to the queue in order,
   * so none is ever accounted nowhere. */
  to_send = g_ptr_array_new ();
  for (guint i = 0; i < actions->len; i++) {
    BeachAction *a = actions->pdata[i];
    const gchar *id = beach_action_get_id (a);
    InFlight *f;

    if (g_hash_table_contains (sl->by_id, id)) {
      g_strv_builder_add (duplicates, id);
      continue;
    }
    f = g_new0 (InFlight, 1);
    f->action = g_object_ref (a);
    f->enqueued_ms = enqueued_ms != NULL ? enqueued_ms[i] : now;
    f->sent_us = g_get_monotonic_time ();
    f->link = g_object_ref (link);
    g_queue_push_tail (&sl->in_flight, f);
    g_hash_table_insert (sl->by_id, (gpointer) beach_action_get_id (f->action), sl->in_flight.tail);
    g_strv_builder_add (accepted, id);
    g_ptr_array_add (to_send, f->action);
    /* Recorded before the send, so that no action is ever on the wire and
     * only in this process (a no-op with the memory backend). */
    beach_fallback_queue_track_in_flight (self->queue, sl->private_beach_id, sl->session_id, f->action,
                                          f->enqueued_ms, next_seq (sl));
  }
  for (guint i = 0; i < to_send->len; i++) {
    g_autoptr (JsonNode) frame = beach_action_to_json (to_send->pdata[i]);
    g_autoptr (GError) error = NULL;

    if (!beach_fast_path_link_send (link, BEACH_FAST_PATH_CHANNEL_ACTIONS, "action", frame, &error)) {
      beach_session_message (sl->session_id, "send_failed", "session %s: the link refused an action (%s); moving its in-flight actions to the queue",
                             sl->session_id, error->message);
      demote (sl, link, g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE) ? BEACH_TRANSPORT_REASON_CHANNEL_CLOSED : BEACH_TRANSPORT_REASON_ACK_TIMEOUT);
      break;
    }
    beach_metrics_counter_add (self->metrics, "fastpath_actions_sent_total", plain, 1);
  }
  update_in_flight_count (sl);
  if (sl->ack_timer_id == 0)
    arm_ack_timer (sl);
  *out_accepted = g_strv_builder_end (accepted);
  *out_duplicates = g_strv_builder_end (duplicates);
  return TRUE;
}

gboolean
beach_fast_path_send_actions (BeachFastPath *self, BeachSession *session, GPtrArray *actions, GStrv *out_accepted, GStrv *out_duplicates)
{
  return send_actions (self, session, actions, NULL, out_accepted, out_duplicates);
}

/* Actions accepted elsewhere (another manager forwarded them): each keeps
 * the time it was accepted at, so that latency stays accept-to-ack. */
gboolean
beach_fast_path_send_entries (BeachFastPath *self, BeachSession *session, GPtrArray *entries, GStrv *out_accepted, GStrv *out_duplicates)
{
  g_autoptr (GPtrArray) actions = g_ptr_array_new ();
  g_autofree gint64 *enqueued = g_new0 (gint64, entries->len + 1);

  for (guint i = 0; i < entries->len; i++) {
    BeachQueueEntry *e = entries->pdata[i];

    g_ptr_array_add (actions, e->action);
    enqueued[i] = e->enqueued_ms;
  }
  return send_actions (self, session, actions, enqueued, out_accepted, out_duplicates);
}

/* The generation of the session's healthy primary link; 0 when it has
 * none. */
guint64
beach_fast_path_get_primary_generation (BeachFastPath *self, BeachSession *session)
{
  SessionLinks *sl = links_for (self, session, FALSE);

  if (sl == NULL || sl->primary == NULL || beach_fast_path_link_get_health (sl->primary) != BEACH_LINK_HEALTH_HEALTHY)
    return 0;
  return sl->generation;
}

gboolean
beach_fast_path_is_in_flight (BeachFastPath *self, BeachSession *session, const gchar *action_id)
{
  SessionLinks *sl = links_for (self, session, FALSE);

  return sl != NULL && g_hash_table_contains (sl->by_id, action_id);
}

gboolean
beach_fast_path_is_demoting (BeachFastPath *self, BeachSession *session)
{
  SessionLinks *sl = links_for (self, session, FALSE);

  return sl != NULL && sl->demoting > 0;
}

gboolean
beach_fast_path_is_requeue_stalled (BeachFastPath *self, BeachSession *session)
{
  SessionLinks *sl = links_for (self, session, FALSE);

  return sl != NULL && sl->stalled > 0;
}

GPtrArray *
beach_fast_path_settle (BeachFastPath *self, BeachSession *session, GPtrArray *acks, guint *out_settled)
{
  SessionLinks *sl = links_for (self, session, FALSE);
  GPtrArray *rest = g_ptr_array_new_with_free_func (g_object_unref);
  guint settled = 0;

  for (guint i = 0; i < acks->len; i++) {
    if (sl != NULL && settle_one (sl, acks->pdata[i]))
      settled++;
    else
      g_ptr_array_add (rest, g_object_ref (acks->pdata[i]));
  }
  if (sl != NULL && settled > 0) {
    update_in_flight_count (sl);
    arm_ack_timer (sl);
  }
  *out_settled = settled;
  return rest;
}

/* A link offered for the session that is neither the primary nor closed
 * yet: a renegotiation is under way. */
gboolean
beach_fast_path_has_candidate (BeachFastPath *self, BeachSession *session)
{
  SessionLinks *sl = links_for (self, session, FALSE);

  if (sl == NULL)
    return FALSE;
  for (guint i = 0; i < sl->links->len; i++) {
    BeachFastPathLink *link = sl->links->pdata[i];

    if (link != sl->primary && beach_fast_path_link_get_health (link) == BEACH_LINK_HEALTH_CONNECTING)
      return TRUE;
  }
  return FALSE;
}

void
beach_fast_path_status_changed (BeachFastPath *self, BeachSession *session)
{
  SessionLinks *sl = links_for (self, session, FALSE);
  g_autofree gchar *status = NULL;

  if (sl == NULL)
    return;
  status = g_strdup_printf ("%s|%s|%u", session->handshake_id,
                            beach_transport_to_string (session->transport), session->pending);
  for (guint i = 0; i < sl->links->len; i++)
    beach_fast_path_link_set_ping_status (sl->links->pdata[i], session->handshake_id,
                                          beach_transport_to_string (session->transport),
                                          session->pending);
  if (g_strcmp0 (status, sl->pinged_status) == 0)
    return;
  g_free (sl->pinged_status);
  sl->pinged_status = g_steal_pointer (&status);
  /* The host learns at once, not at the next heartbeat. */
  for (guint i = 0; i < sl->links->len; i++) {
    if (beach_fast_path_link_get_health (sl->links->pdata[i]) == BEACH_LINK_HEALTH_HEALTHY)
      beach_fast_path_link_ping_now (sl->links->pdata[i]);
  }
}

/* The session goes: in-flight actions move to the queue first (the caller
 * then dead-letters the queue), and every link is closed. */
void
beach_fast_path_close_session (BeachFastPath *self, BeachSession *session, BeachTransportReason reason)
{
  SessionLinks *sl = links_for (self, session, FALSE);

  if (sl == NULL)
    return;
  demote (sl, NULL, reason);
  while (sl->links->len > 0)
    close_link (sl, sl->links->pdata[0]);
  set_primary_gauges (sl, FALSE);
  g_hash_table_remove (self->sessions, session->session_id);
}

static void
link_closed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  guint left = GPOINTER_TO_UINT (g_task_get_task_data (task)) - 1;

  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
  g_task_set_task_data (task, GUINT_TO_POINTER (left), NULL);
  if (left == 0 && !g_task_get_completed (task))
    g_task_return_boolean (task, TRUE);
}

static gboolean
on_shutdown_deadline (gpointer user_data)
{
  GTask *task = user_data;

  if (!g_task_get_completed (task))
    g_task_return_boolean (task, TRUE);
  return G_SOURCE_REMOVE;
}

/* Closes every link gracefully (channels first, so hosts see it at once)
 * and completes when they are closed, or after 1 s. */
void
beach_fast_path_shutdown_async (BeachFastPath *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr (GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    SessionLinks *sl = value;

    while (sl->links->len > 0) {
      BeachFastPathLink *link = sl->links->pdata[0];

      g_signal_handlers_disconnect_by_data (link, sl);
      g_object_set_data (G_OBJECT (link), "beach-links", NULL);
      if (sl->primary == link)
        g_clear_object (&sl->primary);
      g_ptr_array_add (links, g_object_ref (link));
      g_ptr_array_remove_index (sl->links, 0);
    }
  }
  if (links->len == 0) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  g_task_set_task_data (task, GUINT_TO_POINTER (links->len), NULL);
  g_timeout_add_full (G_PRIORITY_DEFAULT, 1000, on_shutdown_deadline, g_object_ref (task), g_object_unref);
  for (guint i = 0; i < links->len; i++)
    beach_fast_path_link_close_async (links->pdata[i], NULL, link_closed_cb, g_object_ref (task));
}

gboolean
beach_fast_path_shutdown_finish (BeachFastPath *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
beach_fast_path_shutdown (BeachFastPath *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    SessionLinks *sl = value;

    while (sl->links->len > 0)
      close_link (sl, sl->links->pdata[0]);
  }
}

/* -- object */

static void
beach_fast_path_dispose (GObject *object)
{
  BeachFastPath *self = BEACH_FAST_PATH (object);

  if (self->sessions != NULL)
    beach_fast_path_shutdown (self);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_object (&self->registry);
  g_clear_object (&self->queue);
  g_clear_object (&self->metrics);
  g_clear_object (&self->events);
  G_OBJECT_CLASS (beach_fast_path_parent_class)->dispose (object);
}

static void
beach_fast_path_class_init (BeachFastPathClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = beach_fast_path_dispose;

  /* (session_id, reason): in-flight actions of a link reached the queue. */
  signals[SIGNAL_DEMOTED] = g_signal_new ("demoted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
  /* (session_id, reason): the primary link changed or lost its health. */
  signals[SIGNAL_LINK_CHANGED] = g_signal_new ("link-changed", G_TYPE_FROM_CLASS (klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                               2, G_TYPE_STRING, G_TYPE_INT);
}

static void
beach_fast_path_init (BeachFastPath *self)
{
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) links_free);
}

static void
on_session_removed (BeachSessionRegistry *registry, BeachSession *session, BeachFastPath *self)
{
  beach_fast_path_close_session (self, session, BEACH_TRANSPORT_REASON_SESSION_DELETED);
}

BeachFastPath *
beach_fast_path_new (const BeachConfig *config, BeachSessionRegistry *registry, BeachFallbackQueue *queue, BeachMetrics *metrics, BeachEventHub *events)
{
  BeachFastPath *self = g_object_new (BEACH_TYPE_FAST_PATH, NULL);

  self->config = config;
  self->registry = g_object_ref (registry);
  self->queue = g_object_ref (queue);
  self->metrics = g_object_ref (metrics);
  self->events = g_object_ref (events);
  /* However a session goes (deleted here, expired, deleted by another
   * manager), its links go with it. */
  g_signal_connect_object (registry, "session-removed", G_CALLBACK (on_session_removed), self, 0);
  return self;
}
