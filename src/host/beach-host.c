/* beach-host.c: run a command in a pseudo-terminal, attached to a manager
 *
 *   beach-host --manager URL[,URL…] [--manager URL…] --session-id ID \
 *       --private-beach-id P --token T -- COMMAND [ARGS]
 *
 * All transport is BeachHarness's; this file only maps actions onto the
 * terminal, publishes the terminal's output as state, and logs the
 * harness's transitions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-host"

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>

#include "beach-i18n.h"
#include "beach-terminal.h"
#include "beach.h"

#define SETTLE_QUIET_MS 100 /* output quiet this long after an action: publish */
#define SETTLE_MAX_MS   1000

typedef struct {
  /* Options. */
  gchar **managers; /* as given: repeated, each maybe a comma-separated list */
  gchar **urls;     /* every manager URL, in order */
  gchar *manager;   /* the list, for messages */
  gchar *session_id;
  gchar *beach_id;
  gchar *token;
  gchar *journal;
  gboolean no_journal;
  gboolean json_log;
  gint rows;
  gint cols;
  gint scrollback;
  gint connect_timeout_s;
  gint state_interval_ms;
  gchar **local_addresses;
  gchar **command;

  GMainLoop *loop;
  BeachHarness *harness;
  BeachTerminal *terminal;
  GCancellable *connecting;
  guint connect_timer_id;
  guint state_timer_id;
  guint settle_id;
  gint64 settle_deadline_us;
  guint64 sequence;
  gboolean was_paused;
  gboolean stopping;
  gint status;
} Host;

/* -- logging */

static GLogWriterOutput
json_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree gchar *text = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree gchar *ts = g_date_time_format_iso8601 (now);
  const gchar *domain = NULL, *message = NULL;

  if (g_log_writer_default_would_drop (level, NULL))
    return G_LOG_WRITER_HANDLED;
  for (gsize i = 0; i < n_fields; i++) {
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      domain = fields[i].value;
    else if (g_str_equal (fields[i].key, "MESSAGE"))
      message = fields[i].value;
  }
  if (domain != NULL && g_log_writer_default_would_drop (level, domain))
    return G_LOG_WRITER_HANDLED;
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "time");
  json_builder_add_string_value (b, ts);
  json_builder_set_member_name (b, "level");
  json_builder_add_string_value (b, (level & G_LOG_LEVEL_ERROR)      ? "error"
                                    : (level & G_LOG_LEVEL_CRITICAL) ? "critical"
                                    : (level & G_LOG_LEVEL_WARNING)  ? "warning"
                                    : (level & G_LOG_LEVEL_MESSAGE)  ? "message"
                                    : (level & G_LOG_LEVEL_INFO)     ? "info"
                                                                     : "debug");
  json_builder_set_member_name (b, "domain");
  json_builder_add_string_value (b, domain);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  text = json_to_string (root, FALSE);
  fprintf (stderr, "%s\n", text);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

/* -- state */

