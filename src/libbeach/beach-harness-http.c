/* beach-harness-http.c: the harness's HTTP side
 *
 * One helper for every JSON request (bearer, error envelope to GError), the
 * poller that BeachPollGate drives, and the acks that cannot go on the link,
 * sent in batches with one request in flight.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-harness-http"

#include "config.h"

#include "beach-error.h"
#include "beach-harness-private.h"
#include "beach-ids.h"
#include "beach-json-private.h"

#define POLL_MAX             64
#define LINK_UP_POLL_WAIT_MS 1000
#define ACK_BATCH_MAX        256
#define ACK_RETRY_MIN_MS     100
#define ACK_RETRY_MAX_MS     5000
#define REPLY_MAX_BYTES      (8 * 1024 * 1024)

typedef struct {
  GWeakRef harness;
  BeachHarnessReply callback;
  gpointer user_data;
  GDestroyNotify destroy;
  SoupMessage *msg;
  gchar *what;         /* "GET /path", for messages */
  guint generation;    /* the harness's url_generation when sent */
  gboolean may_rotate; /* it went to the URL in use */
} Request;

static void
request_free (Request *req)
{
  g_weak_ref_clear (&req->harness);
  if (req->destroy != NULL)
    req->destroy (req->user_data);
  g_clear_object (&req->msg);
  g_free (req->what);
  g_free (req);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Request, request_free)

/* The manager's error envelope, {error, message, error_code?}, as a GError
 * of the BEACH_ERROR domain; anything else as BEACH_ERROR_FAILED. A 502, 503
 * or 504 is BEACH_ERROR_UNAVAILABLE whatever the body says: a gateway or an
 * instance that cannot serve (see _beach_harness_error_moves_on()). */
static GError *
error_from_reply (Request *req, guint status, GBytes *body)
{
  g_autoptr (JsonNode) node = NULL;
  const gchar *kind = NULL, *message = NULL, *code = NULL;
  gboolean unavailable = status == 502 || status == 503 || status == 504;
  JsonObject *obj;

  if (body != NULL)
    node = beach_json_from_string (g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL);
  obj = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (obj != NULL && beach_json_get_string (obj, "error", "error", TRUE, 64, &kind, NULL)) {
    beach_json_get_string (obj, "message", "message", FALSE, 4096, &message, NULL);
    beach_json_get_string (obj, "error_code", "error_code", FALSE, 64, &code, NULL);
    return g_error_new (BEACH_ERROR, unavailable ? BEACH_ERROR_UNAVAILABLE : beach_error_from_kind (kind, code),
                        "%s: HTTP %u %s: %s", req->what, status, kind, message != NULL ? message : "");
  }
  return g_error_new (BEACH_ERROR, unavailable ? BEACH_ERROR_UNAVAILABLE : BEACH_ERROR_FAILED, "%s: HTTP %u %s",
                      req->what, status, soup_status_get_phrase (status));
}

/* A request failed so that another manager may do better: it could not be
 * reached, the connection broke, or it (or a gateway in front of it)
 * answered 502, 503 or 504. Cancellation is ours, not the manager's; a 4xx
 * is its real answer. */
gboolean
_beach_harness_error_moves_on (const GError *error)
{
  if (error->domain == G_RESOLVER_ERROR || g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE))
    return TRUE;
  if (error->domain != G_IO_ERROR)
    return FALSE;
  switch (error->code) {
    case G_IO_ERROR_CONNECTION_REFUSED:
    case G_IO_ERROR_HOST_NOT_FOUND:
    case G_IO_ERROR_HOST_UNREACHABLE:
    case G_IO_ERROR_NETWORK_UNREACHABLE:
    case G_IO_ERROR_TIMED_OUT:
    case G_IO_ERROR_CONNECTION_CLOSED: /* also G_IO_ERROR_BROKEN_PIPE */
    case G_IO_ERROR_NOT_CONNECTED:
    case G_IO_ERROR_PARTIAL_INPUT: /* libsoup: "Connection terminated unexpectedly" */
      return TRUE;
    default:
      return FALSE;
  }
}

