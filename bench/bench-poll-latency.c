/* bench-poll-latency.c: long-poll delivery latency of beach-manager
 *
 * Starts the real daemon on a free port with the memory queue, registers an
 * http_fallback session, then sends N actions one at a time. A host thread
 * long-polls, acks in batches, and stamps each arrival. Latency is from
 * just before the controller's POST until the host has the action, which
 * includes the POST itself. Prints one JSON object.
 *
 * With --interval-ms N the host does not long-poll: it polls with
 * wait_ms=0 every N ms on a fixed schedule (the old design, 50 ms), and
 * the controller waits a random 0..N ms before each POST so that actions
 * land at every phase of the polling interval.
 *
 * The first WARMUP actions are sent the same way and not counted.
 *
 * usage: bench-poll-latency [--manager PATH] [-n N] [--interval-ms N]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "bench-util.h"

#define WARMUP 20

typedef struct {
  const gchar *url;
  gchar *session_token;
  guint n;           /* all the actions, warm-up included */
  guint interval_ms; /* 0: long-poll */
  gint64 *recv_us;
  GAsyncQueue *arrivals;
} Bench;

static gpointer
host_thread (gpointer data)
{
  Bench *b = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;
  g_autofree gchar *poll_url = g_strdup_printf ("%s/sessions/bench/actions/poll?wait_ms=%u&max=64", b->url, b->interval_ms > 0 ? 0 : 5000);
  g_autofree gchar *ack_url = g_strdup_printf ("%s/sessions/bench/actions/ack", b->url);
  guint got = 0;
  gint64 next = g_get_monotonic_time ();

  g_main_context_push_thread_default (ctx);
  session = soup_session_new ();
  while (got < b->n) {
    g_autoptr (JsonNode) res = bench_call (session, "GET", poll_url, b->session_token, NULL);
    JsonArray *actions = json_object_get_array_member (json_node_get_object (res), "actions");
    gint64 now = g_get_monotonic_time ();
    g_autoptr (GString) acks = g_string_new ("[");

    for (guint i = 0; i < json_array_get_length (actions); i++) {
      JsonObject *a = json_array_get_object_element (actions, i);
      const gchar *id = json_object_get_string_member (a, "id");
      guint idx = (guint) g_ascii_strtoull (id + 1, NULL, 10);

      if (idx < b->n && b->recv_us[idx] == 0) {
        b->recv_us[idx] = now;
        got++;
        g_async_queue_push (b->arrivals, GUINT_TO_POINTER (idx + 1));
      }
      g_string_append_printf (acks, "%s{\"id\":\"%s\",\"status\":\"ok\",\"applied_at\":%" G_GINT64_FORMAT "}",
                              i > 0 ? "," : "", id, g_get_real_time () / 1000);
    }
    g_string_append_c (acks, ']');
    if (json_array_get_length (actions) > 0) {
      g_autoptr (JsonNode) r = bench_call (session, "POST", ack_url, b->session_token, acks->str);
    }
    if (b->interval_ms > 0) {
      /* a fixed schedule: the next poll INTERVAL after the last one began */
      next += b->interval_ms * G_TIME_SPAN_MILLISECOND;
      now = g_get_monotonic_time ();
      if (next > now)
        g_usleep (next - now);
      else
        next = now;
    }
  }
  g_main_context_pop_thread_default (ctx);
  return NULL;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *manager = NULL;
  gint n = 10000;
  gint interval_ms = 0;
  gint total;
  const GOptionEntry entries[] = {
    { "manager", 0, 0, G_OPTION_ARG_FILENAME, &manager, "beach-manager binary", "PATH" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &n, "actions to send (10000)", "N" },
    { "interval-ms", 0, 0, G_OPTION_ARG_INT, &interval_ms, "poll with wait_ms=0 every N ms instead of long-polling", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("- long-poll delivery latency");
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = NULL;
  g_auto (BenchDaemon) d = { 0 };
  g_autoptr (SoupSession) session = NULL;
  g_autofree gchar *lease_token = NULL;
  g_autofree gchar *actions_url = NULL;
  g_autofree gint64 *send_us = NULL;
  g_autofree gint64 *lat = NULL;
  g_autofree gint64 *posted_us = NULL;
  g_autofree gint64 *wake = NULL;
  Bench b = { 0 };
  BenchLat l;
  GThread *host;

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error) || n < 1 || interval_ms < 0) {
    g_printerr ("bench-poll-latency: %s\n", error != NULL ? error->message : "-n must be >= 1, --interval-ms >= 0");
    return 2;
  }
  total = n + WARMUP;
  if (manager == NULL)
    manager = bench_default_manager ();

  tmp = g_dir_make_tmp ("beach-bench-XXXXXX", &error);
  g_assert_no_error (error);
  {
    const gchar *args[] = { manager, "--listen", "127.0.0.1:0", NULL };

    if (!bench_daemon_spawn (&d, args, tmp, BENCH_OPERATOR_TOKEN, BENCH_DAEMON_NONE, &error)) {
      g_printerr ("bench-poll-latency: cannot start %s: %s\n", manager, error->message);
      return 1;
    }
  }
  if (!bench_daemon_read_url (&d)) {
    g_printerr ("bench-poll-latency: the manager did not start\n");
    return 1;
  }
  b.url = d.url;
  b.n = (guint) total;
  b.interval_ms = (guint) interval_ms;
  b.recv_us = g_new0 (gint64, total);
  b.arrivals = g_async_queue_new ();
  send_us = g_new0 (gint64, total);
  lat = g_new0 (gint64, n);
  posted_us = g_new0 (gint64, total);
  wake = g_new0 (gint64, n);

  session = soup_session_new ();
  bench_open_session (session, b.url, BENCH_OPERATOR_TOKEN, "bench", "http_fallback", &b.session_token, &lease_token);
  actions_url = g_strdup_printf ("%s/sessions/bench/actions", b.url);
  host = g_thread_new ("host", host_thread, &b);

  for (gint i = 0; i < total; i++) {
    g_autofree gchar *body = g_strdup_printf (
      "{\"actions\":[{\"id\":\"b%d\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"x\"}}]}", i);
    g_autoptr (JsonNode) r = NULL;
    gpointer arrived;

    if (interval_ms > 0)
      g_usleep (g_random_int_range (0, interval_ms * 1000));
    send_us[i] = g_get_monotonic_time ();
    r = bench_call (session, "POST", actions_url, lease_token, body);
    posted_us[i] = g_get_monotonic_time ();
    arrived = g_async_queue_timeout_pop (b.arrivals, 10 * G_USEC_PER_SEC);
    if (arrived == NULL)
      g_error ("action %d never arrived", i);
  }
  g_thread_join (host);

  for (gint i = 0; i < n; i++) {
    lat[i] = b.recv_us[WARMUP + i] - send_us[WARMUP + i];
    /* negative when the poll answer beat the POST's own answer */
    wake[i] = MAX (0, b.recv_us[WARMUP + i] - posted_us[WARMUP + i]);
  }
  bench_lat_stats (lat, wake, (guint) n, &l);
  /* p50/p99: enqueue (before the POST) until the host has it.
   * after_post: from the POST's answer until the host has it. */
  g_print ("{\"bench\":\"poll-latency\",\"backend\":\"memory\",\"mode\":\"%s\",\"interval_ms\":%d,"
           "\"actions\":%d,\"warmup\":%d,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
           "\"after_post_p50_ms\":%.3f,\"after_post_p99_ms\":%.3f,\"daemon_peak_rss_kb\":%" G_GINT64_FORMAT "}\n",
           interval_ms > 0 ? "interval" : "long_poll", interval_ms, n, WARMUP, l.p50, l.p99, l.p999, l.max, l.mean,
           l.after_p50, l.after_p99, bench_proc_peak_rss_kb (bench_subprocess_pid (d.proc)));

  bench_daemon_stop (&d);
  /* the manager's state dir */
  bench_rm_rf (tmp);
  g_free (b.session_token);
  g_free (b.recv_us);
  g_async_queue_unref (b.arrivals);
  return 0;
}
