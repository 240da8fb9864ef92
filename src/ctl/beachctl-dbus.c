/* beachctl-dbus.c: the commands that read the D-Bus control plane
 *
 * status, sessions, watch, metrics and set-mode: no token needed, and the
 * properties carry the reason of each session's last transition.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beachctl"

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <math.h>
#include <stdio.h>

#include "beach-dbus-generated.h"
#include "beachctl.h"

#define SESSIONS_PATH BEACHCTL_MANAGER_PATH "/sessions"

static gboolean
mode_is_valid (const gchar *mode)
{
  return g_str_equal (mode, "fast_path") || g_str_equal (mode, "http_fallback");
}

/* Prometheus spelling: integers without a fraction, NaN, +Inf. */
static gchar *
format_value (gdouble v)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (v))
    return g_strdup ("NaN");
  if (isinf (v))
    return g_strdup (v > 0 ? "+Inf" : "-Inf");
  return g_strdup (g_ascii_formatd (buf, sizeof buf, "%.15g", v));
}

static const gchar *
or_dash (const gchar *s)
{
  return s != NULL && *s != '\0' ? s : "-";
}

static const gchar *
bus_name (Ctl *ctl)
{
  /* TRANSLATORS: these fill the “%s” of “on the %s”. */
  return ctl->system_bus ? _ ("system bus") : _ ("session bus");
}

/* The remote error's own message, without "GDBus.Error:NAME: ". */
static const gchar *
dbus_message (GError *error)
{
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);
  return error->message;
}

/* Why the manager cannot be reached, in one line. */
static gint
fail_unreachable (Ctl *ctl, GError *error)
{
  g_autofree gchar *name = g_dbus_error_get_remote_error (error);

  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 || g_strcmp0 (name, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0)
    return beachctl_fail (_ ("cannot reach beach-manager on the %s: nothing owns %s (is beach-manager running?)"),
                          bus_name (ctl), BEACHCTL_MANAGER_NAME);
  return beachctl_fail (_ ("cannot reach beach-manager on the %s: %s"), bus_name (ctl), dbus_message (error));
}

/* The bus, and a round trip to the manager (which starts it if the bus can
 * activate it): every D-Bus command fails here, in one line, when there is
 * nothing to talk to. */
static gboolean
connect_manager (Ctl *ctl)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  if (ctl->bus == NULL) {
    ctl->bus = g_bus_get_sync (ctl->system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION, NULL, &error);
    if (ctl->bus == NULL) {
      beachctl_fail (_ ("cannot reach beach-manager on the %s: %s"), bus_name (ctl), error->message);
      return FALSE;
    }
    /* A bus that goes away is reported (watch), not a SIGTERM to ourselves. */
    g_dbus_connection_set_exit_on_close (ctl->bus, FALSE);
  }
  reply = g_dbus_connection_call_sync (ctl->bus, BEACHCTL_MANAGER_NAME, BEACHCTL_MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping",
                                       NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL) {
    fail_unreachable (ctl, error);
    return FALSE;
  }
  return TRUE;
}

static BeachDbusManager1 *
manager_proxy (Ctl *ctl, GDBusProxyFlags flags)
{
  g_autoptr (GError) error = NULL;
  BeachDbusManager1 *proxy;

  if (!connect_manager (ctl))
    return NULL;
  proxy = beach_dbus_manager1_proxy_new_sync (ctl->bus, flags, BEACHCTL_MANAGER_NAME, BEACHCTL_MANAGER_PATH, NULL, &error);
  if (proxy == NULL)
    fail_unreachable (ctl, error);
  return proxy;
}

