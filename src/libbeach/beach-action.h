/* beach-action.h: an action command
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * BEACH_ACTION_PAYLOAD_MAX:
 *
 * The default limit on an action's payload, measured on compact JSON.
 */
#define BEACH_ACTION_PAYLOAD_MAX (64 * 1024)

/**
 * BEACH_ACTION_TYPE_TERMINAL_WRITE:
 *
 * The action type whose `payload.bytes` is written verbatim to a terminal.
 */
#define BEACH_ACTION_TYPE_TERMINAL_WRITE "terminal_write"

#define BEACH_TYPE_ACTION (beach_action_get_type ())
G_DECLARE_FINAL_TYPE (BeachAction, beach_action, BEACH, ACTION, GObject)

BeachAction *beach_action_new (const gchar *id,
                               const gchar *action_type,
                               JsonObject *payload,
                               gint64 expires_at_ms,
                               GError **error);
BeachAction *beach_action_new_terminal_write (const gchar *id,
                                              const gchar *bytes,
                                              GError **error);
BeachAction *beach_action_new_from_json (JsonNode *node,
                                         GError **error);
BeachAction *beach_action_new_from_json_full (JsonNode *node,
                                              gsize max_payload_bytes,
                                              GError **error);
BeachAction *beach_action_new_from_string (const gchar *json,
                                           GError **error);

const gchar *beach_action_get_id (BeachAction *self);
const gchar *beach_action_get_action_type (BeachAction *self);
JsonObject *beach_action_get_payload (BeachAction *self);
gint64 beach_action_get_expires_at_ms (BeachAction *self);
gboolean beach_action_is_expired (BeachAction *self,
                                  gint64 now_ms);
const gchar *beach_action_get_terminal_bytes (BeachAction *self);
gsize beach_action_get_payload_size (BeachAction *self);

JsonNode *beach_action_to_json (BeachAction *self);
gchar *beach_action_to_string (BeachAction *self);

G_END_DECLS
