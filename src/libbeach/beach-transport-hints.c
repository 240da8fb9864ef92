/* beach-transport-hints.c: where a harness finds its routes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-transport-hints"

#include "config.h"

#include "beach-error.h"
#include "beach-ids.h"
#include "beach-json-private.h"
#include "beach-transport-hints.h"

/* Limits this side sets; the contract leaves them open. */
#define CHANNEL_MAX_LEN 255
#define STATUS_MAX_LEN  64
#define URL_MAX_LEN     1024

#define DEFAULT_ACTIONS_CHANNEL "mgr-actions"
#define DEFAULT_ACKS_CHANNEL    "mgr-acks"
#define DEFAULT_STATE_CHANNEL   "mgr-state"
#define DEFAULT_STATUS          "stable"

typedef enum {
  ROUTE_ACTIONS_POLL,
  ROUTE_ACTIONS_ACK,
  ROUTE_ACTIONS_PENDING,
  ROUTE_STATE_POST,
  ROUTE_HEALTH_POST,
  N_ROUTES,
} Route;

/* The wire key of each route and its path below /sessions/ID/. */
static const struct {
  const gchar *key;
  const gchar *suffix;
} routes[N_ROUTES] = {
  { "actions_poll", "actions/poll" },
  { "actions_ack", "actions/ack" },
  { "actions_pending", "actions/pending" },
  { "state_post", "state" },
  { "health_post", "health" },
};

/**
 * BeachTransportHints:
 *
 * The `transport_hints` object a registration answers: the HTTP paths of
 * the session's routes and, for a `fast_path` session, where and how to
 * offer a WebRTC link (`fast_path_webrtc`; null for an `http_fallback`
 * session).
 *
 * `ice_servers` is kept as a flat list of URLs: each element on the wire
 * may be a URL string or an object `{urls, username?, credential?}` whose
 * `urls` is a string or an array of strings, and the parser flattens them
 * in order. `username` and `credential` are type-checked and dropped; a
 * TURN server that needs them must carry them in its URL
 * (`turn://user:pass@host:port`, as webrtcbin takes it). The serialiser
 * writes `ice_servers` as an array of URL strings.
 *
 * Parsed hints are immutable; hints built for a session can only have
 * their ICE servers set.
 */
struct _BeachTransportHints {
  GObject parent_instance;

  gchar *paths[N_ROUTES];

  gboolean fast_path;
  gchar *offer_path;
  gchar *ice_path;
  gchar *actions_channel;
  gchar *acks_channel;
  gchar *state_channel;
  gchar *status;
  GStrv ice_servers; /* never NULL */
};

G_DEFINE_FINAL_TYPE (BeachTransportHints, beach_transport_hints, G_TYPE_OBJECT)

static void
beach_transport_hints_finalize (GObject *object)
{
  BeachTransportHints *self = BEACH_TRANSPORT_HINTS (object);

  for (guint i = 0; i < N_ROUTES; i++)
    g_free (self->paths[i]);
  g_free (self->offer_path);
  g_free (self->ice_path);
  g_free (self->actions_channel);
  g_free (self->acks_channel);
  g_free (self->state_channel);
  g_free (self->status);
  g_strfreev (self->ice_servers);
  G_OBJECT_CLASS (beach_transport_hints_parent_class)->finalize (object);
}

static void
beach_transport_hints_class_init (BeachTransportHintsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_transport_hints_finalize;
}

static void
beach_transport_hints_init (BeachTransportHints *self)
{
  self->ice_servers = g_new0 (gchar *, 1);
}

static gboolean
invalid (GError **error, const gchar *path, const gchar *what)
{
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“%s”: %s", path, what);
  return FALSE;
}

/* A path string: starts with '/', at most the path limit. */
static gboolean
get_path (JsonObject *obj, const gchar *path, const gchar *key, gchar **out, GError **error)
{
  const gchar *s = NULL;

  if (!beach_json_get_string (obj, path, key, TRUE, BEACH_TRANSPORT_HINTS_PATH_MAX_LEN,
                              &s, error))
    return FALSE;
  if (s[0] != '/')
    return invalid (error, path, "must start with “/”");
  *out = g_strdup (s);
  return TRUE;
}

