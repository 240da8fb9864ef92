/* beach-terminal.c: a command running in a pseudo-terminal
 *
 * The command runs on the slave side of a PTY (forkpty). The host reads
 * the master side into a scrollback of plain-text lines (escape sequences
 * dropped, carriage returns and backspaces applied), and writes action
 * bytes into it without ever blocking the main loop: writes queue in order
 * and each one completes once all its bytes are in.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-terminal"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "beach-terminal.h"

#define READ_CHUNK     4096
#define LINE_MAX_BYTES 4096

typedef enum {
  ESC_NONE,
  ESC_START, /* after ESC */
  ESC_CSI,   /* ESC [ ... final */
  ESC_OSC,   /* ESC ] ... BEL or ESC \ */
  ESC_OSC_ESC,
} EscState;

struct _BeachTerminal {
  GObject parent_instance;

  guint rows;
  guint cols;
  guint scrollback;

  GPid pid;
  gint master;
  guint read_id;
  guint write_id;
  guint child_watch_id;
  gboolean exited;
  gint exit_status;

  GQueue lines; /* gchar*, oldest first */
  GString *current;
  EscState esc;
  gboolean pending_cr;

  GQueue writes; /* GTask*, oldest first */
};

enum {
  SIGNAL_OUTPUT,
  SIGNAL_EXITED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachTerminal, beach_terminal, G_TYPE_OBJECT)

typedef struct {
  GBytes *bytes;
  gsize offset;
} PendingWrite;

static void
pending_write_free (PendingWrite *w)
{
  g_bytes_unref (w->bytes);
  g_free (w);
}

/* -- output */

static void
push_line (BeachTerminal *self)
{
  g_queue_push_tail (&self->lines, g_string_free (g_steal_pointer (&self->current), FALSE));
  self->current = g_string_new (NULL);
  while (g_queue_get_length (&self->lines) > self->scrollback)
    g_free (g_queue_pop_head (&self->lines));
}

/* Plain text out of terminal output: escape sequences are dropped, a
 * carriage return rewinds the line, a backspace removes a byte. */
static void
feed (BeachTerminal *self, const guchar *data, gsize len)
{
  for (gsize i = 0; i < len; i++) {
    guchar c = data[i];

    switch (self->esc) {
      case ESC_START:
        self->esc = c == '[' ? ESC_CSI : c == ']' ? ESC_OSC
                                                  : ESC_NONE;
        continue;
      case ESC_CSI:
        if (c >= 0x40 && c <= 0x7e)
          self->esc = ESC_NONE;
        continue;
      case ESC_OSC:
        if (c == 0x07)
          self->esc = ESC_NONE;
        else if (c == 0x1b)
          self->esc = ESC_OSC_ESC;
        continue;
      case ESC_OSC_ESC:
        self->esc = c == '\\' ? ESC_NONE : ESC_OSC;
        continue;
      case ESC_NONE:
      default:
        break;
    }
    /* A carriage return rewinds the line only when something other than a
     * line feed follows it: "\r\n" is a plain end of line. */
    if (self->pending_cr && c != '\n' && c != '\r')
      g_string_truncate (self->current, 0);
    self->pending_cr = FALSE;
    if (c == 0x1b)
      self->esc = ESC_START;
    else if (c == '\n')
      push_line (self);
    else if (c == '\r')
      self->pending_cr = TRUE;
    else if (c == '\b' && self->current->len > 0)
      g_string_truncate (self->current, self->current->len - 1);
    else if ((c >= 0x20 || c == '\t') && c != 0x7f && self->current->len < LINE_MAX_BYTES)
      g_string_append_c (self->current, (gchar) c);
  }
}

/* Reads what the master side has; FALSE once it is closed (EIO: the
 * command and everything it started are gone). */
