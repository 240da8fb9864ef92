/* beach-fast-path-link.h: one fast-path peer connection
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "beach-enums.h"

G_BEGIN_DECLS

#define BEACH_TYPE_FAST_PATH_LINK (beach_fast_path_link_get_type ())
G_DECLARE_FINAL_TYPE (BeachFastPathLink, beach_fast_path_link, BEACH, FAST_PATH_LINK, GObject)

BeachFastPathLink *beach_fast_path_link_new (BeachFastPathRole role);

void beach_fast_path_link_create_offer_async (BeachFastPathLink *self,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
gchar *beach_fast_path_link_create_offer_finish (BeachFastPathLink *self,
                                                 GAsyncResult *result,
                                                 GError **error);
void beach_fast_path_link_answer_async (BeachFastPathLink *self,
                                        const gchar *offer_sdp,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
gchar *beach_fast_path_link_answer_finish (BeachFastPathLink *self,
                                           GAsyncResult *result,
                                           GError **error);
gboolean beach_fast_path_link_set_remote_answer (BeachFastPathLink *self,
                                                 const gchar *answer_sdp,
                                                 GError **error);
gboolean beach_fast_path_link_add_remote_candidate (BeachFastPathLink *self,
                                                    const gchar *candidate,
                                                    guint sdp_mline_index,
                                                    GError **error);

gboolean beach_fast_path_link_send (BeachFastPathLink *self,
                                    BeachFastPathChannel channel,
                                    const gchar *type,
                                    JsonNode *payload,
                                    GError **error);
void beach_fast_path_link_set_ping_status (BeachFastPathLink *self,
                                           const gchar *handshake_id,
                                           const gchar *transport,
                                           guint pending);
void beach_fast_path_link_ping_now (BeachFastPathLink *self);

void beach_fast_path_link_close_async (BeachFastPathLink *self,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean beach_fast_path_link_close_finish (BeachFastPathLink *self,
                                            GAsyncResult *result,
                                            GError **error);

void beach_fast_path_link_set_silent (BeachFastPathLink *self,
                                      gboolean silent);

BeachFastPathRole beach_fast_path_link_get_role (BeachFastPathLink *self);
BeachLinkHealth beach_fast_path_link_get_health (BeachFastPathLink *self);
gint64 beach_fast_path_link_get_rtt_us (BeachFastPathLink *self);
const gchar *beach_fast_path_link_get_link_id (BeachFastPathLink *self);
void beach_fast_path_link_set_link_id (BeachFastPathLink *self,
                                       const gchar *link_id);
guint beach_fast_path_link_get_unknown_frames (BeachFastPathLink *self);
guint64 beach_fast_path_link_get_frames_sent (BeachFastPathLink *self);
guint64 beach_fast_path_link_get_frames_received (BeachFastPathLink *self);
guint beach_fast_path_link_get_reassemblies_dropped (BeachFastPathLink *self);
guint64 beach_fast_path_link_get_frames_dropped (BeachFastPathLink *self);

G_END_DECLS
