/* beach-fast-path.h: the manager's side of the fast path
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-config.h"
#include "beach-event-hub.h"
#include "beach-fallback-queue.h"
#include "beach-metrics.h"
#include "beach-session-registry.h"

G_BEGIN_DECLS

#define BEACH_TYPE_FAST_PATH (beach_fast_path_get_type ())
G_DECLARE_FINAL_TYPE (BeachFastPath, beach_fast_path, BEACH, FAST_PATH, GObject)

/* One per manager. Owns every session's links (the manager answers), makes
 * a candidate primary only once it is healthy (make-before-break), tracks
 * actions in flight, and demotes to the fallback queue, in send order,
 * when the primary stops being healthy or an ack is late. It changes
 * session->fast_path_ready, in_flight, link_generation and heartbeat_rtt_us,
 * then emits "transport-hint" so the router recomputes the transport. */
BeachFastPath *beach_fast_path_new (const BeachConfig *config,
                                    BeachSessionRegistry *registry,
                                    BeachFallbackQueue *queue,
                                    BeachMetrics *metrics,
                                    BeachEventHub *events);

/* Signalling (WIRE.md "Fast-path signalling"). */
void beach_fast_path_offer_async (BeachFastPath *self,
                                  BeachSession *session,
                                  const gchar *offer_sdp,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
gchar *beach_fast_path_offer_finish (BeachFastPath *self,
                                     GAsyncResult *result,
                                     gchar **out_link_id,
                                     GError **error);
gboolean beach_fast_path_add_remote_candidate (BeachFastPath *self,
                                               BeachSession *session,
                                               const gchar *link_id,
                                               const gchar *candidate,
                                               guint sdp_mline_index,
                                               GError **error);
/* Local candidates of a link (newest when link_id is NULL) from index
 * since: a JSON array of {candidate, sdp_mid, sdp_mline_index}. */
JsonNode *beach_fast_path_get_local_candidates (BeachFastPath *self,
                                                BeachSession *session,
                                                const gchar *link_id,
                                                guint since,
                                                guint *out_next,
                                                gboolean *out_complete,
                                                GError **error);

/* Routing step 1: sends every action on the healthy primary and records it
 * in flight. Duplicates (ids already in flight) go to out_duplicates.
 * FALSE (nothing sent) when the link cannot take the whole call. */
gboolean beach_fast_path_send_actions (BeachFastPath *self,
                                       BeachSession *session,
                                       GPtrArray *actions,
                                       GStrv *out_accepted,
                                       GStrv *out_duplicates);
/* Like send_actions, for BeachQueueEntry* that keep their enqueued_ms. */
gboolean beach_fast_path_send_entries (BeachFastPath *self,
                                       BeachSession *session,
                                       GPtrArray *entries,
                                       GStrv *out_accepted,
                                       GStrv *out_duplicates);
/* The healthy primary link's generation, 0 when there is none. */
guint64 beach_fast_path_get_primary_generation (BeachFastPath *self,
                                                BeachSession *session);
gboolean beach_fast_path_is_in_flight (BeachFastPath *self,
                                       BeachSession *session,
                                       const gchar *action_id);
/* Settles in-flight ids named by acks (from either path). Returns the acks
 * not in flight, for the queue. */
GPtrArray *beach_fast_path_settle (BeachFastPath *self,
                                   BeachSession *session,
                                   GPtrArray *acks,
                                   guint *out_settled);
/* The session's status changed: ping the host at once. */
void beach_fast_path_status_changed (BeachFastPath *self,
                                     BeachSession *session);
/* True while in-flight actions of a dead link are being moved to the
 * queue: newer actions must wait behind them. */
gboolean beach_fast_path_is_demoting (BeachFastPath *self,
                                      BeachSession *session);
/* True while such a move waits for the queue to come back (it was
 * unavailable): newer actions are refused meanwhile (503). */
gboolean beach_fast_path_is_requeue_stalled (BeachFastPath *self,
                                             BeachSession *session);
gboolean beach_fast_path_has_candidate (BeachFastPath *self,
                                        BeachSession *session);
void beach_fast_path_close_session (BeachFastPath *self,
                                    BeachSession *session,
                                    BeachTransportReason reason);
void beach_fast_path_shutdown (BeachFastPath *self);
void beach_fast_path_shutdown_async (BeachFastPath *self,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean beach_fast_path_shutdown_finish (BeachFastPath *self,
                                          GAsyncResult *result,
                                          GError **error);

G_END_DECLS
