/* test-memory-queue.c: the conformance suite on the memory backend, and
 * what only the memory backend promises
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "test-memory-queue"

#include "config.h"

#include "beach-memory-queue.h"
#include "queue-conformance.h"

static BeachFallbackQueue *
memory_factory (const BeachQueueConfig *config, gpointer data)
{
  return beach_memory_queue_new (config);
}

static gboolean
flag_set_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates @context until *@flag or @timeout_ms, whichever is first. */
static void
iterate_for (GMainContext *context, gboolean *flag, guint timeout_ms)
{
  g_autoptr (GSource) timeout = g_timeout_source_new (timeout_ms);
  gboolean timed_out = FALSE;

  g_source_set_callback (timeout, flag_set_cb, &timed_out, NULL);
  g_source_attach (timeout, context);
  while (!timed_out && (flag == NULL || !*flag))
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
}

static void
done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_done (GMainContext *context, GAsyncResult **slot)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (*slot == NULL && g_get_monotonic_time () < deadline)
    iterate_for (context, NULL, 50);
  g_assert_nonnull (*slot);
  return g_steal_pointer (slot);
}

static GPtrArray *
one_action (const gchar *id, gint64 expires_at_ms)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) payload = json_object_new ();
  GPtrArray *actions = g_ptr_array_new_with_free_func (g_object_unref);

  json_object_set_string_member (payload, "bytes", id);
  g_ptr_array_add (actions, beach_action_new (id, BEACH_ACTION_TYPE_TERMINAL_WRITE, payload, expires_at_ms, &error));
  g_assert_no_error (error);
  return actions;
}

static void
enqueue_one (BeachFallbackQueue *queue, GMainContext *context, const gchar *id, gint64 expires_at_ms)
{
  g_autoptr (GPtrArray) actions = one_action (id, expires_at_ms);
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GAsyncResult *slot = NULL;

  beach_fallback_queue_enqueue_async (queue, "p", "s", actions, NULL, done_cb, &slot);
  result = wait_done (context, &slot);
  g_assert_true (beach_fallback_queue_enqueue_finish (queue, result, NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
test_defaults (void)
{
  g_autoptr (BeachFallbackQueue) queue = beach_memory_queue_new (NULL);
  const BeachQueueConfig *config = beach_fallback_queue_get_config (queue);

  g_assert_cmpuint (config->cap, ==, 500);
  g_assert_cmpuint (config->reclaim_ms, ==, 5000);
  g_assert_cmpuint (config->max_deliveries, ==, 5);
  g_assert_cmpuint (config->dead_letters_kept, ==, 10000);
  g_assert_cmpstr (beach_fallback_queue_get_backend_name (queue), ==, "memory");
  g_assert_true (beach_fallback_queue_is_available (queue));
}

/* A queue dropped with armed timers must not fire them afterwards (the
 * sanitizer build turns a mistake here into a use-after-free report). */
static void
test_finalize_disarms_timers (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  BeachFallbackQueue *queue;
  gint64 now_ms = g_get_real_time () / 1000;

  g_main_context_push_thread_default (context);
  queue = beach_memory_queue_new (NULL);
  g_object_add_weak_pointer (G_OBJECT (queue), (gpointer *) &queue);
  enqueue_one (queue, context, "a", now_ms + 30);
  g_object_unref (queue);
  g_assert_null (queue);
  iterate_for (context, NULL, 150);
  g_main_context_pop_thread_default (context);
}

typedef struct {
  BeachFallbackQueue *queue;
  guint settled;
  guint dropped;
} Reentrant;

static void
drop_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Reentrant *r = user_data;

  g_assert_true (beach_fallback_queue_drop_session_finish (BEACH_FALLBACK_QUEUE (source), result, NULL));
  r->dropped++;
}

static void
on_settled_drop (BeachFallbackQueue *queue, const gchar *pb, const gchar *sid, const gchar *id, gint status, const gchar *error_code, gint64 enqueued_ms, Reentrant *r)
{
  r->settled++;
  beach_fallback_queue_drop_session_async (queue, pb, sid, BEACH_DEAD_LETTER_REASON_SESSION_DELETED, NULL, drop_done_cb, r);
}

/* Signals are emitted once the queue is consistent, so a handler may call
 * straight back in, even to drop the very session being processed. */
static void
test_reentrant_handler (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  Reentrant r = { 0 };
  gint64 now_ms = g_get_real_time () / 1000;
  gint64 deadline;

  g_main_context_push_thread_default (context);
  r.queue = beach_memory_queue_new (NULL);
  g_signal_connect (r.queue, "settled", G_CALLBACK (on_settled_drop), &r);
  enqueue_one (r.queue, context, "a", now_ms + 30);
  enqueue_one (r.queue, context, "b", -1);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (r.dropped == 0 && g_get_monotonic_time () < deadline)
    iterate_for (context, NULL, 50);
  g_assert_cmpuint (r.dropped, ==, 1);
  g_assert_cmpuint (r.settled, ==, 1);
  g_clear_object (&r.queue);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  queue_conformance_add_tests ("/memory-queue", memory_factory, NULL);
  g_test_add_func ("/memory-queue/memory/defaults", test_defaults);
  g_test_add_func ("/memory-queue/memory/finalize-disarms-timers", test_finalize_disarms_timers);
  g_test_add_func ("/memory-queue/memory/reentrant-handler", test_reentrant_handler);
  return g_test_run ();
}
