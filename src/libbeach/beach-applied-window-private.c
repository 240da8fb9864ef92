/* beach-applied-window-private.c: the harness's window of applied action ids
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-applied-window"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "beach-applied-window-private.h"

/* No valid ack comes near this (id 128 bytes, error message 4 KiB even
 * fully escaped); a longer line is garbage and is not kept in memory. */
#define LINE_MAX_BYTES (64 * 1024)
#define READ_CHUNK     (16 * 1024)
/* Compaction writes the window out in batches of about this size. */
#define WRITE_BATCH (64 * 1024)

struct _BeachAppliedWindow {
  guint capacity;
  GHashTable *acks; /* id (owned by the ack) → BeachActionAck */
  GQueue order;     /* the same ids, oldest first */

  gchar *journal_path; /* NULL: no journal */
  int fd;              /* -1: no journal */
  guint64 journal_lines;
  guint64 compact_at; /* compact once journal_lines exceeds it */
  /* Where the last complete line ends: a failed write is cut back to it so
   * its fragment cannot glue itself to the next line. */
  goffset journal_end;
  gboolean needs_newline; /* that cut failed: start the next line afresh */
  guint skipped_lines;
};

BeachAppliedWindow *
beach_applied_window_new (guint capacity)
{
  BeachAppliedWindow *self;

  g_return_val_if_fail (capacity >= 1, NULL);

  self = g_new0 (BeachAppliedWindow, 1);
  self->capacity = capacity;
  self->acks = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  g_queue_init (&self->order);
  self->fd = -1;
  self->compact_at = 2 * (guint64) capacity;
  return self;
}

void
beach_applied_window_free (BeachAppliedWindow *self)
{
  if (self == NULL)
    return;
  if (self->fd >= 0)
    close (self->fd);
  /* The queue borrows its ids from the acks: empty it first. */
  g_queue_clear (&self->order);
  g_hash_table_unref (self->acks);
  g_free (self->journal_path);
  g_free (self);
}

/* FALSE when id is already in the window: the first ack stays. */
static gboolean
remember (BeachAppliedWindow *self, BeachActionAck *ack)
{
  const gchar *id = beach_action_ack_get_id (ack);

  if (g_hash_table_contains (self->acks, id))
    return FALSE;
  g_hash_table_insert (self->acks, (gpointer) id, g_object_ref (ack));
  g_queue_push_tail (&self->order, (gpointer) id);
  while (self->order.length > self->capacity) {
    const gchar *oldest = g_queue_pop_head (&self->order);

    g_hash_table_remove (self->acks, oldest);
  }
  return TRUE;
}

static void
set_errno_error (GError **error, int errsv, const gchar *what, const gchar *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
               "%s “%s”: %s", what, path, g_strerror (errsv));
}

static gboolean
write_all (int fd, const gchar *data, gsize len)
{
  while (len > 0) {
    gssize n = write (fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return FALSE;
    }
    data += n;
    len -= n;
  }
  return TRUE;
}

/* A rename or a new file is durable only once its directory is. */
static gboolean
fsync_dir (const gchar *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int errsv;

  if (fd < 0) {
    set_errno_error (error, errno, "Cannot open the directory", dir);
    return FALSE;
  }
  /* Some file systems cannot sync a directory; nothing more to do there. */
  if (fsync (fd) < 0 && errno != EINVAL) {
    errsv = errno;
    close (fd);
    set_errno_error (error, errsv, "Cannot sync the directory", dir);
    return FALSE;
  }
  close (fd);
  return TRUE;
}

/* One newline-terminated line of the journal; line has no terminator. */
static void
load_line (BeachAppliedWindow *self, GByteArray *line, gboolean overlong)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (BeachActionAck) ack = NULL;

  self->journal_lines++;
  if (overlong) {
    self->skipped_lines++;
    return;
  }
  /* Left behind by a failed write's repair (needs_newline): harmless. */
  if (line->len == 0)
    return;
  /* The parser stops at a NUL and would accept a valid prefix. */
  if (memchr (line->data, '\0', line->len) != NULL) {
    self->skipped_lines++;
    return;
  }
  g_byte_array_append (line, (const guint8 *) "", 1);
  ack = beach_action_ack_new_from_string ((const gchar *) line->data, &local_error);
  if (ack == NULL) {
    g_debug ("%s: skipping line %" G_GUINT64_FORMAT ": %s",
             self->journal_path, self->journal_lines, local_error->message);
    self->skipped_lines++;
    return;
  }
  remember (self, ack);
}

