/* beach-manager-util.c: small helpers shared by the daemon's objects
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-manager-util"

#include "config.h"

#include <json-glib/json-glib.h>

#include "beach-manager-util.h"

/* ADDR:PORT, [V6ADDR]:PORT; a literal address only, since binding to a name
 * that resolves to several addresses would be a surprise. */
GSocketAddress *
beach_parse_listen_address (const gchar *address, GError **error)
{
  g_autofree gchar *host = NULL;
  g_autoptr (GInetAddress) inet = NULL;
  const gchar *colon;
  const gchar *port_str;
  guint64 port = 0;

  if (address == NULL || *address == '\0')
    goto bad;
  if (address[0] == '[') {
    const gchar *end = strchr (address, ']');

    if (end == NULL || end[1] != ':')
      goto bad;
    host = g_strndup (address + 1, end - address - 1);
    port_str = end + 2;
  } else {
    colon = strrchr (address, ':');
    if (colon == NULL)
      goto bad;
    host = g_strndup (address, colon - address);
    port_str = colon + 1;
  }
  if (!g_ascii_string_to_unsigned (port_str, 10, 0, 65535, &port, NULL))
    goto bad;
  if (g_strcmp0 (host, "localhost") == 0)
    inet = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  else
    inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    goto bad;
  return g_inet_socket_address_new (inet, (guint16) port);

bad:
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
               "listen address “%s” is not ADDR:PORT or [ADDR]:PORT "
               "(e.g. 127.0.0.1:8080, [::1]:0)",
               address != NULL ? address : "");
  return NULL;
}

/* The wire error envelope; error_code is left out when there is none. */
gchar *
beach_error_envelope_to_string (BeachError code, const gchar *message)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  const gchar *error_code = beach_error_to_error_code (code);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, beach_error_to_kind (code));
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message != NULL ? message : "");
  if (error_code != NULL) {
    json_builder_set_member_name (builder, "error_code");
    json_builder_add_string_value (builder, error_code);
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

gboolean
beach_query_get_uint (GHashTable *query, const gchar *name, guint64 min, guint64 max, guint64 fallback, const gchar *what, guint64 *out, GError **error)
{
  const gchar *raw = query != NULL ? g_hash_table_lookup (query, name) : NULL;
  guint64 v = 0;

  g_return_val_if_fail (name != NULL && out != NULL, FALSE);

  if (raw == NULL || *raw == '\0') {
    *out = fallback;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned (raw, 10, min, max, &v, NULL)) {
    if (what != NULL)
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "“%s”: expected %s, got “%s”", name, what, raw);
    else
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "“%s”: expected a whole number in %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", got “%s”",
                   name, min, max, raw);
    return FALSE;
  }
  *out = v;
  return TRUE;
}
