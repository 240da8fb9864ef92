/* beach-harness-link.c: the harness keeps its fast path up
 *
 * The harness offers, the manager answers (WIRE.md "Fast-path signalling").
 * There is a primary link and at most one candidate. A candidate is opened
 * when the handshake id or the hints change, or when the primary stays
 * unhealthy; it replaces the primary only once it is healthy
 * (make-before-break). A link that fails is dropped and a new one is
 * offered after a backoff with jitter.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-harness-link"

#include "config.h"

#include "beach-error.h"
#include "beach-harness-private.h"
#include "beach-json-private.h"

#define RECONNECT_MIN_MS  100
#define RECONNECT_MAX_MS  5000
#define WATCH_INTERVAL_MS 250

/* What the harness knows of one of its links. */
typedef struct {
  gchar *link_id;             /* from the answer */
  gchar *handshake_id;        /* offered under */
  gchar *url;                 /* the manager it is signalled through */
  BeachTransportHints *hints; /* offered with */
  GPtrArray *early;           /* candidates gathered before the answer */
  gint64 opened_us;
  gint64 unhealthy_since_us; /* 0: not unhealthy */
  gboolean answered;
  gboolean was_healthy;
} LinkInfo;

static void
link_info_free (LinkInfo *info)
{
  g_free (info->link_id);
  g_free (info->handshake_id);
  g_free (info->url);
  g_clear_object (&info->hints);
  g_ptr_array_unref (info->early);
  g_free (info);
}

static LinkInfo *
info_of (BeachFastPathLink *link)
{
  return g_object_get_data (G_OBJECT (link), "beach-harness-link");
}

static void open_link (BeachHarness *self);
static void update_health (BeachHarness *self);

/* -- dropping links */

static void
on_retired (GObject *source, GAsyncResult *result, gpointer user_data)
{
  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
}

/* Forgets the link (no more signals reach the harness) and closes it
 * gracefully in the background. */
static void
retire (BeachHarness *self, BeachFastPathLink *link)
{
  g_signal_handlers_disconnect_by_data (link, self);
  if (self->primary == link)
    self->primary = NULL;
  if (self->candidate == link)
    self->candidate = NULL;
  beach_fast_path_link_close_async (link, NULL, on_retired, NULL);
  g_object_unref (link);
}

