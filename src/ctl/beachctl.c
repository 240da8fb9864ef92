/* beachctl.c: the operator's command line for beach-manager
 *
 *   beachctl [--json] [--system-bus] [--url URL] [--token TOKEN] COMMAND [ARGS]
 *
 * Status comes from the D-Bus control plane (WIRE.md "D-Bus"), which
 * answers without a token and carries the reason of every transition;
 * actions go over the HTTP API with the operator token, as any controller's
 * would. Exit status: 0 done, 1 the manager could not be reached or said
 * no, 2 bad arguments.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beachctl"

#include "config.h"

#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>

#include "beach-i18n.h"
#include "beachctl.h"

#define SESSION_ID_MAX_LEN 128

typedef gint (*CommandFunc) (Ctl *ctl, gchar **args);

typedef struct {
  const gchar *name;
  const gchar *usage; /* the arguments, for the usage error (a msgid) */
  guint min_args;
  guint max_args;
  gboolean session_first; /* the first argument is a session id */
  gboolean takes_ttl;
  CommandFunc run;
} Command;

/* -- output */

gint
beachctl_fail (const gchar *format, ...)
{
  va_list ap;
  g_autofree gchar *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("beachctl: %s\n", message);
  return BEACHCTL_EXIT_RUNTIME;
}

gint
beachctl_usage_error (const gchar *format, ...)
{
  va_list ap;
  g_autofree gchar *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr (_ ("beachctl: %s (see “beachctl --help”)\n"), message);
  return BEACHCTL_EXIT_USAGE;
}

void
beachctl_print_json (JsonNode *node)
{
  g_autofree gchar *text = json_to_string (node, FALSE);

  g_print ("%s\n", text);
  fflush (stdout);
}

/* "12:03:04" today, "2026-01-02 12:03:04" another day; local time. */
gchar *
beachctl_format_time (gint64 ms)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (ms / 1000);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  gint y, m, d, ny, nm, nd;

  if (t == NULL)
    return g_strdup_printf ("%" G_GINT64_FORMAT, ms);
  g_date_time_get_ymd (t, &y, &m, &d);
  g_date_time_get_ymd (now, &ny, &nm, &nd);
  return g_date_time_format (t, y == ny && m == nm && d == nd ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S");
}

/* An expiry: "12:03:34 (in 28 s)". */
gchar *
beachctl_format_expiry (gint64 ms)
{
  g_autofree gchar *at = beachctl_format_time (ms);
  gint64 left_s = (ms - g_get_real_time () / 1000) / 1000;

  /* A plain %d below: G_GINT64_FORMAT in a msgid would cut it there. */
  left_s = MIN (left_s, G_MAXINT);
  if (left_s < 0)
    return g_strdup_printf (_ ("%s (expired)"), at);
  /* TRANSLATORS: a time, then the seconds until then. */
  return g_strdup_printf (_ ("%s (in %d s)"), at, (gint) left_s);
}

/* Label: value, labels padded to one column whatever their translation. */
void
beachctl_print_field (const gchar *label, const gchar *format, ...)
{
  va_list ap;
  g_autofree gchar *value = NULL;
  glong pad = 18 - g_utf8_strlen (label, -1);

  va_start (ap, format);
  value = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_print ("  %s:%*s%s\n", label, (gint) MAX (pad, 1), "", value);
}

const gchar *
beachctl_or_none (const gchar *s)
{
  return s != NULL && *s != '\0' ? s : _ ("none");
}

/* -- arguments */

