/* beachctl.h: what the commands of beachctl share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define BEACHCTL_MANAGER_NAME "sh.beach.Manager1"
#define BEACHCTL_MANAGER_PATH "/sh/beach/Manager1"
#define BEACHCTL_DEFAULT_URL  "http://127.0.0.1:8080"
#define BEACHCTL_EXIT_RUNTIME 1
#define BEACHCTL_EXIT_USAGE   2

typedef struct {
  /* Options. */
  gboolean json;
  gboolean system_bus;
  gchar *url;
  gchar *token;
  gint64 ttl_ms; /* -1: not given */
  gchar **args;

  GDBusConnection *bus;
  SoupSession *soup;
  gchar *base_url;
  GMainLoop *loop;
  gint status;
} Ctl;

/* One line on stderr, "beachctl: MESSAGE"; return the exit status. */
gint beachctl_fail (const gchar *format, ...) G_GNUC_PRINTF (1, 2);
gint beachctl_usage_error (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

void beachctl_print_json (JsonNode *node);
void beachctl_print_field (const gchar *label, const gchar *format, ...) G_GNUC_PRINTF (2, 3);
gchar *beachctl_format_time (gint64 ms);
gchar *beachctl_format_expiry (gint64 ms);
const gchar *beachctl_or_none (const gchar *s);

/* The commands; args are the command's arguments, already counted. */
gint beachctl_status (Ctl *ctl, gchar **args);
gint beachctl_sessions (Ctl *ctl, gchar **args);
gint beachctl_watch (Ctl *ctl, gchar **args);
gint beachctl_metrics (Ctl *ctl, gchar **args);
gint beachctl_set_mode (Ctl *ctl, gchar **args);
gint beachctl_send (Ctl *ctl, gchar **args);
gint beachctl_lease (Ctl *ctl, gchar **args);
gint beachctl_handshake (Ctl *ctl, gchar **args);

G_END_DECLS
