/* harness-peer.c: a BeachHarness driven over stdin/stdout, for e2e tests
 *
 * Runs one harness against a manager and reports on stdout, one line each:
 *   STARTED <session_token>
 *   LINK <health>                 link-health changed
 *   POLLING <0|1> <pending> <transport>
 *   TRANSPORT <transport>
 *   HANDSHAKE <id>
 *   URL <url>                     the manager in use changed (a failover)
 *   ACTION <id>                   action-received (each one is "applied")
 *   REFRESHED
 *   STATS polls=N attempts=N opened=N pending=N transport=T link=H
 *   TERMINATED <message>
 *   STOPPED
 * Commands on stdin, one per line: `ack on|off` (acks are sent as the
 * action arrives; with `off` they wait), `ack held` (acks what waits),
 * `freeze` (the primary link sends nothing any more: a frozen host),
 * `drop` (closes the primary link gracefully: the manager sees it at once),
 * `replace` (offers a new link beside a healthy primary, which replaces it
 * once healthy: make-before-break; REPLACE-REFUSED when there is no healthy
 * primary or a new link is already on its way), `state N` (publishes a state diff with an N-byte payload), `refresh`,
 * `stats`, `stop` (graceful stop, then exit 0). EOF stops too.
 *
 * usage: harness-peer --url URL[,URL...] --session-id S --private-beach-id P
 *          --token TOKEN [--journal PATH] [--no-ack] [--poll-wait-ms N]
 *          [--health-interval-ms N]
 *
 * It links the internal library for two private hooks, the primary link
 * (freeze, drop) and offering a replacement link (replace); everything else
 * is public API.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <stdio.h>

#include "beach-harness-private.h"
#include "beach.h"

typedef struct {
  GMainLoop *loop;
  BeachHarness *harness;
  GDataInputStream *in;
  GPtrArray *held; /* BeachAction waiting for `ack held` */
  gboolean ack;
  guint64 state_seq;
  gint status;
} Peer;

static void
say (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

static void
say (const gchar *format, ...)
{
  va_list ap;

  va_start (ap, format);
  vprintf (format, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static void
ack_ok (Peer *p, BeachAction *action)
{
  g_autoptr (GError) error = NULL;

  if (!beach_harness_ack (p->harness, action, BEACH_ACK_STATUS_OK, NULL, NULL, &error))
    g_printerr ("harness-peer: ack %s: %s\n", beach_action_get_id (action), error->message);
}

static void
on_action (BeachHarness *harness, BeachAction *action, Peer *p)
{
  say ("ACTION %s", beach_action_get_id (action));
  if (p->ack)
    ack_ok (p, action);
  else
    g_ptr_array_add (p->held, g_object_ref (action));
}

static void
on_notify (BeachHarness *h, GParamSpec *pspec, Peer *p)
{
  const gchar *name = g_param_spec_get_name (pspec);

  if (g_str_equal (name, "link-health"))
    say ("LINK %s", beach_link_health_to_string (beach_harness_get_link_health (h)));
  else if (g_str_equal (name, "polling"))
    say ("POLLING %d %u %s", beach_harness_get_polling (h), beach_harness_get_pending (h),
         beach_transport_to_string (beach_harness_get_transport (h)));
  else if (g_str_equal (name, "transport"))
    say ("TRANSPORT %s", beach_transport_to_string (beach_harness_get_transport (h)));
  else if (g_str_equal (name, "handshake-id"))
    say ("HANDSHAKE %s", beach_harness_get_handshake_id (h));
  else if (g_str_equal (name, "url"))
    say ("URL %s", beach_harness_get_url (h));
}

static void
on_terminated (BeachHarness *h, GError *error, Peer *p)
{
  say ("TERMINATED %s", error->message);
  p->status = 3;
  g_main_loop_quit (p->loop);
}

static void
on_stopped (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;

  beach_harness_stop_finish (BEACH_HARNESS (source), result, NULL);
  say ("STOPPED");
  g_main_loop_quit (p->loop);
}

static void
on_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!beach_harness_refresh_finish (BEACH_HARNESS (source), result, &error))
    say ("REFRESH-FAILED %s", error->message);
  else
    say ("REFRESHED");
}

static void
on_dropped (GObject *source, GAsyncResult *result, gpointer user_data)
{
  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
}

static void read_command (Peer *p);

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;
  g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                                      NULL);
  BeachFastPathLink *link = _beach_harness_get_primary_link (p->harness);

  if (line == NULL || g_str_equal (g_strstrip (line), "stop")) {
    beach_harness_stop_async (p->harness, NULL, on_stopped, p);
    return;
  }
  if (g_str_equal (line, "ack on")) {
    p->ack = TRUE;
  } else if (g_str_equal (line, "ack off")) {
    p->ack = FALSE;
  } else if (g_str_equal (line, "ack held")) {
    for (guint i = 0; i < p->held->len; i++)
      ack_ok (p, p->held->pdata[i]);
    g_ptr_array_set_size (p->held, 0);
  } else if (g_str_equal (line, "freeze") && link != NULL) {
    beach_fast_path_link_set_silent (link, TRUE);
  } else if (g_str_equal (line, "drop") && link != NULL) {
    beach_fast_path_link_close_async (link, NULL, on_dropped, NULL);
  } else if (g_str_equal (line, "replace")) {
    if (!_beach_harness_link_replace (p->harness)) {
      say ("REPLACE-REFUSED primary=%s candidate=%d reconnecting=%d", link != NULL ? beach_link_health_to_string (beach_fast_path_link_get_health (link)) : "none",
           p->harness->candidate != NULL, p->harness->reconnect_id != 0);
      read_command (p);
      return;
    }
  } else if (g_str_has_prefix (line, "state ")) {
    /* `state N`: publishes a state diff whose payload holds N bytes. */
    g_autoptr (JsonObject) obj = json_object_new ();
    g_autoptr (JsonNode) payload = json_node_new (JSON_NODE_OBJECT);
    g_autofree gchar *fill = g_strnfill ((gsize) g_ascii_strtoull (line + 6, NULL, 10), 'x');
    g_autoptr (BeachStateDiff) diff = NULL;
    g_autoptr (GError) error = NULL;

    json_object_set_string_member (obj, "fill", fill);
    json_node_set_object (payload, obj);
    diff = beach_state_diff_new (++p->state_seq, g_get_real_time () / 1000, payload, &error);
    if (diff == NULL || !beach_harness_publish_state (p->harness, diff, &error)) {
      say ("STATE-FAILED %s", error->message);
      read_command (p);
      return;
    }
  } else if (g_str_equal (line, "refresh")) {
    beach_harness_refresh_async (p->harness, NULL, on_refreshed, p);
  } else if (g_str_equal (line, "stats")) {
    say ("STATS polls=%" G_GUINT64_FORMAT " attempts=%u opened=%u pending=%u transport=%s link=%s polling=%d",
         beach_harness_get_polls (p->harness), beach_harness_get_link_attempts (p->harness),
         beach_harness_get_links_opened (p->harness), beach_harness_get_pending (p->harness),
         beach_transport_to_string (beach_harness_get_transport (p->harness)),
         beach_link_health_to_string (beach_harness_get_link_health (p->harness)),
         beach_harness_get_polling (p->harness));
  } else {
    say ("UNKNOWN %s", line);
    read_command (p);
    return;
  }
  say ("OK %s", line);
  read_command (p);
}

