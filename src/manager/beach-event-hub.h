/* beach-event-hub.h: Server-Sent Events fan-out
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "beach-metrics.h"

G_BEGIN_DECLS

#define BEACH_TYPE_EVENT_HUB (beach_event_hub_get_type ())
G_DECLARE_FINAL_TYPE (BeachEventHub, beach_event_hub, BEACH, EVENT_HUB, GObject)

#define BEACH_EVENT_HUB_DEFAULT_MAX_BACKLOG       1000
#define BEACH_EVENT_HUB_DEFAULT_KEEPALIVE_SECONDS 15

BeachEventHub *beach_event_hub_new (BeachMetrics *metrics);
void beach_event_hub_set_limits (BeachEventHub *self,
                                 guint max_backlog,
                                 guint keepalive_seconds);
void beach_event_hub_publish (BeachEventHub *self,
                              const gchar *session_id,
                              const gchar *event,
                              JsonObject *data);
void beach_event_hub_add_subscriber (BeachEventHub *self,
                                     SoupServerMessage *msg,
                                     const gchar *session_id);
void beach_event_hub_close_session (BeachEventHub *self,
                                    const gchar *session_id);
void beach_event_hub_shutdown (BeachEventHub *self);
guint beach_event_hub_get_n_subscribers (BeachEventHub *self);

G_END_DECLS
