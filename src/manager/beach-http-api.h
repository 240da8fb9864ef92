/* beach-http-api.h: the SoupServer routes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "beach-auth.h"
#include "beach-config.h"
#include "beach-router.h"

G_BEGIN_DECLS

#define BEACH_TYPE_HTTP_API (beach_http_api_get_type ())
G_DECLARE_FINAL_TYPE (BeachHttpApi, beach_http_api, BEACH, HTTP_API, GObject)

BeachHttpApi *beach_http_api_new (const BeachConfig *config,
                                  BeachAuth *auth,
                                  BeachSessionRegistry *registry,
                                  BeachFallbackQueue *queue,
                                  BeachRouter *router,
                                  BeachMetrics *metrics,
                                  BeachEventHub *events);
void beach_http_api_set_fast_path (BeachHttpApi *self,
                                   BeachFastPath *fast_path);
gboolean beach_http_api_listen (BeachHttpApi *self,
                                const gchar *address,
                                GError **error);
const gchar *beach_http_api_get_url (BeachHttpApi *self);
void beach_http_api_shutdown (BeachHttpApi *self);
void beach_http_api_shutdown_async (BeachHttpApi *self,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean beach_http_api_shutdown_finish (BeachHttpApi *self,
                                         GAsyncResult *result,
                                         GError **error);
GStrv beach_http_api_list_routes (void);

G_END_DECLS
