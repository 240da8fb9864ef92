/* bench-util.c: helpers shared by the benchmarks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define LISTENING_ON "listening on "

/* -- misc ------------------------------------------------------------------ */

gchar *
bench_default_manager (void)
{
  return g_strdup (g_getenv ("BEACH_MANAGER") != NULL ? g_getenv ("BEACH_MANAGER") : "build/src/manager/beach-manager");
}

void
bench_rm_rf (const gchar *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
    const gchar *name;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);

      bench_rm_rf (child);
    }
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

void
bench_die_with_parent (gpointer data)
{
#ifdef __linux__
  prctl (PR_SET_PDEATHSIG, SIGTERM);
#endif
}

GPid
bench_subprocess_pid (GSubprocess *proc)
{
  const gchar *id = proc != NULL ? g_subprocess_get_identifier (proc) : NULL;

  return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

gint64
bench_proc_cpu_us (GPid pid)
{
  g_autofree gchar *path = pid == 0 ? g_strdup ("/proc/self/stat") : g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = NULL;
  g_auto (GStrv) f = NULL;
  const gchar *p;
  long tck = sysconf (_SC_CLK_TCK);

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strrchr (text, ')')) == NULL || tck <= 0)
    return 0;
  /* after "pid (comm)": state is field 3, utime 14, stime 15 */
  f = g_strsplit (p + 2, " ", 16);
  if (g_strv_length (f) < 14)
    return 0;
  return (gint64) (g_ascii_strtoull (f[11], NULL, 10) + g_ascii_strtoull (f[12], NULL, 10)) * G_USEC_PER_SEC / tck;
}

gint64
bench_proc_peak_rss_kb (GPid pid)
{
  g_autofree gchar *path = pid == 0 ? g_strdup ("/proc/self/status") : g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree gchar *text = NULL;
  const gchar *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strstr (text, "\nVmHWM:")) == NULL)
    return 0;
  /* "VmHWM:\t   12345 kB" */
  return g_ascii_strtoll (p + strlen ("\nVmHWM:"), NULL, 10);
}

/* -- latency statistics ---------------------------------------------------- */

gint
bench_cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

gdouble
bench_pct_ms (const gint64 *sorted, guint n, gdouble q)
{
  return sorted[MIN (n - 1, (guint) (n * q))] / 1000.0;
}

void
bench_lat_stats (gint64 *lat, gint64 *after, guint n, BenchLat *out)
{
  gdouble sum = 0;

  for (guint i = 0; i < n; i++)
    sum += (gdouble) lat[i];
  qsort (lat, n, sizeof (gint64), bench_cmp_i64);
  out->n = n;
  out->p50 = bench_pct_ms (lat, n, 0.5);
  out->p99 = bench_pct_ms (lat, n, 0.99);
  out->p999 = bench_pct_ms (lat, n, 0.999);
  out->max = lat[n - 1] / 1000.0;
  out->mean = sum / n / 1000.0;
  if (after != NULL) {
    qsort (after, n, sizeof (gint64), bench_cmp_i64);
    out->after_p50 = bench_pct_ms (after, n, 0.5);
    out->after_p99 = bench_pct_ms (after, n, 0.99);
  }
}

/* -- HTTP ------------------------------------------------------------------ */

static BenchFailureHint failure_hint;

SoupSession *
bench_soup_session_new (void)
{
  /* No proxy lookup for 127.0.0.1 (a NULL resolver means none). */
  return soup_session_new_with_options ("proxy-resolver", NULL, NULL);
}

void
bench_set_failure_hint (BenchFailureHint hint)
{
  failure_hint = hint;
}

guint
bench_request (SoupSession *session, const gchar *method, const gchar *url, const gchar *token, const gchar *body, GBytes **out)
{
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  g_autoptr (GError) error = NULL;

  if (token != NULL) {
    g_autofree gchar *auth = g_strdup_printf ("Bearer %s", token);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  }
  if (body != NULL) {
    g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));

    soup_message_set_request_body_from_bytes (msg, "application/json", b);
  }
  *out = soup_session_send_and_read (session, msg, NULL, &error);
  if (*out == NULL) {
    g_autofree gchar *why = failure_hint != NULL ? failure_hint () : g_strdup ("");

    g_error ("%s %s: %s%s", method, url, error->message, why);
  }
  return soup_message_get_status (msg);
}

