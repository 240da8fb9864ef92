/* beach-http-api.c: the SoupServer, route table, authentication and errors
 *
 * Handlers only parse, authenticate and call into the router and registry.
 * Checks run in the WIRE.md order: 405 for a known path with a wrong
 * method, then 401 → 403 → 404 here, then the handler's body checks
 * (413/400), then state checks (409/412/429/503).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-http-api"

#include "config.h"

#include <netinet/in.h>

#include "beach-http-api-private.h"
#include "beach-json-private.h"
#include "beach-manager-util.h"

#define ROUTE_KEY      "beach-route"
#define LISTEN_BACKLOG 1024

typedef struct _BeachRoute {
  const gchar *method;
  const gchar *pattern; /* segments; ":id" matches one */
  guint auth;           /* BeachAuthKind mask */
  BeachRouteHandler handler;
} BeachRoute;

static const BeachRoute routes[] = {
  { "POST", "/sessions/register", BEACH_AUTH_OPERATOR | BEACH_AUTH_SESSION, beach_http_handle_register },
  { "GET", "/sessions", BEACH_AUTH_OPERATOR, beach_http_handle_list_sessions },
  { "GET", "/sessions/:id", BEACH_AUTH_OPERATOR, beach_http_handle_get_session },
  { "DELETE", "/sessions/:id", BEACH_AUTH_OPERATOR, beach_http_handle_delete_session },
  { "POST", "/sessions/:id/controller/lease", BEACH_AUTH_OPERATOR | BEACH_AUTH_LEASE, beach_http_handle_lease_acquire },
  { "DELETE", "/sessions/:id/controller/lease", BEACH_AUTH_OPERATOR | BEACH_AUTH_LEASE, beach_http_handle_lease_release },
  { "POST", "/sessions/:id/controller-handshake", BEACH_AUTH_OPERATOR | BEACH_AUTH_LEASE, beach_http_handle_handshake },
  { "POST", "/sessions/:id/controller-handshake/renew", BEACH_AUTH_LEASE, beach_http_handle_handshake_renew },
  { "POST", "/sessions/:id/actions", BEACH_AUTH_LEASE, beach_http_handle_actions },
  { "GET", "/sessions/:id/actions/poll", BEACH_AUTH_SESSION, beach_http_handle_poll },
  { "GET", "/sessions/:id/actions/pending", BEACH_AUTH_SESSION, beach_http_handle_pending },
  { "POST", "/sessions/:id/actions/ack", BEACH_AUTH_SESSION, beach_http_handle_ack },
  { "POST", "/sessions/:id/state", BEACH_AUTH_SESSION, beach_http_handle_state_post },
  { "GET", "/sessions/:id/state", BEACH_AUTH_OPERATOR | BEACH_AUTH_LEASE, beach_http_handle_state_get },
  { "POST", "/sessions/:id/health", BEACH_AUTH_SESSION, beach_http_handle_health_post },
  { "GET", "/sessions/:id/events", BEACH_AUTH_OPERATOR | BEACH_AUTH_LEASE, beach_http_handle_events },
  { "GET", "/sessions/:id/dead-letters", BEACH_AUTH_OPERATOR | BEACH_AUTH_LEASE, beach_http_handle_dead_letters },
  { "GET", "/events", BEACH_AUTH_OPERATOR, beach_http_handle_events },
  { "POST", "/fastpath/sessions/:id/webrtc/offer", BEACH_AUTH_SESSION, beach_http_handle_offer },
  { "POST", "/fastpath/sessions/:id/webrtc/ice", BEACH_AUTH_SESSION, beach_http_handle_ice_post },
  { "GET", "/fastpath/sessions/:id/webrtc/ice", BEACH_AUTH_SESSION, beach_http_handle_ice_get },
};

/* Answered by dispatch() itself: GET only, no token. */
static const gchar *const public_paths[] = { "/healthz", "/readyz", "/metrics" };

G_DEFINE_FINAL_TYPE (BeachHttpApi, beach_http_api, G_TYPE_OBJECT)

static gboolean
is_public_path (const gchar *path)
{
  for (guint i = 0; i < G_N_ELEMENTS (public_paths); i++) {
    if (g_str_equal (path, public_paths[i]))
      return TRUE;
  }
  return FALSE;
}

