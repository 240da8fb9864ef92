/* test-applied-window.c: BeachAppliedWindow, in memory and with a journal
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "beach-applied-window-private.h"

#define LOG_DOMAIN "beach-applied-window"

typedef struct {
  gchar *dir;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-applied-window-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const gchar *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  if (dir != NULL) {
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_assert_false (g_file_test (f->dir, G_FILE_TEST_EXISTS));
  g_free (f->dir);
}

static BeachActionAck *
make_ack (const gchar *id, BeachAckStatus status, const gchar *code, const gchar *message)
{
  g_autoptr (GError) error = NULL;
  BeachActionAck *ack = beach_action_ack_new (id, status, G_GINT64_CONSTANT (1700000000000) + strlen (id),
                                              code != NULL ? 17 : -1, code, message, &error);

  g_assert_no_error (error);
  return ack;
}

static void
record_ok (BeachAppliedWindow *w, const gchar *id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachActionAck) ack = make_ack (id, BEACH_ACK_STATUS_OK, NULL, NULL);

  g_assert_true (beach_applied_window_record (w, ack, &error));
  g_assert_no_error (error);
}

static BeachAppliedWindow *
open_window (guint capacity, const gchar *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAppliedWindow) w = beach_applied_window_new (capacity);

  g_assert_true (beach_applied_window_open_journal (w, path, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (beach_applied_window_get_journal_path (w), ==, path);
  return g_steal_pointer (&w);
}

/* Counts newline-terminated lines and checks every one is a valid ack. */
static guint
journal_lines (const gchar *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *contents = NULL;
  g_auto (GStrv) lines = NULL;
  gsize len = 0;
  guint n;

  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);
  if (len == 0)
    return 0;
  g_assert_cmpint (contents[len - 1], ==, '\n');
  contents[len - 1] = '\0';
  lines = g_strsplit (contents, "\n", -1);
  n = g_strv_length (lines);
  for (guint i = 0; i < n; i++) {
    g_autoptr (BeachActionAck) ack = beach_action_ack_new_from_string (lines[i], &error);

    g_assert_no_error (error);
    g_assert_nonnull (ack);
  }
  return n;
}

static void
assert_same (BeachActionAck *a, BeachActionAck *b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpstr (beach_action_ack_get_id (a), ==, beach_action_ack_get_id (b));
  g_assert_cmpint (beach_action_ack_get_status (a), ==, beach_action_ack_get_status (b));
  g_assert_cmpint (beach_action_ack_get_applied_at_ms (a), ==, beach_action_ack_get_applied_at_ms (b));
  g_assert_cmpint (beach_action_ack_get_latency_ms (a), ==, beach_action_ack_get_latency_ms (b));
  g_assert_cmpstr (beach_action_ack_get_error_code (a), ==, beach_action_ack_get_error_code (b));
  g_assert_cmpstr (beach_action_ack_get_error_message (a), ==, beach_action_ack_get_error_message (b));
}

static void
test_record_lookup (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAppliedWindow) w = beach_applied_window_new (8);
  g_autoptr (BeachActionAck) first = make_ack ("a-1", BEACH_ACK_STATUS_OK, NULL, NULL);
  g_autoptr (BeachActionAck) second = make_ack ("a-1", BEACH_ACK_STATUS_REJECTED, "late", "again");
  g_autoptr (BeachActionAck) other = make_ack ("a-2", BEACH_ACK_STATUS_EXPIRED, NULL, NULL);

  g_assert_cmpuint (beach_applied_window_get_capacity (w), ==, 8);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 0);
  g_assert_null (beach_applied_window_get_journal_path (w));
  g_assert_null (beach_applied_window_lookup (w, "a-1"));

  g_assert_true (beach_applied_window_record (w, first, &error));
  g_assert_no_error (error);
  g_assert_true (beach_applied_window_lookup (w, "a-1") == first);

  /* a redelivery is re-acked with what was sent the first time */
  g_assert_true (beach_applied_window_record (w, second, &error));
  g_assert_no_error (error);
  g_assert_true (beach_applied_window_lookup (w, "a-1") == first);
  g_assert_cmpint (beach_action_ack_get_status (beach_applied_window_lookup (w, "a-1")), ==, BEACH_ACK_STATUS_OK);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 1);

  g_assert_true (beach_applied_window_record (w, other, &error));
  g_assert_no_error (error);
  g_assert_true (beach_applied_window_lookup (w, "a-2") == other);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 2);
  g_assert_null (beach_applied_window_lookup (w, "a-3"));
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 0);

  /* the window holds its own reference */
  g_clear_object (&first);
  g_assert_cmpstr (beach_action_ack_get_id (beach_applied_window_lookup (w, "a-1")), ==, "a-1");
}

