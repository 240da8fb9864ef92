/* test-redis-client.c: BeachRedisClient against a real redis-server
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "beach.h"
#include "beach-redis-client.h"
#include "redis-fixture.h"

#define TIMEOUT_MS 10000

#ifdef __SANITIZE_ADDRESS__
/* GLib is built without frame pointers: with the default fast unwinder a
 * leak report stops at g_malloc, and tests/lsan.supp cannot match it. */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}
#endif

#define CMD(...) ((const gchar *const[]){ __VA_ARGS__, NULL })

static gboolean
set_true (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until @cond holds; fails the test after @ms. */
#define WAIT_UNTIL(cond, ms)                                                 \
  G_STMT_START                                                               \
  {                                                                          \
    gboolean timed_out_ = FALSE;                                             \
    guint timeout_id_ = g_timeout_add ((ms), set_true, &timed_out_);         \
    while (!(cond) && !timed_out_)                                           \
      g_main_context_iteration (NULL, TRUE);                                 \
    if (!(cond))                                                             \
      g_error ("timed out after %u ms waiting for %s", (guint) (ms), #cond); \
    if (!timed_out_)                                                         \
      g_source_remove (timeout_id_);                                         \
  }                                                                          \
  G_STMT_END

/* Runs the main context for @ms; returns how many iterations that took,
 * which stays small unless some source spins. */
static guint
run_for (guint ms)
{
  gboolean done = FALSE;
  guint iterations = 0;

  g_timeout_add (ms, set_true, &done);
  while (!done) {
    g_main_context_iteration (NULL, TRUE);
    iterations++;
  }
  return iterations;
}

/* Losing the server is what several tests do on purpose, and the client
 * warns when that happens: its warnings go to the TAP log, not abort. The
 * test runner resets the fatal handler before each test, hence a call at
 * the start of each test that involves a server. */
static gboolean
fatal_log_handler (const gchar *log_domain, GLogLevelFlags log_level, const gchar *message, gpointer user_data)
{
  return !(g_strcmp0 (log_domain, "beach-redis-client") == 0 && (log_level & G_LOG_LEVEL_WARNING));
}

static void
log_to_tap (const gchar *log_domain, GLogLevelFlags log_level, const gchar *message, gpointer user_data)
{
  g_test_message ("%s-WARNING: %s", log_domain, message);
}

static void
allow_client_warnings (void)
{
  g_test_log_set_fatal_handler (fatal_log_handler, NULL);
}

static BeachTestRedis *
start_redis (gboolean appendonly)
{
  g_autoptr (GError) error = NULL;
  BeachTestRedis *redis = NULL;

  allow_client_warnings ();
  redis = beach_test_redis_start (appendonly, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_test_skip (error->message);
  else
    g_assert_no_error (error);
  return redis;
}

static BeachRedisClient *
client_new (const gchar *url, const BeachRedisClientConfig *config)
{
  g_autoptr (GError) error = NULL;
  BeachRedisClient *client = beach_redis_client_new (url, config, &error);

  g_assert_no_error (error);
  beach_redis_client_start (client);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);
  return client;
}

/* Commands in flight hold the client: wait until it is really gone, so
 * that no handler runs with a dead test's stack. */
static void
drop_client (BeachRedisClient **client, gpointer handler_data)
{
  BeachRedisClient *weak = *client;

  if (weak == NULL)
    return;
  g_signal_handlers_disconnect_by_data (weak, handler_data);
  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  g_clear_object (client);
  WAIT_UNTIL (weak == NULL, TIMEOUT_MS);
}

typedef struct {
  gboolean done;
  BeachRedisReply *reply;
  GError *error;
} Result;

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->reply, beach_redis_reply_free);
  g_clear_error (&r->error);
  r->done = FALSE;
}

static void
on_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;

  g_assert_false (r->done);
  r->reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &r->error);
  r->done = TRUE;
}

