/* beach-poll-gate.c: when a host polls, backs off, pauses and checks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-poll-gate"

#include "config.h"

#include "beach-enum-types.h"
#include "beach-poll-gate.h"

/**
 * BeachPollGate:
 *
 * A host's HTTP poll gating as a pure state machine: no I/O, no timers, no
 * clock, no main loop. The caller feeds it inputs (the link's health, the
 * manager's status answers, requests starting and finishing, each with the
 * caller's monotonic time in microseconds) and asks beach_poll_gate_next()
 * what to do now.
 *
 * Polling pauses only when the manager confirms that the fast path serves
 * the host and nothing waits in its queue, that is when all of these hold:
 * the link is healthy; since it last became healthy the manager answered a
 * status; in the latest one `pending` is 0, `transport` is `fast_path` and
 * `fast_path_ready` is true; and no poll or ack request is in flight. The
 * gate is %BEACH_POLL_GATE_STATE_PAUSED exactly when they hold, and any
 * input that breaks one resumes polling at once.
 *
 * While paused, a safety check (`GET /actions/pending`) is due every
 * #BeachPollGate:check-interval-ms; a failed one loses the confirmation.
 * Failed polls and checks back off exponentially, with jitter, from
 * #BeachPollGate:backoff-min-ms up to #BeachPollGate:backoff-max-ms.
 */
struct _BeachPollGate {
  GObject parent_instance;

  guint backoff_min_ms;
  guint backoff_max_ms;
  guint check_interval_ms;
  guint seed;
  GRand *rand;

  BeachPollGateState state;
  const gchar *reason; /* static strings only */

  gboolean link_healthy;
  gboolean have_status; /* since the link last became healthy */
  BeachTransport transport;
  gboolean fast_path_ready;
  guint pending;

  guint polls_in_flight;
  guint acks_in_flight;
  guint checks_in_flight;
  guint consecutive_errors;
  gint64 retry_at_us;
  gint64 next_check_us;
};

enum {
  PROP_0,
  PROP_STATE,
  PROP_REASON,
  PROP_BACKOFF_MIN_MS,
  PROP_BACKOFF_MAX_MS,
  PROP_CHECK_INTERVAL_MS,
  PROP_SEED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (BeachPollGate, beach_poll_gate, G_TYPE_OBJECT)

static const gchar *
nick (GType type, gint value)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);

  return v != NULL ? v->value_nick : "?";
}

static gboolean
confirmed (BeachPollGate *self)
{
  return self->link_healthy && self->have_status && self->pending == 0
         && self->transport == BEACH_TRANSPORT_FAST_PATH && self->fast_path_ready
         && self->polls_in_flight == 0 && self->acks_in_flight == 0;
}

/* Why the pause predicate does not hold. */
static const gchar *
unconfirmed_reason (BeachPollGate *self)
{
  if (!self->link_healthy)
    return "link_unhealthy";
  if (!self->have_status)
    return "no_status";
  if (self->transport != BEACH_TRANSPORT_FAST_PATH || !self->fast_path_ready)
    return "manager_not_ready";
  if (self->pending > 0)
    return "pending_nonzero";
  return "request_in_flight";
}

static void
set_state (BeachPollGate *self, BeachPollGateState state, const gchar *reason)
{
  if (state == self->state)
    return;
  g_debug ("%s -> %s (%s)", nick (BEACH_TYPE_POLL_GATE_STATE, self->state),
           nick (BEACH_TYPE_POLL_GATE_STATE, state), reason);
  self->state = state;
  self->reason = reason;
  /* Both are set before either is notified, so a handler sees them agree. */
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REASON]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

/* Re-evaluates the pause predicate after an input: at most one state
 * change per input. @failure, when not %NULL, is why the input backs off;
 * it loses to a confirmation (the predicate decides PAUSED alone) but wins
 * over resuming. */
static void
settle (BeachPollGate *self, const gchar *failure, gint64 now_us)
{
  if (confirmed (self)) {
    if (self->state != BEACH_POLL_GATE_STATE_PAUSED) {
      self->next_check_us = now_us + (gint64) self->check_interval_ms * 1000;
      set_state (self, BEACH_POLL_GATE_STATE_PAUSED, "confirmed");
    }
  } else if (failure != NULL) {
    set_state (self, BEACH_POLL_GATE_STATE_BACKING_OFF, failure);
  } else if (self->state == BEACH_POLL_GATE_STATE_PAUSED) {
    set_state (self, BEACH_POLL_GATE_STATE_POLLING, unconfirmed_reason (self));
  }
}

