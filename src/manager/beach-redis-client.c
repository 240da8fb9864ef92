/* beach-redis-client.c: hiredis on the main loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-redis-client"

#include "config.h"

#include <signal.h>
#include <sys/un.h>

/* Header-only with static functions: this must stay the one file that
 * includes it. */
#include <hiredis/adapters/glib.h>

#include "beach.h"
#include "beach-redis-client.h"
#include "beach-redis-private.h"

/**
 * BeachRedisClient:
 *
 * Two hiredis async connections driven by the GLib main loop: one for
 * commands (pipelined, with a local FIFO and a timeout on the oldest
 * command in flight) and one for pub/sub. Both reconnect by themselves.
 *
 * hiredis runs pending callbacks and frees its context from inside its own
 * calls, so no user code ever runs from a hiredis callback: completions,
 * "message" emissions and "notify::connected" go through an outbox drained
 * by a source of its own. That way a caller may issue commands, stop the
 * client or drop its last reference from any callback.
 *
 * Everything runs on the thread-default main context of
 * beach_redis_client_start(); call the client from that thread only.
 */

#define DEFAULT_COMMAND_TIMEOUT_MS 2000
#define DEFAULT_MAX_IN_FLIGHT      256
#define DEFAULT_MAX_QUEUED         10000
#define DEFAULT_BACKOFF_MIN_MS     100
#define DEFAULT_BACKOFF_MAX_MS     5000
#define DEFAULT_PORT               6379
#define MAX_DB                     15
/* Repeated failures to connect are logged as a warning at most this often. */
#define WARNING_INTERVAL_US (30 * G_USEC_PER_SEC)

typedef enum {
  CONN_IDLE,      /* stopped */
  CONN_WAITING,   /* backing off before the next attempt */
  CONN_RESOLVING, /* GResolver lookup in progress */
  CONN_CONNECTING,
  CONN_HANDSHAKE, /* PING or SELECT in flight */
  CONN_UP,
} ConnState;

typedef enum {
  ROLE_COMMANDS,
  ROLE_PUBSUB,
} ConnRole;

typedef struct {
  BeachRedisClient *client; /* unowned: the client embeds its connections */
  ConnRole role;
  ConnState state;
  redisAsyncContext *ac; /* NULL from the moment we start freeing it */
  GSource *io_source;    /* the adapter's RedisSource for ac */
  GSource *timer;        /* backoff, connect deadline, oldest command */
  GCancellable *resolve_cancellable;
  gint64 retry_at_us;
  gint64 connect_deadline_us;
  gchar *drop_reason;   /* why we freed ac ourselves */
  gchar *pending_drop;  /* a drop asked for from inside hiredis */
  gchar *last_error;    /* why the connection is not up, for errors */
  guint failures;       /* attempts failed since the last time up */
  gint64 down_since_us; /* monotonic; 0 while up or before trying */
  gint64 last_warning_us;
  GQueue in_flight; /* Cmd*, in sending order, which is reply order */
} Conn;

typedef struct {
  BeachRedisClient *client; /* unowned: a task holds the client */
  GTask *task;              /* NULL for the handshake and once returned */
  gchar **argv;
  gint64 sent_us;
  GSource *cancel_source;
  gboolean in_flight;
} Cmd;

typedef enum {
  OUT_RETURN,
  OUT_MESSAGE,
  OUT_NOTIFY,
} OutKind;

typedef struct {
  OutKind kind;
  GTask *task;
  BeachRedisReply *reply;
  GError *error;
  gchar *channel;
  gchar *payload;
} Out;

struct _BeachRedisClient {
  GObject parent_instance;

  gchar *url;
  gchar *host; /* NULL for unix sockets */
  guint port;
  gchar *socket_path;
  guint db;
  BeachRedisClientConfig config;

  GMainContext *context; /* set by the first start */
  gboolean running;
  gboolean connected;
  guint connect_attempts;

  Conn commands;
  Conn pubsub;
  GQueue waiting;      /* Cmd*, accepted but not yet sent */
  GPtrArray *patterns; /* gchar*, every pattern ever subscribed */
  GQueue outbox;       /* Out* */
  GSource *outbox_source;
};

enum {
  PROP_0,
  PROP_CONNECTED,
  N_PROPS
};

enum {
  SIGNAL_MESSAGE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachRedisClient, beach_redis_client, G_TYPE_OBJECT)

static void conn_connect (Conn *conn);
static void conn_pump (Conn *conn);

/* ------------------------------------------------------------------ */
/* Replies                                                              */

void
beach_redis_reply_free (BeachRedisReply *reply)
{
  if (reply == NULL)
    return;
  for (guint i = 0; i < reply->n_elements; i++)
    beach_redis_reply_free (reply->elements[i]);
  g_free (reply->elements);
  g_free (reply->str);
  g_free (reply);
}

static gchar *
copy_bytes (const gchar *str, gsize len)
{
  gchar *copy = g_malloc (len + 1);

  if (len > 0)
    memcpy (copy, str, len);
  copy[len] = '\0';
  return copy;
}

static BeachRedisReply *
reply_copy (const redisReply *r)
{
  BeachRedisReply *reply = g_new0 (BeachRedisReply, 1);

  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      reply->type = r->type == REDIS_REPLY_STRING   ? BEACH_REDIS_REPLY_STRING
                    : r->type == REDIS_REPLY_STATUS ? BEACH_REDIS_REPLY_STATUS
                                                    : BEACH_REDIS_REPLY_ERROR;
      reply->str = copy_bytes (r->str, r->len);
      reply->len = r->len;
      break;
    case REDIS_REPLY_INTEGER:
      reply->type = BEACH_REDIS_REPLY_INTEGER;
      reply->integer = r->integer;
      break;
    case REDIS_REPLY_NIL:
      reply->type = BEACH_REDIS_REPLY_NIL;
      break;
    case REDIS_REPLY_ARRAY:
      reply->type = BEACH_REDIS_REPLY_ARRAY;
      reply->n_elements = (guint) MIN (r->elements, (size_t) G_MAXUINT - 1);
      reply->elements = g_new0 (BeachRedisReply *, reply->n_elements + 1);
      for (guint i = 0; i < reply->n_elements; i++)
        reply->elements[i] = reply_copy (r->element[i]);
      break;
    default:
      /* hiredis 0.14 has no other types; a later one (RESP3) would. */
      reply->type = BEACH_REDIS_REPLY_ERROR;
      reply->str = g_strdup_printf ("unsupported reply type %d", r->type);
      reply->len = strlen (reply->str);
      break;
  }
  return reply;
}

