/* beach-http-sessions.c: session, lease, state, health, events routes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-http-sessions"

#include "config.h"

#include "beach-http-api-private.h"
#include "beach-json-private.h"
#ifdef BEACH_REDIS_BACKEND
#include "beach-session-store.h"
#endif

/* Takes ownership of req: handlers always do. */

static void
respond_ok (BeachRequest *req, const gchar *member, gboolean value)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_boolean_member (obj, member, value);
  json_node_set_object (node, obj);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, node);
}

typedef struct {
  BeachRequest *req;
  BeachRegistration *reg;
  GError *error; /* the body's, when it did not parse */
} RegisterCtx;

static void
register_ctx_free (RegisterCtx *ctx)
{
  beach_request_free (ctx->req);
  g_clear_pointer (&ctx->reg, beach_registration_free);
  g_clear_error (&ctx->error);
  g_free (ctx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RegisterCtx, register_ctx_free)

static void
register_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (RegisterCtx) ctx = user_data;
  BeachRequest *req = ctx->req;
  BeachHttpApi *api = req->api;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachSession) session = NULL;
  g_autoptr (BeachTransportHints) hints = NULL;
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) out = NULL;
  g_autofree gchar *session_token = NULL;
  gboolean created = FALSE;

  session = beach_router_register_finish (BEACH_ROUTER (source), result, &created, &error);
  if (session == NULL) {
    beach_http_respond_error (req->msg, error);
    soup_server_message_unpause (req->msg);
    return;
  }
  g_message ("session %s %s (%s, %s)", session->session_id,
             created ? "registered" : "re-registered",
             beach_harness_type_to_string (session->harness_type),
             beach_transport_mode_to_string (session->transport_mode));
  if (req->auth == BEACH_AUTH_SESSION)
    beach_router_note_activity (api->router, session);

  session_token = beach_auth_session_token (api->auth, session->session_id);
  hints = beach_transport_hints_new_for_session (
    session->session_id, session->transport_mode == BEACH_TRANSPORT_MODE_FAST_PATH);
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "harness_id");
  json_builder_add_string_value (b, session->harness_id);
  json_builder_set_member_name (b, "session_token");
  json_builder_add_string_value (b, session_token);
  json_builder_set_member_name (b, "handshake_id");
  json_builder_add_string_value (b, session->handshake_id);
  json_builder_set_member_name (b, "lease_ttl_ms");
  json_builder_add_int_value (b, api->config->lease_default_ttl_ms);
  json_builder_set_member_name (b, "transport_hints");
  json_builder_add_value (b, beach_transport_hints_to_json (hints));
  json_builder_set_member_name (b, "controller_token");
  json_builder_add_null_value (b);
  json_builder_end_object (b);
  out = json_builder_get_root (b);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
  soup_server_message_unpause (req->msg);
}

/* After the body (and, for a session token, the stored session) is known:
 * the WIRE.md checks, then the registration itself. */
static void
register_checked (RegisterCtx *ctx_)
{
  g_autoptr (RegisterCtx) ctx = ctx_;
  BeachRequest *req = ctx->req;
  BeachHttpApi *api = req->api;
  g_autofree gchar *session_token = NULL;
  const BeachRegistration *reg;

  if (req->auth == BEACH_AUTH_SESSION) {
    /* A session token re-registers only its own, registered session. A
     * token we cannot attribute to the body's session is unknown: 401. */
    gboolean known = beach_session_registry_lookup_session_token (api->registry, req->token) != NULL;

    if (ctx->reg == NULL) {
      if (known)
        beach_http_respond_error (req->msg, ctx->error);
      else
        beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAUTHORIZED, "unknown token");
      soup_server_message_unpause (req->msg);
      return;
    }
    if (!beach_auth_verify_session_token (api->auth, ctx->reg->session_id, req->token)) {
      if (known)
        beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                      "this session token belongs to another session");
      else
        beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAUTHORIZED, "unknown token");
      soup_server_message_unpause (req->msg);
      return;
    }
    if (beach_session_registry_lookup (api->registry, ctx->reg->session_id) == NULL) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                    "session %s is not registered; register it with the operator token",
                                    ctx->reg->session_id);
      soup_server_message_unpause (req->msg);
      return;
    }
  }
  if (ctx->reg == NULL) {
    beach_http_respond_error (req->msg, ctx->error);
    soup_server_message_unpause (req->msg);
    return;
  }
  if (!beach_fallback_queue_is_available (api->queue)) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAVAILABLE,
                                  "the %s queue backend is not answering",
                                  beach_fallback_queue_get_backend_name (api->queue));
    soup_server_message_unpause (req->msg);
    return;
  }
  session_token = beach_auth_session_token (api->auth, ctx->reg->session_id);
  reg = ctx->reg; /* read before the steal: argument order is unspecified */
  beach_router_register_async (api->router, reg, session_token, register_done_cb,
                               g_steal_pointer (&ctx));
}

