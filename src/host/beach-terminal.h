/* beach-terminal.h: a command running in a pseudo-terminal
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BEACH_TYPE_TERMINAL (beach_terminal_get_type ())
G_DECLARE_FINAL_TYPE (BeachTerminal, beach_terminal, BEACH, TERMINAL, GObject)

BeachTerminal *beach_terminal_new (guint rows,
                                   guint cols,
                                   guint scrollback_lines);
gboolean beach_terminal_spawn (BeachTerminal *self,
                               const gchar *const *argv,
                               GError **error);
void beach_terminal_write_async (BeachTerminal *self,
                                 const gchar *bytes,
                                 gsize len,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean beach_terminal_write_finish (BeachTerminal *self,
                                      GAsyncResult *result,
                                      GError **error);
GStrv beach_terminal_get_lines (BeachTerminal *self);
guint beach_terminal_get_rows (BeachTerminal *self);
guint beach_terminal_get_cols (BeachTerminal *self);
void beach_terminal_hangup (BeachTerminal *self);
gboolean beach_terminal_get_exited (BeachTerminal *self);
gint beach_terminal_get_exit_status (BeachTerminal *self);

G_END_DECLS