static const gchar *
reply_type_name (BeachRedisReplyType type)
{
  switch (type) {
    case BEACH_REDIS_REPLY_STRING:
      return "a string";
    case BEACH_REDIS_REPLY_ARRAY:
      return "an array";
    case BEACH_REDIS_REPLY_INTEGER:
      return "an integer";
    case BEACH_REDIS_REPLY_NIL:
      return "nil";
    case BEACH_REDIS_REPLY_STATUS:
      return "a status";
    case BEACH_REDIS_REPLY_ERROR:
      return "an error";
    default:
      return "an unknown reply";
  }
}

static void
set_wrong_shape (const BeachRedisReply *reply, const gchar *expected, GError **error)
{
  if (reply == NULL)
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
                 "expected %s reply from redis, got none", expected);
  else if (reply->type == BEACH_REDIS_REPLY_ERROR)
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
                 "expected %s reply from redis, got the error “%s”", expected, reply->str);
  else
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
                 "expected %s reply from redis, got %s", expected, reply_type_name (reply->type));
}

/**
 * beach_redis_reply_get_int:
 * @reply: (nullable): a reply
 * @out: (out) (optional): the integer
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @reply is an INTEGER reply
 */
gboolean
beach_redis_reply_get_int (const BeachRedisReply *reply, gint64 *out, GError **error)
{
  if (reply == NULL || reply->type != BEACH_REDIS_REPLY_INTEGER) {
    set_wrong_shape (reply, "an integer", error);
    return FALSE;
  }
  if (out != NULL)
    *out = reply->integer;
  return TRUE;
}

/**
 * beach_redis_reply_get_string:
 * @reply: (nullable): a reply
 * @error: return location for a #GError
 *
 * Returns: (transfer none) (nullable): the text of a STRING or STATUS reply
 */
const gchar *
beach_redis_reply_get_string (const BeachRedisReply *reply, GError **error)
{
  if (reply == NULL || (reply->type != BEACH_REDIS_REPLY_STRING && reply->type != BEACH_REDIS_REPLY_STATUS)) {
    set_wrong_shape (reply, "a string", error);
    return NULL;
  }
  return reply->str;
}

/**
 * beach_redis_reply_get_element:
 * @reply: (nullable): a reply
 * @index: an index into the array
 * @error: return location for a #GError
 *
 * Returns: (transfer none) (nullable): element @index of an ARRAY reply
 */
const BeachRedisReply *
beach_redis_reply_get_element (const BeachRedisReply *reply, guint index, GError **error)
{
  if (reply == NULL || reply->type != BEACH_REDIS_REPLY_ARRAY) {
    set_wrong_shape (reply, "an array", error);
    return NULL;
  }
  if (index >= reply->n_elements) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
                 "expected an array of more than %u elements from redis, got %u",
                 index, reply->n_elements);
    return NULL;
  }
  return reply->elements[index];
}

/* ------------------------------------------------------------------ */
/* URL                                                                  */

static gboolean
parse_db (const gchar *text, guint *db, GError **error)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, MAX_DB, &value, NULL)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "redis database must be a number from 0 to %u, not “%s”", MAX_DB, text);
    return FALSE;
  }
  *db = (guint) value;
  return TRUE;
}

static gboolean
parse_tcp_url (BeachRedisClient *self, GUri *uri, GError **error)
{
  const gchar *host = g_uri_get_host (uri);
  const gchar *path = g_uri_get_path (uri);
  gint port = g_uri_get_port (uri);

  if (host == NULL || *host == '\0') {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "redis URL has no host: use redis://HOST[:PORT][/DB]");
    return FALSE;
  }
  if (!g_hostname_is_ip_address (host)) {
    for (const gchar *c = host; *c != '\0'; c++) {
      if (!g_ascii_isalnum (*c) && *c != '-' && *c != '.' && *c != '_') {
        g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                     "redis host “%s” is not a host name or an IP address", host);
        return FALSE;
      }
    }
  }
  if (port == 0) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "redis port must be from 1 to 65535");
    return FALSE;
  }
  if (g_uri_get_query (uri) != NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "redis:// URLs take no query: use redis://HOST[:PORT][/DB]");
    return FALSE;
  }
  if (*path != '\0' && !g_str_equal (path, "/") && !parse_db (path + 1, &self->db, error))
    return FALSE;
  self->host = g_strdup (host);
  self->port = port > 0 ? (guint) port : DEFAULT_PORT;
  return TRUE;
}

static gboolean
parse_unix_url (BeachRedisClient *self, GUri *uri, GError **error)
{
  const gchar *host = g_uri_get_host (uri);
  const gchar *path = g_uri_get_path (uri);
  const gchar *query = g_uri_get_query (uri);
  g_autoptr (GHashTable) params = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if ((host != NULL && *host != '\0') || g_uri_get_port (uri) != -1) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "unix:// URLs have no host or port: use unix:///PATH[?db=N]");
    return FALSE;
  }
  if (path[0] != '/' || path[1] == '\0') {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "unix:// URL needs an absolute socket path: use unix:///PATH[?db=N]");
    return FALSE;
  }
  if (strlen (path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "redis socket path is longer than %zu bytes",
                 sizeof (((struct sockaddr_un *) NULL)->sun_path) - 1);
    return FALSE;
  }
  if (query != NULL) {
    g_autoptr (GError) local_error = NULL;

    params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, &local_error);
    if (params == NULL) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "invalid query in redis URL: %s", local_error->message);
      return FALSE;
    }
    g_hash_table_iter_init (&iter, params);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
      if (!g_str_equal (key, "db")) {
        g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                     "unknown parameter “%s” in redis URL: only db=N is supported",
                     (const gchar *) key);
        return FALSE;
      }
      if (!parse_db (value, &self->db, error))
        return FALSE;
    }
  }
  self->socket_path = g_strdup (path);
  return TRUE;
}

/* The one parser of Redis URLs. Error messages never repeat the URL, which
 * might carry a password that we are about to refuse. */
