/* beach-log-limiter.h: at most a few log lines per (session, kind) a minute
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define BEACH_LOG_LIMITER_BURST     5
#define BEACH_LOG_LIMITER_WINDOW_MS 60000

typedef struct _BeachLogLimiter BeachLogLimiter;

BeachLogLimiter *beach_log_limiter_new (guint burst,
                                        guint window_ms);
void beach_log_limiter_free (BeachLogLimiter *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachLogLimiter, beach_log_limiter_free)

BeachLogLimiter *beach_log_limiter_get_default (void);

gboolean beach_log_limiter_check (BeachLogLimiter *self,
                                  const gchar *session_id,
                                  const gchar *kind,
                                  gint64 now_us,
                                  guint *suppressed);
void beach_log_limiter_forget_session (BeachLogLimiter *self,
                                       const gchar *session_id);

void beach_log_limited (BeachLogLimiter *self,
                        const gchar *log_domain,
                        GLogLevelFlags level,
                        const gchar *session_id,
                        const gchar *kind,
                        const gchar *format,
                        ...) G_GNUC_PRINTF (6, 7);

/* A session's repeated message, through the default limiter. */
#define beach_session_message(session_id, kind, ...) \
  beach_log_limited (NULL, G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, (session_id), (kind), __VA_ARGS__)
#define beach_session_warning(session_id, kind, ...) \
  beach_log_limited (NULL, G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, (session_id), (kind), __VA_ARGS__)

G_END_DECLS
