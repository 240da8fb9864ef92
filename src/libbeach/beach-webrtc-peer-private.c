/* beach-webrtc-peer-private.c: one webrtcbin with data channels, driven
 * from one GMainContext
 *
 * STACK.md "webrtcbin, data channels only" is the source of every choice
 * here: one pipeline per peer, max-bundle, ICE restricted before
 * gathering, handlers installed inside on-data-channel, nothing done on
 * webrtcbin's threads but copying and queueing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-webrtc"

#include "config.h"

#include <string.h>

#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <nice/agent.h>

#include "beach-error.h"
#include "beach-webrtc-peer-private.h"

enum {
  OP_CREATE_OFFER = 1,
  OP_CREATE_ANSWER,
  OP_SET_LOCAL,
  OP_SET_REMOTE_OFFER,
};

/* Shared with webrtcbin's threads: everything they touch lives here. */
typedef struct {
  gatomicrefcount ref;
  GMutex lock;
  GQueue events;
  gboolean dead; /* under lock: no more events */
  /* under lock: received messages queued or being handled, their text
   * bytes, the bound on both (0: none), the ones dropped at it, and
   * whether a DROPPED event is queued and not yet handled */
  guint n_messages;
  gsize message_bytes;
  guint max_messages;
  gsize max_bytes;
  guint64 dropped;
  gboolean drop_pending;
  GMainContext *context;
  GSource *source;
  GWeakRef owner;
  BeachPeerEventFunc func;
  BeachPeer *peer; /* owner's thread only */
  gchar *labels[BEACH_PEER_N_CHANNELS];
} Shared;

/* User data of one channel's handlers. */
typedef struct {
  gatomicrefcount ref;
  Shared *shared;
  gint index;
} ChannelTag;

typedef struct {
  GstWebRTCDataChannel *channel;
  ChannelTag *tag;
} Announce;

typedef struct {
  guint mline;
  gchar *candidate;
} PendingCandidate;

struct _BeachPeer {
  Shared *shared;
  GstElement *pipeline;
  GstElement *webrtc;
  GstWebRTCDataChannel *channels[BEACH_PEER_N_CHANNELS];
  ChannelTag *tags[BEACH_PEER_N_CHANNELS];
  gboolean offerer;
  gboolean remote_set;
  guint64 low_threshold;
  GArray *pending_candidates; /* PendingCandidate */
};

/* -- events and the shared block */

static Shared *
shared_ref (Shared *s)
{
  g_atomic_ref_count_inc (&s->ref);
  return s;
}

static void tag_unref (ChannelTag *tag);

static void
event_free (BeachPeerEvent *ev)
{
  if (ev->object != NULL) {
    if (ev->kind == BEACH_PEER_EVENT_PROMISE) {
      gst_structure_free (ev->object);
    } else if (ev->kind == BEACH_PEER_EVENT_CHANNEL) {
      Announce *a = ev->object;

      g_object_unref (a->channel);
      tag_unref (a->tag);
      g_free (a);
    }
  }
  g_free (ev->text);
  g_free (ev);
}

static void
shared_unref (Shared *s)
{
  if (!g_atomic_ref_count_dec (&s->ref))
    return;
  g_queue_clear_full (&s->events, (GDestroyNotify) event_free);
  g_mutex_clear (&s->lock);
  g_weak_ref_clear (&s->owner);
  g_source_unref (s->source);
  g_main_context_unref (s->context);
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++)
    g_free (s->labels[i]);
  g_free (s);
}

static void
shared_unref_closure (gpointer data, GClosure *closure)
{
  shared_unref (data);
}

static BeachPeerEvent *
event_new (BeachPeerEventKind kind, gint channel)
{
  BeachPeerEvent *ev = g_new0 (BeachPeerEvent, 1);

  ev->kind = kind;
  ev->channel = channel;
  return ev;
}

/* Any thread. Never blocks for longer than a queue push. A received
 * message past the bound is dropped here, so a peer that sends faster
 * than the owner handles costs a counter, not memory; the owner hears of
 * it through one DROPPED event, queued at most once until handled. */