static void
publish_state (Host *h)
{
  g_auto (GStrv) lines = beach_terminal_get_lines (h->terminal);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) payload = NULL;
  g_autoptr (BeachStateDiff) diff = NULL;
  g_autoptr (GError) error = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "terminal_full");
  json_builder_set_member_name (b, "rows");
  json_builder_add_int_value (b, beach_terminal_get_rows (h->terminal));
  json_builder_set_member_name (b, "cols");
  json_builder_add_int_value (b, beach_terminal_get_cols (h->terminal));
  json_builder_set_member_name (b, "lines");
  json_builder_begin_array (b);
  for (guint i = 0; lines[i] != NULL; i++)
    json_builder_add_string_value (b, lines[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  payload = json_builder_get_root (b);
  diff = beach_state_diff_new (++h->sequence, g_get_real_time () / 1000, payload, &error);
  if (diff == NULL || !beach_harness_publish_state (h->harness, diff, &error))
    g_debug ("state %" G_GUINT64_FORMAT " not published: %s", h->sequence, error->message);
}

static gboolean
on_state_timer (gpointer user_data)
{
  publish_state (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_settled (gpointer user_data)
{
  Host *h = user_data;

  h->settle_id = 0;
  h->settle_deadline_us = 0;
  publish_state (h);
  return G_SOURCE_REMOVE;
}

/* After an action, the state goes out once the command's output is quiet
 * for a moment (or a second at most), not at the next tick. */
static void
arm_settle (Host *h)
{
  gint64 now = g_get_monotonic_time ();
  gint64 delay_ms;

  if (h->settle_deadline_us == 0)
    return;
  g_clear_handle_id (&h->settle_id, g_source_remove);
  delay_ms = MIN ((gint64) SETTLE_QUIET_MS, MAX ((h->settle_deadline_us - now) / 1000, 0));
  h->settle_id = g_timeout_add ((guint) delay_ms, on_settled, h);
}

static void
on_output (BeachTerminal *terminal, Host *h)
{
  arm_settle (h);
}

/* -- actions */

typedef struct {
  Host *host;
  BeachAction *action;
} WriteCtx;

static void
ack (Host *h, BeachAction *action, BeachAckStatus status, const gchar *code, const gchar *message)
{
  g_autoptr (GError) error = NULL;

  if (!beach_harness_ack (h->harness, action, status, code, message, &error))
    g_warning ("Action %s could not be acked: %s", beach_action_get_id (action), error->message);
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  WriteCtx *ctx = user_data;
  g_autoptr (GError) error = NULL;

  if (beach_terminal_write_finish (BEACH_TERMINAL (source), result, &error)) {
    ack (ctx->host, ctx->action, BEACH_ACK_STATUS_OK, NULL, NULL);
    if (ctx->host->settle_deadline_us == 0)
      ctx->host->settle_deadline_us = g_get_monotonic_time () + SETTLE_MAX_MS * 1000;
    arm_settle (ctx->host);
  } else {
    /* Not applied, so never `ok`. */
    ack (ctx->host, ctx->action, BEACH_ACK_STATUS_REJECTED, "write_failed", error->message);
  }
  g_object_unref (ctx->action);
  g_free (ctx);
}

static void
on_action (BeachHarness *harness, BeachAction *action, Host *h)
{
  const gchar *bytes;
  WriteCtx *ctx;

  if (!g_str_equal (beach_action_get_action_type (action), "terminal_write")) {
    ack (h, action, BEACH_ACK_STATUS_REJECTED, "unsupported_action",
         "beach-host applies terminal_write actions only");
    return;
  }
  if (h->terminal == NULL || beach_terminal_get_exited (h->terminal)) {
    ack (h, action, BEACH_ACK_STATUS_REJECTED, "write_failed", "the command has exited");
    return;
  }
  bytes = beach_action_get_terminal_bytes (action);
  ctx = g_new0 (WriteCtx, 1);
  ctx->host = h;
  ctx->action = g_object_ref (action);
  beach_terminal_write_async (h->terminal, bytes, strlen (bytes), NULL, on_written, ctx);
}

/* -- transitions */

static void
on_notify (BeachHarness *harness, GParamSpec *pspec, Host *h)
{
  const gchar *name = g_param_spec_get_name (pspec);

  if (g_str_equal (name, "polling")) {
    if (!beach_harness_get_polling (harness)) {
      h->was_paused = TRUE;
      g_message ("fast path ready; http poller paused");
    } else if (h->was_paused) {
      g_message ("http poller resumed (%s; manager transport %s)",
                 beach_harness_get_polling_reason (harness),
                 beach_transport_to_string (beach_harness_get_transport (harness)));
    }
  } else if (g_str_equal (name, "link-health")) {
    BeachLinkHealth health = beach_harness_get_link_health (harness);

    if (health == BEACH_LINK_HEALTH_HEALTHY || beach_harness_get_last_error (harness) == NULL)
      g_message ("fast path %s", beach_link_health_to_string (health));
    else
      g_message ("fast path %s (%s)", beach_link_health_to_string (health),
                 beach_harness_get_last_error (harness));
  } else if (g_str_equal (name, "transport")) {
    g_message ("manager transport: %s", beach_transport_to_string (beach_harness_get_transport (harness)));
  } else if (g_str_equal (name, "handshake-id")) {
    g_message ("handshake id %s", beach_harness_get_handshake_id (harness));
  } else if (g_str_equal (name, "url")) {
    g_message ("manager %s", beach_harness_get_url (harness));
  }
}

/* -- lifetime */

static void
on_stopped (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Host *h = user_data;

  beach_harness_stop_finish (BEACH_HARNESS (source), result, NULL);
  g_main_loop_quit (h->loop);
}

/* Closes the link gracefully (channels first), then quits with status. */
static void
shut_down (Host *h, gint status)
{
  if (h->stopping)
    return;
  h->stopping = TRUE;
  h->status = status;
  g_clear_handle_id (&h->state_timer_id, g_source_remove);
  g_clear_handle_id (&h->settle_id, g_source_remove);
  if (h->terminal != NULL && !beach_terminal_get_exited (h->terminal))
    publish_state (h);
  beach_harness_stop_async (h->harness, NULL, on_stopped, h);
}

static void
on_exited (BeachTerminal *terminal, gint status, Host *h)
{
  g_message ("the command exited with status %d", status);
  publish_state (h);
  shut_down (h, status);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Host *h = user_data;

  g_message ("stopping on a signal");
  if (h->terminal != NULL)
    beach_terminal_hangup (h->terminal);
  if (h->connecting != NULL)
    g_cancellable_cancel (h->connecting);
  else
    shut_down (h, 0);
  return G_SOURCE_CONTINUE;
}

static void
on_terminated (BeachHarness *harness, GError *error, Host *h)
{
  g_printerr (_ ("beach-host: the manager ended the session: %s\n"), error->message);
  if (h->terminal != NULL)
    beach_terminal_hangup (h->terminal);
  h->status = 1;
  g_main_loop_quit (h->loop);
}

static gboolean
on_connect_timeout (gpointer user_data)
{
  Host *h = user_data;

  h->connect_timer_id = 0;
  g_cancellable_cancel (h->connecting);
  return G_SOURCE_REMOVE;
}

static void
on_started (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Host *h = user_data;
  g_autoptr (GError) error = NULL;
  gboolean timed_out = h->connect_timer_id == 0;

  g_clear_handle_id (&h->connect_timer_id, g_source_remove);
  g_clear_object (&h->connecting);
  if (!beach_harness_start_finish (h->harness, result, &error)) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && timed_out)
      g_printerr (ngettext ("beach-host: no answer from the manager at %s within %d second\n",
                            "beach-host: no answer from the manager at %s within %d seconds\n",
                            (gulong) h->connect_timeout_s),
                  h->manager, h->connect_timeout_s);
    else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_printerr (_ ("beach-host: stopped before the manager answered\n"));
    else if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAUTHORIZED) || g_error_matches (error, BEACH_ERROR, BEACH_ERROR_FORBIDDEN))
      g_printerr (_ ("beach-host: the manager refused the token: %s\n"), error->message);
    else
      g_printerr (_ ("beach-host: cannot attach to the manager at %s: %s\n"), h->manager, error->message);
    h->status = 1;
    g_main_loop_quit (h->loop);
    return;
  }
  g_message ("attached to %s as session %s", beach_harness_get_url (h->harness), h->session_id);
  h->terminal = beach_terminal_new ((guint) h->rows, (guint) h->cols, (guint) h->scrollback);
  g_signal_connect (h->terminal, "output", G_CALLBACK (on_output), h);
  g_signal_connect (h->terminal, "exited", G_CALLBACK (on_exited), h);
  if (!beach_terminal_spawn (h->terminal, (const gchar *const *) h->command, &error)) {
    g_printerr ("beach-host: %s\n", error->message);
    shut_down (h, 127);
    return;
  }
  h->state_timer_id = g_timeout_add ((guint) h->state_interval_ms, on_state_timer, h);
}

