/* test-redis-queue.c: the conformance suite on the Redis backend, and what
 * only a shared backend promises (several managers on one Redis)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "test-redis-queue"

#include "config.h"

#include "beach-redis-queue.h"
#include "queue-conformance.h"
#include "redis-fixture.h"

#define OP_TIMEOUT_MS 5000

/* One redis-server for the whole program; every queue gets its own key
 * prefix, so that tests never see each other's keys or wake-ups. */
static BeachTestRedis *test_redis;
static guint prefix_counter;

/* -- waiting */

static gboolean
flag_set_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*DoneFunc) (gconstpointer data);

/* Iterates the thread-default context until @done or @timeout_ms. */
static gboolean
iterate_until (DoneFunc done, gconstpointer data, guint timeout_ms)
{
  GMainContext *context = g_main_context_get_thread_default ();
  g_autoptr (GSource) timeout = g_timeout_source_new (timeout_ms);
  gboolean timed_out = FALSE;

  g_source_set_callback (timeout, flag_set_cb, &timed_out, NULL);
  g_source_attach (timeout, context);
  while ((done == NULL || !done (data)) && !timed_out)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  return done != NULL && done (data);
}

static gboolean
is_connected (gconstpointer data)
{
  return beach_redis_client_get_connected ((BeachRedisClient *) data);
}

static gboolean
is_nonnull (gconstpointer data)
{
  return *(gconstpointer const *) data != NULL;
}

static gboolean
is_null (gconstpointer data)
{
  return *(gconstpointer const *) data == NULL;
}

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **slot = user_data;

  g_assert_null (*slot);
  *slot = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  g_assert_true (iterate_until (is_nonnull, slot, OP_TIMEOUT_MS));
  return g_steal_pointer (slot);
}

/* -- clients and queues */

static BeachRedisClient *
client_new_connected (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachRedisClient) client = beach_redis_client_new (beach_test_redis_get_url (test_redis), NULL, &error);

  g_assert_no_error (error);
  beach_redis_client_start (client);
  g_assert_true (iterate_until (is_connected, client, OP_TIMEOUT_MS));
  return g_steal_pointer (&client);
}

static gchar *
unique_prefix (void)
{
  g_autofree gchar *uuid = g_uuid_string_random ();

  return g_strdup_printf ("t%u-%.8s", ++prefix_counter, uuid);
}

/* A new client on the shared server and a queue on it; the queue holds the
 * only reference to the client, so both go when the queue does. */
static BeachFallbackQueue *
queue_new (const gchar *prefix, const BeachQueueConfig *config)
{
  g_autoptr (BeachRedisClient) client = client_new_connected ();

  return BEACH_FALLBACK_QUEUE (beach_redis_queue_new (client, prefix, config));
}

static BeachFallbackQueue *
redis_factory (const BeachQueueConfig *config, gpointer data)
{
  g_autofree gchar *prefix = NULL;

  if (test_redis == NULL)
    return NULL;
  prefix = unique_prefix ();
  return queue_new (prefix, config);
}

/* Drops the last reference and waits for the queue (and its client) to go. */
static void
queue_free (BeachFallbackQueue *queue)
{
  g_object_add_weak_pointer (G_OBJECT (queue), (gpointer *) &queue);
  g_object_unref (queue);
  g_assert_true (iterate_until (is_null, &queue, OP_TIMEOUT_MS));
}

static void
client_free (BeachRedisClient *client)
{
  g_object_add_weak_pointer (G_OBJECT (client), (gpointer *) &client);
  beach_redis_client_stop (client);
  g_object_unref (client);
  g_assert_true (iterate_until (is_null, &client, OP_TIMEOUT_MS));
}

/* Each test runs on its own main context, as the conformance suite does. */
typedef struct {
  GMainContext *context;
  gchar *prefix;
  gchar *pb;
  gchar *sid;
  BeachQueueConfig config;
} Env;