static void
shared_post (Shared *s, BeachPeerEvent *ev)
{
  gboolean wake;

  g_mutex_lock (&s->lock);
  if (s->dead) {
    g_mutex_unlock (&s->lock);
    event_free (ev);
    return;
  }
  wake = g_queue_is_empty (&s->events);
  if (ev->kind == BEACH_PEER_EVENT_MESSAGE) {
    if ((s->max_messages > 0 && s->n_messages >= s->max_messages) || (s->max_bytes > 0 && s->message_bytes + ev->len > s->max_bytes)) {
      s->dropped++;
      event_free (g_steal_pointer (&ev));
      if (s->drop_pending) {
        g_mutex_unlock (&s->lock);
        return;
      }
      s->drop_pending = TRUE;
      ev = event_new (BEACH_PEER_EVENT_DROPPED, -1);
    } else {
      s->n_messages++;
      s->message_bytes += ev->len;
    }
  }
  g_queue_push_tail (&s->events, ev);
  g_mutex_unlock (&s->lock);
  /* The source is kept alive by s; setting the ready time of a source
   * destroyed meanwhile does nothing. */
  if (wake)
    g_source_set_ready_time (s->source, 0);
}

static gboolean
shared_is_dead (Shared *s)
{
  gboolean dead;

  g_mutex_lock (&s->lock);
  dead = s->dead;
  g_mutex_unlock (&s->lock);
  return dead;
}

static void handle_promise (BeachPeer *self, GObject *owner, const BeachPeerEvent *ev);
static void register_channel (BeachPeer *self, guint index, GstWebRTCDataChannel *channel, ChannelTag *tag);

static void
emit (Shared *s, GObject *owner, const BeachPeerEvent *ev)
{
  s->func (owner, ev);
}

/* The owner's thread. The ready time is cleared before the queue is
 * taken, so a post racing with this dispatch wakes it again. */
static gboolean
shared_dispatch (gpointer data)
{
  Shared *s = data;
  GQueue batch = G_QUEUE_INIT;
  g_autoptr (GObject) owner = NULL;
  BeachPeerEvent *ev;
  guint n_messages = 0;
  gsize message_bytes = 0;

  g_source_set_ready_time (s->source, -1);
  g_mutex_lock (&s->lock);
  batch = s->events;
  g_queue_init (&s->events);
  g_mutex_unlock (&s->lock);

  owner = g_weak_ref_get (&s->owner);
  while ((ev = g_queue_pop_head (&batch)) != NULL) {
    if (ev->kind == BEACH_PEER_EVENT_DROPPED) {
      /* The total as of now; drops from here on queue a new event. */
      g_mutex_lock (&s->lock);
      s->drop_pending = FALSE;
      ev->value = (gint64) MIN (s->dropped, (guint64) G_MAXINT64);
      g_mutex_unlock (&s->lock);
    }
    if (owner != NULL && s->peer != NULL && !shared_is_dead (s)) {
      if (ev->kind == BEACH_PEER_EVENT_PROMISE) {
        handle_promise (s->peer, owner, ev);
      } else if (ev->kind == BEACH_PEER_EVENT_CHANNEL) {
        Announce *a = ev->object;

        register_channel (s->peer, (guint) ev->channel, a->channel, a->tag);
        emit (s, owner, ev);
      } else {
        emit (s, owner, ev);
      }
    }
    /* A message counts against the bound until it was handled. */
    if (ev->kind == BEACH_PEER_EVENT_MESSAGE) {
      n_messages++;
      message_bytes += ev->len;
    }
    event_free (ev);
  }
  if (n_messages > 0) {
    g_mutex_lock (&s->lock);
    s->n_messages -= MIN (n_messages, s->n_messages);
    s->message_bytes -= MIN (message_bytes, s->message_bytes);
    g_mutex_unlock (&s->lock);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
ready_time_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs ready_time_funcs = {
  NULL, NULL, ready_time_dispatch, NULL, NULL, NULL
};

/* -- channel handlers: webrtcbin's threads */

static ChannelTag *
tag_new (Shared *s, gint index)
{
  ChannelTag *tag = g_new0 (ChannelTag, 1);

  g_atomic_ref_count_init (&tag->ref);
  tag->shared = shared_ref (s);
  tag->index = index;
  return tag;
}

static ChannelTag *
tag_ref (ChannelTag *tag)
{
  g_atomic_ref_count_inc (&tag->ref);
  return tag;
}

static void
tag_unref (ChannelTag *tag)
{
  if (tag == NULL || !g_atomic_ref_count_dec (&tag->ref))
    return;
  shared_unref (tag->shared);
  g_free (tag);
}

static void
tag_unref_closure (gpointer data, GClosure *closure)
{
  tag_unref (data);
}

static void
on_channel_open (GstWebRTCDataChannel *channel, ChannelTag *tag)
{
  shared_post (tag->shared, event_new (BEACH_PEER_EVENT_OPEN, tag->index));
}

static void
on_channel_close (GstWebRTCDataChannel *channel, ChannelTag *tag)
{
  shared_post (tag->shared, event_new (BEACH_PEER_EVENT_CLOSE, tag->index));
}

static void
on_channel_error (GstWebRTCDataChannel *channel, GError *error, ChannelTag *tag)
{
  BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_ERROR, tag->index);

  ev->text = g_strdup (error != NULL ? error->message : "unknown data channel error");
  shared_post (tag->shared, ev);
}

static void
on_channel_message (GstWebRTCDataChannel *channel, const gchar *str, ChannelTag *tag)
{
  BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_MESSAGE, tag->index);

  ev->len = str != NULL ? strlen (str) : 0;
  ev->text = g_strndup (str != NULL ? str : "", ev->len);
  shared_post (tag->shared, ev);
}