/* Every route the server answers, "METHOD PATTERN" (":id" for an id), from
 * the tables dispatch() uses: beach-manager --list-routes prints them and
 * tests/test-openapi.py compares them with data/openapi.yaml. */
GStrv
beach_http_api_list_routes (void)
{
  GStrv out = g_new0 (gchar *, G_N_ELEMENTS (public_paths) + G_N_ELEMENTS (routes) + 1);
  guint n = 0;

  for (guint i = 0; i < G_N_ELEMENTS (public_paths); i++)
    out[n++] = g_strdup_printf ("GET %s", public_paths[i]);
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    out[n++] = g_strdup_printf ("%s %s", routes[i].method, routes[i].pattern);
  return out;
}

gint64
beach_http_now_ms (void)
{
  return g_get_real_time () / 1000;
}

void
beach_request_free (BeachRequest *req)
{
  if (req == NULL)
    return;
  g_clear_pointer (&req->query, g_hash_table_unref);
  g_free (req->path_id);
  g_free (req->token);
  g_clear_object (&req->session);
  g_clear_object (&req->msg);
  g_clear_object (&req->api);
  g_free (req);
}

void
beach_http_respond_text (SoupServerMessage *msg, guint status, const gchar *content_type, const gchar *body)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, body,
                                    strlen (body));
}

void
beach_http_respond_json (SoupServerMessage *msg, guint status, JsonNode *body)
{
  g_autofree gchar *text = json_to_string (body, FALSE);

  beach_http_respond_text (msg, status, "application/json", text);
}

void
beach_http_respond_error (SoupServerMessage *msg, const GError *error)
{
  BeachError code = error->domain == BEACH_ERROR ? (BeachError) error->code : BEACH_ERROR_FAILED;
  g_autofree gchar *body = beach_error_envelope_to_string (code, error->message);

  if (code == BEACH_ERROR_FAILED)
    g_warning ("internal error answered as 500: %s", error->message);
  beach_http_respond_text (msg, beach_error_to_http_status (code), "application/json", body);
}

void
beach_http_respond_new_error (SoupServerMessage *msg, BeachError code, const gchar *format, ...)
{
  g_autoptr (GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (BEACH_ERROR, code, format, args);
  va_end (args);
  beach_http_respond_error (msg, error);
}

/* The body as JSON. The size limit was checked before the body was read
 * (early handler) for declared lengths, and is checked again here. */
JsonNode *
beach_http_parse_body (BeachRequest *req, gboolean empty_is_object, GError **error)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  g_autoptr (GBytes) bytes = soup_message_body_flatten (body);
  gsize len = 0;
  const gchar *data = g_bytes_get_data (bytes, &len);

  if (len > req->api->config->body_bytes) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                 "body of %" G_GSIZE_FORMAT " bytes is over the limit of %u", len,
                 req->api->config->body_bytes);
    return NULL;
  }
  if (len == 0 || (data != NULL && strspn (data, " \t\r\n") == len)) {
    if (empty_is_object)
      return json_from_string ("{}", NULL);
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED, "the body is empty");
    return NULL;
  }
  return beach_json_from_string (data, (gssize) len, error);
}

/* Bearer header first, then ?access_token=. */
static gchar *
extract_token (SoupServerMessage *msg, GHashTable *query)
{
  const gchar *header = soup_message_headers_get_one (
    soup_server_message_get_request_headers (msg), "Authorization");

  if (header != NULL && g_ascii_strncasecmp (header, "Bearer ", 7) == 0) {
    g_autofree gchar *t = g_strstrip (g_strdup (header + 7));

    return *t != '\0' ? g_steal_pointer (&t) : NULL;
  }
  if (query != NULL) {
    const gchar *t = g_hash_table_lookup (query, "access_token");

    if (t != NULL && *t != '\0')
      return g_strdup (t);
  }
  return NULL;
}