static gboolean
env_setup (Env *env)
{
  if (test_redis == NULL) {
    g_test_skip ("redis-server is not available");
    return FALSE;
  }
  env->context = g_main_context_new ();
  g_main_context_push_thread_default (env->context);
  env->prefix = unique_prefix ();
  env->pb = g_strdup ("pb");
  env->sid = g_strdup ("s");
  beach_queue_config_init_defaults (&env->config);
  return TRUE;
}

static void
env_teardown (Env *env)
{
  while (g_main_context_iteration (env->context, FALSE))
    ;
  g_main_context_pop_thread_default (env->context);
  g_clear_pointer (&env->context, g_main_context_unref);
  g_clear_pointer (&env->prefix, g_free);
  g_clear_pointer (&env->pb, g_free);
  g_clear_pointer (&env->sid, g_free);
}

static gchar *
env_key (Env *env, const gchar *what)
{
  return g_strdup_printf ("%s:{%s:%s}:%s", env->prefix, env->pb, env->sid, what);
}

/* -- synchronous wrappers */

static BeachAction *
action_new (const gchar *id)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *bytes = g_strdup_printf ("echo %s\n", id);
  BeachAction *action = beach_action_new_terminal_write (id, bytes, &error);

  g_assert_no_error (error);
  return action;
}

static gboolean
q_enqueue (BeachFallbackQueue *queue, Env *env, const gchar *id, GError **error)
{
  g_autoptr (GPtrArray) actions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GAsyncResult) result = NULL;
  GAsyncResult *slot = NULL;

  g_ptr_array_add (actions, action_new (id));
  beach_fallback_queue_enqueue_async (queue, env->pb, env->sid, actions, NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  return beach_fallback_queue_enqueue_finish (queue, result, NULL, NULL, error);
}

static void
enqueue_ok (BeachFallbackQueue *queue, Env *env, const gchar *id)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (q_enqueue (queue, env, id, &error));
  g_assert_no_error (error);
}

static GPtrArray *
q_read (BeachFallbackQueue *queue, Env *env, const gchar *consumer)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GAsyncResult *slot = NULL;
  GPtrArray *entries;

  beach_fallback_queue_read_async (queue, env->pb, env->sid, consumer, 64, NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  entries = beach_fallback_queue_read_finish (queue, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (entries);
  return entries;
}

static const gchar *
entry_id (GPtrArray *entries, guint i)
{
  return beach_action_get_id (((BeachQueueEntry *) g_ptr_array_index (entries, i))->action);
}

static guint
entry_deliveries (GPtrArray *entries, guint i)
{
  return ((BeachQueueEntry *) g_ptr_array_index (entries, i))->deliveries;
}

static BeachQueueStats
q_stats (BeachFallbackQueue *queue, Env *env)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  BeachQueueStats stats = { G_MAXUINT, G_MAXUINT };
  GAsyncResult *slot = NULL;

  beach_fallback_queue_stats_async (queue, env->pb, env->sid, NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  g_assert_true (beach_fallback_queue_stats_finish (queue, result, &stats, &error));
  g_assert_no_error (error);
  return stats;
}

static void
q_drop (BeachFallbackQueue *queue, Env *env)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GAsyncResult *slot = NULL;

  beach_fallback_queue_drop_session_async (queue, env->pb, env->sid, BEACH_DEAD_LETTER_REASON_SESSION_DELETED,
                                           NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  g_assert_true (beach_fallback_queue_drop_session_finish (queue, result, &error));
  g_assert_no_error (error);
}

/* A raw command on @client; ERROR replies fail the test. */
static BeachRedisReply *
raw_command (BeachRedisClient *client, const gchar *const *argv)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GAsyncResult *slot = NULL;
  BeachRedisReply *reply;

  beach_redis_client_command_async (client, argv, NULL, store_result_cb, &slot);
  result = wait_result (&slot);
  reply = beach_redis_client_command_finish (client, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->type, !=, BEACH_REDIS_REPLY_ERROR);
  return reply;
}

/* Lets time pass on the main loop (for Redis's idle clock, which no local
 * timer of the queue under test watches). */