static gboolean
parse_url (BeachRedisClient *self, const gchar *url, GError **error)
{
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GError) local_error = NULL;
  const gchar *scheme;

  if (url == NULL || *url == '\0') {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "redis URL is empty");
    return FALSE;
  }
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "invalid redis URL: %s", local_error->message);
    return FALSE;
  }
  if (g_uri_get_userinfo (uri) != NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "redis URL must not carry a user or password: authentication is not supported");
    return FALSE;
  }
  if (g_uri_get_fragment (uri) != NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "redis URL must not have a fragment");
    return FALSE;
  }
  scheme = g_uri_get_scheme (uri);
  if (g_str_equal (scheme, "redis"))
    return parse_tcp_url (self, uri, error);
  if (g_str_equal (scheme, "unix"))
    return parse_unix_url (self, uri, error);
  if (g_str_equal (scheme, "rediss"))
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "TLS (rediss://) is not supported: use redis:// or unix://");
  else
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "unsupported redis URL scheme “%s”: use redis:// or unix://", scheme);
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Outbox: everything that may run user code                           */

static void
out_free (Out *out)
{
  g_clear_object (&out->task);
  beach_redis_reply_free (out->reply);
  g_clear_error (&out->error);
  g_free (out->channel);
  g_free (out->payload);
  g_free (out);
}

static void
outbox_push (BeachRedisClient *self, Out *out)
{
  g_queue_push_tail (&self->outbox, out);
  g_source_set_ready_time (self->outbox_source, 0);
}

static void
outbox_return (BeachRedisClient *self, GTask *task, BeachRedisReply *reply, GError *error)
{
  Out *out = g_new0 (Out, 1);

  out->kind = OUT_RETURN;
  out->task = task;
  out->reply = reply;
  out->error = error;
  outbox_push (self, out);
}

static void
out_deliver (BeachRedisClient *self, Out *out)
{
  switch (out->kind) {
    case OUT_RETURN:
      if (out->error != NULL)
        g_task_return_error (out->task, g_steal_pointer (&out->error));
      else
        g_task_return_pointer (out->task, g_steal_pointer (&out->reply),
                               (GDestroyNotify) beach_redis_reply_free);
      break;
    case OUT_MESSAGE:
      g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, out->channel, out->payload);
      break;
    case OUT_NOTIFY:
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
      break;
    default:
      g_assert_not_reached ();
  }
}

static gboolean
outbox_cb (gpointer user_data)
{
  g_autoptr (BeachRedisClient) self = g_object_ref (user_data);
  GQueue items = self->outbox;
  Out *out;

  /* Handlers may push more; those wait for the next dispatch. */
  g_queue_init (&self->outbox);
  while ((out = g_queue_pop_head (&items)) != NULL) {
    out_deliver (self, out);
    out_free (out);
  }
  return G_SOURCE_CONTINUE;
}

