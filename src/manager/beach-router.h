/* beach-router.h: where actions go, and each session's transport
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-auth.h"
#include "beach-config.h"
#include "beach-event-hub.h"
#include "beach-fallback-queue.h"
#include "beach-fast-path.h"
#include "beach-metrics.h"
#include "beach-session-registry.h"

typedef struct _BeachSessionStore BeachSessionStore;
typedef struct _BeachCluster BeachCluster;

G_BEGIN_DECLS

typedef enum {
  BEACH_FALLBACK_POLICY_DEFAULT, /* queue only when the mode or order says so */
  BEACH_FALLBACK_POLICY_ALLOW,   /* "fallback":"allow" */
  BEACH_FALLBACK_POLICY_NEVER,   /* "fallback":"never" */
} BeachFallbackPolicy;

#define BEACH_TYPE_ROUTER (beach_router_get_type ())
G_DECLARE_FINAL_TYPE (BeachRouter, beach_router, BEACH, ROUTER, GObject)

BeachRouter *beach_router_new (const BeachConfig *config,
                               BeachSessionRegistry *registry,
                               BeachFallbackQueue *queue,
                               BeachMetrics *metrics,
                               BeachEventHub *events);

BeachSession *beach_router_register (BeachRouter *self,
                                     const BeachRegistration *reg,
                                     const gchar *session_token,
                                     gboolean *out_created,
                                     GError **error);

void beach_router_queue_actions_async (BeachRouter *self,
                                       BeachSession *session,
                                       GPtrArray *actions,
                                       BeachFallbackPolicy policy,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean beach_router_queue_actions_finish (BeachRouter *self,
                                            GAsyncResult *result,
                                            GStrv *out_accepted_ids,
                                            GStrv *out_duplicate_ids,
                                            BeachTransport *out_transport,
                                            GError **error);

void beach_router_ack_async (BeachRouter *self,
                             BeachSession *session,
                             GPtrArray *acks,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
gboolean beach_router_ack_finish (BeachRouter *self,
                                  GAsyncResult *result,
                                  guint *out_acknowledged,
                                  GError **error);

void beach_router_delete_session_async (BeachRouter *self,
                                        BeachSession *session,
                                        BeachDeadLetterReason reason,
                                        GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean beach_router_delete_session_finish (BeachRouter *self,
                                             GAsyncResult *result,
                                             GError **error);

void beach_router_record_drop (BeachRouter *self,
                               BeachSession *session,
                               BeachDropReason reason,
                               guint count);

void beach_router_update_transport (BeachRouter *self,
                                    BeachSession *session,
                                    BeachTransportReason reason);

/* Persistence (Redis). Without a store every step below completes at once
 * from the cache. */
void beach_router_set_store (BeachRouter *self,
                             BeachSessionStore *store,
                             BeachAuth *auth);
gboolean beach_router_has_store (BeachRouter *self);
BeachSessionStore *beach_router_get_store (BeachRouter *self);

/* Refreshes the cached session from the store: restores one this manager
 * has not seen (a restart, another manager's), updates leases and ids,
 * forgets one deleted elsewhere. While the store is unreachable the cache
 * answers. Result: the session or NULL. */
void beach_router_sync_session_async (BeachRouter *self,
                                      const gchar *session_id,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
BeachSession *beach_router_sync_session_finish (BeachRouter *self,
                                                GAsyncResult *result,
                                                GError **error);

/* Registration, durable before it answers (claims the global id). */
void beach_router_register_async (BeachRouter *self,
                                  const BeachRegistration *reg,
                                  const gchar *session_token,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
BeachSession *beach_router_register_finish (BeachRouter *self,
                                            GAsyncResult *result,
                                            gboolean *out_created,
                                            GError **error);

/* A lease change, durable before it answers. */
void beach_router_persist_lease_async (BeachRouter *self,
                                       BeachSession *session,
                                       BeachLease *lease,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean beach_router_persist_lease_finish (BeachRouter *self,
                                            GAsyncResult *result,
                                            GError **error);

void beach_router_set_transport_mode (BeachRouter *self,
                                      BeachSession *session,
                                      BeachTransportMode mode);
void beach_router_persist_session_async (BeachRouter *self,
                                         BeachSession *session,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean beach_router_persist_session_finish (BeachRouter *self,
                                              GAsyncResult *result,
                                              GError **error);
void beach_router_set_fast_path (BeachRouter *self,
                                 BeachFastPath *fast_path);

void beach_router_set_cluster (BeachRouter *self,
                               BeachCluster *cluster);

void beach_router_note_activity (BeachRouter *self,
                                 BeachSession *session);
void beach_router_sweep_idle (BeachRouter *self,
                              guint idle_secs);

G_END_DECLS