static void
test_fifo_eviction (void)
{
  g_autoptr (BeachAppliedWindow) w = beach_applied_window_new (3);

  record_ok (w, "a");
  record_ok (w, "b");
  record_ok (w, "c");
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 3);
  /* a duplicate neither refreshes nor moves its id */
  record_ok (w, "a");
  record_ok (w, "d");
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 3);
  g_assert_null (beach_applied_window_lookup (w, "a"));
  g_assert_nonnull (beach_applied_window_lookup (w, "b"));
  g_assert_nonnull (beach_applied_window_lookup (w, "c"));
  g_assert_nonnull (beach_applied_window_lookup (w, "d"));

  record_ok (w, "e");
  g_assert_null (beach_applied_window_lookup (w, "b"));
  g_assert_nonnull (beach_applied_window_lookup (w, "e"));
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 3);

  /* an evicted id can be recorded again, as a new entry */
  record_ok (w, "a");
  g_assert_nonnull (beach_applied_window_lookup (w, "a"));
  g_assert_null (beach_applied_window_lookup (w, "c"));
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  static const BeachAckStatus statuses[] = {
    BEACH_ACK_STATUS_OK, BEACH_ACK_STATUS_REJECTED, BEACH_ACK_STATUS_EXPIRED, BEACH_ACK_STATUS_PREEMPTED
  };
  g_autofree gchar *sub = g_build_filename (f->dir, "state", "beach", NULL);
  g_autofree gchar *path = g_build_filename (sub, "applied.jsonl", NULL);
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (BeachAppliedWindow) w = NULL;
  g_autoptr (BeachActionAck) dup = NULL;
  g_autofree gchar *before = NULL;
  g_autofree gchar *after = NULL;
  struct stat st;

  w = open_window (64, path);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 0);

  /* parents made private, the file private too */
  g_assert_cmpint (g_stat (sub, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  for (guint i = 0; i < 20; i++) {
    g_autoptr (GError) error = NULL;
    g_autofree gchar *id = g_strdup_printf ("act-%u", i);
    g_autofree gchar *code = i % 3 == 0 ? NULL : g_strdup_printf ("code_%u", i);
    const gchar *message = i % 2 == 0 ? NULL : "“quoted” \"text\"\nwith a newline";
    BeachActionAck *ack = make_ack (id, statuses[i % G_N_ELEMENTS (statuses)], code, message);

    g_ptr_array_add (acks, ack);
    g_assert_true (beach_applied_window_record (w, ack, &error));
    g_assert_no_error (error);
    /* durable before record returns: the line is already in the file */
    g_assert_cmpuint (journal_lines (path), ==, i + 1);
  }
  g_clear_pointer (&w, beach_applied_window_free);

  w = open_window (64, path);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 20);
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 0);
  for (guint i = 0; i < acks->len; i++) {
    BeachActionAck *ack = g_ptr_array_index (acks, i);

    assert_same (ack, beach_applied_window_lookup (w, beach_action_ack_get_id (ack)));
  }

  /* first ack wins across a restart too, and nothing is written for it */
  g_assert_true (g_file_get_contents (path, &before, NULL, NULL));
  dup = make_ack ("act-0", BEACH_ACK_STATUS_REJECTED, "dup", NULL);
  g_assert_true (beach_applied_window_record (w, dup, NULL));
  g_assert_cmpint (beach_action_ack_get_status (beach_applied_window_lookup (w, "act-0")), ==, BEACH_ACK_STATUS_OK);
  g_assert_true (g_file_get_contents (path, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);
}

