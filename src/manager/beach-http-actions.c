/* beach-http-actions.c: actions, poll (long-poll), pending, ack
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-http-actions"

#include "config.h"

#include "beach-http-api-private.h"
#include "beach-json-private.h"

/* A poll waiting for actions. It is parked before its first read, so a
 * wake-up that lands while a read is under way is never lost: it makes the
 * poll read again. Refcounted: the parked list and each read hold one. */
typedef struct {
  BeachHttpApi *api; /* not owned: the api outlives its parked list */
  SoupServerMessage *msg;
  gchar *private_beach_id;
  gchar *session_id;
  guint max;
  gboolean wait;
  guint timeout_id;
  gulong finished_id;
  BeachTransport transport_at_park;
  gchar *handshake_at_park;
  gboolean reading;
  gboolean wake_pending;
  gboolean timed_out;
  gboolean done;
} ParkedPoll;

static void
parked_clear (ParkedPoll *pp)
{
  g_clear_object (&pp->msg);
  g_free (pp->private_beach_id);
  g_free (pp->session_id);
  g_free (pp->handshake_at_park);
}

static ParkedPoll *
parked_ref (ParkedPoll *pp)
{
  return g_rc_box_acquire (pp);
}

static void
parked_unref (ParkedPoll *pp)
{
  g_rc_box_release_full (pp, (GDestroyNotify) parked_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ParkedPoll, parked_unref)

/* Leaves the parked list; the message is left to the caller. */
static void
parked_detach (ParkedPoll *pp)
{
  pp->done = TRUE;
  g_clear_handle_id (&pp->timeout_id, g_source_remove);
  if (pp->finished_id != 0) {
    g_signal_handler_disconnect (pp->msg, pp->finished_id);
    pp->finished_id = 0;
  }
  g_ptr_array_remove (pp->api->parked, pp);
}

static void
respond_poll (ParkedPoll *pp, GPtrArray *entries)
{
  BeachSession *s = beach_session_registry_lookup (pp->api->registry, pp->session_id);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) out = NULL;
  g_autoptr (ParkedPoll) hold = parked_ref (pp);

  if (pp->done)
    return;
  if (s == NULL) {
    parked_detach (pp);
    beach_http_respond_new_error (pp->msg, BEACH_ERROR_NOT_FOUND, "session %s was deleted",
                                  pp->session_id);
    soup_server_message_unpause (pp->msg);
    return;
  }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "actions");
  json_builder_begin_array (b);
  for (guint i = 0; entries != NULL && i < entries->len; i++) {
    BeachQueueEntry *e = entries->pdata[i];

    json_builder_add_value (b, beach_action_to_json (e->action));
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, beach_transport_to_string (s->transport));
  json_builder_set_member_name (b, "fast_path_ready");
  json_builder_add_boolean_value (b, s->fast_path_ready);
  json_builder_set_member_name (b, "handshake_id");
  json_builder_add_string_value (b, s->handshake_id);
  json_builder_set_member_name (b, "pending");
  json_builder_add_int_value (b, s->pending);
  json_builder_end_object (b);
  out = json_builder_get_root (b);
  parked_detach (pp);
  beach_http_respond_json (pp->msg, SOUP_STATUS_OK, out);
  soup_server_message_unpause (pp->msg);
}

static void poll_read (ParkedPoll *pp);

static void
poll_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ParkedPoll) pp = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) entries = beach_fallback_queue_read_finish (
    BEACH_FALLBACK_QUEUE (source), result, &error);

  pp->reading = FALSE;
  if (pp->done)
    return; /* answered meanwhile (deleted, shut down, client gone) */
  if (entries == NULL) {
    g_autoptr (ParkedPoll) hold = parked_ref (pp);

    parked_detach (pp);
    beach_http_respond_error (pp->msg, error);
    soup_server_message_unpause (pp->msg);
    return;
  }
  if (entries->len > 0 || !pp->wait || pp->timed_out) {
    respond_poll (pp, entries);
    return;
  }
  if (pp->wake_pending)
    poll_read (pp);
}

static void
poll_read (ParkedPoll *pp)
{
  if (pp->reading) {
    pp->wake_pending = TRUE;
    return;
  }
  pp->reading = TRUE;
  pp->wake_pending = FALSE;
  beach_fallback_queue_read_async (pp->api->queue, pp->private_beach_id, pp->session_id,
                                   pp->session_id, pp->max, NULL, poll_read_cb,
                                   parked_ref (pp));
}

