/* beach-harness.c: the harness runtime (a host's side of a session)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-harness"

#include "config.h"

#include "beach-enum-types.h"
#include "beach-error.h"
#include "beach-frame-private.h"
#include "beach-harness-private.h"
#include "beach-ids.h"
#include "beach-json-private.h"
#include "beach-version.h"

/**
 * BeachHarness:
 *
 * The client runtime of a host: it attaches one session to a manager and
 * delivers the session's actions to the application.
 *
 * A harness holds a session token (or, to register the session itself, an
 * operator token), never a controller lease. beach_harness_start_async()
 * registers, reads the transport hints and starts offering the fast path
 * (a #BeachFastPathLink) at once. Actions arrive through
 * #BeachHarness::action-received, from the link when it is up and from HTTP
 * long-polls otherwise; the application applies each one and calls
 * beach_harness_ack(). An action id that was already applied (kept in a
 * window of #BeachHarness:window-size ids, optionally in a journal file) is
 * not emitted again but answered with its first ack.
 *
 * HTTP polling pauses only when the manager confirms the fast path and zero
 * pending actions, and resumes at once when the manager demotes the
 * session (#BeachPollGate). Acks, state and health go on the link when it
 * is healthy and over HTTP otherwise. A 404 on the harness's own session is
 * terminal: #BeachHarness::terminated is emitted and the harness stops.
 *
 * A harness may be given several managers sharing one Redis
 * (beach_harness_new_for_urls()): it moves to the next one, round-robin,
 * when the one in use fails at the transport or answers 502, 503 or 504,
 * never on a 4xx answer (#BeachHarness:urls).
 *
 * All signals and callbacks run on the thread-default main context of the
 * thread that created the harness.
 */

#define WARN_INTERVAL_US      (60 * G_USEC_PER_SEC)
#define HTTP_TIMEOUT_MARGIN_S 15

enum {
  PROP_0,
  PROP_URL,
  PROP_URLS,
  PROP_SESSION_ID,
  PROP_PRIVATE_BEACH_ID,
  PROP_TOKEN,
  PROP_HARNESS_TYPE,
  PROP_CAPABILITIES,
  PROP_VERSION,
  PROP_JOURNAL_PATH,
  PROP_WINDOW_SIZE,
  PROP_POLL_WAIT_MS,
  PROP_HEALTH_INTERVAL_MS,
  PROP_CONNECT_TIMEOUT_MS,
  PROP_UNHEALTHY_TIMEOUT_MS,
  PROP_LOCAL_ADDRESSES,
  PROP_SESSION_TOKEN,
  PROP_HARNESS_ID,
  PROP_HINTS,
  PROP_TRANSPORT,
  PROP_LINK_HEALTH,
  PROP_HANDSHAKE_ID,
  PROP_PENDING,
  PROP_POLLING,
  PROP_LINK_ATTEMPTS,
  PROP_LINKS_OPENED,
  PROP_POLLS,
  PROP_LAST_ERROR,
  N_PROPS
};

enum {
  SIGNAL_ACTION_RECEIVED,
  SIGNAL_TERMINATED,
  N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachHarness, beach_harness, G_TYPE_OBJECT)

typedef struct {
  BeachAction *action;
  gint64 received_us;
} InProgress;

static void
in_progress_free (InProgress *entry)
{
  g_object_unref (entry->action);
  g_free (entry);
}

/* -- small shared helpers */

/* One warning per key a minute; the rest go to debug. */
void
_beach_harness_warn (BeachHarness *self, const gchar *key, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  gint64 now = g_get_monotonic_time ();
  gpointer last;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (g_hash_table_lookup_extended (self->warned, key, NULL, &last) && now - GPOINTER_TO_SIZE (last) < WARN_INTERVAL_US) {
    g_debug ("session %s: %s", self->session_id, message);
    return;
  }
  g_hash_table_insert (self->warned, g_strdup (key), GSIZE_TO_POINTER ((gsize) now));
  g_warning ("session %s: %s", self->session_id, message);
}

void
_beach_harness_set_last_error (BeachHarness *self, const gchar *message)
{
  if (g_strcmp0 (self->last_error, message) == 0)
    return;
  g_free (self->last_error);
  self->last_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR]);
}

/* Exponential backoff with jitter: uniform in [base/2, base], base doubling
 * from min_ms per failure up to max_ms. */
gint64
_beach_harness_jitter_ms (BeachHarness *self, guint failures, guint min_ms, guint max_ms)
{
  gint64 base = min_ms;

  for (guint i = 1; i < failures && base < max_ms; i++)
    base *= 2;
  base = MIN (base, (gint64) max_ms);
  return base / 2 + g_rand_int_range (self->rand, 0, (gint32) (base - base / 2) + 1);
}

static void
set_string (BeachHarness *self, gchar **field, const gchar *value, GParamSpec *pspec)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), pspec);
}

/* -- managers */

/* A request to the manager in use (as of generation) failed at the
 * transport: the following requests go to the next manager, round-robin.
 * Requests that were in flight with it and fail too find the generation
 * moved on and change nothing. */
void
_beach_harness_failover (BeachHarness *self, guint generation, const gchar *reason)
{
  guint n = self->urls != NULL ? g_strv_length (self->urls) : 0;
  const gchar *from = self->url;

  /* While stopping too: the last acks may still find a manager. */
  if (n < 2 || generation != self->url_generation || self->terminated)
    return;
  self->url_index = (self->url_index + 1) % n;
  self->url = self->urls[self->url_index];
  self->url_generation++;
  _beach_harness_warn (self, "failover", "manager %s failed (%s): moving to %s", from, reason, self->url);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_URL]);
}

/* A manager's base URL without its trailing slashes, or NULL and why. */
static gchar *
normalize_url (const gchar *url, GError **error)
{
  g_autofree gchar *trimmed = g_strdup (url);
  g_autoptr (GUri) uri = NULL;
  const gchar *scheme;

  while (g_str_has_suffix (trimmed, "/"))
    trimmed[strlen (trimmed) - 1] = '\0';
  uri = g_uri_parse (trimmed, G_URI_FLAGS_NONE, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' || g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "Not a manager URL (http or https, a host, no query): “%s”", url);
    return NULL;
  }
  return g_steal_pointer (&trimmed);
}