static void
on_request_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Request) req = user_data;
  g_autoptr (BeachHarness) self = g_weak_ref_get (&req->harness);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_autoptr (JsonNode) node = NULL;
  guint status;

  if (self == NULL)
    return;
  if (body == NULL) {
    g_prefix_error (&error, "%s: ", req->what);
    if (req->may_rotate && _beach_harness_error_moves_on (error))
      _beach_harness_failover (self, req->generation, error->message);
    req->callback (self, NULL, error, req->user_data);
    return;
  }
  status = soup_message_get_status (req->msg);
  if (status < 200 || status >= 300) {
    g_autoptr (GError) http_error = error_from_reply (req, status, body);

    if (req->may_rotate && _beach_harness_error_moves_on (http_error))
      _beach_harness_failover (self, req->generation, http_error->message);
    req->callback (self, NULL, http_error, req->user_data);
    return;
  }
  if (g_bytes_get_size (body) > REPLY_MAX_BYTES) {
    g_autoptr (GError) big = g_error_new (BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE, "%s: the reply is over %d bytes",
                                          req->what, REPLY_MAX_BYTES);

    req->callback (self, NULL, big, req->user_data);
    return;
  }
  node = beach_json_from_string (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  if (node == NULL) {
    g_prefix_error (&error, "%s: ", req->what);
    req->callback (self, NULL, error, req->user_data);
    return;
  }
  req->callback (self, node, NULL, req->user_data);
}

/* Sends one JSON request to the manager in use. The callback runs on the
 * harness's context with the parsed reply or an error, unless the harness is
 * gone. */
void
_beach_harness_http_request (BeachHarness *self,
                             const gchar *method,
                             const gchar *path,
                             const gchar *bearer,
                             JsonNode *body,
                             GCancellable *cancellable,
                             BeachHarnessReply callback,
                             gpointer user_data,
                             GDestroyNotify destroy)
{
  _beach_harness_http_request_to (self, NULL, method, path, bearer, body, cancellable, callback, user_data, destroy);
}

/* The same to one manager (base_url; NULL: the one in use), for what must
 * stay on one instance, such as a link's signalling. A transport failure
 * moves the harness to the next manager only when base_url is still the one
 * in use. */
void
_beach_harness_http_request_to (BeachHarness *self,
                                const gchar *base_url,
                                const gchar *method,
                                const gchar *path,
                                const gchar *bearer,
                                JsonNode *body,
                                GCancellable *cancellable,
                                BeachHarnessReply callback,
                                gpointer user_data,
                                GDestroyNotify destroy)
{
  const gchar *base = base_url != NULL ? base_url : self->url;
  g_autofree gchar *uri = g_strconcat (base != NULL ? base : "", path, NULL);
  g_autofree gchar *auth = g_strdup_printf ("Bearer %s", bearer);
  g_autoptr (GError) error = NULL;
  Request *req;

  req = g_new0 (Request, 1);
  g_weak_ref_init (&req->harness, self);
  req->callback = callback;
  req->user_data = user_data;
  req->destroy = destroy;
  req->what = g_strdup_printf ("%s %s", method, path);
  req->generation = self->url_generation;
  req->may_rotate = g_strcmp0 (base, self->url) == 0;
  req->msg = soup_message_new (method, uri);
  if (req->msg == NULL) {
    g_autoptr (Request) owned = req;

    error = g_error_new (BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "%s: not a valid URL: %s", req->what, uri);
    callback (self, NULL, error, user_data);
    return;
  }
  soup_message_headers_replace (soup_message_get_request_headers (req->msg), "Authorization", auth);
  if (body != NULL) {
    gsize len = 0;
    gchar *text = json_to_string (body, FALSE);
    g_autoptr (GBytes) bytes = NULL;

    len = strlen (text);
    bytes = g_bytes_new_take (text, len);
    soup_message_set_request_body_from_bytes (req->msg, "application/json", bytes);
  }
  soup_session_send_and_read_async (self->http, req->msg, G_PRIORITY_DEFAULT,
                                    cancellable != NULL ? cancellable : self->cancellable, on_request_done,
                                    req);
}

/* -- status answers (poll, pending) */