static void
read_command (Peer *p)
{
  g_data_input_stream_read_line_async (p->in, G_PRIORITY_DEFAULT, NULL, on_line, p);
}

static void
on_started (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_harness_start_finish (BEACH_HARNESS (source), result, &error)) {
    g_printerr ("harness-peer: %s\n", error->message);
    p->status = 1;
    g_main_loop_quit (p->loop);
    return;
  }
  say ("STARTED %s", beach_harness_get_session_token (p->harness));
  read_command (p);
}

int
main (int argc, char **argv)
{
  Peer p = { 0 };
  g_autofree gchar *url = NULL, *session_id = NULL, *beach_id = NULL, *token = NULL, *journal = NULL;
  gboolean no_ack = FALSE;
  gint poll_wait_ms = 25000;
  gint health_interval_ms = 10000;
  const GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "manager URLs, comma-separated, in failover order", "URL[,URL...]" },
    { "session-id", 0, 0, G_OPTION_ARG_STRING, &session_id, "session id", "ID" },
    { "private-beach-id", 0, 0, G_OPTION_ARG_STRING, &beach_id, "private beach id", "ID" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "operator or session token", "TOKEN" },
    { "journal", 0, 0, G_OPTION_ARG_FILENAME, &journal, "applied-id journal", "PATH" },
    { "no-ack", 0, 0, G_OPTION_ARG_NONE, &no_ack, "hold acks until `ack held`", NULL },
    { "poll-wait-ms", 0, 0, G_OPTION_ARG_INT, &poll_wait_ms, "long-poll wait", "MS" },
    { "health-interval-ms", 0, 0, G_OPTION_ARG_INT, &health_interval_ms, "heartbeat interval", "MS" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- a BeachHarness test peer");
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = NULL;
  g_auto (GStrv) urls = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || url == NULL || session_id == NULL || beach_id == NULL || token == NULL) {
    g_printerr ("harness-peer: %s\n",
                error != NULL ? error->message : "--url, --session-id, --private-beach-id and --token are required");
    return 2;
  }
  p.ack = !no_ack;
  p.loop = g_main_loop_new (NULL, FALSE);
  p.held = g_ptr_array_new_with_free_func (g_object_unref);
  urls = g_strsplit (url, ",", -1);
  /* beach_harness_new_for_urls() and the construct-only settings below: the
   * "urls" property is what it sets. */
  p.harness = g_object_new (BEACH_TYPE_HARNESS, "urls", urls, "session-id", session_id, "private-beach-id", beach_id,
                            "token", token, "journal-path", journal, "poll-wait-ms", (guint) poll_wait_ms,
                            "health-interval-ms", (guint) health_interval_ms,
                            "harness-type", BEACH_HARNESS_TYPE_TERMINAL_SHIM, NULL);
  g_signal_connect (p.harness, "action-received", G_CALLBACK (on_action), &p);
  g_signal_connect (p.harness, "notify", G_CALLBACK (on_notify), &p);
  g_signal_connect (p.harness, "terminated", G_CALLBACK (on_terminated), &p);
  in = g_unix_input_stream_new (0, FALSE);
  p.in = g_data_input_stream_new (in);
  beach_harness_start_async (p.harness, NULL, on_started, &p);
  g_main_loop_run (p.loop);

  g_clear_object (&p.in);
  g_clear_object (&p.harness);
  g_ptr_array_unref (p.held);
  g_main_loop_unref (p.loop);
  return p.status;
}