static void
register_synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachSession) session = beach_router_sync_session_finish (BEACH_ROUTER (source), result, NULL);

  register_checked (user_data);
}

void
beach_http_handle_register (BeachRequest *req)
{
  RegisterCtx *ctx = g_new0 (RegisterCtx, 1);
  g_autoptr (JsonNode) body = NULL;

  ctx->req = req;
  body = beach_http_parse_body (req, FALSE, &ctx->error);
  if (body != NULL)
    ctx->reg = beach_registration_parse (body, &ctx->error);
  soup_server_message_pause (req->msg);
  if (req->auth == BEACH_AUTH_SESSION && ctx->reg != NULL && beach_router_has_store (req->api->router)) {
    beach_router_sync_session_async (req->api->router, ctx->reg->session_id, register_synced_cb, ctx);
    return;
  }
  register_checked (ctx);
}

static void
respond_session_list (BeachRequest *req)
{
  g_autoptr (GPtrArray) list = beach_session_registry_list (req->api->registry);
  g_autoptr (JsonArray) array = json_array_new ();
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  gint64 now = beach_http_now_ms ();

  for (guint i = 0; i < list->len; i++)
    json_array_add_element (array, beach_session_to_json (list->pdata[i], now));
  json_object_set_array_member (obj, "sessions", g_steal_pointer (&array));
  json_node_set_object (node, obj);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, node);
}

#ifdef BEACH_REDIS_BACKEND
typedef struct {
  BeachRequest *req;
  guint left;
} ListCtx;

static void
list_synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ListCtx *ctx = user_data;
  g_autoptr (BeachSession) session = beach_router_sync_session_finish (BEACH_ROUTER (source), result, NULL);

  if (--ctx->left > 0)
    return;
  respond_session_list (ctx->req);
  soup_server_message_unpause (ctx->req->msg);
  beach_request_free (ctx->req);
  g_free (ctx);
}

static void
list_ids_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BeachRequest *req = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ids = beach_session_store_list_finish (BEACH_SESSION_STORE (source), result, &error);
  ListCtx *ctx;

  if (ids == NULL || ids[0] == NULL) {
    if (error != NULL)
      beach_http_respond_error (req->msg, error);
    else
      respond_session_list (req);
    soup_server_message_unpause (req->msg);
    beach_request_free (req);
    return;
  }
  ctx = g_new0 (ListCtx, 1);
  ctx->req = req;
  ctx->left = g_strv_length (ids);
  for (guint i = 0; ids[i] != NULL; i++)
    beach_router_sync_session_async (req->api->router, ids[i], list_synced_cb, ctx);
}
#endif

void
beach_http_handle_list_sessions (BeachRequest *req)
{
#ifdef BEACH_REDIS_BACKEND
  BeachSessionStore *store = beach_router_get_store (req->api->router);

  if (store != NULL) {
    soup_server_message_pause (req->msg);
    beach_session_store_list_async (store, list_ids_cb, req);
    return;
  }
#endif
  respond_session_list (req);
  beach_request_free (req);
}

void
beach_http_handle_get_session (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (JsonNode) node = beach_session_to_json (req->session, beach_http_now_ms ());

  beach_http_respond_json (req->msg, SOUP_STATUS_OK, node);
}

static void
delete_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRequest) req = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_router_delete_session_finish (BEACH_ROUTER (source), result, &error))
    beach_http_respond_error (req->msg, error);
  else
    respond_ok (req, "deleted", TRUE);
  soup_server_message_unpause (req->msg);
}

void
beach_http_handle_delete_session (BeachRequest *req)
{
  soup_server_message_pause (req->msg);
  beach_router_delete_session_async (req->api->router, req->session,
                                     BEACH_DEAD_LETTER_REASON_SESSION_DELETED, delete_cb, req);
}

/* {ttl_ms?, reason?, controller_token?}: the one parser of lease bodies. */
gboolean
beach_http_parse_lease_body (JsonNode *node, BeachLeaseBody *out, GError **error)
{
  JsonObject *obj = beach_json_require_object (node, "body", error);
  gboolean has_ttl = FALSE;

  out->ttl_ms = -1;
  if (obj == NULL || !beach_json_get_int (obj, "ttl_ms", "ttl_ms", FALSE, 1000, 86400000, &out->ttl_ms, &has_ttl, error) || !beach_json_get_string (obj, "reason", "reason", FALSE, 256, &out->reason, error) || !beach_json_get_string (obj, "controller_token", "controller_token", FALSE, 256, &out->controller_token, error))
    return FALSE;
  if (!has_ttl)
    out->ttl_ms = -1;
  return TRUE;
}

