/* test-handshake.c: beach_handshake_plan() over every combination of link
 * state, mode and lease state
 *
 * The expectations are WIRE.md "Leases and handshake" and its "Details",
 * written out here independently of src/manager/beach-handshake.c: the kind
 * and id rule as a small function over the table's hand-labelled columns,
 * the lease rule as one hand-written outcome per lease case. A disagreement
 * is reported with the whole combination, and the walk goes on, so one run
 * lists every disagreement.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "beach-handshake.h"

/* Sessions are made at T0; plans run at T0 + PLAN_AFTER_MS, when a lease
 * granted with EXPIRED_TTL_MS has expired and one with LIVE_TTL_MS is live. */
#define T0             G_GINT64_CONSTANT (1700000000000)
#define PLAN_AFTER_MS  G_GINT64_CONSTANT (60000)
#define LIVE_TTL_MS    3600000
#define EXPIRED_TTL_MS 1000
/* Far enough in the future that every lease has expired. */
#define FAR_FUTURE_MS G_GINT64_CONSTANT (2 * 86400000)

#define SESSION_ID    "sess-1"
#define UNKNOWN_TOKEN SESSION_ID ":no-such-lease"

/* -- the link-state dimensions */

static const struct {
  const gchar *name;
  BeachTransportMode mode;
  gboolean fast_path; /* the hand-written label the rule reads */
} modes[] = {
  { "fast_path", BEACH_TRANSPORT_MODE_FAST_PATH, TRUE },
  { "http_fallback", BEACH_TRANSPORT_MODE_HTTP_FALLBACK, FALSE },
};

/* The 10 s window runs from the last id issued by a renegotiation, and is
 * `< 10000`: exactly 10 s ago is outside. */
static const struct {
  const gchar *name;
  gint64 ago_ms; /* -1: none (last_renegotiation_ms = 0) */
  gboolean inside_window;
} windows[] = {
  { "none", -1, FALSE },
  { "1 s ago", 1000, TRUE },
  { "9.999 s ago", 9999, TRUE },
  { "10 s ago (edge)", 10000, FALSE },
  { "60 s ago", 60000, FALSE },
};

typedef struct {
  guint mode;
  gboolean primary_healthy;
  gboolean candidate_connecting;
  guint window;
  gboolean renew_only;
} LinkCombo;

#define N_LINK_COMBOS (G_N_ELEMENTS (modes) * 2 * 2 * G_N_ELEMENTS (windows) * 2)

static LinkCombo
link_combo (guint i)
{
  LinkCombo c;

  c.renew_only = i % 2;
  i /= 2;
  c.window = i % G_N_ELEMENTS (windows);
  i /= G_N_ELEMENTS (windows);
  c.candidate_connecting = i % 2;
  i /= 2;
  c.primary_healthy = i % 2;
  i /= 2;
  c.mode = i;
  g_assert_cmpuint (c.mode, <, G_N_ELEMENTS (modes));
  return c;
}

static gchar *
link_combo_describe (const LinkCombo *c)
{
  return g_strdup_printf ("mode=%s primary_healthy=%d candidate_connecting=%d last_renegotiation=%s renew_only=%d",
                          modes[c->mode].name, c->primary_healthy, c->candidate_connecting,
                          windows[c->window].name, c->renew_only);
}

static void
link_combo_fill (const LinkCombo *c, gint64 now_ms, BeachHandshakeInput *in)
{
  in->mode = modes[c->mode].mode;
  in->primary_healthy = c->primary_healthy;
  in->candidate_connecting = c->candidate_connecting;
  in->last_renegotiation_ms = windows[c->window].ago_ms < 0 ? 0 : now_ms - windows[c->window].ago_ms;
  in->renew_only = c->renew_only;
  in->now_ms = now_ms;
}

/* WIRE.md: /renew is always `refresh`; so is a healthy primary link or an
 * http_fallback session. Otherwise `renegotiate`, returning the id under way
 * when a candidate is connecting or the last renegotiation is inside the
 * window, else issuing a new one. */