JsonNode *
bench_call (SoupSession *session, const gchar *method, const gchar *url, const gchar *token, const gchar *body)
{
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GError) error = NULL;
  guint status = bench_request (session, method, url, token, body, &out);
  JsonNode *node;

  if (status != 200)
    g_error ("%s %s: HTTP %u: %.*s", method, url, status, (int) g_bytes_get_size (out),
             (const char *) g_bytes_get_data (out, NULL));
  node = json_from_string (g_bytes_get_data (out, NULL), &error);
  if (node == NULL)
    g_error ("bad JSON from %s: %s", url, error->message);
  return node;
}

void
bench_open_session (SoupSession *session, const gchar *base, const gchar *operator_token, const gchar *sid, const gchar *transport_mode, gchar **session_token, gchar **lease_token)
{
  g_autofree gchar *url = g_strdup_printf ("%s/sessions/register", base);
  g_autofree gchar *lurl = g_strdup_printf ("%s/sessions/%s/controller/lease", base, sid);
  g_autofree gchar *mode = transport_mode != NULL ? g_strdup_printf (",\"transport_mode\":\"%s\"", transport_mode)
                                                  : g_strdup ("");
  g_autofree gchar *body = g_strdup_printf ("{\"session_id\":\"%s\",\"private_beach_id\":\"pb\",\"harness_type\":\"custom\","
                                            "\"capabilities\":[],\"version\":\"1\"%s}",
                                            sid, mode);
  g_autoptr (JsonNode) reg = bench_call (session, "POST", url, operator_token, body);
  g_autoptr (JsonNode) lease = bench_call (session, "POST", lurl, operator_token, "{\"ttl_ms\":86400000}");

  *session_token = g_strdup (json_object_get_string_member (json_node_get_object (reg), "session_token"));
  *lease_token = g_strdup (json_object_get_string_member (json_node_get_object (lease), "controller_token"));
}

gboolean
bench_wait_ready (SoupSession *session, const gchar *base, gint64 timeout_us)
{
  g_autofree gchar *readyz = g_strdup_printf ("%s/readyz", base);
  gint64 deadline = g_get_monotonic_time () + timeout_us;

  for (;;) {
    g_autoptr (GBytes) body = NULL;

    if (bench_request (session, "GET", readyz, NULL, NULL, &body) == 200)
      return TRUE;
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    g_usleep (20000);
  }
}

/* -- the daemon ------------------------------------------------------------ */

gboolean
bench_daemon_spawn (BenchDaemon *d, const gchar *const *argv, const gchar *config_dir, const gchar *token, BenchDaemonFlags flags, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | ((flags & BENCH_DAEMON_KEEP_STDERR) ? 0 : G_SUBPROCESS_FLAGS_STDERR_SILENCE));
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "BEACH_MANAGER_TOKEN", token, TRUE);
  /* debug output would go to the stdout pipe, which nobody reads */
  if (flags & BENCH_DAEMON_NO_DEBUG_ENV)
    g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  if (flags & BENCH_DAEMON_DIE_WITH_PARENT)
    g_subprocess_launcher_set_child_setup (launcher, bench_die_with_parent, NULL, NULL);
  d->proc = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (d->proc == NULL)
    return FALSE;
  d->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (d->proc));
  return TRUE;
}

gboolean
bench_daemon_read_url (BenchDaemon *d)
{
  g_autofree gchar *line = NULL;

  while ((line = g_data_input_stream_read_line (d->out, NULL, NULL, NULL)) != NULL && !g_str_has_prefix (line, LISTENING_ON))
    g_clear_pointer (&line, g_free);
  if (line == NULL)
    return FALSE;
  d->url = g_strdup (line + strlen (LISTENING_ON));
  return TRUE;
}

gboolean
bench_process_stop (GSubprocess *proc)
{
  g_subprocess_send_signal (proc, SIGTERM);
  g_subprocess_wait (proc, NULL, NULL);
  return g_subprocess_get_if_signaled (proc) || (g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0);
}

gboolean
bench_daemon_stop (BenchDaemon *d)
{
  return d->proc == NULL || bench_process_stop (d->proc);
}

void
bench_daemon_clear (BenchDaemon *d)
{
  bench_daemon_stop (d);
  g_clear_object (&d->out);
  g_clear_object (&d->proc);
  g_clear_pointer (&d->url, g_free);
}