static void
respond_lease (BeachRequest *req, BeachLease *lease)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (obj, "controller_token", lease->token);
  json_object_set_int_member (obj, "expires_at_ms", lease->expires_at_ms);
  json_object_set_int_member (obj, "ttl_ms", lease->ttl_ms);
  json_node_set_object (node, obj);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, node);
}

/* Which lease a lease route acts on: the bearer's own, or (operator) the
 * one named in the body. NULL with a response sent when not allowed. */
static BeachLease *
resolve_named_lease (BeachRequest *req, const gchar *named, gboolean required)
{
  BeachLease *lease;

  if (req->auth == BEACH_AUTH_LEASE) {
    if (named != NULL && g_strcmp0 (named, req->token) != 0) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                    "a lease may act only on itself");
      return NULL;
    }
    return req->lease;
  }
  if (named == NULL) {
    if (required)
      beach_http_respond_new_error (req->msg, BEACH_ERROR_MISSING_FIELD,
                                    "“controller_token”: required field is missing");
    return NULL;
  }
  lease = beach_session_lookup_lease (req->session, named);
  if (lease == NULL)
    beach_http_respond_new_error (req->msg, BEACH_ERROR_MISSING_LEASE,
                                  "no lease %s on session %s", named, req->session->session_id);
  return lease;
}

/* A lease change waiting to be made durable; undone in the cache when the
 * store refuses it, so the controller's 503 means nothing changed. */
typedef struct {
  BeachRequest *req;
  BeachLease *lease; /* owned by the session */
  gboolean granted;
  gint64 old_expires_at_ms;
  guint old_ttl_ms;
  gboolean old_released;
  const gchar *answer; /* "lease" or "released" */
} LeaseCtx;

static void
lease_persisted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LeaseCtx *ctx = user_data;
  g_autoptr (BeachRequest) req = ctx->req;
  g_autoptr (GError) error = NULL;

  if (!beach_router_persist_lease_finish (BEACH_ROUTER (source), result, &error)) {
    if (ctx->granted) {
      beach_session_forget_lease (req->session, ctx->lease->token);
    } else {
      ctx->lease->expires_at_ms = ctx->old_expires_at_ms;
      ctx->lease->ttl_ms = ctx->old_ttl_ms;
      ctx->lease->released = ctx->old_released;
    }
    beach_http_respond_error (req->msg, error);
  } else if (g_str_equal (ctx->answer, "released")) {
    respond_ok (req, "released", TRUE);
  } else {
    respond_lease (req, ctx->lease);
  }
  soup_server_message_unpause (req->msg);
  g_free (ctx);
}

static void
persist_lease (BeachRequest *req, BeachLease *lease, gboolean granted, gint64 old_expires, guint old_ttl, gboolean old_released, const gchar *answer)
{
  LeaseCtx *ctx = g_new0 (LeaseCtx, 1);

  ctx->req = req;
  ctx->lease = lease;
  ctx->granted = granted;
  ctx->old_expires_at_ms = old_expires;
  ctx->old_ttl_ms = old_ttl;
  ctx->old_released = old_released;
  ctx->answer = answer;
  soup_server_message_pause (req->msg);
  beach_router_persist_lease_async (req->api->router, req->session, lease, lease_persisted_cb, ctx);
}

void
beach_http_handle_lease_acquire (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  BeachHttpApi *api = req->api;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, TRUE, &error);
  BeachLeaseBody lb = { 0 };
  BeachLease *lease;
  gint64 now = beach_http_now_ms ();
  gint64 old_expires;
  guint old_ttl;

  if (body == NULL || !beach_http_parse_lease_body (body, &lb, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  if (!beach_fallback_queue_is_available (api->queue)) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAVAILABLE,
                                  "the %s queue backend is not answering",
                                  beach_fallback_queue_get_backend_name (api->queue));
    return;
  }
  if (req->auth == BEACH_AUTH_LEASE || lb.controller_token != NULL) {
    lease = resolve_named_lease (req, lb.controller_token, FALSE);
    if (lease == NULL)
      return;
    if (!beach_session_lease_is_live (lease, now)) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_MISSING_LEASE,
                                    "the lease has expired or was released");
      return;
    }
    old_expires = lease->expires_at_ms;
    old_ttl = lease->ttl_ms;
    beach_session_renew_lease (req->session, lease,
                               lb.ttl_ms >= 0 ? (guint) lb.ttl_ms : lease->ttl_ms, now);
    persist_lease (g_steal_pointer (&req), lease, FALSE, old_expires, old_ttl, FALSE, "lease");
    return;
  }
  lease = beach_session_grant_lease (req->session,
                                     lb.ttl_ms >= 0 ? (guint) lb.ttl_ms : api->config->lease_default_ttl_ms,
                                     lb.reason, TRUE, now);
  persist_lease (g_steal_pointer (&req), lease, TRUE, 0, 0, FALSE, "lease");
}

