/* beach-json-private.h: strict field readers shared by the wire records
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Every reader takes the field's display name (a path such as
 * "fast_path.state") for its error message and the key to look up.
 * A field sent as null counts as absent. A missing required field is
 * BEACH_ERROR_MISSING_FIELD, a wrong one BEACH_ERROR_INVALID_FIELD.
 * present may be NULL. */

JsonObject *beach_json_require_object (JsonNode *node,
                                       const gchar *what,
                                       GError **error);

gboolean beach_json_get_string (JsonObject *obj,
                                const gchar *path,
                                const gchar *key,
                                gboolean required,
                                gsize max_len,
                                const gchar **out,
                                GError **error);

gboolean beach_json_get_int (JsonObject *obj,
                             const gchar *path,
                             const gchar *key,
                             gboolean required,
                             gint64 min,
                             gint64 max,
                             gint64 *out,
                             gboolean *present,
                             GError **error);

gboolean beach_json_get_double (JsonObject *obj,
                                const gchar *path,
                                const gchar *key,
                                gboolean required,
                                gdouble min,
                                gdouble max,
                                gdouble *out,
                                gboolean *present,
                                GError **error);

gboolean beach_json_get_bool (JsonObject *obj,
                              const gchar *path,
                              const gchar *key,
                              gboolean required,
                              gboolean *out,
                              gboolean *present,
                              GError **error);

gboolean beach_json_get_object (JsonObject *obj,
                                const gchar *path,
                                const gchar *key,
                                gboolean required,
                                JsonObject **out,
                                GError **error);

gboolean beach_json_get_string_array (JsonObject *obj,
                                      const gchar *path,
                                      const gchar *key,
                                      gboolean required,
                                      guint max_items,
                                      gsize max_len,
                                      GStrv *out,
                                      GError **error);

/* Accepts {"secs_since_epoch":N,"nanos_since_epoch":N} or integer epoch ms. */
gboolean beach_json_get_timestamp (JsonObject *obj,
                                   const gchar *path,
                                   const gchar *key,
                                   gboolean required,
                                   gint64 *out_ms,
                                   gboolean *present,
                                   GError **error);

/* Emits the {"secs_since_epoch":N,"nanos_since_epoch":N} form. */
void beach_json_builder_add_timestamp (JsonBuilder *builder,
                                       const gchar *key,
                                       gint64 ms);

JsonNode *beach_json_from_string (const gchar *data,
                                  gssize length,
                                  GError **error);

gchar *beach_json_path (const gchar *prefix,
                        const gchar *key);

G_END_DECLS