/* Replays the journal through remember(), so the window ends up exactly as
 * it was when the lines were written. Reads in bounded chunks: a line over
 * LINE_MAX_BYTES is dropped as it streams by. Sets *torn when the file
 * ends in a line without its newline, which counts as skipped. */
static gboolean
load_journal (BeachAppliedWindow *self, gboolean *torn, GError **error)
{
  g_autoptr (GByteArray) line = g_byte_array_new ();
  g_autofree gchar *buf = g_malloc (READ_CHUNK);
  gboolean overlong = FALSE;
  goffset offset = 0;

  for (;;) {
    gssize n = read (self->fd, buf, READ_CHUNK);
    gsize pos = 0;

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_errno_error (error, errno, "Cannot read journal", self->journal_path);
      return FALSE;
    }
    if (n == 0)
      break;
    while (pos < (gsize) n) {
      const gchar *nl = memchr (buf + pos, '\n', n - pos);
      gsize seg = (nl != NULL ? (gsize) (nl - buf) : (gsize) n) - pos;

      if (!overlong && line->len + seg > LINE_MAX_BYTES) {
        overlong = TRUE;
        g_byte_array_set_size (line, 0);
      }
      if (!overlong)
        g_byte_array_append (line, (const guint8 *) buf + pos, seg);
      pos += seg;
      if (nl != NULL) {
        pos++;
        load_line (self, line, overlong);
        g_byte_array_set_size (line, 0);
        overlong = FALSE;
        self->journal_end = offset + pos;
      }
    }
    offset += n;
  }
  *torn = line->len > 0 || overlong;
  if (*torn)
    self->skipped_lines++;
  return TRUE;
}

/* Writes the window, oldest first, to a temporary file, syncs it and
 * renames it over the journal. The temporary file's descriptor (opened for
 * appends) becomes the journal's, so there is no reopen that could fail
 * after the rename. */
static gboolean
compact (BeachAppliedWindow *self, GError **error)
{
  g_autofree gchar *dir = g_path_get_dirname (self->journal_path);
  g_autofree gchar *base = g_path_get_basename (self->journal_path);
  g_autofree gchar *name = g_strdup_printf (".%s.XXXXXX", base);
  g_autofree gchar *tmp = g_build_filename (dir, name, NULL);
  g_autoptr (GString) batch = g_string_new (NULL);
  goffset end = 0;
  int fd;
  int errsv;

  fd = g_mkstemp_full (tmp, O_RDWR | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    set_errno_error (error, errno, "Cannot create a temporary file to compact journal", self->journal_path);
    return FALSE;
  }
  for (GList *l = self->order.head; l != NULL; l = l->next) {
    g_autofree gchar *text = beach_action_ack_to_string (g_hash_table_lookup (self->acks, l->data));

    g_string_append (batch, text);
    g_string_append_c (batch, '\n');
    if (batch->len < WRITE_BATCH && l->next != NULL)
      continue;
    if (!write_all (fd, batch->str, batch->len)) {
      errsv = errno;
      goto fail;
    }
    end += batch->len;
    g_string_truncate (batch, 0);
  }
  if (fdatasync (fd) < 0 || g_rename (tmp, self->journal_path) < 0) {
    errsv = errno;
    goto fail;
  }

  close (self->fd);
  self->fd = fd;
  self->journal_lines = self->order.length;
  self->journal_end = end;
  self->needs_newline = FALSE;
  self->compact_at = 2 * (guint64) self->capacity;
  return fsync_dir (dir, error);

fail:
  close (fd);
  g_unlink (tmp);
  set_errno_error (error, errsv, "Cannot compact journal", self->journal_path);
  return FALSE;
}

/* Until compaction succeeds, retry only after another capacity's worth of
 * lines, not on every record. */
static gboolean
maybe_compact (BeachAppliedWindow *self, GError **error)
{
  if (self->journal_lines <= self->compact_at)
    return TRUE;
  if (compact (self, error))
    return TRUE;
  self->compact_at = self->journal_lines + self->capacity;
  return FALSE;
}

