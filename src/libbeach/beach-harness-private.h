/* beach-harness-private.h: what the harness's files share
 *
 * beach-harness.c is the object (properties, start/stop, receiving and
 * acking); beach-harness-http.c speaks HTTP to the manager and drives the
 * poller with a BeachPollGate; beach-harness-link.c keeps the fast path up
 * (offers, trickle, make-before-break, reconnect backoff).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "beach-action-ack.h"
#include "beach-applied-window-private.h"
#include "beach-fast-path-link.h"
#include "beach-harness.h"
#include "beach-poll-gate.h"

G_BEGIN_DECLS

struct _BeachHarness {
  GObject parent_instance;

  /* Construct-time settings. */
  gchar *url_setting; /* the url property as set */
  gchar **urls;       /* the managers, validated, no trailing slash */
  GError *urls_error; /* why urls cannot serve (start fails with it) */
  const gchar *url;   /* urls[url_index]: where requests go */
  guint url_index;
  guint url_generation; /* bumped at each failover */
  gchar *token;
  gchar *session_id;
  gchar *private_beach_id;
  BeachHarnessType harness_type;
  gchar **capabilities;
  gchar *version;
  gchar *journal_path;
  guint window_size;
  guint poll_wait_ms;
  guint health_interval_ms;
  guint connect_timeout_ms;
  guint unhealthy_timeout_ms;
  gchar **local_addresses;

  GMainContext *context;
  SoupSession *http;
  GCancellable *cancellable; /* every request; cancelled at stop */
  gboolean started;
  gboolean stopping;
  gboolean terminated;

  /* What the manager told us. */
  gchar *session_token; /* the bearer for every session route */
  gchar *harness_id;
  BeachTransportHints *hints;
  gchar *handshake_id;
  BeachTransport transport;
  gboolean fast_path_ready;
  guint pending;

  /* Receiving. */
  BeachAppliedWindow *window;
  GHashTable *in_progress; /* id -> BeachAction: emitted, not acked yet */
  GHashTable *warned;      /* rate-limit key -> last warning time (µs) */

  /* Acks that go over HTTP, in batches, one request at a time. */
  GPtrArray *ack_queue; /* BeachActionAck */
  gboolean ack_in_flight;
  guint ack_failures;
  guint ack_timer_id;

  /* The poller. */
  BeachPollGate *gate;
  guint gate_timer_id;
  GCancellable *poll_cancellable; /* the long-poll in flight */
  gboolean long_poll_in_flight;
  guint64 polls;
  gboolean polling; /* the property: not paused */

  /* The fast path. */
  BeachFastPathLink *primary;
  BeachFastPathLink *candidate;
  GPtrArray *retiring; /* links closing after a make-before-break */
  BeachLinkHealth link_health;
  guint link_attempts;
  guint link_failures; /* consecutive, for the backoff */
  guint links_opened;  /* links that became healthy */
  gchar *last_error;
  guint reconnect_id;
  guint link_watch_id; /* connect / unhealthy deadlines */
  GRand *rand;

  guint health_timer_id;
};

/* beach-harness.c */
void _beach_harness_set_status (BeachHarness *self,
                                BeachTransport transport,
                                gboolean fast_path_ready,
                                guint pending,
                                const gchar *handshake_id);
void _beach_harness_receive_action (BeachHarness *self,
                                    BeachAction *action);
void _beach_harness_terminate (BeachHarness *self,
                               const GError *error);
void _beach_harness_warn (BeachHarness *self,
                          const gchar *key,
                          const gchar *format,
                          ...) G_GNUC_PRINTF (3, 4);
void _beach_harness_set_last_error (BeachHarness *self,
                                    const gchar *message);
gint64 _beach_harness_jitter_ms (BeachHarness *self,
                                 guint failures,
                                 guint min_ms,
                                 guint max_ms);

void _beach_harness_failover (BeachHarness *self,
                              guint generation,
                              const gchar *reason);

/* beach-harness-http.c */
typedef void (*BeachHarnessReply) (BeachHarness *self,
                                   JsonNode *reply,
                                   const GError *error,
                                   gpointer user_data);
void _beach_harness_http_request (BeachHarness *self,
                                  const gchar *method,
                                  const gchar *path,
                                  const gchar *bearer,
                                  JsonNode *body,
                                  GCancellable *cancellable,
                                  BeachHarnessReply callback,
                                  gpointer user_data,
                                  GDestroyNotify destroy);
gboolean _beach_harness_error_moves_on (const GError *error);
void _beach_harness_http_request_to (BeachHarness *self,
                                     const gchar *base_url,
                                     const gchar *method,
                                     const gchar *path,
                                     const gchar *bearer,
                                     JsonNode *body,
                                     GCancellable *cancellable,
                                     BeachHarnessReply callback,
                                     gpointer user_data,
                                     GDestroyNotify destroy);
void _beach_harness_poller_start (BeachHarness *self);
void _beach_harness_poller_stop (BeachHarness *self);
void _beach_harness_poller_kick (BeachHarness *self);
void _beach_harness_acks_push (BeachHarness *self,
                               BeachActionAck *ack);
void _beach_harness_acks_flush (BeachHarness *self);
gboolean _beach_harness_parse_status (JsonObject *obj,
                                      BeachTransport *transport,
                                      gboolean *fast_path_ready,
                                      guint *pending,
                                      const gchar **handshake_id,
                                      GError **error);

/* beach-harness-link.c */
void _beach_harness_link_start (BeachHarness *self);
void _beach_harness_link_stop (BeachHarness *self,
                               GTask *task);
void _beach_harness_link_check_handshake (BeachHarness *self);
void _beach_harness_link_hints_changed (BeachHarness *self);
gboolean _beach_harness_link_send (BeachHarness *self,
                                   BeachFastPathChannel channel,
                                   const gchar *type,
                                   JsonNode *payload);
gboolean _beach_harness_link_is_healthy (BeachHarness *self);

/* For white-box tests (tests/harness-peer.c): the current primary link. */
BeachFastPathLink *_beach_harness_get_primary_link (BeachHarness *self);
/* For white-box tests (tests/harness-peer.c): offers a new link beside a
 * healthy primary, as a changed handshake id does (make-before-break). */
gboolean _beach_harness_link_replace (BeachHarness *self);

G_END_DECLS