/* The list of managers from the url and urls properties. A list that cannot
 * serve is kept as urls_error, which beach_harness_start_async() returns. */
static void
setup_urls (BeachHarness *self, gchar **urls)
{
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  gchar *single[] = { self->url_setting, NULL };

  if (self->url_setting != NULL && urls != NULL) {
    g_set_error (&error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "Set either “url” or “urls” on a harness, not both");
  } else if (self->url_setting != NULL) {
    urls = single;
  } else if (urls == NULL || urls[0] == NULL) {
    g_set_error (&error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "No manager URL: set “url” or “urls”");
  }
  for (guint i = 0; urls != NULL && urls[i] != NULL; i++) {
    gchar *url = error == NULL ? normalize_url (urls[i], &error) : NULL;

    g_ptr_array_add (list, url != NULL ? url : g_strdup (urls[i]));
  }
  g_ptr_array_add (list, NULL);
  self->urls = (gchar **) g_ptr_array_free (g_steal_pointer (&list), FALSE);
  self->url_index = 0;
  self->url = self->urls[0];
  self->urls_error = g_steal_pointer (&error);
}

/* -- status */

/* What the manager said last, from a poll, a pending answer or a ping. */
void
_beach_harness_set_status (BeachHarness *self,
                           BeachTransport transport,
                           gboolean fast_path_ready,
                           guint pending,
                           const gchar *handshake_id)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (transport != self->transport) {
    g_debug ("session %s: the manager says transport %s -> %s (pending %u)", self->session_id,
             beach_transport_to_string (self->transport), beach_transport_to_string (transport), pending);
    self->transport = transport;
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TRANSPORT]);
  }
  self->fast_path_ready = fast_path_ready;
  if (pending != self->pending) {
    self->pending = pending;
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_PENDING]);
  }
  beach_poll_gate_observe_status (self->gate, transport, fast_path_ready, pending, g_get_monotonic_time ());
  if (handshake_id != NULL && g_strcmp0 (handshake_id, self->handshake_id) != 0) {
    g_debug ("session %s: handshake id %s -> %s", self->session_id, self->handshake_id, handshake_id);
    set_string (self, &self->handshake_id, handshake_id, props[PROP_HANDSHAKE_ID]);
    _beach_harness_link_check_handshake (self);
  }
  g_object_thaw_notify (G_OBJECT (self));
  _beach_harness_poller_kick (self);
}

/* -- receiving and acking */

/* The link carries acks, state and health only while the manager says it
 * uses it too: a link that only works one way (the manager hears nothing)
 * still looks healthy from here, and the manager's status says otherwise. */
static gboolean
link_usable (BeachHarness *self)
{
  return _beach_harness_link_is_healthy (self) && self->fast_path_ready;
}

static void
send_ack (BeachHarness *self, BeachActionAck *ack)
{
  g_autoptr (JsonNode) payload = NULL;

  if (link_usable (self)) {
    payload = beach_action_ack_to_json (ack);
    if (_beach_harness_link_send (self, BEACH_FAST_PATH_CHANNEL_ACKS, "ack", payload))
      return;
  }
  _beach_harness_acks_push (self, ack);
}

void
_beach_harness_receive_action (BeachHarness *self, BeachAction *action)
{
  const gchar *id = beach_action_get_id (action);
  BeachActionAck *applied;
  InProgress *entry;

  if (self->terminated || self->stopping)
    return;
  applied = beach_applied_window_lookup (self->window, id);
  if (applied != NULL) {
    /* Delivered again (a demotion, a reclaim, a second link): answered with
     * the first ack, never applied twice. */
    g_debug ("session %s: action %s already applied: acked again", self->session_id, id);
    send_ack (self, applied);
    return;
  }
  if (g_hash_table_contains (self->in_progress, id))
    return; /* the application has it and will ack it */
  if (beach_action_is_expired (action, g_get_real_time () / 1000)) {
    g_autoptr (BeachActionAck) ack = beach_action_ack_new (id, BEACH_ACK_STATUS_EXPIRED, g_get_real_time () / 1000,
                                                           -1, NULL, NULL, NULL);

    g_debug ("session %s: action %s arrived expired", self->session_id, id);
    beach_applied_window_record (self->window, ack, NULL);
    send_ack (self, ack);
    return;
  }
  entry = g_new0 (InProgress, 1);
  entry->action = g_object_ref (action);
  entry->received_us = g_get_monotonic_time ();
  g_hash_table_insert (self->in_progress, g_strdup (id), entry);
  g_signal_emit (self, signals[SIGNAL_ACTION_RECEIVED], 0, action);
}

/**
 * beach_harness_ack:
 * @self: a #BeachHarness
 * @action: an action received through #BeachHarness::action-received
 * @status: how it ended
 * @error_code: (nullable): a machine-readable reason, for a refusal
 * @error_message: (nullable): a human-readable reason
 * @error: return location for a #GError
 *
 * Settles @action: records its id as applied (in the journal first, when
 * there is one), then sends the ack on the link when it is healthy and over
 * HTTP otherwise. Every status is final. Ack only what was applied with
 * %BEACH_ACK_STATUS_OK.
 *
 * Fails with %BEACH_ERROR_CONFLICT when @action is not awaiting its ack
 * (never received, or acked already), and %BEACH_ERROR_INVALID_FIELD when
 * @error_code or @error_message is not acceptable. A journal write error is
 * logged; the ack is sent anyway.
 *
 * Returns: %TRUE if the ack was recorded and is on its way
 */
gboolean
beach_harness_ack (BeachHarness *self,
                   BeachAction *action,
                   BeachAckStatus status,
                   const gchar *error_code,
                   const gchar *error_message,
                   GError **error)
{
  const gchar *id;
  InProgress *entry;
  g_autoptr (BeachActionAck) ack = NULL;
  g_autoptr (GError) journal_error = NULL;
  gint64 latency_ms;

  g_return_val_if_fail (BEACH_IS_HARNESS (self), FALSE);
  g_return_val_if_fail (BEACH_IS_ACTION (action), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  id = beach_action_get_id (action);
  entry = g_hash_table_lookup (self->in_progress, id);
  if (entry == NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_CONFLICT, "Action %s is not awaiting an ack", id);
    return FALSE;
  }
  latency_ms = (g_get_monotonic_time () - entry->received_us) / 1000;
  ack = beach_action_ack_new (id, status, g_get_real_time () / 1000, latency_ms, error_code, error_message, error);
  if (ack == NULL)
    return FALSE;
  if (!beach_applied_window_record (self->window, ack, &journal_error))
    _beach_harness_warn (self, "journal", "the journal did not take %s: %s", id, journal_error->message);
  g_hash_table_remove (self->in_progress, id);
  if (!self->terminated)
    send_ack (self, ack);
  return TRUE;
}

