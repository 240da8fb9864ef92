/* beach-handshake.h: what a controller handshake does, decided without I/O
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-session.h"

G_BEGIN_DECLS

/* A renegotiation under way is reused for this long (WIRE.md). */
#define BEACH_HANDSHAKE_REUSE_WINDOW_MS 10000

/* The default `reason` of a handshake's lease. */
#define BEACH_HANDSHAKE_DEFAULT_REASON "handshake"

typedef struct {
  /* The session's state. */
  BeachTransportMode mode;
  gboolean primary_healthy;      /* the heartbeat rule */
  gboolean candidate_connecting; /* a link offered and not yet healthy or closed */
  gint64 last_renegotiation_ms;  /* 0: none issued by a renegotiation */
  /* The call. */
  gboolean renew_only;      /* POST .../controller-handshake/renew */
  gboolean by_lease;        /* the bearer is a lease (else the operator) */
  const gchar *bearer;      /* the lease token when by_lease */
  const gchar *named_lease; /* body `controller_token`, nullable */
  const gchar *reason;      /* body `reason`, nullable: the default */
  gint64 now_ms;
} BeachHandshakeInput;

typedef enum {
  BEACH_HANDSHAKE_LEASE_RENEW, /* renew plan->lease */
  BEACH_HANDSHAKE_LEASE_GRANT, /* grant a new lease to the operator */
} BeachHandshakeLeaseOp;

typedef enum {
  BEACH_HANDSHAKE_ID_KEEP,  /* refresh: the id stays */
  BEACH_HANDSHAKE_ID_REUSE, /* renegotiate, one already under way: the id stays */
  BEACH_HANDSHAKE_ID_ISSUE, /* renegotiate: a new id */
} BeachHandshakeIdOp;

typedef struct {
  BeachHandshakeKind kind;
  BeachHandshakeIdOp id_op;
  BeachHandshakeLeaseOp lease_op;
  BeachLease *lease; /* RENEW: owned by the session */
} BeachHandshakePlan;

gboolean beach_handshake_plan (BeachSession *session,
                               const BeachHandshakeInput *in,
                               BeachHandshakePlan *out,
                               GError **error);

G_END_DECLS
