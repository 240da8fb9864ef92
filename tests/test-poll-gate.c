/* test-poll-gate.c: BeachPollGate, its transition table input by input
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "beach.h"

#define MS(x) ((gint64) 1000 * (x))
/* A monotonic origin that is not 0, so nothing can lean on "0 means unset". */
#define T0 MS (1000000)

#define POLLING     BEACH_POLL_GATE_STATE_POLLING
#define BACKING_OFF BEACH_POLL_GATE_STATE_BACKING_OFF
#define PAUSED      BEACH_POLL_GATE_STATE_PAUSED
#define POLL        BEACH_POLL_GATE_STEP_POLL
#define CHECK       BEACH_POLL_GATE_STEP_CHECK
#define WAIT        BEACH_POLL_GATE_STEP_WAIT
#define REQ_POLL    BEACH_POLL_GATE_REQUEST_POLL
#define REQ_ACK     BEACH_POLL_GATE_REQUEST_ACK
#define REQ_CHECK   BEACH_POLL_GATE_REQUEST_CHECK
#define NO_REQUEST  (-1)

/* Counts notify::state and notify::reason, and the states the handler saw. */
typedef struct {
  guint state_notifies;
  guint reason_notifies;
  GArray *states;
} Recorder;

static void
on_state (GObject *object, GParamSpec *pspec, gpointer data)
{
  Recorder *rec = data;
  BeachPollGateState state = beach_poll_gate_get_state (BEACH_POLL_GATE (object));

  rec->state_notifies++;
  g_array_append_val (rec->states, state);
  /* the reason is set before either property is notified */
  g_assert_nonnull (beach_poll_gate_get_reason (BEACH_POLL_GATE (object)));
}

static void
on_reason (GObject *object, GParamSpec *pspec, gpointer data)
{
  ((Recorder *) data)->reason_notifies++;
}

static void
recorder_watch (Recorder *rec, BeachPollGate *gate)
{
  rec->state_notifies = 0;
  rec->reason_notifies = 0;
  rec->states = g_array_new (FALSE, FALSE, sizeof (BeachPollGateState));
  g_signal_connect (gate, "notify::state", G_CALLBACK (on_state), rec);
  g_signal_connect (gate, "notify::reason", G_CALLBACK (on_reason), rec);
}

static void
recorder_clear (Recorder *rec)
{
  g_clear_pointer (&rec->states, g_array_unref);
}

static BeachPollGate *
gate_new (guint seed)
{
  return g_object_new (BEACH_TYPE_POLL_GATE, "seed", seed, NULL);
}

static void
assert_next (BeachPollGate *gate, gint64 now, BeachPollGateStep step, gint64 delay_ms)
{
  gint64 got = G_MININT64;

  g_assert_cmpint (beach_poll_gate_next (gate, now, &got), ==, step);
  g_assert_cmpint (got, ==, delay_ms);
}

/* Returns the delay of a WAIT. */
static gint64
next_wait (BeachPollGate *gate, gint64 now)
{
  gint64 got = G_MININT64;

  g_assert_cmpint (beach_poll_gate_next (gate, now, &got), ==, WAIT);
  return got;
}

static void
assert_state (BeachPollGate *gate, BeachPollGateState state, const gchar *reason)
{
  g_assert_cmpint (beach_poll_gate_get_state (gate), ==, state);
  g_assert_cmpint (beach_poll_gate_get_paused (gate), ==, state == PAUSED);
  g_assert_cmpstr (beach_poll_gate_get_reason (gate), ==, reason);
}

static void
good_status (BeachPollGate *gate, gint64 now)
{
  beach_poll_gate_observe_status (gate, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, now);
}

/* Link healthy, then the manager's confirmation: paused at @now. */
static void
confirm (BeachPollGate *gate, gint64 now)
{
  beach_poll_gate_set_link_healthy (gate, TRUE, now);
  good_status (gate, now);
  assert_state (gate, PAUSED, "confirmed");
}

static void
test_poll_gate_initial (void)
{
  g_autoptr (BeachPollGate) gate = beach_poll_gate_new ();
  BeachPollGateState state = PAUSED;
  g_autofree gchar *reason = NULL;
  guint min = 0, max = 0, interval = 0, seed = 1;

  assert_state (gate, POLLING, NULL);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  g_object_get (gate, "state", &state, "reason", &reason, "backoff-min-ms", &min, "backoff-max-ms", &max,
                "check-interval-ms", &interval, "seed", &seed, NULL);
  g_assert_cmpint (state, ==, POLLING);
  g_assert_null (reason);
  g_assert_cmpuint (min, ==, 100);
  g_assert_cmpuint (max, ==, 5000);
  g_assert_cmpuint (interval, ==, 5000);
  g_assert_cmpuint (seed, ==, 0);

  assert_next (gate, T0, POLL, 0);
  /* delay_ms is optional */
  g_assert_cmpint (beach_poll_gate_next (gate, T0, NULL), ==, POLL);
  /* asking is not an input */
  assert_state (gate, POLLING, NULL);
}

