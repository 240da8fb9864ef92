/* beachctl-http.c: the commands that act, over the HTTP API
 *
 * send, lease and handshake, with the operator token (WIRE.md "Tokens").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beachctl"

#include "config.h"

#include <glib/gi18n.h>

#include "beachctl.h"

#define HTTP_TIMEOUT_S 30
#define LEASE_REASON   "beachctl"

/* --url, else the manager's HttpAddress over D-Bus (quietly: no bus is
 * not an error here), else the default. */
static void
resolve_url (Ctl *ctl)
{
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) value = NULL;
  const gchar *url;

  if (ctl->url != NULL) {
    ctl->base_url = g_strdup (ctl->url);
  } else {
    bus = g_bus_get_sync (ctl->system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION, NULL, NULL);
    if (bus != NULL)
      reply = g_dbus_connection_call_sync (bus, BEACHCTL_MANAGER_NAME, BEACHCTL_MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get",
                                           g_variant_new ("(ss)", BEACHCTL_MANAGER_NAME, "HttpAddress"),
                                           G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 10000, NULL, NULL);
    if (reply != NULL)
      g_variant_get (reply, "(v)", &value);
    url = value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL)
                                                                               : "";
    ctl->base_url = g_strdup (*url != '\0' ? url : BEACHCTL_DEFAULT_URL);
  }
  while (g_str_has_suffix (ctl->base_url, "/"))
    ctl->base_url[strlen (ctl->base_url) - 1] = '\0';
}

/* --token, else BEACH_MANAGER_TOKEN, else the file the manager writes. */
static gboolean
resolve_token (Ctl *ctl)
{
  g_autofree gchar *path = NULL;
  g_autofree gchar *contents = NULL;
  const gchar *env = g_getenv ("BEACH_MANAGER_TOKEN");

  if (ctl->token != NULL)
    return TRUE;
  if (env != NULL && *env != '\0') {
    ctl->token = g_strdup (env);
    return TRUE;
  }
  path = g_build_filename (g_get_user_config_dir (), "beach-manager", "operator-token", NULL);
  if (g_file_get_contents (path, &contents, NULL, NULL) && *g_strstrip (contents) != '\0') {
    ctl->token = g_steal_pointer (&contents);
    return TRUE;
  }
  beachctl_fail (_ ("no operator token: pass --token, set BEACH_MANAGER_TOKEN, or run as the manager's user (%s)"), path);
  return FALSE;
}

static gboolean
http_setup (Ctl *ctl)
{
  if (!resolve_token (ctl))
    return FALSE;
  resolve_url (ctl);
  ctl->soup = soup_session_new_with_options ("timeout", HTTP_TIMEOUT_S, "user-agent", "beachctl/" PACKAGE_VERSION,
                                             NULL);
  return TRUE;
}

/* The error envelope's message (WIRE.md "Conventions"), with the status. */
static gchar *
describe_http_error (guint status, JsonNode *answer)
{
  JsonObject *o = answer != NULL && JSON_NODE_HOLDS_OBJECT (answer) ? json_node_get_object (answer) : NULL;
  const gchar *message = o != NULL ? json_object_get_string_member_with_default (o, "message", NULL) : NULL;
  const gchar *kind = o != NULL ? json_object_get_string_member_with_default (o, "error", NULL) : NULL;

  if (message == NULL)
    return g_strdup_printf (_ ("the manager answered HTTP %u"), status);
  return g_strdup_printf ("%s (HTTP %u %s)", message, status, kind != NULL ? kind : "");
}

/* One request; the answer's JSON object on 2xx, else NULL and one line on
 * stderr. */