/* A delay drawn uniformly from [base / 2, base], base = min, 2 min, 4 min,
 * … capped at max, so that hosts that failed together do not retry
 * together. */
static gint64
backoff_ms (BeachPollGate *self)
{
  gint64 cap = MAX (self->backoff_max_ms, self->backoff_min_ms);
  gint64 base = self->backoff_min_ms;

  for (guint i = 1; i < self->consecutive_errors && base < cap; i++)
    base *= 2;
  base = MIN (base, cap);
  return base / 2 + g_rand_int_range (self->rand, 0, (gint32) (base - base / 2) + 1);
}

static void
fail (BeachPollGate *self, const gchar *reason, gint64 now_us)
{
  if (self->consecutive_errors < G_MAXUINT)
    self->consecutive_errors++;
  self->retry_at_us = now_us + backoff_ms (self) * 1000;
  settle (self, reason, now_us);
}

/**
 * beach_poll_gate_new:
 *
 * Returns: (transfer full): a polling gate with the default settings
 */
BeachPollGate *
beach_poll_gate_new (void)
{
  return g_object_new (BEACH_TYPE_POLL_GATE, NULL);
}

/**
 * beach_poll_gate_set_link_healthy:
 * @self: a #BeachPollGate
 * @healthy: whether the fast-path link is healthy
 * @now_us: the caller's monotonic time, in microseconds
 *
 * The link's health changed. Whenever it changes, the status the manager
 * last answered is forgotten: a pause needs a status answered after the
 * link became healthy. Repeating the current health changes nothing.
 */
void
beach_poll_gate_set_link_healthy (BeachPollGate *self, gboolean healthy, gint64 now_us)
{
  g_return_if_fail (BEACH_IS_POLL_GATE (self));

  healthy = !!healthy;
  if (healthy == self->link_healthy)
    return;
  self->link_healthy = healthy;
  self->have_status = FALSE;
  settle (self, NULL, now_us);
}

/**
 * beach_poll_gate_observe_status:
 * @self: a #BeachPollGate
 * @transport: the session's transport, as the manager says
 * @fast_path_ready: whether the manager has a healthy link for the session
 * @pending: how many actions wait in the manager's fallback queue
 * @now_us: the caller's monotonic time, in microseconds
 *
 * A status from the manager: the answer to a poll or a safety check, or a
 * ping frame. It replaces the previous one. A status seen while the link
 * is not healthy never confirms a pause.
 */
void
beach_poll_gate_observe_status (BeachPollGate *self,
                                BeachTransport transport,
                                gboolean fast_path_ready,
                                guint pending,
                                gint64 now_us)
{
  g_return_if_fail (BEACH_IS_POLL_GATE (self));

  self->transport = transport;
  self->fast_path_ready = !!fast_path_ready;
  self->pending = pending;
  self->have_status = self->link_healthy;
  settle (self, NULL, now_us);
}

static guint *
counter (BeachPollGate *self, BeachPollGateRequest kind)
{
  switch (kind) {
    case BEACH_POLL_GATE_REQUEST_POLL:
      return &self->polls_in_flight;
    case BEACH_POLL_GATE_REQUEST_ACK:
      return &self->acks_in_flight;
    case BEACH_POLL_GATE_REQUEST_CHECK:
      return &self->checks_in_flight;
    default:
      return NULL;
  }
}

/**
 * beach_poll_gate_request_started:
 * @self: a #BeachPollGate
 * @kind: the request
 * @now_us: the caller's monotonic time, in microseconds
 *
 * A request went out. A poll or an ack in flight ends a pause; a safety
 * check does not.
 */
void
beach_poll_gate_request_started (BeachPollGate *self, BeachPollGateRequest kind, gint64 now_us)
{
  guint *n;

  g_return_if_fail (BEACH_IS_POLL_GATE (self));
  n = counter (self, kind);
  g_return_if_fail (n != NULL);

  if (*n < G_MAXUINT)
    (*n)++;
  settle (self, NULL, now_us);
}

/**
 * beach_poll_gate_request_finished:
 * @self: a #BeachPollGate
 * @kind: the request
 * @ok: whether it succeeded
 * @now_us: the caller's monotonic time, in microseconds
 *
 * A request came back. A successful poll or check clears the error count;
 * a successful check also schedules the next one a check interval from
 * @now_us. A failed poll backs off. A failed check while paused loses the
 * confirmation and backs off (reason `check_failed`); otherwise it counts
 * as a failed poll. A failed ack only ends its count: the caller retries
 * acks. A finish with no matching start is ignored.
 */