static gboolean
on_poll_timeout (gpointer user_data)
{
  ParkedPoll *pp = user_data;

  pp->timeout_id = 0;
  if (pp->reading)
    pp->timed_out = TRUE; /* answered when the read lands */
  else
    respond_poll (pp, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_poll_finished (SoupServerMessage *msg, gpointer user_data)
{
  ParkedPoll *pp = user_data;
  g_autoptr (ParkedPoll) hold = parked_ref (pp);

  /* The client went away; what a read handed out will be redelivered. */
  pp->finished_id = 0;
  g_signal_handlers_disconnect_by_data (msg, pp);
  parked_detach (pp);
}

static gboolean
parse_uint_param (BeachRequest *req, const gchar *name, guint min, guint max, guint fallback, guint *out)
{
  g_autoptr (GError) error = NULL;
  guint64 v = 0;

  if (!beach_query_get_uint (req->query, name, min, max, fallback, NULL, &v, &error)) {
    beach_http_respond_error (req->msg, error);
    return FALSE;
  }
  *out = (guint) v;
  return TRUE;
}

void
beach_http_handle_poll (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  BeachHttpApi *api = req->api;
  ParkedPoll *pp;
  guint wait_ms = 0, max = 0;

  if (!parse_uint_param (req, "wait_ms", 0, api->config->max_wait_ms, 0, &wait_ms) || !parse_uint_param (req, "max", 1, api->config->max_poll, api->config->default_poll, &max))
    return;
  if (!beach_fallback_queue_is_available (api->queue)) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAVAILABLE,
                                  "the queue backend is not answering");
    return;
  }
  pp = g_rc_box_new0 (ParkedPoll);
  pp->api = api;
  pp->msg = g_object_ref (req->msg);
  pp->private_beach_id = g_strdup (req->session->private_beach_id);
  pp->session_id = g_strdup (req->session->session_id);
  pp->max = max;
  pp->wait = wait_ms > 0;
  pp->transport_at_park = req->session->transport;
  pp->handshake_at_park = g_strdup (req->session->handshake_id);
  if (pp->wait)
    pp->timeout_id = g_timeout_add (wait_ms, on_poll_timeout, pp);
  pp->finished_id = g_signal_connect (pp->msg, "finished", G_CALLBACK (on_poll_finished), pp);
  g_ptr_array_add (api->parked, pp);
  soup_server_message_pause (req->msg);
  poll_read (pp);
}

static void
on_queue_wake (BeachFallbackQueue *queue, const gchar *p, const gchar *s, BeachHttpApi *self)
{
  g_autoptr (GPtrArray) snapshot = g_ptr_array_new_with_free_func ((GDestroyNotify) parked_unref);

  for (guint i = 0; i < self->parked->len; i++) {
    ParkedPoll *pp = self->parked->pdata[i];

    if (g_str_equal (pp->session_id, s) && g_str_equal (pp->private_beach_id, p))
      g_ptr_array_add (snapshot, parked_ref (pp));
  }
  for (guint i = 0; i < snapshot->len; i++) {
    ParkedPoll *pp = snapshot->pdata[i];

    if (!pp->done)
      poll_read (pp);
  }
}

/* Answers the session's parked polls: deleted (404), or its transport or
 * handshake id changed (an empty answer, so the host looks again). */
static void
answer_session_polls (BeachHttpApi *self, BeachSession *session, gboolean only_if_changed)
{
  g_autoptr (GPtrArray) snapshot = g_ptr_array_new_with_free_func ((GDestroyNotify) parked_unref);

  for (guint i = 0; i < self->parked->len; i++) {
    ParkedPoll *pp = self->parked->pdata[i];

    if (!g_str_equal (pp->session_id, session->session_id))
      continue;
    if (only_if_changed && pp->transport_at_park == session->transport && g_strcmp0 (pp->handshake_at_park, session->handshake_id) == 0)
      continue;
    g_ptr_array_add (snapshot, parked_ref (pp));
  }
  for (guint i = 0; i < snapshot->len; i++)
    respond_poll (snapshot->pdata[i], NULL);
}

static void
on_session_changed (BeachSession *session, BeachHttpApi *self)
{
  answer_session_polls (self, session, TRUE);
}

static void
on_session_added (BeachSessionRegistry *registry, BeachSession *session, BeachHttpApi *self)
{
  g_signal_connect_object (session, "changed", G_CALLBACK (on_session_changed), self, 0);
}

static void
on_session_removed (BeachSessionRegistry *registry, BeachSession *session, BeachHttpApi *self)
{
  g_signal_handlers_disconnect_by_data (session, self);
  answer_session_polls (self, session, FALSE);
}