/* Matches path against pattern; fills *id for ":id". */
static gboolean
match_pattern (const gchar *pattern, gchar **segs, gchar **id)
{
  g_auto (GStrv) pat = g_strsplit (pattern + 1, "/", -1);
  guint n = g_strv_length (segs);

  if (g_strv_length (pat) != n)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (g_str_equal (pat[i], ":id")) {
      if (*segs[i] == '\0')
        return FALSE;
      continue;
    }
    if (!g_str_equal (pat[i], segs[i]))
      return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    if (g_str_equal (pat[i], ":id"))
      *id = g_uri_unescape_string (segs[i], NULL);
  }
  return TRUE;
}

static void
add_cors_headers (BeachHttpApi *self, SoupServerMessage *msg, gboolean preflight)
{
  SoupMessageHeaders *req_h = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp_h = soup_server_message_get_response_headers (msg);
  const gchar *origin = soup_message_headers_get_one (req_h, "Origin");
  gboolean any = g_strv_contains ((const gchar *const *) self->config->cors_origins, "*");

  if (origin == NULL)
    return;
  if (!any && !g_strv_contains ((const gchar *const *) self->config->cors_origins, origin))
    return;
  soup_message_headers_replace (resp_h, "Access-Control-Allow-Origin", any ? "*" : origin);
  soup_message_headers_append (resp_h, "Vary", "Origin");
  if (preflight) {
    soup_message_headers_replace (resp_h, "Access-Control-Allow-Methods", "GET, POST, DELETE");
    soup_message_headers_replace (resp_h, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    soup_message_headers_replace (resp_h, "Access-Control-Max-Age", "600");
  }
}

/* 401 → 403 → 404 for a matched route. Returns FALSE after responding. */
static gboolean
authenticate (BeachRequest *req, const BeachRoute *route)
{
  BeachHttpApi *self = req->api;
  BeachSession *lease_session;
  BeachSession *token_session;

  if (route->auth & BEACH_AUTH_PUBLIC)
    return TRUE;
  if (req->token == NULL) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAUTHORIZED,
                                  "this route needs Authorization: Bearer TOKEN");
    return FALSE;
  }

  if (beach_auth_is_operator (self->auth, req->token)) {
    req->auth = BEACH_AUTH_OPERATOR;
  } else if ((lease_session = beach_session_registry_lookup_lease (self->registry, req->token)) != NULL) {
    req->auth = BEACH_AUTH_LEASE;
    req->lease = beach_session_lookup_lease (lease_session, req->token);
    if (req->path_id != NULL && g_strcmp0 (lease_session->session_id, req->path_id) != 0) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                    "this lease belongs to another session");
      return FALSE;
    }
  } else if (req->path_id != NULL && beach_auth_verify_session_token (self->auth, req->path_id, req->token)) {
    req->auth = BEACH_AUTH_SESSION;
  } else if ((token_session = beach_session_registry_lookup_session_token (self->registry, req->token)) != NULL) {
    req->auth = BEACH_AUTH_SESSION;
    if (req->path_id != NULL) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                    "this session token belongs to another session");
      return FALSE;
    }
  } else if (route->handler == beach_http_handle_register) {
    /* Possibly the token of a session this manager does not know (yet);
     * the handler decides between 401 and 403 once it has the body. */
    req->auth = BEACH_AUTH_SESSION;
    return TRUE;
  } else {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAUTHORIZED, "unknown token");
    return FALSE;
  }

  if ((route->auth & req->auth) == 0) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_FORBIDDEN,
                                  "%s token may not use %s %s",
                                  req->auth == BEACH_AUTH_OPERATOR ? "an operator"
                                  : req->auth == BEACH_AUTH_LEASE  ? "a lease"
                                                                   : "a session",
                                  route->method, route->pattern);
    return FALSE;
  }

  if (req->path_id != NULL) {
    if (!beach_session_id_is_valid (req->path_id) || (req->session = beach_session_registry_lookup (self->registry, req->path_id)) == NULL) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_NOT_FOUND, "no session %s",
                                    req->path_id);
      return FALSE;
    }
    g_object_ref (req->session);
    /* A dead lease reads nothing; routes with a body decide this after
     * their body checks (WIRE.md check order). */
    if (req->auth == BEACH_AUTH_LEASE && g_str_equal (route->method, "GET") && !beach_session_lease_is_live (req->lease, beach_http_now_ms ())) {
      beach_http_respond_new_error (req->msg, BEACH_ERROR_MISSING_LEASE,
                                    "the controller lease has expired or was released");
      return FALSE;
    }
    /* Activity: any request made with the session's token or a lease. */
    if (req->auth != BEACH_AUTH_OPERATOR)
      beach_router_note_activity (self->router, req->session);
  }
  return TRUE;
}