static gint
status_manager (Ctl *ctl)
{
  g_autoptr (BeachDbusManager1) m = manager_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS);
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) root = NULL;
  const gchar *backend;

  if (m == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  backend = beach_dbus_manager1_get_queue_backend (m);
  if (!ctl->json) {
    g_print ("beach-manager %s\n", beachctl_or_none (beach_dbus_manager1_get_version (m)));
    beachctl_print_field (_ ("HTTP address"), "%s", beachctl_or_none (beach_dbus_manager1_get_http_address (m)));
    beachctl_print_field (_ ("Queue backend"), "%s (%s)", beachctl_or_none (backend),
                          beach_dbus_manager1_get_queue_backend_connected (m) ? _ ("connected") : _ ("NOT connected"));
    beachctl_print_field (_ ("Sessions"), _ ("%u (%u on fast_path)"), beach_dbus_manager1_get_session_count (m),
                          beach_dbus_manager1_get_fast_path_session_count (m));
    return 0;
  }
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, beach_dbus_manager1_get_version (m));
  json_builder_set_member_name (b, "http_address");
  json_builder_add_string_value (b, beach_dbus_manager1_get_http_address (m));
  json_builder_set_member_name (b, "queue_backend");
  json_builder_add_string_value (b, backend);
  json_builder_set_member_name (b, "queue_backend_connected");
  json_builder_add_boolean_value (b, beach_dbus_manager1_get_queue_backend_connected (m));
  json_builder_set_member_name (b, "session_count");
  json_builder_add_int_value (b, beach_dbus_manager1_get_session_count (m));
  json_builder_set_member_name (b, "fast_path_session_count");
  json_builder_add_int_value (b, beach_dbus_manager1_get_fast_path_session_count (m));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  beachctl_print_json (root);
  return 0;
}

/* The same keys as GET /sessions/:id where there is one. */
static void
add_session_json (JsonBuilder *b, BeachDbusSession1 *s)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, beach_dbus_session1_get_id (s));
  json_builder_set_member_name (b, "private_beach_id");
  json_builder_add_string_value (b, beach_dbus_session1_get_private_beach_id (s));
  json_builder_set_member_name (b, "harness_type");
  json_builder_add_string_value (b, beach_dbus_session1_get_harness_type (s));
  json_builder_set_member_name (b, "transport_mode");
  json_builder_add_string_value (b, beach_dbus_session1_get_transport_mode (s));
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, beach_dbus_session1_get_transport (s));
  json_builder_set_member_name (b, "transport_reason");
  json_builder_add_string_value (b, beach_dbus_session1_get_transport_reason (s));
  json_builder_set_member_name (b, "transport_changed_at_ms");
  json_builder_add_int_value (b, beach_dbus_session1_get_transport_changed_at_ms (s));
  json_builder_set_member_name (b, "fast_path_ready");
  json_builder_add_boolean_value (b, beach_dbus_session1_get_fast_path_ready (s));
  json_builder_set_member_name (b, "heartbeat_rtt_us");
  json_builder_add_int_value (b, beach_dbus_session1_get_heartbeat_rtt_us (s));
  json_builder_set_member_name (b, "pending");
  json_builder_add_int_value (b, beach_dbus_session1_get_pending_actions (s));
  json_builder_set_member_name (b, "in_flight");
  json_builder_add_int_value (b, beach_dbus_session1_get_in_flight_actions (s));
  json_builder_set_member_name (b, "handshake_id");
  json_builder_add_string_value (b, beach_dbus_session1_get_handshake_id (s));
  json_builder_set_member_name (b, "link_generation");
  json_builder_add_int_value (b, (gint64) beach_dbus_session1_get_link_generation (s));
  json_builder_set_member_name (b, "lease_expires_at_ms");
  json_builder_add_int_value (b, beach_dbus_session1_get_lease_expires_at_ms (s));
  json_builder_set_member_name (b, "last_error");
  json_builder_add_string_value (b, beach_dbus_session1_get_last_error (s));
  json_builder_end_object (b);
}

/* "http_fallback since 12:03:04 (heartbeat_timeout)": the answer to "why
 * is it on fallback?". */
static gchar *
describe_transport (BeachDbusSession1 *s)
{
  const gchar *transport = beachctl_or_none (beach_dbus_session1_get_transport (s));
  const gchar *reason = beach_dbus_session1_get_transport_reason (s);
  gint64 at_ms = beach_dbus_session1_get_transport_changed_at_ms (s);
  g_autofree gchar *at = NULL;

  if (at_ms <= 0)
    return reason != NULL && *reason != '\0' ? g_strdup_printf ("%s (%s)", transport, reason) : g_strdup (transport);
  at = beachctl_format_time (at_ms);
  if (reason == NULL || *reason == '\0')
    return g_strdup_printf (_ ("%s since %s"), transport, at);
  return g_strdup_printf (_ ("%s since %s (%s)"), transport, at, reason);
}