static void
set_connected (BeachRedisClient *self, gboolean connected)
{
  Out *out;

  if (self->connected == connected)
    return;
  self->connected = connected;
  out = g_new0 (Out, 1);
  out->kind = OUT_NOTIFY;
  outbox_push (self, out);
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static Cmd *
cmd_new (BeachRedisClient *self, GTask *task, const gchar *const *argv)
{
  Cmd *cmd = g_new0 (Cmd, 1);

  cmd->client = self;
  cmd->task = task;
  cmd->argv = g_strdupv ((gchar **) argv);
  return cmd;
}

static void
cmd_free (Cmd *cmd)
{
  if (cmd->cancel_source != NULL)
    g_source_destroy (cmd->cancel_source);
  g_clear_pointer (&cmd->cancel_source, g_source_unref);
  /* Every path returns the task before freeing; this only drops a ref. */
  g_clear_object (&cmd->task);
  g_strfreev (cmd->argv);
  g_free (cmd);
}

static void
cmd_fail (Cmd *cmd, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static void
cmd_fail (Cmd *cmd, const gchar *format, ...)
{
  va_list args;
  GError *error;

  if (cmd->task == NULL)
    return;
  va_start (args, format);
  error = g_error_new_valist (BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, format, args);
  va_end (args);
  outbox_return (cmd->client, g_steal_pointer (&cmd->task), NULL, error);
}

static void
fail_waiting (BeachRedisClient *self, const gchar *reason)
{
  Cmd *cmd;

  while ((cmd = g_queue_pop_head (&self->waiting)) != NULL) {
    cmd_fail (cmd, "redis is not connected (%s): %s", self->url, reason);
    cmd_free (cmd);
  }
}

/* Cancelling returns at once; a command already sent still has its reply
 * read (and dropped) to keep the pipeline in step. */
static gboolean
cmd_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  Cmd *cmd = user_data;
  BeachRedisClient *self = cmd->client;

  if (cmd->task != NULL)
    outbox_return (self, g_steal_pointer (&cmd->task), NULL,
                   g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                        "Operation was cancelled"));
  if (!cmd->in_flight) {
    g_queue_remove (&self->waiting, cmd);
    cmd_free (cmd);
    return G_SOURCE_REMOVE;
  }
  g_source_destroy (cmd->cancel_source);
  g_clear_pointer (&cmd->cancel_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */

static const gchar *
conn_name (Conn *conn)
{
  return conn->role == ROLE_COMMANDS ? "connection" : "pub/sub connection";
}

/* The command connection drives readiness, so its trouble is a warning;
 * the pub/sub one follows the same server and only adds detail. */
static GLogLevelFlags
conn_log_level (Conn *conn)
{
  return conn->role == ROLE_COMMANDS ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE;
}

static gint64
conn_deadline (Conn *conn)
{
  Cmd *oldest;

  if (conn->pending_drop != NULL)
    return 0;
  switch (conn->state) {
    case CONN_WAITING:
      return conn->retry_at_us;
    case CONN_RESOLVING:
    case CONN_CONNECTING:
      return conn->connect_deadline_us;
    case CONN_HANDSHAKE:
    case CONN_UP:
      oldest = g_queue_peek_head (&conn->in_flight);
      if (oldest == NULL)
        return -1;
      return oldest->sent_us + (gint64) conn->client->config.command_timeout_ms * 1000;
    case CONN_IDLE:
    default:
      return -1;
  }
}

/* Only ever moves the timer earlier: when the oldest command is answered
 * the next one is younger, and the timer re-arms itself when it fires. */
static void
conn_arm_timer (Conn *conn, gboolean exact)
{
  gint64 deadline = conn_deadline (conn);
  gint64 current = g_source_get_ready_time (conn->timer);

  if (exact || current == -1 || (deadline != -1 && deadline < current))
    g_source_set_ready_time (conn->timer, deadline);
}

/* Asks the timer to drop the connection: hiredis must not free a context
 * from inside one of its own callbacks. */
static void
conn_request_drop (Conn *conn, const gchar *reason)
{
  if (conn->pending_drop == NULL)
    conn->pending_drop = g_strdup (reason);
  conn_arm_timer (conn, TRUE);
}

/* Frees the context; every pending callback then runs with a NULL reply
 * and on_ev_cleanup() takes it from there. Never called from hiredis. */
static void
conn_drop (Conn *conn, const gchar *reason)
{
  redisAsyncContext *ac = conn->ac;

  if (ac == NULL)
    return;
  g_free (conn->drop_reason);
  conn->drop_reason = g_strdup (reason);
  conn->ac = NULL;
  redisAsyncFree (ac);
}

static guint
backoff_ms (BeachRedisClient *self, guint failures)
{
  guint64 delay = self->config.backoff_min_ms;

  for (guint i = 0; i < failures && delay < self->config.backoff_max_ms; i++)
    delay *= 2;
  delay = MIN (delay, self->config.backoff_max_ms);
  /* ±25 % so that many clients of one restarted server spread out. */
  return (guint) MAX (1, delay * g_random_double_range (0.75, 1.25));
}

/* The connection (or an attempt at one) is gone: back off and retry. */
static void
conn_lost (Conn *conn, const gchar *reason, gboolean was_up)
{
  BeachRedisClient *self = conn->client;
  gint64 now = g_get_monotonic_time ();
  guint delay;

  g_free (conn->last_error);
  conn->last_error = g_strdup (reason);
  if (!self->running) {
    conn->state = CONN_IDLE;
    conn_arm_timer (conn, TRUE);
    return;
  }

  delay = backoff_ms (self, conn->failures);
  conn->failures++;
  if (conn->down_since_us == 0)
    conn->down_since_us = now;
  conn->state = CONN_WAITING;
  conn->retry_at_us = now + (gint64) delay * 1000;
  conn_arm_timer (conn, TRUE);

  if (was_up) {
    g_log (G_LOG_DOMAIN, conn_log_level (conn), "lost %s to %s: %s; reconnecting in %u ms",
           conn_name (conn), self->url, reason, delay);
    conn->last_warning_us = now;
  } else if (conn->last_warning_us == 0 || now - conn->last_warning_us >= WARNING_INTERVAL_US) {
    g_log (G_LOG_DOMAIN, conn_log_level (conn), "cannot open %s to %s (%u failures in a row): %s; retrying in %u ms",
           conn_name (conn), self->url, conn->failures, reason, delay);
    conn->last_warning_us = now;
  } else {
    g_debug ("%s to %s failed (%u failures in a row): %s; retrying in %u ms",
             conn_name (conn), self->url, conn->failures, reason, delay);
  }
}

static void
conn_up (Conn *conn)
{
  BeachRedisClient *self = conn->client;

  conn->state = CONN_UP;
  if (conn->role == ROLE_COMMANDS) {
    if (conn->down_since_us != 0)
      g_message ("connected to %s (after %.1f s unavailable)", self->url,
                 (g_get_monotonic_time () - conn->down_since_us) / (gdouble) G_USEC_PER_SEC);
    else
      g_message ("connected to %s", self->url);
    set_connected (self, TRUE);
  } else {
    g_debug ("pub/sub connection to %s up, %u patterns", self->url, self->patterns->len);
  }
  conn->failures = 0;
  conn->down_since_us = 0;
  conn->last_warning_us = 0;
  g_clear_pointer (&conn->last_error, g_free);
}

/* hiredis is freeing @ac: called from its cleanup hook, after every pending
 * callback ran with a NULL reply and before the context's memory goes. */
static void
conn_ac_gone (Conn *conn, redisAsyncContext *ac)
{
  BeachRedisClient *self = conn->client;
  g_autofree gchar *reason = NULL;
  gboolean was_up = conn->state == CONN_UP;

  if (conn->drop_reason != NULL)
    reason = g_steal_pointer (&conn->drop_reason);
  else if (ac->err != 0)
    reason = g_strdup (ac->errstr);
  else
    reason = g_strdup ("connection closed");
  g_clear_pointer (&conn->pending_drop, g_free);

  if (conn->ac == ac)
    conn->ac = NULL;
  if (conn->io_source != NULL)
    g_source_destroy (conn->io_source);
  g_clear_pointer (&conn->io_source, g_source_unref);
  g_assert (g_queue_is_empty (&conn->in_flight));

  if (conn->role == ROLE_COMMANDS) {
    fail_waiting (self, reason);
    set_connected (self, FALSE);
  }
  conn_lost (conn, reason, was_up);
}

static void
on_ev_cleanup (gpointer data)
{
  RedisSource *source = data;
  redisAsyncContext *ac = source->ac;

  redis_source_cleanup (data);
  /* The adapter's dispatch reads after it writes: when a failed write frees
   * the context, it must not go on to read from it. */
  source->poll_fd.revents = 0;
  conn_ac_gone (ac->data, ac);
}

static gboolean
conn_send (Conn *conn, Cmd *cmd, redisCallbackFn *fn)
{
  guint argc = g_strv_length (cmd->argv);
  g_autofree size_t *argvlen = g_new (size_t, argc);

  for (guint i = 0; i < argc; i++)
    argvlen[i] = strlen (cmd->argv[i]);
  if (redisAsyncCommandArgv (conn->ac, fn, cmd, (int) argc, (const char **) cmd->argv, argvlen) != REDIS_OK)
    return FALSE;
  cmd->in_flight = TRUE;
  cmd->sent_us = g_get_monotonic_time ();
  g_queue_push_tail (&conn->in_flight, cmd);
  conn_arm_timer (conn, FALSE);
  return TRUE;
}

static void
on_handshake_reply (Conn *conn, BeachRedisReply *reply)
{
  const gchar *expected = conn->client->db != 0 ? "OK" : "PONG";

  if (reply->type == BEACH_REDIS_REPLY_STATUS && g_str_equal (reply->str, expected)) {
    conn_up (conn);
  } else {
    g_autofree gchar *reason = g_strdup_printf ("%s failed: %s", conn->client->db != 0 ? "SELECT" : "PING",
                                                reply->str != NULL ? reply->str : reply_type_name (reply->type));
    conn_request_drop (conn, reason);
  }
}

static void
on_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Conn *conn = ac->data;
  Cmd *cmd = privdata;
  BeachRedisClient *self = conn->client;
  BeachRedisReply *reply;

  g_assert (g_queue_peek_head (&conn->in_flight) == cmd);
  g_queue_pop_head (&conn->in_flight);

  if (r == NULL) {
    cmd_fail (cmd, "lost connection to redis (%s): %s", self->url,
              conn->drop_reason != NULL ? conn->drop_reason
              : ac->err != 0            ? ac->errstr
                                        : "connection closed");
    cmd_free (cmd);
    return;
  }

  reply = reply_copy (r);
  if (conn->state == CONN_HANDSHAKE) {
    on_handshake_reply (conn, reply);
    beach_redis_reply_free (reply);
  } else if (cmd->task != NULL) {
    outbox_return (self, g_steal_pointer (&cmd->task), reply, NULL);
  } else {
    beach_redis_reply_free (reply); /* cancelled */
  }
  cmd_free (cmd);
  conn_pump (conn);
}

static void
conn_pump (Conn *conn)
{
  BeachRedisClient *self = conn->client;
  Cmd *cmd;

  while (conn->state == CONN_UP && conn->ac != NULL && conn->pending_drop == NULL && conn->in_flight.length < self->config.max_in_flight && (cmd = g_queue_pop_head (&self->waiting)) != NULL) {
    if (!conn_send (conn, cmd, on_reply)) {
      cmd_fail (cmd, "redis refused the command (%s): %s", self->url,
                conn->ac->errstr[0] != '\0' ? conn->ac->errstr : "connection closing");
      cmd_free (cmd);
      conn_request_drop (conn, "hiredis refused a command");
    }
  }
}

static void
on_pubsub_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Conn *conn = privdata;
  const redisReply *reply = r;
  Out *out;

  /* NULL while the context is being freed; anything else but a
   * well-formed pmessage is outside input we ignore. */
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
    return;
  if (reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING)
    return;
  if (g_ascii_strcasecmp (reply->element[0]->str, "psubscribe") == 0) {
    g_debug ("subscribed to %s", reply->element[1]->str);
    return;
  }
  if (g_ascii_strcasecmp (reply->element[0]->str, "pmessage") != 0 || reply->elements != 4 || reply->element[2]->type != REDIS_REPLY_STRING || reply->element[3]->type != REDIS_REPLY_STRING)
    return;
  out = g_new0 (Out, 1);
  out->kind = OUT_MESSAGE;
  out->channel = copy_bytes (reply->element[2]->str, reply->element[2]->len);
  out->payload = copy_bytes (reply->element[3]->str, reply->element[3]->len);
  outbox_push (conn->client, out);
}