static void
authenticate_and_run (BeachRequest *req)
{
  /* With Redis, session tokens verify only once the deployment's secret
   * has been read from it. */
  if (!beach_auth_has_secret (req->api->auth)) {
    beach_http_respond_new_error (req->msg, BEACH_ERROR_UNAVAILABLE,
                                  "waiting for the token secret from the queue backend");
    beach_request_free (req);
    return;
  }
  if (!authenticate (req, req->matched)) {
    beach_request_free (req);
    return;
  }
  req->matched->handler (req);
}

static void sync_next (BeachRequest *req);

static void
synced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BeachRequest *req = user_data;
  g_autoptr (BeachSession) session = beach_router_sync_session_finish (BEACH_ROUTER (source), result, NULL);

  sync_next (req);
}

/* Syncs the path's session, then the session a lease token names. The
 * message is paused meanwhile and unpaused before the checks run. */
static void
sync_next (BeachRequest *req)
{
  gsize len = 0;
  const gchar *sid = NULL;
  g_autofree gchar *lease_sid = NULL;

  if (req->sync_step == 0) {
    req->sync_step = 1;
    if (req->path_id != NULL && beach_session_id_is_valid (req->path_id)) {
      beach_router_sync_session_async (req->api->router, req->path_id, synced_cb, req);
      return;
    }
  }
  if (req->sync_step == 1) {
    req->sync_step = 2;
    sid = beach_lease_token_session (req->token, &len);
    lease_sid = sid != NULL ? g_strndup (sid, len) : NULL;
    if (lease_sid != NULL && beach_session_id_is_valid (lease_sid) && g_strcmp0 (lease_sid, req->path_id) != 0) {
      beach_router_sync_session_async (req->api->router, lease_sid, synced_cb, req);
      return;
    }
  }
  soup_server_message_unpause (req->msg);
  authenticate_and_run (req);
}

static void
handle_public (BeachHttpApi *self, SoupServerMessage *msg, const gchar *path)
{
  if (g_str_equal (path, "/healthz")) {
    beach_http_respond_text (msg, SOUP_STATUS_OK, "application/json", "{\"status\":\"ok\"}");
  } else if (g_str_equal (path, "/readyz")) {
    if (beach_fallback_queue_is_available (self->queue) && beach_auth_has_secret (self->auth))
      beach_http_respond_text (msg, SOUP_STATUS_OK, "application/json", "{\"status\":\"ready\"}");
    else
      beach_http_respond_new_error (msg, BEACH_ERROR_UNAVAILABLE,
                                    "the %s queue backend is not answering",
                                    beach_fallback_queue_get_backend_name (self->queue));
  } else {
    g_autofree gchar *text = beach_metrics_render (self->metrics);

    beach_http_respond_text (msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", text);
  }
}

static void
dispatch (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  BeachHttpApi *self = user_data;
  const gchar *method = soup_server_message_get_method (msg);
  g_auto (GStrv) segs = g_strsplit (path + 1, "/", -1);
  const BeachRoute *matched = NULL;
  gboolean path_known = FALSE;
  g_autofree gchar *id = NULL;
  g_autoptr (BeachRequest) req = NULL;

  if (is_public_path (path)) {
    g_object_set_data (G_OBJECT (msg), ROUTE_KEY, (gpointer) path);
    if (g_str_equal (method, "OPTIONS")) {
      add_cors_headers (self, msg, TRUE);
      soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
    } else if (!g_str_equal (method, "GET")) {
      beach_http_respond_new_error (msg, BEACH_ERROR_METHOD_NOT_ALLOWED,
                                    "%s is not allowed on %s", method, path);
    } else {
      handle_public (self, msg, path);
    }
    add_cors_headers (self, msg, FALSE);
    return;
  }

  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    g_autofree gchar *route_id = NULL;

    if (!match_pattern (routes[i].pattern, segs, &route_id))
      continue;
    path_known = TRUE;
    g_object_set_data (G_OBJECT (msg), ROUTE_KEY, (gpointer) routes[i].pattern);
    if (g_str_equal (routes[i].method, method)) {
      matched = &routes[i];
      id = g_steal_pointer (&route_id);
      break;
    }
  }

  if (g_str_equal (method, "OPTIONS") && path_known) {
    add_cors_headers (self, msg, TRUE);
    soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
    return;
  }
  add_cors_headers (self, msg, FALSE);
  if (!path_known) {
    beach_http_respond_new_error (msg, BEACH_ERROR_NOT_FOUND, "no route for %s", path);
    return;
  }
  if (matched == NULL) {
    beach_http_respond_new_error (msg, BEACH_ERROR_METHOD_NOT_ALLOWED,
                                  "%s is not allowed on %s", method, path);
    return;
  }

  req = g_new0 (BeachRequest, 1);
  req->api = g_object_ref (self);
  req->msg = g_object_ref (msg);
  req->query = query != NULL ? g_hash_table_ref (query) : NULL;
  req->route = matched->pattern;
  req->path_id = g_steal_pointer (&id);
  req->token = extract_token (msg, query);
  req->matched = matched;
  /* Without the token secret (a restarted manager that has not read it
   * from Redis yet) the request is answered 503; syncing first would
   * restore sessions with tokens made from no secret. */
  if (beach_router_has_store (self->router) && req->token != NULL && beach_auth_has_secret (self->auth)) {
    /* Another manager (or this one before a restart) may hold newer
     * state: refresh the sessions this request names, then check. */
    soup_server_message_pause (msg);
    sync_next (g_steal_pointer (&req));
    return;
  }
  authenticate_and_run (g_steal_pointer (&req));
}