static void
let_time_pass (guint ms)
{
  iterate_until (NULL, NULL, ms);
}

/* -- tests */

static void
test_identity (void)
{
  Env env = { 0 };
  BeachFallbackQueue *queue;

  if (!env_setup (&env))
    return;
  queue = queue_new (env.prefix, NULL);
  g_assert_cmpstr (beach_fallback_queue_get_backend_name (queue), ==, "redis");
  g_assert_true (beach_fallback_queue_is_available (queue));
  g_assert_cmpuint (beach_fallback_queue_get_config (queue)->cap, ==, 500);
  queue_free (queue);
  env_teardown (&env);
}

typedef struct {
  BeachFallbackQueue *queue;
  guint done;
  guint accepted;
  guint full;
} Racer;

static void
race_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Racer *racer = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) accepted = NULL;

  if (beach_fallback_queue_enqueue_finish (racer->queue, result, &accepted, NULL, &error)) {
    g_assert_cmpuint (g_strv_length (accepted), ==, 1);
    racer->accepted++;
  } else {
    g_assert_error (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL);
    racer->full++;
  }
  racer->done++;
}

static gboolean
race_finished (gconstpointer data)
{
  const Racer *racers = data;

  return racers[0].done + racers[1].done == 80;
}

/* Two managers enqueueing at once never pass the cap between them. */
static void
test_racing_cap (void)
{
  Env env = { 0 };
  Racer racers[2] = { { 0 } };

  if (!env_setup (&env))
    return;
  env.config.cap = 50;
  racers[0].queue = queue_new (env.prefix, &env.config);
  racers[1].queue = queue_new (env.prefix, &env.config);
  for (guint i = 0; i < 40; i++) {
    for (guint r = 0; r < 2; r++) {
      g_autoptr (GPtrArray) actions = g_ptr_array_new_with_free_func (g_object_unref);
      g_autofree gchar *id = g_strdup_printf ("r%u-%u", r, i);

      g_ptr_array_add (actions, action_new (id));
      beach_fallback_queue_enqueue_async (racers[r].queue, env.pb, env.sid, actions, NULL, race_done_cb, &racers[r]);
    }
  }
  g_assert_true (iterate_until (race_finished, racers, 2 * OP_TIMEOUT_MS));
  g_assert_cmpuint (racers[0].accepted + racers[1].accepted, ==, 50);
  g_assert_cmpuint (racers[0].full + racers[1].full, ==, 30);
  g_assert_cmpuint (q_stats (racers[0].queue, &env).depth, ==, 50);

  q_drop (racers[0].queue, &env);
  queue_free (racers[0].queue);
  queue_free (racers[1].queue);
  env_teardown (&env);
}

typedef struct {
  const gchar *pb;
  const gchar *sid;
  guint wakes;
  gboolean depth_seen;
  guint depth;
  gboolean redelivered;
} Watch;

static void
on_wake (BeachFallbackQueue *queue, const gchar *pb, const gchar *sid, Watch *watch)
{
  if (g_strcmp0 (pb, watch->pb) == 0 && g_strcmp0 (sid, watch->sid) == 0)
    watch->wakes++;
}

static void
on_depth_changed (BeachFallbackQueue *queue, const gchar *pb, const gchar *sid, guint depth, guint delivered, Watch *watch)
{
  if (g_strcmp0 (pb, watch->pb) == 0 && g_strcmp0 (sid, watch->sid) == 0) {
    watch->depth_seen = TRUE;
    watch->depth = depth;
  }
}

static void
on_delivered (BeachFallbackQueue *queue, const gchar *pb, const gchar *sid, const gchar *id, gboolean redelivery, Watch *watch)
{
  watch->redelivered |= redelivery;
}

static gboolean
watch_woken (gconstpointer data)
{
  return ((const Watch *) data)->wakes > 0;
}

static gboolean
watch_depth_seen (gconstpointer data)
{
  return ((const Watch *) data)->depth_seen;
}