static void
print_session (BeachDbusSession1 *s)
{
  g_autofree gchar *transport = describe_transport (s);
  gint64 rtt_us = beach_dbus_session1_get_heartbeat_rtt_us (s);
  gint64 lease_ms = beach_dbus_session1_get_lease_expires_at_ms (s);
  g_autofree gchar *lease = lease_ms > 0 ? beachctl_format_expiry (lease_ms) : NULL;

  g_print (_ ("%s (private beach %s, %s)\n"), beach_dbus_session1_get_id (s),
           beachctl_or_none (beach_dbus_session1_get_private_beach_id (s)), beachctl_or_none (beach_dbus_session1_get_harness_type (s)));
  beachctl_print_field (_ ("Transport"), "%s", transport);
  beachctl_print_field (_ ("Transport mode"), "%s", beachctl_or_none (beach_dbus_session1_get_transport_mode (s)));
  beachctl_print_field (_ ("Fast path ready"), "%s", beach_dbus_session1_get_fast_path_ready (s) ? _ ("yes") : _ ("no"));
  if (rtt_us >= 0)
    beachctl_print_field (_ ("Heartbeat RTT"), _ ("%.3f ms"), (gdouble) rtt_us / 1000.0);
  else
    beachctl_print_field (_ ("Heartbeat RTT"), "%s", _ ("no link"));
  beachctl_print_field (_ ("Pending"), "%u", beach_dbus_session1_get_pending_actions (s));
  beachctl_print_field (_ ("In flight"), "%u", beach_dbus_session1_get_in_flight_actions (s));
  beachctl_print_field (_ ("Handshake id"), "%s", beachctl_or_none (beach_dbus_session1_get_handshake_id (s)));
  beachctl_print_field (_ ("Link generation"), "%" G_GUINT64_FORMAT, beach_dbus_session1_get_link_generation (s));
  beachctl_print_field (_ ("Lease expires"), "%s", lease != NULL ? lease : _ ("no live lease"));
  beachctl_print_field (_ ("Last error"), "%s", beachctl_or_none (beach_dbus_session1_get_last_error (s)));
}

static gint
status_session (Ctl *ctl, const gchar *session_id)
{
  g_autofree gchar *escaped = g_dbus_escape_object_path (session_id);
  g_autofree gchar *path = g_strdup_printf ("%s/%s", SESSIONS_PATH, escaped);
  g_autoptr (BeachDbusSession1) s = NULL;
  g_autoptr (GVariant) id = NULL;
  g_autoptr (GError) error = NULL;

  if (!connect_manager (ctl))
    return BEACHCTL_EXIT_RUNTIME;
  s = beach_dbus_session1_proxy_new_sync (ctl->bus, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS, BEACHCTL_MANAGER_NAME, path,
                                          NULL, &error);
  if (s == NULL)
    return fail_unreachable (ctl, error);
  /* A proxy for an object that is not there loads no properties. */
  id = g_dbus_proxy_get_cached_property (G_DBUS_PROXY (s), "Id");
  if (id == NULL)
    return beachctl_fail (_ ("no session %s"), session_id);
  if (ctl->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;

    add_session_json (b, s);
    root = json_builder_get_root (b);
    beachctl_print_json (root);
  } else {
    print_session (s);
  }
  return 0;
}

gint
beachctl_status (Ctl *ctl, gchar **args)
{
  return args[0] == NULL ? status_manager (ctl) : status_session (ctl, args[0]);
}

static gint
compare_sessions (gconstpointer a, gconstpointer b)
{
  BeachDbusSession1 *sa = *(BeachDbusSession1 *const *) a;
  BeachDbusSession1 *sb = *(BeachDbusSession1 *const *) b;

  return g_strcmp0 (beach_dbus_session1_get_id (sa), beach_dbus_session1_get_id (sb));
}

/* A table with a header, columns as wide as their widest cell. */
static void
print_table (GPtrArray *rows, guint n_cols)
{
  g_autofree glong *widths = g_new0 (glong, n_cols);

  for (guint r = 0; r < rows->len; r++)
    for (guint c = 0; c < n_cols; c++)
      widths[c] = MAX (widths[c], g_utf8_strlen (((gchar **) rows->pdata[r])[c], -1));
  for (guint r = 0; r < rows->len; r++) {
    g_autoptr (GString) line = g_string_new (NULL);

    for (guint c = 0; c < n_cols; c++) {
      const gchar *cell = ((gchar **) rows->pdata[r])[c];

      g_string_append (line, cell);
      if (c + 1 < n_cols)
        for (glong i = g_utf8_strlen (cell, -1); i < widths[c] + 2; i++)
          g_string_append_c (line, ' ');
    }
    g_print ("%s\n", line->str);
  }
}