static void
write_file (const gchar *path, const gchar *contents, gssize len)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, contents, len, &error));
  g_assert_no_error (error);
}

static gchar *
ack_line (const gchar *id, BeachAckStatus status)
{
  g_autoptr (BeachActionAck) ack = make_ack (id, status, NULL, NULL);
  g_autofree gchar *text = beach_action_ack_to_string (ack);

  return g_strconcat (text, "\n", NULL);
}

static void
test_reopen_newest (Fixture *f, gconstpointer data)
{
  g_autofree gchar *path = g_build_filename (f->dir, "journal", NULL);
  g_autoptr (GString) contents = g_string_new (NULL);
  g_autoptr (BeachAppliedWindow) w = NULL;

  /* 12 lines, more than 2 × 5: written by hand, as a larger window would */
  for (guint i = 0; i < 12; i++) {
    g_autofree gchar *id = g_strdup_printf ("n-%u", i);
    g_autofree gchar *line = ack_line (id, BEACH_ACK_STATUS_OK);

    g_string_append (contents, line);
  }
  /* a duplicate of a windowed id keeps the first ack */
  {
    g_autofree gchar *line = ack_line ("n-9", BEACH_ACK_STATUS_REJECTED);

    g_string_append (contents, line);
  }
  write_file (path, contents->str, contents->len);

  w = open_window (5, path);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 5);
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 0);
  for (guint i = 0; i < 12; i++) {
    g_autofree gchar *id = g_strdup_printf ("n-%u", i);

    if (i < 7)
      g_assert_null (beach_applied_window_lookup (w, id));
    else
      g_assert_nonnull (beach_applied_window_lookup (w, id));
  }
  g_assert_cmpint (beach_action_ack_get_status (beach_applied_window_lookup (w, "n-9")), ==, BEACH_ACK_STATUS_OK);
  /* more lines than 2 × capacity: compacted at open */
  g_assert_cmpuint (journal_lines (path), ==, 5);
  g_clear_pointer (&w, beach_applied_window_free);

  /* and the compacted file loads the same window, in the same order */
  w = open_window (5, path);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 5);
  record_ok (w, "n-12");
  g_assert_null (beach_applied_window_lookup (w, "n-7"));
  g_assert_nonnull (beach_applied_window_lookup (w, "n-8"));
}

static void
test_torn_lines (Fixture *f, gconstpointer data)
{
  g_autofree gchar *path = g_build_filename (f->dir, "journal", NULL);
  g_autoptr (GString) contents = g_string_new (NULL);
  g_autoptr (BeachAppliedWindow) w = NULL;
  g_autofree gchar *torn = ack_line ("t-torn", BEACH_ACK_STATUS_OK);
  g_autofree gchar *huge = g_strnfill (70 * 1024, 'x');
  gchar nul_line[] = "{\"id\":\"t-nul\",\"status\":\"ok\",\"applied_at\":1}\0junk\n";

  for (guint i = 0; i < 7; i++) {
    g_autofree gchar *id = g_strdup_printf ("t-%u", i);
    g_autofree gchar *line = ack_line (id, BEACH_ACK_STATUS_OK);

    g_string_append (contents, line);
    if (i == 2)
      g_string_append (contents, "garbage {\n");
    if (i == 3)
      g_string_append_printf (contents, "%s\n", huge);
    if (i == 4)
      g_string_append (contents, "{\"id\":\"t-bad\",\"status\":\"done\",\"applied_at\":1}\n");
    if (i == 5)
      g_string_append_len (contents, nul_line, sizeof nul_line - 1);
  }
  /* the crash: half a line, no newline */
  g_string_append_len (contents, torn, strlen (torn) / 2);
  write_file (path, contents->str, contents->len);

  g_test_expect_message (LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*skipped 5 malformed line*");
  w = open_window (16, path);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 5);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 7);
  for (guint i = 0; i < 7; i++) {
    g_autofree gchar *id = g_strdup_printf ("t-%u", i);

    g_assert_nonnull (beach_applied_window_lookup (w, id));
  }
  g_assert_null (beach_applied_window_lookup (w, "t-torn"));
  g_assert_null (beach_applied_window_lookup (w, "t-bad"));
  g_assert_null (beach_applied_window_lookup (w, "t-nul"));

  /* rewritten without them; a new record is not glued to the torn line */
  g_assert_cmpuint (journal_lines (path), ==, 7);
  record_ok (w, "t-new");
  g_clear_pointer (&w, beach_applied_window_free);

  /* a second warning would be fatal here */
  w = open_window (16, path);
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 0);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 8);
  g_assert_nonnull (beach_applied_window_lookup (w, "t-new"));
}