static gboolean
on_reconnect (gpointer user_data)
{
  BeachHarness *self = user_data;

  self->reconnect_id = 0;
  if (self->candidate != NULL)
    return G_SOURCE_REMOVE;
  if (self->primary == NULL || !_beach_harness_link_is_healthy (self) || g_strcmp0 (info_of (self->primary)->handshake_id, self->handshake_id) != 0)
    open_link (self);
  update_health (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (BeachHarness *self)
{
  gint64 delay;
  GSource *source;

  if (self->reconnect_id != 0 || self->stopping || self->terminated)
    return;
  delay = _beach_harness_jitter_ms (self, self->link_failures, RECONNECT_MIN_MS, RECONNECT_MAX_MS);
  g_debug ("session %s: next offer in %" G_GINT64_FORMAT " ms", self->session_id, delay);
  source = g_timeout_source_new ((guint) delay);
  g_source_set_callback (source, on_reconnect, self, NULL);
  g_source_set_static_name (source, "[beach] harness reconnect");
  self->reconnect_id = g_source_attach (source, self->context);
  g_source_unref (source);
}

/* A link failed: drop it and offer again after a backoff. */
static void
link_failed (BeachHarness *self, BeachFastPathLink *link, const gchar *reason)
{
  gboolean was_primary = link == self->primary;

  g_debug ("session %s: fast-path link %s %s: %s", self->session_id,
           info_of (link)->link_id != NULL ? info_of (link)->link_id : "(unanswered)",
           was_primary ? "dropped" : "candidate dropped", reason);
  _beach_harness_set_last_error (self, reason);
  self->link_failures++;
  retire (self, link);
  update_health (self);
  schedule_reconnect (self);
}

/* -- health */

static BeachLinkHealth
current_health (BeachHarness *self)
{
  if (self->hints == NULL || !beach_transport_hints_has_fast_path (self->hints))
    return BEACH_LINK_HEALTH_DISABLED;
  if (self->primary != NULL)
    return beach_fast_path_link_get_health (self->primary);
  if (self->candidate != NULL || self->reconnect_id != 0)
    return BEACH_LINK_HEALTH_CONNECTING;
  return BEACH_LINK_HEALTH_CLOSED;
}

static void
update_health (BeachHarness *self)
{
  BeachLinkHealth health = self->stopping || self->terminated ? BEACH_LINK_HEALTH_CLOSED : current_health (self);

  if (health == self->link_health)
    return;
  g_debug ("session %s: fast path %s -> %s", self->session_id, beach_link_health_to_string (self->link_health),
           beach_link_health_to_string (health));
  self->link_health = health;
  beach_poll_gate_set_link_healthy (self->gate, health == BEACH_LINK_HEALTH_HEALTHY, g_get_monotonic_time ());
  g_object_notify (G_OBJECT (self), "link-health");
  _beach_harness_poller_kick (self);
  if (health == BEACH_LINK_HEALTH_HEALTHY)
    _beach_harness_acks_flush (self);
}

static void
promote (BeachHarness *self, BeachFastPathLink *link)
{
  BeachFastPathLink *old = self->primary;

  self->candidate = NULL;
  self->primary = link;
  if (old != NULL) {
    g_debug ("session %s: link %s replaces %s", self->session_id, info_of (link)->link_id,
             info_of (old)->link_id != NULL ? info_of (old)->link_id : "(unanswered)");
    retire (self, old);
  }
}

static void
on_link_health (BeachFastPathLink *link, GParamSpec *pspec, BeachHarness *self)
{
  LinkInfo *info = info_of (link);
  BeachLinkHealth health = beach_fast_path_link_get_health (link);

  if (health == BEACH_LINK_HEALTH_HEALTHY) {
    info->unhealthy_since_us = 0;
    if (!info->was_healthy) {
      info->was_healthy = TRUE;
      self->links_opened++;
      self->link_failures = 0;
      g_object_notify (G_OBJECT (self), "links-opened");
    }
    if (link == self->candidate)
      promote (self, link);
  } else if (health == BEACH_LINK_HEALTH_UNHEALTHY) {
    if (info->unhealthy_since_us == 0)
      info->unhealthy_since_us = g_get_monotonic_time ();
  } else if (health == BEACH_LINK_HEALTH_CLOSED) {
    link_failed (self, link, info->was_healthy ? "the link closed" : "the link closed before it was healthy");
    return;
  }
  update_health (self);
}

/* Deadlines that no link signal reports: a link not healthy in time, a
 * primary unhealthy for too long (a candidate is offered; the primary stays
 * until the candidate is healthy). */
static gboolean
on_watch (gpointer user_data)
{
  BeachHarness *self = user_data;
  gint64 now = g_get_monotonic_time ();
  BeachFastPathLink *links[2] = { self->candidate, self->primary };

  for (guint i = 0; i < G_N_ELEMENTS (links); i++) {
    BeachFastPathLink *link = links[i];
    LinkInfo *info;

    if (link == NULL)
      continue;
    info = info_of (link);
    if (!info->was_healthy && now - info->opened_us > (gint64) self->connect_timeout_ms * 1000) {
      g_autofree gchar *reason = g_strdup_printf ("not healthy %u ms after the offer", self->connect_timeout_ms);

      link_failed (self, link, reason);
      continue;
    }
    if (link == self->primary && self->candidate == NULL && self->reconnect_id == 0 && info->unhealthy_since_us != 0 && now - info->unhealthy_since_us > (gint64) self->unhealthy_timeout_ms * 1000) {
      g_debug ("session %s: link %s unhealthy for %u ms: offering a new one", self->session_id, info->link_id,
               self->unhealthy_timeout_ms);
      _beach_harness_set_last_error (self, "heartbeat timeout");
      info->unhealthy_since_us = now; /* one candidate per period */
      open_link (self);
    }
  }
  return G_SOURCE_CONTINUE;
}

/* -- frames */

static void
on_ping (BeachHarness *self, JsonNode *payload)
{
  JsonObject *obj = JSON_NODE_HOLDS_OBJECT (payload) ? json_node_get_object (payload) : NULL;
  const gchar *t = NULL, *handshake_id = NULL;
  gint64 pending = 0;
  BeachTransport transport;
  g_autoptr (GError) error = NULL;

  /* A ping without a status (a link that is not the primary yet) is only
   * proof of life. */
  if (obj != NULL && beach_json_get_string (obj, "ping.transport", "transport", FALSE, 32, &t, NULL) && t == NULL)
    return;
  if (obj == NULL || !beach_json_get_string (obj, "ping.transport", "transport", TRUE, 32, &t, &error) || !beach_transport_from_string (t, &transport, &error) || !beach_json_get_int (obj, "ping.pending", "pending", TRUE, 0, G_MAXUINT32, &pending, NULL, &error) || !beach_json_get_string (obj, "ping.handshake_id", "handshake_id", FALSE, 128, &handshake_id, &error)) {
    _beach_harness_warn (self, "bad-ping", "a ping the harness cannot read: %s",
                         error != NULL ? error->message : "not an object");
    return;
  }
  /* A ping says `fast_path` only while the manager would use the link. */
  _beach_harness_set_status (self, transport, transport == BEACH_TRANSPORT_FAST_PATH, (guint) pending, handshake_id);
}

static void
on_frame (BeachFastPathLink *link, BeachFastPathChannel channel, const gchar *type, JsonNode *payload, BeachHarness *self)
{
  if (g_str_equal (type, "action")) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachAction) action = beach_action_new_from_json (payload, &error);

    if (action == NULL) {
      _beach_harness_warn (self, "bad-action", "an action frame the harness cannot read: %s", error->message);
      return;
    }
    _beach_harness_receive_action (self, action);
  } else if (g_str_equal (type, "ping")) {
    on_ping (self, payload);
  }
}