void
beach_poll_gate_request_finished (BeachPollGate *self, BeachPollGateRequest kind, gboolean ok, gint64 now_us)
{
  guint *n;

  g_return_if_fail (BEACH_IS_POLL_GATE (self));
  n = counter (self, kind);
  g_return_if_fail (n != NULL);

  if (*n == 0) {
    g_debug ("a %s finished that never started: ignored", nick (BEACH_TYPE_POLL_GATE_REQUEST, kind));
    return;
  }
  (*n)--;

  if (kind == BEACH_POLL_GATE_REQUEST_ACK) {
    settle (self, NULL, now_us);
  } else if (ok) {
    self->consecutive_errors = 0;
    if (kind == BEACH_POLL_GATE_REQUEST_CHECK)
      self->next_check_us = now_us + (gint64) self->check_interval_ms * 1000;
    settle (self, NULL, now_us);
  } else if (kind == BEACH_POLL_GATE_REQUEST_CHECK && self->state == BEACH_POLL_GATE_STATE_PAUSED) {
    self->have_status = FALSE;
    fail (self, "check_failed", now_us);
  } else {
    fail (self, "request_failed", now_us);
  }
}

/**
 * beach_poll_gate_next:
 * @self: a #BeachPollGate
 * @now_us: the caller's monotonic time, in microseconds
 * @delay_ms: (out) (optional): with %BEACH_POLL_GATE_STEP_WAIT, when to ask
 *   again, in milliseconds (at least 1), or -1 to ask again after the next
 *   input; 0 with the other steps
 *
 * What the poller should do now. Paused, that is a safety check when one
 * is due and none is in flight. Otherwise it is a poll unless one is in
 * flight or a backoff is running; a backoff that is over returns the gate
 * to %BEACH_POLL_GATE_STATE_POLLING. The caller reports the request it
 * starts with beach_poll_gate_request_started().
 *
 * Returns: the step
 */
BeachPollGateStep
beach_poll_gate_next (BeachPollGate *self, gint64 now_us, gint64 *delay_ms)
{
  BeachPollGateStep step = BEACH_POLL_GATE_STEP_WAIT;
  gint64 delay = 0;

  g_return_val_if_fail (BEACH_IS_POLL_GATE (self), BEACH_POLL_GATE_STEP_WAIT);

  if (self->state == BEACH_POLL_GATE_STATE_PAUSED) {
    if (self->checks_in_flight > 0)
      delay = -1;
    else if (now_us >= self->next_check_us)
      step = BEACH_POLL_GATE_STEP_CHECK;
    else
      delay = (self->next_check_us - now_us + 999) / 1000;
  } else if (self->polls_in_flight > 0) {
    delay = -1;
  } else if (self->state == BEACH_POLL_GATE_STATE_BACKING_OFF && now_us < self->retry_at_us) {
    delay = MAX ((self->retry_at_us - now_us + 999) / 1000, 1);
  } else {
    set_state (self, BEACH_POLL_GATE_STATE_POLLING, "backoff_over");
    step = BEACH_POLL_GATE_STEP_POLL;
  }
  if (delay_ms != NULL)
    *delay_ms = delay;
  return step;
}

/**
 * beach_poll_gate_get_state:
 * @self: a #BeachPollGate
 *
 * Returns: the current state
 */
BeachPollGateState
beach_poll_gate_get_state (BeachPollGate *self)
{
  g_return_val_if_fail (BEACH_IS_POLL_GATE (self), BEACH_POLL_GATE_STATE_POLLING);
  return self->state;
}

/**
 * beach_poll_gate_get_paused:
 * @self: a #BeachPollGate
 *
 * Returns: %TRUE while the state is %BEACH_POLL_GATE_STATE_PAUSED
 */
gboolean
beach_poll_gate_get_paused (BeachPollGate *self)
{
  g_return_val_if_fail (BEACH_IS_POLL_GATE (self), FALSE);
  return self->state == BEACH_POLL_GATE_STATE_PAUSED;
}

/**
 * beach_poll_gate_get_reason:
 * @self: a #BeachPollGate
 *
 * Why the state last changed, in lower_snake_case: `confirmed` (to
 * paused); `link_unhealthy`, `manager_not_ready`, `pending_nonzero`,
 * `request_in_flight` (paused to polling); `request_failed`,
 * `check_failed` (to backing off); `backoff_over` (backing off to
 * polling).
 *
 * Returns: (transfer none) (nullable): the reason, or %NULL before the
 *   first change
 */
const gchar *
beach_poll_gate_get_reason (BeachPollGate *self)
{
  g_return_val_if_fail (BEACH_IS_POLL_GATE (self), NULL);
  return self->reason;
}