static void
respond_too_large (BeachHttpApi *self, SoupServerMessage *msg, goffset size)
{
  g_object_set_data (G_OBJECT (msg), ROUTE_KEY, (gpointer) "unmatched");
  add_cors_headers (self, msg, FALSE);
  if (size < 0)
    beach_http_respond_new_error (msg, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                                  "the body is over the limit of %u bytes", self->config->body_bytes);
  else
    beach_http_respond_new_error (msg, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                                  "body of %" G_GOFFSET_FORMAT " bytes is over the limit of %u",
                                  size, self->config->body_bytes);
}

/* A body with no declared length (chunked) is counted as it arrives: past
 * the limit nothing more is kept, the rest is read and dropped, and the
 * answer is 413 (soup skips the handler once a status is set). Without
 * this, soup would keep the whole body in memory, however large. */
static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, BeachHttpApi *self)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  if (soup_server_message_get_status (msg) != SOUP_STATUS_NONE || body->length <= (goffset) self->config->body_bytes)
    return;
  soup_message_body_set_accumulate (body, FALSE);
  soup_message_body_truncate (body);
  respond_too_large (self, msg, -1);
}

/* Refuse a declared oversize body before reading it. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  BeachHttpApi *self = user_data;
  goffset declared = soup_message_headers_get_content_length (
    soup_server_message_get_request_headers (msg));

  /* libsoup 3.2.x (Debian 12 ships 3.2.3) never closes a keep-alive
   * connection that the client closes while it is idle: the socket stays
   * in CLOSE_WAIT and its fd is never freed, so a daemon with busy
   * clients runs out of descriptors (fixed upstream in 3.3.0, commit
   * d20c6601 "Don't leak idle connections closed by the client"). With
   * no keep-alive there is no idle connection to lose: one TCP connect
   * per request is cheap next to that. tests/e2e checks the fd count. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");

  if (declared > (goffset) self->config->body_bytes) {
    /* soup reads the body before it answers (unless the client sent
     * "Expect: 100-continue"): drop it as it comes. */
    soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
    respond_too_large (self, msg, declared);
  } else
    g_signal_connect_object (msg, "got-chunk", G_CALLBACK (on_got_chunk), self, 0);
}

#define READ_TIMER_KEY "beach-read-timer"

static void
remove_source (gpointer id)
{
  g_source_remove (GPOINTER_TO_UINT (id));
}

/* The request was not read in time: shutting the socket down makes soup
 * fail the read, drop the message and close the connection. */
