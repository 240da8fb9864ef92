/* beach-dbus-service.h: the daemon's D-Bus control plane
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "beach-fallback-queue.h"
#include "beach-metrics.h"
#include "beach-router.h"
#include "beach-session-registry.h"

G_BEGIN_DECLS

#define BEACH_DBUS_NAME "sh.beach.Manager1"
#define BEACH_DBUS_PATH "/sh/beach/Manager1"

#define BEACH_TYPE_DBUS_SERVICE (beach_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (BeachDbusService, beach_dbus_service, BEACH, DBUS_SERVICE, GObject)

BeachDbusService *beach_dbus_service_new (BeachSessionRegistry *registry,
                                          BeachRouter *router,
                                          BeachMetrics *metrics,
                                          BeachFallbackQueue *queue,
                                          const gchar *http_url);
void beach_dbus_service_start (BeachDbusService *self,
                               GBusType bus_type,
                               gboolean require);
void beach_dbus_service_stop (BeachDbusService *self);
gboolean beach_dbus_service_get_exported (BeachDbusService *self);

G_END_DECLS
