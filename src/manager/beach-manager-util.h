/* beach-manager-util.h: small helpers shared by the daemon's objects
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "beach.h"

G_BEGIN_DECLS

GSocketAddress *beach_parse_listen_address (const gchar *address,
                                            GError **error);
gchar *beach_error_envelope_to_string (BeachError code,
                                       const gchar *message);

/* The one parser of numeric query parameters: @name in @query (nullable)
 * as a decimal whole number in @min..@max; absent or empty gives
 * @fallback. @what names the expected value in the error message (NULL:
 * "a whole number in MIN..MAX"). BEACH_ERROR_INVALID_FIELD otherwise. */
gboolean beach_query_get_uint (GHashTable *query,
                               const gchar *name,
                               guint64 min,
                               guint64 max,
                               guint64 fallback,
                               const gchar *what,
                               guint64 *out,
                               GError **error);

G_END_DECLS
