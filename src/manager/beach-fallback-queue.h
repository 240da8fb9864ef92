/* beach-fallback-queue.h: the bounded fallback queue, abstract
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

#include "beach.h"

G_BEGIN_DECLS

/* One queued action as a read hands it out. */
typedef struct {
  BeachAction *action; /* owned */
  gint64 enqueued_ms;  /* when it was accepted */
  guint deliveries;    /* how many times it has been handed out, this one included */
} BeachQueueEntry;

void beach_queue_entry_free (BeachQueueEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachQueueEntry, beach_queue_entry_free)

/* One dead letter. */
typedef struct {
  gchar *id;
  BeachAction *action; /* owned */
  BeachDeadLetterReason reason;
  gint64 at_ms;
} BeachDeadLetter;

void beach_dead_letter_free (BeachDeadLetter *letter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachDeadLetter, beach_dead_letter_free)

/* Per-session numbers. depth = every entry not yet acked, delivered or not
 * (WIRE.md `pending`); delivered = handed out and not acked (the PEL). */
typedef struct {
  guint depth;
  guint delivered;
} BeachQueueStats;

/* Tunables; every backend honours all of them. */
typedef struct {
  guint cap;               /* max unacked entries per session (500) */
  guint reclaim_ms;        /* idle time before redelivery (5000) */
  guint max_deliveries;    /* deliveries before dead-lettering (5) */
  guint dead_letters_kept; /* per session (10000) */
} BeachQueueConfig;

void beach_queue_config_init_defaults (BeachQueueConfig *config);

#define BEACH_TYPE_FALLBACK_QUEUE (beach_fallback_queue_get_type ())
G_DECLARE_DERIVABLE_TYPE (BeachFallbackQueue, beach_fallback_queue, BEACH, FALLBACK_QUEUE, GObject)

/* Sessions are named by (private_beach_id, session_id); Redis builds its
 * {P:S} hash tag from both. Every operation is asynchronous so that the
 * Redis backend never blocks the main loop; the memory backend completes
 * them on the next main-loop iteration. Results and signals arrive on the
 * thread-default main context of the caller.
 *
 * Errors: BEACH_ERROR_QUEUE_FULL when an enqueue would pass the cap (the
 * whole call is refused, nothing is written); BEACH_ERROR_UNAVAILABLE when
 * the backend is down; BEACH_ERROR_NOT_FOUND is never raised (an unknown
 * session is an empty queue). */
struct _BeachFallbackQueueClass {
  GObjectClass parent_class;

  /* Dedupe on outstanding ids (queued or delivered-unacked); ids repeated
   * inside @actions count as duplicates after their first. Duplicates do
   * not count toward the cap. An action already past expires_at is
   * accepted and settled `expired` at once. Accepted ones are appended in
   * order. */
  void (*enqueue_async) (BeachFallbackQueue *self,
                         const gchar *private_beach_id,
                         const gchar *session_id,
                         GPtrArray *actions, /* BeachAction* */
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data);
  gboolean (*enqueue_finish) (BeachFallbackQueue *self,
                              GAsyncResult *result,
                              GStrv *out_accepted_ids,
                              GStrv *out_duplicate_ids,
                              GError **error);

  /* Up to @max entries in enqueue order: never-delivered ones and ones idle
   * past reclaim_ms since their last delivery (a redelivered entry keeps
   * its place). Entries past expires_at are settled `expired` instead of
   * handed out. An entry whose delivery count reached max_deliveries and
   * went unacked past reclaim_ms is dead-lettered (max_deliveries), never
   * delivered a 6th time. Never blocks: an empty result is fine. */
  void (*read_async) (BeachFallbackQueue *self,
                      const gchar *private_beach_id,
                      const gchar *session_id,
                      const gchar *consumer,
                      guint max,
                      GCancellable *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer user_data);
  GPtrArray *(*read_finish) (BeachFallbackQueue *self,
                             GAsyncResult *result,
                             GError **error); /* BeachQueueEntry*, owned */