/* An optional non-empty string with a default. */
static gboolean
get_label (JsonObject *obj, const gchar *path, const gchar *key, gsize max_len, const gchar *fallback, gchar **out, GError **error)
{
  const gchar *s = NULL;

  if (obj != NULL
      && !beach_json_get_string (obj, path, key, FALSE, max_len, &s, error))
    return FALSE;
  if (s != NULL && *s == '\0')
    return invalid (error, path, "must not be empty");
  *out = g_strdup (s != NULL ? s : fallback);
  return TRUE;
}

static gboolean
add_url (GPtrArray *urls, const gchar *path, const gchar *url, GError **error)
{
  if (*url == '\0')
    return invalid (error, path, "must not be empty");
  if (strlen (url) > URL_MAX_LEN)
    return invalid (error, path, "longer than 1024 bytes");
  if (urls->len >= BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX)
    return invalid (error, path, "more than 64 ICE server URLs in all");
  g_ptr_array_add (urls, g_strdup (url));
  return TRUE;
}

/* One element of ice_servers: a URL or {urls, username?, credential?}. */
static gboolean
parse_ice_server (JsonNode *elem, const gchar *path, GPtrArray *urls, GError **error)
{
  g_autofree gchar *urls_path = beach_json_path (path, "urls");
  g_autofree gchar *user_path = beach_json_path (path, "username");
  g_autofree gchar *cred_path = beach_json_path (path, "credential");
  g_auto (GStrv) list = NULL;
  JsonObject *server;
  JsonNode *member;
  const gchar *ignored = NULL;

  if (JSON_NODE_HOLDS_VALUE (elem) && json_node_get_value_type (elem) == G_TYPE_STRING)
    return add_url (urls, path, json_node_get_string (elem), error);
  if (!JSON_NODE_HOLDS_OBJECT (elem))
    return invalid (error, path, "expected a URL string or an ICE server object");
  server = json_node_get_object (elem);
  if (!beach_json_get_string (server, user_path, "username", FALSE, URL_MAX_LEN, &ignored, error)
      || !beach_json_get_string (server, cred_path, "credential", FALSE, URL_MAX_LEN, &ignored, error))
    return FALSE;
  member = json_object_get_member (server, "urls");
  if (member != NULL && JSON_NODE_HOLDS_VALUE (member)
      && json_node_get_value_type (member) == G_TYPE_STRING)
    return add_url (urls, urls_path, json_node_get_string (member), error);
  if (member != NULL && JSON_NODE_HOLDS_OBJECT (member))
    return invalid (error, urls_path, "expected a URL string or an array of them");
  if (!beach_json_get_string_array (server, urls_path, "urls", TRUE,
                                    BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX, 0, &list, error))
    return FALSE;
  for (guint i = 0; list[i] != NULL; i++) {
    g_autofree gchar *url_path = g_strdup_printf ("%s[%u]", urls_path, i);

    if (!add_url (urls, url_path, list[i], error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
parse_ice_servers (BeachTransportHints *self, JsonObject *fp, GError **error)
{
  const gchar *path = "fast_path_webrtc.ice_servers";
  g_autoptr (GPtrArray) urls = g_ptr_array_new_null_terminated (0, g_free, TRUE);
  JsonNode *node = json_object_get_member (fp, "ice_servers");
  JsonArray *array;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)) {
    if (!JSON_NODE_HOLDS_ARRAY (node))
      return invalid (error, path, "expected an array");
    array = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (array); i++) {
      g_autofree gchar *elem_path = g_strdup_printf ("%s[%u]", path, i);

      if (!parse_ice_server (json_array_get_element (array, i), elem_path, urls, error))
        return FALSE;
    }
  }
  g_strfreev (self->ice_servers);
  self->ice_servers = (GStrv) g_ptr_array_steal (urls, NULL);
  /* An empty null-terminated GPtrArray may not have allocated pdata yet. */
  if (self->ice_servers == NULL)
    self->ice_servers = g_new0 (gchar *, 1);
  return TRUE;
}

static gboolean
parse_fast_path (BeachTransportHints *self, JsonObject *fp, GError **error)
{
  JsonObject *channels = NULL;

  if (!get_path (fp, "fast_path_webrtc.offer_path", "offer_path", &self->offer_path, error)
      || !get_path (fp, "fast_path_webrtc.ice_path", "ice_path", &self->ice_path, error)
      || !beach_json_get_object (fp, "fast_path_webrtc.channels", "channels", FALSE,
                                 &channels, error)
      || !get_label (channels, "fast_path_webrtc.channels.actions", "actions", CHANNEL_MAX_LEN,
                     DEFAULT_ACTIONS_CHANNEL, &self->actions_channel, error)
      || !get_label (channels, "fast_path_webrtc.channels.acks", "acks", CHANNEL_MAX_LEN,
                     DEFAULT_ACKS_CHANNEL, &self->acks_channel, error)
      || !get_label (channels, "fast_path_webrtc.channels.state", "state", CHANNEL_MAX_LEN,
                     DEFAULT_STATE_CHANNEL, &self->state_channel, error)
      || !parse_ice_servers (self, fp, error)
      || !get_label (fp, "fast_path_webrtc.status", "status", STATUS_MAX_LEN,
                     DEFAULT_STATUS, &self->status, error))
    return FALSE;
  self->fast_path = TRUE;
  return TRUE;
}

/**
 * beach_transport_hints_new_from_json:
 * @node: a JSON node holding a `transport_hints` object
 * @error: return location for a #GError
 *
 * The one validating parser of transport hints. The five routes
 * (`actions_poll`, `actions_ack`, `actions_pending`, `state_post`,
 * `health_post`) are required objects `{"path": P}`. `fast_path_webrtc` is
 * optional and may be null; as an object it needs `offer_path` and
 * `ice_path`, and takes optional `channels` (each label defaulting to
 * `mgr-actions`, `mgr-acks`, `mgr-state`), `ice_servers` (flattened to URLs,
 * see #BeachTransportHints) and `status` (default `stable`). Every path
 * starts with `/` and is at most %BEACH_TRANSPORT_HINTS_PATH_MAX_LEN bytes.
 * Nested fields are named by their path in errors. Unknown keys are ignored.
 *
 * Returns: (transfer full) (nullable): new #BeachTransportHints, or %NULL
 *   with @error set to a code naming the field
 */
BeachTransportHints *
beach_transport_hints_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (BeachTransportHints) self = NULL;
  JsonObject *obj;
  JsonObject *fp = NULL;

  obj = beach_json_require_object (node, "transport hints", error);
  if (obj == NULL)
    return NULL;
  self = g_object_new (BEACH_TYPE_TRANSPORT_HINTS, NULL);
  for (guint i = 0; i < N_ROUTES; i++) {
    g_autofree gchar *path = beach_json_path (routes[i].key, "path");
    JsonObject *route = NULL;

    if (!beach_json_get_object (obj, routes[i].key, routes[i].key, TRUE, &route, error)
        || !get_path (route, path, "path", &self->paths[i], error))
      return NULL;
  }
  if (!beach_json_get_object (obj, "fast_path_webrtc", "fast_path_webrtc", FALSE, &fp, error))
    return NULL;
  if (fp != NULL && !parse_fast_path (self, fp, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * beach_transport_hints_new_from_string:
 * @json: the text of a `transport_hints` object
 * @error: return location for a #GError
 *
 * Parses JSON text, then the hints; see
 * beach_transport_hints_new_from_json().
 *
 * Returns: (transfer full) (nullable): new #BeachTransportHints, or %NULL
 *   with @error set
 */
BeachTransportHints *
beach_transport_hints_new_from_string (const gchar *json, GError **error)
{
  g_autoptr (JsonNode) node = beach_json_from_string (json, -1, error);

  if (node == NULL)
    return NULL;
  return beach_transport_hints_new_from_json (node, error);
}

/**
 * beach_transport_hints_new_for_session:
 * @session_id: a valid session id
 * @fast_path: %TRUE for a `fast_path` session, %FALSE for `http_fallback`
 *
 * Builds the hints the manager answers a registration with: the session's
 * route paths and, with @fast_path, its WebRTC signalling paths with the
 * default channel labels, no ICE servers and status `stable`; without it,
 * `fast_path_webrtc` is null.
 *
 * Returns: (transfer full): new #BeachTransportHints
 */
BeachTransportHints *
beach_transport_hints_new_for_session (const gchar *session_id, gboolean fast_path)
{
  BeachTransportHints *self;

  g_return_val_if_fail (beach_session_id_is_valid (session_id), NULL);

  self = g_object_new (BEACH_TYPE_TRANSPORT_HINTS, NULL);
  for (guint i = 0; i < N_ROUTES; i++)
    self->paths[i] = g_strdup_printf ("/sessions/%s/%s", session_id, routes[i].suffix);
  if (fast_path) {
    self->fast_path = TRUE;
    self->offer_path = g_strdup_printf ("/fastpath/sessions/%s/webrtc/offer", session_id);
    self->ice_path = g_strdup_printf ("/fastpath/sessions/%s/webrtc/ice", session_id);
    self->actions_channel = g_strdup (DEFAULT_ACTIONS_CHANNEL);
    self->acks_channel = g_strdup (DEFAULT_ACKS_CHANNEL);
    self->state_channel = g_strdup (DEFAULT_STATE_CHANNEL);
    self->status = g_strdup (DEFAULT_STATUS);
  }
  return self;
}

static gboolean
url_is_valid (const gchar *url)
{
  return url != NULL && *url != '\0' && strlen (url) <= URL_MAX_LEN;
}

/**
 * beach_transport_hints_set_ice_servers:
 * @self: a #BeachTransportHints
 * @urls: (nullable) (array zero-terminated=1): ICE server URLs, each
 *   non-empty and at most 1024 bytes, at most
 *   %BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX of them; %NULL for none
 *
 * Replaces the ICE servers offered to the harness. Hints without a fast
 * path carry no ICE servers; for them this does nothing.
 */
void
beach_transport_hints_set_ice_servers (BeachTransportHints *self, const gchar *const *urls)
{
  guint n = urls != NULL ? g_strv_length ((GStrv) urls) : 0;

  g_return_if_fail (BEACH_IS_TRANSPORT_HINTS (self));
  g_return_if_fail (n <= BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX);
  for (guint i = 0; i < n; i++)
    g_return_if_fail (url_is_valid (urls[i]));

  if (!self->fast_path)
    return;
  g_strfreev (self->ice_servers);
  self->ice_servers = urls != NULL ? g_strdupv ((GStrv) urls) : g_new0 (gchar *, 1);
}

/**
 * beach_transport_hints_get_actions_poll_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none): the path of the poll route
 */
const gchar *
beach_transport_hints_get_actions_poll_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->paths[ROUTE_ACTIONS_POLL];
}

/**
 * beach_transport_hints_get_actions_ack_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none): the path of the ack route
 */
const gchar *
beach_transport_hints_get_actions_ack_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->paths[ROUTE_ACTIONS_ACK];
}

/**
 * beach_transport_hints_get_actions_pending_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none): the path of the pending route
 */
const gchar *
beach_transport_hints_get_actions_pending_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->paths[ROUTE_ACTIONS_PENDING];
}

