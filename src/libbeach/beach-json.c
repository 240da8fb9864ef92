/* beach-json.c: strict field readers shared by the wire records
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-json"

#include "config.h"

#include <math.h>

#include "beach-error.h"
#include "beach-json-private.h"

gchar *
beach_json_path (const gchar *prefix, const gchar *key)
{
  if (prefix == NULL || *prefix == '\0')
    return g_strdup (key);
  return g_strconcat (prefix, ".", key, NULL);
}

/* json-glib 1.6 parses recursively with no depth limit: 100,000 nested
 * `[` overflow the stack (SIGSEGV). Every wire message is shallow, so
 * deeper text is refused before json-glib sees it. */
#define MAX_JSON_DEPTH 128

/* The value of the \uXXXX escape at data[i] ('\\'), or -1. */
static gint
unicode_escape (const gchar *data, gsize length, gsize i)
{
  gint v = 0;

  if (i + 6 > length || data[i] != '\\' || data[i + 1] != 'u')
    return -1;
  for (gsize k = i + 2; k < i + 6; k++) {
    gint d = g_ascii_xdigit_value (data[k]);

    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* What json-glib 1.6 gets wrong, refused before it sees the text: nesting
 * past MAX_JSON_DEPTH; a lone surrogate escape ("\ud800x" becomes bytes
 * that are not UTF-8, and they would be stored and sent on); and \u0000
 * (the string would silently end there). */
static gboolean
prescan (const gchar *data, gsize length, GError **error)
{
  gboolean in_string = FALSE;
  guint depth = 0;

  for (gsize i = 0; i < length; i++) {
    gchar c = data[i];

    if (in_string) {
      gint u = unicode_escape (data, length, i);

      if (u == 0) {
        g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                             "invalid JSON: \\u0000 in a string is not supported");
        return FALSE;
      }
      if (u >= 0xD800 && u <= 0xDBFF) {
        gint low = unicode_escape (data, length, i + 6);

        if (low < 0xDC00 || low > 0xDFFF) {
          g_set_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                       "invalid JSON: \\u%04x is half a surrogate pair", (guint) u);
          return FALSE;
        }
        i += 11;
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        g_set_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                     "invalid JSON: \\u%04x is half a surrogate pair", (guint) u);
        return FALSE;
      } else if (c == '\\') {
        i++;
      } else if (c == '"') {
        in_string = FALSE;
      }
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      if (++depth > MAX_JSON_DEPTH) {
        g_set_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                     "invalid JSON: nested deeper than %u levels", MAX_JSON_DEPTH);
        return FALSE;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return TRUE;
}

/* json-glib reads 1e999 as inf, which json_to_string() writes as "inf.0":
 * what we would store and send on is no longer JSON. */
static gboolean
is_finite_tree (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node)) {
    case JSON_NODE_VALUE:
      return json_node_get_value_type (node) != G_TYPE_DOUBLE || isfinite (json_node_get_double (node));
    case JSON_NODE_ARRAY: {
      JsonArray *arr = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (arr); i++) {
        if (!is_finite_tree (json_array_get_element (arr, i)))
          return FALSE;
      }
      return TRUE;
    }
    case JSON_NODE_OBJECT: {
      JsonObjectIter iter;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, NULL, &member)) {
        if (!is_finite_tree (member))
          return FALSE;
      }
      return TRUE;
    }
    case JSON_NODE_NULL:
    default:
      return TRUE;
  }
}

JsonNode *
beach_json_from_string (const gchar *data, gssize length, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root;

  if (data == NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED, "no JSON text");
    return NULL;
  }
  if (length < 0)
    length = (gssize) strlen (data);
  /* json-glib reads up to a NUL; a NUL inside the text is not JSON. */
  if (memchr (data, '\0', (gsize) length) != NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "invalid JSON: embedded NUL byte");
    return NULL;
  }
  if (!g_utf8_validate (data, length, NULL)) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "invalid JSON: not valid UTF-8");
    return NULL;
  }
  if (!prescan (data, (gsize) length, error))
    return NULL;
  if (!json_parser_load_from_data (parser, data, length, &local_error)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED, "invalid JSON: %s",
                 local_error->message);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "invalid JSON: empty document");
    return NULL;
  }
  if (!is_finite_tree (root)) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "invalid JSON: a number is out of range");
    return NULL;
  }
  return json_node_ref (root);
}

JsonObject *
beach_json_require_object (JsonNode *node, const gchar *what, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                 "%s: expected a JSON object", what);
    return NULL;
  }
  return json_node_get_object (node);
}

/* NULL when absent or null; sets MISSING_FIELD when required. */
static JsonNode *
lookup (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
    if (required)
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_MISSING_FIELD,
                   "“%s”: required field is missing", path);
    return NULL;
  }
  return node;
}

static gboolean
invalid (GError **error, const gchar *path, const gchar *what)
{
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“%s”: %s", path, what);
  return FALSE;
}

static gboolean
holds_type (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

gboolean
beach_json_get_string (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, gsize max_len, const gchar **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);
  const gchar *s;

  *out = NULL;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (!holds_type (node, G_TYPE_STRING))
    return invalid (error, path, "expected a string");
  s = json_node_get_string (node);
  if (max_len > 0 && strlen (s) > max_len) {
    g_autofree gchar *msg = g_strdup_printf ("longer than %" G_GSIZE_FORMAT " bytes", max_len);
    return invalid (error, path, msg);
  }
  *out = s;
  return TRUE;
}