/* -- state and health */

static void
on_post_reply (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  if (reply != NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_NOT_FOUND)) {
    _beach_harness_terminate (self, error);
    return;
  }
  _beach_harness_warn (self, user_data, "%s", error->message);
}

static gboolean
check_running (BeachHarness *self, GError **error)
{
  if (self->terminated || self->stopping || self->session_token == NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "The harness is not running");
    return FALSE;
  }
  return TRUE;
}

/* On mgr-state when the link is healthy and the frame fits one frame (the
 * state channel is never chunked), else over HTTP. */
static void
publish (BeachHarness *self, const gchar *type, JsonNode *payload, const gchar *path)
{
  g_autofree gchar *text = NULL;

  if (link_usable (self)) {
    text = json_to_string (payload, FALSE);
    if (strlen (text) + 64 <= BEACH_FRAME_MAX_BYTES_DEFAULT && _beach_harness_link_send (self, BEACH_FAST_PATH_CHANNEL_STATE, type, payload))
      return;
  }
  _beach_harness_http_request (self, "POST", path, self->session_token, payload, NULL, on_post_reply, (gpointer) type,
                               NULL);
}

/**
 * beach_harness_publish_state:
 * @self: a #BeachHarness
 * @diff: the state to publish
 * @error: return location for a #GError
 *
 * Publishes @diff: on the link's state channel when the link is healthy
 * and it fits one frame, otherwise with an HTTP POST. Delivery is
 * best-effort (a later state supersedes it); failures are logged.
 *
 * Returns: %FALSE only when the harness is not running
 */
gboolean
beach_harness_publish_state (BeachHarness *self, BeachStateDiff *diff, GError **error)
{
  g_autoptr (JsonNode) payload = NULL;

  g_return_val_if_fail (BEACH_IS_HARNESS (self), FALSE);
  g_return_val_if_fail (BEACH_IS_STATE_DIFF (diff), FALSE);

  if (!check_running (self, error))
    return FALSE;
  payload = beach_state_diff_to_json (diff);
  publish (self, "state", payload, beach_transport_hints_get_state_post_path (self->hints));
  return TRUE;
}

static void
fill_fast_path (BeachHarness *self, BeachHealth *health)
{
  beach_health_set_fast_path (health, self->link_health, self->link_attempts,
                              self->link_health == BEACH_LINK_HEALTH_HEALTHY ? NULL : self->last_error);
}

/**
 * beach_harness_publish_health:
 * @self: a #BeachHarness
 * @health: a heartbeat
 * @error: return location for a #GError
 *
 * Publishes @health like beach_harness_publish_state(). Its `fast_path`
 * member is set to the harness's own view of its link (state, attempts,
 * last error) first. The harness also sends a heartbeat of its own every
 * #BeachHarness:health-interval-ms.
 *
 * Returns: %FALSE only when the harness is not running
 */
gboolean
beach_harness_publish_health (BeachHarness *self, BeachHealth *health, GError **error)
{
  g_autoptr (JsonNode) payload = NULL;

  g_return_val_if_fail (BEACH_IS_HARNESS (self), FALSE);
  g_return_val_if_fail (BEACH_IS_HEALTH (health), FALSE);

  if (!check_running (self, error))
    return FALSE;
  fill_fast_path (self, health);
  payload = beach_health_to_json (health);
  publish (self, "health", payload, beach_transport_hints_get_health_post_path (self->hints));
  return TRUE;
}

static gboolean
on_health_timer (gpointer user_data)
{
  BeachHarness *self = user_data;
  gboolean fast_path = beach_transport_hints_has_fast_path (self->hints);
  g_autoptr (BeachHealth) health = beach_health_new (self->pending,
                                                     fast_path && self->link_health != BEACH_LINK_HEALTH_HEALTHY);

  beach_harness_publish_health (self, health, NULL);
  return G_SOURCE_CONTINUE;
}

/* -- lifetime */

/* Stops everything without a word to the manager: the session is gone. */
void
_beach_harness_terminate (BeachHarness *self, const GError *error)
{
  if (self->terminated)
    return;
  g_warning ("session %s: stopping: %s", self->session_id, error->message);
  self->terminated = TRUE;
  _beach_harness_poller_stop (self);
  g_clear_handle_id (&self->ack_timer_id, g_source_remove);
  g_clear_handle_id (&self->health_timer_id, g_source_remove);
  _beach_harness_link_stop (self, NULL);
  g_cancellable_cancel (self->cancellable);
  g_signal_emit (self, signals[SIGNAL_TERMINATED], 0, error);
}

static gboolean
parse_registration (BeachHarness *self, JsonNode *reply, GError **error)
{
  JsonObject *obj = beach_json_require_object (reply, "registration", error);
  JsonObject *hints_obj = NULL;
  const gchar *token = NULL, *harness_id = NULL, *handshake_id = NULL;
  g_autoptr (JsonNode) hints_node = NULL;
  g_autoptr (BeachTransportHints) hints = NULL;

  if (obj == NULL || !beach_json_get_string (obj, "session_token", "session_token", TRUE, 1024, &token, error) || !beach_json_get_string (obj, "harness_id", "harness_id", TRUE, 128, &harness_id, error) || !beach_json_get_string (obj, "handshake_id", "handshake_id", TRUE, 128, &handshake_id, error) || !beach_json_get_object (obj, "transport_hints", "transport_hints", TRUE, &hints_obj, error))
    return FALSE;
  hints_node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (hints_node, hints_obj);
  hints = beach_transport_hints_new_from_json (hints_node, error);
  if (hints == NULL)
    return FALSE;

  g_object_freeze_notify (G_OBJECT (self));
  set_string (self, &self->session_token, token, props[PROP_SESSION_TOKEN]);
  set_string (self, &self->harness_id, harness_id, props[PROP_HARNESS_ID]);
  if (self->hints == NULL || !beach_transport_hints_equal (self->hints, hints)) {
    gboolean had = self->hints != NULL;

    g_set_object (&self->hints, hints);
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_HINTS]);
    if (had)
      _beach_harness_link_hints_changed (self);
  }
  if (g_strcmp0 (self->handshake_id, handshake_id) != 0) {
    gboolean had = self->handshake_id != NULL;

    set_string (self, &self->handshake_id, handshake_id, props[PROP_HANDSHAKE_ID]);
    if (had)
      _beach_harness_link_check_handshake (self);
  }
  g_object_thaw_notify (G_OBJECT (self));
  return TRUE;
}