static void
on_channel_low (GstWebRTCDataChannel *channel, ChannelTag *tag)
{
  shared_post (tag->shared, event_new (BEACH_PEER_EVENT_LOW, tag->index));
}

static void
connect_channel (GstWebRTCDataChannel *channel, ChannelTag *tag)
{
  g_signal_connect_data (channel, "on-open", G_CALLBACK (on_channel_open), tag_ref (tag), tag_unref_closure, 0);
  g_signal_connect_data (channel, "on-close", G_CALLBACK (on_channel_close), tag_ref (tag), tag_unref_closure, 0);
  g_signal_connect_data (channel, "on-error", G_CALLBACK (on_channel_error), tag_ref (tag), tag_unref_closure, 0);
  g_signal_connect_data (channel, "on-message-string", G_CALLBACK (on_channel_message), tag_ref (tag),
                         tag_unref_closure, 0);
  g_signal_connect_data (channel, "on-buffered-amount-low", G_CALLBACK (on_channel_low), tag_ref (tag),
                         tag_unref_closure, 0);
}

static gint
label_index (Shared *s, const gchar *label)
{
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++) {
    if (g_strcmp0 (s->labels[i], label) == 0)
      return (gint) i;
  }
  return -1;
}

/* The answerer's channels arrive here, already open, on a webrtcbin
 * thread: the handlers go on now or the first messages are lost. */
static void
on_data_channel (GstElement *webrtc, GstWebRTCDataChannel *channel, Shared *s)
{
  g_autofree gchar *label = NULL;
  BeachPeerEvent *ev;
  Announce *a;
  gint index;

  g_object_get (channel, "label", &label, NULL);
  index = label_index (s, label);
  if (index < 0) {
    g_debug ("ignoring a data channel with the unknown label “%s”", label);
    return;
  }
  a = g_new0 (Announce, 1);
  a->channel = g_object_ref (channel);
  a->tag = tag_new (s, index);
  connect_channel (channel, a->tag);
  ev = event_new (BEACH_PEER_EVENT_CHANNEL, index);
  ev->object = a;
  shared_post (s, ev);
}

/* -- webrtcbin handlers: webrtcbin's threads */

static void
on_ice_candidate (GstElement *webrtc, guint mline, const gchar *candidate, Shared *s)
{
  BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_ICE_CANDIDATE, -1);

  ev->value = mline;
  ev->text = g_strdup (candidate != NULL ? candidate : "");
  shared_post (s, ev);
}

static void
on_gathering_state (GstElement *webrtc, GParamSpec *pspec, Shared *s)
{
  BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_GATHERING, -1);
  GstWebRTCICEGatheringState state = GST_WEBRTC_ICE_GATHERING_STATE_NEW;

  g_object_get (webrtc, "ice-gathering-state", &state, NULL);
  ev->value = state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE;
  shared_post (s, ev);
}

