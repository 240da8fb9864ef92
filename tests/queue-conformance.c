/* queue-conformance.c: the fallback queue contract, as GTest cases
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Written against the abstract BeachFallbackQueue API only, so that every
 * backend runs the same file. Nothing here sleeps: tests wait for the
 * queue's own signals, with timeouts that fail the test instead of hanging.
 */
#define G_LOG_DOMAIN "queue-conformance"

#include "config.h"

#include "queue-conformance.h"

/* One async call: generous for a backend on a local socket, even under
 * sanitizers. */
#define OP_TIMEOUT_MS 5000

typedef struct {
  QueueConformanceFactory factory;
  gpointer data;
} Suite;

typedef enum {
  EV_WAKE,
  EV_SETTLED,
  EV_DEAD_LETTERED,
  EV_DELIVERED,
  EV_DEPTH_CHANGED,
} EvKind;

typedef struct {
  EvKind kind;
  gchar *private_beach_id;
  gchar *session_id;
  gchar *action_id;
  gint code; /* BeachAckStatus or BeachDeadLetterReason */
  gchar *error_code;
  gint64 enqueued_ms;
  gboolean redelivery;
  guint depth;
  guint delivered;
  gint64 at_us; /* monotonic, when the test saw it */
} Event;

typedef struct {
  const Suite *suite;
  GMainContext *context;
  BeachQueueConfig config;
  BeachFallbackQueue *queue;
  gchar *pb;
  gchar *pb2;
  gchar *s1;
  gchar *s2;
  GPtrArray *events; /* Event* */
  GAsyncResult *result;
} Fixture;

typedef void (*CaseFunc) (Fixture *f);

typedef struct {
  const Suite *suite;
  CaseFunc func;
} Case;

static void
event_free (Event *ev)
{
  g_free (ev->private_beach_id);
  g_free (ev->session_id);
  g_free (ev->action_id);
  g_free (ev->error_code);
  g_free (ev);
}

static Event *
event_add (Fixture *f, EvKind kind, const gchar *pb, const gchar *sid, const gchar *action_id)
{
  Event *ev = g_new0 (Event, 1);

  ev->kind = kind;
  ev->private_beach_id = g_strdup (pb);
  ev->session_id = g_strdup (sid);
  ev->action_id = g_strdup (action_id);
  ev->at_us = g_get_monotonic_time ();
  g_ptr_array_add (f->events, ev);
  return ev;
}

static void
on_wake (BeachFallbackQueue *q, const gchar *pb, const gchar *sid, Fixture *f)
{
  event_add (f, EV_WAKE, pb, sid, NULL);
}

static void
on_settled (BeachFallbackQueue *q, const gchar *pb, const gchar *sid, const gchar *id, gint status, const gchar *error_code, gint64 enqueued_ms, Fixture *f)
{
  Event *ev = event_add (f, EV_SETTLED, pb, sid, id);

  ev->code = status;
  ev->error_code = g_strdup (error_code);
  ev->enqueued_ms = enqueued_ms;
}

static void
on_dead_lettered (BeachFallbackQueue *q, const gchar *pb, const gchar *sid, const gchar *id, gint reason, Fixture *f)
{
  event_add (f, EV_DEAD_LETTERED, pb, sid, id)->code = reason;
}

static void
on_delivered (BeachFallbackQueue *q, const gchar *pb, const gchar *sid, const gchar *id, gboolean redelivery, Fixture *f)
{
  event_add (f, EV_DELIVERED, pb, sid, id)->redelivery = redelivery;
}

static void
on_depth_changed (BeachFallbackQueue *q, const gchar *pb, const gchar *sid, guint depth, guint delivered, Fixture *f)
{
  Event *ev = event_add (f, EV_DEPTH_CHANGED, pb, sid, NULL);

  ev->depth = depth;
  ev->delivered = delivered;
}

/* -- waiting */

static gboolean
flag_set_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*DoneFunc) (Fixture *f, gconstpointer data);

static void
iterate_until (Fixture *f, DoneFunc done, gconstpointer data, guint timeout_ms, const gchar *what)
{
  g_autoptr (GSource) timeout = g_timeout_source_new (timeout_ms);
  gboolean timed_out = FALSE;

  g_source_set_callback (timeout, flag_set_cb, &timed_out, NULL);
  g_source_attach (timeout, f->context);
  while (!done (f, data) && !timed_out)
    g_main_context_iteration (f->context, TRUE);
  g_source_destroy (timeout);
  if (!done (f, data))
    g_error ("timed out after %u ms waiting for %s", timeout_ms, what);
}

/* For waits on the queue's timers: three times the expectation, and never
 * less than a slow sanitizer run needs. */
static guint
timer_timeout (guint expected_ms)
{
  return MAX (3 * expected_ms, 3000);
}

static gboolean
have_result (Fixture *f, gconstpointer data)
{
  return f->result != NULL;
}

static void
store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;

  g_assert_null (f->result);
  f->result = g_object_ref (result);
}

static GAsyncResult *
wait_result (Fixture *f, const gchar *what)
{
  iterate_until (f, have_result, NULL, OP_TIMEOUT_MS, what);
  return g_steal_pointer (&f->result);
}

typedef struct {
  guint from;
  EvKind kind;
  const gchar *pb; /* NULL: f->pb */
  const gchar *sid;
  const gchar *action_id; /* NULL: any */
  gint64 depth;           /* -1: any */
  gint64 delivered;       /* -1: any */
} EventQuery;

static gint
find_event (Fixture *f, const EventQuery *q)
{
  for (guint i = q->from; i < f->events->len; i++) {
    Event *ev = g_ptr_array_index (f->events, i);

    if (ev->kind != q->kind || g_strcmp0 (ev->private_beach_id, q->pb != NULL ? q->pb : f->pb) != 0 || g_strcmp0 (ev->session_id, q->sid) != 0)
      continue;
    if (q->action_id != NULL && g_strcmp0 (ev->action_id, q->action_id) != 0)
      continue;
    if (q->depth >= 0 && (ev->depth != q->depth || ev->delivered != q->delivered))
      continue;
    return (gint) i;
  }
  return -1;
}

static gboolean
event_found (Fixture *f, gconstpointer data)
{
  return find_event (f, data) >= 0;
}

static const gchar *
ev_kind_name (EvKind kind)
{
  const gchar *names[] = { "wake", "settled", "dead-lettered", "delivered", "depth-changed" };

  return names[kind];
}

static Event *
wait_event_full (Fixture *f, const EventQuery *q, guint timeout_ms)
{
  g_autofree gchar *what = g_strdup_printf ("“%s” on %s (action %s, depth %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT ") after event #%u",
                                            ev_kind_name (q->kind), q->sid, q->action_id,
                                            q->depth, q->delivered, q->from);

  iterate_until (f, event_found, q, timeout_ms, what);
  return g_ptr_array_index (f->events, find_event (f, q));
}

static Event *
wait_event (Fixture *f, guint from, EvKind kind, const gchar *sid, const gchar *action_id, guint timeout_ms)
{
  EventQuery q = { from, kind, NULL, sid, action_id, -1, -1 };

  return wait_event_full (f, &q, timeout_ms);
}

static void
wait_depth (Fixture *f, guint from, const gchar *sid, guint depth, guint delivered)
{
  EventQuery q = { from, EV_DEPTH_CHANGED, NULL, sid, NULL, depth, delivered };

  wait_event_full (f, &q, OP_TIMEOUT_MS);
}

static guint
count_events (Fixture *f, guint from, EvKind kind, const gchar *sid, const gchar *action_id)
{
  guint n = 0;

  for (guint i = from; i < f->events->len; i++) {
    Event *ev = g_ptr_array_index (f->events, i);

    if (ev->kind == kind && g_strcmp0 (ev->session_id, sid) == 0 && (action_id == NULL || g_strcmp0 (ev->action_id, action_id) == 0))
      n++;
  }
  return n;
}

static guint
mark (Fixture *f)
{
  return f->events->len;
}

/* -- actions and acks */