void
beach_http_parked_init (BeachHttpApi *self)
{
  self->parked = g_ptr_array_new_with_free_func ((GDestroyNotify) parked_unref);
  g_signal_connect_object (self->queue, "wake", G_CALLBACK (on_queue_wake), self, 0);
  g_signal_connect_object (self->registry, "session-added", G_CALLBACK (on_session_added), self, 0);
  g_signal_connect_object (self->registry, "session-removed", G_CALLBACK (on_session_removed), self, 0);
}

/* Answers every parked poll (empty) and returns their messages. */
GPtrArray *
beach_http_parked_shutdown (BeachHttpApi *self)
{
  GPtrArray *answered = g_ptr_array_new_with_free_func (g_object_unref);

  while (self->parked != NULL && self->parked->len > 0) {
    ParkedPoll *pp = self->parked->pdata[self->parked->len - 1];

    g_ptr_array_add (answered, g_object_ref (pp->msg));
    respond_poll (pp, NULL);
    if (self->parked->len > 0 && self->parked->pdata[self->parked->len - 1] == pp)
      parked_detach (pp); /* respond_poll answered 404 or was done */
  }
  return answered;
}

/* {controller_token?, actions:[ActionCommand], fallback?}: the one parser
 * of actions bodies. */
GPtrArray *
beach_http_parse_actions_body (const BeachConfig *config, JsonNode *body, const gchar **out_token, BeachFallbackPolicy *out_policy, GError **error)
{
  JsonObject *obj = beach_json_require_object (body, "body", error);
  g_autoptr (GPtrArray) actions = g_ptr_array_new_with_free_func (g_object_unref);
  const gchar *fallback = NULL;
  JsonNode *arr_node;
  JsonArray *arr;
  guint n;

  if (obj == NULL || !beach_json_get_string (obj, "controller_token", "controller_token", FALSE, 256, out_token, error) || !beach_json_get_string (obj, "fallback", "fallback", FALSE, 0, &fallback, error))
    return NULL;
  *out_policy = BEACH_FALLBACK_POLICY_DEFAULT;
  if (g_strcmp0 (fallback, "allow") == 0) {
    *out_policy = BEACH_FALLBACK_POLICY_ALLOW;
  } else if (g_strcmp0 (fallback, "never") == 0) {
    *out_policy = BEACH_FALLBACK_POLICY_NEVER;
  } else if (fallback != NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“fallback”: expected allow or never, got “%s”", fallback);
    return NULL;
  }
  arr_node = json_object_get_member (obj, "actions");
  if (arr_node == NULL || JSON_NODE_HOLDS_NULL (arr_node)) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MISSING_FIELD,
                         "“actions”: required field is missing");
    return NULL;
  }
  if (!JSON_NODE_HOLDS_ARRAY (arr_node)) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "“actions”: expected an array");
    return NULL;
  }
  arr = json_node_get_array (arr_node);
  n = json_array_get_length (arr);
  if (n < 1 || n > config->actions_per_call) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“actions”: %u actions; a call carries 1..%u", n, config->actions_per_call);
    return NULL;
  }
  for (guint i = 0; i < n; i++) {
    BeachAction *a = beach_action_new_from_json_full (json_array_get_element (arr, i),
                                                      config->action_payload_bytes, error);

    if (a == NULL) {
      g_prefix_error (error, "actions[%u]: ", i);
      return NULL;
    }
    g_ptr_array_add (actions, a);
  }
  return g_steal_pointer (&actions);
}

static void
strv_to_builder (JsonBuilder *b, const gchar *name, GStrv strv)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (b, strv[i]);
  json_builder_end_array (b);
}

static void
actions_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRequest) req = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  BeachTransport transport = BEACH_TRANSPORT_PENDING;
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) out = NULL;

  if (!beach_router_queue_actions_finish (BEACH_ROUTER (source), result, &accepted,
                                          &duplicates, &transport, &error)) {
    beach_http_respond_error (req->msg, error);
    soup_server_message_unpause (req->msg);
    return;
  }
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "accepted");
  json_builder_add_boolean_value (b, TRUE);
  strv_to_builder (b, "accepted_ids", accepted);
  strv_to_builder (b, "duplicate_ids", duplicates);
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, beach_transport_to_string (req->session->transport));
  json_builder_end_object (b);
  out = json_builder_get_root (b);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
  soup_server_message_unpause (req->msg);
}