static void
on_connection_state (GstElement *webrtc, GParamSpec *pspec, Shared *s)
{
  BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_CONNECTION, -1);
  GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;

  g_object_get (webrtc, "connection-state", &state, NULL);
  switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
      ev->value = BEACH_PEER_CONNECTION_NEW;
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      ev->value = BEACH_PEER_CONNECTION_CONNECTING;
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      ev->value = BEACH_PEER_CONNECTION_CONNECTED;
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      ev->value = BEACH_PEER_CONNECTION_DISCONNECTED;
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      ev->value = BEACH_PEER_CONNECTION_FAILED;
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
      ev->value = BEACH_PEER_CONNECTION_CLOSED;
      break;
    default:
      ev->value = BEACH_PEER_CONNECTION_NEW;
      break;
  }
  shared_post (s, ev);
}

/* Errors go to the owner; everything else on the bus is dropped, so the
 * bus never queues messages nobody reads. Any thread. */
static GstBusSyncReply
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  Shared *s = user_data;

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) error = NULL;
    g_autofree gchar *debug = NULL;
    BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_ERROR, -1);

    gst_message_parse_error (message, &error, &debug);
    ev->text = g_strdup_printf ("%s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)),
                                error != NULL ? error->message : "unknown error");
    g_debug ("pipeline error: %s (%s)", ev->text, debug != NULL ? debug : "");
    shared_post (s, ev);
  }
  /* A sync handler that drops a message owns it. */
  gst_message_unref (message);
  return GST_BUS_DROP;
}

/* -- promises */

typedef struct {
  Shared *shared;
  guint op;
} PromiseData;

static void
promise_data_free (gpointer data)
{
  PromiseData *pd = data;

  shared_unref (pd->shared);
  g_free (pd);
}

static void
on_promise (GstPromise *promise, gpointer user_data)
{
  PromiseData *pd = user_data;
  BeachPeerEvent *ev = event_new (BEACH_PEER_EVENT_PROMISE, -1);
  GstPromiseResult result = gst_promise_wait (promise);

  ev->op = pd->op;
  if (result == GST_PROMISE_RESULT_REPLIED) {
    const GstStructure *reply = gst_promise_get_reply (promise);

    if (reply != NULL && gst_structure_has_field (reply, "error")) {
      g_autoptr (GError) error = NULL;

      gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL);
      ev->text = g_strdup (error != NULL ? error->message : "webrtcbin refused");
    } else if (reply != NULL) {
      ev->object = gst_structure_copy (reply);
    }
  } else {
    ev->text = g_strdup (result == GST_PROMISE_RESULT_EXPIRED ? "expired" : "interrupted");
  }
  shared_post (pd->shared, ev);
}

static GstPromise *
promise_new (BeachPeer *self, guint op)
{
  PromiseData *pd = g_new0 (PromiseData, 1);

  pd->shared = shared_ref (self->shared);
  pd->op = op;
  return gst_promise_new_with_change_func (on_promise, pd, promise_data_free);
}

/* The promise is held by webrtcbin while it works; our ref goes now. */
static void
emit_with_promise (BeachPeer *self, const gchar *signal, gpointer arg, guint op)
{
  GstPromise *promise = promise_new (self, op);

  g_signal_emit_by_name (self->webrtc, signal, arg, promise);
  gst_promise_unref (promise);
}

static void
emit_simple (BeachPeer *self, GObject *owner, BeachPeerEventKind kind, const gchar *text)
{
  BeachPeerEvent ev = { .kind = kind, .channel = -1, .text = (gchar *) text };

  self->shared->func (owner, &ev);
}

static void
flush_candidates (BeachPeer *self)
{
  for (guint i = 0; i < self->pending_candidates->len; i++) {
    PendingCandidate *c = &g_array_index (self->pending_candidates, PendingCandidate, i);

    g_signal_emit_by_name (self->webrtc, "add-ice-candidate", c->mline, c->candidate);
    g_free (c->candidate);
  }
  g_array_set_size (self->pending_candidates, 0);
}