static BeachAction *
action_new (const gchar *id, gint64 expires_at_ms)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) payload = json_object_new ();
  g_autofree gchar *bytes = g_strdup_printf ("echo %s\n", id);
  BeachAction *action;

  json_object_set_string_member (payload, "bytes", bytes);
  action = beach_action_new (id, BEACH_ACTION_TYPE_TERMINAL_WRITE, payload, expires_at_ms, &error);
  g_assert_no_error (error);
  return action;
}

static GPtrArray *
actions_newv (const gchar *first, va_list ap)
{
  GPtrArray *actions = g_ptr_array_new_with_free_func (g_object_unref);

  for (const gchar *id = first; id != NULL; id = va_arg (ap, const gchar *))
    g_ptr_array_add (actions, action_new (id, -1));
  return actions;
}

static BeachActionAck *
ack_new (const gchar *id, BeachAckStatus status, const gchar *error_code)
{
  g_autoptr (GError) error = NULL;
  BeachActionAck *ack = beach_action_ack_new (id, status, g_get_real_time () / 1000, 3,
                                              error_code, NULL, &error);

  g_assert_no_error (error);
  return ack;
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* -- synchronous wrappers */

static gboolean
q_enqueue_full (Fixture *f, const gchar *pb, const gchar *sid, GPtrArray *actions, GStrv *accepted, GStrv *duplicates, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  beach_fallback_queue_enqueue_async (f->queue, pb, sid, actions, NULL, store_result_cb, f);
  result = wait_result (f, "enqueue");
  return beach_fallback_queue_enqueue_finish (f->queue, result, accepted, duplicates, error);
}

static void
assert_strv (GStrv strv, const gchar *first, ...)
{
  va_list ap;
  guint i = 0;

  g_assert_nonnull (strv);
  va_start (ap, first);
  for (const gchar *s = first; s != NULL; s = va_arg (ap, const gchar *), i++)
    g_assert_cmpstr (strv[i], ==, s);
  va_end (ap);
  g_assert_cmpstr (strv[i], ==, NULL);
}

/* Enqueues the NULL-terminated ids (no expiry) on (@pb, @sid) and returns
 * the outcome; asserts the call succeeded. */
static void
enqueue_ids_full (Fixture *f, const gchar *pb, const gchar *sid, GStrv *accepted, GStrv *duplicates, const gchar *first, ...)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) actions = NULL;
  va_list ap;

  va_start (ap, first);
  actions = actions_newv (first, ap);
  va_end (ap);
  g_assert_true (q_enqueue_full (f, pb, sid, actions, accepted, duplicates, &error));
  g_assert_no_error (error);
}

/* Enqueues the NULL-terminated ids, all of which must be accepted. */
static void
enqueue_all (Fixture *f, const gchar *sid, const gchar *first, ...)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) actions = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  va_list ap;

  va_start (ap, first);
  actions = actions_newv (first, ap);
  va_end (ap);
  g_assert_true (q_enqueue_full (f, f->pb, sid, actions, &accepted, &duplicates, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (accepted), ==, actions->len);
  g_assert_cmpuint (g_strv_length (duplicates), ==, 0);
}

#define enqueue_ok(f, sid, ...) enqueue_all ((f), (sid), __VA_ARGS__, NULL)

static GPtrArray *
q_read_full (Fixture *f, const gchar *pb, const gchar *sid, guint max)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *entries;

  beach_fallback_queue_read_async (f->queue, pb, sid, "h:conformance", max, NULL, store_result_cb, f);
  result = wait_result (f, "read");
  entries = beach_fallback_queue_read_finish (f->queue, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (entries);
  return entries;
}

static GPtrArray *
q_read (Fixture *f, const gchar *sid, guint max)
{
  return q_read_full (f, f->pb, sid, max);
}

static BeachQueueEntry *
entry_at (GPtrArray *entries, guint i)
{
  return g_ptr_array_index (entries, i);
}

static const gchar *
entry_id (GPtrArray *entries, guint i)
{
  return beach_action_get_id (entry_at (entries, i)->action);
}

/* Checks ids and delivery counts: "a", 1, "b", 2, ..., NULL. */
static void
assert_entries (GPtrArray *entries, const gchar *first, ...)
{
  va_list ap;
  guint i = 0;

  va_start (ap, first);
  for (const gchar *id = first; id != NULL; id = va_arg (ap, const gchar *), i++) {
    guint deliveries = va_arg (ap, guint);

    g_assert_cmpuint (i, <, entries->len);
    g_assert_cmpstr (entry_id (entries, i), ==, id);
    g_assert_cmpuint (entry_at (entries, i)->deliveries, ==, deliveries);
  }
  va_end (ap);
  g_assert_cmpuint (entries->len, ==, i);
}

static guint
q_ack_array (Fixture *f, const gchar *pb, const gchar *sid, GPtrArray *acks)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  guint settled = G_MAXUINT;

  beach_fallback_queue_ack_async (f->queue, pb, sid, acks, NULL, store_result_cb, f);
  result = wait_result (f, "ack");
  g_assert_true (beach_fallback_queue_ack_finish (f->queue, result, &settled, &error));
  g_assert_no_error (error);
  return settled;
}

/* Acks the NULL-terminated ids with status ok. */
static guint
q_ack_ok (Fixture *f, const gchar *sid, const gchar *first, ...)
{
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);
  va_list ap;

  va_start (ap, first);
  for (const gchar *id = first; id != NULL; id = va_arg (ap, const gchar *))
    g_ptr_array_add (acks, ack_new (id, BEACH_ACK_STATUS_OK, NULL));
  va_end (ap);
  return q_ack_array (f, f->pb, sid, acks);
}

static BeachQueueStats
q_stats_full (Fixture *f, const gchar *pb, const gchar *sid)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  BeachQueueStats stats = { G_MAXUINT, G_MAXUINT };

  beach_fallback_queue_stats_async (f->queue, pb, sid, NULL, store_result_cb, f);
  result = wait_result (f, "stats");
  g_assert_true (beach_fallback_queue_stats_finish (f->queue, result, &stats, &error));
  g_assert_no_error (error);
  return stats;
}

static void
assert_stats_full (Fixture *f, const gchar *pb, const gchar *sid, guint depth, guint delivered)
{
  BeachQueueStats stats = q_stats_full (f, pb, sid);

  g_assert_cmpuint (stats.depth, ==, depth);
  g_assert_cmpuint (stats.delivered, ==, delivered);
}

static void
assert_stats (Fixture *f, const gchar *sid, guint depth, guint delivered)
{
  assert_stats_full (f, f->pb, sid, depth, delivered);
}

static GPtrArray *
q_dead_letters (Fixture *f, const gchar *sid, gint64 since_ms)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *letters;

  beach_fallback_queue_dead_letters_async (f->queue, f->pb, sid, since_ms, NULL, store_result_cb, f);
  result = wait_result (f, "dead_letters");
  letters = beach_fallback_queue_dead_letters_finish (f->queue, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (letters);
  return letters;
}

static const gchar *
letter_id (GPtrArray *letters, guint i)
{
  return ((BeachDeadLetter *) g_ptr_array_index (letters, i))->id;
}

static gboolean
q_drop_full (Fixture *f, const gchar *pb, const gchar *sid, BeachDeadLetterReason reason, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  beach_fallback_queue_drop_session_async (f->queue, pb, sid, reason, NULL, store_result_cb, f);
  result = wait_result (f, "drop_session");
  return beach_fallback_queue_drop_session_finish (f->queue, result, error);
}

static void
q_drop (Fixture *f, const gchar *sid, BeachDeadLetterReason reason)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (q_drop_full (f, f->pb, sid, reason, &error));
  g_assert_no_error (error);
}

/* -- fixture */

static gchar *
random_id (const gchar *prefix)
{
  g_autofree gchar *uuid = g_uuid_string_random ();

  return g_strdup_printf ("%s-%s", prefix, uuid);
}

static void
fixture_setup (Fixture *f, const Suite *suite)
{
  f->suite = suite;
  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  beach_queue_config_init_defaults (&f->config);
  f->pb = random_id ("pb");
  f->pb2 = random_id ("pb");
  f->s1 = random_id ("s1");
  f->s2 = random_id ("s2");
  f->events = g_ptr_array_new_with_free_func ((GDestroyNotify) event_free);
}