static gboolean
session_id_is_valid (const gchar *id)
{
  gsize len = strlen (id);

  if (len == 0 || len > SESSION_ID_MAX_LEN)
    return FALSE;
  for (const gchar *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._~-", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* -- main */

static const Command commands[] = {
  { "status", N_ ("[SESSION]"), 0, 1, TRUE, FALSE, beachctl_status },
  { "sessions", "", 0, 0, FALSE, FALSE, beachctl_sessions },
  { "watch", "", 0, 0, FALSE, FALSE, beachctl_watch },
  { "metrics", "", 0, 0, FALSE, FALSE, beachctl_metrics },
  { "set-mode", N_ ("SESSION fast_path|http_fallback"), 2, 2, TRUE, FALSE, beachctl_set_mode },
  { "send", N_ ("SESSION TEXT"), 2, 2, TRUE, FALSE, beachctl_send },
  { "lease", N_ ("SESSION [--ttl-ms N]"), 1, 1, TRUE, TRUE, beachctl_lease },
  { "handshake", N_ ("SESSION [--ttl-ms N]"), 1, 1, TRUE, TRUE, beachctl_handshake },
};

static const gchar *description = N_ (
  "Commands:\n"
  "  status [SESSION]        The manager, or why a session is on its transport\n"
  "  sessions                One line per session\n"
  "  watch                   Print each transport change until interrupted\n"
  "  metrics                 The Prometheus series, sorted\n"
  "  set-mode SESSION MODE   Set the transport mode: fast_path or http_fallback\n"
  "  send SESSION TEXT       Write TEXT to a session's terminal (lease, send, release)\n"
  "  lease SESSION           Acquire a controller lease (--ttl-ms N)\n"
  "  handshake SESSION       Run a controller handshake (--ttl-ms N)\n"
  "\n"
  "status, sessions, watch, metrics and set-mode use D-Bus; send, lease and\n"
  "handshake use the HTTP API with the operator token. Put “--” before a TEXT\n"
  "that starts with “-”.\n");

/* The command, its arguments checked, or NULL with *status set. */
static const Command *
find_command (Ctl *ctl, gint *status)
{
  const Command *cmd = NULL;
  guint n_args;

  if (ctl->args == NULL || ctl->args[0] == NULL) {
    *status = beachctl_usage_error (_ ("no command given"));
    return NULL;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, ctl->args[0]))
      cmd = &commands[i];
  if (cmd == NULL) {
    *status = beachctl_usage_error (_ ("unknown command “%s”"), ctl->args[0]);
    return NULL;
  }
  n_args = g_strv_length (ctl->args) - 1;
  if (n_args < cmd->min_args || n_args > cmd->max_args) {
    *status = beachctl_usage_error (_ ("usage: beachctl %s %s"), cmd->name, *cmd->usage != '\0' ? _ (cmd->usage) : "");
    return NULL;
  }
  if (cmd->session_first && n_args > 0 && !session_id_is_valid (ctl->args[1])) {
    *status = beachctl_usage_error (_ ("not a session id: “%s” (1 to 128 of A-Z a-z 0-9 . _ ~ -)"), ctl->args[1]);
    return NULL;
  }
  if (ctl->ttl_ms != -1 && (!cmd->takes_ttl || ctl->ttl_ms < 1)) {
    *status = beachctl_usage_error (cmd->takes_ttl ? _ ("--ttl-ms takes a positive number of milliseconds")
                                                   : _ ("--ttl-ms is for lease and handshake only"));
    return NULL;
  }
  return cmd;
}

static gboolean
check_globals (Ctl *ctl, gint *status)
{
  g_autoptr (GUri) uri = NULL;

  if (ctl->token != NULL && *ctl->token == '\0') {
    *status = beachctl_usage_error (_ ("--token is empty"));
    return FALSE;
  }
  if (ctl->url == NULL)
    return TRUE;
  uri = g_uri_parse (ctl->url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0)) {
    *status = beachctl_usage_error (_ ("--url: not an http(s) URL: %s"), ctl->url);
    return FALSE;
  }
  return TRUE;
}

static void
ctl_clear (Ctl *ctl)
{
  if (ctl->soup != NULL)
    soup_session_abort (ctl->soup);
  g_clear_object (&ctl->soup);
  g_clear_object (&ctl->bus);
  g_clear_pointer (&ctl->loop, g_main_loop_unref);
  g_clear_pointer (&ctl->url, g_free);
  g_clear_pointer (&ctl->token, g_free);
  g_clear_pointer (&ctl->base_url, g_free);
  g_clear_pointer (&ctl->args, g_strfreev);
}

int
main (int argc, char **argv)
{
  Ctl ctl = { 0 };
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl.json, N_ ("Machine output: one JSON document per command"), NULL },
    { "system-bus", 0, 0, G_OPTION_ARG_NONE, &ctl.system_bus, N_ ("Talk to a manager on the system bus"), NULL },
    /* BEACHCTL_DEFAULT_URL spelled out: a macro would cut the msgid. */
    { "url", 'u', 0, G_OPTION_ARG_STRING, &ctl.url,
      N_ ("The manager's HTTP URL (default: its HttpAddress over D-Bus, else http://127.0.0.1:8080)"), N_ ("URL") },
    { "token", 't', 0, G_OPTION_ARG_STRING, &ctl.token,
      N_ ("The operator token (default: $BEACH_MANAGER_TOKEN, else "
          "$XDG_CONFIG_HOME/beach-manager/operator-token)"),
      N_ ("TOKEN") },
    { "ttl-ms", 0, 0, G_OPTION_ARG_INT64, &ctl.ttl_ms, N_ ("lease, handshake: the lease's time to live"), N_ ("N") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_ ("Print the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &ctl.args, NULL, N_ ("COMMAND [ARGS…]") },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  const Command *cmd;
  gint status = 0;

  signal (SIGPIPE, SIG_IGN);
  beach_i18n_init ();

  ctl.ttl_ms = -1;
  ctx = g_option_context_new (NULL);
  /* GOption translates the summary, the description and the entries. */
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  g_option_context_set_summary (ctx, N_ ("Look at and drive a beach-manager: status over D-Bus, actions over HTTP."));
  g_option_context_set_description (ctx, description);
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    status = beachctl_usage_error ("%s", error->message);
    ctl_clear (&ctl);
    return status;
  }
  if (version) {
    g_print ("beachctl %s\n", PACKAGE_VERSION);
    ctl_clear (&ctl);
    return 0;
  }
  cmd = find_command (&ctl, &status);
  if (cmd != NULL && check_globals (&ctl, &status))
    status = cmd->run (&ctl, ctl.args + 1);
  ctl_clear (&ctl);
  return status;
}
