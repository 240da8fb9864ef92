/* beach-handshake.c: what a controller handshake does, decided without I/O
 *
 * The rules are WIRE.md "Leases and handshake" and its "Details": which
 * lease a call renews (or grants), whether it is a `refresh` or a
 * `renegotiate`, and whether a renegotiation issues a new handshake id or
 * returns the one already under way. The HTTP handler carries the plan out
 * (beach-http-handshake.c); keeping the decision here lets a unit test walk
 * every combination of link state, mode and lease state.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-handshake"

#include "config.h"

#include "beach-handshake.h"

/* The operator's newest live lease with this reason. */
static BeachLease *
operator_lease_for_reason (BeachSession *session, const gchar *reason, gint64 now_ms)
{
  for (GList *l = session->lease_order.tail; l != NULL; l = l->prev) {
    BeachLease *lease = beach_session_lookup_lease (session, l->data);

    if (lease != NULL && lease->by_operator && beach_session_lease_is_live (lease, now_ms) && g_strcmp0 (lease->reason, reason) == 0)
      return lease;
  }
  return NULL;
}

static gboolean
plan_lease (BeachSession *session, const BeachHandshakeInput *in, BeachHandshakePlan *out, GError **error)
{
  BeachLease *lease;

  if (in->by_lease) {
    /* A lease bearer renews itself, and only itself. */
    if (in->named_lease != NULL && g_strcmp0 (in->named_lease, in->bearer) != 0) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_FORBIDDEN, "a lease may act only on itself");
      return FALSE;
    }
    lease = beach_session_lookup_lease (session, in->bearer);
  } else if (in->named_lease != NULL) {
    lease = beach_session_lookup_lease (session, in->named_lease);
    if (lease == NULL) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_MISSING_LEASE, "no lease %s on session %s", in->named_lease,
                   session->session_id);
      return FALSE;
    }
  } else if (in->renew_only) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FORBIDDEN, "/renew extends the bearer's own lease");
    return FALSE;
  } else {
    lease = operator_lease_for_reason (session, in->reason != NULL ? in->reason : BEACH_HANDSHAKE_DEFAULT_REASON,
                                       in->now_ms);
    out->lease_op = lease != NULL ? BEACH_HANDSHAKE_LEASE_RENEW : BEACH_HANDSHAKE_LEASE_GRANT;
    out->lease = lease;
    return TRUE;
  }
  if (lease == NULL || !beach_session_lease_is_live (lease, in->now_ms)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_MISSING_LEASE, "the lease has expired or was released");
    return FALSE;
  }
  out->lease_op = BEACH_HANDSHAKE_LEASE_RENEW;
  out->lease = lease;
  return TRUE;
}

/* Fills out the plan for one handshake call, or fails with the error the
 * caller answers (403, 409). Nothing is changed: the caller acts on it. */
gboolean
beach_handshake_plan (BeachSession *session, const BeachHandshakeInput *in, BeachHandshakePlan *out, GError **error)
{
  g_return_val_if_fail (BEACH_IS_SESSION (session), FALSE);
  g_return_val_if_fail (in != NULL && out != NULL, FALSE);

  memset (out, 0, sizeof (*out));
  if (!plan_lease (session, in, out, error))
    return FALSE;
  /* /renew speaks of the lease only; so does a call while the link is
   * healthy or the session does not use the fast path. */
  if (in->renew_only || in->mode == BEACH_TRANSPORT_MODE_HTTP_FALLBACK || in->primary_healthy) {
    out->kind = BEACH_HANDSHAKE_KIND_REFRESH;
    out->id_op = BEACH_HANDSHAKE_ID_KEEP;
    return TRUE;
  }
  out->kind = BEACH_HANDSHAKE_KIND_RENEGOTIATE;
  if (in->candidate_connecting || (in->last_renegotiation_ms > 0 && in->now_ms - in->last_renegotiation_ms < BEACH_HANDSHAKE_REUSE_WINDOW_MS))
    out->id_op = BEACH_HANDSHAKE_ID_REUSE;
  else
    out->id_op = BEACH_HANDSHAKE_ID_ISSUE;
  return TRUE;
}