/* -- arguments */

/* Every --manager, each split at commas, in order: the harness's failover
 * list. */
static gboolean
parse_managers (Host *h, GError **error)
{
  g_autoptr (GStrvBuilder) urls = g_strv_builder_new ();

  for (guint i = 0; h->managers[i] != NULL; i++) {
    g_auto (GStrv) parts = g_strsplit (h->managers[i], ",", -1);
    guint n = g_strv_length (parts);

    /* "" splits into nothing: one empty URL. */
    for (guint j = 0; j < MAX (n, 1); j++) {
      const gchar *url = j < n ? g_strstrip (parts[j]) : "";
      g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

      if (*url == '\0') {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _ ("--manager: an empty URL in “%s”"),
                     h->managers[i]);
        return FALSE;
      }
      if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0)) {
        g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _ ("--manager: not an http(s) URL: %s"), url);
        return FALSE;
      }
      g_strv_builder_add (urls, url);
    }
  }
  h->urls = g_strv_builder_end (urls);
  h->manager = g_strjoinv (", ", h->urls);
  return TRUE;
}

static gboolean
check_options (Host *h, GError **error)
{
  if (h->managers == NULL || h->session_id == NULL || h->beach_id == NULL || h->token == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                 _ ("--manager, --session-id, --private-beach-id and --token are required"));
    return FALSE;
  }
  if (!parse_managers (h, error))
    return FALSE;
  if (!beach_session_id_is_valid (h->session_id) || !beach_session_id_is_valid (h->beach_id)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _ ("--session-id and --private-beach-id take 1 to 128 of A-Z a-z 0-9 . _ ~ -"));
    return FALSE;
  }
  if (*h->token == '\0') {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _ ("--token is empty"));
    return FALSE;
  }
  if (h->rows < 1 || h->rows > 1000 || h->cols < 1 || h->cols > 1000 || h->scrollback < 1 || h->scrollback > 100000 || h->connect_timeout_s < 1 || h->connect_timeout_s > 600 || h->state_interval_ms < 50 || h->state_interval_ms > 3600000) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _ ("out of range: --rows and --cols 1..1000, --scrollback 1..100000, "
                    "--connect-timeout 1..600, --state-interval-ms 50..3600000"));
    return FALSE;
  }
  if (h->command == NULL || h->command[0] == NULL) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, _ ("no command: put it after --"));
    return FALSE;
  }
  return TRUE;
}

