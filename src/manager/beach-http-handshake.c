/* beach-http-handshake.c: the controller handshake routes
 *
 * POST /sessions/:id/controller-handshake and .../renew (WIRE.md "Leases
 * and handshake"). beach_handshake_plan() decides; this file carries the
 * plan out: the lease is renewed or granted, a renegotiation's new
 * handshake id is made durable before anyone hears of it, and the answer
 * names the kind that really happened. A failure undoes both and answers
 * the error: a call never claims `refresh` when it did something else, or
 * `renegotiate` with an id that was not kept.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-http-handshake"

#include "config.h"

#include "beach-log-limiter.h"

#include "beach-fast-path.h"
#include "beach-handshake.h"
#include "beach-http-api-private.h"
#include "beach-json-private.h"
#include "beach-router.h"

#define STALE_SESSION_IDLE_SECS     60
#define VIEWER_HEALTH_INTERVAL_SECS 15

gboolean
beach_http_parse_handshake_body (JsonNode *node, BeachHandshakeBody *out, GError **error)
{
  JsonObject *obj = beach_json_require_object (node, "body", error);
  const gchar *ignored = NULL;
  gboolean has_ttl = FALSE;

  out->ttl_ms = -1;
  if (obj == NULL || !beach_json_get_string (obj, "controller_token", "controller_token", FALSE, 256, &out->controller_token, error) || !beach_json_get_string (obj, "reason", "reason", FALSE, 256, &out->reason, error) || !beach_json_get_int (obj, "ttl_ms", "ttl_ms", FALSE, 1000, 86400000, &out->ttl_ms, &has_ttl, error) ||
      /* Type-checked and otherwise ignored: there is no Beach Road here. */
      !beach_json_get_string (obj, "passcode", "passcode", FALSE, 256, &ignored, error) || !beach_json_get_string (obj, "requester_private_beach_id", "requester_private_beach_id", FALSE, 128, &ignored, error))
    return FALSE;
  if (!has_ttl)
    out->ttl_ms = -1;
  if (out->controller_token != NULL && *out->controller_token == '\0')
    out->controller_token = NULL;
  return TRUE;
}

typedef struct {
  BeachRequest *req;
  BeachHandshakePlan plan;
  BeachLease *lease; /* owned by the session */
  gboolean granted;
  gint64 old_expires_at_ms;
  guint old_ttl_ms;
  gchar *old_handshake_id; /* ISSUE: to undo */
  gint64 old_renegotiation_ms;
} HandshakeCtx;

static void
handshake_ctx_free (HandshakeCtx *ctx)
{
  g_clear_pointer (&ctx->req, beach_request_free);
  g_free (ctx->old_handshake_id);
  g_free (ctx);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HandshakeCtx, handshake_ctx_free)

static const gchar *
manager_url (BeachHttpApi *api)
{
  return api->config->public_url != NULL && *api->config->public_url != '\0' ? api->config->public_url : api->url;
}

static void
respond (HandshakeCtx *ctx)
{
  BeachRequest *req = ctx->req;
  BeachSession *session = req->session;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) out = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "private_beach_id");
  json_builder_add_string_value (b, session->private_beach_id);
  json_builder_set_member_name (b, "manager_url");
  json_builder_add_string_value (b, manager_url (req->api));
  json_builder_set_member_name (b, "controller_token");
  json_builder_add_string_value (b, ctx->lease->token);
  json_builder_set_member_name (b, "lease_expires_at_ms");
  json_builder_add_int_value (b, ctx->lease->expires_at_ms);
  json_builder_set_member_name (b, "handshake_id");
  json_builder_add_string_value (b, session->handshake_id);
  json_builder_set_member_name (b, "handshake_kind");
  json_builder_add_string_value (b, beach_handshake_kind_to_string (ctx->plan.kind));
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, beach_transport_to_string (session->transport));
  json_builder_set_member_name (b, "fast_path_webrtc");
  if (session->transport_mode == BEACH_TRANSPORT_MODE_FAST_PATH) {
    g_autoptr (BeachTransportHints) hints = beach_transport_hints_new_for_session (session->session_id, TRUE);
    g_autoptr (JsonNode) all = beach_transport_hints_to_json (hints);

    json_builder_add_value (b, json_node_ref (json_object_get_member (json_node_get_object (all),
                                                                      "fast_path_webrtc")));
  } else {
    json_builder_add_null_value (b);
  }
  json_builder_set_member_name (b, "stale_session_idle_secs");
  json_builder_add_int_value (b, STALE_SESSION_IDLE_SECS);
  json_builder_set_member_name (b, "viewer_health_interval_secs");
  json_builder_add_int_value (b, VIEWER_HEALTH_INTERVAL_SECS);
  json_builder_end_object (b);
  out = json_builder_get_root (b);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
}

/* The telemetry of a handshake that happened. */
static void
announce (HandshakeCtx *ctx)
{
  BeachHttpApi *api = ctx->req->api;
  BeachSession *session = ctx->req->session;
  const gchar *kind = beach_handshake_kind_to_string (ctx->plan.kind);
  g_autofree gchar *labels = beach_metrics_labels ("kind", kind, NULL);
  g_autoptr (JsonObject) ev = json_object_new ();

  beach_metrics_counter_add (api->metrics, "handshakes_total", labels, 1);
  json_object_set_string_member (ev, "session_id", session->session_id);
  json_object_set_string_member (ev, "kind", kind);
  json_object_set_string_member (ev, "handshake_id", session->handshake_id);
  beach_event_hub_publish (api->events, session->session_id, "handshake", ev);
  if (ctx->plan.id_op == BEACH_HANDSHAKE_ID_ISSUE) {
    beach_session_message (session->session_id, "renegotiate", "session %s: renegotiate: new handshake id %s (no healthy link)", session->session_id,
                           session->handshake_id);
    if (api->fast_path != NULL)
      beach_fast_path_status_changed (api->fast_path, session);
  } else if (ctx->plan.kind == BEACH_HANDSHAKE_KIND_RENEGOTIATE) {
    g_debug ("session %s: renegotiate: handshake id %s is already under way", session->session_id,
             session->handshake_id);
  }
}