static JsonObject *
http_call (Ctl *ctl, const gchar *method, const gchar *path, const gchar *bearer, JsonBuilder *body)
{
  g_autofree gchar *url = g_strconcat (ctl->base_url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  g_autofree gchar *authorization = g_strconcat ("Bearer ", bearer, NULL);
  g_autoptr (GBytes) answer = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonNode *root = NULL;
  guint status;

  if (msg == NULL) {
    beachctl_fail (_ ("not a valid URL: %s"), url);
    return NULL;
  }
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", authorization);
  if (body != NULL) {
    g_autoptr (JsonNode) node = json_builder_get_root (body);
    gchar *text = json_to_string (node, FALSE);
    g_autoptr (GBytes) bytes = g_bytes_new_take (text, strlen (text));

    soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  }
  answer = soup_session_send_and_read (ctl->soup, msg, NULL, &error);
  if (answer == NULL) {
    beachctl_fail (_ ("cannot reach beach-manager at %s: %s"), ctl->base_url, error->message);
    return NULL;
  }
  status = soup_message_get_status (msg);
  if (g_bytes_get_size (answer) > 0 && json_parser_load_from_data (parser, g_bytes_get_data (answer, NULL), (gssize) g_bytes_get_size (answer), NULL))
    root = json_parser_get_root (parser);
  if (!SOUP_STATUS_IS_SUCCESSFUL (status)) {
    g_autofree gchar *message = describe_http_error (status, root);

    beachctl_fail ("%s", message);
    return NULL;
  }
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    beachctl_fail (_ ("%s %s: the manager's answer is not a JSON object"), method, path);
    return NULL;
  }
  return json_object_ref (json_node_get_object (root));
}

static gchar *
session_path (const gchar *session_id, const gchar *rest)
{
  g_autofree gchar *escaped = g_uri_escape_string (session_id, NULL, FALSE);

  return g_strconcat ("/sessions/", escaped, rest, NULL);
}

/* Checks that every named member is there with the right type, so the
 * printers below never index into what they have not looked at. */
static gboolean
check_answer (JsonObject *o, const gchar *what, ...) G_GNUC_NULL_TERMINATED;

static gboolean
check_answer (JsonObject *o, const gchar *what, ...)
{
  va_list ap;
  const gchar *name;
  gboolean ok = TRUE;

  va_start (ap, what);
  while (ok && (name = va_arg (ap, const gchar *)) != NULL) {
    GType type = va_arg (ap, GType);
    JsonNode *node = json_object_get_member (o, name);

    ok = node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
    if (!ok)
      beachctl_fail (_ ("%s: the manager's answer has no valid “%s”"), what, name);
  }
  va_end (ap);
  return ok;
}

static JsonObject *
acquire_lease (Ctl *ctl, const gchar *session_id, gint64 ttl_ms)
{
  g_autofree gchar *path = session_path (session_id, "/controller/lease");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonObject) answer = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, LEASE_REASON);
  if (ttl_ms > 0) {
    json_builder_set_member_name (b, "ttl_ms");
    json_builder_add_int_value (b, ttl_ms);
  }
  json_builder_end_object (b);
  answer = http_call (ctl, "POST", path, ctl->token, b);
  if (answer == NULL || !check_answer (answer, "lease", "controller_token", G_TYPE_STRING, "expires_at_ms", G_TYPE_INT64, NULL))
    return NULL;
  return g_steal_pointer (&answer);
}

gint
beachctl_lease (Ctl *ctl, gchar **args)
{
  g_autoptr (JsonObject) lease = NULL;
  g_autofree gchar *expiry = NULL;

  if (!http_setup (ctl) || (lease = acquire_lease (ctl, args[0], ctl->ttl_ms)) == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  if (ctl->json) {
    g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), lease);

    json_object_set_string_member (lease, "session_id", args[0]);
    beachctl_print_json (root);
    return 0;
  }
  expiry = beachctl_format_expiry (json_object_get_int_member (lease, "expires_at_ms"));
  g_print (_ ("Lease on %s\n"), args[0]);
  beachctl_print_field (_ ("Controller token"), "%s", json_object_get_string_member (lease, "controller_token"));
  beachctl_print_field (_ ("Expires"), "%s", expiry);
  return 0;
}

static gboolean
release_lease (Ctl *ctl, const gchar *session_id, const gchar *controller_token)
{
  g_autofree gchar *path = session_path (session_id, "/controller/lease");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonObject) answer = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "controller_token");
  json_builder_add_string_value (b, controller_token);
  json_builder_end_object (b);
  answer = http_call (ctl, "DELETE", path, ctl->token, b);
  return answer != NULL;
}