static void
handle_promise (BeachPeer *self, GObject *owner, const BeachPeerEvent *ev)
{
  GstWebRTCSessionDescription *desc = NULL;
  const gchar *field = ev->op == OP_CREATE_OFFER ? "offer" : "answer";

  if (ev->text != NULL) {
    g_autofree gchar *msg = g_strdup_printf ("webrtcbin: %s", ev->text);

    emit_simple (self, owner, BEACH_PEER_EVENT_FAILED, msg);
    return;
  }
  switch (ev->op) {
    case OP_CREATE_OFFER:
    case OP_CREATE_ANSWER:
      if (ev->object == NULL || !gst_structure_get (ev->object, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL) || desc == NULL) {
        emit_simple (self, owner, BEACH_PEER_EVENT_FAILED, "webrtcbin gave no session description");
        return;
      }
      emit_with_promise (self, "set-local-description", desc, OP_SET_LOCAL);
      gst_webrtc_session_description_free (desc);
      break;
    case OP_SET_REMOTE_OFFER:
      self->remote_set = TRUE;
      flush_candidates (self);
      emit_with_promise (self, "create-answer", NULL, OP_CREATE_ANSWER);
      break;
    case OP_SET_LOCAL:
      emit_simple (self, owner, BEACH_PEER_EVENT_NEGOTIATED, NULL);
      break;
    default:
      break;
  }
}

/* -- setup */

static void
configure_ice (GstElement *webrtc, const gchar *const *local_addresses)
{
  g_autoptr (GObject) ice = NULL;
  g_autoptr (GObject) agent = NULL;

  g_object_get (webrtc, "ice-agent", &ice, NULL);
  if (ice == NULL)
    return;
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "ice-tcp") != NULL)
    g_object_set (ice, "ice-tcp", FALSE, NULL);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent") != NULL)
    g_object_get (ice, "agent", &agent, NULL);
  if (agent == NULL) {
    static gsize warned = 0;

    if (g_once_init_enter (&warned)) {
      g_warning ("webrtcbin's ICE agent is not libnice: local addresses are not restricted");
      g_once_init_leave (&warned, 1);
    }
    return;
  }
  /* Else every gather sends SSDP multicast. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp") != NULL)
    g_object_set (agent, "upnp", FALSE, NULL);
  for (guint i = 0; local_addresses != NULL && local_addresses[i] != NULL; i++) {
    NiceAddress addr;

    nice_address_init (&addr);
    if (nice_address_set_from_string (&addr, local_addresses[i]))
      nice_agent_add_local_address (NICE_AGENT (agent), &addr);
  }
}

/* "stun:host:port" and "stun://host:port" both become the second form,
 * which is what webrtcbin parses; likewise turn: and turns:. */
static gchar *
normalize_ice_url (const gchar *url, const gchar **out_scheme)
{
  static const gchar *const schemes[] = { "stun", "turns", "turn", NULL };

  for (guint i = 0; schemes[i] != NULL; i++) {
    gsize n = strlen (schemes[i]);

    if (g_ascii_strncasecmp (url, schemes[i], n) != 0 || url[n] != ':')
      continue;
    *out_scheme = schemes[i];
    url += n + 1;
    if (g_str_has_prefix (url, "//"))
      url += 2;
    if (*url == '\0')
      return NULL;
    return g_strdup_printf ("%s://%s", schemes[i], url);
  }
  return NULL;
}

static gboolean
configure_ice_servers (GstElement *webrtc, const gchar *const *servers, GError **error)
{
  gboolean have_stun = FALSE;

  for (guint i = 0; servers != NULL && servers[i] != NULL; i++) {
    const gchar *scheme = NULL;
    g_autofree gchar *url = normalize_ice_url (servers[i], &scheme);
    gboolean ok = FALSE;

    if (url == NULL) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "“ice-servers”: “%s” is not a stun:, turn: or turns: URL", servers[i]);
      return FALSE;
    }
    if (g_str_equal (scheme, "stun")) {
      /* webrtcbin takes one STUN server. */
      if (!have_stun)
        g_object_set (webrtc, "stun-server", url, NULL);
      have_stun = TRUE;
      continue;
    }
    g_signal_emit_by_name (webrtc, "add-turn-server", url, &ok);
    if (!ok) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "“ice-servers”: webrtcbin refused the TURN server “%s” (expected turn://user:password@host:port)",
                   servers[i]);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
check_addresses (const gchar *const *addresses, GError **error)
{
  for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++) {
    if (!g_hostname_is_ip_address (addresses[i])) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "“local-addresses”: “%s” is not an IP address", addresses[i]);
      return FALSE;
    }
  }
  return TRUE;
}

static void
gst_init_once (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    if (!gst_is_initialized ())
      gst_init (NULL, NULL);
    g_once_init_leave (&done, 1);
  }
}