/* -- signalling */

static void
post_candidate (BeachHarness *self, LinkInfo *info, const gchar *candidate, guint mline);

static void
on_ice_reply (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  if (reply == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    _beach_harness_warn (self, "ice", "%s", error->message);
}

static void
post_candidate (BeachHarness *self, LinkInfo *info, const gchar *candidate, guint mline)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) body = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "candidate");
  json_builder_add_string_value (b, candidate);
  json_builder_set_member_name (b, "sdp_mline_index");
  json_builder_add_int_value (b, mline);
  json_builder_set_member_name (b, "link_id");
  json_builder_add_string_value (b, info->link_id);
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  _beach_harness_http_request_to (self, info->url, "POST", beach_transport_hints_get_ice_path (info->hints),
                                  self->session_token, body, NULL, on_ice_reply, NULL, NULL);
}

static void
on_local_candidate (BeachFastPathLink *link, const gchar *candidate, guint mline, BeachHarness *self)
{
  LinkInfo *info = info_of (link);

  if (candidate == NULL || *candidate == '\0')
    return;
  if (!info->answered) {
    g_ptr_array_add (info->early, g_strdup_printf ("%u %s", mline, candidate));
    return;
  }
  post_candidate (self, info, candidate, mline);
}

static void
on_answer (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  BeachFastPathLink *link = user_data;
  g_autoptr (GError) local_error = NULL;
  LinkInfo *info = info_of (link);
  JsonObject *obj;
  const gchar *sdp = NULL, *link_id = NULL;

  if (link != self->primary && link != self->candidate)
    return; /* dropped meanwhile */
  if (reply == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      return;
    if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_NOT_FOUND)) {
      _beach_harness_terminate (self, error);
      return;
    }
    link_failed (self, link, error->message);
    return;
  }
  obj = JSON_NODE_HOLDS_OBJECT (reply) ? json_node_get_object (reply) : NULL;
  if (obj == NULL || !beach_json_get_string (obj, "sdp", "sdp", TRUE, 256 * 1024, &sdp, &local_error) || !beach_json_get_string (obj, "link_id", "link_id", TRUE, 128, &link_id, &local_error) || !beach_fast_path_link_set_remote_answer (link, sdp, &local_error)) {
    g_autofree gchar *reason = g_strdup_printf ("the answer: %s",
                                                local_error != NULL ? local_error->message : "not an object");

    link_failed (self, link, reason);
    return;
  }
  info->link_id = g_strdup (link_id);
  info->answered = TRUE;
  beach_fast_path_link_set_link_id (link, link_id);
  g_debug ("session %s: link %s answered", self->session_id, link_id);
  for (guint i = 0; i < info->early->len; i++) {
    const gchar *entry = info->early->pdata[i];
    const gchar *space = strchr (entry, ' ');

    post_candidate (self, info, space + 1, (guint) g_ascii_strtoull (entry, NULL, 10));
  }
  g_ptr_array_set_size (info->early, 0);
}