/* The fields poll and pending answers share. */
gboolean
_beach_harness_parse_status (JsonObject *obj,
                             BeachTransport *transport,
                             gboolean *fast_path_ready,
                             guint *pending,
                             const gchar **handshake_id,
                             GError **error)
{
  const gchar *t = NULL;
  gint64 n = 0;

  if (!beach_json_get_string (obj, "transport", "transport", TRUE, 32, &t, error) || !beach_transport_from_string (t, transport, error) || !beach_json_get_bool (obj, "fast_path_ready", "fast_path_ready", TRUE, fast_path_ready, NULL, error) || !beach_json_get_int (obj, "pending", "pending", TRUE, 0, G_MAXUINT32, &n, NULL, error) || !beach_json_get_string (obj, "handshake_id", "handshake_id", FALSE, 128, handshake_id, error))
    return FALSE;
  *pending = (guint) n;
  return TRUE;
}

static gboolean
apply_status (BeachHarness *self, JsonObject *obj, GError **error)
{
  BeachTransport transport;
  gboolean ready;
  guint pending;
  const gchar *handshake_id = NULL;

  if (!_beach_harness_parse_status (obj, &transport, &ready, &pending, &handshake_id, error))
    return FALSE;
  _beach_harness_set_status (self, transport, ready, pending, handshake_id);
  return TRUE;
}

/* -- the poller */

static void step (BeachHarness *self);

static gboolean
on_gate_timer (gpointer user_data)
{
  BeachHarness *self = user_data;

  self->gate_timer_id = 0;
  step (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_step (BeachHarness *self, gint64 delay_ms)
{
  GSource *source;

  if (self->gate_timer_id != 0) {
    g_source_remove (self->gate_timer_id);
    self->gate_timer_id = 0;
  }
  source = delay_ms <= 0 ? g_idle_source_new () : g_timeout_source_new ((guint) MIN (delay_ms, G_MAXUINT));
  g_source_set_callback (source, on_gate_timer, self, NULL);
  g_source_set_static_name (source, "[beach] harness poller");
  self->gate_timer_id = g_source_attach (source, self->context);
  g_source_unref (source);
}

/* A long-poll parked before the link came up would hold the gate open
 * for up to poll-wait-ms: once the manager confirms the fast path with
 * nothing pending, new actions take the link, so the parked poll can only
 * come back empty; it is cut short. */
static void
cut_long_poll (BeachHarness *self)
{
  if (!self->long_poll_in_flight || self->ack_in_flight || !_beach_harness_link_is_healthy (self) || self->transport != BEACH_TRANSPORT_FAST_PATH || !self->fast_path_ready || self->pending > 0)
    return;
  g_debug ("session %s: the manager confirms the link: the parked poll is cut short", self->session_id);
  self->long_poll_in_flight = FALSE;
  g_cancellable_cancel (self->poll_cancellable);
}

/* Anything that may change the gate's answer calls this. */
void
_beach_harness_poller_kick (BeachHarness *self)
{
  gboolean polling;

  if (!self->started || self->stopping || self->terminated)
    return;
  cut_long_poll (self);
  polling = !beach_poll_gate_get_paused (self->gate);
  if (polling != self->polling) {
    self->polling = polling;
    g_debug ("session %s: HTTP polling %s (%s)", self->session_id, polling ? "resumed" : "paused",
             beach_poll_gate_get_reason (self->gate) != NULL ? beach_poll_gate_get_reason (self->gate) : "start");
    g_object_notify (G_OBJECT (self), "polling");
  }
  schedule_step (self, 0);
}

static void
request_failed (BeachHarness *self, const GError *error, const gchar *what)
{
  if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_NOT_FOUND)) {
    _beach_harness_terminate (self, error);
    return;
  }
  _beach_harness_set_last_error (self, error->message);
  _beach_harness_warn (self, what, "%s", error->message);
}

/* An action the harness cannot parse is refused by id when it has one, so
 * the manager settles it instead of redelivering it until it dead-letters. */
static void
refuse_unparsable (BeachHarness *self, JsonNode *node, const GError *error)
{
  JsonObject *obj = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  const gchar *id = NULL;
  g_autoptr (BeachActionAck) ack = NULL;

  _beach_harness_warn (self, "bad-action", "an action the harness cannot read: %s", error->message);
  if (obj == NULL || !beach_json_get_string (obj, "id", "id", TRUE, 128, &id, NULL) || !beach_action_id_is_valid (id))
    return;
  ack = beach_action_ack_new (id, BEACH_ACK_STATUS_REJECTED, g_get_real_time () / 1000, -1, "invalid_action",
                              error->message, NULL);
  if (ack != NULL)
    _beach_harness_acks_push (self, ack);
}