static void
host_clear (Host *h)
{
  g_clear_object (&h->terminal);
  g_clear_object (&h->harness);
  g_clear_object (&h->connecting);
  g_clear_pointer (&h->loop, g_main_loop_unref);
  g_clear_pointer (&h->managers, g_strfreev);
  g_clear_pointer (&h->urls, g_strfreev);
  g_clear_pointer (&h->manager, g_free);
  g_clear_pointer (&h->session_id, g_free);
  g_clear_pointer (&h->beach_id, g_free);
  g_clear_pointer (&h->token, g_free);
  g_clear_pointer (&h->journal, g_free);
  g_clear_pointer (&h->local_addresses, g_strfreev);
  g_clear_pointer (&h->command, g_strfreev);
}

int
main (int argc, char **argv)
{
  Host h = { 0 };
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "manager", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &h.managers,
      N_ ("A manager's URL; repeat it or separate URLs with commas to fail over between managers"),
      N_ ("URL") },
    { "session-id", 's', 0, G_OPTION_ARG_STRING, &h.session_id, N_ ("The session this host serves"), N_ ("ID") },
    { "private-beach-id", 'p', 0, G_OPTION_ARG_STRING, &h.beach_id, N_ ("The session's private beach"), N_ ("ID") },
    { "token", 't', 0, G_OPTION_ARG_STRING, &h.token, N_ ("An operator token, or the session's own token"),
      N_ ("TOKEN") },
    { "journal", 0, 0, G_OPTION_ARG_FILENAME, &h.journal,
      N_ ("Applied-id journal (default $XDG_STATE_HOME/beach-host/BEACH-SESSION.journal)"), N_ ("PATH") },
    { "no-journal", 0, 0, G_OPTION_ARG_NONE, &h.no_journal, N_ ("Keep applied ids in memory only"), NULL },
    { "rows", 0, 0, G_OPTION_ARG_INT, &h.rows, N_ ("Terminal rows (default 24)"), N_ ("N") },
    { "cols", 0, 0, G_OPTION_ARG_INT, &h.cols, N_ ("Terminal columns (default 80)"), N_ ("N") },
    { "scrollback", 0, 0, G_OPTION_ARG_INT, &h.scrollback, N_ ("Output lines published as state (default 200)"),
      N_ ("N") },
    { "state-interval-ms", 0, 0, G_OPTION_ARG_INT, &h.state_interval_ms,
      N_ ("How often the state is published (default 1000)"), N_ ("MS") },
    { "connect-timeout", 0, 0, G_OPTION_ARG_INT, &h.connect_timeout_s,
      N_ ("Seconds to wait for the manager at start (default 10)"), N_ ("S") },
    { "local-address", 0, 0, G_OPTION_ARG_STRING_ARRAY, &h.local_addresses,
      N_ ("An address the fast path may use (repeatable; default 127.0.0.1)"), N_ ("ADDR") },
    { "json-log", 0, 0, G_OPTION_ARG_NONE, &h.json_log, N_ ("Write the log as JSON lines"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_ ("Print the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &h.command, NULL, N_ ("-- COMMAND [ARGS…]") },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *journal = NULL;
  const gchar *capabilities[] = { "terminal_write", NULL };

  signal (SIGPIPE, SIG_IGN);
  beach_i18n_init ();

  h.rows = 24;
  h.cols = 80;
  h.scrollback = 200;
  h.connect_timeout_s = 10;
  h.state_interval_ms = 1000;
  /* The usage line gets "-- COMMAND [ARGS…]" from the G_OPTION_REMAINING
   * entry: a parameter string too would print it twice. */
  ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, N_ ("Run a command in a pseudo-terminal and attach it to a Private Beach "
                                         "manager as a session."));
  /* GOption translates the summary and the entries. */
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || (!version && !check_options (&h, &error))) {
    g_printerr ("beach-host: %s\n", error->message);
    g_printerr (_ ("Try “beach-host --help”.\n"));
    host_clear (&h);
    return 2;
  }
  if (version) {
    g_print ("beach-host %s\n", BEACH_VERSION);
    host_clear (&h);
    return 0;
  }
  if (h.json_log)
    g_log_set_writer_func (json_writer, NULL, NULL);
  if (!h.no_journal)
    journal = h.journal != NULL ? g_strdup (h.journal)
                                : g_strdup_printf ("%s/beach-host/%s-%s.journal", g_get_user_state_dir (),
                                                   h.beach_id, h.session_id);

  h.loop = g_main_loop_new (NULL, FALSE);
  h.harness = g_object_new (BEACH_TYPE_HARNESS, "urls", h.urls, "session-id", h.session_id, "private-beach-id",
                            h.beach_id, "token", h.token, "harness-type", BEACH_HARNESS_TYPE_TERMINAL_SHIM,
                            "capabilities", capabilities, "version", "beach-host/" BEACH_VERSION, "journal-path",
                            journal, "local-addresses", h.local_addresses, NULL);
  g_signal_connect (h.harness, "action-received", G_CALLBACK (on_action), &h);
  g_signal_connect (h.harness, "notify", G_CALLBACK (on_notify), &h);
  g_signal_connect (h.harness, "terminated", G_CALLBACK (on_terminated), &h);
  g_unix_signal_add (SIGINT, on_quit_signal, &h);
  g_unix_signal_add (SIGTERM, on_quit_signal, &h);
  h.connecting = g_cancellable_new ();
  h.connect_timer_id = g_timeout_add_seconds ((guint) h.connect_timeout_s, on_connect_timeout, &h);
  beach_harness_start_async (h.harness, h.connecting, on_started, &h);
  g_main_loop_run (h.loop);

  if (h.terminal != NULL)
    beach_terminal_hangup (h.terminal);
  host_clear (&h);
  return h.status;
}
