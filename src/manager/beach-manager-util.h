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

G_END_DECLS