static gboolean
conn_psubscribe (Conn *conn, const gchar *pattern)
{
  const char *argv[] = { "PSUBSCRIBE", pattern };
  size_t argvlen[] = { strlen (argv[0]), strlen (pattern) };

  return redisAsyncCommandArgv (conn->ac, on_pubsub_reply, conn, 2, argv, argvlen) == REDIS_OK;
}

/* Not from inside a hiredis callback proper (no IN_CALLBACK flag): sending
 * is fine here, freeing is not. */
static void
on_connect (const redisAsyncContext *const_ac, int status)
{
  redisAsyncContext *ac = (redisAsyncContext *) const_ac;
  Conn *conn = ac->data;
  BeachRedisClient *self = conn->client;
  g_autofree gchar *db = NULL;
  Cmd *cmd;

  /* On failure hiredis frees the context right after: on_ev_cleanup(). */
  if (status != REDIS_OK || conn->ac != ac)
    return;

  if (conn->role == ROLE_PUBSUB) {
    for (guint i = 0; i < self->patterns->len; i++) {
      if (!conn_psubscribe (conn, g_ptr_array_index (self->patterns, i))) {
        conn_request_drop (conn, "hiredis refused PSUBSCRIBE");
        return;
      }
    }
    conn_up (conn);
    return;
  }

  /* A connect() can succeed against a stopped server's backlog: only an
   * answer proves the server is there, so PING when there is no SELECT. */
  db = g_strdup_printf ("%u", self->db);
  cmd = cmd_new (self, NULL, self->db != 0 ? (const gchar *[]){ "SELECT", db, NULL } : (const gchar *[]){ "PING", NULL });
  conn->state = CONN_HANDSHAKE;
  if (!conn_send (conn, cmd, on_reply)) {
    cmd_free (cmd);
    conn_request_drop (conn, "hiredis refused the handshake");
  }
  conn_arm_timer (conn, TRUE);
}

static void
on_disconnect (const redisAsyncContext *ac, int status)
{
  /* on_ev_cleanup() already did the work; this only leaves a trace. */
  g_debug ("hiredis context %p disconnected (%s)", (gpointer) ac,
           status == REDIS_OK ? "by us" : ac->errstr);
}

static void
conn_open (Conn *conn, const gchar *ip)
{
  BeachRedisClient *self = conn->client;
  redisAsyncContext *ac;

  if (self->socket_path != NULL)
    ac = redisAsyncConnectUnix (self->socket_path);
  else
    ac = redisAsyncConnect (ip, (int) self->port);
  if (ac == NULL) {
    conn_lost (conn, "out of memory", FALSE);
    return;
  }
  if (ac->err != 0) {
    g_autofree gchar *reason = g_strdup (ac->errstr);

    redisAsyncFree (ac); /* no hooks set yet: nothing calls back */
    conn_lost (conn, reason, FALSE);
    return;
  }
  if (self->socket_path == NULL)
    redisEnableKeepAlive (&ac->c);

  ac->data = conn;
  conn->ac = ac;
  conn->state = CONN_CONNECTING;
  /* The hooks must exist, and the source be attached, before hiredis asks
   * for its first write event (which setting the connect callback does). */
  conn->io_source = redis_source_new (ac);
  g_source_set_name (conn->io_source, "[beach] redis connection");
  ac->ev.cleanup = on_ev_cleanup;
  g_source_attach (conn->io_source, self->context);
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  conn_arm_timer (conn, TRUE);
}