static gboolean
on_read_timeout (gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);

  g_object_steal_data (G_OBJECT (msg), READ_TIMER_KEY);
  g_debug ("closing a connection that sent no whole request in time");
  if (socket != NULL)
    g_socket_shutdown (socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
stop_read_timer (SoupServerMessage *msg)
{
  g_object_set_data (G_OBJECT (msg), READ_TIMER_KEY, NULL);
}

/* Emitted when a connection is accepted, before any byte is read (every
 * connection carries one request: "Connection: close"). libsoup 3.2 has no
 * timeout of its own: a client that never finishes its request would hold
 * its connection and fd forever ([http] request_timeout_secs). */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, BeachHttpApi *self)
{
  guint id;

  if (self->config->request_timeout_secs == 0)
    return;
  id = g_timeout_add_seconds (self->config->request_timeout_secs, on_read_timeout, msg);
  g_object_set_data_full (G_OBJECT (msg), READ_TIMER_KEY, GUINT_TO_POINTER (id), remove_source);
  g_signal_connect (msg, "got-body", G_CALLBACK (stop_read_timer), NULL);
  g_signal_connect (msg, "finished", G_CALLBACK (stop_read_timer), NULL);
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, BeachHttpApi *self)
{
  const gchar *route = g_object_get_data (G_OBJECT (msg), ROUTE_KEY);
  g_autofree gchar *code = g_strdup_printf ("%u", soup_server_message_get_status (msg));
  g_autofree gchar *labels = beach_metrics_labels ("route", route != NULL ? route : "unmatched",
                                                   "code", code, NULL);

  beach_metrics_counter_add (self->metrics, "http_requests_total", labels, 1);
}

static void
beach_http_api_dispose (GObject *object)
{
  BeachHttpApi *self = BEACH_HTTP_API (object);

  beach_http_api_shutdown (self);
  if (self->server != NULL)
    g_signal_handlers_disconnect_by_data (self->server, self);
  g_clear_object (&self->server);
  g_clear_object (&self->auth);
  g_clear_object (&self->registry);
  g_clear_object (&self->queue);
  g_clear_object (&self->router);
  g_clear_object (&self->metrics);
  g_clear_object (&self->events);
  g_clear_object (&self->fast_path);
  G_OBJECT_CLASS (beach_http_api_parent_class)->dispose (object);
}

static void
beach_http_api_finalize (GObject *object)
{
  BeachHttpApi *self = BEACH_HTTP_API (object);

  g_clear_pointer (&self->parked, g_ptr_array_unref);
  g_free (self->url);
  G_OBJECT_CLASS (beach_http_api_parent_class)->finalize (object);
}

static void
beach_http_api_class_init (BeachHttpApiClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = beach_http_api_dispose;
  G_OBJECT_CLASS (klass)->finalize = beach_http_api_finalize;
}

static void
beach_http_api_init (BeachHttpApi *self)
{
}

BeachHttpApi *
beach_http_api_new (const BeachConfig *config, BeachAuth *auth, BeachSessionRegistry *registry, BeachFallbackQueue *queue, BeachRouter *router, BeachMetrics *metrics, BeachEventHub *events)
{
  BeachHttpApi *self = g_object_new (BEACH_TYPE_HTTP_API, NULL);

  self->config = config;
  self->auth = g_object_ref (auth);
  self->registry = g_object_ref (registry);
  self->queue = g_object_ref (queue);
  self->router = g_object_ref (router);
  self->metrics = g_object_ref (metrics);
  self->events = g_object_ref (events);
  self->server = soup_server_new ("server-header", "beach-manager/" PACKAGE_VERSION, NULL);
  soup_server_add_early_handler (self->server, NULL, early_handler, self, NULL);
  soup_server_add_handler (self->server, NULL, dispatch, self, NULL);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_finished), self);
  beach_http_parked_init (self);
  return self;
}

void
beach_http_api_set_fast_path (BeachHttpApi *self, BeachFastPath *fast_path)
{
  g_set_object (&self->fast_path, fast_path);
}