static void
on_eval_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;

  r->reply = beach_redis_client_eval_finish (BEACH_REDIS_CLIENT (source), result, &r->error);
  r->done = TRUE;
}

static BeachRedisReply *
run_command (BeachRedisClient *client, const gchar *const *argv, GError **error)
{
  Result r = { 0 };

  beach_redis_client_command_async (client, argv, NULL, on_result, &r);
  WAIT_UNTIL (r.done, TIMEOUT_MS);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.reply;
}

/* Runs a command that must succeed and returns its reply. */
static BeachRedisReply *
run_ok (BeachRedisClient *client, const gchar *const *argv)
{
  g_autoptr (GError) error = NULL;
  BeachRedisReply *reply = run_command (client, argv, &error);

  g_assert_no_error (error);
  g_assert_nonnull (reply);
  return reply;
}

static gint64
run_int (BeachRedisClient *client, const gchar *const *argv)
{
  g_autoptr (BeachRedisReply) reply = run_ok (client, argv);
  g_autoptr (GError) error = NULL;
  gint64 value = -1;

  g_assert_true (beach_redis_reply_get_int (reply, &value, &error));
  g_assert_no_error (error);
  return value;
}

static void
assert_string (BeachRedisClient *client, const gchar *const *argv, const gchar *expected)
{
  g_autoptr (BeachRedisReply) reply = run_ok (client, argv);
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (beach_redis_reply_get_string (reply, &error), ==, expected);
  g_assert_no_error (error);
}

/* Publishes to a channel every 20 ms, since a (re)subscription completes
 * at a moment the test cannot see. */
typedef struct {
  BeachRedisClient *client;
  const gchar *channel;
  const gchar *payload;
} Publisher;

static gboolean
publish_cb (gpointer user_data)
{
  Publisher *p = user_data;

  beach_redis_client_command_async (p->client, CMD ("PUBLISH", "unrelated.channel", "noise"), NULL, NULL, NULL);
  beach_redis_client_command_async (p->client, CMD ("PUBLISH", p->channel, p->payload), NULL, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  GPtrArray *channels;
  GPtrArray *payloads;
} Messages;

static void
on_message (BeachRedisClient *client, const gchar *channel, const gchar *payload, gpointer user_data)
{
  Messages *m = user_data;

  g_ptr_array_add (m->channels, g_strdup (channel));
  g_ptr_array_add (m->payloads, g_strdup (payload));
}

static void
messages_reset (Messages *m)
{
  g_ptr_array_set_size (m->channels, 0);
  g_ptr_array_set_size (m->payloads, 0);
}

static gboolean
has_message (Messages *m, const gchar *channel, const gchar *payload)
{
  for (guint i = 0; i < m->channels->len; i++) {
    if (g_str_equal (g_ptr_array_index (m->channels, i), channel) && g_str_equal (g_ptr_array_index (m->payloads, i), payload))
      return TRUE;
  }
  return FALSE;
}

/* Messages of an earlier wait may still arrive; those of a channel matching
 * no pattern never may. */
static void
wait_for_message (BeachRedisClient *client, Messages *m, const gchar *channel, const gchar *payload)
{
  Publisher p = { client, channel, payload };
  guint id;

  messages_reset (m);
  id = g_timeout_add (20, publish_cb, &p);
  WAIT_UNTIL (has_message (m, channel, payload), TIMEOUT_MS);
  g_source_remove (id);
  g_assert_false (g_ptr_array_find_with_equal_func (m->channels, "unrelated.channel", g_str_equal, NULL));
}

/* ------------------------------------------------------------------ */

static void
test_url (void)
{
  g_autofree gchar *long_path = g_strdup_printf ("unix:///tmp/%0200d.sock", 0);
  const struct {
    const gchar *url;
    const gchar *error; /* NULL: valid; else a part of the message */
  } cases[] = {
    { "redis://localhost", NULL },
    { "redis://127.0.0.1:6380/2", NULL },
    { "redis://[::1]:6379/0", NULL },
    { "redis://redis.example.com/15", NULL },
    { "redis://localhost:6379/", NULL },
    { "REDIS://Localhost", NULL },
    { "unix:///run/redis/redis.sock", NULL },
    { "unix:///tmp/r.sock?db=3", NULL },
    { "", "empty" },
    { "localhost:6379", "scheme" },
    { "http://localhost", "scheme" },
    { "rediss://localhost", "TLS" },
    { "redis://:secret@localhost", "password" },
    { "redis://user:secret@localhost", "password" },
    { "redis://localhost:0", "port" },
    { "redis://localhost:70000", "invalid redis URL" },
    { "redis://localhost:port", "invalid redis URL" },
    { "redis://local host", "host" },
    { "redis://bad%2Fhost", "host" },
    { "redis://localhost/16", "database" },
    { "redis://localhost/-1", "database" },
    { "redis://localhost/abc", "database" },
    { "redis://localhost/1/2", "database" },
    { "redis://localhost?db=1", "query" },
    { "redis:///0", "no host" },
    { "redis://localhost#top", "fragment" },
    { "unix://", "absolute" },
    { "unix:relative.sock", "absolute" },
    { "unix://host/tmp/r.sock", "no host" },
    { "unix:///tmp/r.sock?db=99", "database" },
    { "unix:///tmp/r.sock?password=x", "unknown parameter" },
    { long_path, "longer than" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachRedisClient) client = beach_redis_client_new (cases[i].url, NULL, &error);

    g_test_message ("%s", cases[i].url);
    if (cases[i].error == NULL) {
      g_assert_no_error (error);
      g_assert_nonnull (client);
      g_assert_cmpstr (beach_redis_client_get_url (client), ==, cases[i].url);
      g_assert_false (beach_redis_client_get_connected (client));
    } else {
      g_assert_null (client);
      g_assert_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD);
      g_assert_nonnull (strstr (error->message, cases[i].error));
      g_assert_null (strstr (error->message, "secret"));
    }
  }
}

