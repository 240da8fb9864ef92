/* beach-redis-client.h: hiredis on the main loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A reply, deep-copied out of hiredis (whose replies die with the callback). */
typedef enum {
  BEACH_REDIS_REPLY_STRING,
  BEACH_REDIS_REPLY_ARRAY,
  BEACH_REDIS_REPLY_INTEGER,
  BEACH_REDIS_REPLY_NIL,
  BEACH_REDIS_REPLY_STATUS,
  BEACH_REDIS_REPLY_ERROR,
} BeachRedisReplyType;

typedef struct _BeachRedisReply BeachRedisReply;
struct _BeachRedisReply {
  BeachRedisReplyType type;
  gint64 integer; /* INTEGER */
  gchar *str;     /* STRING, STATUS, ERROR; NUL-terminated */
  gsize len;
  guint n_elements; /* ARRAY */
  BeachRedisReply **elements;
};

void beach_redis_reply_free (BeachRedisReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachRedisReply, beach_redis_reply_free)

/* Validating accessors for replies (Redis replies are outside input):
 * each returns FALSE / NULL with BEACH_ERROR_FAILED naming what was
 * expected when the reply is of another shape. */
gboolean beach_redis_reply_get_int (const BeachRedisReply *reply,
                                    gint64 *out,
                                    GError **error);
const gchar *beach_redis_reply_get_string (const BeachRedisReply *reply,
                                           GError **error); /* STRING or STATUS */
const BeachRedisReply *beach_redis_reply_get_element (const BeachRedisReply *reply,
                                                      guint index,
                                                      GError **error); /* ARRAY only */

/* Settings; beach_redis_client_new() fills defaults. */
typedef struct {
  guint command_timeout_ms; /* 2000: a command not answered by then drops the connection */
  guint max_in_flight;      /* 256: commands sent and not yet answered; more wait locally */
  guint max_queued;         /* 10000: beyond this, commands fail at once with UNAVAILABLE */
  guint backoff_min_ms;     /* 100 */
  guint backoff_max_ms;     /* 5000; each retry doubles, with +-25 % jitter */
} BeachRedisClientConfig;

#define BEACH_TYPE_REDIS_CLIENT (beach_redis_client_get_type ())
G_DECLARE_FINAL_TYPE (BeachRedisClient, beach_redis_client, BEACH, REDIS_CLIENT, GObject)

/* The one parser of Redis URLs: redis://HOST[:PORT][/DB] (PORT 6379, DB 0),
 * unix:///PATH[?db=N]. Password/TLS are not supported and are refused
 * clearly. Does not connect. */
BeachRedisClient *beach_redis_client_new (const gchar *url,
                                          const BeachRedisClientConfig *config,
                                          GError **error);
const gchar *beach_redis_client_get_url (BeachRedisClient *self);

/* Connects (resolving HOST with GResolver first; hiredis would block) on
 * the thread-default main context of the caller, SELECTs the db, and keeps
 * reconnecting with backoff whenever the connection drops. Two
 * connections: one for commands, one for pub/sub. */
void beach_redis_client_start (BeachRedisClient *self);
void beach_redis_client_stop (BeachRedisClient *self);

/* TRUE while the command connection is up ("notify::connected"). */
gboolean beach_redis_client_get_connected (BeachRedisClient *self);

/* Attempts to open the command connection since creation (for metrics and
 * for tests of the backoff). */
guint beach_redis_client_get_connect_attempts (BeachRedisClient *self);

/* Sends one command; argv is NULL-terminated, each element NUL-free text.
 * While disconnected it fails at once with BEACH_ERROR_UNAVAILABLE; a
 * command timing out fails with BEACH_ERROR_UNAVAILABLE and drops the
 * connection (every other command in flight fails the same way). An
 * ERROR reply is not a GError: it is returned as a reply of type ERROR. */
void beach_redis_client_command_async (BeachRedisClient *self,
                                       const gchar *const *argv,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
void beach_redis_client_commandv_async (BeachRedisClient *self,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data,
                                        const gchar *first_arg,
                                        ...) G_GNUC_NULL_TERMINATED;
BeachRedisReply *beach_redis_client_command_finish (BeachRedisClient *self,
                                                    GAsyncResult *result,
                                                    GError **error);

/* EVALSHA of the script's SHA-1, falling back to EVAL when Redis answers
 * NOSCRIPT (after a restart or SCRIPT FLUSH). keys and args are
 * NULL-terminated (either may be NULL). Same errors as commands. */
void beach_redis_client_eval_async (BeachRedisClient *self,
                                    const gchar *script,
                                    const gchar *const *keys,
                                    const gchar *const *args,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
BeachRedisReply *beach_redis_client_eval_finish (BeachRedisClient *self,
                                                 GAsyncResult *result,
                                                 GError **error);

/* Pub/sub on the second connection; patterns are re-subscribed after every
 * reconnect. Each message emits "message" (gchar *channel, gchar *payload). */
void beach_redis_client_psubscribe (BeachRedisClient *self,
                                    const gchar *pattern);

G_END_DECLS