/* A complete ack whose newline never made it is still a torn line. */
static void
test_torn_tail_complete (Fixture *f, gconstpointer data)
{
  g_autofree gchar *path = g_build_filename (f->dir, "journal", NULL);
  g_autofree gchar *first = ack_line ("c-1", BEACH_ACK_STATUS_OK);
  g_autofree gchar *second = ack_line ("c-2", BEACH_ACK_STATUS_OK);
  g_autofree gchar *contents = NULL;
  g_autoptr (BeachAppliedWindow) w = NULL;

  second[strlen (second) - 1] = '\0';
  contents = g_strconcat (first, second, NULL);
  write_file (path, contents, -1);

  g_test_expect_message (LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*skipped 1 malformed line*");
  w = open_window (4, path);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, 1);
  g_assert_nonnull (beach_applied_window_lookup (w, "c-1"));
  g_assert_null (beach_applied_window_lookup (w, "c-2"));
  record_ok (w, "c-3");
  g_assert_cmpuint (journal_lines (path), ==, 2);
}

static guint
count_entries (const gchar *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_compaction (Fixture *f, gconstpointer data)
{
  const guint capacity = 8;
  g_autofree gchar *path = g_build_filename (f->dir, "journal", NULL);
  g_autoptr (BeachAppliedWindow) w = open_window (capacity, path);
  guint max_lines = 0;
  guint compactions = 0;
  guint last = 0;
  struct stat st;

  for (guint i = 0; i < 10 * capacity; i++) {
    g_autofree gchar *id = g_strdup_printf ("k-%u", i);
    guint lines;

    record_ok (w, id);
    lines = journal_lines (path);
    max_lines = MAX (max_lines, lines);
    if (lines < last)
      compactions++;
    last = lines;
  }
  g_test_message ("max lines %u, compactions %u", max_lines, compactions);
  g_assert_cmpuint (max_lines, <=, 2 * capacity + 1);
  g_assert_cmpuint (compactions, >=, 4);
  /* no temporary file left behind */
  g_assert_cmpuint (count_entries (f->dir), ==, 1);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  /* still appending to the file now at path, not to the one renamed over */
  record_ok (w, "k-last");
  g_assert_cmpuint (journal_lines (path), ==, last + 1);
  g_clear_pointer (&w, beach_applied_window_free);

  w = open_window (capacity, path);
  g_assert_cmpuint (beach_applied_window_get_size (w), ==, capacity);
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 0);
  g_assert_nonnull (beach_applied_window_lookup (w, "k-last"));
  for (guint i = 0; i < 10 * capacity; i++) {
    g_autofree gchar *id = g_strdup_printf ("k-%u", i);

    if (i >= 10 * capacity - (capacity - 1))
      g_assert_nonnull (beach_applied_window_lookup (w, id));
    else
      g_assert_null (beach_applied_window_lookup (w, id));
  }
}

