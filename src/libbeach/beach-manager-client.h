/* beach-manager-client.h: a beach-manager seen over D-Bus
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

#define BEACH_TYPE_MANAGER_CLIENT (beach_manager_client_get_type ())
G_DECLARE_FINAL_TYPE (BeachManagerClient, beach_manager_client, BEACH, MANAGER_CLIENT, GObject)

void beach_manager_client_new (GBusType bus_type,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
BeachManagerClient *beach_manager_client_new_finish (GAsyncResult *result,
                                                     GError **error);

const gchar *beach_manager_client_get_version (BeachManagerClient *self);
const gchar *beach_manager_client_get_http_address (BeachManagerClient *self);
const gchar *beach_manager_client_get_queue_backend (BeachManagerClient *self);
gboolean beach_manager_client_get_queue_backend_connected (BeachManagerClient *self);
guint beach_manager_client_get_session_count (BeachManagerClient *self);
guint beach_manager_client_get_fast_path_session_count (BeachManagerClient *self);

void beach_manager_client_get_metrics (BeachManagerClient *self,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
GVariant *beach_manager_client_get_metrics_finish (BeachManagerClient *self,
                                                   GAsyncResult *result,
                                                   GError **error);
void beach_manager_client_set_transport_mode (BeachManagerClient *self,
                                              const gchar *session_id,
                                              const gchar *mode,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
gboolean beach_manager_client_set_transport_mode_finish (BeachManagerClient *self,
                                                         GAsyncResult *result,
                                                         GError **error);

G_END_DECLS