/* Creates the queue from f->config; FALSE if the backend skips. */
static gboolean
fixture_open (Fixture *f)
{
  f->queue = f->suite->factory (&f->config, f->suite->data);
  if (f->queue == NULL) {
    g_test_skip ("backend not available");
    return FALSE;
  }
  g_assert_true (BEACH_IS_FALLBACK_QUEUE (f->queue));
  g_signal_connect (f->queue, "wake", G_CALLBACK (on_wake), f);
  g_signal_connect (f->queue, "settled", G_CALLBACK (on_settled), f);
  g_signal_connect (f->queue, "dead-lettered", G_CALLBACK (on_dead_lettered), f);
  g_signal_connect (f->queue, "delivered", G_CALLBACK (on_delivered), f);
  g_signal_connect (f->queue, "depth-changed", G_CALLBACK (on_depth_changed), f);
  return TRUE;
}

static gboolean
queue_gone (Fixture *f, gconstpointer data)
{
  return f->queue == NULL;
}

static void
fixture_teardown (Fixture *f)
{
  const gchar *pairs[][2] = {
    { f->pb, f->s1 }, { f->pb, f->s2 }, { f->pb2, f->s1 }, { f->pb2, f->s2 }
  };

  if (f->queue != NULL) {
    /* A persistent backend must not keep what a test left behind. */
    for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
      q_drop_full (f, pairs[i][0], pairs[i][1], BEACH_DEAD_LETTER_REASON_SESSION_DELETED, NULL);
    g_signal_handlers_disconnect_by_data (f->queue, f);
    g_object_add_weak_pointer (G_OBJECT (f->queue), (gpointer *) &f->queue);
    g_object_unref (f->queue);
    iterate_until (f, queue_gone, NULL, OP_TIMEOUT_MS, "the queue to finalize");
  }
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_main_context_pop_thread_default (f->context);
  g_clear_pointer (&f->context, g_main_context_unref);
  g_clear_pointer (&f->events, g_ptr_array_unref);
  g_clear_pointer (&f->pb, g_free);
  g_clear_pointer (&f->pb2, g_free);
  g_clear_pointer (&f->s1, g_free);
  g_clear_pointer (&f->s2, g_free);
}

static void
case_free (Case *c)
{
  g_rc_box_release ((gpointer) c->suite);
  g_free (c);
}

static void
run_case (gconstpointer data)
{
  const Case *c = data;
  Fixture f = { 0 };

  fixture_setup (&f, c->suite);
  c->func (&f);
  fixture_teardown (&f);
}

/* -- tests: basic flow */

static void
test_enqueue_read_ack (Fixture *f)
{
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) again = NULL;
  gint64 before = now_ms (), after;

  if (!fixture_open (f))
    return;
  enqueue_ids_full (f, f->pb, f->s1, &accepted, &duplicates, "a", "b", "c", NULL);
  after = now_ms ();
  assert_strv (accepted, "a", "b", "c", NULL);
  assert_strv (duplicates, NULL);
  assert_stats (f, f->s1, 3, 0);

  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "a", 1, "b", 1, "c", 1, NULL);
  for (guint i = 0; i < entries->len; i++) {
    BeachQueueEntry *e = entry_at (entries, i);
    g_autofree gchar *bytes = g_strdup_printf ("echo %s\n", entry_id (entries, i));

    g_assert_cmpint (e->enqueued_ms, >=, before - 1000);
    g_assert_cmpint (e->enqueued_ms, <=, after + 1000);
    g_assert_cmpstr (beach_action_get_terminal_bytes (e->action), ==, bytes);
  }
  assert_stats (f, f->s1, 3, 3);

  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", "b", "c", NULL), ==, 3);
  assert_stats (f, f->s1, 0, 0);
  again = q_read (f, f->s1, 10);
  g_assert_cmpuint (again->len, ==, 0);
}

static void
test_order (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "m", "z", "a");
  enqueue_ok (f, f->s1, "q");
  enqueue_ok (f, f->s1, "b", "y");
  entries = q_read (f, f->s1, 256);
  assert_entries (entries, "m", 1, "z", 1, "a", 1, "q", 1, "b", 1, "y", 1, NULL);
}

static void
test_read_max (Fixture *f)
{
  g_autoptr (GPtrArray) r1 = NULL;
  g_autoptr (GPtrArray) r2 = NULL;
  g_autoptr (GPtrArray) r3 = NULL;
  g_autoptr (GPtrArray) r4 = NULL;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c", "d", "e");
  r1 = q_read (f, f->s1, 2);
  assert_entries (r1, "a", 1, "b", 1, NULL);
  assert_stats (f, f->s1, 5, 2);
  r2 = q_read (f, f->s1, 2);
  assert_entries (r2, "c", 1, "d", 1, NULL);
  r3 = q_read (f, f->s1, 2);
  assert_entries (r3, "e", 1, NULL);
  /* Delivered and not yet due: nothing left to hand out. */
  r4 = q_read (f, f->s1, 2);
  g_assert_cmpuint (r4->len, ==, 0);
  assert_stats (f, f->s1, 5, 5);
}

static void
test_unknown_session (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) letters = NULL;
  g_autoptr (GError) error = NULL;

  if (!fixture_open (f))
    return;
  entries = q_read (f, f->s1, 10);
  g_assert_cmpuint (entries->len, ==, 0);
  assert_stats (f, f->s1, 0, 0);
  letters = q_dead_letters (f, f->s1, 0);
  g_assert_cmpuint (letters->len, ==, 0);
  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", NULL), ==, 0);
  g_assert_true (q_drop_full (f, f->pb, f->s1, BEACH_DEAD_LETTER_REASON_SESSION_DELETED, &error));
  g_assert_no_error (error);
}

static void
test_backend_identity (Fixture *f)
{
  const BeachQueueConfig *config;
  const gchar *name;

  f->config.cap = 17;
  f->config.reclaim_ms = 1234;
  f->config.max_deliveries = 3;
  f->config.dead_letters_kept = 42;
  if (!fixture_open (f))
    return;
  g_assert_true (beach_fallback_queue_is_available (f->queue));
  name = beach_fallback_queue_get_backend_name (f->queue);
  g_assert_nonnull (name);
  g_assert_cmpstr (name, !=, "");
  config = beach_fallback_queue_get_config (f->queue);
  g_assert_cmpuint (config->cap, ==, 17);
  g_assert_cmpuint (config->reclaim_ms, ==, 1234);
  g_assert_cmpuint (config->max_deliveries, ==, 3);
  g_assert_cmpuint (config->dead_letters_kept, ==, 42);
}

/* -- tests: cap and dedupe */