static void
expected_kind (const LinkCombo *c, BeachHandshakeKind *kind, BeachHandshakeIdOp *id_op)
{
  if (c->renew_only || !modes[c->mode].fast_path || c->primary_healthy) {
    *kind = BEACH_HANDSHAKE_KIND_REFRESH;
    *id_op = BEACH_HANDSHAKE_ID_KEEP;
  } else if (c->candidate_connecting || windows[c->window].inside_window) {
    *kind = BEACH_HANDSHAKE_KIND_RENEGOTIATE;
    *id_op = BEACH_HANDSHAKE_ID_REUSE;
  } else {
    *kind = BEACH_HANDSHAKE_KIND_RENEGOTIATE;
    *id_op = BEACH_HANDSHAKE_ID_ISSUE;
  }
}

static const gchar *
kind_name (BeachHandshakeKind kind)
{
  switch (kind) {
    case BEACH_HANDSHAKE_KIND_REFRESH:
      return "refresh";
    case BEACH_HANDSHAKE_KIND_RENEGOTIATE:
      return "renegotiate";
    default:
      return "(bad kind)";
  }
}

static const gchar *
id_op_name (BeachHandshakeIdOp op)
{
  switch (op) {
    case BEACH_HANDSHAKE_ID_KEEP:
      return "KEEP";
    case BEACH_HANDSHAKE_ID_REUSE:
      return "REUSE";
    case BEACH_HANDSHAKE_ID_ISSUE:
      return "ISSUE";
    default:
      return "(bad id op)";
  }
}

/* -- the lease dimension */

typedef enum {
  L_END = 0, /* terminates a case's lease list */
  L_LIVE,
  L_RELEASED,
  L_EXPIRED,
} LeaseState;

typedef struct {
  LeaseState state;
  const gchar *reason; /* nullable, as the lease route grants them */
  gboolean by_operator;
} LeaseSpec;

#define MAX_LEASES 4

typedef enum {
  CALLER_OPERATOR,
  CALLER_BEARER,
} Caller;

/* A lease index, or one of these. */
#define NONE    (-1)
#define UNKNOWN (-2)

typedef enum {
  EXPECT_GRANT,
  EXPECT_RENEW,
  EXPECT_MISSING_LEASE, /* 409 */
  EXPECT_FORBIDDEN,     /* 403 */
} ExpectWhat;

typedef struct {
  ExpectWhat what;
  gint lease; /* EXPECT_RENEW: the index of the renewed lease */
} Outcome;

#define GRANT          \
  {                    \
    EXPECT_GRANT, NONE \
  }
#define RENEW(i)      \
  {                   \
    EXPECT_RENEW, (i) \
  }
#define MISSING                \
  {                            \
    EXPECT_MISSING_LEASE, NONE \
  }
#define FORBIDDEN          \
  {                        \
    EXPECT_FORBIDDEN, NONE \
  }

#define OP_LIVE(r)    \
  {                   \
    L_LIVE, (r), TRUE \
  }
#define OP_RELEASED(r)    \
  {                       \
    L_RELEASED, (r), TRUE \
  }
#define OP_EXPIRED(r)    \
  {                      \
    L_EXPIRED, (r), TRUE \
  }
#define LEASE_LIVE(r)  \
  {                    \
    L_LIVE, (r), FALSE \
  }
#define LEASE_RELEASED(r)  \
  {                        \
    L_RELEASED, (r), FALSE \
  }
#define LEASE_EXPIRED(r)  \
  {                       \
    L_EXPIRED, (r), FALSE \
  }

typedef struct {
  const gchar *name;
  LeaseSpec leases[MAX_LEASES + 1]; /* in grant order, oldest first */
  Caller caller;
  gint bearer;               /* CALLER_BEARER: the index of the bearer's lease */
  gint named;                /* body controller_token: NONE, UNKNOWN or an index */
  const gchar *reason;       /* body reason, nullable */
  gint64 plan_at_ms;         /* 0: T0 + PLAN_AFTER_MS */
  Outcome expect;            /* POST .../controller-handshake */
  Outcome expect_renew_only; /* POST .../controller-handshake/renew */
} LeaseCase;