static void
test_poll_gate_property_flags (void)
{
  g_autoptr (BeachPollGate) gate = beach_poll_gate_new ();
  GObjectClass *klass = G_OBJECT_GET_CLASS (gate);
  static const gchar *const construct[] = { "backoff-min-ms", "backoff-max-ms", "check-interval-ms", "seed" };
  static const gchar *const read_only[] = { "state", "reason" };

  for (guint i = 0; i < G_N_ELEMENTS (construct); i++) {
    GParamSpec *pspec = g_object_class_find_property (klass, construct[i]);

    g_test_message ("%s", construct[i]);
    g_assert_nonnull (pspec);
    g_assert_cmpuint (pspec->flags & (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY), ==,
                      G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY);
  }
  for (guint i = 0; i < G_N_ELEMENTS (read_only); i++) {
    GParamSpec *pspec = g_object_class_find_property (klass, read_only[i]);

    g_test_message ("%s", read_only[i]);
    g_assert_nonnull (pspec);
    g_assert_cmpuint (pspec->flags & (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY), ==,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY);
  }
  g_assert_true (G_PARAM_SPEC_VALUE_TYPE (g_object_class_find_property (klass, "state")) == BEACH_TYPE_POLL_GATE_STATE);
}

static void
test_poll_gate_one_poll_at_a_time (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);

  assert_next (gate, T0, POLL, 0);
  beach_poll_gate_request_started (gate, REQ_POLL, T0);
  assert_state (gate, POLLING, NULL);
  assert_next (gate, T0, WAIT, -1);
  assert_next (gate, T0 + MS (60000), WAIT, -1);

  /* the long-poll answers: the next one goes out at once */
  beach_poll_gate_request_finished (gate, REQ_POLL, TRUE, T0 + MS (30000));
  assert_state (gate, POLLING, NULL);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  assert_next (gate, T0 + MS (30000), POLL, 0);

  /* an ack or a check in flight does not hold a poll back */
  beach_poll_gate_request_started (gate, REQ_ACK, T0 + MS (30000));
  beach_poll_gate_request_started (gate, REQ_CHECK, T0 + MS (30000));
  assert_next (gate, T0 + MS (30000), POLL, 0);
}

typedef enum {
  STATUS_NONE,        /* link set, no status */
  STATUS_AFTER_LINK,  /* link set, then a status */
  STATUS_BEFORE_LINK, /* a status, then the link set */
  STATUS_BEFORE_FLAP, /* healthy, a status, unhealthy, healthy again */
} StatusWhen;

typedef struct {
  const gchar *name;
  gboolean link_healthy;
  StatusWhen when;
  BeachTransport transport;
  gboolean ready;
  guint pending;
  gint in_flight; /* a BeachPollGateRequest or NO_REQUEST */
  gboolean paused;
} PauseCase;

static const PauseCase pause_cases[] = {
  { "all hold", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, NO_REQUEST, TRUE },
  { "all hold, a check in flight", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, REQ_CHECK, TRUE },
  { "link unhealthy", FALSE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, NO_REQUEST, FALSE },
  { "no status", TRUE, STATUS_NONE, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, NO_REQUEST, FALSE },
  { "status only before the link was healthy", TRUE, STATUS_BEFORE_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, NO_REQUEST, FALSE },
  { "status only before a link flap", TRUE, STATUS_BEFORE_FLAP, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, NO_REQUEST, FALSE },
  { "pending 1", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 1, NO_REQUEST, FALSE },
  { "pending G_MAXUINT", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, G_MAXUINT, NO_REQUEST, FALSE },
  { "transport pending", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_PENDING, TRUE, 0, NO_REQUEST, FALSE },
  { "transport http_fallback", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_HTTP_FALLBACK, TRUE, 0, NO_REQUEST, FALSE },
  { "fast_path_ready false", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, FALSE, 0, NO_REQUEST, FALSE },
  { "poll in flight", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, REQ_POLL, FALSE },
  { "ack in flight", TRUE, STATUS_AFTER_LINK, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, REQ_ACK, FALSE },
};

static void
run_pause_case (const PauseCase *c)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  Recorder rec;

  recorder_watch (&rec, gate);
  if (c->in_flight != NO_REQUEST)
    beach_poll_gate_request_started (gate, (BeachPollGateRequest) c->in_flight, T0);
  switch (c->when) {
    case STATUS_NONE:
      beach_poll_gate_set_link_healthy (gate, c->link_healthy, T0);
      break;
    case STATUS_AFTER_LINK:
      beach_poll_gate_set_link_healthy (gate, c->link_healthy, T0);
      beach_poll_gate_observe_status (gate, c->transport, c->ready, c->pending, T0);
      break;
    case STATUS_BEFORE_LINK:
      beach_poll_gate_observe_status (gate, c->transport, c->ready, c->pending, T0);
      beach_poll_gate_set_link_healthy (gate, c->link_healthy, T0);
      break;
    case STATUS_BEFORE_FLAP:
      beach_poll_gate_set_link_healthy (gate, TRUE, T0);
      beach_poll_gate_observe_status (gate, c->transport, c->ready, c->pending, T0);
      beach_poll_gate_set_link_healthy (gate, FALSE, T0);
      beach_poll_gate_set_link_healthy (gate, c->link_healthy, T0);
      break;
    default:
      g_assert_not_reached ();
  }

  if (c->paused) {
    assert_state (gate, PAUSED, "confirmed");
    g_assert_cmpuint (rec.state_notifies, ==, 1);
    assert_next (gate, T0, WAIT, c->in_flight == REQ_CHECK ? -1 : 5000);
  } else {
    /* the flap case paused and resumed; every other case never paused */
    assert_state (gate, POLLING, c->when == STATUS_BEFORE_FLAP ? "link_unhealthy" : NULL);
    g_assert_cmpuint (rec.state_notifies, ==, c->when == STATUS_BEFORE_FLAP ? 2 : 0);
    assert_next (gate, T0, c->in_flight == REQ_POLL ? WAIT : POLL, c->in_flight == REQ_POLL ? -1 : 0);
  }
  recorder_clear (&rec);
}