BeachPeer *
beach_peer_new (GObject *owner, BeachPeerEventFunc func, const BeachPeerConfig *config, GError **error)
{
  BeachPeer *self;
  Shared *s;
  g_autoptr (GstBus) bus = NULL;

  gst_init_once ();
  if (!check_addresses (config->local_addresses, error))
    return NULL;

  self = g_new0 (BeachPeer, 1);
  self->offerer = config->offerer;
  self->pending_candidates = g_array_new (FALSE, TRUE, sizeof (PendingCandidate));

  s = g_new0 (Shared, 1);
  g_atomic_ref_count_init (&s->ref);
  g_mutex_init (&s->lock);
  g_queue_init (&s->events);
  g_weak_ref_init (&s->owner, owner);
  s->func = func;
  s->peer = self;
  s->max_messages = config->max_messages;
  s->max_bytes = config->max_bytes;
  s->context = config->context != NULL ? g_main_context_ref (config->context) : g_main_context_ref_thread_default ();
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++)
    s->labels[i] = g_strdup (config->labels[i]);
  s->source = g_source_new (&ready_time_funcs, sizeof (GSource));
  g_source_set_static_name (s->source, "beach-webrtc-events");
  g_source_set_callback (s->source, shared_dispatch, shared_ref (s), (GDestroyNotify) shared_unref);
  g_source_attach (s->source, s->context);
  self->shared = s;

  self->pipeline = gst_pipeline_new (NULL);
  self->webrtc = gst_element_factory_make ("webrtcbin", NULL);
  if (self->webrtc == NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE,
                         "the GStreamer element webrtcbin is not installed (gstreamer1.0-plugins-bad, gstreamer1.0-nice)");
    beach_peer_teardown (self, NULL);
    return NULL;
  }
  gst_bin_add (GST_BIN (self->pipeline), self->webrtc);
  g_object_set (self->webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
  if (!configure_ice_servers (self->webrtc, config->ice_servers, error)) {
    beach_peer_teardown (self, NULL);
    return NULL;
  }
  configure_ice (self->webrtc, config->local_addresses);

  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  gst_bus_set_sync_handler (bus, on_bus_message, shared_ref (s), (GDestroyNotify) shared_unref);
  g_signal_connect_data (self->webrtc, "on-ice-candidate", G_CALLBACK (on_ice_candidate), shared_ref (s),
                         shared_unref_closure, 0);
  g_signal_connect_data (self->webrtc, "notify::ice-gathering-state", G_CALLBACK (on_gathering_state),
                         shared_ref (s), shared_unref_closure, 0);
  g_signal_connect_data (self->webrtc, "notify::connection-state", G_CALLBACK (on_connection_state),
                         shared_ref (s), shared_unref_closure, 0);
  if (!self->offerer)
    g_signal_connect_data (self->webrtc, "on-data-channel", G_CALLBACK (on_data_channel), shared_ref (s),
                           shared_unref_closure, 0);

  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "the webrtcbin pipeline did not start");
    beach_peer_teardown (self, NULL);
    return NULL;
  }
  return self;
}

static void
register_channel (BeachPeer *self, guint index, GstWebRTCDataChannel *channel, ChannelTag *tag)
{
  if (self->channels[index] != NULL) {
    g_debug ("a second “%s” channel was announced; ignoring it", self->shared->labels[index]);
    g_signal_handlers_disconnect_by_data (channel, tag);
    return;
  }
  self->channels[index] = g_object_ref (channel);
  self->tags[index] = tag_ref (tag);
  g_object_set (channel, "buffered-amount-low-threshold", self->low_threshold, NULL);
}

gboolean
beach_peer_offer (BeachPeer *self, GError **error)
{
  g_return_val_if_fail (self->offerer, FALSE);

  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++) {
    g_autoptr (GstStructure) opts = NULL;
    GstWebRTCDataChannel *channel = NULL;
    ChannelTag *tag;

    /* The last channel (mgr-state) is lossy: unordered, no retransmits. */
    if (i == BEACH_PEER_N_CHANNELS - 1)
      opts = gst_structure_new ("application/x-datachannel", "ordered", G_TYPE_BOOLEAN, FALSE,
                                "max-retransmits", G_TYPE_INT, 0, NULL);
    else
      opts = gst_structure_new ("application/x-datachannel", "ordered", G_TYPE_BOOLEAN, TRUE, NULL);
    g_signal_emit_by_name (self->webrtc, "create-data-channel", self->shared->labels[i], opts, &channel);
    if (channel == NULL) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "webrtcbin did not create the “%s” channel",
                   self->shared->labels[i]);
      return FALSE;
    }
    tag = tag_new (self->shared, (gint) i);
    connect_channel (channel, tag);
    register_channel (self, i, channel, tag);
    tag_unref (tag);
    g_object_unref (channel);
  }
  emit_with_promise (self, "create-offer", NULL, OP_CREATE_OFFER);
  return TRUE;
}