static void
assert_open_fails (const gchar *path, GQuark domain, gint code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAppliedWindow) w = beach_applied_window_new (4);

  g_assert_false (beach_applied_window_open_journal (w, path, &error));
  g_assert_error (error, domain, code);
  g_test_message ("%s -> %s", path, error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_null (beach_applied_window_get_journal_path (w));
  /* the window still works, in memory */
  record_ok (w, "m-1");
  g_assert_nonnull (beach_applied_window_lookup (w, "m-1"));
}

static void
test_unwritable (Fixture *f, gconstpointer data)
{
  g_autofree gchar *plain = g_build_filename (f->dir, "plain", NULL);
  g_autofree gchar *under_plain = g_build_filename (plain, "sub", "journal", NULL);
  g_autofree gchar *a_dir = g_build_filename (f->dir, "a-dir", NULL);

  write_file (plain, "not a directory\n", -1);
  assert_open_fails (under_plain, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
  g_assert_cmpint (g_mkdir (a_dir, 0700), ==, 0);
  assert_open_fails (a_dir, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
  assert_open_fails ("/dev/null", G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
}

static goffset
file_size (const gchar *path)
{
  struct stat st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_size;
}

/* RLIMIT_FSIZE makes write() fail with EFBIG part-way through a line, as a
 * full disk would, without root or a special file system. */
static void
test_write_error (Fixture *f, gconstpointer data)
{
  g_autofree gchar *path = g_build_filename (f->dir, "journal", NULL);
  g_autoptr (BeachAppliedWindow) w = open_window (16, path);
  g_autoptr (BeachActionAck) ack = make_ack ("w-3", BEACH_ACK_STATUS_REJECTED, "nope", NULL);
  g_autoptr (GError) error = NULL;
  struct rlimit saved;
  struct rlimit limited;
  goffset size;
  gboolean ok;

  record_ok (w, "w-1");
  record_ok (w, "w-2");
  size = file_size (path);

  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < (rlim_t) size + 5) {
    g_test_skip ("RLIMIT_FSIZE hard limit too low");
    return;
  }
  limited = saved;
  limited.rlim_cur = size + 5; /* room for 5 bytes of the next line */
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limited), ==, 0);
  ok = beach_applied_window_record (w, ack, &error);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &saved), ==, 0);
  signal (SIGXFSZ, SIG_DFL);

  g_assert_false (ok);
  g_assert_error (error, G_FILE_ERROR, (gint) g_file_error_from_errno (EFBIG));
  g_test_message ("-> %s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  /* still deduplicated in memory; the fragment is cut off again */
  g_assert_true (beach_applied_window_lookup (w, "w-3") == ack);
  g_assert_cmpint (file_size (path), ==, size);

  record_ok (w, "w-4");
  g_assert_cmpuint (journal_lines (path), ==, 3);
  g_clear_pointer (&w, beach_applied_window_free);

  w = open_window (16, path);
  g_assert_cmpuint (beach_applied_window_get_skipped_lines (w), ==, 0);
  g_assert_nonnull (beach_applied_window_lookup (w, "w-1"));
  g_assert_nonnull (beach_applied_window_lookup (w, "w-2"));
  g_assert_null (beach_applied_window_lookup (w, "w-3"));
  g_assert_nonnull (beach_applied_window_lookup (w, "w-4"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/applied-window/record-lookup", test_record_lookup);
  g_test_add_func ("/applied-window/fifo-eviction", test_fifo_eviction);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/applied-window/journal/round-trip", test_round_trip);
  ADD ("/applied-window/journal/reopen-newest", test_reopen_newest);
  ADD ("/applied-window/journal/torn-lines", test_torn_lines);
  ADD ("/applied-window/journal/torn-tail-complete", test_torn_tail_complete);
  ADD ("/applied-window/journal/compaction", test_compaction);
  ADD ("/applied-window/journal/unwritable", test_unwritable);
  ADD ("/applied-window/journal/write-error", test_write_error);
#undef ADD
  return g_test_run ();
}