static gboolean
open_and_load (BeachAppliedWindow *self, const gchar *path, GError **error)
{
  g_autofree gchar *dir = g_path_get_dirname (path);
  struct stat st;
  gboolean torn = FALSE;

  if (g_mkdir_with_parents (dir, 0700) < 0) {
    set_errno_error (error, errno, "Cannot create the directory of journal", path);
    return FALSE;
  }
  self->fd = open (path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (self->fd < 0) {
    set_errno_error (error, errno, "Cannot open journal", path);
    return FALSE;
  }
  if (fstat (self->fd, &st) < 0) {
    set_errno_error (error, errno, "Cannot stat journal", path);
    return FALSE;
  }
  /* Compaction renames over it, and a device could read forever. */
  if (!S_ISREG (st.st_mode)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                 "Journal “%s” is not a regular file", path);
    return FALSE;
  }
  if (!load_journal (self, &torn, error))
    return FALSE;
  if (torn && ftruncate (self->fd, self->journal_end) < 0) {
    set_errno_error (error, errno, "Cannot cut the torn last line of journal", path);
    return FALSE;
  }
  return fsync_dir (dir, error);
}

gboolean
beach_applied_window_open_journal (BeachAppliedWindow *self, const gchar *path, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (path != NULL && *path != '\0', FALSE);
  g_return_val_if_fail (self->journal_path == NULL, FALSE);
  g_return_val_if_fail (self->order.length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  self->journal_path = g_strdup (path);
  if (!open_and_load (self, path, error)) {
    /* What was loaded still dedupes; only the journal is given up. */
    if (self->fd >= 0)
      close (self->fd);
    self->fd = -1;
    g_clear_pointer (&self->journal_path, g_free);
    return FALSE;
  }
  if (self->skipped_lines > 0) {
    g_warning ("Journal “%s”: skipped %u malformed line(s)", path, self->skipped_lines);
    /* Rewrite it without them, so the next start does not warn again. */
    self->compact_at = 0;
  }
  /* The journal is sound as it is: a failed compaction is not fatal. */
  if (!maybe_compact (self, &local_error))
    g_warning ("%s", local_error->message);
  return TRUE;
}

static gboolean
append_line (BeachAppliedWindow *self, const gchar *text, GError **error)
{
  g_autoptr (GString) line = g_string_new (NULL);
  goffset end;
  int errsv;

  if (self->needs_newline)
    g_string_append_c (line, '\n');
  g_string_append (line, text);
  g_string_append_c (line, '\n');
  if (!write_all (self->fd, line->str, line->len)) {
    errsv = errno;
    if (ftruncate (self->fd, self->journal_end) < 0)
      self->needs_newline = TRUE;
    set_errno_error (error, errsv, "Cannot write to journal", self->journal_path);
    return FALSE;
  }
  self->journal_lines += self->needs_newline ? 2 : 1;
  self->needs_newline = FALSE;
  /* O_APPEND left the offset at the end of the file, wherever that is. */
  end = lseek (self->fd, 0, SEEK_CUR);
  self->journal_end = end >= 0 ? end : self->journal_end + (goffset) line->len;
  if (fdatasync (self->fd) < 0) {
    set_errno_error (error, errno, "Cannot flush journal", self->journal_path);
    return FALSE;
  }
  return TRUE;
}

gboolean
beach_applied_window_record (BeachAppliedWindow *self, BeachActionAck *ack, GError **error)
{
  g_autofree gchar *text = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (ack), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!remember (self, ack) || self->fd < 0)
    return TRUE;
  text = beach_action_ack_to_string (ack);
  if (!append_line (self, text, error))
    return FALSE;
  /* The record itself is durable by now; an error here is compaction's. */
  return maybe_compact (self, error);
}

BeachActionAck *
beach_applied_window_lookup (BeachAppliedWindow *self, const gchar *id)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (id != NULL, NULL);

  return g_hash_table_lookup (self->acks, id);
}

guint
beach_applied_window_get_size (BeachAppliedWindow *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->order.length;
}

guint
beach_applied_window_get_capacity (BeachAppliedWindow *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->capacity;
}

guint
beach_applied_window_get_skipped_lines (BeachAppliedWindow *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->skipped_lines;
}

const gchar *
beach_applied_window_get_journal_path (BeachAppliedWindow *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->journal_path;
}