/* A consumer that read and went away: another manager's read takes its
 * entries once they idle past the reclaim time. */
static void
test_reclaim_other_consumer (void)
{
  Env env = { 0 };
  BeachFallbackQueue *a, *b;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) early = NULL;
  g_autoptr (GPtrArray) later = NULL;
  Watch watch = { 0 };

  if (!env_setup (&env))
    return;
  env.config.reclaim_ms = 200;
  a = queue_new (env.prefix, &env.config);
  b = queue_new (env.prefix, &env.config);
  g_signal_connect (b, "delivered", G_CALLBACK (on_delivered), &watch);
  enqueue_ok (a, &env, "a");
  enqueue_ok (a, &env, "b");
  first = q_read (a, &env, "host-1");
  g_assert_cmpuint (first->len, ==, 2);
  queue_free (a);

  early = q_read (b, &env, "host-2");
  g_assert_cmpuint (early->len, ==, 0);
  let_time_pass (env.config.reclaim_ms + 100);
  later = q_read (b, &env, "host-2");
  g_assert_cmpuint (later->len, ==, 2);
  g_assert_cmpstr (entry_id (later, 0), ==, "a");
  g_assert_cmpuint (entry_deliveries (later, 0), ==, 2);
  g_assert_cmpstr (entry_id (later, 1), ==, "b");
  g_assert_true (watch.redelivered);

  q_drop (b, &env);
  queue_free (b);
  env_teardown (&env);
}

/* Publishes a wake for (probe, probe) until @queue hears one, so that its
 * subscription is known to be live before the test relies on it. */
static void
wait_subscribed (BeachFallbackQueue *queue, BeachRedisClient *raw, Env *env)
{
  g_autofree gchar *channel = g_strdup_printf ("%s:wake:{probe:probe}", env->prefix);
  const gchar *argv[] = { "PUBLISH", channel, "probe", NULL };
  Watch watch = { "probe", "probe" };
  gulong id = g_signal_connect (queue, "wake", G_CALLBACK (on_wake), &watch);
  gint64 deadline = g_get_monotonic_time () + OP_TIMEOUT_MS * 1000;

  while (watch.wakes == 0 && g_get_monotonic_time () < deadline) {
    g_autoptr (BeachRedisReply) reply = raw_command (raw, argv);

    iterate_until (watch_woken, &watch, 100);
  }
  g_signal_handler_disconnect (queue, id);
  g_assert_cmpuint (watch.wakes, >, 0);
}

/* An enqueue through one manager wakes the parked polls of another. */
static void
test_wake_across_managers (void)
{
  Env env = { 0 };
  BeachFallbackQueue *a, *b;
  g_autoptr (BeachRedisClient) raw = NULL;
  Watch watch = { 0 };

  if (!env_setup (&env))
    return;
  a = queue_new (env.prefix, NULL);
  b = queue_new (env.prefix, NULL);
  raw = client_new_connected ();
  wait_subscribed (b, raw, &env);
  watch.pb = env.pb;
  watch.sid = env.sid;
  g_signal_connect (b, "wake", G_CALLBACK (on_wake), &watch);
  g_signal_connect (b, "depth-changed", G_CALLBACK (on_depth_changed), &watch);

  enqueue_ok (a, &env, "a");
  g_assert_true (iterate_until (watch_woken, &watch, OP_TIMEOUT_MS));
  g_assert_cmpuint (watch.wakes, ==, 1);
  /* B's numbers follow A's enqueue too. */
  g_assert_true (iterate_until (watch_depth_seen, &watch, OP_TIMEOUT_MS));
  g_assert_cmpuint (watch.depth, ==, 1);

  q_drop (a, &env);
  queue_free (a);
  queue_free (b);
  client_free (g_steal_pointer (&raw));
  env_teardown (&env);
}

/* An entry deleted behind the queue's back while pending leaves a nil body
 * in the PEL: a reclaiming read skips it and cleans the PEL, and its id is
 * no longer outstanding. */
