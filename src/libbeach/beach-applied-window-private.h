/* beach-applied-window-private.h: the harness's window of applied action ids
 *
 * A redelivered action (after a failover, a reconnect, a reclaimed queue
 * entry) must not be applied twice: the harness remembers the final ack of
 * the last `capacity` ids it applied and re-sends that ack instead. The
 * optional journal keeps the window across restarts of the host.
 *
 * Not thread-safe: the harness uses it from its own main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "beach-action-ack.h"

G_BEGIN_DECLS

#define BEACH_APPLIED_WINDOW_CAPACITY_DEFAULT 4096

typedef struct _BeachAppliedWindow BeachAppliedWindow;

/* capacity >= 1 */
BeachAppliedWindow *beach_applied_window_new (guint capacity);
void beach_applied_window_free (BeachAppliedWindow *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachAppliedWindow, beach_applied_window_free)

/* Opens the journal at path, creating it (0600) and its parent directories
 * (0700), loads it into the window (the newest `capacity` records win; a
 * torn or malformed line, or one over 64 KiB, is skipped and counted, never
 * fatal) and keeps it open for appends. A journal that held skipped lines,
 * a torn tail or too many lines is compacted at once. path must name a
 * regular file. Errors are G_FILE_ERROR or G_IO_ERROR and name the path;
 * the window then keeps what it loaded, without a journal. Call at most
 * once, before any record. */
gboolean beach_applied_window_open_journal (BeachAppliedWindow *self,
                                            const gchar *path,
                                            GError **error);

/* Records an applied id with its final ack (a reference is taken). With a
 * journal, the line is written and fdatasync()ed before this returns TRUE,
 * so the caller acks only what is durable. On a journal error the id is
 * still recorded in memory and FALSE is returned with error set: the caller
 * warns and acks anyway. An id already in the window keeps its first ack
 * (TRUE, nothing written). Over capacity the oldest record is evicted. */
gboolean beach_applied_window_record (BeachAppliedWindow *self,
                                      BeachActionAck *ack,
                                      GError **error);

/* (transfer none) (nullable): the first ack recorded for id, or NULL. */
BeachActionAck *beach_applied_window_lookup (BeachAppliedWindow *self,
                                             const gchar *id);

guint beach_applied_window_get_size (BeachAppliedWindow *self);
guint beach_applied_window_get_capacity (BeachAppliedWindow *self);
/* Malformed journal lines seen by open_journal. */
guint beach_applied_window_get_skipped_lines (BeachAppliedWindow *self);
/* (nullable) */
const gchar *beach_applied_window_get_journal_path (BeachAppliedWindow *self);

G_END_DECLS