static void
on_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autolist (GInetAddress) addresses = NULL;
  g_autofree gchar *ip = NULL;
  Conn *conn;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);
  /* Cancelled: the client may be gone, so user_data must not be touched. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  conn = user_data;
  g_clear_object (&conn->resolve_cancellable);
  if (addresses == NULL) {
    conn_lost (conn, error->message, FALSE);
    return;
  }
  ip = g_inet_address_to_string (addresses->data);
  conn_open (conn, ip);
}

static void
conn_connect (Conn *conn)
{
  BeachRedisClient *self = conn->client;
  g_autoptr (GResolver) resolver = NULL;

  if (conn->role == ROLE_COMMANDS)
    self->connect_attempts++;
  conn->connect_deadline_us = g_get_monotonic_time () + (gint64) self->config.command_timeout_ms * 1000;

  if (self->socket_path != NULL || g_hostname_is_ip_address (self->host)) {
    conn_open (conn, self->host);
    return;
  }

  conn->state = CONN_RESOLVING;
  conn->resolve_cancellable = g_cancellable_new ();
  resolver = g_resolver_get_default ();
  /* The answer must come back on our context, whatever the caller's is. */
  g_main_context_push_thread_default (self->context);
  g_resolver_lookup_by_name_async (resolver, self->host, conn->resolve_cancellable, on_resolved, conn);
  g_main_context_pop_thread_default (self->context);
  conn_arm_timer (conn, TRUE);
}

static gboolean
conn_timer_cb (gpointer user_data)
{
  Conn *conn = user_data;
  g_autofree gchar *reason = NULL;
  gint64 deadline = conn_deadline (conn);

  if (deadline == -1 || g_get_monotonic_time () < deadline) {
    conn_arm_timer (conn, TRUE);
    return G_SOURCE_CONTINUE;
  }
  if (conn->pending_drop != NULL) {
    reason = g_steal_pointer (&conn->pending_drop);
    conn_drop (conn, reason);
  } else {
    switch (conn->state) {
      case CONN_WAITING:
        conn_connect (conn);
        break;
      case CONN_RESOLVING:
        g_cancellable_cancel (conn->resolve_cancellable);
        g_clear_object (&conn->resolve_cancellable);
        reason = g_strdup_printf ("resolving %s took over %u ms", conn->client->host,
                                  conn->client->config.command_timeout_ms);
        conn_lost (conn, reason, FALSE);
        break;
      case CONN_CONNECTING:
        reason = g_strdup_printf ("connect timed out after %u ms", conn->client->config.command_timeout_ms);
        conn_drop (conn, reason);
        break;
      case CONN_HANDSHAKE:
      case CONN_UP:
        reason = g_strdup_printf ("command timed out (no reply within %u ms)",
                                  conn->client->config.command_timeout_ms);
        conn_drop (conn, reason);
        break;
      case CONN_IDLE:
      default:
        break;
    }
  }
  conn_arm_timer (conn, TRUE);
  return G_SOURCE_CONTINUE;
}

/* A one-shot timer re-armed by ready time, as in beach-memory-queue.c. */
static gboolean
ready_time_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs ready_time_funcs = {
  .dispatch = ready_time_dispatch,
};

static GSource *
ready_time_source_new (const gchar *name, GSourceFunc callback, gpointer user_data, GMainContext *context)
{
  GSource *source = g_source_new (&ready_time_funcs, sizeof (GSource));

  g_source_set_name (source, name);
  g_source_set_callback (source, callback, user_data, NULL);
  g_source_attach (source, context);
  return source;
}

static void
conn_init (Conn *conn, BeachRedisClient *self, ConnRole role)
{
  conn->client = self;
  conn->role = role;
  conn->state = CONN_IDLE;
  g_queue_init (&conn->in_flight);
}

/* Leaves the connection idle; safe in any state, including finalize. */
static void
conn_stop (Conn *conn, const gchar *reason)
{
  if (conn->resolve_cancellable != NULL)
    g_cancellable_cancel (conn->resolve_cancellable);
  g_clear_object (&conn->resolve_cancellable);
  g_clear_pointer (&conn->pending_drop, g_free);
  conn_drop (conn, reason); /* on_ev_cleanup() sees running == FALSE */
  conn->state = CONN_IDLE;
  conn->failures = 0;
  conn->down_since_us = 0;
  conn->last_warning_us = 0;
  g_free (conn->last_error);
  conn->last_error = g_strdup (reason);
  if (conn->timer != NULL)
    g_source_set_ready_time (conn->timer, -1);
}

static void
conn_clear (Conn *conn)
{
  if (conn->timer != NULL)
    g_source_destroy (conn->timer);
  g_clear_pointer (&conn->timer, g_source_unref);
  g_clear_pointer (&conn->drop_reason, g_free);
  g_clear_pointer (&conn->last_error, g_free);
}

/* ------------------------------------------------------------------ */
/* GObject                                                              */

static void
beach_redis_client_finalize (GObject *object)
{
  BeachRedisClient *self = BEACH_REDIS_CLIENT (object);

  /* Tasks hold the client, so nothing user-visible is pending here. */
  self->running = FALSE;
  conn_stop (&self->commands, "client finalized");
  conn_stop (&self->pubsub, "client finalized");
  fail_waiting (self, "client finalized");
  conn_clear (&self->commands);
  conn_clear (&self->pubsub);
  g_queue_clear_full (&self->outbox, (GDestroyNotify) out_free);
  if (self->outbox_source != NULL)
    g_source_destroy (self->outbox_source);
  g_clear_pointer (&self->outbox_source, g_source_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->patterns, g_ptr_array_unref);
  g_free (self->url);
  g_free (self->host);
  g_free (self->socket_path);

  G_OBJECT_CLASS (beach_redis_client_parent_class)->finalize (object);
}