gint
beachctl_sessions (Ctl *ctl, gchar **args)
{
  g_autoptr (GDBusObjectManager) om = NULL;
  g_autoptr (GError) error = NULL;
  g_autolist (GDBusObject) objects = NULL;
  g_autoptr (GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);

  if (!connect_manager (ctl))
    return BEACHCTL_EXIT_RUNTIME;
  om = beach_dbus_object_manager_client_new_sync (ctl->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                  BEACHCTL_MANAGER_NAME, BEACHCTL_MANAGER_PATH, NULL, &error);
  if (om == NULL)
    return fail_unreachable (ctl, error);
  objects = g_dbus_object_manager_get_objects (om);
  for (GList *l = objects; l != NULL; l = l->next) {
    BeachDbusSession1 *s = beach_dbus_object_get_session1 (BEACH_DBUS_OBJECT (l->data));

    if (s != NULL)
      g_ptr_array_add (sessions, s);
  }
  g_ptr_array_sort (sessions, compare_sessions);

  if (ctl->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;

    json_builder_begin_array (b);
    for (guint i = 0; i < sessions->len; i++)
      add_session_json (b, sessions->pdata[i]);
    json_builder_end_array (b);
    root = json_builder_get_root (b);
    beachctl_print_json (root);
  } else if (sessions->len == 0) {
    g_print ("%s\n", _ ("No sessions."));
  } else {
    g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

    /* TRANSLATORS: six column headings, separated by “|”. */
    g_ptr_array_add (rows, g_strsplit (_ ("SESSION|PRIVATE BEACH|TRANSPORT|REASON|PENDING|IN FLIGHT"), "|", 6));
    for (guint i = 0; i < sessions->len; i++) {
      BeachDbusSession1 *s = sessions->pdata[i];
      gchar **row = g_new0 (gchar *, 7);

      row[0] = g_strdup (beach_dbus_session1_get_id (s));
      row[1] = g_strdup (beachctl_or_none (beach_dbus_session1_get_private_beach_id (s)));
      row[2] = g_strdup (beachctl_or_none (beach_dbus_session1_get_transport (s)));
      row[3] = g_strdup (or_dash (beach_dbus_session1_get_transport_reason (s)));
      row[4] = g_strdup_printf ("%u", beach_dbus_session1_get_pending_actions (s));
      row[5] = g_strdup_printf ("%u", beach_dbus_session1_get_in_flight_actions (s));
      g_ptr_array_add (rows, row);
    }
    print_table (rows, 6);
  }
  return 0;
}

static void
on_transport_changed (BeachDbusManager1 *manager,
                      const gchar *session_id,
                      const gchar *from,
                      const gchar *to,
                      const gchar *reason,
                      Ctl *ctl)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  if (ctl->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    g_autofree gchar *time = g_date_time_format_iso8601 (now);

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "time");
    json_builder_add_string_value (b, time);
    json_builder_set_member_name (b, "at_ms");
    json_builder_add_int_value (b, g_date_time_to_unix (now) * 1000 + g_date_time_get_microsecond (now) / 1000);
    json_builder_set_member_name (b, "session_id");
    json_builder_add_string_value (b, session_id);
    json_builder_set_member_name (b, "from");
    json_builder_add_string_value (b, from);
    json_builder_set_member_name (b, "to");
    json_builder_add_string_value (b, to);
    json_builder_set_member_name (b, "reason");
    json_builder_add_string_value (b, reason);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    beachctl_print_json (root);
  } else {
    g_autofree gchar *hms = g_date_time_format (now, "%H:%M:%S");

    g_print ("%s.%03d %s: %s -> %s (%s)\n", hms, g_date_time_get_microsecond (now) / 1000, session_id,
             *from != '\0' ? from : "none", to, reason);
    fflush (stdout);
  }
}