static void
on_offer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BeachFastPathLink *link = BEACH_FAST_PATH_LINK (source);
  g_autoptr (BeachHarness) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sdp = beach_fast_path_link_create_offer_finish (link, result, &error);
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) body = NULL;
  LinkInfo *info = info_of (link);

  if (link != self->primary && link != self->candidate)
    return;
  if (sdp == NULL) {
    link_failed (self, link, error->message);
    return;
  }
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "sdp");
  json_builder_add_string_value (b, sdp);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "offer");
  if (info->handshake_id != NULL) {
    json_builder_set_member_name (b, "handshake_id");
    json_builder_add_string_value (b, info->handshake_id);
  }
  json_builder_end_object (b);
  body = json_builder_get_root (b);
  _beach_harness_http_request_to (self, info->url, "POST", beach_transport_hints_get_offer_path (info->hints),
                                  self->session_token, body, NULL, on_answer, g_object_ref (link), g_object_unref);
}

/* Offers a new link: the primary when there is none, else the candidate. */
static void
open_link (BeachHarness *self)
{
  BeachFastPathLink *link;
  LinkInfo *info;

  if (self->stopping || self->terminated || self->hints == NULL || !beach_transport_hints_has_fast_path (self->hints))
    return;
  if (self->candidate != NULL)
    retire (self, self->candidate);
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  link = g_object_new (BEACH_TYPE_FAST_PATH_LINK, "role", BEACH_FAST_PATH_ROLE_OFFERER, "actions-label",
                       beach_transport_hints_get_actions_channel (self->hints), "acks-label",
                       beach_transport_hints_get_acks_channel (self->hints), "state-label",
                       beach_transport_hints_get_state_channel (self->hints), "ice-servers",
                       beach_transport_hints_get_ice_servers (self->hints), NULL);
  if (self->local_addresses != NULL)
    g_object_set (link, "local-addresses", self->local_addresses, NULL);
  info = g_new0 (LinkInfo, 1);
  info->handshake_id = g_strdup (self->handshake_id);
  /* The manager that answers the offer holds the link: its candidates go
   * there too, whatever a failover does meanwhile. */
  info->url = g_strdup (self->url);
  info->hints = g_object_ref (self->hints);
  info->early = g_ptr_array_new_with_free_func (g_free);
  info->opened_us = g_get_monotonic_time ();
  g_object_set_data_full (G_OBJECT (link), "beach-harness-link", info, (GDestroyNotify) link_info_free);
  g_signal_connect (link, "notify::health", G_CALLBACK (on_link_health), self);
  g_signal_connect (link, "frame-received", G_CALLBACK (on_frame), self);
  g_signal_connect (link, "local-candidate", G_CALLBACK (on_local_candidate), self);
  if (self->primary == NULL)
    self->primary = link;
  else
    self->candidate = link;
  self->link_attempts++;
  g_object_notify (G_OBJECT (self), "link-attempts");
  g_debug ("session %s: offering a %s link to %s (attempt %u, handshake %s)", self->session_id,
           link == self->primary ? "primary" : "candidate", info->url, self->link_attempts, self->handshake_id);
  update_health (self);
  beach_fast_path_link_create_offer_async (link, self->cancellable, on_offer, g_object_ref (self));
}

/* -- what the rest of the harness calls */

void
_beach_harness_link_start (BeachHarness *self)
{
  if (self->link_watch_id == 0) {
    GSource *source = g_timeout_source_new (WATCH_INTERVAL_MS);

    g_source_set_callback (source, on_watch, self, NULL);
    g_source_set_static_name (source, "[beach] harness link watch");
    self->link_watch_id = g_source_attach (source, self->context);
    g_source_unref (source);
  }
  if (self->primary == NULL && self->candidate == NULL)
    open_link (self);
  update_health (self);
}

