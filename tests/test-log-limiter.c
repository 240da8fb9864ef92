/* test-log-limiter.c: per (session, kind) log rate limiting
 *
 * A custom log writer counts the lines that reach the log while a session
 * "flaps" 100 times through four message kinds.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "test-log-limiter"

#include "config.h"

#include <glib.h>

#include "beach-log-limiter.h"

static GPtrArray *captured;

static GLogWriterOutput
counting_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  for (gsize i = 0; i < n_fields; i++) {
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && g_strcmp0 (fields[i].value, G_LOG_DOMAIN) != 0)
      return g_log_writer_default (level, fields, n_fields, user_data);
  }
  for (gsize i = 0; i < n_fields; i++) {
    if (g_str_equal (fields[i].key, "MESSAGE"))
      g_ptr_array_add (captured, g_strdup (fields[i].value));
  }
  return G_LOG_WRITER_HANDLED;
}

static guint
count_containing (const gchar *needle)
{
  guint n = 0;

  for (guint i = 0; i < captured->len; i++)
    n += strstr (captured->pdata[i], needle) != NULL;
  return n;
}

static const gchar *const kinds[] = { "transport", "link_primary", "link_lost", "demote" };

static void
flap (BeachLogLimiter *limiter, const gchar *session, guint times, gint64 *now_us)
{
  for (guint i = 0; i < times; i++) {
    for (guint k = 0; k < G_N_ELEMENTS (kinds); k++) {
      guint suppressed = 0;

      if (beach_log_limiter_check (limiter, session, kinds[k], *now_us, &suppressed)) {
        if (suppressed > 0)
          g_message ("session %s: %s %u (%u similar messages suppressed)", session, kinds[k], i, suppressed);
        else
          g_message ("session %s: %s %u", session, kinds[k], i);
      }
    }
    *now_us += 300 * 1000; /* a flap every 300 ms */
  }
}

static void
test_hundred_flaps_are_bounded (void)
{
  g_autoptr (BeachLogLimiter) limiter = beach_log_limiter_new (5, 60000);
  gint64 now = 1000000;

  g_ptr_array_set_size (captured, 0);
  flap (limiter, "s1", 100, &now); /* 30 s: inside one window */
  g_assert_cmpuint (captured->len, ==, 5 * G_N_ELEMENTS (kinds));
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++) {
    g_autofree gchar *needle = g_strdup_printf ("s1: %s ", kinds[k]);

    g_assert_cmpuint (count_containing (needle), ==, 5);
  }
  /* The window rolls over: the next line says how many were dropped. */
  now += 60 * G_USEC_PER_SEC;
  flap (limiter, "s1", 1, &now);
  g_assert_cmpuint (captured->len, ==, 5 * G_N_ELEMENTS (kinds) + G_N_ELEMENTS (kinds));
  g_assert_cmpuint (count_containing ("(95 similar messages suppressed)"), ==, G_N_ELEMENTS (kinds));
}

static void
test_sessions_are_independent (void)
{
  g_autoptr (BeachLogLimiter) limiter = beach_log_limiter_new (2, 60000);
  gint64 now = 1;
  guint suppressed;

  g_assert_true (beach_log_limiter_check (limiter, "a", "k", now, &suppressed));
  g_assert_true (beach_log_limiter_check (limiter, "a", "k", now, &suppressed));
  g_assert_false (beach_log_limiter_check (limiter, "a", "k", now, &suppressed));
  g_assert_true (beach_log_limiter_check (limiter, "b", "k", now, &suppressed));
  g_assert_true (beach_log_limiter_check (limiter, "a", "other", now, &suppressed));
  g_assert_cmpuint (suppressed, ==, 0);
  /* A deleted session starts afresh. */
  beach_log_limiter_forget_session (limiter, "a");
  g_assert_true (beach_log_limiter_check (limiter, "a", "k", now, &suppressed));
  g_assert_cmpuint (suppressed, ==, 0);
  g_assert_true (beach_log_limiter_check (limiter, "b", "k", now, &suppressed));
  g_assert_false (beach_log_limiter_check (limiter, "b", "k", now, &suppressed));
}

static void
test_limited_logs_through_glib (void)
{
  g_autoptr (BeachLogLimiter) limiter = beach_log_limiter_new (1, 60000);

  g_ptr_array_set_size (captured, 0);
  for (guint i = 0; i < 10; i++)
    beach_log_limited (limiter, G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "s9", "kind", "session %s: line %u", "s9", i);
  g_assert_cmpuint (captured->len, ==, 1);
  g_assert_cmpstr (captured->pdata[0], ==, "session s9: line 0");
  /* The default limiter exists and limits too. */
  g_assert_nonnull (beach_log_limiter_get_default ());
  g_assert_true (beach_log_limiter_get_default () == beach_log_limiter_get_default ());
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  captured = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (counting_writer, NULL, NULL);
  g_test_add_func ("/log-limiter/hundred-flaps-are-bounded", test_hundred_flaps_are_bounded);
  g_test_add_func ("/log-limiter/sessions-are-independent", test_sessions_are_independent);
  g_test_add_func ("/log-limiter/limited-logs-through-glib", test_limited_logs_through_glib);
  return g_test_run ();
}
