/* beach-webrtc-peer-private.h: one webrtcbin with data channels, driven
 * from one GMainContext
 *
 * webrtcbin calls back on its own threads. Every callback copies what it
 * needs into an event, queues it, and wakes one GSource on the owner's
 * context; the owner sees events in order, on its thread, through one
 * function. The queue lives in a refcounted block shared with those
 * callbacks, so a late callback after teardown touches nothing freed.
 *
 * Received messages are bounded in that queue (count and bytes, from the
 * moment they are queued until the owner's function returned): past the
 * bound a message is dropped on the streaming thread, counted, and one
 * DROPPED event (never itself dropped) tells the owner the new total.
 * Control events are never dropped.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BEACH_PEER_N_CHANNELS 3

typedef struct _BeachPeer BeachPeer;

typedef enum {
  BEACH_PEER_EVENT_NEGOTIATED,    /* the local description is set */
  BEACH_PEER_EVENT_FAILED,        /* negotiation failed: text */
  BEACH_PEER_EVENT_ICE_CANDIDATE, /* text, value = m-line */
  BEACH_PEER_EVENT_GATHERING,     /* value = TRUE once gathering is complete */
  BEACH_PEER_EVENT_CONNECTION,    /* value = GstWebRTCPeerConnectionState */
  BEACH_PEER_EVENT_CHANNEL,       /* channel announced by the peer (answerer) */
  BEACH_PEER_EVENT_OPEN,          /* channel */
  BEACH_PEER_EVENT_CLOSE,         /* channel */
  BEACH_PEER_EVENT_ERROR,         /* text; channel or -1 for the pipeline */
  BEACH_PEER_EVENT_MESSAGE,       /* channel, text, len */
  BEACH_PEER_EVENT_LOW,           /* channel: buffered amount fell low */
  BEACH_PEER_EVENT_PROMISE,       /* internal */
  BEACH_PEER_EVENT_DROPPED,       /* value = messages dropped so far */
} BeachPeerEventKind;

typedef enum {
  BEACH_PEER_CONNECTION_NEW,
  BEACH_PEER_CONNECTION_CONNECTING,
  BEACH_PEER_CONNECTION_CONNECTED,
  BEACH_PEER_CONNECTION_DISCONNECTED,
  BEACH_PEER_CONNECTION_FAILED,
  BEACH_PEER_CONNECTION_CLOSED,
} BeachPeerConnection;

typedef struct {
  BeachPeerEventKind kind;
  gint channel; /* 0..2, or -1 */
  gint64 value;
  gchar *text;
  gsize len;
  gpointer object; /* internal */
  guint op;        /* internal */
} BeachPeerEvent;

/* Called on the owner's context, in order, with a strong ref on owner. */
typedef void (*BeachPeerEventFunc) (GObject *owner,
                                    const BeachPeerEvent *event);

typedef struct {
  GMainContext *context; /* where events are delivered */
  const gchar *const *local_addresses;
  const gchar *const *ice_servers;
  const gchar *labels[BEACH_PEER_N_CHANNELS];
  gboolean offerer;
  guint max_messages; /* received messages queued at most; 0: no bound */
  gsize max_bytes;    /* their text bytes at most; 0: no bound */
} BeachPeerConfig;

/* owner is held weakly. */
BeachPeer *beach_peer_new (GObject *owner,
                           BeachPeerEventFunc func,
                           const BeachPeerConfig *config,
                           GError **error);

/* Offerer: creates the channels (the last one unordered without
 * retransmits), the offer, and sets it local. */
gboolean beach_peer_offer (BeachPeer *self,
                           GError **error);
/* Answerer: sets the remote offer, creates the answer and sets it local. */
gboolean beach_peer_answer (BeachPeer *self,
                            const gchar *offer_sdp,
                            GError **error);
/* Offerer: sets the remote answer and waits for webrtcbin's verdict. */
gboolean beach_peer_set_remote_answer (BeachPeer *self,
                                       const gchar *answer_sdp,
                                       GError **error);
/* Candidates that come before the remote description wait for it. */
void beach_peer_add_remote_candidate (BeachPeer *self,
                                      guint mline,
                                      const gchar *candidate);
gchar *beach_peer_get_local_sdp (BeachPeer *self);

gboolean beach_peer_channel_is_open (BeachPeer *self,
                                     guint channel);
guint64 beach_peer_buffered_amount (BeachPeer *self,
                                    guint channel);
/* Changes the receive bound (0: no bound); any thread. */
void beach_peer_set_receive_limit (BeachPeer *self,
                                   guint max_messages,
                                   gsize max_bytes);
/* Received messages dropped so far at the bound; any thread. */
guint64 beach_peer_get_messages_dropped (BeachPeer *self);
void beach_peer_set_low_threshold (BeachPeer *self,
                                   guint64 threshold);
gboolean beach_peer_send (BeachPeer *self,
                          guint channel,
                          const gchar *text,
                          GError **error);
/* Starts the closing procedure of every open channel: CLOSE events follow. */
void beach_peer_close_channels (BeachPeer *self);

/* Stops all events, then sets the pipeline to NULL and frees it on a
 * worker thread. With a task, the task returns TRUE once that is done;
 * without, nobody waits. self is freed either way. */
void beach_peer_teardown (BeachPeer *self,
                          GTask *task);

G_END_DECLS