/* The manager's handshake id changed: a link offered under another id is
 * replaced, make-before-break. */
void
_beach_harness_link_check_handshake (BeachHarness *self)
{
  BeachFastPathLink *newest = self->candidate != NULL ? self->candidate : self->primary;

  if (self->hints == NULL || !beach_transport_hints_has_fast_path (self->hints) || self->stopping)
    return;
  if (newest != NULL && g_strcmp0 (info_of (newest)->handshake_id, self->handshake_id) == 0)
    return;
  if (newest == NULL && self->reconnect_id != 0)
    return; /* the next offer carries the new id */
  g_debug ("session %s: handshake id %s: offering a new link", self->session_id, self->handshake_id);
  open_link (self);
}

/* New hints from a re-registration: links follow them only on a change. */
void
_beach_harness_link_hints_changed (BeachHarness *self)
{
  if (!beach_transport_hints_has_fast_path (self->hints)) {
    g_debug ("session %s: the manager offers no fast path any more", self->session_id);
    g_clear_handle_id (&self->reconnect_id, g_source_remove);
    if (self->candidate != NULL)
      retire (self, self->candidate);
    if (self->primary != NULL)
      retire (self, self->primary);
    update_health (self);
    return;
  }
  g_debug ("session %s: new transport hints: offering a new link", self->session_id);
  if (self->link_watch_id == 0)
    _beach_harness_link_start (self);
  else
    open_link (self);
}

gboolean
_beach_harness_link_is_healthy (BeachHarness *self)
{
  return self->primary != NULL && beach_fast_path_link_get_health (self->primary) == BEACH_LINK_HEALTH_HEALTHY;
}

gboolean
_beach_harness_link_send (BeachHarness *self, BeachFastPathChannel channel, const gchar *type, JsonNode *payload)
{
  g_autoptr (GError) error = NULL;

  if (!_beach_harness_link_is_healthy (self))
    return FALSE;
  if (!beach_fast_path_link_send (self->primary, channel, type, payload, &error)) {
    _beach_harness_warn (self, "link-send", "%s on the link: %s (over HTTP instead)", type, error->message);
    return FALSE;
  }
  return TRUE;
}

static void
on_stop_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  guint left = GPOINTER_TO_UINT (g_task_get_task_data (task)) - 1;

  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
  g_task_set_task_data (task, GUINT_TO_POINTER (left), NULL);
  if (left == 0)
    g_task_return_boolean (task, TRUE);
}

/* Closes every link gracefully (channels first, so the manager sees it at
 * once); returns on task when all are closed. */
void
_beach_harness_link_stop (BeachHarness *self, GTask *task)
{
  BeachFastPathLink *links[2] = { self->candidate, self->primary };
  guint n = 0;

  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  g_clear_handle_id (&self->link_watch_id, g_source_remove);
  self->primary = self->candidate = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (links); i++)
    n += links[i] != NULL;
  update_health (self);
  if (n == 0) {
    if (task != NULL)
      g_task_return_boolean (task, TRUE);
    return;
  }
  if (task != NULL)
    g_task_set_task_data (task, GUINT_TO_POINTER (n), NULL);
  for (guint i = 0; i < G_N_ELEMENTS (links); i++) {
    if (links[i] == NULL)
      continue;
    g_signal_handlers_disconnect_by_data (links[i], self);
    if (task != NULL)
      beach_fast_path_link_close_async (links[i], NULL, on_stop_closed, g_object_ref (task));
    else
      beach_fast_path_link_close_async (links[i], NULL, on_retired, NULL);
    g_object_unref (links[i]);
  }
}

BeachFastPathLink *
_beach_harness_get_primary_link (BeachHarness *self)
{
  return self->primary;
}

/* The path a changed handshake id takes (_beach_harness_link_check_handshake),
 * without the id: a candidate offered beside a healthy primary, which
 * replaces it once healthy. FALSE when there is no healthy primary or a
 * candidate or reconnect is already under way. */
gboolean
_beach_harness_link_replace (BeachHarness *self)
{
  if (self->primary == NULL || self->candidate != NULL || self->reconnect_id != 0 || !_beach_harness_link_is_healthy (self))
    return FALSE;
  open_link (self);
  return self->candidate != NULL;
}
