/* beach-log-limiter.c: at most a few log lines per (session, kind) a minute
 *
 * A flapping link must not flood the journal: each (session, message kind)
 * may log `burst` lines per window; the rest are counted, and the next line
 * that gets through says how many were suppressed. Every transition still
 * reaches the metrics and the event stream; only the log is thinned.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-log-limiter"

#include "config.h"

#include "beach-log-limiter.h"

/* Bounds the table when sessions come and go without being forgotten. */
#define MAX_KEYS 65536

struct _BeachLogLimiter {
  guint burst;
  gint64 window_us;
  GHashTable *keys; /* "session\x1fkind" -> Bucket */
  GMutex lock;      /* GLib may log from any thread */
};

typedef struct {
  gint64 window_start_us;
  guint logged;
  guint suppressed;
} Bucket;

BeachLogLimiter *
beach_log_limiter_new (guint burst, guint window_ms)
{
  BeachLogLimiter *self = g_new0 (BeachLogLimiter, 1);

  self->burst = MAX (burst, 1);
  self->window_us = (gint64) MAX (window_ms, 1) * 1000;
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init (&self->lock);
  return self;
}

void
beach_log_limiter_free (BeachLogLimiter *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->keys);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* The process's limiter, shared by every daemon object. */
BeachLogLimiter *
beach_log_limiter_get_default (void)
{
  static gsize limiter;

  if (g_once_init_enter (&limiter))
    g_once_init_leave (&limiter,
                       (gsize) beach_log_limiter_new (BEACH_LOG_LIMITER_BURST, BEACH_LOG_LIMITER_WINDOW_MS));
  return (BeachLogLimiter *) limiter;
}

/* TRUE when this line may be logged. *suppressed is how many lines of the
 * same key were dropped since the last one that got through. */
gboolean
beach_log_limiter_check (BeachLogLimiter *self, const gchar *session_id, const gchar *kind, gint64 now_us, guint *suppressed)
{
  g_autofree gchar *key = g_strdup_printf ("%s\x1f%s", session_id != NULL ? session_id : "", kind);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  Bucket *b = g_hash_table_lookup (self->keys, key);

  *suppressed = 0;
  if (b == NULL) {
    if (g_hash_table_size (self->keys) >= MAX_KEYS)
      g_hash_table_remove_all (self->keys);
    b = g_new0 (Bucket, 1);
    b->window_start_us = now_us;
    g_hash_table_insert (self->keys, g_steal_pointer (&key), b);
  }
  if (now_us - b->window_start_us >= self->window_us) {
    b->window_start_us = now_us;
    b->logged = 0;
  }
  if (b->logged >= self->burst) {
    b->suppressed++;
    return FALSE;
  }
  b->logged++;
  *suppressed = b->suppressed;
  b->suppressed = 0;
  return TRUE;
}

void
beach_log_limiter_forget_session (BeachLogLimiter *self, const gchar *session_id)
{
  g_autofree gchar *prefix = g_strdup_printf ("%s\x1f", session_id);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->keys);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    if (g_str_has_prefix (key, prefix))
      g_hash_table_iter_remove (&iter);
  }
}

void
beach_log_limited (BeachLogLimiter *self,
                   const gchar *log_domain,
                   GLogLevelFlags level,
                   const gchar *session_id,
                   const gchar *kind,
                   const gchar *format,
                   ...)
{
  g_autofree gchar *message = NULL;
  guint suppressed = 0;
  va_list ap;

  if (self == NULL)
    self = beach_log_limiter_get_default ();
  if (!beach_log_limiter_check (self, session_id, kind, g_get_monotonic_time (), &suppressed))
    return;
  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (suppressed > 0)
    g_log (log_domain, level, "%s (%u similar messages suppressed)", message, suppressed);
  else
    g_log (log_domain, level, "%s", message);
}