static void
test_cap_refused_whole (Fixture *f)
{
  g_autoptr (GPtrArray) actions = NULL;
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) late = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  guint wakes;

  f->config.cap = 7;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c", "d", "e");
  wait_event (f, 0, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  wakes = count_events (f, 0, EV_WAKE, f->s1, NULL);

  /* Two would fit; the third refuses the whole call, duplicate included. */
  actions = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (actions, action_new ("f", -1));
  g_ptr_array_add (actions, action_new ("a", -1));
  g_ptr_array_add (actions, action_new ("g", -1));
  g_ptr_array_add (actions, action_new ("h", -1));
  g_assert_false (q_enqueue_full (f, f->pb, f->s1, actions, &accepted, &duplicates, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL);
  g_assert_nonnull (strstr (error->message, "7"));
  g_assert_null (accepted);
  g_assert_null (duplicates);
  g_assert_cmpuint (count_events (f, 0, EV_WAKE, f->s1, NULL), ==, wakes);

  assert_stats (f, f->s1, 5, 0);
  entries = q_read (f, f->s1, 256);
  assert_entries (entries, "a", 1, "b", 1, "c", 1, "d", 1, "e", 1, NULL);

  /* Delivered-unacked entries still count toward the cap. */
  enqueue_ok (f, f->s1, "f", "g");
  g_clear_error (&error);
  g_clear_pointer (&actions, g_ptr_array_unref);
  actions = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (actions, action_new ("h", -1));
  g_assert_false (q_enqueue_full (f, f->pb, f->s1, actions, NULL, NULL, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL);
  late = q_read (f, f->s1, 256);
  assert_entries (late, "f", 1, "g", 1, NULL);
  assert_stats (f, f->s1, 7, 7);
}

static void
test_cap_duplicates_dont_count (Fixture *f)
{
  g_auto (GStrv) acc1 = NULL;
  g_auto (GStrv) dup1 = NULL;
  g_auto (GStrv) acc2 = NULL;
  g_auto (GStrv) dup2 = NULL;

  f->config.cap = 3;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c");
  /* A full queue still answers a call made only of duplicates. */
  enqueue_ids_full (f, f->pb, f->s1, &acc1, &dup1, "a", "b", "c", "a", NULL);
  assert_strv (acc1, NULL);
  assert_strv (dup1, "a", "b", "c", "a", NULL);
  assert_stats (f, f->s1, 3, 0);

  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", NULL), ==, 1);
  enqueue_ids_full (f, f->pb, f->s1, &acc2, &dup2, "b", "d", "d", "c", NULL);
  assert_strv (acc2, "d", NULL);
  assert_strv (dup2, "b", "d", "c", NULL);
  assert_stats (f, f->s1, 3, 0);
}

static void
test_dedupe_outstanding (Fixture *f)
{
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) second = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b");
  first = q_read (f, f->s1, 1);
  assert_entries (first, "a", 1, NULL);
  /* "a" is in flight, "b" queued: both outstanding. */
  enqueue_ids_full (f, f->pb, f->s1, &accepted, &duplicates, "a", "c", "b", NULL);
  assert_strv (accepted, "c", NULL);
  assert_strv (duplicates, "a", "b", NULL);
  second = q_read (f, f->s1, 10);
  assert_entries (second, "b", 1, "c", 1, NULL);
  assert_stats (f, f->s1, 3, 3);
}

static void
test_dedupe_within_call (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;

  if (!fixture_open (f))
    return;
  enqueue_ids_full (f, f->pb, f->s1, &accepted, &duplicates, "x", "y", "x", "x", NULL);
  assert_strv (accepted, "x", "y", NULL);
  assert_strv (duplicates, "x", "x", NULL);
  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "x", 1, "y", 1, NULL);
}

static void
test_dedupe_acked_again (Fixture *f)
{
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) second = NULL;
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b");
  first = q_read (f, f->s1, 10);
  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", NULL), ==, 1);
  g_ptr_array_add (acks, ack_new ("b", BEACH_ACK_STATUS_REJECTED, "nope"));
  g_assert_cmpuint (q_ack_array (f, f->pb, f->s1, acks), ==, 1);
  /* Settled ids, whatever their status, are no longer outstanding. */
  enqueue_ok (f, f->s1, "b", "a");
  second = q_read (f, f->s1, 10);
  assert_entries (second, "b", 1, "a", 1, NULL);
}

/* -- tests: wake and redelivery */

static void
test_wake_on_enqueue (Fixture *f)
{
  guint m;

  if (!fixture_open (f))
    return;
  m = mark (f);
  enqueue_ok (f, f->s1, "a");
  wait_event (f, m, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  g_assert_cmpuint (count_events (f, m, EV_WAKE, f->s2, NULL), ==, 0);
}

static void
test_redelivery_wake (Fixture *f)
{
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) second = NULL;
  Event *wake;
  gint64 t0;
  guint m;

  f->config.reclaim_ms = 200;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a");
  wait_event (f, 0, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  m = mark (f);
  t0 = g_get_monotonic_time ();
  first = q_read (f, f->s1, 10);
  assert_entries (first, "a", 1, NULL);

  /* The first wake after the read is the entry coming due, not a tick. */
  wake = wait_event (f, m, EV_WAKE, f->s1, NULL, timer_timeout (f->config.reclaim_ms));
  g_assert_cmpint (wake->at_us - t0, >=, ((gint64) f->config.reclaim_ms - 10) * 1000);
  second = q_read (f, f->s1, 10);
  assert_entries (second, "a", 2, NULL);
}

static Event *
first_event (Fixture *f, guint from, EvKind kind, const gchar *sid, const gchar *action_id)
{
  EventQuery q = { from, kind, NULL, sid, action_id, -1, -1 };
  gint i = find_event (f, &q);

  g_assert_cmpint (i, >=, 0);
  return g_ptr_array_index (f->events, i);
}

static void
test_redelivery_keeps_place (Fixture *f)
{
  g_autoptr (GPtrArray) r1 = NULL;
  g_autoptr (GPtrArray) r2 = NULL;
  g_autoptr (GPtrArray) r3 = NULL;
  guint m;

  f->config.reclaim_ms = 150;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c");
  wait_event (f, 0, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  m = mark (f);
  r1 = q_read (f, f->s1, 1);
  assert_entries (r1, "a", 1, NULL);
  g_assert_false (first_event (f, m, EV_DELIVERED, f->s1, "a")->redelivery);
  /* Not due yet: the others come, "a" does not. */
  r2 = q_read (f, f->s1, 1);
  assert_entries (r2, "b", 1, NULL);

  m = mark (f);
  wait_event (f, m, EV_WAKE, f->s1, NULL, timer_timeout (f->config.reclaim_ms));
  /* Due again, "a" still comes before the never-delivered "c"; "b" may or
   * may not be due yet, but never before "a". */
  r3 = q_read (f, f->s1, 10);
  g_assert_cmpuint (r3->len, >=, 2);
  g_assert_cmpstr (entry_id (r3, 0), ==, "a");
  g_assert_cmpuint (entry_at (r3, 0)->deliveries, ==, 2);
  g_assert_cmpstr (entry_id (r3, r3->len - 1), ==, "c");
  g_assert_cmpuint (entry_at (r3, r3->len - 1)->deliveries, ==, 1);
  g_assert_true (first_event (f, m, EV_DELIVERED, f->s1, "a")->redelivery);
  g_assert_false (first_event (f, m, EV_DELIVERED, f->s1, "c")->redelivery);
  assert_stats (f, f->s1, 3, 3);
}

/* -- tests: dead letters */

static void
test_dead_letter_max_deliveries (Fixture *f)
{
  g_autoptr (GPtrArray) after = NULL;
  g_autoptr (GPtrArray) letters = NULL;
  BeachDeadLetter *letter;
  gint64 start = now_ms ();
  Event *ev;
  guint m = 0;

  f->config.reclaim_ms = 100;
  f->config.max_deliveries = 5;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a");
  wait_event (f, 0, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  for (guint i = 1; i <= f->config.max_deliveries; i++) {
    g_autoptr (GPtrArray) entries = NULL;

    m = mark (f);
    entries = q_read (f, f->s1, 10);
    assert_entries (entries, "a", i, NULL);
    if (i < f->config.max_deliveries)
      wait_event (f, m, EV_WAKE, f->s1, NULL, timer_timeout (f->config.reclaim_ms));
  }
  /* The last delivery goes unacked past the reclaim time: dead, unread. */
  ev = wait_event (f, m, EV_DEAD_LETTERED, f->s1, "a", timer_timeout (f->config.reclaim_ms));
  g_assert_cmpint (ev->code, ==, BEACH_DEAD_LETTER_REASON_MAX_DELIVERIES);
  g_assert_cmpuint (count_events (f, m, EV_WAKE, f->s1, NULL), ==, 0);
  wait_depth (f, m, f->s1, 0, 0);

  after = q_read (f, f->s1, 10);
  g_assert_cmpuint (after->len, ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "a"), ==, f->config.max_deliveries);
  g_assert_cmpuint (count_events (f, 0, EV_SETTLED, f->s1, "a"), ==, 0);
  assert_stats (f, f->s1, 0, 0);

  letters = q_dead_letters (f, f->s1, 0);
  g_assert_cmpuint (letters->len, ==, 1);
  letter = g_ptr_array_index (letters, 0);
  g_assert_cmpstr (letter->id, ==, "a");
  g_assert_cmpstr (beach_action_get_id (letter->action), ==, "a");
  g_assert_cmpstr (beach_action_get_terminal_bytes (letter->action), ==, "echo a\n");
  g_assert_cmpint (letter->reason, ==, BEACH_DEAD_LETTER_REASON_MAX_DELIVERIES);
  g_assert_cmpint (letter->at_ms, >=, start);
  g_assert_cmpint (letter->at_ms, <=, now_ms ());
}

/* Reads @id once and waits for it to be dead-lettered (max_deliveries 1). */
static BeachDeadLetter *
dead_letter_one (Fixture *f, const gchar *id, GPtrArray **out_letters)
{
  g_autoptr (GPtrArray) entries = NULL;
  guint m = mark (f);

  enqueue_ok (f, f->s1, id);
  entries = q_read (f, f->s1, 10);
  assert_entries (entries, id, 1, NULL);
  wait_event (f, m, EV_DEAD_LETTERED, f->s1, id, timer_timeout (f->config.reclaim_ms));
  *out_letters = q_dead_letters (f, f->s1, 0);
  g_assert_cmpuint ((*out_letters)->len, >=, 1);
  return g_ptr_array_index (*out_letters, (*out_letters)->len - 1);
}

static void
assert_letters_since (Fixture *f, gint64 since_ms, const gchar *first, ...)
{
  g_autoptr (GPtrArray) letters = q_dead_letters (f, f->s1, since_ms);
  va_list ap;
  guint i = 0;

  va_start (ap, first);
  for (const gchar *id = first; id != NULL; id = va_arg (ap, const gchar *), i++) {
    g_assert_cmpuint (i, <, letters->len);
    g_assert_cmpstr (letter_id (letters, i), ==, id);
  }
  va_end (ap);
  g_assert_cmpuint (letters->len, ==, i);
}

static void
test_dead_letter_since (Fixture *f)
{
  g_autoptr (GPtrArray) la = NULL;
  g_autoptr (GPtrArray) lb = NULL;
  gint64 at_a, at_b;

  f->config.reclaim_ms = 100;
  f->config.max_deliveries = 1;
  if (!fixture_open (f))
    return;
  at_a = dead_letter_one (f, "a", &la)->at_ms;
  at_b = dead_letter_one (f, "b", &lb)->at_ms;
  /* "b" was read after "a" died and idled a whole reclaim time. */
  g_assert_cmpint (at_b, >, at_a);

  assert_letters_since (f, 0, "a", "b", NULL);
  assert_letters_since (f, at_a, "a", "b", NULL);
  assert_letters_since (f, at_a + 1, "b", NULL);
  assert_letters_since (f, at_b, "b", NULL);
  assert_letters_since (f, at_b + 1, NULL);
}

static void
test_dead_letter_kept_bound (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;
  guint m;

  f->config.reclaim_ms = 100;
  f->config.max_deliveries = 1;
  f->config.dead_letters_kept = 3;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c", "d", "e");
  m = mark (f);
  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "a", 1, "b", 1, "c", 1, "d", 1, "e", 1, NULL);
  wait_depth (f, m, f->s1, 0, 0);
  g_assert_cmpuint (count_events (f, m, EV_DEAD_LETTERED, f->s1, NULL), ==, 5);
  /* Only the newest are kept. */
  assert_letters_since (f, 0, "c", "d", "e", NULL);
}

/* -- tests: expiry */

static void
test_expiry_undelivered (Fixture *f)
{
  g_autoptr (GPtrArray) actions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  gint64 t0 = now_ms ();
  Event *ev;

  if (!fixture_open (f))
    return;
  g_ptr_array_add (actions, action_new ("a", t0 + 250));
  g_ptr_array_add (actions, action_new ("b", -1));
  g_assert_true (q_enqueue_full (f, f->pb, f->s1, actions, NULL, NULL, &error));
  g_assert_no_error (error);

  /* Settled by the queue's own timer: nobody reads meanwhile. */
  ev = wait_event (f, 0, EV_SETTLED, f->s1, "a", timer_timeout (250));
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_EXPIRED);
  g_assert_null (ev->error_code);
  g_assert_cmpint (ev->enqueued_ms, >=, t0 - 1000);
  g_assert_cmpint (ev->enqueued_ms, <=, t0 + 1000);
  g_assert_cmpint (now_ms (), >, t0 + 250);
  wait_depth (f, 0, f->s1, 1, 0);

  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "b", 1, NULL);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "a"), ==, 0);
  assert_stats (f, f->s1, 1, 1);
}