static void
test_poll_gate_pause_conditions (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (pause_cases); i++) {
    g_test_message ("case %u: %s", i, pause_cases[i].name);
    run_pause_case (&pause_cases[i]);
  }
}

/* The pause comes with the input that completes the predicate, whichever
 * it is. */
static void
test_poll_gate_pause_when_last_condition_arrives (void)
{
  g_autoptr (BeachPollGate) requests = gate_new (1);
  g_autoptr (BeachPollGate) status = gate_new (1);

  /* the requests in flight end last */
  beach_poll_gate_request_started (requests, REQ_POLL, T0);
  beach_poll_gate_request_started (requests, REQ_ACK, T0);
  beach_poll_gate_set_link_healthy (requests, TRUE, T0);
  good_status (requests, T0);
  assert_state (requests, POLLING, NULL);
  beach_poll_gate_request_finished (requests, REQ_POLL, TRUE, T0 + MS (10));
  assert_state (requests, POLLING, NULL);
  beach_poll_gate_request_finished (requests, REQ_ACK, TRUE, T0 + MS (20));
  assert_state (requests, PAUSED, "confirmed");
  /* the check interval runs from the pause */
  assert_next (requests, T0 + MS (20), WAIT, 5000);

  /* a later status replaces one that did not confirm */
  beach_poll_gate_set_link_healthy (status, TRUE, T0);
  beach_poll_gate_observe_status (status, BEACH_TRANSPORT_FAST_PATH, TRUE, 3, T0);
  assert_state (status, POLLING, NULL);
  beach_poll_gate_observe_status (status, BEACH_TRANSPORT_FAST_PATH, TRUE, 0, T0 + MS (40));
  assert_state (status, PAUSED, "confirmed");
  assert_next (status, T0 + MS (40), WAIT, 5000);
}

typedef enum {
  DEMOTE_STATUS,
  DEMOTE_LINK_DOWN,
  DEMOTE_START,
} DemoteKind;

typedef struct {
  const gchar *name;
  DemoteKind kind;
  BeachTransport transport;
  gboolean ready;
  guint pending;
  BeachPollGateRequest request;
  const gchar *reason;
} ResumeCase;

static const ResumeCase resume_cases[] = {
  { "ping with transport http_fallback", DEMOTE_STATUS, BEACH_TRANSPORT_HTTP_FALLBACK, FALSE, 0, 0, "manager_not_ready" },
  { "status with transport pending", DEMOTE_STATUS, BEACH_TRANSPORT_PENDING, TRUE, 0, 0, "manager_not_ready" },
  { "status with fast_path_ready false", DEMOTE_STATUS, BEACH_TRANSPORT_FAST_PATH, FALSE, 0, 0, "manager_not_ready" },
  { "status with pending 3", DEMOTE_STATUS, BEACH_TRANSPORT_FAST_PATH, TRUE, 3, 0, "pending_nonzero" },
  { "link unhealthy", DEMOTE_LINK_DOWN, 0, FALSE, 0, 0, "link_unhealthy" },
  { "ack started", DEMOTE_START, 0, FALSE, 0, REQ_ACK, "request_in_flight" },
  { "poll started", DEMOTE_START, 0, FALSE, 0, REQ_POLL, "request_in_flight" },
};

static void
run_resume_case (const ResumeCase *c)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  const gint64 t = T0 + MS (1234);
  Recorder rec;

  confirm (gate, T0);
  recorder_watch (&rec, gate);
  switch (c->kind) {
    case DEMOTE_STATUS:
      beach_poll_gate_observe_status (gate, c->transport, c->ready, c->pending, t);
      break;
    case DEMOTE_LINK_DOWN:
      beach_poll_gate_set_link_healthy (gate, FALSE, t);
      break;
    case DEMOTE_START:
      beach_poll_gate_request_started (gate, c->request, t);
      break;
    default:
      g_assert_not_reached ();
  }

  /* straight to polling, not backing off */
  assert_state (gate, POLLING, c->reason);
  g_assert_cmpuint (rec.state_notifies, ==, 1);
  g_assert_cmpuint (rec.reason_notifies, ==, 1);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  if (c->kind == DEMOTE_START && c->request == REQ_POLL)
    assert_next (gate, t, WAIT, -1);
  else
    assert_next (gate, t, POLL, 0);
  recorder_clear (&rec);
}

static void
test_poll_gate_resume (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (resume_cases); i++) {
    g_test_message ("case %u: %s", i, resume_cases[i].name);
    run_resume_case (&resume_cases[i]);
  }
}