static void
test_nil_body (void)
{
  Env env = { 0 };
  BeachFallbackQueue *a, *b;
  g_autoptr (BeachRedisClient) raw = NULL;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) later = NULL;
  g_autoptr (BeachRedisReply) entry = NULL;
  g_autoptr (BeachRedisReply) deleted = NULL;
  g_autoptr (BeachRedisReply) pending = NULL;
  g_autofree gchar *actions_key = NULL;
  g_autofree gchar *ids_key = NULL;
  BeachQueueStats stats;

  if (!env_setup (&env))
    return;
  env.config.reclaim_ms = 150;
  actions_key = env_key (&env, "actions");
  ids_key = env_key (&env, "ids");
  a = queue_new (env.prefix, &env.config);
  raw = client_new_connected ();
  enqueue_ok (a, &env, "a");
  enqueue_ok (a, &env, "b");
  first = q_read (a, &env, "host-1");
  g_assert_cmpuint (first->len, ==, 2);
  entry = raw_command (raw, (const gchar *const[]){ "HGET", ids_key, "a", NULL });
  g_assert_cmpint (entry->type, ==, BEACH_REDIS_REPLY_STRING);
  deleted = raw_command (raw, (const gchar *const[]){ "XDEL", actions_key, entry->str, NULL });
  g_assert_cmpint (deleted->integer, ==, 1);
  /* The PEL still names the deleted entry; the numbers stay sane. */
  stats = q_stats (a, &env);
  g_assert_cmpuint (stats.depth, ==, 1);
  g_assert_cmpuint (stats.delivered, ==, 1);
  /* Gone with its timers, so that the read below does the reclaiming. */
  queue_free (a);

  b = queue_new (env.prefix, &env.config);
  let_time_pass (env.config.reclaim_ms + 100);
  later = q_read (b, &env, "host-2");
  g_assert_cmpuint (later->len, ==, 1);
  g_assert_cmpstr (entry_id (later, 0), ==, "b");
  g_assert_cmpuint (entry_deliveries (later, 0), ==, 2);
  pending = raw_command (raw, (const gchar *const[]){ "XPENDING", actions_key, "hosts", NULL });
  g_assert_cmpint (pending->type, ==, BEACH_REDIS_REPLY_ARRAY);
  g_assert_cmpuint (pending->n_elements, >=, 1);
  g_assert_cmpint (pending->elements[0]->integer, ==, 1);
  /* "a" left the stream, so it may be queued again. */
  enqueue_ok (b, &env, "a");
  g_assert_cmpuint (q_stats (b, &env).depth, ==, 2);

  q_drop (b, &env);
  queue_free (b);
  client_free (g_steal_pointer (&raw));
  env_teardown (&env);
}

/* A stored action that no longer parses is reported and skipped. */
static void
test_corrupt_entry (void)
{
  Env env = { 0 };
  BeachFallbackQueue *queue;
  g_autoptr (BeachRedisClient) raw = NULL;
  g_autoptr (BeachRedisReply) added = NULL;
  g_autoptr (GPtrArray) entries = NULL;
  g_autofree gchar *actions_key = NULL;

  if (!env_setup (&env))
    return;
  actions_key = env_key (&env, "actions");
  queue = queue_new (env.prefix, NULL);
  raw = client_new_connected ();
  enqueue_ok (queue, &env, "a");
  added = raw_command (raw, (const gchar *const[]){ "XADD", actions_key, "*", "id", "bad", "action", "{oops",
                                                    "enqueued_ms", "1", "expires_ms", "-1", NULL });
  enqueue_ok (queue, &env, "c");
  g_test_expect_message ("beach-redis-queue", G_LOG_LEVEL_WARNING, "*does not parse*");
  entries = q_read (queue, &env, "host-1");
  g_test_assert_expected_messages ();
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpstr (entry_id (entries, 0), ==, "a");
  g_assert_cmpstr (entry_id (entries, 1), ==, "c");

  q_drop (queue, &env);
  queue_free (queue);
  client_free (g_steal_pointer (&raw));
  env_teardown (&env);
}

