/* bench-poll-latency.c: long-poll delivery latency of beach-manager
 *
 * Starts the real daemon on a free port with the memory queue, registers an
 * http_fallback session, then sends N actions one at a time. A host thread
 * long-polls, acks in batches, and stamps each arrival. Latency is from
 * just before the controller's POST until the host has the action, which
 * includes the POST itself. Prints one JSON object.
 *
 * usage: bench-poll-latency [--manager PATH] [-n N]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <glib/gstdio.h>
#include <stdlib.h>

typedef struct {
  gchar *url;
  gchar *session_token;
  guint n;
  gint64 *recv_us;
  GAsyncQueue *arrivals;
} Bench;

static JsonNode *
call (SoupSession *session, const gchar *method, const gchar *url, const gchar *token, const gchar *body)
{
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autofree gchar *auth = g_strdup_printf ("Bearer %s", token);
  JsonNode *node;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  if (body != NULL) {
    g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));

    soup_message_set_request_body_from_bytes (msg, "application/json", b);
  }
  out = soup_session_send_and_read (session, msg, NULL, &error);
  if (out == NULL)
    g_error ("%s %s: %s", method, url, error->message);
  if (soup_message_get_status (msg) != 200)
    g_error ("%s %s: HTTP %u: %.*s", method, url, soup_message_get_status (msg),
             (int) g_bytes_get_size (out), (const char *) g_bytes_get_data (out, NULL));
  node = json_from_string (g_bytes_get_data (out, NULL), &error);
  if (node == NULL)
    g_error ("bad JSON from %s: %s", url, error->message);
  return node;
}

static gpointer
host_thread (gpointer data)
{
  Bench *b = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;
  g_autofree gchar *poll_url = g_strdup_printf ("%s/sessions/bench/actions/poll?wait_ms=5000&max=64", b->url);
  g_autofree gchar *ack_url = g_strdup_printf ("%s/sessions/bench/actions/ack", b->url);
  guint got = 0;

  g_main_context_push_thread_default (ctx);
  session = soup_session_new ();
  while (got < b->n) {
    g_autoptr (JsonNode) res = call (session, "GET", poll_url, b->session_token, NULL);
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
      g_autoptr (JsonNode) r = call (session, "POST", ack_url, b->session_token, acks->str);
    }
  }
  g_main_context_pop_thread_default (ctx);
  return NULL;
}

static gint
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *manager = NULL;
  gint n = 10000;
  const GOptionEntry entries[] = {
    { "manager", 0, 0, G_OPTION_ARG_FILENAME, &manager, "beach-manager binary", "PATH" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &n, "actions to send (10000)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("- long-poll delivery latency");
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree gchar *line = NULL;
  const gchar *token = "bench-operator-token-0123456789abcdef";
  g_autoptr (SoupSession) session = NULL;
  g_autoptr (JsonNode) reg = NULL;
  g_autoptr (JsonNode) lease = NULL;
  g_autofree gchar *lease_token = NULL;
  g_autofree gchar *actions_url = NULL;
  g_autofree gint64 *send_us = NULL;
  g_autofree gint64 *lat = NULL;
  g_autofree gint64 *posted_us = NULL;
  g_autofree gint64 *wake = NULL;
  Bench b = { 0 };
  GThread *host;
  gdouble sum = 0;

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error) || n < 1) {
    g_printerr ("bench-poll-latency: %s\n", error != NULL ? error->message : "-n must be >= 1");
    return 2;
  }
  if (manager == NULL)
    manager = g_strdup (g_getenv ("BEACH_MANAGER") != NULL ? g_getenv ("BEACH_MANAGER") : "build/src/manager/beach-manager");

  tmp = g_dir_make_tmp ("beach-bench-XXXXXX", &error);
  g_assert_no_error (error);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", tmp, TRUE);
  g_subprocess_launcher_setenv (launcher, "BEACH_MANAGER_TOKEN", token, TRUE);
  proc = g_subprocess_launcher_spawn (launcher, &error, manager, "--listen", "127.0.0.1:0", NULL);
  if (proc == NULL) {
    g_printerr ("bench-poll-latency: cannot start %s: %s\n", manager, error->message);
    return 1;
  }
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  while ((line = g_data_input_stream_read_line (out, NULL, NULL, &error)) != NULL && !g_str_has_prefix (line, "listening on "))
    g_clear_pointer (&line, g_free);
  if (line == NULL) {
    g_printerr ("bench-poll-latency: the manager did not start\n");
    return 1;
  }
  b.url = g_strdup (line + strlen ("listening on "));
  b.n = (guint) n;
  b.recv_us = g_new0 (gint64, n);
  b.arrivals = g_async_queue_new ();
  send_us = g_new0 (gint64, n);
  lat = g_new0 (gint64, n);
  posted_us = g_new0 (gint64, n);
  wake = g_new0 (gint64, n);

  session = soup_session_new ();
  {
    g_autofree gchar *url = g_strdup_printf ("%s/sessions/register", b.url);
    g_autofree gchar *lurl = g_strdup_printf ("%s/sessions/bench/controller/lease", b.url);

    reg = call (session, "POST", url, token,
                "{\"session_id\":\"bench\",\"private_beach_id\":\"pb\",\"harness_type\":\"custom\","
                "\"capabilities\":[],\"version\":\"1\",\"transport_mode\":\"http_fallback\"}");
    b.session_token = g_strdup (json_object_get_string_member (json_node_get_object (reg), "session_token"));
    lease = call (session, "POST", lurl, token, "{\"ttl_ms\":86400000}");
    lease_token = g_strdup (json_object_get_string_member (json_node_get_object (lease), "controller_token"));
  }
  actions_url = g_strdup_printf ("%s/sessions/bench/actions", b.url);
  host = g_thread_new ("host", host_thread, &b);

  for (gint i = 0; i < n; i++) {
    g_autofree gchar *body = g_strdup_printf (
      "{\"actions\":[{\"id\":\"b%d\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"x\"}}]}", i);
    g_autoptr (JsonNode) r = NULL;
    gpointer arrived;

    send_us[i] = g_get_monotonic_time ();
    r = call (session, "POST", actions_url, lease_token, body);
    posted_us[i] = g_get_monotonic_time ();
    arrived = g_async_queue_timeout_pop (b.arrivals, 10 * G_USEC_PER_SEC);
    if (arrived == NULL)
      g_error ("action %d never arrived", i);
  }
  g_thread_join (host);

  for (gint i = 0; i < n; i++) {
    lat[i] = b.recv_us[i] - send_us[i];
    /* negative when the poll answer beat the POST's own answer */
    wake[i] = MAX (0, b.recv_us[i] - posted_us[i]);
    sum += (gdouble) lat[i];
  }
  qsort (lat, n, sizeof (gint64), (int (*) (const void *, const void *)) cmp_i64);
  qsort (wake, n, sizeof (gint64), (int (*) (const void *, const void *)) cmp_i64);
  /* p50/p99: enqueue (before the POST) until the host has it.
   * after_post: from the POST's answer until the host has it. */
  g_print ("{\"bench\":\"poll-latency\",\"backend\":\"memory\",\"actions\":%d,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
           "\"after_post_p50_ms\":%.3f,\"after_post_p99_ms\":%.3f}\n",
           n, lat[n / 2] / 1000.0, lat[(gint) (n * 0.99)] / 1000.0,
           lat[MIN (n - 1, (gint) (n * 0.999))] / 1000.0, lat[n - 1] / 1000.0, sum / n / 1000.0,
           wake[n / 2] / 1000.0, wake[(gint) (n * 0.99)] / 1000.0);

  g_subprocess_send_signal (proc, SIGTERM);
  g_subprocess_wait (proc, NULL, NULL);
  {
    /* The manager's state dir: the token and secret files, then the dir. */
    g_autofree gchar *state = g_build_filename (tmp, "beach-manager", NULL);
    g_autofree gchar *secret = g_build_filename (state, "session-secret", NULL);

    g_unlink (secret);
    g_rmdir (state);
    g_rmdir (tmp);
  }
  g_free (b.url);
  g_free (b.session_token);
  g_free (b.recv_us);
  g_async_queue_unref (b.arrivals);
  return 0;
}