static void
test_reply_accessors (void)
{
  BeachRedisReply integer = { .type = BEACH_REDIS_REPLY_INTEGER, .integer = 42 };
  BeachRedisReply status = { .type = BEACH_REDIS_REPLY_STATUS, .str = (gchar *) "OK", .len = 2 };
  BeachRedisReply err = { .type = BEACH_REDIS_REPLY_ERROR, .str = (gchar *) "ERR nope", .len = 8 };
  BeachRedisReply *elements[] = { &integer, &status };
  BeachRedisReply array = { .type = BEACH_REDIS_REPLY_ARRAY, .n_elements = 2, .elements = elements };
  g_autoptr (GError) error = NULL;
  gint64 value = 0;

  g_assert_true (beach_redis_reply_get_int (&integer, &value, &error));
  g_assert_cmpint (value, ==, 42);
  g_assert_cmpstr (beach_redis_reply_get_string (&status, &error), ==, "OK");
  g_assert_true (beach_redis_reply_get_element (&array, 1, &error) == &status);
  g_assert_no_error (error);

  g_assert_false (beach_redis_reply_get_int (&status, &value, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "integer"));
  g_clear_error (&error);
  g_assert_null (beach_redis_reply_get_string (&err, &error));
  g_assert_nonnull (strstr (error->message, "ERR nope"));
  g_clear_error (&error);
  g_assert_null (beach_redis_reply_get_element (&array, 2, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_null (beach_redis_reply_get_element (&integer, 0, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_null (beach_redis_reply_get_string (NULL, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_FAILED);
}

static void
test_basic (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  g_autoptr (BeachRedisClient) db0 = NULL;
  g_autoptr (BeachRedisReply) reply = NULL;
  g_autofree gchar *url_db3 = NULL;
  Result r = { 0 };

  if (redis == NULL)
    return;
  url_db3 = g_strconcat (beach_test_redis_get_url (redis), "?db=3", NULL);
  client = client_new (url_db3, NULL);
  db0 = client_new (beach_test_redis_get_url (redis), NULL);

  assert_string (client, CMD ("PING"), "PONG");
  assert_string (client, CMD ("SET", "greeting", "hello world"), "OK");
  assert_string (client, CMD ("GET", "greeting"), "hello world");
  g_assert_cmpint (run_int (client, CMD ("INCR", "counter")), ==, 1);
  g_assert_cmpint (run_int (client, CMD ("RPUSH", "list", "a", "b", "")), ==, 3);

  reply = run_ok (client, CMD ("LRANGE", "list", "0", "-1"));
  g_assert_cmpint (reply->type, ==, BEACH_REDIS_REPLY_ARRAY);
  g_assert_cmpuint (reply->n_elements, ==, 3);
  g_assert_cmpstr (beach_redis_reply_get_string (reply->elements[1], NULL), ==, "b");
  g_assert_cmpstr (beach_redis_reply_get_string (reply->elements[2], NULL), ==, "");
  g_clear_pointer (&reply, beach_redis_reply_free);

  /* An ERROR reply is a reply, not a GError. */
  reply = run_ok (client, CMD ("INCR", "greeting"));
  g_assert_cmpint (reply->type, ==, BEACH_REDIS_REPLY_ERROR);
  g_assert_true (g_str_has_prefix (reply->str, "ERR"));
  g_clear_pointer (&reply, beach_redis_reply_free);

  /* The ?db=3 client wrote to db 3 only. */
  reply = run_ok (db0, CMD ("GET", "greeting"));
  g_assert_cmpint (reply->type, ==, BEACH_REDIS_REPLY_NIL);
  g_clear_pointer (&reply, beach_redis_reply_free);
  g_assert_cmpint (run_int (db0, CMD ("DBSIZE")), ==, 0);
  g_assert_cmpint (run_int (client, CMD ("DBSIZE")), ==, 3);

  beach_redis_client_commandv_async (client, NULL, on_result, &r, "GET", "greeting", NULL);
  WAIT_UNTIL (r.done, TIMEOUT_MS);
  g_assert_no_error (r.error);
  g_assert_cmpstr (beach_redis_reply_get_string (r.reply, NULL), ==, "hello world");
  result_clear (&r);

  /* Cancelled before an answer: the callback comes at once, with CANCELLED. */
  {
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();

    beach_redis_client_command_async (client, CMD ("PING"), cancellable, on_result, &r);
    g_cancellable_cancel (cancellable);
    WAIT_UNTIL (r.done, TIMEOUT_MS);
    g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    result_clear (&r);
  }
  assert_string (client, CMD ("PING"), "PONG");
}

typedef struct {
  guint n_done;
  guint n_ok;
  guint n_unavailable;
  gint64 last;
  gboolean in_order;
} Counter;

static void
on_incr (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Counter *c = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisReply) reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &error);
  gint64 value;

  c->n_done++;
  if (g_error_matches (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE)) {
    c->n_unavailable++;
    return;
  }
  g_assert_no_error (error);
  g_assert_true (beach_redis_reply_get_int (reply, &value, NULL));
  c->n_ok++;
  if (value != c->last + 1)
    c->in_order = FALSE;
  c->last = value;
}

static void
test_pipeline (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  g_autoptr (BeachRedisClient) small = NULL;
  BeachRedisClientConfig config = { .max_in_flight = 4, .max_queued = 10 };
  Counter c = { .in_order = TRUE };

  if (redis == NULL)
    return;
  client = client_new (beach_test_redis_get_url (redis), NULL);

  for (guint i = 0; i < 1000; i++)
    beach_redis_client_command_async (client, CMD ("INCR", "n"), NULL, on_incr, &c);
  WAIT_UNTIL (c.n_done == 1000, TIMEOUT_MS);
  g_assert_cmpuint (c.n_ok, ==, 1000);
  g_assert_true (c.in_order);
  g_assert_cmpint (c.last, ==, 1000);

  /* 4 in flight and 10 waiting; the rest is refused at once. */
  small = client_new (beach_test_redis_get_url (redis), &config);
  c = (Counter){ .in_order = TRUE, .last = 1000 };
  for (guint i = 0; i < 30; i++)
    beach_redis_client_command_async (small, CMD ("INCR", "n"), NULL, on_incr, &c);
  WAIT_UNTIL (c.n_done == 30, TIMEOUT_MS);
  g_assert_cmpuint (c.n_ok, ==, 14);
  g_assert_cmpuint (c.n_unavailable, ==, 16);
  g_assert_true (c.in_order);
}

static gint64
eval_calls (BeachRedisClient *client)
{
  g_autoptr (BeachRedisReply) info = run_ok (client, CMD ("INFO", "commandstats"));
  const gchar *line = strstr (beach_redis_reply_get_string (info, NULL), "cmdstat_eval:calls=");

  return line != NULL ? g_ascii_strtoll (line + strlen ("cmdstat_eval:calls="), NULL, 10) : 0;
}

static gint64
run_eval (BeachRedisClient *client, const gchar *script, const gchar *const *keys, const gchar *const *args)
{
  Result r = { 0 };
  gint64 value = -1;

  beach_redis_client_eval_async (client, script, keys, args, NULL, on_eval_result, &r);
  WAIT_UNTIL (r.done, TIMEOUT_MS);
  g_assert_no_error (r.error);
  g_assert_true (beach_redis_reply_get_int (r.reply, &value, NULL));
  result_clear (&r);
  return value;
}

static void
test_eval (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  g_autoptr (BeachRedisReply) ok = NULL;
  const gchar *script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  Result r = { 0 };

  if (redis == NULL)
    return;
  client = client_new (beach_test_redis_get_url (redis), NULL);
  ok = run_ok (client, CMD ("CONFIG", "RESETSTAT"));

  /* Unknown script: EVALSHA answers NOSCRIPT, EVAL runs it. */
  g_assert_cmpint (run_eval (client, script, CMD ("n"), CMD ("5")), ==, 5);
  g_assert_cmpint (eval_calls (client), ==, 1);
  /* Now cached: EVALSHA alone. */
  g_assert_cmpint (run_eval (client, script, CMD ("n"), CMD ("5")), ==, 10);
  g_assert_cmpint (eval_calls (client), ==, 1);
  /* Flushed: EVAL again. */
  g_clear_pointer (&ok, beach_redis_reply_free);
  ok = run_ok (client, CMD ("SCRIPT", "FLUSH"));
  g_assert_cmpint (run_eval (client, script, CMD ("n"), CMD ("5")), ==, 15);
  g_assert_cmpint (eval_calls (client), ==, 2);

  g_assert_cmpint (run_eval (client, "return 42", NULL, NULL), ==, 42);

  /* A failing script is an ERROR reply. */
  beach_redis_client_eval_async (client, "return redis.call('NOSUCHCOMMAND')", NULL, NULL, NULL, on_eval_result, &r);
  WAIT_UNTIL (r.done, TIMEOUT_MS);
  g_assert_no_error (r.error);
  g_assert_cmpint (r.reply->type, ==, BEACH_REDIS_REPLY_ERROR);
  result_clear (&r);
}

static void
test_pubsub (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  g_autoptr (GError) error = NULL;
  Messages m = { g_ptr_array_new_with_free_func (g_free), g_ptr_array_new_with_free_func (g_free) };

  if (redis == NULL)
    goto out;
  client = beach_redis_client_new (beach_test_redis_get_url (redis), NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (client, "message", G_CALLBACK (on_message), &m);
  beach_redis_client_psubscribe (client, "beach.test.*");
  beach_redis_client_start (client);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);

  wait_for_message (client, &m, "beach.test.one", "hello");
  /* A pattern added while connected. */
  beach_redis_client_psubscribe (client, "beach.second.*");
  wait_for_message (client, &m, "beach.second.x", "payload with spaces");

out:
  drop_client (&client, &m);
  g_ptr_array_unref (m.channels);
  g_ptr_array_unref (m.payloads);
}

static void
on_notify_connected (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
test_reconnect (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  g_autoptr (GError) error = NULL;
  Messages m = { g_ptr_array_new_with_free_func (g_free), g_ptr_array_new_with_free_func (g_free) };
  guint n_notify = 0;
  guint attempts, iterations;
  gint64 started;
  Result r = { 0 };

  if (redis == NULL)
    goto out;
  client = beach_redis_client_new (beach_test_redis_get_url (redis), NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (client, "message", G_CALLBACK (on_message), &m);
  g_signal_connect (client, "notify::connected", G_CALLBACK (on_notify_connected), &n_notify);
  beach_redis_client_psubscribe (client, "beach.test.*");
  beach_redis_client_start (client);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);
  wait_for_message (client, &m, "beach.test.one", "before");
  g_assert_cmpuint (n_notify, ==, 1);

  beach_test_redis_kill (redis);
  WAIT_UNTIL (!beach_redis_client_get_connected (client), TIMEOUT_MS);
  WAIT_UNTIL (n_notify == 2, TIMEOUT_MS);

  /* Commands fail at once rather than wait for the server. */
  started = g_get_monotonic_time ();
  beach_redis_client_command_async (client, CMD ("PING"), NULL, on_result, &r);
  WAIT_UNTIL (r.done, TIMEOUT_MS);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 500 * 1000);
  g_assert_error (r.error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE);
  g_assert_true (g_str_has_prefix (r.error->message, "redis is not connected ("));
  result_clear (&r);

  /* 100 ms doubling with ±25 %: 3 or 4 attempts a second, not a spin. */
  attempts = beach_redis_client_get_connect_attempts (client);
  iterations = run_for (1000);
  attempts = beach_redis_client_get_connect_attempts (client) - attempts;
  g_test_message ("%u attempts, %u main loop iterations in 1 s", attempts, iterations);
  g_assert_cmpuint (attempts, >=, 1);
  g_assert_cmpuint (attempts, <=, 6);
  g_assert_cmpuint (iterations, <, 200);
  g_assert_false (beach_redis_client_get_connected (client));

  g_assert_true (beach_test_redis_restart (redis, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);
  WAIT_UNTIL (n_notify == 3, TIMEOUT_MS);
  assert_string (client, CMD ("PING"), "PONG");
  wait_for_message (client, &m, "beach.test.two", "after");

out:
  if (client != NULL)
    g_signal_handlers_disconnect_by_data (client, &n_notify);
  drop_client (&client, &m);
  g_ptr_array_unref (m.channels);
  g_ptr_array_unref (m.payloads);
}

static void
test_timeout (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  BeachRedisClientConfig config = {
    .command_timeout_ms = 200,
    .backoff_min_ms = 50,
    .backoff_max_ms = 400,
  };
  Result r = { 0 };
  Result r2 = { 0 };
  gint64 started, elapsed;

  if (redis == NULL)
    return;
  client = client_new (beach_test_redis_get_url (redis), &config);
  assert_string (client, CMD ("PING"), "PONG");

  g_assert_cmpint (kill (beach_test_redis_get_pid (redis), SIGSTOP), ==, 0);
  started = g_get_monotonic_time ();
  beach_redis_client_command_async (client, CMD ("PING"), NULL, on_result, &r);
  beach_redis_client_command_async (client, CMD ("GET", "x"), NULL, on_result, &r2);
  WAIT_UNTIL (r.done && r2.done, TIMEOUT_MS);
  elapsed = (g_get_monotonic_time () - started) / 1000;
  g_test_message ("timed out after %" G_GINT64_FORMAT " ms", elapsed);
  g_assert_cmpint (elapsed, >=, 150);
  g_assert_cmpint (elapsed, <, 2000);
  g_assert_error (r.error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (r.error->message, "timed out"));
  g_assert_error (r2.error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE);
  g_assert_false (beach_redis_client_get_connected (client));
  result_clear (&r);
  result_clear (&r2);

  /* Each attempt reaches the stopped server's backlog, then its PING
   * times out: still not connected. */
  run_for (700);
  g_assert_false (beach_redis_client_get_connected (client));

  g_assert_cmpint (kill (beach_test_redis_get_pid (redis), SIGCONT), ==, 0);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);
  assert_string (client, CMD ("PING"), "PONG");
}

typedef struct {
  BeachRedisClient *client;
  Counter counter;
  gboolean stopped;
  Result nested;
} Reentrant;

/* Stops the client from inside the first callback and sends one more. */
static void
on_reentrant (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Reentrant *re = user_data;

  on_incr (source, result, &re->counter);
  if (!re->stopped) {
    re->stopped = TRUE;
    beach_redis_client_stop (re->client);
    beach_redis_client_command_async (re->client, CMD ("PING"), NULL, on_result, &re->nested);
  }
}

static void
test_stop_in_flight (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  g_autoptr (BeachRedisClient) client = NULL;
  Counter c = { .in_order = TRUE };
  Reentrant re = { 0 };
  Result r = { 0 };

  if (redis == NULL)
    return;
  client = client_new (beach_test_redis_get_url (redis), NULL);

  /* Nothing was written yet: every command fails, in flight or waiting. */
  for (guint i = 0; i < 600; i++)
    beach_redis_client_command_async (client, CMD ("INCR", "n"), NULL, on_incr, &c);
  beach_redis_client_stop (client);
  WAIT_UNTIL (c.n_done == 600, TIMEOUT_MS);
  g_assert_cmpuint (c.n_unavailable, ==, 600);
  g_assert_false (beach_redis_client_get_connected (client));

  beach_redis_client_command_async (client, CMD ("PING"), NULL, on_result, &r);
  WAIT_UNTIL (r.done, TIMEOUT_MS);
  g_assert_error (r.error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (r.error->message, "stopped"));
  result_clear (&r);

  /* Started again, then stopped from a callback. */
  beach_redis_client_start (client);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);
  re.client = client;
  re.counter.in_order = TRUE;
  for (guint i = 0; i < 300; i++)
    beach_redis_client_command_async (client, CMD ("INCR", "m"), NULL, on_reentrant, &re);
  WAIT_UNTIL (re.counter.n_done == 300 && re.nested.done, TIMEOUT_MS);
  g_assert_cmpuint (re.counter.n_ok + re.counter.n_unavailable, ==, 300);
  g_assert_cmpuint (re.counter.n_ok, >=, 1);
  g_assert_true (re.counter.in_order);
  g_assert_error (re.nested.error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE);
  result_clear (&re.nested);

  /* The last reference dropped while commands are in flight: the tasks keep
   * the client alive until each has its answer. */
  beach_redis_client_start (client);
  WAIT_UNTIL (beach_redis_client_get_connected (client), TIMEOUT_MS);
  c = (Counter){ .in_order = TRUE };
  for (guint i = 0; i < 100; i++)
    beach_redis_client_command_async (client, CMD ("INCR", "k"), NULL, on_incr, &c);
  g_object_add_weak_pointer (G_OBJECT (client), (gpointer *) &client);
  g_object_unref (client);
  WAIT_UNTIL (c.n_done == 100 && client == NULL, TIMEOUT_MS);
  g_assert_cmpuint (c.n_ok, ==, 100);
}

/* A minimal TCP server answering +PONG, to exercise resolving a name. */
typedef struct {
  GSocketConnection *connection;
  gboolean closed;
  gchar buffer[256];
} PongServer;

static void
on_pong_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PongServer *pong = user_data;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (pong->connection));
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0 || !g_output_stream_write_all (out, "+PONG\r\n", 7, NULL, NULL, NULL)) {
    pong->closed = TRUE;
    return;
  }
  g_input_stream_read_async (G_INPUT_STREAM (source), pong->buffer, sizeof pong->buffer,
                             G_PRIORITY_DEFAULT, NULL, on_pong_read, pong);
}

