/* beach-ids.h: identifier rules of the wire contract
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * BEACH_ID_MAX_LEN:
 *
 * The longest session, private beach or action id, in bytes.
 */
#define BEACH_ID_MAX_LEN 128

gboolean beach_session_id_is_valid (const gchar *id);
gboolean beach_action_id_is_valid (const gchar *id);
gboolean beach_action_type_is_valid (const gchar *action_type);

G_END_DECLS