void
beach_http_handle_actions (BeachRequest *req)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, FALSE, &error);
  g_autoptr (GPtrArray) actions = NULL;
  const gchar *token = NULL;
  BeachFallbackPolicy policy = BEACH_FALLBACK_POLICY_DEFAULT;

  if (body != NULL)
    actions = beach_http_parse_actions_body (req->api->config, body, &token, &policy, &error);
  if (actions == NULL) {
    beach_http_respond_error (req->msg, error);
    beach_request_free (req);
    return;
  }
  if (token != NULL && g_strcmp0 (token, req->token) != 0) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                  "“controller_token” is not the bearer's lease");
    beach_request_free (req);
    return;
  }
  if (!beach_session_lease_is_live (req->lease, beach_http_now_ms ())) {
    beach_router_record_drop (req->api->router, req->session, BEACH_DROP_REASON_MISSING_LEASE,
                              actions->len);
    beach_http_respond_new_error (req->msg, BEACH_ERROR_MISSING_LEASE,
                                  "the controller lease has expired or was released");
    beach_request_free (req);
    return;
  }
  soup_server_message_pause (req->msg);
  beach_router_queue_actions_async (req->api->router, req->session, actions, policy,
                                    actions_cb, req);
}

static void
pending_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRequest) req = user_data;
  g_autoptr (GError) error = NULL;
  BeachQueueStats stats = { 0 };
  BeachSession *s = req->session;
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) out = NULL;

  if (!beach_fallback_queue_stats_finish (BEACH_FALLBACK_QUEUE (source), result, &stats, &error)) {
    beach_http_respond_error (req->msg, error);
    soup_server_message_unpause (req->msg);
    return;
  }
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "pending");
  json_builder_add_int_value (b, stats.depth);
  json_builder_set_member_name (b, "in_flight");
  json_builder_add_int_value (b, s->in_flight);
  json_builder_set_member_name (b, "fast_path_ready");
  json_builder_add_boolean_value (b, s->fast_path_ready);
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, beach_transport_to_string (s->transport));
  json_builder_set_member_name (b, "transport_mode");
  json_builder_add_string_value (b, beach_transport_mode_to_string (s->transport_mode));
  json_builder_set_member_name (b, "handshake_id");
  json_builder_add_string_value (b, s->handshake_id);
  json_builder_end_object (b);
  out = json_builder_get_root (b);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
  soup_server_message_unpause (req->msg);
}

void
beach_http_handle_pending (BeachRequest *req)
{
  soup_server_message_pause (req->msg);
  beach_fallback_queue_stats_async (req->api->queue, req->session->private_beach_id,
                                    req->session->session_id, NULL, pending_cb, req);
}

/* [ActionAck], 0..256 entries; one bad element fails the whole call. */
GPtrArray *
beach_http_parse_ack_body (JsonNode *body, GError **error)
{
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);
  JsonArray *arr;
  guint n;

  if (body == NULL || !JSON_NODE_HOLDS_ARRAY (body)) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "body: expected a JSON array of acks");
    return NULL;
  }
  arr = json_node_get_array (body);
  n = json_array_get_length (arr);
  if (n > 256) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "body: %u acks; a call carries 0..256", n);
    return NULL;
  }
  for (guint i = 0; i < n; i++) {
    BeachActionAck *ack = beach_action_ack_new_from_json (json_array_get_element (arr, i), error);

    if (ack == NULL) {
      g_prefix_error (error, "[%u]: ", i);
      return NULL;
    }
    g_ptr_array_add (acks, ack);
  }
  return g_steal_pointer (&acks);
}

static void
ack_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRequest) req = user_data;
  g_autoptr (GError) error = NULL;
  guint n = 0;
  g_autoptr (JsonObject) obj = NULL;
  g_autoptr (JsonNode) out = NULL;

  if (!beach_router_ack_finish (BEACH_ROUTER (source), result, &n, &error)) {
    beach_http_respond_error (req->msg, error);
  } else {
    obj = json_object_new ();
    json_object_set_int_member (obj, "acknowledged", n);
    out = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (out, obj);
    beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
  }
  soup_server_message_unpause (req->msg);
}

void
beach_http_handle_ack (BeachRequest *req)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, FALSE, &error);
  g_autoptr (GPtrArray) acks = NULL;

  if (body != NULL)
    acks = beach_http_parse_ack_body (body, &error);
  if (acks == NULL) {
    beach_http_respond_error (req->msg, error);
    beach_request_free (req);
    return;
  }
  soup_server_message_pause (req->msg);
  beach_router_ack_async (req->api->router, req->session, acks, ack_cb, req);
}