gboolean
beach_json_get_int (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, gint64 min, gint64 max, gint64 *out, gboolean *present, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);
  gint64 v;

  if (present != NULL)
    *present = FALSE;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (!holds_type (node, G_TYPE_INT64))
    return invalid (error, path, "expected an integer");
  v = json_node_get_int (node);
  if (v < min || v > max) {
    g_autofree gchar *msg = g_strdup_printf ("%" G_GINT64_FORMAT " is outside %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                                             v, min, max);
    return invalid (error, path, msg);
  }
  *out = v;
  if (present != NULL)
    *present = TRUE;
  return TRUE;
}

gboolean
beach_json_get_double (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, gdouble min, gdouble max, gdouble *out, gboolean *present, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);
  gdouble v;

  if (present != NULL)
    *present = FALSE;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (holds_type (node, G_TYPE_DOUBLE))
    v = json_node_get_double (node);
  else if (holds_type (node, G_TYPE_INT64))
    v = (gdouble) json_node_get_int (node);
  else
    return invalid (error, path, "expected a number");
  if (!(v >= min && v <= max)) {
    g_autofree gchar *msg = g_strdup_printf ("%g is outside %g..%g", v, min, max);
    return invalid (error, path, msg);
  }
  *out = v;
  if (present != NULL)
    *present = TRUE;
  return TRUE;
}

gboolean
beach_json_get_bool (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, gboolean *out, gboolean *present, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);

  if (present != NULL)
    *present = FALSE;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (!holds_type (node, G_TYPE_BOOLEAN))
    return invalid (error, path, "expected true or false");
  *out = json_node_get_boolean (node);
  if (present != NULL)
    *present = TRUE;
  return TRUE;
}

gboolean
beach_json_get_object (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, JsonObject **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);

  *out = NULL;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, path, "expected an object");
  *out = json_node_get_object (node);
  return TRUE;
}

gboolean
beach_json_get_string_array (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, guint max_items, gsize max_len, GStrv *out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);
  g_autoptr (GStrvBuilder) builder = NULL;
  JsonArray *array;
  guint n;

  *out = NULL;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return invalid (error, path, "expected an array of strings");
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (max_items > 0 && n > max_items) {
    g_autofree gchar *msg = g_strdup_printf ("more than %u entries", max_items);
    return invalid (error, path, msg);
  }
  builder = g_strv_builder_new ();
  for (guint i = 0; i < n; i++) {
    JsonNode *elem = json_array_get_element (array, i);
    g_autofree gchar *elem_path = g_strdup_printf ("%s[%u]", path, i);

    if (!holds_type (elem, G_TYPE_STRING))
      return invalid (error, elem_path, "expected a string");
    if (max_len > 0 && strlen (json_node_get_string (elem)) > max_len) {
      g_autofree gchar *msg = g_strdup_printf ("longer than %" G_GSIZE_FORMAT " bytes", max_len);
      return invalid (error, elem_path, msg);
    }
    g_strv_builder_add (builder, json_node_get_string (elem));
  }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

/* 9999-12-31 in epoch ms: anything later is a unit mistake, not a date. */
#define MAX_EPOCH_MS G_GINT64_CONSTANT (253402300799999)

gboolean
beach_json_get_timestamp (JsonObject *obj, const gchar *path, const gchar *key, gboolean required, gint64 *out_ms, gboolean *present, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  JsonNode *node = lookup (obj, path, key, required, &local_error);

  if (present != NULL)
    *present = FALSE;
  if (node == NULL) {
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
    return TRUE;
  }
  if (holds_type (node, G_TYPE_INT64)) {
    gint64 v = json_node_get_int (node);

    if (v < 0 || v > MAX_EPOCH_MS)
      return invalid (error, path, "epoch milliseconds out of range");
    *out_ms = v;
  } else if (JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *ts = json_node_get_object (node);
    g_autofree gchar *secs_path = beach_json_path (path, "secs_since_epoch");
    g_autofree gchar *nanos_path = beach_json_path (path, "nanos_since_epoch");
    gint64 secs = 0, nanos = 0;

    if (!beach_json_get_int (ts, secs_path, "secs_since_epoch", TRUE, 0,
                             MAX_EPOCH_MS / 1000, &secs, NULL, error)
        || !beach_json_get_int (ts, nanos_path, "nanos_since_epoch", TRUE, 0,
                                999999999, &nanos, NULL, error))
      return FALSE;
    *out_ms = secs * 1000 + nanos / 1000000;
  } else {
    return invalid (error, path,
                    "expected epoch milliseconds or {secs_since_epoch, nanos_since_epoch}");
  }
  if (present != NULL)
    *present = TRUE;
  return TRUE;
}

void
beach_json_builder_add_timestamp (JsonBuilder *builder, const gchar *key, gint64 ms)
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "secs_since_epoch");
  json_builder_add_int_value (builder, ms / 1000);
  json_builder_set_member_name (builder, "nanos_since_epoch");
  json_builder_add_int_value (builder, (ms % 1000) * 1000000);
  json_builder_end_object (builder);
}