/**
 * beach_transport_hints_get_state_post_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none): the path state diffs are posted to
 */
const gchar *
beach_transport_hints_get_state_post_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->paths[ROUTE_STATE_POST];
}

/**
 * beach_transport_hints_get_health_post_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none): the path heartbeats are posted to
 */
const gchar *
beach_transport_hints_get_health_post_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->paths[ROUTE_HEALTH_POST];
}

/**
 * beach_transport_hints_has_fast_path:
 * @self: a #BeachTransportHints
 *
 * Returns: %TRUE if `fast_path_webrtc` is an object, %FALSE if it is null
 */
gboolean
beach_transport_hints_has_fast_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), FALSE);
  return self->fast_path;
}

/**
 * beach_transport_hints_get_offer_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (nullable): where to post a WebRTC offer, or
 *   %NULL without a fast path
 */
const gchar *
beach_transport_hints_get_offer_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->offer_path;
}

/**
 * beach_transport_hints_get_ice_path:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (nullable): where to exchange ICE candidates, or
 *   %NULL without a fast path
 */
const gchar *
beach_transport_hints_get_ice_path (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->ice_path;
}

/**
 * beach_transport_hints_get_actions_channel:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (nullable): the label of the actions channel, or
 *   %NULL without a fast path
 */
const gchar *
beach_transport_hints_get_actions_channel (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->actions_channel;
}

