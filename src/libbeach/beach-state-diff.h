/* beach-state-diff.h: a state diff posted by a harness
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define BEACH_TYPE_STATE_DIFF (beach_state_diff_get_type ())
G_DECLARE_FINAL_TYPE (BeachStateDiff, beach_state_diff, BEACH, STATE_DIFF, GObject)

BeachStateDiff *beach_state_diff_new (guint64 sequence,
                                      gint64 emitted_at_ms,
                                      JsonNode *payload,
                                      GError **error);
BeachStateDiff *beach_state_diff_new_from_json (JsonNode *node,
                                                GError **error);
BeachStateDiff *beach_state_diff_new_from_string (const gchar *json,
                                                  GError **error);

guint64 beach_state_diff_get_sequence (BeachStateDiff *self);
gint64 beach_state_diff_get_emitted_at_ms (BeachStateDiff *self);
JsonNode *beach_state_diff_get_payload (BeachStateDiff *self);
gsize beach_state_diff_get_payload_size (BeachStateDiff *self);

JsonNode *beach_state_diff_to_json (BeachStateDiff *self);
gchar *beach_state_diff_to_string (BeachStateDiff *self);

G_END_DECLS