/* Posts one terminal_write with the lease; the answer, or NULL. */
static JsonObject *
post_write (Ctl *ctl, const gchar *session_id, const gchar *lease, const gchar *action_id, const gchar *text)
{
  g_autofree gchar *path = session_path (session_id, "/actions");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonObject) answer = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "controller_token");
  json_builder_add_string_value (b, lease);
  json_builder_set_member_name (b, "fallback");
  json_builder_add_string_value (b, "allow");
  json_builder_set_member_name (b, "actions");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, action_id);
  json_builder_set_member_name (b, "action_type");
  json_builder_add_string_value (b, "terminal_write");
  json_builder_set_member_name (b, "payload");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "bytes");
  json_builder_add_string_value (b, text);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  answer = http_call (ctl, "POST", path, lease, b);
  if (answer == NULL || !check_answer (answer, "send", "transport", G_TYPE_STRING, NULL))
    return NULL;
  return g_steal_pointer (&answer);
}

static gboolean
array_has_string (JsonObject *o, const gchar *member, const gchar *value)
{
  JsonNode *node = json_object_get_member (o, member);
  JsonArray *a = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);

    if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING && g_str_equal (json_node_get_string (e), value))
      return TRUE;
  }
  return FALSE;
}

gint
beachctl_send (Ctl *ctl, gchar **args)
{
  g_autoptr (JsonObject) lease = NULL;
  g_autoptr (JsonObject) answer = NULL;
  g_autofree gchar *action_id = g_uuid_string_random ();
  const gchar *token;
  gboolean accepted;

  if (!http_setup (ctl) || (lease = acquire_lease (ctl, args[0], -1)) == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  token = json_object_get_string_member (lease, "controller_token");
  answer = post_write (ctl, args[0], token, action_id, args[1]);
  /* Released whatever happened: the lease was only for this action. A
   * failed release is said, but the lease expires on its own. */
  if (!release_lease (ctl, args[0], token) && answer != NULL)
    g_printerr (_ ("beachctl: the lease was not released; it expires in its own time\n"));
  if (answer == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  accepted = array_has_string (answer, "accepted_ids", action_id);
  if (ctl->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "session_id");
    json_builder_add_string_value (b, args[0]);
    json_builder_set_member_name (b, "id");
    json_builder_add_string_value (b, action_id);
    json_builder_set_member_name (b, "accepted");
    json_builder_add_boolean_value (b, accepted);
    json_builder_set_member_name (b, "transport");
    json_builder_add_string_value (b, json_object_get_string_member (answer, "transport"));
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    beachctl_print_json (root);
  } else if (accepted) {
    g_print (_ ("%s: accepted %s via %s\n"), args[0], action_id, json_object_get_string_member (answer, "transport"));
  } else {
    g_print (_ ("%s: %s was already outstanding (transport %s)\n"), args[0], action_id,
             json_object_get_string_member (answer, "transport"));
  }
  return 0;
}

gint
beachctl_handshake (Ctl *ctl, gchar **args)
{
  g_autofree gchar *path = session_path (args[0], "/controller-handshake");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonObject) answer = NULL;
  g_autofree gchar *expiry = NULL;

  if (!http_setup (ctl))
    return BEACHCTL_EXIT_RUNTIME;
  json_builder_begin_object (b);
  if (ctl->ttl_ms > 0) {
    json_builder_set_member_name (b, "ttl_ms");
    json_builder_add_int_value (b, ctl->ttl_ms);
  }
  json_builder_end_object (b);
  answer = http_call (ctl, "POST", path, ctl->token, b);
  if (answer == NULL || !check_answer (answer, "handshake", "handshake_kind", G_TYPE_STRING, "handshake_id", G_TYPE_STRING, "controller_token", G_TYPE_STRING, "lease_expires_at_ms", G_TYPE_INT64, "transport", G_TYPE_STRING, NULL))
    return BEACHCTL_EXIT_RUNTIME;
  if (ctl->json) {
    g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), answer);

    json_object_set_string_member (answer, "session_id", args[0]);
    beachctl_print_json (root);
    return 0;
  }
  expiry = beachctl_format_expiry (json_object_get_int_member (answer, "lease_expires_at_ms"));
  g_print (_ ("Handshake on %s\n"), args[0]);
  beachctl_print_field (_ ("Kind"), "%s", json_object_get_string_member (answer, "handshake_kind"));
  beachctl_print_field (_ ("Handshake id"), "%s", json_object_get_string_member (answer, "handshake_id"));
  beachctl_print_field (_ ("Controller token"), "%s", json_object_get_string_member (answer, "controller_token"));
  beachctl_print_field (_ ("Lease expires"), "%s", expiry);
  beachctl_print_field (_ ("Transport"), "%s", json_object_get_string_member (answer, "transport"));
  return 0;
}