  /* Settle ids with their status; every status is final. Returns how many
   * ids this call settled; unknown ids are not counted. */
  void (*ack_async) (BeachFallbackQueue *self,
                     const gchar *private_beach_id,
                     const gchar *session_id,
                     GPtrArray *acks, /* BeachActionAck* */
                     GCancellable *cancellable,
                     GAsyncReadyCallback callback,
                     gpointer user_data);
  gboolean (*ack_finish) (BeachFallbackQueue *self,
                          GAsyncResult *result,
                          guint *out_settled,
                          GError **error);

  void (*stats_async) (BeachFallbackQueue *self,
                       const gchar *private_beach_id,
                       const gchar *session_id,
                       GCancellable *cancellable,
                       GAsyncReadyCallback callback,
                       gpointer user_data);
  gboolean (*stats_finish) (BeachFallbackQueue *self,
                            GAsyncResult *result,
                            BeachQueueStats *out_stats,
                            GError **error);

  /* Dead letters with at_ms >= since_ms, oldest first. */
  void (*dead_letters_async) (BeachFallbackQueue *self,
                              const gchar *private_beach_id,
                              const gchar *session_id,
                              gint64 since_ms,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data);
  GPtrArray *(*dead_letters_finish) (BeachFallbackQueue *self,
                                     GAsyncResult *result,
                                     GError **error); /* BeachDeadLetter*, owned */

  /* Dead-letter every outstanding entry with @reason, in order, then
   * forget the session (its dead letters too). */
  void (*drop_session_async) (BeachFallbackQueue *self,
                              const gchar *private_beach_id,
                              const gchar *session_id,
                              BeachDeadLetterReason reason,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data);
  gboolean (*drop_session_finish) (BeachFallbackQueue *self,
                                   GAsyncResult *result,
                                   GError **error);

  /* Demotion (WIRE.md Routing step 2): append @entries (BeachQueueEntry*:
   * action and enqueued_ms; deliveries ignored) in their order, behind what
   * is queued. The cap is NOT applied: these actions were accepted already,
   * and losing one is worse than passing the bound. Ids already outstanding
   * are skipped (not counted). enqueued_ms is kept, so latency stays
   * accept-to-ack. Expired ones are settled `expired` at once. Emits "wake"
   * and "depth-changed" like enqueue. */
  void (*requeue_async) (BeachFallbackQueue *self,
                         const gchar *private_beach_id,
                         const gchar *session_id,
                         GPtrArray *entries,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data);
  gboolean (*requeue_finish) (BeachFallbackQueue *self,
                              GAsyncResult *result,
                              guint *out_requeued,
                              GError **error);

  /* TRUE while the backend answers (memory: always). */
  gboolean (*is_available) (BeachFallbackQueue *self);
  const gchar *(*get_backend_name) (BeachFallbackQueue *self);

  /* Crash safety of the fast path (WIRE.md Routing step 1). Optional: the
   * defaults do nothing and recover none, so the memory backend loses
   * in-flight actions on a crash (it loses its queue too).
   *
   * track_in_flight records @action as sent on the fast path, @seq
   * increasing per session in send order; untrack_in_flight forgets it once
   * it left the in-flight table (acked, or requeued: the requeue must have
   * completed first, so that the action is never only in memory). Both are
   * fire-and-forget: failures are logged, rate-limited, never reported. */
  void (*track_in_flight) (BeachFallbackQueue *self,
                           const gchar *private_beach_id,
                           const gchar *session_id,
                           BeachAction *action,
                           gint64 enqueued_ms,
                           guint64 seq);
  void (*untrack_in_flight) (BeachFallbackQueue *self,
                             const gchar *private_beach_id,
                             const gchar *session_id,
                             const gchar *action_id);