static gboolean
on_pong_incoming (GSocketService *service, GSocketConnection *connection, GObject *source, gpointer user_data)
{
  PongServer *pong = user_data;

  g_assert_null (pong->connection);
  pong->connection = g_object_ref (connection);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (connection)), pong->buffer,
                             sizeof pong->buffer, G_PRIORITY_DEFAULT, NULL, on_pong_read, pong);
  return TRUE;
}

static void
test_resolve (void)
{
  g_autoptr (GSocketService) service = g_socket_service_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisClient) client = NULL;
  g_autofree gchar *url = NULL;
  PongServer pong = { 0 };
  guint16 port;

  allow_client_warnings ();
  port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (service), NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (service, "incoming", G_CALLBACK (on_pong_incoming), &pong);
  url = g_strdup_printf ("redis://localhost:%u", port);
  client = client_new (url, NULL);
  beach_redis_client_stop (client);
  WAIT_UNTIL (pong.closed, TIMEOUT_MS);
  g_clear_object (&pong.connection);
  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
}

static void
test_finalize_connecting (void)
{
  g_autoptr (BeachTestRedis) redis = start_redis (FALSE);
  const gchar *urls[] = {
    "redis://localhost:1",    /* mid-resolve */
    "redis://127.0.0.1:1",    /* refused */
    "redis://192.0.2.1:6379", /* TEST-NET-1: mid-connect */
    NULL,
    NULL,
  };

  if (redis == NULL)
    return;
  urls[3] = beach_test_redis_get_url (redis); /* mid-connect or handshake */

  for (guint i = 0; urls[i] != NULL; i++) {
    for (guint iterations = 0; iterations < 3; iterations++) {
      g_autoptr (GError) error = NULL;
      BeachRedisClient *client = beach_redis_client_new (urls[i], NULL, &error);

      g_assert_no_error (error);
      beach_redis_client_start (client);
      for (guint j = 0; j < iterations; j++)
        g_main_context_iteration (NULL, FALSE);
      g_object_unref (client);
    }
  }
  /* Never started; started then stopped. */
  {
    g_autoptr (BeachRedisClient) idle = beach_redis_client_new (beach_test_redis_get_url (redis), NULL, NULL);
    g_autoptr (BeachRedisClient) stopped = client_new (beach_test_redis_get_url (redis), NULL);

    beach_redis_client_psubscribe (idle, "x.*");
    beach_redis_client_stop (stopped);
  }
  /* Cancelled lookups still call back; nothing may be left to touch. */
  run_for (300);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_handler ("beach-redis-client", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL, log_to_tap, NULL);

  g_test_add_func ("/redis-client/url", test_url);
  g_test_add_func ("/redis-client/reply-accessors", test_reply_accessors);
  g_test_add_func ("/redis-client/basic", test_basic);
  g_test_add_func ("/redis-client/pipeline", test_pipeline);
  g_test_add_func ("/redis-client/eval", test_eval);
  g_test_add_func ("/redis-client/pubsub", test_pubsub);
  g_test_add_func ("/redis-client/reconnect", test_reconnect);
  g_test_add_func ("/redis-client/timeout", test_timeout);
  g_test_add_func ("/redis-client/stop-in-flight", test_stop_in_flight);
  g_test_add_func ("/redis-client/resolve", test_resolve);
  g_test_add_func ("/redis-client/finalize-connecting", test_finalize_connecting);
  return g_test_run ();
}