/* Listens on ADDR:PORT (port 0 picks a free one) and records the URL. */
gboolean
beach_http_api_listen (BeachHttpApi *self, const gchar *address, GError **error)
{
  g_autoptr (GSocketAddress) sockaddr = NULL;
  g_autoptr (GSocket) socket = NULL;
  GSList *uris;

  sockaddr = beach_parse_listen_address (address, error);
  if (sockaddr == NULL)
    return FALSE;
  /* Our own socket, for its backlog: soup_server_listen() keeps GSocket's
   * default of 10, so a burst of connects (hosts reconnecting at once,
   * clients holding connections) waits seconds in SYN retries. */
  socket = g_socket_new (g_socket_address_get_family (sockaddr), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return FALSE;
  g_socket_set_listen_backlog (socket, LISTEN_BACKLOG);
  /* As soup does: an IPv6 address accepts IPv6 only. */
  if (g_socket_address_get_family (sockaddr) == G_SOCKET_FAMILY_IPV6 && !g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, 1, error))
    return FALSE;
  if (!g_socket_bind (socket, sockaddr, TRUE, error) || !g_socket_listen (socket, error) || !soup_server_listen_socket (self->server, socket, 0, error))
    return FALSE;
  uris = soup_server_get_uris (self->server);
  if (uris != NULL) {
    GUri *uri = uris->data;
    const gchar *host = g_uri_get_host (uri);

    g_free (self->url);
    /* soup gives IPv6 hosts without brackets; a URL needs them. */
    self->url = strchr (host, ':') != NULL
                  ? g_strdup_printf ("http://[%s]:%d", host, g_uri_get_port (uri))
                  : g_strdup_printf ("http://%s:%d", host, g_uri_get_port (uri));
  }
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return TRUE;
}

const gchar *
beach_http_api_get_url (BeachHttpApi *self)
{
  return self->url;
}

static void
shutdown_finish (GTask *task)
{
  BeachHttpApi *self = g_task_get_source_object (task);

  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_task_return_boolean (task, TRUE);
}

static gboolean
on_shutdown_timeout (gpointer user_data)
{
  GTask *task = user_data;

  g_message ("shutdown: gave up waiting for answers to reach clients");
  g_object_set_data (G_OBJECT (task), "timeout", NULL);
  shutdown_finish (task);
  return G_SOURCE_REMOVE;
}

static void
on_answered_finished (SoupServerMessage *msg, gpointer user_data)
{
  GTask *task = user_data;
  guint left = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (task), "left")) - 1;

  g_signal_handlers_disconnect_by_data (msg, task);
  g_object_set_data (G_OBJECT (task), "left", GUINT_TO_POINTER (left));
  if (left == 0 && !g_task_get_completed (task) && g_object_get_data (G_OBJECT (task), "timeout") != NULL) {
    g_source_remove (GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (task), "timeout")));
    g_object_set_data (G_OBJECT (task), "timeout", NULL);
    shutdown_finish (task);
  }
  g_object_unref (task);
}

/* Answers parked polls and ends event streams, waits (at most 2 s) until
 * those answers are written, then stops listening. */
void
beach_http_api_shutdown_async (BeachHttpApi *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr (GPtrArray) answered = NULL;

  if (self->shutting_down) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  self->shutting_down = TRUE;
  answered = beach_http_parked_shutdown (self);
  if (self->events != NULL)
    beach_event_hub_shutdown (self->events);
  if (answered->len == 0) {
    shutdown_finish (task);
    return;
  }
  g_object_set_data (G_OBJECT (task), "left", GUINT_TO_POINTER (answered->len));
  g_object_set_data (G_OBJECT (task), "timeout",
                     GUINT_TO_POINTER (g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, 2, on_shutdown_timeout,
                                                                   g_object_ref (task), g_object_unref)));
  for (guint i = 0; i < answered->len; i++)
    g_signal_connect (answered->pdata[i], "finished", G_CALLBACK (on_answered_finished),
                      g_object_ref (task));
}

gboolean
beach_http_api_shutdown_finish (BeachHttpApi *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Immediate: for dispose. */
void
beach_http_api_shutdown (BeachHttpApi *self)
{
  if (!self->shutting_down) {
    g_autoptr (GPtrArray) answered = NULL;

    self->shutting_down = TRUE;
    answered = beach_http_parked_shutdown (self);
    if (self->events != NULL)
      beach_event_hub_shutdown (self->events);
  }
  if (self->server != NULL)
    soup_server_disconnect (self->server);
}