static gboolean
drain (BeachTerminal *self)
{
  guchar buf[READ_CHUNK];
  gboolean got = FALSE;

  for (;;) {
    gssize n = read (self->master, buf, sizeof buf);

    if (n > 0) {
      feed (self, buf, (gsize) n);
      got = TRUE;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (got)
      g_signal_emit (self, signals[SIGNAL_OUTPUT], 0);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

static gboolean
on_readable (gint fd, GIOCondition condition, gpointer user_data)
{
  BeachTerminal *self = user_data;

  if (drain (self))
    return G_SOURCE_CONTINUE;
  self->read_id = 0;
  return G_SOURCE_REMOVE;
}

static void
on_child_exit (GPid pid, gint status, gpointer user_data)
{
  BeachTerminal *self = user_data;

  self->child_watch_id = 0;
  g_spawn_close_pid (pid);
  self->pid = 0;
  /* What the command printed last is in the PTY still. */
  if (self->master >= 0)
    drain (self);
  self->exited = TRUE;
  if (WIFEXITED (status))
    self->exit_status = WEXITSTATUS (status);
  else if (WIFSIGNALED (status))
    self->exit_status = 128 + WTERMSIG (status);
  else
    self->exit_status = 1;
  g_debug ("command exited with status %d", self->exit_status);
  g_signal_emit (self, signals[SIGNAL_EXITED], 0, self->exit_status);
}

/**
 * beach_terminal_spawn:
 * @self: a terminal
 * @argv: the command and its arguments; argv[0] is looked up in PATH
 * @error: return location for a #GError
 *
 * Starts the command on a new PTY of the terminal's size. A command that
 * cannot be found or executed is an error here, not a child that exits.
 */
gboolean
beach_terminal_spawn (BeachTerminal *self, const gchar *const *argv, GError **error)
{
  g_autofree gchar *program = NULL;
  struct winsize ws = { 0 };
  gint report[2];
  gint child_errno = 0;
  gssize n;
  pid_t pid;

  g_return_val_if_fail (BEACH_IS_TERMINAL (self), FALSE);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, FALSE);
  g_return_val_if_fail (self->pid == 0 && self->master < 0, FALSE);

  program = g_find_program_in_path (argv[0]);
  if (program == NULL) {
    g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT, _ ("Command not found: %s"), argv[0]);
    return FALSE;
  }
  if (!g_unix_open_pipe (report, FD_CLOEXEC, error))
    return FALSE;
  ws.ws_row = (unsigned short) self->rows;
  ws.ws_col = (unsigned short) self->cols;
  pid = forkpty (&self->master, NULL, NULL, &ws);
  if (pid < 0) {
    gint saved = errno;

    close (report[0]);
    close (report[1]);
    self->master = -1;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _ ("Cannot open a pseudo-terminal: %s"),
                 g_strerror (saved));
    return FALSE;
  }
  if (pid == 0) {
    /* The child: only async-signal-safe calls from here. */
    gint e;

    close (report[0]);
    signal (SIGPIPE, SIG_DFL);
    execv (program, (gchar *const *) argv);
    e = errno;
    if (write (report[1], &e, sizeof e) < 0)
      _exit (127);
    _exit (127);
  }
  close (report[1]);
  do
    n = read (report[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close (report[0]);
  if (n == sizeof child_errno) {
    waitpid (pid, NULL, 0);
    close (self->master);
    self->master = -1;
    g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, _ ("Cannot run %s: %s"), program,
                 g_strerror (child_errno));
    return FALSE;
  }
  self->pid = pid;
  fcntl (self->master, F_SETFD, FD_CLOEXEC);
  if (!g_unix_set_fd_nonblocking (self->master, TRUE, error))
    return FALSE;
  self->read_id = g_unix_fd_add (self->master, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, self);
  self->child_watch_id = g_child_watch_add (pid, on_child_exit, self);
  g_debug ("started %s (pid %d) on a %ux%u terminal", program, (gint) pid, self->cols, self->rows);
  return TRUE;
}

/* -- input */

static gboolean on_writable (gint fd, GIOCondition condition, gpointer user_data);

/* Writes queued bytes until the PTY pushes back; completes each write
 * whose bytes are all in. */
static void
pump (BeachTerminal *self)
{
  while (!g_queue_is_empty (&self->writes)) {
    GTask *task = g_queue_peek_head (&self->writes);
    PendingWrite *w = g_task_get_task_data (task);
    gsize size;
    const guchar *data = g_bytes_get_data (w->bytes, &size);
    gssize n;

    /* Write errors become an ack's message, on the wire: not translated. */
    if (self->master < 0) {
      g_queue_pop_head (&self->writes);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "The terminal is closed");
      g_object_unref (task);
      continue;
    }
    if (w->offset == size) {
      g_queue_pop_head (&self->writes);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      continue;
    }
    n = write (self->master, data + w->offset, size - w->offset);
    if (n > 0) {
      w->offset += (gsize) n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (self->write_id == 0)
        self->write_id = g_unix_fd_add (self->master, G_IO_OUT | G_IO_ERR | G_IO_HUP, on_writable, self);
      return;
    }
    {
      gint saved = errno;

      g_queue_pop_head (&self->writes);
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved),
                               "Cannot write to the terminal: %s", g_strerror (saved));
      g_object_unref (task);
    }
  }
}