static JsonNode *
registration_body (BeachHarness *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, self->session_id);
  json_builder_set_member_name (b, "private_beach_id");
  json_builder_add_string_value (b, self->private_beach_id);
  json_builder_set_member_name (b, "harness_type");
  json_builder_add_string_value (b, beach_harness_type_to_string (self->harness_type));
  json_builder_set_member_name (b, "capabilities");
  json_builder_begin_array (b);
  for (guint i = 0; self->capabilities != NULL && self->capabilities[i] != NULL; i++)
    json_builder_add_string_value (b, self->capabilities[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, self->version);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* One (re-)registration: how many managers it tried, and the URL
 * generation its last request went out under. */
typedef struct {
  guint tried;
  guint generation;
} RegisterAttempt;

static void do_register (BeachHarness *self, GTask *task);

static void
on_registered (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  GTask *task = user_data;
  RegisterAttempt *attempt = g_task_get_task_data (task);
  g_autoptr (GError) local_error = NULL;
  gboolean first = !self->started;

  if (reply == NULL) {
    /* The manager failed at the transport and the harness moved on: a
     * registration tries each manager once before it fails. */
    if (g_task_return_error_if_cancelled (task))
      return;
    if (_beach_harness_error_moves_on (error) && attempt->generation != self->url_generation && attempt->tried < g_strv_length (self->urls)) {
      do_register (self, g_object_ref (task));
      return;
    }
    g_task_return_error (task, g_error_copy (error));
    return;
  }
  if (!parse_registration (self, reply, &local_error)) {
    g_prefix_error (&local_error, "register: ");
    g_task_return_error (task, g_steal_pointer (&local_error));
    return;
  }
  if (first && !self->stopping && !self->terminated) {
    self->started = TRUE;
    g_debug ("session %s: registered with %s (harness %s, fast path %s)", self->session_id, self->url,
             self->harness_id, beach_transport_hints_has_fast_path (self->hints) ? "offered" : "off");
    _beach_harness_link_start (self);
    _beach_harness_poller_start (self);
    if (self->health_interval_ms > 0) {
      GSource *source = g_timeout_source_new (self->health_interval_ms);

      g_source_set_callback (source, on_health_timer, self, NULL);
      g_source_set_static_name (source, "[beach] harness health");
      self->health_timer_id = g_source_attach (source, self->context);
      g_source_unref (source);
    }
  }
  g_task_return_boolean (task, TRUE);
}

static void
do_register (BeachHarness *self, GTask *task)
{
  g_autoptr (JsonNode) body = registration_body (self);
  const gchar *bearer = self->session_token != NULL ? self->session_token : self->token;
  RegisterAttempt *attempt = g_task_get_task_data (task);

  if (attempt == NULL) {
    attempt = g_new0 (RegisterAttempt, 1);
    g_task_set_task_data (task, attempt, g_free);
  }
  attempt->tried++;
  attempt->generation = self->url_generation;

  _beach_harness_http_request (self, "POST", "/sessions/register", bearer, body, g_task_get_cancellable (task),
                               on_registered, task,
                               g_object_unref);
}

/**
 * beach_harness_start_async:
 * @self: a #BeachHarness
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the session is registered
 * @user_data: data for @callback
 *
 * Opens the journal (when #BeachHarness:journal-path is set), registers the
 * session (with an operator token) or re-registers it (with its own session
 * token) to read the transport hints, then starts the poller and, when the
 * hints offer one, the fast path. The link connects in the background:
 * watch #BeachHarness:link-health.
 *
 * With several managers (#BeachHarness:urls), a manager that cannot be
 * reached is skipped: each one is tried once, in order, before the start
 * fails. It fails with %BEACH_ERROR_INVALID_FIELD, naming the URL, when a
 * manager URL is not an http or https URL, or when there is none.
 */
void
beach_harness_start_async (BeachHarness *self,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (BEACH_IS_HARNESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_harness_start_async);
  if (self->started || self->stopping || self->terminated) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_CONFLICT, "The harness was started already");
    return;
  }
  if (self->urls_error != NULL) {
    g_task_return_error (task, g_error_copy (self->urls_error));
    return;
  }
  if (!beach_session_id_is_valid (self->session_id) || !beach_session_id_is_valid (self->private_beach_id)) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                             "Invalid session id or private beach id: “%s”, “%s”", self->session_id,
                             self->private_beach_id);
    return;
  }
  if (self->journal_path != NULL && beach_applied_window_get_journal_path (self->window) == NULL && !beach_applied_window_open_journal (self->window, self->journal_path, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  do_register (self, g_steal_pointer (&task));
}

/**
 * beach_harness_start_finish:
 * @self: a #BeachHarness
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE once the session is registered and the harness runs
 */
gboolean
beach_harness_start_finish (BeachHarness *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * beach_harness_refresh_async:
 * @self: a running #BeachHarness
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Re-registers the session with its own token to refresh the transport
 * hints. Leases, queue, link and handshake id stay on the manager's side;
 * the harness offers a new link (make-before-break) only when the hints
 * or the handshake id changed.
 */
void
beach_harness_refresh_async (BeachHarness *self,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (BEACH_IS_HARNESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_harness_refresh_async);
  if (!self->started || self->stopping || self->terminated) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "The harness is not running");
    return;
  }
  do_register (self, g_steal_pointer (&task));
}

/**
 * beach_harness_refresh_finish:
 * @self: a #BeachHarness
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the session was re-registered
 */