/* A confirmation does not outlive the link it was given for. */
static void
test_poll_gate_link_flap_forgets_status (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);

  confirm (gate, T0);
  beach_poll_gate_set_link_healthy (gate, FALSE, T0 + MS (100));
  assert_state (gate, POLLING, "link_unhealthy");
  beach_poll_gate_set_link_healthy (gate, TRUE, T0 + MS (200));
  assert_state (gate, POLLING, "link_unhealthy");
  assert_next (gate, T0 + MS (200), POLL, 0);
  /* a status seen while unhealthy does not count either */
  beach_poll_gate_set_link_healthy (gate, FALSE, T0 + MS (300));
  good_status (gate, T0 + MS (300));
  beach_poll_gate_set_link_healthy (gate, TRUE, T0 + MS (400));
  assert_state (gate, POLLING, "link_unhealthy");
  /* a fresh one does */
  good_status (gate, T0 + MS (500));
  assert_state (gate, PAUSED, "confirmed");
}

static void
test_poll_gate_check_timing (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  Recorder rec;

  confirm (gate, T0);
  recorder_watch (&rec, gate);

  /* no check before the interval, and the delay counts down to it */
  for (gint64 t = 0; t < 5000; t += 250)
    assert_next (gate, T0 + MS (t), WAIT, 5000 - t);
  /* rounded up: a poller woken on time never finds it a microsecond early */
  assert_next (gate, T0 + MS (5000) - 1, WAIT, 1);
  assert_next (gate, T0 + MS (4999) + 1, WAIT, 1);

  assert_next (gate, T0 + MS (5000), CHECK, 0);
  /* asking is not starting: it stays due */
  assert_next (gate, T0 + MS (5100), CHECK, 0);
  assert_state (gate, PAUSED, "confirmed");

  /* a check in flight does not end the pause; nothing more until it ends */
  beach_poll_gate_request_started (gate, REQ_CHECK, T0 + MS (5100));
  assert_state (gate, PAUSED, "confirmed");
  assert_next (gate, T0 + MS (5100), WAIT, -1);
  assert_next (gate, T0 + MS (60000), WAIT, -1);

  /* the next check is due an interval after this one finished */
  beach_poll_gate_request_finished (gate, REQ_CHECK, TRUE, T0 + MS (5300));
  good_status (gate, T0 + MS (5300));
  assert_state (gate, PAUSED, "confirmed");
  assert_next (gate, T0 + MS (5300), WAIT, 5000);
  assert_next (gate, T0 + MS (10300) - 1, WAIT, 1);
  assert_next (gate, T0 + MS (10300), CHECK, 0);
  g_assert_cmpuint (rec.state_notifies, ==, 0);

  /* a new pause starts a new interval, whatever was due before */
  beach_poll_gate_request_started (gate, REQ_ACK, T0 + MS (10300));
  assert_state (gate, POLLING, "request_in_flight");
  beach_poll_gate_request_finished (gate, REQ_ACK, TRUE, T0 + MS (11000));
  assert_state (gate, PAUSED, "confirmed");
  assert_next (gate, T0 + MS (11000), WAIT, 5000);
  assert_next (gate, T0 + MS (16000), CHECK, 0);
  recorder_clear (&rec);
}

static void
test_poll_gate_check_failure (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  const gint64 t = T0 + MS (5100);
  gint64 delay;
  Recorder rec;

  confirm (gate, T0);
  recorder_watch (&rec, gate);
  assert_next (gate, T0 + MS (5000), CHECK, 0);
  beach_poll_gate_request_started (gate, REQ_CHECK, T0 + MS (5000));
  beach_poll_gate_request_finished (gate, REQ_CHECK, FALSE, t);

  assert_state (gate, BACKING_OFF, "check_failed");
  g_assert_cmpuint (rec.state_notifies, ==, 1);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 1);
  delay = next_wait (gate, t);
  g_assert_cmpint (delay, >=, 50);
  g_assert_cmpint (delay, <=, 100);

  /* the confirmation is gone: an input that re-evaluates does not pause */
  beach_poll_gate_request_started (gate, REQ_ACK, t);
  beach_poll_gate_request_finished (gate, REQ_ACK, TRUE, t);
  assert_state (gate, BACKING_OFF, "check_failed");
  /* the backoff runs out into polling */
  assert_next (gate, t + MS (delay), POLL, 0);
  assert_state (gate, POLLING, "backoff_over");
  /* a fresh status pauses again, with a fresh interval */
  good_status (gate, T0 + MS (7000));
  assert_state (gate, PAUSED, "confirmed");
  assert_next (gate, T0 + MS (7000), WAIT, 5000);
  g_assert_cmpuint (rec.state_notifies, ==, 3);
  recorder_clear (&rec);
}

/* A check that outlived its pause fails like a poll. */
static void
test_poll_gate_check_failure_not_paused (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  gint64 delay;

  confirm (gate, T0);
  beach_poll_gate_request_started (gate, REQ_CHECK, T0 + MS (5000));
  beach_poll_gate_request_started (gate, REQ_ACK, T0 + MS (5050));
  assert_state (gate, POLLING, "request_in_flight");
  beach_poll_gate_request_finished (gate, REQ_CHECK, FALSE, T0 + MS (5100));
  assert_state (gate, BACKING_OFF, "request_failed");
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 1);
  delay = next_wait (gate, T0 + MS (5100));
  g_assert_cmpint (delay, >=, 50);
  g_assert_cmpint (delay, <=, 100);
}

/* Fails @n polls in a row, each after its backoff, and returns the delays
 * the gate asked for. */