static void
beach_redis_client_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BeachRedisClient *self = BEACH_REDIS_CLIENT (object);

  switch (prop_id) {
    case PROP_CONNECTED:
      g_value_set_boolean (value, self->connected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
beach_redis_client_class_init (BeachRedisClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = beach_redis_client_finalize;
  object_class->get_property = beach_redis_client_get_property;

  /**
   * BeachRedisClient:connected:
   *
   * Whether the command connection is up and answered its handshake.
   */
  properties[PROP_CONNECTED] = g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                                                     G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * BeachRedisClient::message:
   * @self: the client
   * @channel: the channel the message was published on
   * @payload: the message (truncated at a NUL byte, if it has one)
   *
   * Emitted on the client's main context for each message matching a
   * pattern given to beach_redis_client_psubscribe().
   */
  signals[SIGNAL_MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
beach_redis_client_init (BeachRedisClient *self)
{
  conn_init (&self->commands, self, ROLE_COMMANDS);
  conn_init (&self->pubsub, self, ROLE_PUBSUB);
  g_queue_init (&self->waiting);
  g_queue_init (&self->outbox);
  self->patterns = g_ptr_array_new_with_free_func (g_free);
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */

/**
 * beach_redis_client_new:
 * @url: redis://HOST[:PORT][/DB] or unix:///PATH[?db=N]
 * @config: (nullable): settings; %NULL, or any field left 0, takes the default
 * @error: return location for a #GError
 *
 * Parses @url; does not connect.
 *
 * Returns: (transfer full) (nullable): a new client, or %NULL with
 *   %BEACH_ERROR_INVALID_FIELD
 */
BeachRedisClient *
beach_redis_client_new (const gchar *url, const BeachRedisClientConfig *config, GError **error)
{
  g_autoptr (BeachRedisClient) self = g_object_new (BEACH_TYPE_REDIS_CLIENT, NULL);
  BeachRedisClientConfig *c = &self->config;

  if (!parse_url (self, url, error))
    return NULL;
  self->url = g_strdup (url);
  if (config != NULL)
    *c = *config;
  if (c->command_timeout_ms == 0)
    c->command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
  if (c->max_in_flight == 0)
    c->max_in_flight = DEFAULT_MAX_IN_FLIGHT;
  if (c->max_queued == 0)
    c->max_queued = DEFAULT_MAX_QUEUED;
  if (c->backoff_min_ms == 0)
    c->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
  if (c->backoff_max_ms == 0)
    c->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
  c->backoff_max_ms = MAX (c->backoff_max_ms, c->backoff_min_ms);
  return g_steal_pointer (&self);
}

/**
 * beach_redis_client_get_url:
 * @self: a client
 *
 * Returns: the URL the client was created with
 */
const gchar *
beach_redis_client_get_url (BeachRedisClient *self)
{
  g_return_val_if_fail (BEACH_IS_REDIS_CLIENT (self), NULL);
  return self->url;
}

/**
 * beach_redis_client_get_connected:
 * @self: a client
 *
 * Returns: %TRUE while the command connection is up
 */
gboolean
beach_redis_client_get_connected (BeachRedisClient *self)
{
  g_return_val_if_fail (BEACH_IS_REDIS_CLIENT (self), FALSE);
  return self->connected;
}

/**
 * beach_redis_client_get_connect_attempts:
 * @self: a client
 *
 * Counts the attempts to open the command connection since the client was
 * created, successful or not: for metrics, and for tests that check the
 * backoff.
 *
 * Returns: the number of attempts
 */
guint
beach_redis_client_get_connect_attempts (BeachRedisClient *self)
{
  g_return_val_if_fail (BEACH_IS_REDIS_CLIENT (self), 0);
  return self->connect_attempts;
}

/**
 * beach_redis_client_start:
 * @self: a client
 *
 * Starts connecting on the caller's thread-default main context, which
 * every later start must share. Does nothing if already started.
 */
void
beach_redis_client_start (BeachRedisClient *self)
{
  g_autoptr (GMainContext) context = g_main_context_ref_thread_default ();
  struct sigaction action;

  g_return_if_fail (BEACH_IS_REDIS_CLIENT (self));
  g_return_if_fail (self->context == NULL || self->context == context);

  if (self->running)
    return;
  /* hiredis 0.14 writes with write(2): a server gone away would raise
   * SIGPIPE and kill the daemon. Leave any handler the program set alone. */
  if (sigaction (SIGPIPE, NULL, &action) == 0 && action.sa_handler == SIG_DFL)
    signal (SIGPIPE, SIG_IGN);

  if (self->context == NULL) {
    self->context = g_steal_pointer (&context);
    self->outbox_source = ready_time_source_new ("[beach] redis outbox", outbox_cb, self, self->context);
    self->commands.timer = ready_time_source_new ("[beach] redis timer", conn_timer_cb, &self->commands, self->context);
    self->pubsub.timer = ready_time_source_new ("[beach] redis pub/sub timer", conn_timer_cb, &self->pubsub, self->context);
  }
  self->running = TRUE;
  conn_connect (&self->commands);
  if (self->patterns->len > 0)
    conn_connect (&self->pubsub);
}

/**
 * beach_redis_client_stop:
 * @self: a client
 *
 * Closes both connections and stops reconnecting. Commands not yet answered
 * fail with %BEACH_ERROR_UNAVAILABLE. The client may be started again.
 */
void
beach_redis_client_stop (BeachRedisClient *self)
{
  g_return_if_fail (BEACH_IS_REDIS_CLIENT (self));

  if (!self->running)
    return;
  self->running = FALSE;
  conn_stop (&self->commands, "client stopped");
  conn_stop (&self->pubsub, "client stopped");
  fail_waiting (self, "client stopped");
  set_connected (self, FALSE);
  g_debug ("stopped the client of %s", self->url);
}

/**
 * beach_redis_client_command_async:
 * @self: a client
 * @argv: (array zero-terminated=1): the command and its arguments
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the reply
 * @user_data: data for @callback
 *
 * Sends one command, pipelined with the others. Fails at once with
 * %BEACH_ERROR_UNAVAILABLE while not connected or when too many commands
 * wait; a timeout drops the connection and fails every command in flight.
 */
void
beach_redis_client_command_async (BeachRedisClient *self,
                                  const gchar *const *argv,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  Cmd *cmd;

  g_return_if_fail (BEACH_IS_REDIS_CLIENT (self));
  g_return_if_fail (argv != NULL && argv[0] != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_redis_client_command_async);
  if (g_task_return_error_if_cancelled (task))
    return;
  if (!self->running || self->commands.state != CONN_UP) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE,
                             "redis is not connected (%s): %s", self->url,
                             self->commands.last_error != NULL ? self->commands.last_error
                             : self->running                   ? "connecting"
                                                               : "client not started");
    return;
  }
  if (self->waiting.length >= self->config.max_queued) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE,
                             "redis is not keeping up (%s): %u commands already waiting",
                             self->url, self->waiting.length);
    return;
  }

  cmd = cmd_new (self, g_steal_pointer (&task), argv);
  if (cancellable != NULL) {
    cmd->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (cmd->cancel_source, G_SOURCE_FUNC (cmd_cancelled_cb), cmd, NULL);
    g_source_attach (cmd->cancel_source, self->context);
  }
  g_queue_push_tail (&self->waiting, cmd);
  conn_pump (&self->commands);
}

/**
 * beach_redis_client_commandv_async:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the reply
 * @user_data: data for @callback
 * @first_arg: the command
 * @...: its arguments, then %NULL
 *
 * beach_redis_client_command_async() with the arguments inline.
 */
void
beach_redis_client_commandv_async (BeachRedisClient *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data,
                                   const gchar *first_arg,
                                   ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const gchar *arg;
  va_list args;

  va_start (args, first_arg);
  for (arg = first_arg; arg != NULL; arg = va_arg (args, const gchar *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  beach_redis_client_command_async (self, (const gchar *const *) argv->pdata, cancellable,
                                    callback, user_data);
}

/**
 * beach_redis_client_command_finish:
 * @self: a client
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * An ERROR reply is a reply, not a #GError.
 *
 * Returns: (transfer full) (nullable): the reply
 */
BeachRedisReply *
beach_redis_client_command_finish (BeachRedisClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  gchar **eval_argv; /* EVAL script numkeys keys... args... */
} EvalData;

static void
eval_data_free (EvalData *data)
{
  g_strfreev (data->eval_argv);
  g_free (data);
}

static void
on_eval_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GError *error = NULL;
  BeachRedisReply *reply;

  reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &error);
  if (reply == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, reply, (GDestroyNotify) beach_redis_reply_free);
}

static void
on_evalsha_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (BeachRedisReply) reply = NULL;
  GError *error = NULL;
  EvalData *data = g_task_get_task_data (task);

  reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &error);
  if (reply == NULL) {
    g_task_return_error (task, error);
    return;
  }
  /* Scripts live in the server's memory: a restart or SCRIPT FLUSH forgets
   * them, and EVAL loads the script again for the next EVALSHA. */
  if (reply->type == BEACH_REDIS_REPLY_ERROR && g_str_has_prefix (reply->str, "NOSCRIPT")) {
    GTask *owned = g_steal_pointer (&task);

    beach_redis_client_command_async (BEACH_REDIS_CLIENT (source), (const gchar *const *) data->eval_argv,
                                      g_task_get_cancellable (owned), on_eval_done, owned);
    return;
  }
  g_task_return_pointer (task, g_steal_pointer (&reply), (GDestroyNotify) beach_redis_reply_free);
}