static void
on_poll_reply (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  g_autoptr (GError) parse_error = NULL;
  JsonObject *obj;
  JsonArray *actions;
  gint64 now = g_get_monotonic_time ();

  self->long_poll_in_flight = FALSE;
  if (reply == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      if (self->stopping || self->terminated)
        return;
      /* cut_long_poll() ended it: not a failure. */
      beach_poll_gate_request_finished (self->gate, BEACH_POLL_GATE_REQUEST_POLL, TRUE, now);
      _beach_harness_poller_kick (self);
      return;
    }
    beach_poll_gate_request_finished (self->gate, BEACH_POLL_GATE_REQUEST_POLL, FALSE, now);
    request_failed (self, error, "poll");
    _beach_harness_poller_kick (self);
    return;
  }
  obj = JSON_NODE_HOLDS_OBJECT (reply) ? json_node_get_object (reply) : NULL;
  if (obj == NULL || !json_object_has_member (obj, "actions") || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (obj, "actions")) || !apply_status (self, obj, &parse_error)) {
    g_autoptr (GError) bad = g_error_new (BEACH_ERROR, BEACH_ERROR_MALFORMED, "poll: a malformed answer: %s",
                                          parse_error != NULL ? parse_error->message : "no actions array");

    beach_poll_gate_request_finished (self->gate, BEACH_POLL_GATE_REQUEST_POLL, FALSE, now);
    request_failed (self, bad, "poll");
    _beach_harness_poller_kick (self);
    return;
  }
  actions = json_object_get_array_member (obj, "actions");
  for (guint i = 0; i < json_array_get_length (actions) && !self->terminated; i++) {
    JsonNode *node = json_array_get_element (actions, i);
    g_autoptr (GError) action_error = NULL;
    g_autoptr (BeachAction) action = beach_action_new_from_json (node, &action_error);

    if (action == NULL)
      refuse_unparsable (self, node, action_error);
    else
      _beach_harness_receive_action (self, action);
  }
  beach_poll_gate_request_finished (self->gate, BEACH_POLL_GATE_REQUEST_POLL, TRUE, g_get_monotonic_time ());
  _beach_harness_poller_kick (self);
}

static void
on_check_reply (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  g_autoptr (GError) parse_error = NULL;
  gboolean ok = FALSE;

  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    request_failed (self, error, "pending");
  else if (!JSON_NODE_HOLDS_OBJECT (reply) || !apply_status (self, json_node_get_object (reply), &parse_error))
    _beach_harness_warn (self, "pending", "pending: a malformed answer: %s",
                         parse_error != NULL ? parse_error->message : "not an object");
  else
    ok = TRUE;
  beach_poll_gate_request_finished (self->gate, BEACH_POLL_GATE_REQUEST_CHECK, ok, g_get_monotonic_time ());
  _beach_harness_poller_kick (self);
}

static void
step (BeachHarness *self)
{
  gint64 delay_ms = -1;
  gint64 now = g_get_monotonic_time ();

  if (!self->started || self->stopping || self->terminated)
    return;
  switch (beach_poll_gate_next (self->gate, now, &delay_ms)) {
    case BEACH_POLL_GATE_STEP_POLL: {
      /* With a link up or on its way a poll is mostly a question ("may I
       * pause?"): it parks briefly, so the answer comes soon after the link
       * is healthy and the gate can act on it. Without a fast path it is a
       * real long-poll. */
      gboolean link = self->link_health == BEACH_LINK_HEALTH_HEALTHY || self->link_health == BEACH_LINK_HEALTH_CONNECTING || self->link_health == BEACH_LINK_HEALTH_UNHEALTHY;
      guint wait_ms = link ? MIN (self->poll_wait_ms, LINK_UP_POLL_WAIT_MS) : self->poll_wait_ms;
      g_autofree gchar *path = g_strdup_printf ("%s?wait_ms=%u&max=%d",
                                                beach_transport_hints_get_actions_poll_path (self->hints), wait_ms,
                                                POLL_MAX);

      beach_poll_gate_request_started (self->gate, BEACH_POLL_GATE_REQUEST_POLL, now);
      self->polls++;
      g_object_notify (G_OBJECT (self), "polls");
      g_clear_object (&self->poll_cancellable);
      self->poll_cancellable = g_cancellable_new ();
      self->long_poll_in_flight = wait_ms > LINK_UP_POLL_WAIT_MS;
      _beach_harness_http_request (self, "GET", path, self->session_token, NULL, self->poll_cancellable, on_poll_reply,
                                   NULL, NULL);
      break;
    }
    case BEACH_POLL_GATE_STEP_CHECK:
      beach_poll_gate_request_started (self->gate, BEACH_POLL_GATE_REQUEST_CHECK, now);
      _beach_harness_http_request (self, "GET", beach_transport_hints_get_actions_pending_path (self->hints),
                                   self->session_token, NULL, NULL, on_check_reply, NULL, NULL);
      break;
    case BEACH_POLL_GATE_STEP_WAIT:
    default:
      if (delay_ms >= 0)
        schedule_step (self, MAX (delay_ms, 1));
      break;
  }
}