static void
test_expiry_due_for_redelivery (Fixture *f)
{
  g_autoptr (GPtrArray) actions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) after = NULL;
  g_autoptr (GError) error = NULL;
  gint64 t_read;
  Event *ev;
  guint m;

  f->config.reclaim_ms = 1000;
  if (!fixture_open (f))
    return;
  g_ptr_array_add (actions, action_new ("a", now_ms () + 400));
  g_assert_true (q_enqueue_full (f, f->pb, f->s1, actions, NULL, NULL, &error));
  g_assert_no_error (error);
  m = mark (f);
  t_read = g_get_monotonic_time ();
  first = q_read (f, f->s1, 10);
  assert_entries (first, "a", 1, NULL);

  /* Expired while in flight, it is settled only once it would be due for
   * redelivery, and never handed out again. */
  ev = wait_event (f, m, EV_SETTLED, f->s1, "a", timer_timeout (f->config.reclaim_ms));
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_EXPIRED);
  g_assert_cmpint (ev->at_us - t_read, >=, ((gint64) f->config.reclaim_ms - 10) * 1000);
  wait_depth (f, m, f->s1, 0, 0);
  after = q_read (f, f->s1, 10);
  g_assert_cmpuint (after->len, ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "a"), ==, 1);
  g_assert_cmpuint (count_events (f, 0, EV_DEAD_LETTERED, f->s1, "a"), ==, 0);
  assert_stats (f, f->s1, 0, 0);
}

static void
test_expiry_at_enqueue (Fixture *f)
{
  g_autoptr (GPtrArray) actions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  Event *ev;

  if (!fixture_open (f))
    return;
  g_ptr_array_add (actions, action_new ("a", now_ms () - 1000));
  g_ptr_array_add (actions, action_new ("b", -1));
  g_assert_true (q_enqueue_full (f, f->pb, f->s1, actions, &accepted, &duplicates, &error));
  g_assert_no_error (error);
  assert_strv (accepted, "a", "b", NULL);
  assert_strv (duplicates, NULL);
  ev = wait_event (f, 0, EV_SETTLED, f->s1, "a", OP_TIMEOUT_MS);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_EXPIRED);

  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "b", 1, NULL);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "a"), ==, 0);
  assert_stats (f, f->s1, 1, 1);
}

/* -- tests: acks */

static void
test_ack_statuses_final (Fixture *f)
{
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) again = NULL;
  const BeachAckStatus statuses[] = { BEACH_ACK_STATUS_OK, BEACH_ACK_STATUS_REJECTED,
                                      BEACH_ACK_STATUS_EXPIRED, BEACH_ACK_STATUS_PREEMPTED };
  const gchar *ids[] = { "a", "b", "c", "d" };
  guint m;

  f->config.reclaim_ms = 150;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c", "d", "e");
  entries = q_read (f, f->s1, 10);
  g_assert_cmpuint (entries->len, ==, 5);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    g_ptr_array_add (acks, ack_new (ids[i], statuses[i], i == 1 ? "E_REFUSED" : NULL));
  m = mark (f);
  g_assert_cmpuint (q_ack_array (f, f->pb, f->s1, acks), ==, 4);

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    Event *ev = wait_event (f, m, EV_SETTLED, f->s1, ids[i], OP_TIMEOUT_MS);

    g_assert_cmpint (ev->code, ==, statuses[i]);
    g_assert_cmpstr (ev->error_code, ==, i == 1 ? "E_REFUSED" : NULL);
    g_assert_cmpint (ev->enqueued_ms, ==, entry_at (entries, i)->enqueued_ms);
  }
  wait_depth (f, m, f->s1, 1, 1);
  assert_stats (f, f->s1, 1, 1);

  /* Past the reclaim time only the unacked "e" comes back. */
  m = mark (f);
  wait_event (f, m, EV_WAKE, f->s1, NULL, timer_timeout (f->config.reclaim_ms));
  again = q_read (f, f->s1, 10);
  assert_entries (again, "e", 2, NULL);
}

static void
test_ack_unknown_not_counted (Fixture *f)
{
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b");
  g_assert_cmpuint (q_ack_ok (f, f->s1, "nope", "a", "a", "zzz", NULL), ==, 1);
  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", NULL), ==, 0);
  g_assert_cmpuint (q_ack_ok (f, f->s2, "b", NULL), ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_SETTLED, f->s1, "a"), ==, 1);
  assert_stats (f, f->s1, 1, 0);
}