/**
 * beach_transport_hints_get_acks_channel:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (nullable): the label of the acks channel, or
 *   %NULL without a fast path
 */
const gchar *
beach_transport_hints_get_acks_channel (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->acks_channel;
}

/**
 * beach_transport_hints_get_state_channel:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (nullable): the label of the state channel, or
 *   %NULL without a fast path
 */
const gchar *
beach_transport_hints_get_state_channel (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->state_channel;
}

/**
 * beach_transport_hints_get_ice_servers:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (array zero-terminated=1): the ICE server URLs,
 *   flattened, possibly none (always none without a fast path)
 */
const gchar *const *
beach_transport_hints_get_ice_servers (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return (const gchar *const *) self->ice_servers;
}

/**
 * beach_transport_hints_get_fast_path_status:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer none) (nullable): `fast_path_webrtc.status`, e.g.
 *   `stable`, or %NULL without a fast path
 */
const gchar *
beach_transport_hints_get_fast_path_status (BeachTransportHints *self)
{
  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);
  return self->status;
}

/**
 * beach_transport_hints_equal:
 * @a: (nullable): a #BeachTransportHints
 * @b: (nullable): another #BeachTransportHints
 *
 * Compares every field, so a harness can tell whether re-registering
 * changed anything it must reconnect for. Two %NULLs are equal.
 *
 * Returns: %TRUE if @a and @b say the same thing
 */