/**
 * beach_poll_gate_get_consecutive_errors:
 * @self: a #BeachPollGate
 *
 * Returns: how many polls or safety checks failed since the last one that
 *   succeeded
 */
guint
beach_poll_gate_get_consecutive_errors (BeachPollGate *self)
{
  g_return_val_if_fail (BEACH_IS_POLL_GATE (self), 0);
  return self->consecutive_errors;
}

static void
beach_poll_gate_constructed (GObject *object)
{
  BeachPollGate *self = BEACH_POLL_GATE (object);

  G_OBJECT_CLASS (beach_poll_gate_parent_class)->constructed (object);
  self->rand = self->seed != 0 ? g_rand_new_with_seed (self->seed) : g_rand_new ();
}

static void
beach_poll_gate_finalize (GObject *object)
{
  BeachPollGate *self = BEACH_POLL_GATE (object);

  g_clear_pointer (&self->rand, g_rand_free);
  G_OBJECT_CLASS (beach_poll_gate_parent_class)->finalize (object);
}

static void
beach_poll_gate_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BeachPollGate *self = BEACH_POLL_GATE (object);

  switch (prop_id) {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_REASON:
      g_value_set_static_string (value, self->reason);
      break;
    case PROP_BACKOFF_MIN_MS:
      g_value_set_uint (value, self->backoff_min_ms);
      break;
    case PROP_BACKOFF_MAX_MS:
      g_value_set_uint (value, self->backoff_max_ms);
      break;
    case PROP_CHECK_INTERVAL_MS:
      g_value_set_uint (value, self->check_interval_ms);
      break;
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
beach_poll_gate_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BeachPollGate *self = BEACH_POLL_GATE (object);

  switch (prop_id) {
    case PROP_BACKOFF_MIN_MS:
      self->backoff_min_ms = g_value_get_uint (value);
      break;
    case PROP_BACKOFF_MAX_MS:
      self->backoff_max_ms = g_value_get_uint (value);
      break;
    case PROP_CHECK_INTERVAL_MS:
      self->check_interval_ms = g_value_get_uint (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
beach_poll_gate_class_init (BeachPollGateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags construct = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_EXPLICIT_NOTIFY
                                | G_PARAM_STATIC_STRINGS;

  object_class->constructed = beach_poll_gate_constructed;
  object_class->finalize = beach_poll_gate_finalize;
  object_class->get_property = beach_poll_gate_get_property;
  object_class->set_property = beach_poll_gate_set_property;

  /**
   * BeachPollGate:state:
   *
   * Where the gate is. Notified once per change, never on an input that
   * leaves it where it was.
   */
  props[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, BEACH_TYPE_POLL_GATE_STATE,
                                         BEACH_POLL_GATE_STATE_POLLING, ro);
  /**
   * BeachPollGate:reason:
   *
   * Why the state last changed (see beach_poll_gate_get_reason()), or
   * %NULL before the first change. Notified with #BeachPollGate:state.
   */
  props[PROP_REASON] = g_param_spec_string ("reason", NULL, NULL, NULL, ro);
  /**
   * BeachPollGate:backoff-min-ms:
   *
   * The backoff after the first failure, in milliseconds; each further
   * failure doubles it. Every backoff is jittered down by up to half.
   */
  props[PROP_BACKOFF_MIN_MS] = g_param_spec_uint ("backoff-min-ms", NULL, NULL, 1, G_MAXINT32, 100, construct);
  /**
   * BeachPollGate:backoff-max-ms:
   *
   * The longest backoff, in milliseconds, before jitter. A value below
   * #BeachPollGate:backoff-min-ms is read as that.
   */
  props[PROP_BACKOFF_MAX_MS] = g_param_spec_uint ("backoff-max-ms", NULL, NULL, 1, G_MAXINT32, 5000, construct);
  /**
   * BeachPollGate:check-interval-ms:
   *
   * How long, in milliseconds, after pausing and after each finished safety
   * check the next one is due.
   */
  props[PROP_CHECK_INTERVAL_MS] = g_param_spec_uint ("check-interval-ms", NULL, NULL, 1, G_MAXINT32, 5000, construct);
  /**
   * BeachPollGate:seed:
   *
   * Seeds the backoff jitter: 0 seeds it at random, any other value makes
   * the delays repeatable (for tests).
   */
  props[PROP_SEED] = g_param_spec_uint ("seed", NULL, NULL, 0, G_MAXUINT, 0, construct);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
beach_poll_gate_init (BeachPollGate *self)
{
  self->state = BEACH_POLL_GATE_STATE_POLLING;
  self->transport = BEACH_TRANSPORT_PENDING;
}