static GArray *
fail_polls (BeachPollGate *gate, guint n, guint min_ms, guint max_ms, gint64 *now)
{
  GArray *delays = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (guint i = 0; i < n; i++) {
    guint base = (guint) MIN ((guint64) max_ms, (guint64) min_ms << MIN (i, 32));
    gint64 delay;

    assert_next (gate, *now, POLL, 0);
    g_assert_cmpint (beach_poll_gate_get_state (gate), ==, POLLING);
    if (i > 0)
      assert_state (gate, POLLING, "backoff_over");
    beach_poll_gate_request_started (gate, REQ_POLL, *now);
    assert_next (gate, *now, WAIT, -1);
    *now += MS (30);
    beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, *now);
    assert_state (gate, BACKING_OFF, "request_failed");
    g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, i + 1);

    delay = next_wait (gate, *now);
    g_test_message ("failure %u: base %u, delay %" G_GINT64_FORMAT, i + 1, base, delay);
    g_assert_cmpint (delay, >=, base / 2);
    g_assert_cmpint (delay, <=, base);
    g_array_append_val (delays, delay);
    /* the backoff ends on the millisecond, not before: the delays are
     * rounded up */
    assert_next (gate, *now + MS (delay) - 1500, WAIT, 2);
    assert_next (gate, *now + MS (delay) - 1, WAIT, 1);
    assert_state (gate, BACKING_OFF, "request_failed");
    *now += MS (delay);
  }
  assert_next (gate, *now, POLL, 0);
  if (n > 0)
    assert_state (gate, POLLING, "backoff_over");
  return delays;
}

static void
test_poll_gate_backoff_growth (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1234);
  g_autoptr (GArray) delays = NULL;
  gint64 now = T0;

  /* bases 100, 200, 400, 800, 1600, 3200, then 5000 (capped) */
  delays = fail_polls (gate, 10, 100, 5000, &now);
  g_assert_cmpuint (delays->len, ==, 10);
  /* capped, not still doubling */
  g_assert_cmpint (g_array_index (delays, gint64, 9), <=, 5000);
}

static void
test_poll_gate_backoff_deterministic (void)
{
  g_autoptr (BeachPollGate) a = gate_new (42);
  g_autoptr (BeachPollGate) b = gate_new (42);
  g_autoptr (BeachPollGate) c = gate_new (43);
  g_autoptr (GArray) da = NULL;
  g_autoptr (GArray) db = NULL;
  g_autoptr (GArray) dc = NULL;
  gint64 ta = T0, tb = T0 + MS (777), tc = T0;

  da = fail_polls (a, 12, 100, 5000, &ta);
  db = fail_polls (b, 12, 100, 5000, &tb);
  dc = fail_polls (c, 12, 100, 5000, &tc);
  /* same seed, same delays, whatever the clock */
  g_assert_cmpmem (da->data, da->len * sizeof (gint64), db->data, db->len * sizeof (gint64));
  /* another seed, other delays */
  g_assert_false (da->len == dc->len && memcmp (da->data, dc->data, da->len * sizeof (gint64)) == 0);
}

/* The jitter covers [base / 2, base], not one point of it. */
static void
test_poll_gate_backoff_jitter (void)
{
  g_autoptr (BeachPollGate) gate = g_object_new (BEACH_TYPE_POLL_GATE, "seed", 7, "backoff-min-ms", 1000,
                                                 "backoff-max-ms", 1000, NULL);
  g_autoptr (GArray) delays = NULL;
  gint64 now = T0;
  gint64 lo = G_MAXINT64, hi = 0;

  delays = fail_polls (gate, 200, 1000, 1000, &now);
  for (guint i = 0; i < delays->len; i++) {
    lo = MIN (lo, g_array_index (delays, gint64, i));
    hi = MAX (hi, g_array_index (delays, gint64, i));
  }
  g_test_message ("delays in [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", lo, hi);
  g_assert_cmpint (lo, <, 600);
  g_assert_cmpint (hi, >, 900);
}

static void
test_poll_gate_backoff_reset (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (99);
  g_autoptr (GArray) first = NULL;
  g_autoptr (GArray) again = NULL;
  gint64 now = T0;

  /* a successful poll */
  first = fail_polls (gate, 4, 100, 5000, &now);
  beach_poll_gate_request_started (gate, REQ_POLL, now);
  beach_poll_gate_request_finished (gate, REQ_POLL, TRUE, now + MS (10));
  now += MS (10);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  assert_state (gate, POLLING, "backoff_over");
  /* fail_polls checks the base starts at 100 ms again */
  again = fail_polls (gate, 1, 100, 5000, &now);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 1);

  /* a successful check: pause while backing off, then check */
  beach_poll_gate_request_started (gate, REQ_POLL, now);
  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, now);
  assert_state (gate, BACKING_OFF, "request_failed");
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 2);
  confirm (gate, now);
  /* pausing alone is no success */
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 2);
  assert_next (gate, now + MS (5000), CHECK, 0);
  beach_poll_gate_request_started (gate, REQ_CHECK, now + MS (5000));
  beach_poll_gate_request_finished (gate, REQ_CHECK, TRUE, now + MS (5100));
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  assert_state (gate, PAUSED, "confirmed");
}

/* Backing off, a status that confirms pauses; one that does not changes
 * nothing. */