/**
 * beach_redis_client_eval_async:
 * @self: a client
 * @script: a Lua script
 * @keys: (nullable) (array zero-terminated=1): the keys it touches
 * @args: (nullable) (array zero-terminated=1): its other arguments
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the reply
 * @user_data: data for @callback
 *
 * Runs @script with EVALSHA, falling back to EVAL on NOSCRIPT.
 */
void
beach_redis_client_eval_async (BeachRedisClient *self,
                               const gchar *script,
                               const gchar *const *keys,
                               const gchar *const *args,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) evalsha_argv = NULL;
  g_autofree gchar *sha = NULL;
  g_autofree gchar *numkeys = NULL;
  EvalData *data = g_new0 (EvalData, 1);

  g_return_if_fail (BEACH_IS_REDIS_CLIENT (self));
  g_return_if_fail (script != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_redis_client_eval_async);
  g_task_set_task_data (task, data, (GDestroyNotify) eval_data_free);

  sha = g_compute_checksum_for_string (G_CHECKSUM_SHA1, script, -1);
  numkeys = g_strdup_printf ("%u", keys != NULL ? g_strv_length ((gchar **) keys) : 0);
  g_strv_builder_add_many (builder, "EVAL", script, numkeys, NULL);
  if (keys != NULL)
    g_strv_builder_addv (builder, (const char **) keys);
  if (args != NULL)
    g_strv_builder_addv (builder, (const char **) args);
  data->eval_argv = g_strv_builder_end (builder);

  evalsha_argv = g_strdupv (data->eval_argv);
  g_free (evalsha_argv[0]);
  evalsha_argv[0] = g_strdup ("EVALSHA");
  g_free (evalsha_argv[1]);
  evalsha_argv[1] = g_steal_pointer (&sha);
  beach_redis_client_command_async (self, (const gchar *const *) evalsha_argv, cancellable,
                                    on_evalsha_done, g_steal_pointer (&task));
}

/**
 * beach_redis_client_eval_finish:
 * @self: a client
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the script's reply
 */
BeachRedisReply *
beach_redis_client_eval_finish (BeachRedisClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * beach_redis_client_psubscribe:
 * @self: a client
 * @pattern: a glob-style channel pattern
 *
 * Subscribes to @pattern, now and after every reconnect. Each matching
 * message emits #BeachRedisClient::message.
 */
void
beach_redis_client_psubscribe (BeachRedisClient *self, const gchar *pattern)
{
  g_return_if_fail (BEACH_IS_REDIS_CLIENT (self));
  g_return_if_fail (pattern != NULL);

  if (g_ptr_array_find_with_equal_func (self->patterns, pattern, g_str_equal, NULL))
    return;
  g_ptr_array_add (self->patterns, g_strdup (pattern));
  if (!self->running)
    return;
  if (self->pubsub.state == CONN_IDLE)
    conn_connect (&self->pubsub);
  else if (self->pubsub.state == CONN_UP && !conn_psubscribe (&self->pubsub, pattern))
    conn_request_drop (&self->pubsub, "hiredis refused PSUBSCRIBE");
}

/* -- for the fuzz target (beach-redis-private.h) */

BeachRedisReply *
beach_redis_reply_new_from_hiredis (const redisReply *reply)
{
  g_return_val_if_fail (reply != NULL, NULL);
  return reply_copy (reply);
}
