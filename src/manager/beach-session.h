/* beach-session.h: one session's record
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "beach.h"

G_BEGIN_DECLS

/* A validated registration body. */
typedef struct {
  gchar *session_id;
  gchar *private_beach_id;
  BeachHarnessType harness_type;
  GStrv capabilities;
  gchar *location_hint; /* nullable */
  JsonObject *metadata; /* nullable */
  gchar *version;
  BeachTransportMode transport_mode;
} BeachRegistration;

BeachRegistration *beach_registration_parse (JsonNode *body,
                                             GError **error);
void beach_registration_free (BeachRegistration *reg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachRegistration, beach_registration_free)

typedef struct {
  gchar *token;
  gint64 granted_ms;
  gint64 expires_at_ms;
  guint ttl_ms;
  gchar *reason; /* nullable */
  gboolean by_operator;
  gboolean released;
} BeachLease;

#define BEACH_TYPE_SESSION (beach_session_get_type ())
G_DECLARE_FINAL_TYPE (BeachSession, beach_session, BEACH, SESSION, GObject)

/* The record is daemon-internal: read the fields directly, change them only
 * through the functions below, which emit "changed" so the D-Bus objects,
 * metrics and parked polls follow. */
struct _BeachSession {
  GObject parent_instance;

  gchar *session_id;
  gchar *private_beach_id;
  gchar *harness_id;
  BeachHarnessType harness_type;
  GStrv capabilities;
  gchar *location_hint;
  JsonObject *metadata;
  gchar *version;
  BeachTransportMode transport_mode;
  gint64 registered_at_ms;
  gint64 last_activity_ms;

  BeachTransport transport;
  BeachTransportReason transport_reason;
  gint64 transport_changed_at_ms;
  gboolean transport_known; /* FALSE until the first (registered) state */
  gchar *handshake_id;
  guint64 link_generation;
  gint64 last_renegotiation_ms; /* 0: none; in memory only */
  gboolean fast_path_ready;     /* here, or on the owner (below) */
  gint64 heartbeat_rtt_us;      /* -1: no link */
  gchar *owner;                 /* another manager's owner record ("ID GEN"), or NULL */

  guint pending;   /* queue depth */
  guint delivered; /* delivered, unacked */
  guint in_flight; /* fast-path sends awaiting their ack */

  GHashTable *leases; /* token -> BeachLease, dead ones kept (bounded) */
  GQueue lease_order; /* tokens, oldest first */

  JsonObject *last_health; /* as posted, plus received_at_ms */
  JsonNode *last_state;    /* the latest StateDiff as posted */
  gchar *last_error;

  gboolean drop_logged; /* 412 logged once until the state changes */
};

void beach_session_set_transport_mode (BeachSession *self,
                                       BeachTransportMode mode);
void beach_session_notify_changed (BeachSession *self);
void beach_session_set_handshake_id (BeachSession *self,
                                     const gchar *handshake_id);
BeachSession *beach_session_new (const BeachRegistration *reg,
                                 gint64 now_ms);
void beach_session_update (BeachSession *self,
                           const BeachRegistration *reg);
void beach_session_touch (BeachSession *self,
                          gint64 now_ms);

BeachLease *beach_session_grant_lease (BeachSession *self,
                                       guint ttl_ms,
                                       const gchar *reason,
                                       gboolean by_operator,
                                       gint64 now_ms);
BeachLease *beach_session_lookup_lease (BeachSession *self,
                                        const gchar *token);
gboolean beach_session_lease_is_live (const BeachLease *lease,
                                      gint64 now_ms);
void beach_session_renew_lease (BeachSession *self,
                                BeachLease *lease,
                                guint ttl_ms,
                                gint64 now_ms);
void beach_session_release_lease (BeachSession *self,
                                  BeachLease *lease);
void beach_session_forget_lease (BeachSession *self,
                                 const gchar *token);
guint beach_session_count_live_leases (BeachSession *self,
                                       gint64 now_ms);
gint64 beach_session_lease_expires_at_ms (BeachSession *self,
                                          gint64 now_ms);

gboolean beach_session_set_transport (BeachSession *self,
                                      BeachTransport transport,
                                      BeachTransportReason reason,
                                      gint64 now_ms,
                                      BeachTransport *out_from);
void beach_session_set_queue_stats (BeachSession *self,
                                    guint pending,
                                    guint delivered);
void beach_session_set_health (BeachSession *self,
                               JsonObject *health,
                               gint64 now_ms);
void beach_session_set_state (BeachSession *self,
                              JsonNode *state);

JsonNode *beach_session_to_json (BeachSession *self,
                                 gint64 now_ms);

/* Persistence (the Redis session store). The record is the registration
 * as registered; leases travel one JSON object each. */
JsonNode *beach_session_registration_to_json (BeachSession *self);
gchar *beach_lease_to_string (const BeachLease *lease);
BeachLease *beach_lease_new_from_string (const gchar *json,
                                         GError **error);
void beach_lease_free (BeachLease *lease);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachLease, beach_lease_free)
BeachSession *beach_session_new_restored (const BeachRegistration *reg,
                                          const gchar *harness_id,
                                          gint64 registered_at_ms,
                                          const gchar *handshake_id,
                                          gint64 now_ms);
void beach_session_restore_lease (BeachSession *self,
                                  BeachLease *lease);
const gchar *beach_lease_token_session (const gchar *token,
                                        gsize *out_len);

G_END_DECLS