static GstWebRTCSessionDescription *
description_new (GstWebRTCSDPType type, const gchar *sdp, GError **error)
{
  GstSDPMessage *msg = NULL;

  if (gst_sdp_message_new_from_text (sdp, &msg) != GST_SDP_OK || msg == NULL) {
    if (msg != NULL)
      gst_sdp_message_free (msg);
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“sdp”: does not parse");
    return NULL;
  }
  return gst_webrtc_session_description_new (type, msg);
}

gboolean
beach_peer_answer (BeachPeer *self, const gchar *offer_sdp, GError **error)
{
  g_autoptr (GstWebRTCSessionDescription) desc = description_new (GST_WEBRTC_SDP_TYPE_OFFER, offer_sdp, error);

  g_return_val_if_fail (!self->offerer, FALSE);
  if (desc == NULL)
    return FALSE;
  emit_with_promise (self, "set-remote-description", desc, OP_SET_REMOTE_OFFER);
  return TRUE;
}

gboolean
beach_peer_set_remote_answer (BeachPeer *self, const gchar *answer_sdp, GError **error)
{
  g_autoptr (GstWebRTCSessionDescription) desc = description_new (GST_WEBRTC_SDP_TYPE_ANSWER, answer_sdp, error);
  GstPromise *promise;
  GstPromiseResult result;
  const GstStructure *reply;

  g_return_val_if_fail (self->offerer, FALSE);
  if (desc == NULL)
    return FALSE;
  /* webrtcbin answers from its own thread, which never waits for ours:
   * waiting here cannot deadlock and takes about a millisecond. */
  promise = gst_promise_new ();
  g_signal_emit_by_name (self->webrtc, "set-remote-description", desc, promise);
  result = gst_promise_wait (promise);
  reply = result == GST_PROMISE_RESULT_REPLIED ? gst_promise_get_reply (promise) : NULL;
  if (result != GST_PROMISE_RESULT_REPLIED || (reply != NULL && gst_structure_has_field (reply, "error"))) {
    g_autoptr (GError) inner = NULL;

    if (reply != NULL)
      gst_structure_get (reply, "error", G_TYPE_ERROR, &inner, NULL);
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“sdp”: webrtcbin refused the answer: %s",
                 inner != NULL ? inner->message : "no reply");
    gst_promise_unref (promise);
    return FALSE;
  }
  gst_promise_unref (promise);
  self->remote_set = TRUE;
  flush_candidates (self);
  return TRUE;
}

void
beach_peer_add_remote_candidate (BeachPeer *self, guint mline, const gchar *candidate)
{
  if (!self->remote_set) {
    PendingCandidate c = { mline, g_strdup (candidate) };

    g_array_append_val (self->pending_candidates, c);
    return;
  }
  g_signal_emit_by_name (self->webrtc, "add-ice-candidate", mline, candidate);
}

gchar *
beach_peer_get_local_sdp (BeachPeer *self)
{
  g_autoptr (GstWebRTCSessionDescription) desc = NULL;

  g_object_get (self->webrtc, "local-description", &desc, NULL);
  if (desc == NULL || desc->sdp == NULL)
    return NULL;
  return gst_sdp_message_as_text (desc->sdp);
}

gboolean
beach_peer_channel_is_open (BeachPeer *self, guint channel)
{
  GstWebRTCDataChannelState state = GST_WEBRTC_DATA_CHANNEL_STATE_CLOSED;

  g_return_val_if_fail (channel < BEACH_PEER_N_CHANNELS, FALSE);
  if (self->channels[channel] == NULL)
    return FALSE;
  g_object_get (self->channels[channel], "ready-state", &state, NULL);
  return state == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN;
}