static gboolean
on_writable (gint fd, GIOCondition condition, gpointer user_data)
{
  BeachTerminal *self = user_data;

  self->write_id = 0;
  pump (self);
  return G_SOURCE_REMOVE;
}

/**
 * beach_terminal_write_async:
 * @self: a terminal
 * @bytes: what to type
 * @len: its length
 * @cancellable: (nullable): unused; writes are never half-cancelled
 * @callback: called once every byte is written, or on an error
 * @user_data: data for @callback
 *
 * Writes @bytes into the PTY verbatim, after any write still queued.
 */
void
beach_terminal_write_async (BeachTerminal *self,
                            const gchar *bytes,
                            gsize len,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
  GTask *task;
  PendingWrite *w;

  g_return_if_fail (BEACH_IS_TERMINAL (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, beach_terminal_write_async);
  w = g_new0 (PendingWrite, 1);
  w->bytes = g_bytes_new (bytes, len);
  g_task_set_task_data (task, w, (GDestroyNotify) pending_write_free);
  g_queue_push_tail (&self->writes, task);
  if (self->write_id == 0)
    pump (self);
}

gboolean
beach_terminal_write_finish (BeachTerminal *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * beach_terminal_get_lines:
 * @self: a terminal
 *
 * Returns: (transfer full): the last scrollback lines of output, oldest
 *   first, the unfinished last line included when it is not empty; each
 *   valid UTF-8
 */
GStrv
beach_terminal_get_lines (BeachTerminal *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  guint n = g_queue_get_length (&self->lines) + (self->current->len > 0 ? 1 : 0);
  guint skip = n > self->scrollback ? n - self->scrollback : 0;
  guint i = 0;

  for (GList *l = self->lines.head; l != NULL; l = l->next, i++) {
    if (i >= skip) {
      g_autofree gchar *valid = g_utf8_make_valid (l->data, -1);

      g_strv_builder_add (b, valid);
    }
  }
  if (self->current->len > 0) {
    g_autofree gchar *valid = g_utf8_make_valid (self->current->str, (gssize) self->current->len);

    g_strv_builder_add (b, valid);
  }
  return g_strv_builder_end (b);
}

guint
beach_terminal_get_rows (BeachTerminal *self)
{
  return self->rows;
}

guint
beach_terminal_get_cols (BeachTerminal *self)
{
  return self->cols;
}

gboolean
beach_terminal_get_exited (BeachTerminal *self)
{
  return self->exited;
}

gint
beach_terminal_get_exit_status (BeachTerminal *self)
{
  return self->exit_status;
}

/* The host is going: the command sees its terminal hang up. */
void
beach_terminal_hangup (BeachTerminal *self)
{
  if (self->pid > 0)
    kill (self->pid, SIGHUP);
}

/* -- object */

BeachTerminal *
beach_terminal_new (guint rows, guint cols, guint scrollback_lines)
{
  BeachTerminal *self = g_object_new (BEACH_TYPE_TERMINAL, NULL);

  self->rows = rows;
  self->cols = cols;
  self->scrollback = MAX (scrollback_lines, 1);
  return self;
}

static void
beach_terminal_dispose (GObject *object)
{
  BeachTerminal *self = BEACH_TERMINAL (object);

  g_clear_handle_id (&self->read_id, g_source_remove);
  g_clear_handle_id (&self->write_id, g_source_remove);
  g_clear_handle_id (&self->child_watch_id, g_source_remove);
  if (self->master >= 0) {
    close (self->master);
    self->master = -1;
  }
  pump (self); /* fails what is still queued */
  G_OBJECT_CLASS (beach_terminal_parent_class)->dispose (object);
}

static void
beach_terminal_finalize (GObject *object)
{
  BeachTerminal *self = BEACH_TERMINAL (object);

  g_queue_clear_full (&self->lines, g_free);
  g_string_free (self->current, TRUE);
  G_OBJECT_CLASS (beach_terminal_parent_class)->finalize (object);
}

static void
beach_terminal_class_init (BeachTerminalClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = beach_terminal_dispose;
  object_class->finalize = beach_terminal_finalize;

  /* New output arrived (read in a batch). */
  signals[SIGNAL_OUTPUT] = g_signal_new ("output", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 0);
  /* The command exited; its last output has been read. */
  signals[SIGNAL_EXITED] = g_signal_new ("exited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
beach_terminal_init (BeachTerminal *self)
{
  self->master = -1;
  self->current = g_string_new (NULL);
  g_queue_init (&self->lines);
  g_queue_init (&self->writes);
}