static void
test_poll_gate_backing_off_status (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (5);
  gint64 delay;
  Recorder rec;

  beach_poll_gate_set_link_healthy (gate, TRUE, T0);
  beach_poll_gate_request_started (gate, REQ_POLL, T0);
  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, T0);
  assert_state (gate, BACKING_OFF, "request_failed");
  delay = next_wait (gate, T0);
  recorder_watch (&rec, gate);

  beach_poll_gate_observe_status (gate, BEACH_TRANSPORT_HTTP_FALLBACK, FALSE, 4, T0 + MS (1));
  beach_poll_gate_observe_status (gate, BEACH_TRANSPORT_FAST_PATH, TRUE, 1, T0 + MS (2));
  assert_state (gate, BACKING_OFF, "request_failed");
  g_assert_cmpuint (rec.state_notifies, ==, 0);
  /* the backoff still runs to its end */
  assert_next (gate, T0 + MS (2), WAIT, delay - 2);

  good_status (gate, T0 + MS (3));
  assert_state (gate, PAUSED, "confirmed");
  g_assert_cmpuint (rec.state_notifies, ==, 1);
  assert_next (gate, T0 + MS (3), WAIT, 5000);
  recorder_clear (&rec);
}

static void
test_poll_gate_ack_failure (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  Recorder rec;

  recorder_watch (&rec, gate);
  /* polling: a failed ack neither backs off nor counts */
  beach_poll_gate_request_started (gate, REQ_ACK, T0);
  beach_poll_gate_request_finished (gate, REQ_ACK, FALSE, T0 + MS (5));
  assert_state (gate, POLLING, NULL);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  assert_next (gate, T0 + MS (5), POLL, 0);
  g_assert_cmpuint (rec.state_notifies, ==, 0);

  /* paused: the ack resumes polling, its failure pauses again */
  confirm (gate, T0 + MS (10));
  beach_poll_gate_request_started (gate, REQ_ACK, T0 + MS (20));
  assert_state (gate, POLLING, "request_in_flight");
  beach_poll_gate_request_finished (gate, REQ_ACK, FALSE, T0 + MS (30));
  assert_state (gate, PAUSED, "confirmed");
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  g_assert_cmpuint (rec.state_notifies, ==, 3);
  g_assert_cmpint (g_array_index (rec.states, BeachPollGateState, 0), ==, PAUSED);
  g_assert_cmpint (g_array_index (rec.states, BeachPollGateState, 1), ==, POLLING);
  g_assert_cmpint (g_array_index (rec.states, BeachPollGateState, 2), ==, PAUSED);

  /* only a poll or a check that succeeds clears the error count */
  beach_poll_gate_set_link_healthy (gate, FALSE, T0 + MS (40));
  beach_poll_gate_request_started (gate, REQ_POLL, T0 + MS (40));
  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, T0 + MS (50));
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 1);
  beach_poll_gate_request_started (gate, REQ_ACK, T0 + MS (60));
  beach_poll_gate_request_finished (gate, REQ_ACK, TRUE, T0 + MS (70));
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 1);
  assert_state (gate, BACKING_OFF, "request_failed");
  recorder_clear (&rec);
}

/* A poll that ends with the pause predicate true pauses, whether it
 * failed or not, in one change. */
static void
test_poll_gate_poll_ends_confirmed (void)
{
  g_autoptr (BeachPollGate) ok = gate_new (1);
  g_autoptr (BeachPollGate) failed = gate_new (1);
  Recorder rec;

  beach_poll_gate_set_link_healthy (ok, TRUE, T0);
  beach_poll_gate_request_started (ok, REQ_POLL, T0);
  good_status (ok, T0 + MS (1));
  assert_state (ok, POLLING, NULL);
  beach_poll_gate_request_finished (ok, REQ_POLL, TRUE, T0 + MS (2));
  assert_state (ok, PAUSED, "confirmed");

  beach_poll_gate_set_link_healthy (failed, TRUE, T0);
  beach_poll_gate_request_started (failed, REQ_POLL, T0);
  good_status (failed, T0 + MS (1));
  recorder_watch (&rec, failed);
  beach_poll_gate_request_finished (failed, REQ_POLL, FALSE, T0 + MS (2));
  assert_state (failed, PAUSED, "confirmed");
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (failed), ==, 1);
  g_assert_cmpuint (rec.state_notifies, ==, 1);
  assert_next (failed, T0 + MS (2), WAIT, 5000);
  recorder_clear (&rec);
}