static void
test_ack_undelivered (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c");
  /* An ack settles its id wherever it is, handed out or not. */
  g_assert_cmpuint (q_ack_ok (f, f->s1, "b", NULL), ==, 1);
  assert_stats (f, f->s1, 2, 0);
  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "a", 1, "c", 1, NULL);
}

/* -- tests: sessions */

static void
test_drop_session (Fixture *f)
{
  g_autoptr (GPtrArray) la = NULL;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) letters = NULL;
  g_auto (GStrv) accepted = NULL;
  g_auto (GStrv) duplicates = NULL;
  const gchar *order[] = { "a", "b", "c" };
  guint m, seen = 0;

  /* Long enough that "a" cannot die of max_deliveries before the drop. */
  f->config.reclaim_ms = 500;
  f->config.max_deliveries = 1;
  if (!fixture_open (f))
    return;
  dead_letter_one (f, "z", &la);
  enqueue_ok (f, f->s1, "a", "b", "c");
  first = q_read (f, f->s1, 1);
  assert_entries (first, "a", 1, NULL);

  m = mark (f);
  q_drop (f, f->s1, BEACH_DEAD_LETTER_REASON_SESSION_DELETED);
  wait_event (f, m, EV_DEAD_LETTERED, f->s1, "c", OP_TIMEOUT_MS);
  for (guint i = m; i < f->events->len; i++) {
    Event *ev = g_ptr_array_index (f->events, i);

    if (ev->kind != EV_DEAD_LETTERED)
      continue;
    g_assert_cmpuint (seen, <, G_N_ELEMENTS (order));
    g_assert_cmpstr (ev->action_id, ==, order[seen++]);
    g_assert_cmpint (ev->code, ==, BEACH_DEAD_LETTER_REASON_SESSION_DELETED);
  }
  g_assert_cmpuint (seen, ==, 3);
  wait_depth (f, m, f->s1, 0, 0);
  assert_stats (f, f->s1, 0, 0);
  /* Its dead letters went with it. */
  letters = q_dead_letters (f, f->s1, 0);
  g_assert_cmpuint (letters->len, ==, 0);

  enqueue_ids_full (f, f->pb, f->s1, &accepted, &duplicates, "a", NULL);
  assert_strv (accepted, "a", NULL);
}

static void
test_sessions_isolated (Fixture *f)
{
  g_autoptr (GPtrArray) r2 = NULL;
  g_autoptr (GPtrArray) r3 = NULL;
  g_autoptr (GPtrArray) letters = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) more = NULL;

  f->config.cap = 2;
  if (!fixture_open (f))
    return;
  /* Same ids everywhere, the same session id under two private beaches. */
  enqueue_ok (f, f->s1, "a", "b");
  enqueue_ok (f, f->s2, "a", "b");
  enqueue_ids_full (f, f->pb2, f->s1, NULL, NULL, "a", NULL);
  more = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (more, action_new ("c", -1));
  g_assert_false (q_enqueue_full (f, f->pb, f->s1, more, NULL, NULL, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL);

  r2 = q_read (f, f->s2, 10);
  assert_entries (r2, "a", 1, "b", 1, NULL);
  assert_stats (f, f->s1, 2, 0);
  assert_stats (f, f->s2, 2, 2);
  assert_stats_full (f, f->pb2, f->s1, 1, 0);

  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", NULL), ==, 1);
  assert_stats (f, f->s2, 2, 2);
  assert_stats_full (f, f->pb2, f->s1, 1, 0);

  q_drop (f, f->s2, BEACH_DEAD_LETTER_REASON_SESSION_EXPIRED);
  assert_stats (f, f->s1, 1, 0);
  r3 = q_read_full (f, f->pb2, f->s1, 10);
  assert_entries (r3, "a", 1, NULL);
  letters = q_dead_letters (f, f->s1, 0);
  g_assert_cmpuint (letters->len, ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_DEAD_LETTERED, f->s1, NULL), ==, 0);
}

/* -- tests: signal arguments */

static void
test_signal_arguments (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);
  Event *ev;
  guint m;

  if (!fixture_open (f))
    return;
  m = mark (f);
  enqueue_ok (f, f->s1, "a", "b");
  ev = wait_event (f, m, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  g_assert_cmpstr (ev->private_beach_id, ==, f->pb);
  wait_depth (f, m, f->s1, 2, 0);

  m = mark (f);
  entries = q_read (f, f->s1, 1);
  ev = wait_event (f, m, EV_DELIVERED, f->s1, "a", OP_TIMEOUT_MS);
  g_assert_false (ev->redelivery);
  g_assert_cmpuint (count_events (f, m, EV_DELIVERED, f->s1, "b"), ==, 0);
  wait_depth (f, m, f->s1, 2, 1);

  m = mark (f);
  g_ptr_array_add (acks, ack_new ("a", BEACH_ACK_STATUS_REJECTED, "E_BUSY"));
  g_assert_cmpuint (q_ack_array (f, f->pb, f->s1, acks), ==, 1);
  ev = wait_event (f, m, EV_SETTLED, f->s1, "a", OP_TIMEOUT_MS);
  g_assert_cmpstr (ev->private_beach_id, ==, f->pb);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_REJECTED);
  g_assert_cmpstr (ev->error_code, ==, "E_BUSY");
  g_assert_cmpint (ev->enqueued_ms, ==, entry_at (entries, 0)->enqueued_ms);
  wait_depth (f, m, f->s1, 1, 0);

  m = mark (f);
  g_assert_cmpuint (q_ack_ok (f, f->s1, "b", NULL), ==, 1);
  ev = wait_event (f, m, EV_SETTLED, f->s1, "b", OP_TIMEOUT_MS);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_OK);
  g_assert_null (ev->error_code);
  wait_depth (f, m, f->s1, 0, 0);
}

/* -- tests: requeue (fast-path demotion) */

/* Appends a requeue entry for @id accepted at @enqueued_ms. */
static void
requeue_entry_add (GPtrArray *entries, const gchar *id, gint64 expires_at_ms, gint64 enqueued_ms)
{
  BeachQueueEntry *entry = g_new0 (BeachQueueEntry, 1);

  entry->action = action_new (id, expires_at_ms);
  entry->enqueued_ms = enqueued_ms;
  /* Ignored by requeue: a requeued entry has not been read from the queue. */
  entry->deliveries = 7;
  g_ptr_array_add (entries, entry);
}

static GPtrArray *
requeue_entries_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) beach_queue_entry_free);
}

static gboolean
q_requeue_full (Fixture *f, const gchar *pb, const gchar *sid, GPtrArray *entries, guint *requeued, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  beach_fallback_queue_requeue_async (f->queue, pb, sid, entries, NULL, store_result_cb, f);
  result = wait_result (f, "requeue");
  return beach_fallback_queue_requeue_finish (f->queue, result, requeued, error);
}

/* Requeues @entries on (f->pb, @sid), asserts success, returns the count. */
static guint
q_requeue (Fixture *f, const gchar *sid, GPtrArray *entries)
{
  g_autoptr (GError) error = NULL;
  guint requeued = G_MAXUINT;

  g_assert_true (q_requeue_full (f, f->pb, sid, entries, &requeued, &error));
  g_assert_no_error (error);
  return requeued;
}

/* Requeues the NULL-terminated ids (no expiry), each accepted at
 * @enqueued_ms; returns the count. */
static guint
requeue_ids (Fixture *f, const gchar *sid, gint64 enqueued_ms, const gchar *first, ...)
{
  g_autoptr (GPtrArray) entries = requeue_entries_new ();
  va_list ap;

  va_start (ap, first);
  for (const gchar *id = first; id != NULL; id = va_arg (ap, const gchar *))
    requeue_entry_add (entries, id, -1, enqueued_ms);
  va_end (ap);
  return q_requeue (f, sid, entries);
}

