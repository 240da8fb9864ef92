/* beach-action-ack.h: an action acknowledgement
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

#include "beach-enums.h"

G_BEGIN_DECLS

#define BEACH_TYPE_ACTION_ACK (beach_action_ack_get_type ())
G_DECLARE_FINAL_TYPE (BeachActionAck, beach_action_ack, BEACH, ACTION_ACK, GObject)

BeachActionAck *beach_action_ack_new (const gchar *id,
                                      BeachAckStatus status,
                                      gint64 applied_at_ms,
                                      gint64 latency_ms,
                                      const gchar *error_code,
                                      const gchar *error_message,
                                      GError **error);
BeachActionAck *beach_action_ack_new_from_json (JsonNode *node,
                                                GError **error);
BeachActionAck *beach_action_ack_new_from_string (const gchar *json,
                                                  GError **error);

const gchar *beach_action_ack_get_id (BeachActionAck *self);
BeachAckStatus beach_action_ack_get_status (BeachActionAck *self);
gint64 beach_action_ack_get_applied_at_ms (BeachActionAck *self);
gint64 beach_action_ack_get_latency_ms (BeachActionAck *self);
const gchar *beach_action_ack_get_error_code (BeachActionAck *self);
const gchar *beach_action_ack_get_error_message (BeachActionAck *self);

JsonNode *beach_action_ack_to_json (BeachActionAck *self);
gchar *beach_action_ack_to_string (BeachActionAck *self);

G_END_DECLS
