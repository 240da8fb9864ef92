/* beach-health.h: a harness health heartbeat
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

/**
 * BEACH_HEALTH_WARNINGS_MAX:
 *
 * The most entries `warnings` may hold.
 */
#define BEACH_HEALTH_WARNINGS_MAX 64

/**
 * BEACH_HEALTH_WARNING_MAX_LEN:
 *
 * The longest warning, in bytes.
 */
#define BEACH_HEALTH_WARNING_MAX_LEN 1024

/**
 * BEACH_HEALTH_LAST_ERROR_MAX_LEN:
 *
 * The longest `fast_path.last_error`, in bytes.
 */
#define BEACH_HEALTH_LAST_ERROR_MAX_LEN 4096

#define BEACH_TYPE_HEALTH (beach_health_get_type ())
G_DECLARE_FINAL_TYPE (BeachHealth, beach_health, BEACH, HEALTH, GObject)

BeachHealth *beach_health_new (guint64 queue_depth,
                               gboolean degraded);
BeachHealth *beach_health_new_from_json (JsonNode *node,
                                         GError **error);
BeachHealth *beach_health_new_from_string (const gchar *json,
                                           GError **error);

void beach_health_set_cpu_load (BeachHealth *self,
                                gdouble cpu_load);
void beach_health_set_memory_bytes (BeachHealth *self,
                                    gint64 memory_bytes);
gboolean beach_health_add_warning (BeachHealth *self,
                                   const gchar *warning);
void beach_health_set_fast_path (BeachHealth *self,
                                 BeachLinkHealth state,
                                 guint attempts,
                                 const gchar *last_error);

guint64 beach_health_get_queue_depth (BeachHealth *self);
gboolean beach_health_get_degraded (BeachHealth *self);
gboolean beach_health_has_cpu_load (BeachHealth *self);
gdouble beach_health_get_cpu_load (BeachHealth *self);
gint64 beach_health_get_memory_bytes (BeachHealth *self);
const gchar *const *beach_health_get_warnings (BeachHealth *self);
gboolean beach_health_has_fast_path (BeachHealth *self);
BeachLinkHealth beach_health_get_fast_path_state (BeachHealth *self);
guint beach_health_get_fast_path_attempts (BeachHealth *self);
const gchar *beach_health_get_fast_path_last_error (BeachHealth *self);

JsonNode *beach_health_to_json (BeachHealth *self);
gchar *beach_health_to_string (BeachHealth *self);

G_END_DECLS
