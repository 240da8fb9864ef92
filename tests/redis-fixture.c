/* redis-fixture.c: a private redis-server for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "redis-fixture.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>

#define READY_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define STOP_TIMEOUT_US  (10 * G_USEC_PER_SEC)
#define POLL_US          (10 * 1000)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (redisContext, redisFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (redisReply, freeReplyObject)

struct _BeachTestRedis {
  gchar *server; /* absolute path of redis-server */
  gchar *dir;
  gchar *socket_path;
  gchar *log_path;
  gchar *url;
  gboolean appendonly;
  GPid pid; /* 0 when not running */
};

/* A crashed test must not leave servers behind. */
static void
child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
answers_ping (BeachTestRedis *r)
{
  struct timeval timeout = { 1, 0 };
  g_autoptr (redisContext) c = redisConnectUnixWithTimeout (r->socket_path, timeout);
  g_autoptr (redisReply) reply = NULL;

  if (c == NULL || c->err != 0)
    return FALSE;
  reply = redisCommand (c, "PING");
  return reply != NULL && reply->type == REDIS_REPLY_STATUS && g_str_equal (reply->str, "PONG");
}

static gchar *
log_tail (BeachTestRedis *r)
{
  g_autofree gchar *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (r->log_path, &contents, &len, NULL))
    return g_strdup ("(no log)");
  return g_strdup (len > 2000 ? contents + len - 2000 : contents);
}

/* Reaps the server, waiting at most @timeout_us; returns FALSE if it still
 * runs. */
static gboolean
reap (BeachTestRedis *r, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  int status;

  while (TRUE) {
    pid_t res = waitpid (r->pid, &status, WNOHANG);

    if (res == r->pid || (res < 0 && errno == ECHILD)) {
      g_spawn_close_pid (r->pid);
      r->pid = 0;
      return TRUE;
    }
    if (g_get_monotonic_time () >= deadline)
      return FALSE;
    g_usleep (POLL_US);
  }
}

static gboolean
spawn_server (BeachTestRedis *r, GError **error)
{
  const gchar *argv[] = {
    r->server,
    "--port", "0",
    "--unixsocket", r->socket_path,
    "--unixsocketperm", "700",
    "--save", "",
    "--appendonly", r->appendonly ? "yes" : "no",
    "--dir", r->dir,
    "--logfile", r->log_path,
    "--daemonize", "no",
    NULL
  };
  gint64 deadline;

  if (!g_spawn_async (r->dir, (gchar **) argv, NULL,
                      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL,
                      child_setup, NULL, &r->pid, error))
    return FALSE;

  deadline = g_get_monotonic_time () + READY_TIMEOUT_US;
  while (!answers_ping (r)) {
    if (reap (r, 0)) {
      g_autofree gchar *tail = log_tail (r);

      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                   "redis-server exited during start-up:\n%s", tail);
      return FALSE;
    }
    if (g_get_monotonic_time () >= deadline) {
      g_autofree gchar *tail = log_tail (r);

      beach_test_redis_kill (r);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   "redis-server did not answer PING within 10 s:\n%s", tail);
      return FALSE;
    }
    g_usleep (POLL_US);
  }
  return TRUE;
}

BeachTestRedis *
beach_test_redis_start (gboolean appendonly, GError **error)
{
  g_autoptr (BeachTestRedis) r = NULL;
  g_autofree gchar *server = g_find_program_in_path ("redis-server");

  if (server == NULL) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                         "redis-server is not on PATH");
    return NULL;
  }
  r = g_new0 (BeachTestRedis, 1);
  r->server = g_steal_pointer (&server);
  r->appendonly = appendonly;
  r->dir = g_dir_make_tmp ("beach-redis-XXXXXX", error);
  if (r->dir == NULL)
    return NULL;
  r->socket_path = g_build_filename (r->dir, "redis.sock", NULL);
  r->log_path = g_build_filename (r->dir, "redis.log", NULL);
  r->url = g_strconcat ("unix://", r->socket_path, NULL);
  if (!spawn_server (r, error))
    return NULL;
  return g_steal_pointer (&r);
}

const gchar *
beach_test_redis_get_url (BeachTestRedis *r)
{
  return r->url;
}

const gchar *
beach_test_redis_get_socket_path (BeachTestRedis *r)
{
  return r->socket_path;
}

GPid
beach_test_redis_get_pid (BeachTestRedis *r)
{
  return r->pid;
}

void
beach_test_redis_stop (BeachTestRedis *r)
{
  if (r->pid == 0)
    return;
  kill (r->pid, SIGTERM);
  /* A test may have left it stopped with SIGSTOP. */
  kill (r->pid, SIGCONT);
  if (!reap (r, STOP_TIMEOUT_US))
    beach_test_redis_kill (r);
}

void
beach_test_redis_kill (BeachTestRedis *r)
{
  if (r->pid == 0)
    return;
  kill (r->pid, SIGKILL);
  reap (r, G_MAXINT64 / 2);
}

gboolean
beach_test_redis_restart (BeachTestRedis *r, GError **error)
{
  beach_test_redis_stop (r);
  return spawn_server (r, error);
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

void
beach_test_redis_free (BeachTestRedis *r)
{
  if (r == NULL)
    return;
  beach_test_redis_stop (r);
  if (r->dir != NULL)
    remove_tree (r->dir);
  g_free (r->server);
  g_free (r->dir);
  g_free (r->socket_path);
  g_free (r->log_path);
  g_free (r->url);
  g_free (r);
}