gboolean
beach_harness_refresh_finish (BeachHarness *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_links_stopped (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachHarness *self = g_task_get_source_object (task);

  g_cancellable_cancel (self->cancellable);
  g_debug ("session %s: stopped", self->session_id);
  g_task_return_boolean (task, TRUE);
}

static gboolean
on_acks_drained (gpointer user_data)
{
  GTask *task = user_data;
  BeachHarness *self = g_task_get_source_object (task);
  g_autoptr (GTask) links_task = NULL;

  if ((self->ack_in_flight || self->ack_queue->len > 0) && g_get_monotonic_time () < (gint64) GPOINTER_TO_SIZE (g_task_get_task_data (task)) && !self->terminated)
    return G_SOURCE_CONTINUE;
  if (self->ack_queue->len > 0)
    g_warning ("session %s: %u acks not delivered at stop; the manager will deliver those actions again",
               self->session_id, self->ack_queue->len);
  g_clear_handle_id (&self->ack_timer_id, g_source_remove);
  links_task = g_task_new (self, NULL, on_links_stopped, g_object_ref (task));
  _beach_harness_link_stop (self, links_task);
  return G_SOURCE_REMOVE;
}

/**
 * beach_harness_stop_async:
 * @self: a #BeachHarness
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when stopped
 * @user_data: data for @callback
 *
 * Stops the harness gracefully: polling stops, acks still waiting to go
 * over HTTP get up to 2 s, and the links close channels first, so the
 * manager demotes the session at once instead of after a heartbeat
 * timeout.
 */
void
beach_harness_stop_async (BeachHarness *self,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
  GTask *task;
  GSource *source;

  g_return_if_fail (BEACH_IS_HARNESS (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_harness_stop_async);
  g_task_set_task_data (task, GSIZE_TO_POINTER ((gsize) (g_get_monotonic_time () + 2 * G_USEC_PER_SEC)), NULL);
  /* No poll, check or heartbeat from here on; acks still go out. */
  self->stopping = TRUE;
  g_clear_handle_id (&self->health_timer_id, g_source_remove);
  _beach_harness_poller_stop (self);
  source = g_timeout_source_new (20);
  g_source_set_callback (source, on_acks_drained, task, g_object_unref);
  g_source_set_static_name (source, "[beach] harness stop");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

/**
 * beach_harness_stop_finish:
 * @self: a #BeachHarness
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE when stopped
 */
gboolean
beach_harness_stop_finish (BeachHarness *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * beach_harness_new:
 * @url: the manager's base URL, such as `http://127.0.0.1:8080`
 * @session_id: the session this harness serves
 * @private_beach_id: the session's private beach
 * @token: an operator token (the harness registers the session) or the
 *   session's own token (it re-registers for the hints)
 *
 * One manager: a list of one (#BeachHarness:urls).
 *
 * Returns: (transfer full): a new harness; start it with
 *   beach_harness_start_async()
 */
BeachHarness *
beach_harness_new (const gchar *url, const gchar *session_id, const gchar *private_beach_id, const gchar *token)
{
  g_return_val_if_fail (url != NULL, NULL);
  g_return_val_if_fail (session_id != NULL, NULL);
  g_return_val_if_fail (private_beach_id != NULL, NULL);
  g_return_val_if_fail (token != NULL, NULL);

  return g_object_new (BEACH_TYPE_HARNESS, "url", url, "session-id", session_id, "private-beach-id",
                       private_beach_id, "token", token, NULL);
}

/**
 * beach_harness_new_for_urls:
 * @urls: (array zero-terminated=1): the managers' base URLs, tried in order,
 *   such as `http://10.0.0.1:8080`
 * @session_id: the session this harness serves
 * @private_beach_id: the session's private beach
 * @token: an operator token (the harness registers the session) or the
 *   session's own token (it re-registers for the hints)
 *
 * Like beach_harness_new(), with a list of managers that share one Redis
 * (#BeachHarness:urls): the harness uses the first, and moves to the next
 * one when a request fails at the transport.
 *
 * Returns: (transfer full): a new harness; start it with
 *   beach_harness_start_async()
 *
 * Since: 0.2
 */
BeachHarness *
beach_harness_new_for_urls (const gchar *const *urls,
                            const gchar *session_id,
                            const gchar *private_beach_id,
                            const gchar *token)
{
  g_return_val_if_fail (urls != NULL, NULL);
  g_return_val_if_fail (session_id != NULL, NULL);
  g_return_val_if_fail (private_beach_id != NULL, NULL);
  g_return_val_if_fail (token != NULL, NULL);

  return g_object_new (BEACH_TYPE_HARNESS, "urls", urls, "session-id", session_id, "private-beach-id",
                       private_beach_id, "token", token, NULL);
}

/* -- getters */

#define GETTER(type, name, field, def)                   \
  type beach_harness_get_##name (BeachHarness *self)     \
  {                                                      \
    g_return_val_if_fail (BEACH_IS_HARNESS (self), def); \
    return self->field;                                  \
  }

/**
 * beach_harness_get_url:
 * @self: a #BeachHarness
 *
 * The manager requests go to now: the first of #BeachHarness:urls until a
 * failover moves the harness on (#BeachHarness:url is notified then).
 *
 * Returns: (nullable): the base URL of the manager in use, without a
 *   trailing slash; %NULL when no URL was given
 */
GETTER (const gchar *, url, url, NULL)

/**
 * beach_harness_get_urls:
 * @self: a #BeachHarness
 *
 * Returns: (transfer none) (array zero-terminated=1): every manager's base
 *   URL, in failover order, without trailing slashes
 *
 * Since: 0.2
 */
const gchar *const *
beach_harness_get_urls (BeachHarness *self)
{
  g_return_val_if_fail (BEACH_IS_HARNESS (self), NULL);
  return (const gchar *const *) self->urls;
}

/**
 * beach_harness_get_session_id:
 * @self: a #BeachHarness
 *
 * Returns: the session id
 */
GETTER (const gchar *, session_id, session_id, NULL)
/**
 * beach_harness_get_private_beach_id:
 * @self: a #BeachHarness
 *
 * Returns: the private beach id
 */
GETTER (const gchar *, private_beach_id, private_beach_id, NULL)
/**
 * beach_harness_get_session_token:
 * @self: a #BeachHarness
 *
 * Returns: (nullable): the session's own token, once registered
 */
GETTER (const gchar *, session_token, session_token, NULL)
/**
 * beach_harness_get_harness_id:
 * @self: a #BeachHarness
 *
 * Returns: (nullable): the manager's id for this harness, once registered
 */
GETTER (const gchar *, harness_id, harness_id, NULL)
/**
 * beach_harness_get_hints:
 * @self: a #BeachHarness
 *
 * Returns: (transfer none) (nullable): the transport hints, once registered
 */
GETTER (BeachTransportHints *, hints, hints, NULL)
/**
 * beach_harness_get_transport:
 * @self: a #BeachHarness
 *
 * Returns: the transport the manager last reported for the session
 */
GETTER (BeachTransport, transport, transport, BEACH_TRANSPORT_PENDING)
/**
 * beach_harness_get_link_health:
 * @self: a #BeachHarness
 *
 * Returns: the health of the harness's primary link
 */
GETTER (BeachLinkHealth, link_health, link_health, BEACH_LINK_HEALTH_CLOSED)
/**
 * beach_harness_get_handshake_id:
 * @self: a #BeachHarness
 *
 * Returns: (nullable): the manager's current handshake id
 */
GETTER (const gchar *, handshake_id, handshake_id, NULL)
/**
 * beach_harness_get_pending:
 * @self: a #BeachHarness
 *
 * Returns: the session's fallback queue depth the manager last reported
 */
GETTER (guint, pending, pending, 0)
/**
 * beach_harness_get_polling:
 * @self: a #BeachHarness
 *
 * Returns: %TRUE while HTTP polling runs, %FALSE while it is paused
 */
GETTER (gboolean, polling, polling, FALSE)
/**
 * beach_harness_get_polling_reason:
 * @self: a #BeachHarness
 *
 * Returns: (nullable): why HTTP polling last paused or resumed (see
 *   beach_poll_gate_get_reason()), or %NULL before the first change
 */
const gchar *
beach_harness_get_polling_reason (BeachHarness *self)
{
  g_return_val_if_fail (BEACH_IS_HARNESS (self), NULL);
  return beach_poll_gate_get_reason (self->gate);
}

/**
 * beach_harness_get_link_attempts:
 * @self: a #BeachHarness
 *
 * Returns: how many links the harness has offered
 */
GETTER (guint, link_attempts, link_attempts, 0)
/**
 * beach_harness_get_links_opened:
 * @self: a #BeachHarness
 *
 * Returns: how many links became healthy and served as the primary
 */
GETTER (guint, links_opened, links_opened, 0)
/**
 * beach_harness_get_polls:
 * @self: a #BeachHarness
 *
 * Returns: how many long-polls the harness has sent
 */
GETTER (guint64, polls, polls, 0)
/**
 * beach_harness_get_last_error:
 * @self: a #BeachHarness
 *
 * Returns: (nullable): the last transport error, for health reports
 */
GETTER (const gchar *, last_error, last_error, NULL)

#undef GETTER

/* -- GObject */

static void
beach_harness_constructed (GObject *object)
{
  BeachHarness *self = BEACH_HARNESS (object);
  /* Until here urls holds the property as set. */
  g_auto (GStrv) urls = g_steal_pointer (&self->urls);

  G_OBJECT_CLASS (beach_harness_parent_class)->constructed (object);

  setup_urls (self, urls);
  self->window = beach_applied_window_new (self->window_size);
  self->http = soup_session_new_with_options ("proxy-resolver", NULL, "timeout",
                                              self->poll_wait_ms / 1000 + HTTP_TIMEOUT_MARGIN_S, "user-agent",
                                              "libbeach/" BEACH_VERSION, NULL);
}

static void
beach_harness_dispose (GObject *object)
{
  BeachHarness *self = BEACH_HARNESS (object);

  g_cancellable_cancel (self->cancellable);
  _beach_harness_poller_stop (self);
  g_clear_handle_id (&self->ack_timer_id, g_source_remove);
  g_clear_handle_id (&self->health_timer_id, g_source_remove);
  if (!self->stopping && !self->terminated)
    self->stopping = TRUE;
  _beach_harness_link_stop (self, NULL);
  G_OBJECT_CLASS (beach_harness_parent_class)->dispose (object);
}

static void
beach_harness_finalize (GObject *object)
{
  BeachHarness *self = BEACH_HARNESS (object);

  g_free (self->url_setting);
  g_strfreev (self->urls);
  g_clear_error (&self->urls_error);
  g_free (self->token);
  g_free (self->session_id);
  g_free (self->private_beach_id);
  g_strfreev (self->capabilities);
  g_free (self->version);
  g_free (self->journal_path);
  g_strfreev (self->local_addresses);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_object (&self->http);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->poll_cancellable);
  g_free (self->session_token);
  g_free (self->harness_id);
  g_clear_object (&self->hints);
  g_free (self->handshake_id);
  g_clear_pointer (&self->window, beach_applied_window_free);
  g_clear_pointer (&self->in_progress, g_hash_table_unref);
  g_clear_pointer (&self->warned, g_hash_table_unref);
  g_clear_pointer (&self->ack_queue, g_ptr_array_unref);
  g_clear_object (&self->gate);
  g_free (self->last_error);
  g_clear_pointer (&self->rand, g_rand_free);
  G_OBJECT_CLASS (beach_harness_parent_class)->finalize (object);
}

static void
beach_harness_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BeachHarness *self = BEACH_HARNESS (object);

  switch (prop_id) {
    case PROP_URL:
      g_value_set_string (value, self->url);
      break;
    case PROP_URLS:
      g_value_set_boxed (value, self->urls);
      break;
    case PROP_SESSION_ID:
      g_value_set_string (value, self->session_id);
      break;
    case PROP_PRIVATE_BEACH_ID:
      g_value_set_string (value, self->private_beach_id);
      break;
    case PROP_TOKEN:
      g_value_set_string (value, self->token);
      break;
    case PROP_HARNESS_TYPE:
      g_value_set_enum (value, self->harness_type);
      break;
    case PROP_CAPABILITIES:
      g_value_set_boxed (value, self->capabilities);
      break;
    case PROP_VERSION:
      g_value_set_string (value, self->version);
      break;
    case PROP_JOURNAL_PATH:
      g_value_set_string (value, self->journal_path);
      break;
    case PROP_WINDOW_SIZE:
      g_value_set_uint (value, self->window_size);
      break;
    case PROP_POLL_WAIT_MS:
      g_value_set_uint (value, self->poll_wait_ms);
      break;
    case PROP_HEALTH_INTERVAL_MS:
      g_value_set_uint (value, self->health_interval_ms);
      break;
    case PROP_CONNECT_TIMEOUT_MS:
      g_value_set_uint (value, self->connect_timeout_ms);
      break;
    case PROP_UNHEALTHY_TIMEOUT_MS:
      g_value_set_uint (value, self->unhealthy_timeout_ms);
      break;
    case PROP_LOCAL_ADDRESSES:
      g_value_set_boxed (value, self->local_addresses);
      break;
    case PROP_SESSION_TOKEN:
      g_value_set_string (value, self->session_token);
      break;
    case PROP_HARNESS_ID:
      g_value_set_string (value, self->harness_id);
      break;
    case PROP_HINTS:
      g_value_set_object (value, self->hints);
      break;
    case PROP_TRANSPORT:
      g_value_set_enum (value, self->transport);
      break;
    case PROP_LINK_HEALTH:
      g_value_set_enum (value, self->link_health);
      break;
    case PROP_HANDSHAKE_ID:
      g_value_set_string (value, self->handshake_id);
      break;
    case PROP_PENDING:
      g_value_set_uint (value, self->pending);
      break;
    case PROP_POLLING:
      g_value_set_boolean (value, self->polling);
      break;
    case PROP_LINK_ATTEMPTS:
      g_value_set_uint (value, self->link_attempts);
      break;
    case PROP_LINKS_OPENED:
      g_value_set_uint (value, self->links_opened);
      break;
    case PROP_POLLS:
      g_value_set_uint64 (value, self->polls);
      break;
    case PROP_LAST_ERROR:
      g_value_set_string (value, self->last_error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
beach_harness_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BeachHarness *self = BEACH_HARNESS (object);

  switch (prop_id) {
    case PROP_URL:
      g_free (self->url_setting);
      self->url_setting = g_value_dup_string (value);
      break;
    case PROP_URLS:
      g_strfreev (self->urls);
      self->urls = g_value_dup_boxed (value);
      break;
    case PROP_SESSION_ID:
      g_free (self->session_id);
      self->session_id = g_value_dup_string (value);
      break;
    case PROP_PRIVATE_BEACH_ID:
      g_free (self->private_beach_id);
      self->private_beach_id = g_value_dup_string (value);
      break;
    case PROP_TOKEN:
      g_free (self->token);
      self->token = g_value_dup_string (value);
      break;
    case PROP_HARNESS_TYPE:
      self->harness_type = g_value_get_enum (value);
      break;
    case PROP_CAPABILITIES:
      g_strfreev (self->capabilities);
      self->capabilities = g_value_dup_boxed (value);
      break;
    case PROP_VERSION:
      g_free (self->version);
      self->version = g_value_dup_string (value);
      if (self->version == NULL)
        self->version = g_strdup (BEACH_VERSION);
      break;
    case PROP_JOURNAL_PATH:
      g_free (self->journal_path);
      self->journal_path = g_value_dup_string (value);
      break;
    case PROP_WINDOW_SIZE:
      self->window_size = g_value_get_uint (value);
      break;
    case PROP_POLL_WAIT_MS:
      self->poll_wait_ms = g_value_get_uint (value);
      break;
    case PROP_HEALTH_INTERVAL_MS:
      self->health_interval_ms = g_value_get_uint (value);
      break;
    case PROP_CONNECT_TIMEOUT_MS:
      self->connect_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_UNHEALTHY_TIMEOUT_MS:
      self->unhealthy_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_LOCAL_ADDRESSES:
      g_strfreev (self->local_addresses);
      self->local_addresses = g_value_dup_boxed (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
beach_harness_class_init (BeachHarnessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags construct = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->constructed = beach_harness_constructed;
  object_class->dispose = beach_harness_dispose;
  object_class->finalize = beach_harness_finalize;
  object_class->get_property = beach_harness_get_property;
  object_class->set_property = beach_harness_set_property;

  /**
   * BeachHarness:url:
   *
   * The manager's base URL. Set at construction, it is a list of one
   * (#BeachHarness:urls); read, it is the manager in use, and it is
   * notified when a failover changes it. Set this or #BeachHarness:urls,
   * not both: a harness given both fails to start.
   */
  props[PROP_URL] = g_param_spec_string ("url", NULL, NULL, NULL, construct);
  /**
   * BeachHarness:urls:
   *
   * The base URLs of several managers that share one Redis (or one URL
   * behind a load balancer), each an http or https URL; trailing slashes are
   * dropped. The harness uses the first. When a request to the manager in
   * use fails at the transport (refused, unreachable, timed out, the
   * connection broken, a name that does not resolve) or is answered 502, 503
   * or 504, the following requests go to the next one, round-robin, on the
   * harness's usual retry schedule; a 4xx answer never moves it. A fast-path
   * link is signalled (offer, candidates) entirely through the manager in
   * use when it was offered.
   *
   * Since: 0.2
   */
  props[PROP_URLS] = g_param_spec_boxed ("urls", NULL, NULL, G_TYPE_STRV, construct);
  /**
   * BeachHarness:session-id:
   *
   * The session this harness serves.
   */
  props[PROP_SESSION_ID] = g_param_spec_string ("session-id", NULL, NULL, NULL, construct);
  /**
   * BeachHarness:private-beach-id:
   *
   * The session's private beach.
   */
  props[PROP_PRIVATE_BEACH_ID] = g_param_spec_string ("private-beach-id", NULL, NULL, NULL, construct);
  /**
   * BeachHarness:token:
   *
   * The token given at construction: an operator token or the session's
   * own token.
   */
  props[PROP_TOKEN] = g_param_spec_string ("token", NULL, NULL, NULL, construct);
  /**
   * BeachHarness:harness-type:
   *
   * The `harness_type` registered.
   */
  props[PROP_HARNESS_TYPE] = g_param_spec_enum ("harness-type", NULL, NULL, BEACH_TYPE_HARNESS_TYPE,
                                                BEACH_HARNESS_TYPE_CUSTOM, construct);
  /**
   * BeachHarness:capabilities:
   *
   * The `capabilities` registered.
   */
  props[PROP_CAPABILITIES] = g_param_spec_boxed ("capabilities", NULL, NULL, G_TYPE_STRV, construct);
  /**
   * BeachHarness:version:
   *
   * The `version` registered (default: libbeach's version).
   */
  props[PROP_VERSION] = g_param_spec_string ("version", NULL, NULL, BEACH_VERSION, construct);
  /**
   * BeachHarness:journal-path:
   *
   * A file that keeps the window of applied ids across restarts: each
   * applied id is appended (and flushed) before its ack is sent. %NULL
   * keeps the window in memory only.
   */
  props[PROP_JOURNAL_PATH] = g_param_spec_string ("journal-path", NULL, NULL, NULL, construct);
  /**
   * BeachHarness:window-size:
   *
   * How many applied action ids are remembered.
   */
  props[PROP_WINDOW_SIZE] = g_param_spec_uint ("window-size", NULL, NULL, 1, 1 << 20,
                                               BEACH_HARNESS_WINDOW_SIZE_DEFAULT, construct);
  /**
   * BeachHarness:poll-wait-ms:
   *
   * How long a long-poll may park on the manager (`wait_ms`).
   */
  props[PROP_POLL_WAIT_MS] = g_param_spec_uint ("poll-wait-ms", NULL, NULL, 0, 30000, 25000,
                                                construct);
  /**
   * BeachHarness:health-interval-ms:
   *
   * How often the harness sends a health heartbeat of its own; 0 never.
   */
  props[PROP_HEALTH_INTERVAL_MS] = g_param_spec_uint ("health-interval-ms", NULL, NULL, 0, G_MAXINT, 10000,
                                                      construct);
  /**
   * BeachHarness:connect-timeout-ms:
   *
   * A link not healthy this long after its offer is dropped and offered
   * again.
   */
  props[PROP_CONNECT_TIMEOUT_MS] = g_param_spec_uint ("connect-timeout-ms", NULL, NULL, 100, G_MAXINT, 10000,
                                                      construct);
  /**
   * BeachHarness:unhealthy-timeout-ms:
   *
   * A primary link unhealthy this long gets a candidate offered beside
   * it; the candidate replaces it once healthy.
   */
  props[PROP_UNHEALTHY_TIMEOUT_MS] = g_param_spec_uint ("unhealthy-timeout-ms", NULL, NULL, 100, G_MAXINT, 3000,
                                                        construct);
  /**
   * BeachHarness:local-addresses:
   *
   * The addresses ICE may use (#BeachFastPathLink:local-addresses);
   * %NULL for the link's default.
   */
  props[PROP_LOCAL_ADDRESSES] = g_param_spec_boxed ("local-addresses", NULL, NULL, G_TYPE_STRV, construct);
  /**
   * BeachHarness:session-token:
   *
   * The session's own token, from the registration.
   */
  props[PROP_SESSION_TOKEN] = g_param_spec_string ("session-token", NULL, NULL, NULL, ro);
  /**
   * BeachHarness:harness-id:
   *
   * The manager's id for this harness.
   */
  props[PROP_HARNESS_ID] = g_param_spec_string ("harness-id", NULL, NULL, NULL, ro);
  /**
   * BeachHarness:hints:
   *
   * The transport hints from the last registration.
   */
  props[PROP_HINTS] = g_param_spec_object ("hints", NULL, NULL, BEACH_TYPE_TRANSPORT_HINTS, ro);
  /**
   * BeachHarness:transport:
   *
   * The session's transport as the manager last reported it.
   */
  props[PROP_TRANSPORT] = g_param_spec_enum ("transport", NULL, NULL, BEACH_TYPE_TRANSPORT, BEACH_TRANSPORT_PENDING,
                                             ro);
  /**
   * BeachHarness:link-health:
   *
   * The health of the primary link (%BEACH_LINK_HEALTH_DISABLED when the
   * manager offers no fast path).
   */
  props[PROP_LINK_HEALTH] = g_param_spec_enum ("link-health", NULL, NULL, BEACH_TYPE_LINK_HEALTH,
                                               BEACH_LINK_HEALTH_CLOSED, ro);
  /**
   * BeachHarness:handshake-id:
   *
   * The manager's current handshake id for the session.
   */
  props[PROP_HANDSHAKE_ID] = g_param_spec_string ("handshake-id", NULL, NULL, NULL, ro);
  /**
   * BeachHarness:pending:
   *
   * The session's fallback queue depth as the manager last reported it.
   */
  props[PROP_PENDING] = g_param_spec_uint ("pending", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * BeachHarness:polling:
   *
   * Whether HTTP polling runs (%FALSE while the poll gate has paused it).
   */
  props[PROP_POLLING] = g_param_spec_boolean ("polling", NULL, NULL, FALSE, ro);
  /**
   * BeachHarness:link-attempts:
   *
   * How many links the harness has offered.
   */
  props[PROP_LINK_ATTEMPTS] = g_param_spec_uint ("link-attempts", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * BeachHarness:links-opened:
   *
   * How many links became healthy and served as the primary.
   */
  props[PROP_LINKS_OPENED] = g_param_spec_uint ("links-opened", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * BeachHarness:polls:
   *
   * How many long-polls the harness has sent.
   */
  props[PROP_POLLS] = g_param_spec_uint64 ("polls", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * BeachHarness:last-error:
   *
   * The last transport error, for health reports.
   */
  props[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * BeachHarness::action-received:
   * @self: the harness
   * @action: the action to apply
   *
   * An action to apply. Apply it, then call beach_harness_ack() (later is
   * fine). It is emitted once per id while the id is in the window, even
   * when the manager delivers it again.
   */
  signals[SIGNAL_ACTION_RECEIVED] = g_signal_new ("action-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                  NULL, NULL, NULL, G_TYPE_NONE, 1, BEACH_TYPE_ACTION);
  /**
   * BeachHarness::terminated:
   * @self: the harness
   * @error: why
   *
   * The harness stopped for good: its session is gone from the manager
   * (404). Nothing more is sent or received.
   */
  signals[SIGNAL_TERMINATED] = g_signal_new ("terminated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                             NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
beach_harness_init (BeachHarness *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  self->transport = BEACH_TRANSPORT_PENDING;
  self->link_health = BEACH_LINK_HEALTH_CLOSED;
  self->in_progress = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) in_progress_free);
  self->warned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->ack_queue = g_ptr_array_new_with_free_func (g_object_unref);
  self->gate = beach_poll_gate_new ();
  self->rand = g_rand_new ();
}