static void
test_poll_gate_notify (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (3);
  static const BeachPollGateState expected[] = { PAUSED, POLLING, BACKING_OFF, POLLING, PAUSED };
  BeachPollGateState state = POLLING;
  g_autofree gchar *reason = NULL;
  gint64 delay;
  Recorder rec;

  recorder_watch (&rec, gate);

  /* inputs that change nothing notify nothing */
  beach_poll_gate_set_link_healthy (gate, FALSE, T0);
  beach_poll_gate_next (gate, T0, NULL);
  beach_poll_gate_request_started (gate, REQ_CHECK, T0);
  beach_poll_gate_request_finished (gate, REQ_CHECK, TRUE, T0);
  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, T0);
  beach_poll_gate_set_link_healthy (gate, TRUE, T0);
  beach_poll_gate_observe_status (gate, BEACH_TRANSPORT_HTTP_FALLBACK, TRUE, 0, T0);
  beach_poll_gate_observe_status (gate, BEACH_TRANSPORT_FAST_PATH, TRUE, 2, T0);
  g_assert_cmpuint (rec.state_notifies, ==, 0);
  g_assert_cmpuint (rec.reason_notifies, ==, 0);

  good_status (gate, T0); /* to paused */
  good_status (gate, T0 + MS (1));
  beach_poll_gate_set_link_healthy (gate, TRUE, T0 + MS (1));
  beach_poll_gate_next (gate, T0 + MS (1), NULL);
  g_assert_cmpuint (rec.state_notifies, ==, 1);

  beach_poll_gate_request_started (gate, REQ_POLL, T0 + MS (2)); /* to polling */
  beach_poll_gate_request_started (gate, REQ_ACK, T0 + MS (2));
  beach_poll_gate_observe_status (gate, BEACH_TRANSPORT_FAST_PATH, TRUE, 1, T0 + MS (2));
  beach_poll_gate_next (gate, T0 + MS (2), NULL);
  g_assert_cmpuint (rec.state_notifies, ==, 2);

  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, T0 + MS (3)); /* to backing off */
  delay = next_wait (gate, T0 + MS (3));
  beach_poll_gate_request_finished (gate, REQ_ACK, TRUE, T0 + MS (3));
  beach_poll_gate_request_finished (gate, REQ_ACK, TRUE, T0 + MS (3));
  g_assert_cmpuint (rec.state_notifies, ==, 3);

  beach_poll_gate_next (gate, T0 + MS (3) + MS (delay), NULL); /* to polling */
  beach_poll_gate_next (gate, T0 + MS (3) + MS (delay), NULL);
  g_assert_cmpuint (rec.state_notifies, ==, 4);

  good_status (gate, T0 + MS (200)); /* to paused */
  g_assert_cmpuint (rec.state_notifies, ==, 5);
  g_assert_cmpuint (rec.reason_notifies, ==, 5);
  g_assert_cmpmem (rec.states->data, rec.states->len * sizeof (BeachPollGateState), expected, sizeof expected);

  /* the properties read what the getters do */
  g_object_get (gate, "state", &state, "reason", &reason, NULL);
  g_assert_cmpint (state, ==, PAUSED);
  g_assert_cmpstr (reason, ==, "confirmed");
  recorder_clear (&rec);
}

typedef struct {
  guint changes;
  gchar *last;
} LogCounter;

static void
count_log (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  LogCounter *log = data;

  if (strstr (message, " -> ") == NULL)
    return;
  log->changes++;
  g_free (log->last);
  log->last = g_strdup (message);
}

static void
assert_logged (LogCounter *log, guint changes, const gchar *text)
{
  g_assert_cmpuint (log->changes, ==, changes);
  g_assert_nonnull (log->last);
  g_assert_nonnull (strstr (log->last, text));
}

static void
test_poll_gate_log (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (3);
  LogCounter log = { 0, NULL };
  guint id = g_log_set_handler ("beach-poll-gate", G_LOG_LEVEL_DEBUG, count_log, &log);

  confirm (gate, T0);
  assert_logged (&log, 1, "polling -> paused (confirmed)");
  good_status (gate, T0);
  beach_poll_gate_next (gate, T0, NULL);
  g_assert_cmpuint (log.changes, ==, 1);
  beach_poll_gate_set_link_healthy (gate, FALSE, T0);
  assert_logged (&log, 2, "paused -> polling (link_unhealthy)");
  beach_poll_gate_request_started (gate, REQ_POLL, T0);
  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, T0);
  assert_logged (&log, 3, "polling -> backing_off (request_failed)");
  beach_poll_gate_next (gate, T0 + MS (1), NULL);
  g_assert_cmpuint (log.changes, ==, 3);

  g_log_remove_handler ("beach-poll-gate", id);
  g_free (log.last);
}

static void
test_poll_gate_custom_properties (void)
{
  g_autoptr (BeachPollGate) gate = g_object_new (BEACH_TYPE_POLL_GATE, "backoff-min-ms", 10, "backoff-max-ms", 40,
                                                 "check-interval-ms", 1000, "seed", 7, NULL);
  g_autoptr (BeachPollGate) inverted = g_object_new (BEACH_TYPE_POLL_GATE, "backoff-min-ms", 300,
                                                     "backoff-max-ms", 200, "seed", 7, NULL);
  g_autoptr (GArray) delays = NULL;
  g_autoptr (GArray) inverted_delays = NULL;
  guint min = 0, max = 0, interval = 0, seed = 0;
  gint64 now = T0;

  g_object_get (gate, "backoff-min-ms", &min, "backoff-max-ms", &max, "check-interval-ms", &interval, "seed", &seed,
                NULL);
  g_assert_cmpuint (min, ==, 10);
  g_assert_cmpuint (max, ==, 40);
  g_assert_cmpuint (interval, ==, 1000);
  g_assert_cmpuint (seed, ==, 7);

  /* bases 10, 20, 40, 40 */
  delays = fail_polls (gate, 4, 10, 40, &now);
  confirm (gate, now);
  assert_next (gate, now, WAIT, 1000);
  assert_next (gate, now + MS (1000), CHECK, 0);
  beach_poll_gate_request_started (gate, REQ_CHECK, now + MS (1000));
  beach_poll_gate_request_finished (gate, REQ_CHECK, TRUE, now + MS (1500));
  assert_next (gate, now + MS (1500), WAIT, 1000);

  /* a maximum below the minimum is read as the minimum */
  now = T0;
  inverted_delays = fail_polls (inverted, 3, 300, 300, &now);
}