/* Entries outlive the manager that queued them. */
static void
test_survival (void)
{
  Env env = { 0 };
  BeachFallbackQueue *queue;
  g_autoptr (GPtrArray) entries = NULL;

  if (!env_setup (&env))
    return;
  queue = queue_new (env.prefix, NULL);
  enqueue_ok (queue, &env, "a");
  enqueue_ok (queue, &env, "b");
  queue_free (queue);

  queue = queue_new (env.prefix, NULL);
  entries = q_read (queue, &env, "host-1");
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpstr (entry_id (entries, 0), ==, "a");
  g_assert_cmpstr (entry_id (entries, 1), ==, "b");
  g_assert_cmpstr (beach_action_get_terminal_bytes (((BeachQueueEntry *) g_ptr_array_index (entries, 0))->action),
                   ==, "echo a\n");
  g_assert_cmpuint (entry_deliveries (entries, 0), ==, 1);

  q_drop (queue, &env);
  queue_free (queue);
  env_teardown (&env);
}

static void
on_availability (BeachFallbackQueue *queue, gboolean available, gint *last)
{
  *last = available;
}

static gboolean
int_is (gconstpointer data)
{
  const gint *pair = data;

  return pair[0] == pair[1];
}

/* Redis going away and coming back is told, and operations meanwhile fail
 * with UNAVAILABLE. Kills the shared server: registered last. */
static void
test_availability (void)
{
  Env env = { 0 };
  g_autoptr (GError) error = NULL;
  BeachFallbackQueue *queue;
  gint seen[2] = { -1, FALSE };
  GLogLevelFlags fatal;

  if (!env_setup (&env))
    return;
  queue = queue_new (env.prefix, NULL);
  g_signal_connect (queue, "availability-changed", G_CALLBACK (on_availability), &seen[0]);
  enqueue_ok (queue, &env, "a");

  /* The client warns while the server is away, as it should; a fatal
   * handler would not do, since GTest would still print "Bail out!". */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  beach_test_redis_kill (test_redis);
  g_assert_true (iterate_until (int_is, seen, OP_TIMEOUT_MS));
  g_assert_false (beach_fallback_queue_is_available (queue));
  g_assert_false (q_enqueue (queue, &env, "b", &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE);
  g_clear_error (&error);

  g_assert_true (beach_test_redis_restart (test_redis, &error));
  g_assert_no_error (error);
  seen[1] = TRUE;
  /* The client backs off up to 5 s (+25 %) between attempts. */
  g_assert_true (iterate_until (int_is, seen, 3 * OP_TIMEOUT_MS));
  g_assert_true (beach_fallback_queue_is_available (queue));
  enqueue_ok (queue, &env, "b");
  g_log_set_always_fatal (fatal);

  q_drop (queue, &env);
  queue_free (queue);
  env_teardown (&env);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  test_redis = beach_test_redis_start (FALSE, &error);
  if (test_redis == NULL)
    g_test_message ("every Redis queue test is skipped: %s", error->message);

  queue_conformance_add_tests ("/redis-queue", redis_factory, NULL);
  g_test_add_func ("/redis-queue/redis/identity", test_identity);
  g_test_add_func ("/redis-queue/redis/racing-cap", test_racing_cap);
  g_test_add_func ("/redis-queue/redis/reclaim-other-consumer", test_reclaim_other_consumer);
  g_test_add_func ("/redis-queue/redis/wake-across-managers", test_wake_across_managers);
  g_test_add_func ("/redis-queue/redis/nil-body", test_nil_body);
  g_test_add_func ("/redis-queue/redis/corrupt-entry", test_corrupt_entry);
  g_test_add_func ("/redis-queue/redis/survival", test_survival);
  g_test_add_func ("/redis-queue/redis/z-availability", test_availability);
  ret = g_test_run ();
  g_clear_pointer (&test_redis, beach_test_redis_free);
  return ret;
}