static void
on_name_owner (GObject *proxy, GParamSpec *pspec, Ctl *ctl)
{
  g_autofree gchar *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL)
    g_printerr (_ ("beachctl: beach-manager left the %s; waiting for it to come back\n"), bus_name (ctl));
  else
    g_printerr (_ ("beachctl: beach-manager is back on the %s\n"), bus_name (ctl));
}

static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, Ctl *ctl)
{
  ctl->status = beachctl_fail (_ ("the %s closed: %s"), bus_name (ctl), error != NULL ? error->message : _ ("no reason given"));
  g_main_loop_quit (ctl->loop);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Ctl *ctl = user_data;

  g_main_loop_quit (ctl->loop);
  return G_SOURCE_CONTINUE;
}

gint
beachctl_watch (Ctl *ctl, gchar **args)
{
  /* The proxy subscribes before it loads the properties, so once it is
   * made the bus routes every later TransportChanged to us. */
  g_autoptr (BeachDbusManager1) m = manager_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES);
  guint sigint_id, sigterm_id;

  if (m == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  ctl->loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (m, "transport-changed", G_CALLBACK (on_transport_changed), ctl);
  g_signal_connect (m, "notify::g-name-owner", G_CALLBACK (on_name_owner), ctl);
  g_signal_connect (ctl->bus, "closed", G_CALLBACK (on_bus_closed), ctl);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, ctl);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, ctl);
  g_printerr (_ ("beachctl: watching transport changes on the %s; Ctrl-C to stop\n"), bus_name (ctl));
  g_main_loop_run (ctl->loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_signal_handlers_disconnect_by_data (ctl->bus, ctl);
  g_signal_handlers_disconnect_by_data (m, ctl);
  return ctl->status;
}

typedef struct {
  const gchar *key;
  gdouble value;
} Series;

static gint
compare_series (gconstpointer a, gconstpointer b)
{
  return strcmp (((const Series *) a)->key, ((const Series *) b)->key);
}

gint
beachctl_metrics (Ctl *ctl, gchar **args)
{
  g_autoptr (BeachDbusManager1) m = manager_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES | G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS);
  g_autoptr (GVariant) metrics = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) series = g_array_new (FALSE, FALSE, sizeof (Series));
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  GVariantIter iter;
  Series one;

  if (m == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  if (!beach_dbus_manager1_call_get_metrics_sync (m, &metrics, NULL, &error))
    return beachctl_fail (_ ("GetMetrics failed: %s"), dbus_message (error));
  g_variant_iter_init (&iter, metrics);
  while (g_variant_iter_next (&iter, "{&sd}", &one.key, &one.value))
    g_array_append_val (series, one);
  g_array_sort (series, compare_series);
  if (!ctl->json) {
    for (guint i = 0; i < series->len; i++) {
      g_autofree gchar *text = format_value (g_array_index (series, Series, i).value);

      g_print ("%s %s\n", g_array_index (series, Series, i).key, text);
    }
    return 0;
  }
  json_builder_begin_object (b);
  for (guint i = 0; i < series->len; i++) {
    const Series *s = &g_array_index (series, Series, i);

    json_builder_set_member_name (b, s->key);
    /* JSON has no NaN or infinity. */
    if (isfinite (s->value))
      json_builder_add_double_value (b, s->value);
    else
      json_builder_add_null_value (b);
  }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  beachctl_print_json (root);
  return 0;
}

gint
beachctl_set_mode (Ctl *ctl, gchar **args)
{
  g_autoptr (BeachDbusManager1) m = NULL;
  g_autoptr (GError) error = NULL;

  if (!mode_is_valid (args[1]))
    return beachctl_usage_error (_ ("set-mode: the mode is fast_path or http_fallback, not “%s”"), args[1]);
  m = manager_proxy (ctl, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES | G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS);
  if (m == NULL)
    return BEACHCTL_EXIT_RUNTIME;
  if (!beach_dbus_manager1_call_set_transport_mode_sync (m, args[0], args[1], NULL, &error))
    return beachctl_fail ("%s", dbus_message (error));
  if (ctl->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "session_id");
    json_builder_add_string_value (b, args[0]);
    json_builder_set_member_name (b, "transport_mode");
    json_builder_add_string_value (b, args[1]);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    beachctl_print_json (root);
  } else {
    g_print (_ ("%s: transport mode set to %s\n"), args[0], args[1]);
  }
  return 0;
}