void
_beach_harness_poller_start (BeachHarness *self)
{
  self->polling = TRUE;
  _beach_harness_poller_kick (self);
}

void
_beach_harness_poller_stop (BeachHarness *self)
{
  g_clear_handle_id (&self->gate_timer_id, g_source_remove);
  if (self->poll_cancellable != NULL)
    g_cancellable_cancel (self->poll_cancellable);
}

/* -- acks over HTTP */

static gboolean
on_ack_retry (gpointer user_data)
{
  BeachHarness *self = user_data;

  self->ack_timer_id = 0;
  _beach_harness_acks_flush (self);
  return G_SOURCE_REMOVE;
}

static void
on_ack_reply (BeachHarness *self, JsonNode *reply, const GError *error, gpointer user_data)
{
  guint sent = GPOINTER_TO_UINT (user_data);
  gint64 now = g_get_monotonic_time ();

  self->ack_in_flight = FALSE;
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  beach_poll_gate_request_finished (self->gate, BEACH_POLL_GATE_REQUEST_ACK, reply != NULL, now);
  if (reply != NULL) {
    self->ack_failures = 0;
    g_ptr_array_remove_range (self->ack_queue, 0, MIN (sent, self->ack_queue->len));
  } else if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_NOT_FOUND)) {
    _beach_harness_terminate (self, error);
    return;
  } else if (error->domain == BEACH_ERROR && beach_error_to_http_status (error->code) == 400) {
    /* The manager will never take this batch: it redelivers the actions
     * and the window answers them again, one by one. */
    _beach_harness_warn (self, "ack-refused", "acks refused, dropped: %s", error->message);
    g_ptr_array_remove_range (self->ack_queue, 0, MIN (sent, self->ack_queue->len));
  } else {
    gint64 delay = _beach_harness_jitter_ms (self, ++self->ack_failures, ACK_RETRY_MIN_MS, ACK_RETRY_MAX_MS);

    request_failed (self, error, "ack");
    if (!self->terminated) {
      GSource *source = g_timeout_source_new ((guint) delay);

      g_source_set_callback (source, on_ack_retry, self, NULL);
      g_source_set_static_name (source, "[beach] harness ack retry");
      self->ack_timer_id = g_source_attach (source, self->context);
      g_source_unref (source);
    }
  }
  _beach_harness_poller_kick (self);
  _beach_harness_acks_flush (self);
}

void
_beach_harness_acks_flush (BeachHarness *self)
{
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonArray) array = NULL;
  guint n;

  if (self->ack_in_flight || self->ack_timer_id != 0 || self->ack_queue->len == 0 || self->terminated || self->session_token == NULL)
    return;
  n = MIN (self->ack_queue->len, ACK_BATCH_MAX);
  array = json_array_sized_new (n);
  for (guint i = 0; i < n; i++)
    json_array_add_element (array, beach_action_ack_to_json (self->ack_queue->pdata[i]));
  body = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (body, array);
  self->ack_in_flight = TRUE;
  beach_poll_gate_request_started (self->gate, BEACH_POLL_GATE_REQUEST_ACK, g_get_monotonic_time ());
  _beach_harness_poller_kick (self);
  _beach_harness_http_request (self, "POST", beach_transport_hints_get_actions_ack_path (self->hints),
                               self->session_token, body, NULL, on_ack_reply, GUINT_TO_POINTER (n), NULL);
}

void
_beach_harness_acks_push (BeachHarness *self, BeachActionAck *ack)
{
  g_ptr_array_add (self->ack_queue, g_object_ref (ack));
  _beach_harness_acks_flush (self);
}
