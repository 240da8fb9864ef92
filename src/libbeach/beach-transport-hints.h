/* beach-transport-hints.h: where a harness finds its routes
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
 * BEACH_TRANSPORT_HINTS_PATH_MAX_LEN:
 *
 * The longest path in transport hints, in bytes.
 */
#define BEACH_TRANSPORT_HINTS_PATH_MAX_LEN 1024

/**
 * BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX:
 *
 * The most ICE server URLs transport hints may carry, after flattening.
 */
#define BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX 64

#define BEACH_TYPE_TRANSPORT_HINTS (beach_transport_hints_get_type ())
G_DECLARE_FINAL_TYPE (BeachTransportHints, beach_transport_hints, BEACH, TRANSPORT_HINTS, GObject)

BeachTransportHints *beach_transport_hints_new_for_session (const gchar *session_id,
                                                            gboolean fast_path);
BeachTransportHints *beach_transport_hints_new_from_json (JsonNode *node,
                                                          GError **error);
BeachTransportHints *beach_transport_hints_new_from_string (const gchar *json,
                                                            GError **error);

void beach_transport_hints_set_ice_servers (BeachTransportHints *self,
                                            const gchar *const *urls);

const gchar *beach_transport_hints_get_actions_poll_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_actions_ack_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_actions_pending_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_state_post_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_health_post_path (BeachTransportHints *self);

gboolean beach_transport_hints_has_fast_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_offer_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_ice_path (BeachTransportHints *self);
const gchar *beach_transport_hints_get_actions_channel (BeachTransportHints *self);
const gchar *beach_transport_hints_get_acks_channel (BeachTransportHints *self);
const gchar *beach_transport_hints_get_state_channel (BeachTransportHints *self);
const gchar *const *beach_transport_hints_get_ice_servers (BeachTransportHints *self);
const gchar *beach_transport_hints_get_fast_path_status (BeachTransportHints *self);

gboolean beach_transport_hints_equal (BeachTransportHints *a,
                                      BeachTransportHints *b);

JsonNode *beach_transport_hints_to_json (BeachTransportHints *self);
gchar *beach_transport_hints_to_string (BeachTransportHints *self);

G_END_DECLS