/* A finish with no start is ignored, and no count wraps below 0. */
static void
test_poll_gate_unbalanced (void)
{
  g_autoptr (BeachPollGate) gate = gate_new (1);
  g_autoptr (BeachPollGate) paused = gate_new (1);
  Recorder rec;

  recorder_watch (&rec, gate);
  beach_poll_gate_request_finished (gate, REQ_POLL, FALSE, T0);
  beach_poll_gate_request_finished (gate, REQ_POLL, TRUE, T0);
  beach_poll_gate_request_finished (gate, REQ_ACK, FALSE, T0);
  beach_poll_gate_request_finished (gate, REQ_CHECK, FALSE, T0);
  beach_poll_gate_request_finished (gate, REQ_CHECK, TRUE, T0);
  assert_state (gate, POLLING, NULL);
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (gate), ==, 0);
  g_assert_cmpuint (rec.state_notifies, ==, 0);
  assert_next (gate, T0, POLL, 0);

  /* a poll finished twice: the second is ignored, no poll left in flight */
  beach_poll_gate_request_started (gate, REQ_POLL, T0);
  beach_poll_gate_request_finished (gate, REQ_POLL, TRUE, T0 + MS (1));
  beach_poll_gate_request_finished (gate, REQ_POLL, TRUE, T0 + MS (2));
  assert_next (gate, T0 + MS (2), POLL, 0);
  /* one start, one finish still pair up */
  beach_poll_gate_request_started (gate, REQ_POLL, T0 + MS (3));
  assert_next (gate, T0 + MS (3), WAIT, -1);
  beach_poll_gate_request_finished (gate, REQ_POLL, TRUE, T0 + MS (4));
  assert_next (gate, T0 + MS (4), POLL, 0);

  /* paused: a stray ack or check finish leaves the pause alone */
  confirm (paused, T0);
  beach_poll_gate_request_finished (paused, REQ_ACK, TRUE, T0 + MS (1));
  beach_poll_gate_request_finished (paused, REQ_CHECK, FALSE, T0 + MS (1));
  beach_poll_gate_request_finished (paused, REQ_POLL, FALSE, T0 + MS (1));
  assert_state (paused, PAUSED, "confirmed");
  g_assert_cmpuint (beach_poll_gate_get_consecutive_errors (paused), ==, 0);
  assert_next (paused, T0 + MS (1), WAIT, 4999);
  /* an ack finished twice: still paused after the second */
  beach_poll_gate_request_started (paused, REQ_ACK, T0 + MS (2));
  beach_poll_gate_request_finished (paused, REQ_ACK, TRUE, T0 + MS (3));
  beach_poll_gate_request_finished (paused, REQ_ACK, TRUE, T0 + MS (4));
  assert_state (paused, PAUSED, "confirmed");
  beach_poll_gate_request_started (paused, REQ_ACK, T0 + MS (5));
  assert_state (paused, POLLING, "request_in_flight");
  recorder_clear (&rec);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/poll-gate/initial", test_poll_gate_initial);
  g_test_add_func ("/poll-gate/property-flags", test_poll_gate_property_flags);
  g_test_add_func ("/poll-gate/one-poll-at-a-time", test_poll_gate_one_poll_at_a_time);
  g_test_add_func ("/poll-gate/pause-conditions", test_poll_gate_pause_conditions);
  g_test_add_func ("/poll-gate/pause-when-last-condition-arrives", test_poll_gate_pause_when_last_condition_arrives);
  g_test_add_func ("/poll-gate/resume", test_poll_gate_resume);
  g_test_add_func ("/poll-gate/link-flap-forgets-status", test_poll_gate_link_flap_forgets_status);
  g_test_add_func ("/poll-gate/check-timing", test_poll_gate_check_timing);
  g_test_add_func ("/poll-gate/check-failure", test_poll_gate_check_failure);
  g_test_add_func ("/poll-gate/check-failure-not-paused", test_poll_gate_check_failure_not_paused);
  g_test_add_func ("/poll-gate/backoff-growth", test_poll_gate_backoff_growth);
  g_test_add_func ("/poll-gate/backoff-deterministic", test_poll_gate_backoff_deterministic);
  g_test_add_func ("/poll-gate/backoff-jitter", test_poll_gate_backoff_jitter);
  g_test_add_func ("/poll-gate/backoff-reset", test_poll_gate_backoff_reset);
  g_test_add_func ("/poll-gate/backing-off-status", test_poll_gate_backing_off_status);
  g_test_add_func ("/poll-gate/ack-failure", test_poll_gate_ack_failure);
  g_test_add_func ("/poll-gate/poll-ends-confirmed", test_poll_gate_poll_ends_confirmed);
  g_test_add_func ("/poll-gate/notify", test_poll_gate_notify);
  g_test_add_func ("/poll-gate/log", test_poll_gate_log);
  g_test_add_func ("/poll-gate/custom-properties", test_poll_gate_custom_properties);
  g_test_add_func ("/poll-gate/unbalanced", test_poll_gate_unbalanced);
  return g_test_run ();
}
