/* beach-metrics.h: the daemon's one store of counters, gauges and histograms
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

#include "beach.h"

G_BEGIN_DECLS

#define BEACH_TYPE_METRICS (beach_metrics_get_type ())
G_DECLARE_FINAL_TYPE (BeachMetrics, beach_metrics, BEACH, METRICS, GObject)

BeachMetrics *beach_metrics_new (void);

void beach_metrics_counter_add (BeachMetrics *self,
                                const gchar *family,
                                const gchar *labels,
                                gdouble value);
void beach_metrics_gauge_set (BeachMetrics *self,
                              const gchar *family,
                              const gchar *labels,
                              gdouble value);
void beach_metrics_histogram_observe (BeachMetrics *self,
                                      const gchar *family,
                                      const gchar *labels,
                                      gdouble seconds);
gdouble beach_metrics_get (BeachMetrics *self,
                           const gchar *family,
                           const gchar *labels);

gchar *beach_metrics_labels (const gchar *first_key,
                             ...) G_GNUC_NULL_TERMINATED;
gchar *beach_metrics_session_labels (const gchar *private_beach_id,
                                     const gchar *session_id,
                                     const gchar *first_key,
                                     ...) G_GNUC_NULL_TERMINATED;
gchar *beach_metrics_session_base_labels (const gchar *private_beach_id,
                                          const gchar *session_id);

void beach_metrics_remove_session (BeachMetrics *self,
                                   const gchar *private_beach_id,
                                   const gchar *session_id);
void beach_metrics_remove_series (BeachMetrics *self,
                                  const gchar *family,
                                  const gchar *labels);

void beach_metrics_set_harness_state (BeachMetrics *self,
                                      const gchar *private_beach_id,
                                      const gchar *session_id,
                                      BeachLinkHealth reported);
gchar *beach_metrics_render (BeachMetrics *self);
GVariant *beach_metrics_to_variant (BeachMetrics *self);

void beach_metrics_set_redis_enabled (BeachMetrics *self,
                                      gboolean enabled);
gboolean beach_metrics_get_redis_enabled (BeachMetrics *self);

G_END_DECLS