gboolean
beach_transport_hints_equal (BeachTransportHints *a, BeachTransportHints *b)
{
  g_return_val_if_fail (a == NULL || BEACH_IS_TRANSPORT_HINTS (a), FALSE);
  g_return_val_if_fail (b == NULL || BEACH_IS_TRANSPORT_HINTS (b), FALSE);

  if (a == b)
    return TRUE;
  if (a == NULL || b == NULL)
    return FALSE;
  for (guint i = 0; i < N_ROUTES; i++)
    if (g_strcmp0 (a->paths[i], b->paths[i]) != 0)
      return FALSE;
  return a->fast_path == b->fast_path
         && g_strcmp0 (a->offer_path, b->offer_path) == 0
         && g_strcmp0 (a->ice_path, b->ice_path) == 0
         && g_strcmp0 (a->actions_channel, b->actions_channel) == 0
         && g_strcmp0 (a->acks_channel, b->acks_channel) == 0
         && g_strcmp0 (a->state_channel, b->state_channel) == 0
         && g_strcmp0 (a->status, b->status) == 0
         && g_strv_equal ((const gchar *const *) a->ice_servers,
                          (const gchar *const *) b->ice_servers);
}

static void
add_string_member (JsonBuilder *builder, const gchar *key, const gchar *value)
{
  json_builder_set_member_name (builder, key);
  json_builder_add_string_value (builder, value);
}

static void
add_fast_path (BeachTransportHints *self, JsonBuilder *builder)
{
  json_builder_begin_object (builder);
  add_string_member (builder, "offer_path", self->offer_path);
  add_string_member (builder, "ice_path", self->ice_path);
  json_builder_set_member_name (builder, "channels");
  json_builder_begin_object (builder);
  add_string_member (builder, "actions", self->actions_channel);
  add_string_member (builder, "acks", self->acks_channel);
  add_string_member (builder, "state", self->state_channel);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "ice_servers");
  json_builder_begin_array (builder);
  for (guint i = 0; self->ice_servers[i] != NULL; i++)
    json_builder_add_string_value (builder, self->ice_servers[i]);
  json_builder_end_array (builder);
  add_string_member (builder, "status", self->status);
  json_builder_end_object (builder);
}

/**
 * beach_transport_hints_to_json:
 * @self: a #BeachTransportHints
 *
 * Serialises the hints in their wire form: the five routes, then
 * `fast_path_webrtc` as null or as an object that always carries
 * `channels`, `ice_servers` (an array of URL strings) and `status`.
 *
 * Returns: (transfer full): a new JSON node
 */
JsonNode *
beach_transport_hints_to_json (BeachTransportHints *self)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (BEACH_IS_TRANSPORT_HINTS (self), NULL);

  json_builder_begin_object (builder);
  for (guint i = 0; i < N_ROUTES; i++) {
    json_builder_set_member_name (builder, routes[i].key);
    json_builder_begin_object (builder);
    add_string_member (builder, "path", self->paths[i]);
    json_builder_end_object (builder);
  }
  json_builder_set_member_name (builder, "fast_path_webrtc");
  if (self->fast_path)
    add_fast_path (self, builder);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * beach_transport_hints_to_string:
 * @self: a #BeachTransportHints
 *
 * Returns: (transfer full): the wire form as compact JSON text
 */
gchar *
beach_transport_hints_to_string (BeachTransportHints *self)
{
  g_autoptr (JsonNode) node = beach_transport_hints_to_json (self);

  return json_to_string (node, FALSE);
}