void
beach_http_handle_lease_release (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, TRUE, &error);
  BeachLeaseBody lb = { 0 };
  BeachLease *lease;

  if (body == NULL || !beach_http_parse_lease_body (body, &lb, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  lease = resolve_named_lease (req, lb.controller_token, TRUE);
  if (lease == NULL)
    return;
  if (!beach_session_lease_is_live (lease, beach_http_now_ms ())) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_MISSING_LEASE,
                                  "the lease has expired or was released");
    return;
  }
  beach_session_release_lease (req->session, lease);
  persist_lease (g_steal_pointer (&req), lease, FALSE, lease->expires_at_ms, lease->ttl_ms, FALSE,
                 "released");
}

void
beach_http_handle_state_post (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, FALSE, &error);
  g_autoptr (BeachStateDiff) diff = NULL;
  g_autoptr (JsonObject) ev = NULL;
  g_autoptr (JsonNode) stored = NULL;

  if (body != NULL)
    diff = beach_state_diff_new_from_json (body, &error);
  if (diff == NULL) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  /* Latest by arrival. Stored in its wire form. */
  stored = beach_state_diff_to_json (diff);
  beach_session_set_state (req->session, stored);
  ev = json_object_new ();
  json_object_set_string_member (ev, "session_id", req->session->session_id);
  json_object_set_int_member (ev, "sequence", (gint64) beach_state_diff_get_sequence (diff));
  beach_event_hub_publish (req->api->events, req->session->session_id, "state", ev);
  respond_ok (req, "ok", TRUE);
}

void
beach_http_handle_state_get (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;

  if (req->session->last_state != NULL) {
    beach_http_respond_json (req->msg, SOUP_STATUS_OK, req->session->last_state);
  } else {
    beach_http_respond_text (req->msg, SOUP_STATUS_OK, "application/json", "null");
  }
}

void
beach_http_handle_health_post (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, FALSE, &error);
  g_autoptr (BeachHealth) health = NULL;
  BeachSession *s = req->session;

  if (body != NULL)
    health = beach_health_new_from_json (body, &error);
  if (health == NULL) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  beach_session_set_health (s, json_node_get_object (body), beach_http_now_ms ());
  if (beach_health_has_fast_path (health))
    beach_metrics_set_harness_state (req->api->metrics, s->private_beach_id, s->session_id,
                                     beach_health_get_fast_path_state (health));
  respond_ok (req, "ok", TRUE);
}

static void
dead_letters_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRequest) req = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) letters = beach_fallback_queue_dead_letters_finish (
    BEACH_FALLBACK_QUEUE (source), result, &error);
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) out = NULL;

  if (letters == NULL) {
    beach_http_respond_error (req->msg, error);
    soup_server_message_unpause (req->msg);
    return;
  }
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "entries");
  json_builder_begin_array (b);
  for (guint i = 0; i < letters->len; i++) {
    BeachDeadLetter *l = letters->pdata[i];

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_string_value (b, l->id);
    json_builder_set_member_name (b, "action");
    json_builder_add_value (b, beach_action_to_json (l->action));
    json_builder_set_member_name (b, "reason");
    json_builder_add_string_value (b, beach_dead_letter_reason_to_string (l->reason));
    json_builder_set_member_name (b, "at_ms");
    json_builder_add_int_value (b, l->at_ms);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  out = json_builder_get_root (b);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
  soup_server_message_unpause (req->msg);
}

void
beach_http_handle_dead_letters (BeachRequest *req)
{
  g_autoptr (GError) error = NULL;
  guint64 since = 0;

  if (!beach_query_get_uint (req->query, "since", 0, G_MAXINT64, 0, "epoch milliseconds", &since, &error)) {
    beach_http_respond_error (req->msg, error);
    beach_request_free (req);
    return;
  }
  soup_server_message_pause (req->msg);
  beach_fallback_queue_dead_letters_async (req->api->queue, req->session->private_beach_id,
                                           req->session->session_id, (gint64) since, NULL,
                                           dead_letters_cb, req);
}

void
beach_http_handle_events (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;

  beach_event_hub_add_subscriber (req->api->events, req->msg,
                                  req->session != NULL ? req->session->session_id : NULL);
}
