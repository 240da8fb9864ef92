/* beach-http-fastpath.c: fast-path signalling routes
 *
 * WIRE.md "Fast-path signalling": the harness offers, the manager answers
 * at once with the candidates gathered so far; trickle is optional both
 * ways.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-http-fastpath"

#include "config.h"

#include "beach-http-api-private.h"
#include "beach-json-private.h"

/* SDP text is bounded: a data-channel offer is a few KiB. */
#define MAX_SDP_BYTES (64 * 1024)

/* {sdp, type:"offer", handshake_id?} */
gboolean
beach_http_parse_offer_body (JsonNode *node, BeachOfferBody *out, GError **error)
{
  JsonObject *obj = beach_json_require_object (node, "body", error);
  const gchar *type = NULL;

  if (obj == NULL || !beach_json_get_string (obj, "sdp", "sdp", TRUE, MAX_SDP_BYTES, &out->sdp, error) || !beach_json_get_string (obj, "type", "type", TRUE, 16, &type, error) || !beach_json_get_string (obj, "handshake_id", "handshake_id", FALSE, 128, &out->handshake_id, error))
    return FALSE;
  if (!g_str_equal (type, "offer")) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“type”: expected offer, got “%s”", type);
    return FALSE;
  }
  return TRUE;
}

/* {candidate, sdp_mid?, sdp_mline_index?, link_id?} */
gboolean
beach_http_parse_ice_body (JsonNode *node, BeachIceBody *out, GError **error)
{
  JsonObject *obj = beach_json_require_object (node, "body", error);
  gint64 mline = 0;

  if (obj == NULL || !beach_json_get_string (obj, "candidate", "candidate", TRUE, 4096, &out->candidate, error) || !beach_json_get_string (obj, "sdp_mid", "sdp_mid", FALSE, 64, &out->sdp_mid, error) || !beach_json_get_int (obj, "sdp_mline_index", "sdp_mline_index", FALSE, 0, 64, &mline, NULL, error) || !beach_json_get_string (obj, "link_id", "link_id", FALSE, 128, &out->link_id, error))
    return FALSE;
  out->sdp_mline_index = (guint) mline;
  return TRUE;
}

static void
offer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRequest) req = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *link_id = NULL;
  g_autofree gchar *sdp = beach_fast_path_offer_finish (BEACH_FAST_PATH (source), result, &link_id, &error);
  g_autoptr (JsonObject) obj = NULL;
  g_autoptr (JsonNode) out = NULL;

  if (sdp == NULL) {
    beach_http_respond_error (req->msg, error);
  } else {
    obj = json_object_new ();
    json_object_set_string_member (obj, "sdp", sdp);
    json_object_set_string_member (obj, "type", "answer");
    json_object_set_string_member (obj, "link_id", link_id);
    out = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (out, obj);
    beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
  }
  soup_server_message_unpause (req->msg);
}

/* {sdp, type:"offer", handshake_id?} */
void
beach_http_handle_offer (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, FALSE, &error);
  BeachOfferBody ob = { 0 };

  if (body == NULL || !beach_http_parse_offer_body (body, &ob, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  if (req->session->transport_mode == BEACH_TRANSPORT_MODE_HTTP_FALLBACK) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_HTTP_FALLBACK_MODE,
                                  "session %s is in http_fallback mode: it has no fast path",
                                  req->session->session_id);
    return;
  }
  soup_server_message_pause (req->msg);
  {
    /* Read before the steal: argument order is unspecified. */
    BeachFastPath *fast_path = req->api->fast_path;
    BeachSession *session = req->session;

    beach_fast_path_offer_async (fast_path, session, ob.sdp, NULL, offer_cb, g_steal_pointer (&req));
  }
}

/* POST {candidate, sdp_mid?, sdp_mline_index?, link_id?} */
void
beach_http_handle_ice_post (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) body = beach_http_parse_body (req, FALSE, &error);
  BeachIceBody ib = { 0 };

  if (body == NULL || !beach_http_parse_ice_body (body, &ib, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  /* An empty candidate is the end-of-candidates marker: nothing to add. */
  if (*ib.candidate != '\0' && !beach_fast_path_add_remote_candidate (req->api->fast_path, req->session, ib.link_id, ib.candidate, ib.sdp_mline_index, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  beach_http_respond_text (req->msg, SOUP_STATUS_OK, "application/json", "{\"ok\":true}");
}

/* GET ?link_id=&since=N */
void
beach_http_handle_ice_get (BeachRequest *req_)
{
  g_autoptr (BeachRequest) req = req_;
  g_autoptr (GError) error = NULL;
  const gchar *link_id = req->query != NULL ? g_hash_table_lookup (req->query, "link_id") : NULL;
  guint64 since = 0;
  guint next = 0;
  gboolean complete = FALSE;
  g_autoptr (JsonNode) candidates = NULL;
  g_autoptr (JsonObject) obj = NULL;
  g_autoptr (JsonNode) out = NULL;

  if (link_id != NULL && *link_id == '\0')
    link_id = NULL;
  if (!beach_query_get_uint (req->query, "since", 0, G_MAXUINT, 0, "a candidate index", &since, &error)) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  candidates = beach_fast_path_get_local_candidates (req->api->fast_path, req->session, link_id,
                                                     (guint) since, &next, &complete, &error);
  if (candidates == NULL) {
    beach_http_respond_error (req->msg, error);
    return;
  }
  obj = json_object_new ();
  json_object_set_member (obj, "candidates", g_steal_pointer (&candidates));
  json_object_set_int_member (obj, "next", next);
  json_object_set_boolean_member (obj, "complete", complete);
  out = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (out, obj);
  beach_http_respond_json (req->msg, SOUP_STATUS_OK, out);
}