static void
test_requeue_past_cap (Fixture *f)
{
  g_autoptr (GPtrArray) more = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  guint m;

  f->config.cap = 3;
  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b", "c");
  m = mark (f);
  /* Accepted already: the cap does not refuse them. */
  g_assert_cmpuint (requeue_ids (f, f->s1, now_ms () - 100, "d", "e", NULL), ==, 2);
  wait_depth (f, m, f->s1, 5, 0);
  assert_stats (f, f->s1, 5, 0);

  /* An enqueue still honours the cap, now more than used up. */
  g_ptr_array_add (more, action_new ("f", -1));
  g_assert_false (q_enqueue_full (f, f->pb, f->s1, more, NULL, NULL, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_QUEUE_FULL);
  assert_stats (f, f->s1, 5, 0);
  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "a", 1, "b", 1, "c", 1, "d", 1, "e", 1, NULL);
}

static void
test_requeue_order (Fixture *f)
{
  g_autoptr (GPtrArray) r1 = NULL;
  g_autoptr (GPtrArray) r2 = NULL;
  g_autoptr (GPtrArray) r3 = NULL;
  gint64 t = now_ms () - 500;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "m", "z");
  r1 = q_read (f, f->s1, 1);
  assert_entries (r1, "m", 1, NULL);
  /* Behind what is queued, in the given order, not sorted. */
  g_assert_cmpuint (requeue_ids (f, f->s1, t, "y", "a", "q", NULL), ==, 3);
  /* A newer enqueue lands behind the requeued ones. */
  enqueue_ok (f, f->s1, "b");
  r2 = q_read (f, f->s1, 10);
  assert_entries (r2, "z", 1, "y", 1, "a", 1, "q", 1, "b", 1, NULL);
  assert_stats (f, f->s1, 6, 6);

  /* An unknown session is an empty queue: requeue starts it. */
  g_assert_cmpuint (requeue_ids (f, f->s2, t, "x", "w", NULL), ==, 2);
  r3 = q_read (f, f->s2, 10);
  assert_entries (r3, "x", 1, "w", 1, NULL);
}

static void
test_requeue_keeps_enqueued_ms (Fixture *f)
{
  g_autoptr (GPtrArray) requeue = requeue_entries_new ();
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) acks = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 t = now_ms ();
  gint64 at_a = t - 5000, at_b = t - 3217;
  Event *ev;
  guint m;

  if (!fixture_open (f))
    return;
  requeue_entry_add (requeue, "a", -1, at_a);
  requeue_entry_add (requeue, "b", t + 60000, at_b);
  g_assert_cmpuint (q_requeue (f, f->s1, requeue), ==, 2);

  entries = q_read (f, f->s1, 10);
  /* Delivery counts start over: the host never read these from the queue. */
  assert_entries (entries, "a", 1, "b", 1, NULL);
  g_assert_cmpint (entry_at (entries, 0)->enqueued_ms, ==, at_a);
  g_assert_cmpint (entry_at (entries, 1)->enqueued_ms, ==, at_b);
  g_assert_cmpint (beach_action_get_expires_at_ms (entry_at (entries, 1)->action), ==, t + 60000);

  m = mark (f);
  g_ptr_array_add (acks, ack_new ("a", BEACH_ACK_STATUS_OK, NULL));
  g_ptr_array_add (acks, ack_new ("b", BEACH_ACK_STATUS_REJECTED, "E_NOPE"));
  g_assert_cmpuint (q_ack_array (f, f->pb, f->s1, acks), ==, 2);
  ev = wait_event (f, m, EV_SETTLED, f->s1, "a", OP_TIMEOUT_MS);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_OK);
  g_assert_cmpint (ev->enqueued_ms, ==, at_a);
  ev = wait_event (f, m, EV_SETTLED, f->s1, "b", OP_TIMEOUT_MS);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_REJECTED);
  g_assert_cmpint (ev->enqueued_ms, ==, at_b);
  wait_depth (f, m, f->s1, 0, 0);
}

static void
test_requeue_skips_outstanding (Fixture *f)
{
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) second = NULL;
  g_autoptr (GPtrArray) third = NULL;
  gint64 t = now_ms () - 100;
  guint m;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a", "b");
  first = q_read (f, f->s1, 1);
  assert_entries (first, "a", 1, NULL);
  /* "a" is in flight, "b" queued: both outstanding. An id repeated in the
   * call counts once. */
  g_assert_cmpuint (requeue_ids (f, f->s1, t, "a", "c", "b", "c", "d", NULL), ==, 2);
  assert_stats (f, f->s1, 4, 1);
  second = q_read (f, f->s1, 10);
  assert_entries (second, "b", 1, "c", 1, "d", 1, NULL);

  /* Nothing new: no wake, numbers unchanged. */
  m = mark (f);
  g_assert_cmpuint (requeue_ids (f, f->s1, t, "d", "a", NULL), ==, 0);
  assert_stats (f, f->s1, 4, 4);
  g_assert_cmpuint (count_events (f, m, EV_WAKE, f->s1, NULL), ==, 0);
  g_assert_cmpuint (count_events (f, m, EV_DEPTH_CHANGED, f->s1, NULL), ==, 0);

  /* A settled id is no longer outstanding. */
  g_assert_cmpuint (q_ack_ok (f, f->s1, "a", NULL), ==, 1);
  g_assert_cmpuint (requeue_ids (f, f->s1, t, "a", NULL), ==, 1);
  third = q_read (f, f->s1, 10);
  assert_entries (third, "a", 1, NULL);
  assert_stats (f, f->s1, 4, 4);
}

static void
test_requeue_expired (Fixture *f)
{
  g_autoptr (GPtrArray) requeue = requeue_entries_new ();
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) after = NULL;
  gint64 t;
  Event *ev;
  guint m;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "c");
  m = mark (f);
  t = now_ms ();
  requeue_entry_add (requeue, "a", t - 1000, t - 4000);
  requeue_entry_add (requeue, "b", -1, t - 3000);
  /* Outstanding wins over expired: skipped, not settled. */
  requeue_entry_add (requeue, "c", t - 1000, t - 2000);
  requeue_entry_add (requeue, "d", t + 400, t - 1000);
  /* Settled, not appended. */
  g_assert_cmpuint (q_requeue (f, f->s1, requeue), ==, 2);

  ev = wait_event (f, m, EV_SETTLED, f->s1, "a", OP_TIMEOUT_MS);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_EXPIRED);
  g_assert_null (ev->error_code);
  g_assert_cmpint (ev->enqueued_ms, ==, t - 4000);
  g_assert_cmpuint (count_events (f, m, EV_SETTLED, f->s1, "c"), ==, 0);
  wait_depth (f, m, f->s1, 3, 0);

  /* "d" expires in the queue, by the queue's own timer. */
  ev = wait_event (f, m, EV_SETTLED, f->s1, "d", timer_timeout (400));
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_EXPIRED);
  g_assert_cmpint (ev->enqueued_ms, ==, t - 1000);
  wait_depth (f, m, f->s1, 2, 0);

  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "c", 1, "b", 1, NULL);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "a"), ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "d"), ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_SETTLED, f->s1, "a"), ==, 1);
  assert_stats (f, f->s1, 2, 2);
  /* Settled: requeueing it again settles it again, and never queues it. */
  g_clear_pointer (&requeue, g_ptr_array_unref);
  requeue = requeue_entries_new ();
  requeue_entry_add (requeue, "a", t - 1000, t - 4000);
  g_assert_cmpuint (q_requeue (f, f->s1, requeue), ==, 0);
  after = q_read (f, f->s1, 10);
  g_assert_cmpuint (after->len, ==, 0);
  g_assert_cmpuint (count_events (f, 0, EV_DELIVERED, f->s1, "a"), ==, 0);
}

