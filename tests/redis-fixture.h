/* redis-fixture.h: a private redis-server for tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _BeachTestRedis BeachTestRedis;

/* Starts `redis-server` in its own temporary directory, listening only on
 * DIR/redis.sock, and waits (10 s at most) until it answers PING. Returns
 * NULL with an error if redis-server is not on PATH: call g_test_skip(). */
BeachTestRedis *beach_test_redis_start (gboolean appendonly,
                                        GError **error);
const gchar *beach_test_redis_get_url (BeachTestRedis *r); /* "unix:///…/redis.sock" */
const gchar *beach_test_redis_get_socket_path (BeachTestRedis *r);
/* The server's process id, for SIGSTOP/SIGCONT; 0 when not running. */
GPid beach_test_redis_get_pid (BeachTestRedis *r);
void beach_test_redis_stop (BeachTestRedis *r); /* SIGTERM, wait */
void beach_test_redis_kill (BeachTestRedis *r); /* SIGKILL, wait */
/* Starts it again, same directory and socket: with appendonly, the data
 * survives. Stops it first if it is still running. */
gboolean beach_test_redis_restart (BeachTestRedis *r,
                                   GError **error);
void beach_test_redis_free (BeachTestRedis *r); /* stops if running, removes the directory */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachTestRedis, beach_test_redis_free)

G_END_DECLS