static void
undo (HandshakeCtx *ctx)
{
  BeachSession *session = ctx->req->session;

  if (ctx->granted) {
    beach_session_forget_lease (session, ctx->lease->token);
  } else {
    ctx->lease->expires_at_ms = ctx->old_expires_at_ms;
    ctx->lease->ttl_ms = ctx->old_ttl_ms;
  }
  if (ctx->old_handshake_id != NULL) {
    beach_session_set_handshake_id (session, ctx->old_handshake_id);
    session->last_renegotiation_ms = ctx->old_renegotiation_ms;
  }
}

static void
finish (HandshakeCtx *ctx_, const GError *error)
{
  g_autoptr (HandshakeCtx) ctx = ctx_;

  if (error != NULL) {
    beach_session_warning (ctx->req->session->session_id, "handshake_failed", "session %s: handshake failed, nothing changed: %s", ctx->req->session->session_id,
                           error->message);
    undo (ctx);
    beach_http_respond_error (ctx->req->msg, error);
  } else {
    announce (ctx);
    respond (ctx);
  }
  soup_server_message_unpause (ctx->req->msg);
}

static void
lease_persisted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  beach_router_persist_lease_finish (BEACH_ROUTER (source), result, &error);
  finish (user_data, error);
}

static void
persist_lease (HandshakeCtx *ctx)
{
  beach_router_persist_lease_async (ctx->req->api->router, ctx->req->session, ctx->lease, lease_persisted_cb, ctx);
}

static void
session_persisted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HandshakeCtx *ctx = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_router_persist_session_finish (BEACH_ROUTER (source), result, &error)) {
    finish (ctx, error);
    return;
  }
  persist_lease (ctx);
}

static void
handle (BeachRequest *req_, gboolean renew_only)
{
  g_autoptr (BeachRequest) req = req_;
  BeachHttpApi *api = req->api;
  BeachSession *session = req->session;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, TRUE, &error);
  BeachHandshakeBody hb = { 0 };
  BeachHandshakeInput in = { 0 };
  HandshakeCtx *ctx;
  gint64 now = beach_http_now_ms ();

  if (body == NULL || !beach_http_parse_handshake_body (body, &hb, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  if (!beach_fallback_queue_is_available (api->queue)) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAVAILABLE, "the %s queue backend is not answering",
                                  beach_fallback_queue_get_backend_name (api->queue));
    return;
  }
  in.mode = session->transport_mode;
  in.primary_healthy = session->fast_path_ready;
  in.candidate_connecting = api->fast_path != NULL && beach_fast_path_has_candidate (api->fast_path, session);
  in.last_renegotiation_ms = session->last_renegotiation_ms;
  in.renew_only = renew_only;
  in.by_lease = req->auth == BEACH_AUTH_LEASE;
  in.bearer = req->token;
  in.named_lease = hb.controller_token;
  in.reason = hb.reason;
  in.now_ms = now;

  ctx = g_new0 (HandshakeCtx, 1);
  if (!beach_handshake_plan (session, &in, &ctx->plan, &error)) {
    g_free (ctx);
    beach_http_respond_error (req->msg, error);
    return;
  }
  if (ctx->plan.lease_op == BEACH_HANDSHAKE_LEASE_GRANT) {
    ctx->lease = beach_session_grant_lease (
      session, hb.ttl_ms >= 0 ? (guint) hb.ttl_ms : api->config->lease_default_ttl_ms,
      hb.reason != NULL ? hb.reason : BEACH_HANDSHAKE_DEFAULT_REASON, TRUE, now);
    ctx->granted = TRUE;
  } else {
    ctx->lease = ctx->plan.lease;
    ctx->old_expires_at_ms = ctx->lease->expires_at_ms;
    ctx->old_ttl_ms = ctx->lease->ttl_ms;
    beach_session_renew_lease (session, ctx->lease, hb.ttl_ms >= 0 ? (guint) hb.ttl_ms : ctx->lease->ttl_ms, now);
  }
  ctx->req = g_steal_pointer (&req);
  soup_server_message_pause (ctx->req->msg);
  if (ctx->plan.id_op == BEACH_HANDSHAKE_ID_ISSUE) {
    g_autofree gchar *id = g_uuid_string_random ();

    ctx->old_handshake_id = g_strdup (session->handshake_id);
    ctx->old_renegotiation_ms = session->last_renegotiation_ms;
    session->last_renegotiation_ms = now;
    beach_session_set_handshake_id (session, id);
    beach_router_persist_session_async (api->router, session, session_persisted_cb, ctx);
    return;
  }
  persist_lease (ctx);
}

void
beach_http_handle_handshake (BeachRequest *req)
{
  handle (req, FALSE);
}

void
beach_http_handle_handshake_renew (BeachRequest *req)
{
  handle (req, TRUE);
}