  /* At start-up: every session's in-flight records left by a crashed
   * manager go back to its queue in seq order, like requeue_async (no cap,
   * enqueued_ms kept, outstanding ids skipped, expired ones settled), and
   * the records are deleted. Returns how many entries were appended. */
  void (*recover_in_flight_async) (BeachFallbackQueue *self,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
  gboolean (*recover_in_flight_finish) (BeachFallbackQueue *self,
                                        GAsyncResult *result,
                                        guint *out_requeued,
                                        GError **error);

  gpointer padding[2];
};

/* Signals (all on the main context):
 *   "wake" (gchar *private_beach_id, gchar *session_id)
 *       entries became readable: an enqueue, or an entry came due for
 *       redelivery. Parked polls wait on this, never on a timer of their own.
 *   "settled" (gchar *private_beach_id, gchar *session_id, gchar *action_id,
 *              gint status (BeachAckStatus), gchar *error_code (nullable),
 *              gint64 enqueued_ms)
 *       an entry left the queue by an ack or by expiry.
 *   "dead-lettered" (gchar *private_beach_id, gchar *session_id,
 *                    gchar *action_id, gint reason (BeachDeadLetterReason))
 *   "delivered" (gchar *private_beach_id, gchar *session_id,
 *                gchar *action_id, gboolean redelivery)
 *   "depth-changed" (gchar *private_beach_id, gchar *session_id,
 *                    guint depth, guint delivered)
 *       after any change of the numbers in BeachQueueStats.
 *   "availability-changed" (gboolean available)
 */

void beach_fallback_queue_enqueue_async (BeachFallbackQueue *self,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         GPtrArray *actions,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean beach_fallback_queue_enqueue_finish (BeachFallbackQueue *self,
                                              GAsyncResult *result,
                                              GStrv *out_accepted_ids,
                                              GStrv *out_duplicate_ids,
                                              GError **error);
void beach_fallback_queue_read_async (BeachFallbackQueue *self,
                                      const gchar *private_beach_id,
                                      const gchar *session_id,
                                      const gchar *consumer,
                                      guint max,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
GPtrArray *beach_fallback_queue_read_finish (BeachFallbackQueue *self,
                                             GAsyncResult *result,
                                             GError **error);
void beach_fallback_queue_ack_async (BeachFallbackQueue *self,
                                     const gchar *private_beach_id,
                                     const gchar *session_id,
                                     GPtrArray *acks,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean beach_fallback_queue_ack_finish (BeachFallbackQueue *self,
                                          GAsyncResult *result,
                                          guint *out_settled,
                                          GError **error);
void beach_fallback_queue_stats_async (BeachFallbackQueue *self,
                                       const gchar *private_beach_id,
                                       const gchar *session_id,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean beach_fallback_queue_stats_finish (BeachFallbackQueue *self,
                                            GAsyncResult *result,
                                            BeachQueueStats *out_stats,
                                            GError **error);
void beach_fallback_queue_dead_letters_async (BeachFallbackQueue *self,
                                              const gchar *private_beach_id,
                                              const gchar *session_id,
                                              gint64 since_ms,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
GPtrArray *beach_fallback_queue_dead_letters_finish (BeachFallbackQueue *self,
                                                     GAsyncResult *result,
                                                     GError **error);
void beach_fallback_queue_drop_session_async (BeachFallbackQueue *self,
                                              const gchar *private_beach_id,
                                              const gchar *session_id,
                                              BeachDeadLetterReason reason,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer user_data);
gboolean beach_fallback_queue_drop_session_finish (BeachFallbackQueue *self,
                                                   GAsyncResult *result,
                                                   GError **error);
void beach_fallback_queue_requeue_async (BeachFallbackQueue *self,
                                         const gchar *private_beach_id,
                                         const gchar *session_id,
                                         GPtrArray *entries,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean beach_fallback_queue_requeue_finish (BeachFallbackQueue *self,
                                              GAsyncResult *result,
                                              guint *out_requeued,
                                              GError **error);
void beach_fallback_queue_track_in_flight (BeachFallbackQueue *self,
                                           const gchar *private_beach_id,
                                           const gchar *session_id,
                                           BeachAction *action,
                                           gint64 enqueued_ms,
                                           guint64 seq);
void beach_fallback_queue_untrack_in_flight (BeachFallbackQueue *self,
                                             const gchar *private_beach_id,
                                             const gchar *session_id,
                                             const gchar *action_id);
void beach_fallback_queue_recover_in_flight_async (BeachFallbackQueue *self,
                                                   GCancellable *cancellable,
                                                   GAsyncReadyCallback callback,
                                                   gpointer user_data);
gboolean beach_fallback_queue_recover_in_flight_finish (BeachFallbackQueue *self,
                                                        GAsyncResult *result,
                                                        guint *out_requeued,
                                                        GError **error);
gboolean beach_fallback_queue_is_available (BeachFallbackQueue *self);
const gchar *beach_fallback_queue_get_backend_name (BeachFallbackQueue *self);
const BeachQueueConfig *beach_fallback_queue_get_config (BeachFallbackQueue *self);

/* For subclasses, from their constructor only: the config is fixed for the
 * queue's lifetime (an instance starts with the defaults). cap,
 * max_deliveries and reclaim_ms must be at least 1. */
void beach_fallback_queue_set_config (BeachFallbackQueue *self,
                                      const BeachQueueConfig *config);

/* For subclasses: emit the signals. */
void beach_fallback_queue_emit_wake (BeachFallbackQueue *self,
                                     const gchar *private_beach_id,
                                     const gchar *session_id);
void beach_fallback_queue_emit_settled (BeachFallbackQueue *self,
                                        const gchar *private_beach_id,
                                        const gchar *session_id,
                                        const gchar *action_id,
                                        BeachAckStatus status,
                                        const gchar *error_code,
                                        gint64 enqueued_ms);
void beach_fallback_queue_emit_dead_lettered (BeachFallbackQueue *self,
                                              const gchar *private_beach_id,
                                              const gchar *session_id,
                                              const gchar *action_id,
                                              BeachDeadLetterReason reason);
void beach_fallback_queue_emit_delivered (BeachFallbackQueue *self,
                                          const gchar *private_beach_id,
                                          const gchar *session_id,
                                          const gchar *action_id,
                                          gboolean redelivery);
void beach_fallback_queue_emit_depth_changed (BeachFallbackQueue *self,
                                              const gchar *private_beach_id,
                                              const gchar *session_id,
                                              guint depth,
                                              guint delivered);
void beach_fallback_queue_emit_availability_changed (BeachFallbackQueue *self,
                                                     gboolean available);

/* For subclasses: an outbox collects the "settled", "dead-lettered" and
 * "delivered" signals of one operation on one session, to be emitted once
 * the backend's state is consistent, since a handler may call back into the
 * queue. The backend's flush emits the events with
 * beach_queue_outbox_emit_events(), then "depth-changed" and "wake" as it
 * sees fit, then clears the outbox. */
typedef struct {
  gchar *private_beach_id;
  gchar *session_id;
  GArray *events;        /* private: the collected signals, in order */
  gboolean have_stats;   /* whether @stats holds numbers */
  BeachQueueStats stats; /* numbers the backend keeps for its flush */
  gboolean wake;         /* whether the flush should emit "wake" */
} BeachQueueOutbox;

void beach_queue_outbox_init (BeachQueueOutbox *out,
                              const gchar *private_beach_id,
                              const gchar *session_id);
void beach_queue_outbox_set_stats (BeachQueueOutbox *out,
                                   const BeachQueueStats *stats);
void beach_queue_outbox_add_settled (BeachQueueOutbox *out,
                                     const gchar *action_id,
                                     BeachAckStatus status,
                                     const gchar *error_code,
                                     gint64 enqueued_ms);
void beach_queue_outbox_add_dead_lettered (BeachQueueOutbox *out,
                                           const gchar *action_id,
                                           BeachDeadLetterReason reason);
void beach_queue_outbox_add_delivered (BeachQueueOutbox *out,
                                       const gchar *action_id,
                                       gboolean redelivery);
void beach_queue_outbox_emit_events (BeachFallbackQueue *self,
                                     BeachQueueOutbox *out);
void beach_queue_outbox_clear (BeachQueueOutbox *out);

G_END_DECLS