static const LeaseCase lease_cases[] = {
  /* The operator, naming no lease: "the caller's lease" is the newest live
   * lease granted to the operator with the same reason (default
   * "handshake"), else a grant. /renew needs a lease to extend: 403. */
  { "operator, no leases", { { L_END } }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, no leases, reason x", { { L_END } }, CALLER_OPERATOR, NONE, NONE, "x", 0, GRANT, FORBIDDEN },
  { "operator, live handshake lease, default reason", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (0), FORBIDDEN },
  { "operator, live handshake lease, reason handshake", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, "handshake", 0, RENEW (0), FORBIDDEN },
  { "operator, live x lease, reason x", { OP_LIVE ("x") }, CALLER_OPERATOR, NONE, NONE, "x", 0, RENEW (0), FORBIDDEN },
  { "operator, live x lease, default reason", { OP_LIVE ("x") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, live handshake lease, reason x", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, "x", 0, GRANT, FORBIDDEN },
  { "operator, live lease with null reason (the lease route's default), default reason", { OP_LIVE (NULL) }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, live Handshake lease (case differs), default reason", { OP_LIVE ("Handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, three live handshake leases: the newest", { OP_LIVE ("handshake"), OP_LIVE ("handshake"), OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (2), FORBIDDEN },
  { "operator, live handshake leases, newest released: the newest live", { OP_LIVE ("handshake"), OP_LIVE ("handshake"), OP_RELEASED ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (1), FORBIDDEN },
  { "operator, live handshake lease, newer expired: the live one", { OP_LIVE ("handshake"), OP_EXPIRED ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (0), FORBIDDEN },
  { "operator, live handshake lease, newer live x lease: the same reason", { OP_LIVE ("handshake"), OP_LIVE ("x") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (0), FORBIDDEN },
  { "operator, live handshake lease, newer non-operator handshake lease: the operator's", { OP_LIVE ("handshake"), LEASE_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (0), FORBIDDEN },
  { "operator, released handshake lease", { OP_RELEASED ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, expired handshake lease", { OP_EXPIRED ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, released and expired handshake leases", { OP_RELEASED ("handshake"), OP_EXPIRED ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, live non-operator handshake lease", { LEASE_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  { "operator, live non-operator x lease, reason x", { LEASE_LIVE ("x") }, CALLER_OPERATOR, NONE, NONE, "x", 0, GRANT, FORBIDDEN },
  { "operator, handshake lease, planned when every lease has expired", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, T0 + FAR_FUTURE_MS, GRANT, FORBIDDEN },

  /* The operator naming a lease: that lease, whoever holds it and whatever
   * its reason; a dead or unknown one is 409, never a fall-through. */
  { "operator names a live operator lease", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, 0, NULL, 0, RENEW (0), RENEW (0) },
  { "operator names a live non-operator lease", { LEASE_LIVE ("x") }, CALLER_OPERATOR, NONE, 0, NULL, 0, RENEW (0), RENEW (0) },
  { "operator names a live lease with another reason", { OP_LIVE ("x") }, CALLER_OPERATOR, NONE, 0, "handshake", 0, RENEW (0), RENEW (0) },
  { "operator names the older of two live handshake leases", { OP_LIVE ("handshake"), OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, 0, NULL, 0, RENEW (0), RENEW (0) },
  { "operator names a released lease (a live one with its reason exists)", { OP_RELEASED ("handshake"), OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, 0, NULL, 0, MISSING, MISSING },
  { "operator names an expired lease (a live one with its reason exists)", { OP_EXPIRED ("handshake"), OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, 0, NULL, 0, MISSING, MISSING },
  { "operator names a released non-operator lease", { LEASE_RELEASED ("x") }, CALLER_OPERATOR, NONE, 0, NULL, 0, MISSING, MISSING },
  { "operator names a lease, planned when every lease has expired", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, 0, NULL, T0 + FAR_FUTURE_MS, MISSING, MISSING },
  { "operator names an unknown token", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, UNKNOWN, NULL, 0, MISSING, MISSING },
  { "operator names an unknown token, no leases", { { L_END } }, CALLER_OPERATOR, NONE, UNKNOWN, NULL, 0, MISSING, MISSING },

  /* A lease bearer renews itself, and only itself. */
  { "bearer, no name", { LEASE_LIVE ("x") }, CALLER_BEARER, 0, NONE, NULL, 0, RENEW (0), RENEW (0) },
  { "bearer of an operator-granted lease, no name", { OP_LIVE ("handshake") }, CALLER_BEARER, 0, NONE, NULL, 0, RENEW (0), RENEW (0) },
  { "bearer names itself", { LEASE_LIVE ("x") }, CALLER_BEARER, 0, 0, NULL, 0, RENEW (0), RENEW (0) },
  { "bearer, reason y, newer operator y lease: itself", { LEASE_LIVE ("x"), OP_LIVE ("y") }, CALLER_BEARER, 0, NONE, "y", 0, RENEW (0), RENEW (0) },
  { "bearer, older of two live leases with its reason: itself", { OP_LIVE ("handshake"), OP_LIVE ("handshake") }, CALLER_BEARER, 0, NONE, NULL, 0, RENEW (0), RENEW (0) },
  { "bearer names another live lease", { LEASE_LIVE ("x"), LEASE_LIVE ("x") }, CALLER_BEARER, 0, 1, NULL, 0, FORBIDDEN, FORBIDDEN },
  { "bearer names another live operator lease", { LEASE_LIVE ("x"), OP_LIVE ("handshake") }, CALLER_BEARER, 0, 1, NULL, 0, FORBIDDEN, FORBIDDEN },
  { "bearer names another, dead lease", { LEASE_LIVE ("x"), LEASE_RELEASED ("x") }, CALLER_BEARER, 0, 1, NULL, 0, FORBIDDEN, FORBIDDEN },
  { "bearer names an unknown token", { LEASE_LIVE ("x") }, CALLER_BEARER, 0, UNKNOWN, NULL, 0, FORBIDDEN, FORBIDDEN },
  { "released bearer, no name", { LEASE_RELEASED ("x") }, CALLER_BEARER, 0, NONE, NULL, 0, MISSING, MISSING },
  { "expired bearer, no name", { LEASE_EXPIRED ("x") }, CALLER_BEARER, 0, NONE, NULL, 0, MISSING, MISSING },
  { "released bearer names itself", { LEASE_RELEASED ("x") }, CALLER_BEARER, 0, 0, NULL, 0, MISSING, MISSING },
  { "expired bearer names itself", { OP_EXPIRED ("handshake") }, CALLER_BEARER, 0, 0, NULL, 0, MISSING, MISSING },
  { "released bearer, a live operator lease with the same reason", { OP_RELEASED ("handshake"), OP_LIVE ("handshake") }, CALLER_BEARER, 0, NONE, NULL, 0, MISSING, MISSING },
  { "bearer, planned when every lease has expired", { LEASE_LIVE ("x") }, CALLER_BEARER, 0, NONE, NULL, T0 + FAR_FUTURE_MS, MISSING, MISSING },
  /* Both rules apply; naming another is checked first, as the lease route
   * does (beach-http-sessions.c resolve_named_lease). */
  { "released bearer names another live lease", { LEASE_RELEASED ("x"), LEASE_LIVE ("x") }, CALLER_BEARER, 0, 1, NULL, 0, FORBIDDEN, FORBIDDEN },
};

/* -- fixtures */

static BeachSession *
new_session (BeachTransportMode mode)
{
  g_autoptr (BeachRegistration) reg = g_new0 (BeachRegistration, 1);

  reg->session_id = g_strdup (SESSION_ID);
  reg->private_beach_id = g_strdup ("beach-1");
  reg->harness_type = BEACH_HARNESS_TYPE_CUSTOM;
  reg->capabilities = g_strsplit ("terminal", ",", -1);
  reg->version = g_strdup ("1.0");
  reg->transport_mode = mode;
  return beach_session_new (reg, T0);
}

static void
count_changed (BeachSession *session, guint *n)
{
  (*n)++;
}

/* Everything a plan must leave alone. */
typedef struct {
  guint n_leases;
  guint n_order;
  guint live;
  gint64 expires_at_ms;
  gchar *handshake_id;
  BeachTransport transport;
  gint64 last_activity_ms;
  gint64 lease_expires_at_ms[MAX_LEASES];
  guint lease_ttl_ms[MAX_LEASES];
  gboolean lease_released[MAX_LEASES];
} Snapshot;

static void
snapshot_take (BeachSession *session, BeachLease **leases, guint n, gint64 now_ms, Snapshot *s)
{
  s->n_leases = g_hash_table_size (session->leases);
  s->n_order = g_queue_get_length (&session->lease_order);
  s->live = beach_session_count_live_leases (session, now_ms);
  s->expires_at_ms = beach_session_lease_expires_at_ms (session, now_ms);
  s->handshake_id = g_strdup (session->handshake_id);
  s->transport = session->transport;
  s->last_activity_ms = session->last_activity_ms;
  for (guint i = 0; i < n; i++) {
    s->lease_expires_at_ms[i] = leases[i]->expires_at_ms;
    s->lease_ttl_ms[i] = leases[i]->ttl_ms;
    s->lease_released[i] = leases[i]->released;
  }
}

/* NULL when nothing changed, else what did. */
static gchar *
snapshot_compare (BeachSession *session, BeachLease **leases, guint n, gint64 now_ms, const Snapshot *s)
{
  if (g_hash_table_size (session->leases) != s->n_leases || g_queue_get_length (&session->lease_order) != s->n_order)
    return g_strdup_printf ("lease count %u/%u -> %u/%u", s->n_leases, s->n_order,
                            g_hash_table_size (session->leases), g_queue_get_length (&session->lease_order));
  if (beach_session_count_live_leases (session, now_ms) != s->live)
    return g_strdup_printf ("live leases %u -> %u", s->live, beach_session_count_live_leases (session, now_ms));
  if (beach_session_lease_expires_at_ms (session, now_ms) != s->expires_at_ms)
    return g_strdup ("the session's lease expiry changed");
  if (g_strcmp0 (session->handshake_id, s->handshake_id) != 0)
    return g_strdup ("handshake_id changed");
  if (session->transport != s->transport || session->last_activity_ms != s->last_activity_ms)
    return g_strdup ("transport or activity changed");
  for (guint i = 0; i < n; i++) {
    if (beach_session_lookup_lease (session, leases[i]->token) != leases[i])
      return g_strdup_printf ("lease %u is no longer the session's", i);
    if (leases[i]->expires_at_ms != s->lease_expires_at_ms[i] || leases[i]->ttl_ms != s->lease_ttl_ms[i] || leases[i]->released != s->lease_released[i])
      return g_strdup_printf ("lease %u changed", i);
  }
  return NULL;
}

static void
snapshot_clear (Snapshot *s)
{
  g_clear_pointer (&s->handshake_id, g_free);
}

/* -- checks */

static const gchar *
outcome_name (const Outcome *o, gchar *buf, gsize len)
{
  switch (o->what) {
    case EXPECT_GRANT:
      return "GRANT";
    case EXPECT_RENEW:
      g_snprintf (buf, len, "RENEW lease %d", o->lease);
      return buf;
    case EXPECT_MISSING_LEASE:
      return "BEACH_ERROR_MISSING_LEASE (409)";
    case EXPECT_FORBIDDEN:
      return "BEACH_ERROR_FORBIDDEN (403)";
    default:
      return "(bad outcome)";
  }
}

/* What the plan did, in the same words. */
static gchar *
describe_result (gboolean ok, const GError *error, const BeachHandshakePlan *plan, BeachLease **leases, guint n)
{
  if (!ok) {
    if (error == NULL)
      return g_strdup ("FALSE without an error");
    if (error->domain != BEACH_ERROR)
      return g_strdup_printf ("error in %s: %s", g_quark_to_string (error->domain), error->message);
    if (error->code == BEACH_ERROR_MISSING_LEASE)
      return g_strdup_printf ("BEACH_ERROR_MISSING_LEASE (409): %s", error->message);
    if (error->code == BEACH_ERROR_FORBIDDEN)
      return g_strdup_printf ("BEACH_ERROR_FORBIDDEN (403): %s", error->message);
    return g_strdup_printf ("BEACH_ERROR code %d: %s", error->code, error->message);
  }
  if (error != NULL)
    return g_strdup_printf ("TRUE with an error set: %s", error->message);
  if (plan->lease_op == BEACH_HANDSHAKE_LEASE_GRANT)
    return plan->lease == NULL ? g_strdup ("GRANT") : g_strdup ("GRANT with a lease set");
  if (plan->lease_op == BEACH_HANDSHAKE_LEASE_RENEW) {
    for (guint i = 0; i < n; i++)
      if (plan->lease == leases[i])
        return g_strdup_printf ("RENEW lease %u", i);
    return g_strdup_printf ("RENEW of %p, none of the case's leases", (gpointer) plan->lease);
  }
  return g_strdup_printf ("lease_op %d", plan->lease_op);
}

static gboolean
result_matches (gboolean ok, const GError *error, const BeachHandshakePlan *plan, BeachLease **leases, guint n, const Outcome *expect)
{
  switch (expect->what) {
    case EXPECT_GRANT:
      return ok && error == NULL && plan->lease_op == BEACH_HANDSHAKE_LEASE_GRANT && plan->lease == NULL;
    case EXPECT_RENEW:
      g_assert_cmpint (expect->lease, >=, 0);
      g_assert_cmpint (expect->lease, <, (gint) n);
      return ok && error == NULL && plan->lease_op == BEACH_HANDSHAKE_LEASE_RENEW && plan->lease == leases[expect->lease];
    case EXPECT_MISSING_LEASE:
      return !ok && g_error_matches (error, BEACH_ERROR, BEACH_ERROR_MISSING_LEASE);
    case EXPECT_FORBIDDEN:
      return !ok && g_error_matches (error, BEACH_ERROR, BEACH_ERROR_FORBIDDEN);
    default:
      g_assert_not_reached ();
  }
}

typedef struct {
  guint plans;
  guint failures;
} Tally;

static void
fail (Tally *t, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static void
fail (Tally *t, const gchar *format, ...)
{
  va_list args;
  g_autofree gchar *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  t->failures++;
  g_test_message ("DISAGREES: %s", msg);
}

static void
tally_finish (const Tally *t, const gchar *what)
{
  g_test_message ("%u %s planned", t->plans, what);
  if (t->failures > 0)
    g_test_fail_printf ("%u of %u %s disagree with WIRE.md (listed above)", t->failures, t->plans, what);
}

/* One plan: the lease case under the link combination, in a fresh session. */
static void
run_one (const LeaseCase *lc, const LinkCombo *c, Tally *t)
{
  g_autoptr (BeachSession) session = new_session (modes[c->mode].mode);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *desc = NULL;
  g_autofree gchar *link = NULL;
  g_autofree gchar *got = NULL;
  g_autofree gchar *changed = NULL;
  BeachLease *leases[MAX_LEASES] = { NULL };
  BeachHandshakeInput in = { 0 };
  BeachHandshakePlan plan;
  Snapshot before = { 0 };
  gint64 now_ms = lc->plan_at_ms != 0 ? lc->plan_at_ms : T0 + PLAN_AFTER_MS;
  const Outcome *expect = c->renew_only ? &lc->expect_renew_only : &lc->expect;
  gchar buf[64];
  guint n = 0;
  guint n_changed = 0;
  gulong handler;
  gboolean ok;

  for (; lc->leases[n].state != L_END; n++) {
    const LeaseSpec *spec = &lc->leases[n];

    g_assert_cmpuint (n, <, MAX_LEASES);
    leases[n] = beach_session_grant_lease (session, spec->state == L_EXPIRED ? EXPIRED_TTL_MS : LIVE_TTL_MS,
                                           spec->reason, spec->by_operator, T0 + n);
    if (spec->state == L_RELEASED)
      beach_session_release_lease (session, leases[n]);
    /* The fixture is what the case says it is. */
    g_assert_cmpint (beach_session_lease_is_live (leases[n], now_ms), ==,
                     spec->state == L_LIVE && now_ms < T0 + LIVE_TTL_MS);
  }

  link_combo_fill (c, now_ms, &in);
  in.by_lease = lc->caller == CALLER_BEARER;
  if (in.by_lease) {
    g_assert_cmpint (lc->bearer, >=, 0);
    g_assert_cmpint (lc->bearer, <, (gint) n);
    in.bearer = leases[lc->bearer]->token;
  }
  if (lc->named == UNKNOWN)
    in.named_lease = UNKNOWN_TOKEN;
  else if (lc->named != NONE)
    in.named_lease = leases[lc->named]->token;
  in.reason = lc->reason;

  snapshot_take (session, leases, n, now_ms, &before);
  handler = g_signal_connect (session, "changed", G_CALLBACK (count_changed), &n_changed);
  memset (&plan, 0xa5, sizeof (plan));
  ok = beach_handshake_plan (session, &in, &plan, &error);
  g_signal_handler_disconnect (session, handler);
  t->plans++;

  link = link_combo_describe (c);
  desc = g_strdup_printf ("[%s] %s", lc->name, link);
  got = describe_result (ok, error, &plan, leases, n);
  if (!result_matches (ok, error, &plan, leases, n, expect))
    fail (t, "%s: expected %s, got %s", desc, outcome_name (expect, buf, sizeof (buf)), got);
  else if (ok) {
    /* An error makes the kind irrelevant; a plan carries one. */
    BeachHandshakeKind kind;
    BeachHandshakeIdOp id_op;

    expected_kind (c, &kind, &id_op);
    if (plan.kind != kind || plan.id_op != id_op)
      fail (t, "%s: expected %s/%s, got %s/%s", desc, kind_name (kind), id_op_name (id_op),
            kind_name (plan.kind), id_op_name (plan.id_op));
  }

  changed = snapshot_compare (session, leases, n, now_ms, &before);
  if (changed != NULL)
    fail (t, "%s: planning changed the session: %s", desc, changed);
  else if (n_changed != 0)
    fail (t, "%s: planning emitted \"changed\" %u times", desc, n_changed);
  snapshot_clear (&before);
}

/* -- tests */

/* The kind and id decision over every link combination, for each caller that
 * gets a plan: a lease bearer, the operator naming a lease, the operator
 * renewing its handshake lease (and, under /renew, its 403). */
static void
test_handshake_kind (void)
{
  static const LeaseCase callers[] = {
    { "bearer", { LEASE_LIVE ("x") }, CALLER_BEARER, 0, NONE, NULL, 0, RENEW (0), RENEW (0) },
    { "operator names a lease", { LEASE_LIVE ("x") }, CALLER_OPERATOR, NONE, 0, NULL, 0, RENEW (0), RENEW (0) },
    { "operator, its handshake lease", { OP_LIVE ("handshake") }, CALLER_OPERATOR, NONE, NONE, NULL, 0, RENEW (0), FORBIDDEN },
    { "operator, first handshake", { { L_END } }, CALLER_OPERATOR, NONE, NONE, NULL, 0, GRANT, FORBIDDEN },
  };
  Tally t = { 0 };

  g_assert_cmpuint (N_LINK_COMBOS, ==, 80);
  for (guint i = 0; i < N_LINK_COMBOS; i++) {
    LinkCombo c = link_combo (i);

    for (guint k = 0; k < G_N_ELEMENTS (callers); k++)
      run_one (&callers[k], &c, &t);
  }
  tally_finish (&t, "link combinations x callers");
}

/* Every lease case under every link combination. */
static void
test_handshake_lease (void)
{
  Tally t = { 0 };

  for (guint k = 0; k < G_N_ELEMENTS (lease_cases); k++)
    for (guint i = 0; i < N_LINK_COMBOS; i++) {
      LinkCombo c = link_combo (i);

      run_one (&lease_cases[k], &c, &t);
    }
  tally_finish (&t, "lease cases x link combinations");
}

/* last_renegotiation_ms 0 means none, even when the clock itself is inside
 * 10 s of the epoch. */
static void
test_handshake_no_renegotiation_near_epoch (void)
{
  g_autoptr (BeachSession) session = new_session (BEACH_TRANSPORT_MODE_FAST_PATH);
  g_autoptr (GError) error = NULL;
  BeachLease *lease = beach_session_grant_lease (session, LIVE_TTL_MS, NULL, FALSE, 0);
  BeachHandshakeInput in = { 0 };
  BeachHandshakePlan plan;

  in.mode = BEACH_TRANSPORT_MODE_FAST_PATH;
  in.by_lease = TRUE;
  in.bearer = lease->token;
  in.now_ms = 5000;
  g_assert_true (beach_handshake_plan (session, &in, &plan, &error));
  g_assert_no_error (error);
  g_assert_cmpint (plan.kind, ==, BEACH_HANDSHAKE_KIND_RENEGOTIATE);
  g_assert_cmpint (plan.id_op, ==, BEACH_HANDSHAKE_ID_ISSUE);
  g_assert_cmpint (plan.lease_op, ==, BEACH_HANDSHAKE_LEASE_RENEW);
  g_assert_true (plan.lease == lease);

  /* ...while a real one 4 s before is inside it. */
  in.now_ms = 5000;
  in.last_renegotiation_ms = 1000;
  g_assert_true (beach_handshake_plan (session, &in, &plan, &error));
  g_assert_no_error (error);
  g_assert_cmpint (plan.id_op, ==, BEACH_HANDSHAKE_ID_REUSE);
}

/* Repeated handshakes never pile up leases: carrying out each plan the way
 * the handler does, the operator keeps one live handshake lease. */
static void
test_handshake_no_pile_up (void)
{
  g_autoptr (BeachSession) session = new_session (BEACH_TRANSPORT_MODE_FAST_PATH);
  BeachLease *first = NULL;

  for (guint i = 0; i < 5; i++) {
    g_autoptr (GError) error = NULL;
    BeachHandshakeInput in = { 0 };
    BeachHandshakePlan plan;

    in.mode = BEACH_TRANSPORT_MODE_FAST_PATH;
    in.primary_healthy = TRUE;
    in.now_ms = T0 + i * 1000;
    g_assert_true (beach_handshake_plan (session, &in, &plan, &error));
    g_assert_no_error (error);
    if (i == 0) {
      g_assert_cmpint (plan.lease_op, ==, BEACH_HANDSHAKE_LEASE_GRANT);
      first = beach_session_grant_lease (session, 30000, BEACH_HANDSHAKE_DEFAULT_REASON, TRUE, in.now_ms);
    } else {
      g_assert_cmpint (plan.lease_op, ==, BEACH_HANDSHAKE_LEASE_RENEW);
      g_assert_true (plan.lease == first);
      beach_session_renew_lease (session, plan.lease, 30000, in.now_ms);
    }
    g_assert_cmpuint (beach_session_count_live_leases (session, in.now_ms), ==, 1);
  }
  g_assert_cmpuint (g_hash_table_size (session->leases), ==, 1);
  g_assert_cmpstr (BEACH_HANDSHAKE_DEFAULT_REASON, ==, "handshake");
  g_assert_cmpint (BEACH_HANDSHAKE_REUSE_WINDOW_MS, ==, 10000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/handshake/kind", test_handshake_kind);
  g_test_add_func ("/handshake/lease", test_handshake_lease);
  g_test_add_func ("/handshake/no-renegotiation-near-epoch", test_handshake_no_renegotiation_near_epoch);
  g_test_add_func ("/handshake/no-pile-up", test_handshake_no_pile_up);

  return g_test_run ();
}