static void
test_requeue_signals (Fixture *f)
{
  Event *ev;
  guint m;

  if (!fixture_open (f))
    return;
  enqueue_ok (f, f->s1, "a");
  wait_depth (f, 0, f->s1, 1, 0);
  m = mark (f);
  g_assert_cmpuint (requeue_ids (f, f->s1, now_ms () - 100, "b", "c", NULL), ==, 2);
  ev = wait_event (f, m, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  g_assert_cmpstr (ev->private_beach_id, ==, f->pb);
  wait_depth (f, m, f->s1, 3, 0);
  g_assert_cmpuint (count_events (f, m, EV_WAKE, f->s2, NULL), ==, 0);
  g_assert_cmpuint (count_events (f, m, EV_DEPTH_CHANGED, f->s2, NULL), ==, 0);
  g_assert_cmpuint (count_events (f, m, EV_SETTLED, f->s1, NULL), ==, 0);

  /* An empty call changes nothing and wakes nobody. */
  m = mark (f);
  g_assert_cmpuint (requeue_ids (f, f->s2, 0, NULL), ==, 0);
  assert_stats (f, f->s2, 0, 0);
  g_assert_cmpuint (count_events (f, m, EV_WAKE, f->s2, NULL), ==, 0);
  g_assert_cmpuint (count_events (f, m, EV_DEPTH_CHANGED, f->s2, NULL), ==, 0);
}

/* -- fast-path in-flight records */

static guint
q_recover (Fixture *f)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  guint requeued = G_MAXUINT;

  beach_fallback_queue_recover_in_flight_async (f->queue, NULL, store_result_cb, f);
  result = wait_result (f, "recover_in_flight");
  g_assert_true (beach_fallback_queue_recover_in_flight_finish (f->queue, result, &requeued, &error));
  g_assert_no_error (error);
  return requeued;
}

static void
track (Fixture *f, const gchar *sid, const gchar *id, gint64 expires_at_ms, gint64 enqueued_ms, guint64 seq)
{
  g_autoptr (BeachAction) action = action_new (id, expires_at_ms);

  beach_fallback_queue_track_in_flight (f->queue, f->pb, sid, action, enqueued_ms, seq);
}

/* Opens the queue; FALSE (skipped) for a backend without in-flight
 * records. */
static gboolean
open_in_flight (Fixture *f)
{
  if (!fixture_open (f))
    return FALSE;
  if (g_strcmp0 (beach_fallback_queue_get_backend_name (f->queue), "memory") == 0) {
    g_test_skip ("the memory backend loses in-flight actions on a crash: nothing to recover");
    return FALSE;
  }
  return TRUE;
}

static void
test_in_flight_recover (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GPtrArray) other = NULL;
  gint64 t = now_ms ();
  Event *ev;
  guint m;

  if (!open_in_flight (f))
    return;
  enqueue_ok (f, f->s1, "q");
  /* Recorded out of seq order; "b" left the table (acked). "q" is queued
   * already: an earlier demotion got it there before the crash. The
   * records are fire-and-forget, but on one connection, in order. */
  track (f, f->s1, "c", -1, t - 1000, 30);
  track (f, f->s1, "a", -1, t - 3000, 10);
  track (f, f->s1, "b", -1, t - 2000, 20);
  track (f, f->s1, "q", -1, t - 4000, 5);
  track (f, f->s2, "x", t + 60000, t - 500, 1);
  beach_fallback_queue_untrack_in_flight (f->queue, f->pb, f->s1, "b");

  /* The queue keeps no in-flight state in memory: this object stands for
   * the fresh one of a restarted manager on the same Redis. */
  m = mark (f);
  g_assert_cmpuint (q_recover (f), ==, 3);
  ev = wait_event (f, m, EV_WAKE, f->s1, NULL, OP_TIMEOUT_MS);
  g_assert_cmpstr (ev->private_beach_id, ==, f->pb);
  wait_depth (f, m, f->s1, 3, 0);
  wait_event (f, m, EV_WAKE, f->s2, NULL, OP_TIMEOUT_MS);
  wait_depth (f, m, f->s2, 1, 0);

  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "q", 1, "a", 1, "c", 1, NULL);
  g_assert_cmpint (entry_at (entries, 1)->enqueued_ms, ==, t - 3000);
  g_assert_cmpint (entry_at (entries, 2)->enqueued_ms, ==, t - 1000);
  other = q_read (f, f->s2, 10);
  assert_entries (other, "x", 1, NULL);
  g_assert_cmpint (entry_at (other, 0)->enqueued_ms, ==, t - 500);
  g_assert_cmpint (beach_action_get_expires_at_ms (entry_at (other, 0)->action), ==, t + 60000);

  /* The records are gone: nothing twice. */
  m = mark (f);
  g_assert_cmpuint (q_recover (f), ==, 0);
  assert_stats (f, f->s1, 3, 3);
  g_assert_cmpuint (count_events (f, m, EV_WAKE, f->s1, NULL), ==, 0);
}

static void
test_in_flight_expired (Fixture *f)
{
  g_autoptr (GPtrArray) entries = NULL;
  gint64 t = now_ms ();
  Event *ev;
  guint m;

  if (!open_in_flight (f))
    return;
  track (f, f->s1, "old", t - 1000, t - 5000, 1);
  track (f, f->s1, "new", -1, t - 100, 2);
  track (f, f->s1, "gone", -1, t - 100, 3);
  beach_fallback_queue_untrack_in_flight (f->queue, f->pb, f->s1, "gone");
  m = mark (f);
  /* Settled expired, not queued; untracked ones are not recovered. */
  g_assert_cmpuint (q_recover (f), ==, 1);
  ev = wait_event (f, m, EV_SETTLED, f->s1, "old", OP_TIMEOUT_MS);
  g_assert_cmpint (ev->code, ==, BEACH_ACK_STATUS_EXPIRED);
  g_assert_cmpint (ev->enqueued_ms, ==, t - 5000);
  entries = q_read (f, f->s1, 10);
  assert_entries (entries, "new", 1, NULL);
  g_assert_cmpuint (count_events (f, 0, EV_SETTLED, f->s1, "gone"), ==, 0);
}

/* -- registration */

static const struct {
  const gchar *path;
  CaseFunc func;
} cases[] = {
  { "/flow/enqueue-read-ack", test_enqueue_read_ack },
  { "/flow/order", test_order },
  { "/flow/read-max", test_read_max },
  { "/flow/unknown-session", test_unknown_session },
  { "/flow/backend-identity", test_backend_identity },
  { "/cap/refused-whole", test_cap_refused_whole },
  { "/cap/duplicates-dont-count", test_cap_duplicates_dont_count },
  { "/dedupe/outstanding", test_dedupe_outstanding },
  { "/dedupe/within-call", test_dedupe_within_call },
  { "/dedupe/settled-id-again", test_dedupe_acked_again },
  { "/wake/enqueue", test_wake_on_enqueue },
  { "/redelivery/wake-when-due", test_redelivery_wake },
  { "/redelivery/keeps-place", test_redelivery_keeps_place },
  { "/dead-letter/max-deliveries", test_dead_letter_max_deliveries },
  { "/dead-letter/since", test_dead_letter_since },
  { "/dead-letter/kept-bound", test_dead_letter_kept_bound },
  { "/expiry/undelivered", test_expiry_undelivered },
  { "/expiry/due-for-redelivery", test_expiry_due_for_redelivery },
  { "/expiry/at-enqueue", test_expiry_at_enqueue },
  { "/ack/statuses-final", test_ack_statuses_final },
  { "/ack/unknown-not-counted", test_ack_unknown_not_counted },
  { "/ack/undelivered", test_ack_undelivered },
  { "/session/drop", test_drop_session },
  { "/session/isolated", test_sessions_isolated },
  { "/signals/arguments", test_signal_arguments },
  { "/requeue/past-cap", test_requeue_past_cap },
  { "/requeue/order", test_requeue_order },
  { "/requeue/keeps-enqueued-ms", test_requeue_keeps_enqueued_ms },
  { "/requeue/skips-outstanding", test_requeue_skips_outstanding },
  { "/requeue/expired", test_requeue_expired },
  { "/requeue/signals", test_requeue_signals },
  { "/in-flight/recover", test_in_flight_recover },
  { "/in-flight/expired", test_in_flight_expired },
};

void
queue_conformance_add_tests (const gchar *prefix,
                             BeachFallbackQueue *(*factory) (const BeachQueueConfig *config, gpointer data),
                             gpointer data)
{
  /* Each case holds a reference, so the suite goes with the last one. */
  Suite *suite = g_rc_box_new0 (Suite);

  suite->factory = factory;
  suite->data = data;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *path = g_strconcat (prefix, cases[i].path, NULL);
    Case *c = g_new0 (Case, 1);

    c->suite = g_rc_box_acquire (suite);
    c->func = cases[i].func;
    g_test_add_data_func_full (path, c, run_case, (GDestroyNotify) case_free);
  }
  g_rc_box_release (suite);
}
