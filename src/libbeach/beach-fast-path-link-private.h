/* beach-fast-path-link-private.h: the insides of BeachFastPathLink
 *
 * Not part of the public API (and not exported by libbeach-1.so).
 * beach-fast-path-link.c is the GObject and its public API;
 * beach-fast-path-link-machine.c is the state machine behind it
 * (negotiation, health and heartbeat, sending, receiving, closing). Tests
 * link the internal static library and use the debug hooks at the end.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-fast-path-link.h"
#include "beach-frame-private.h"
#include "beach-webrtc-peer-private.h"

G_BEGIN_DECLS

#define N_CHANNELS BEACH_PEER_N_CHANNELS
/* Above this many bytes buffered in a channel, frames wait in our own
 * bounded queue; on-buffered-amount-low (at a quarter) drains it. */
#define HIGH_WATER_BYTES (1024 * 1024)
#define LOW_WATER_BYTES  (HIGH_WATER_BYTES / 4)
/* A safety net in case a low-water signal is missed. */
#define DRAIN_RETRY_US (20 * G_TIME_SPAN_MILLISECOND)
/* How long an answer waits for ICE gathering before it goes out with the
 * candidates it has (aiortc-style peers never trickle). */
#define GATHER_WAIT_US (300 * G_TIME_SPAN_MILLISECOND)
/* Graceful close waits this long for the local on-close. */
#define CLOSE_WAIT_US (200 * G_TIME_SPAN_MILLISECOND)
/* Received frames waiting for the owner's context are bounded by
 * BeachFastPathLink:receive-queue-limit (count, default
 * RECEIVE_QUEUE_FRAMES) and by these many bytes of frame text; past
 * either, a frame is dropped on the streaming thread and counted in
 * BeachFastPathLink:frames-dropped. */
#define RECEIVE_QUEUE_FRAMES 4096
#define RECEIVE_QUEUE_BYTES  (8 * 1024 * 1024)
/* At most one warning about dropped frames per link in this long. */
#define DROP_WARN_INTERVAL_US (60 * G_TIME_SPAN_SECOND)
/* A pong older than this is not a measurement. */
#define RTT_MAX_US (60 * G_TIME_SPAN_SECOND)

typedef void (*BeachLinkRawHook) (BeachFastPathLink *link,
                                  BeachFastPathChannel channel,
                                  gboolean outgoing,
                                  const gchar *text,
                                  gsize len,
                                  gpointer user_data);

typedef enum {
  LINK_PHASE_IDLE,        /* nothing started */
  LINK_PHASE_NEGOTIATING, /* offer or answer under way */
  LINK_PHASE_RUNNING,     /* local description out */
  LINK_PHASE_CLOSING,     /* channels closing */
  LINK_PHASE_CLOSED,      /* torn down (or tearing down) */
} BeachLinkPhase;

typedef struct {
  GQueue queue; /* gchar*: frames waiting for the buffered amount to fall */
  gboolean open;
  gboolean closed;
} BeachLinkChannel;

struct _BeachFastPathLink {
  GObject parent_instance;

  /* configuration */
  BeachFastPathRole role;
  GStrv local_addresses;
  GStrv ice_servers;
  guint heartbeat_interval_ms;
  guint heartbeat_timeout_ms;
  guint unhealthy_close_ms;
  guint max_frame_bytes;
  guint send_queue_limit;
  guint reassembly_timeout_ms;
  guint receive_queue_limit;
  gchar *labels[N_CHANNELS];
  gchar *link_id;

  /* status */
  BeachLinkHealth health;
  gint64 rtt_us;
  guint unknown_frames;
  guint64 frames_sent;
  guint64 frames_received;
  guint reassemblies_dropped;
  guint64 frames_dropped;
  gint64 drop_warned_us; /* when dropping was last logged, 0: never */

  GMainContext *context;
  BeachPeer *peer;
  BeachLinkPhase phase;
  GTask *negotiation; /* create_offer or answer under way */
  gboolean legacy_sdp;
  gboolean negotiated;
  gboolean gathering_complete;
  GPtrArray *local_candidates;
  gboolean connected;
  gboolean silent;
  BeachLinkChannel channels[N_CHANNELS];
  guint queued;
  gint64 last_rx_us;
  gint64 last_tx_us;
  gint64 up_since_us;
  gint64 ping_seq;
  gchar *ping_handshake_id;
  gchar *ping_transport;
  guint ping_pending;
  BeachReassembler *reassembler;
  gboolean torn_down;
  GPtrArray *close_tasks;

  GSource *ping_timer;
  GSource *deadline_timer;
  GSource *close_timer;
  GSource *reassembly_timer;
  GSource *drain_timer;
  GSource *wait_timer; /* gathering wait, then close wait */

  BeachLinkRawHook raw_hook;
  gpointer raw_hook_data;
};

/* beach-fast-path-link.c: notifications and signals, on the owner's context */
void beach_link_set_health (BeachFastPathLink *self,
                            BeachLinkHealth health);
void beach_link_set_rtt (BeachFastPathLink *self,
                         gint64 rtt_us);
/* Takes the total from the peer: notifies, and warns now and then. */
void beach_link_set_frames_dropped (BeachFastPathLink *self,
                                    guint64 dropped);
void beach_link_emit_frame (BeachFastPathLink *self,
                            guint channel,
                            const gchar *type,
                            JsonNode *payload);
void beach_link_emit_candidate (BeachFastPathLink *self,
                                const gchar *candidate,
                                guint mline);

/* beach-fast-path-link-machine.c */
void beach_link_machine_init (BeachFastPathLink *self);
void beach_link_machine_dispose (BeachFastPathLink *self);
void beach_link_machine_clear_queues (BeachFastPathLink *self);
gboolean beach_link_machine_start (BeachFastPathLink *self,
                                   GError **error);
gboolean beach_link_machine_send (BeachFastPathLink *self,
                                  guint channel,
                                  const gchar *type,
                                  JsonNode *payload,
                                  GError **error);
gboolean beach_link_machine_send_raw (BeachFastPathLink *self,
                                      guint channel,
                                      const gchar *text,
                                      GError **error);
void beach_link_machine_ping (BeachFastPathLink *self);
/* Starts a graceful close (reason is logged); again and again until the
 * channels closed or the wait ran out, then tears down. */
void beach_link_machine_close (BeachFastPathLink *self,
                               const gchar *reason);
void beach_link_machine_teardown (BeachFastPathLink *self);

/* -- test hooks */

/* Called on the owner's context for every wire frame, as sent or as
 * received (before parsing). */
void beach_link_debug_set_raw_hook (BeachFastPathLink *self,
                                    BeachLinkRawHook hook,
                                    gpointer user_data);
/* Sends text as one wire frame, unchecked and unchunked. */
gboolean beach_link_debug_send_raw (BeachFastPathLink *self,
                                    BeachFastPathChannel channel,
                                    const gchar *text,
                                    GError **error);
/* Frames waiting in the local send queue. */
guint beach_link_debug_get_queued (BeachFastPathLink *self);

G_END_DECLS