guint64
beach_peer_buffered_amount (BeachPeer *self, guint channel)
{
  guint64 amount = 0;

  g_return_val_if_fail (channel < BEACH_PEER_N_CHANNELS, 0);
  if (self->channels[channel] != NULL)
    g_object_get (self->channels[channel], "buffered-amount", &amount, NULL);
  return amount;
}

void
beach_peer_set_receive_limit (BeachPeer *self, guint max_messages, gsize max_bytes)
{
  Shared *s = self->shared;

  g_mutex_lock (&s->lock);
  s->max_messages = max_messages;
  s->max_bytes = max_bytes;
  g_mutex_unlock (&s->lock);
}

guint64
beach_peer_get_messages_dropped (BeachPeer *self)
{
  Shared *s = self->shared;
  guint64 dropped;

  g_mutex_lock (&s->lock);
  dropped = s->dropped;
  g_mutex_unlock (&s->lock);
  return dropped;
}

void
beach_peer_set_low_threshold (BeachPeer *self, guint64 threshold)
{
  self->low_threshold = threshold;
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++) {
    if (self->channels[i] != NULL)
      g_object_set (self->channels[i], "buffered-amount-low-threshold", threshold, NULL);
  }
}

gboolean
beach_peer_send (BeachPeer *self, guint channel, const gchar *text, GError **error)
{
  g_autoptr (GError) inner = NULL;

  g_return_val_if_fail (channel < BEACH_PEER_N_CHANNELS, FALSE);
  /* Sending on a channel that is not open is a critical in webrtcbin. */
  if (!beach_peer_channel_is_open (self, channel)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "the “%s” channel is not open",
                 self->shared->labels[channel]);
    return FALSE;
  }
  if (!gst_webrtc_data_channel_send_string_full (self->channels[channel], text, &inner)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "sending on “%s” failed: %s",
                 self->shared->labels[channel], inner != NULL ? inner->message : "unknown error");
    return FALSE;
  }
  return TRUE;
}

void
beach_peer_close_channels (BeachPeer *self)
{
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++) {
    if (beach_peer_channel_is_open (self, i))
      gst_webrtc_data_channel_close (self->channels[i]);
  }
}

/* -- teardown */

typedef struct {
  GstElement *pipeline;
  GstWebRTCDataChannel *channels[BEACH_PEER_N_CHANNELS];
} Teardown;

static void
teardown_run (Teardown *td)
{
  if (td->pipeline != NULL)
    gst_element_set_state (td->pipeline, GST_STATE_NULL);
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++)
    g_clear_object (&td->channels[i]);
  g_clear_pointer (&td->pipeline, gst_object_unref);
  g_free (td);
}

static void
teardown_in_task (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  teardown_run (task_data);
  g_task_return_boolean (task, TRUE);
}

static gpointer
teardown_in_thread (gpointer data)
{
  teardown_run (data);
  return NULL;
}

void
beach_peer_teardown (BeachPeer *self, GTask *task)
{
  Shared *s = self->shared;
  Teardown *td = g_new0 (Teardown, 1);

  g_mutex_lock (&s->lock);
  s->dead = TRUE;
  g_queue_clear_full (&s->events, (GDestroyNotify) event_free);
  g_queue_init (&s->events);
  g_mutex_unlock (&s->lock);
  s->peer = NULL;
  g_source_destroy (s->source);

  if (self->webrtc != NULL)
    g_signal_handlers_disconnect_by_data (self->webrtc, s);
  for (guint i = 0; i < BEACH_PEER_N_CHANNELS; i++) {
    if (self->channels[i] != NULL)
      g_signal_handlers_disconnect_by_data (self->channels[i], self->tags[i]);
    g_clear_pointer (&self->tags[i], tag_unref);
    td->channels[i] = g_steal_pointer (&self->channels[i]);
  }
  td->pipeline = g_steal_pointer (&self->pipeline);
  for (guint i = 0; i < self->pending_candidates->len; i++)
    g_free (g_array_index (self->pending_candidates, PendingCandidate, i).candidate);
  g_array_unref (self->pending_candidates);
  shared_unref (s);
  g_free (self);

  /* Going to NULL joins webrtcbin's threads: never on the owner's. */
  if (task != NULL) {
    g_task_set_task_data (task, td, NULL);
    g_task_run_in_thread (task, teardown_in_task);
  } else {
    g_thread_unref (g_thread_new ("beach-teardown", teardown_in_thread, td));
  }
}
