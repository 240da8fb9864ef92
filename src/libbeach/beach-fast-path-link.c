/* beach-fast-path-link.c: one fast-path peer connection
 *
 * WIRE.md "Fast path": three channels, text frames, chunking, heartbeat
 * and health. This file is the GObject and its public API; the state
 * machine behind it is beach-fast-path-link-machine.c, the webrtcbin
 * plumbing beach-webrtc-peer-private.c, the frame rules
 * beach-frame-private.c. Everything runs on the owner's main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-fast-path-link"

#include "config.h"

#include "beach-enum-types.h"
#include "beach-error.h"
#include "beach-fast-path-link-private.h"
#include "beach-fast-path-link.h"
#include "beach-sdp-private.h"

enum {
  PROP_0,
  PROP_ROLE,
  PROP_LOCAL_ADDRESSES,
  PROP_ICE_SERVERS,
  PROP_HEARTBEAT_INTERVAL_MS,
  PROP_HEARTBEAT_TIMEOUT_MS,
  PROP_UNHEALTHY_CLOSE_MS,
  PROP_MAX_FRAME_BYTES,
  PROP_SEND_QUEUE_LIMIT,
  PROP_REASSEMBLY_TIMEOUT_MS,
  PROP_RECEIVE_QUEUE_LIMIT,
  PROP_ACTIONS_LABEL,
  PROP_ACKS_LABEL,
  PROP_STATE_LABEL,
  PROP_LINK_ID,
  PROP_HEALTH,
  PROP_RTT_US,
  PROP_UNKNOWN_FRAMES,
  PROP_FRAMES_SENT,
  PROP_FRAMES_RECEIVED,
  PROP_REASSEMBLIES_DROPPED,
  PROP_FRAMES_DROPPED,
  N_PROPS
};

enum {
  SIGNAL_LOCAL_CANDIDATE,
  SIGNAL_FRAME_RECEIVED,
  N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachFastPathLink, beach_fast_path_link, G_TYPE_OBJECT)

/* -- notifications, for the state machine */

void
beach_link_set_health (BeachFastPathLink *self, BeachLinkHealth health)
{
  if (self->health == health)
    return;
  g_debug ("link %s: %s → %s", self->link_id != NULL ? self->link_id : "(unnamed)",
           beach_link_health_to_string (self->health), beach_link_health_to_string (health));
  self->health = health;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_HEALTH]);
}

void
beach_link_set_rtt (BeachFastPathLink *self, gint64 rtt_us)
{
  self->rtt_us = rtt_us;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RTT_US]);
}

void
beach_link_set_frames_dropped (BeachFastPathLink *self, guint64 dropped)
{
  gint64 now = g_get_monotonic_time ();

  if (dropped <= self->frames_dropped)
    return;
  self->frames_dropped = dropped;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FRAMES_DROPPED]);
  /* One warning, then at most one per interval, however fast the peer. */
  if (self->drop_warned_us != 0 && now - self->drop_warned_us < DROP_WARN_INTERVAL_US)
    return;
  self->drop_warned_us = now;
  g_warning ("link %s: the receive queue is full (%u frames or %u bytes): %" G_GUINT64_FORMAT
             " frames dropped so far; the peer sends faster than this context handles them",
             self->link_id != NULL ? self->link_id : "(unnamed)", self->receive_queue_limit,
             (guint) RECEIVE_QUEUE_BYTES, dropped);
}

void
beach_link_emit_frame (BeachFastPathLink *self, guint channel, const gchar *type, JsonNode *payload)
{
  g_signal_emit (self, signals[SIGNAL_FRAME_RECEIVED], 0, (BeachFastPathChannel) channel, type, payload);
}

void
beach_link_emit_candidate (BeachFastPathLink *self, const gchar *candidate, guint mline)
{
  g_signal_emit (self, signals[SIGNAL_LOCAL_CANDIDATE], 0, candidate, mline);
}

/* -- GObject */

static void
beach_fast_path_link_dispose (GObject *object)
{
  beach_link_machine_dispose (BEACH_FAST_PATH_LINK (object));
  G_OBJECT_CLASS (beach_fast_path_link_parent_class)->dispose (object);
}

static void
beach_fast_path_link_finalize (GObject *object)
{
  BeachFastPathLink *self = BEACH_FAST_PATH_LINK (object);

  beach_link_machine_clear_queues (self);
  g_strfreev (self->local_addresses);
  g_strfreev (self->ice_servers);
  for (guint i = 0; i < N_CHANNELS; i++)
    g_free (self->labels[i]);
  g_free (self->link_id);
  g_free (self->ping_handshake_id);
  g_free (self->ping_transport);
  g_ptr_array_unref (self->local_candidates);
  g_ptr_array_unref (self->close_tasks);
  beach_reassembler_free (self->reassembler);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (beach_fast_path_link_parent_class)->finalize (object);
}

static void
set_strv (GStrv *field, const GValue *value, const gchar *const *fallback)
{
  const gchar *const *v = g_value_get_boxed (value);

  g_strfreev (*field);
  *field = g_strdupv ((GStrv) (v != NULL ? v : fallback));
}

static void
set_label (gchar **field, const GValue *value, BeachFastPathChannel channel)
{
  const gchar *v = g_value_get_string (value);

  g_free (*field);
  *field = g_strdup (v != NULL && *v != '\0' ? v : beach_fast_path_channel_to_string (channel));
}

/* Applies at once to a started link too: frames already queued stay. */
static void
set_receive_queue_limit (BeachFastPathLink *self, guint limit)
{
  if (self->receive_queue_limit == limit)
    return;
  self->receive_queue_limit = limit;
  if (self->peer != NULL)
    beach_peer_set_receive_limit (self->peer, limit, RECEIVE_QUEUE_BYTES);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RECEIVE_QUEUE_LIMIT]);
}

static void
beach_fast_path_link_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BeachFastPathLink *self = BEACH_FAST_PATH_LINK (object);
  static const gchar *const loopback[] = { "127.0.0.1", NULL };
  static const gchar *const none[] = { NULL };

  switch (prop_id) {
    case PROP_ROLE:
      self->role = g_value_get_enum (value);
      break;
    case PROP_LOCAL_ADDRESSES:
      set_strv (&self->local_addresses, value, loopback);
      break;
    case PROP_ICE_SERVERS:
      set_strv (&self->ice_servers, value, none);
      break;
    case PROP_HEARTBEAT_INTERVAL_MS:
      self->heartbeat_interval_ms = g_value_get_uint (value);
      break;
    case PROP_HEARTBEAT_TIMEOUT_MS:
      self->heartbeat_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_UNHEALTHY_CLOSE_MS:
      self->unhealthy_close_ms = g_value_get_uint (value);
      break;
    case PROP_MAX_FRAME_BYTES:
      self->max_frame_bytes = g_value_get_uint (value);
      break;
    case PROP_SEND_QUEUE_LIMIT:
      self->send_queue_limit = g_value_get_uint (value);
      break;
    case PROP_REASSEMBLY_TIMEOUT_MS:
      self->reassembly_timeout_ms = g_value_get_uint (value);
      beach_reassembler_set_timeout (self->reassembler,
                                     (gint64) self->reassembly_timeout_ms * G_TIME_SPAN_MILLISECOND);
      break;
    case PROP_RECEIVE_QUEUE_LIMIT:
      set_receive_queue_limit (self, g_value_get_uint (value));
      break;
    case PROP_ACTIONS_LABEL:
      set_label (&self->labels[BEACH_FAST_PATH_CHANNEL_ACTIONS], value, BEACH_FAST_PATH_CHANNEL_ACTIONS);
      break;
    case PROP_ACKS_LABEL:
      set_label (&self->labels[BEACH_FAST_PATH_CHANNEL_ACKS], value, BEACH_FAST_PATH_CHANNEL_ACKS);
      break;
    case PROP_STATE_LABEL:
      set_label (&self->labels[BEACH_FAST_PATH_CHANNEL_STATE], value, BEACH_FAST_PATH_CHANNEL_STATE);
      break;
    case PROP_LINK_ID:
      beach_fast_path_link_set_link_id (self, g_value_get_string (value));
      break;
    case PROP_HEALTH:
    case PROP_RTT_US:
    case PROP_UNKNOWN_FRAMES:
    case PROP_FRAMES_SENT:
    case PROP_FRAMES_RECEIVED:
    case PROP_REASSEMBLIES_DROPPED:
    case PROP_FRAMES_DROPPED:
    case PROP_0:
    case N_PROPS:
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
beach_fast_path_link_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BeachFastPathLink *self = BEACH_FAST_PATH_LINK (object);

  switch (prop_id) {
    case PROP_ROLE:
      g_value_set_enum (value, self->role);
      break;
    case PROP_LOCAL_ADDRESSES:
      g_value_set_boxed (value, self->local_addresses);
      break;
    case PROP_ICE_SERVERS:
      g_value_set_boxed (value, self->ice_servers);
      break;
    case PROP_HEARTBEAT_INTERVAL_MS:
      g_value_set_uint (value, self->heartbeat_interval_ms);
      break;
    case PROP_HEARTBEAT_TIMEOUT_MS:
      g_value_set_uint (value, self->heartbeat_timeout_ms);
      break;
    case PROP_UNHEALTHY_CLOSE_MS:
      g_value_set_uint (value, self->unhealthy_close_ms);
      break;
    case PROP_MAX_FRAME_BYTES:
      g_value_set_uint (value, self->max_frame_bytes);
      break;
    case PROP_SEND_QUEUE_LIMIT:
      g_value_set_uint (value, self->send_queue_limit);
      break;
    case PROP_REASSEMBLY_TIMEOUT_MS:
      g_value_set_uint (value, self->reassembly_timeout_ms);
      break;
    case PROP_RECEIVE_QUEUE_LIMIT:
      g_value_set_uint (value, self->receive_queue_limit);
      break;
    case PROP_ACTIONS_LABEL:
      g_value_set_string (value, self->labels[BEACH_FAST_PATH_CHANNEL_ACTIONS]);
      break;
    case PROP_ACKS_LABEL:
      g_value_set_string (value, self->labels[BEACH_FAST_PATH_CHANNEL_ACKS]);
      break;
    case PROP_STATE_LABEL:
      g_value_set_string (value, self->labels[BEACH_FAST_PATH_CHANNEL_STATE]);
      break;
    case PROP_LINK_ID:
      g_value_set_string (value, self->link_id);
      break;
    case PROP_HEALTH:
      g_value_set_enum (value, self->health);
      break;
    case PROP_RTT_US:
      g_value_set_int64 (value, self->rtt_us);
      break;
    case PROP_UNKNOWN_FRAMES:
      g_value_set_uint (value, self->unknown_frames);
      break;
    case PROP_FRAMES_SENT:
      g_value_set_uint64 (value, self->frames_sent);
      break;
    case PROP_FRAMES_RECEIVED:
      g_value_set_uint64 (value, self->frames_received);
      break;
    case PROP_REASSEMBLIES_DROPPED:
      g_value_set_uint (value, self->reassemblies_dropped);
      break;
    case PROP_FRAMES_DROPPED:
      g_value_set_uint64 (value, beach_fast_path_link_get_frames_dropped (self));
      break;
    case PROP_0:
    case N_PROPS:
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static GParamSpec *
uint_prop (const gchar *name, const gchar *blurb, guint min, guint max, guint def)
{
  return g_param_spec_uint (name, NULL, blurb, min, max, def,
                            G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
label_prop (const gchar *name, const gchar *def)
{
  return g_param_spec_string (name, NULL, "The label of this data channel (set before start)", def,
                              G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
}

static void
beach_fast_path_link_class_init (BeachFastPathLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = beach_fast_path_link_dispose;
  object_class->finalize = beach_fast_path_link_finalize;
  object_class->set_property = beach_fast_path_link_set_property;
  object_class->get_property = beach_fast_path_link_get_property;

  /**
   * BeachFastPathLink:role:
   *
   * Which end this link is: the offerer creates the channels and the offer.
   */
  props[PROP_ROLE] = g_param_spec_enum ("role", NULL, NULL, BEACH_TYPE_FAST_PATH_ROLE, BEACH_FAST_PATH_ROLE_OFFERER,
                                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * BeachFastPathLink:local-addresses:
   *
   * The only addresses ICE gathers host candidates on (default
   * `127.0.0.1`). Set before start.
   */
  props[PROP_LOCAL_ADDRESSES] = g_param_spec_boxed ("local-addresses", NULL, NULL, G_TYPE_STRV,
                                                    G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * BeachFastPathLink:ice-servers:
   *
   * `stun:` and `turn:`/`turns:` URLs (`turn://user:password@host:port`),
   * default none. Only the first STUN server is used. Set before start.
   */
  props[PROP_ICE_SERVERS] = g_param_spec_boxed ("ice-servers", NULL, NULL, G_TYPE_STRV,
                                                G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * BeachFastPathLink:heartbeat-interval-ms:
   *
   * A ping goes out after this long without sending anything.
   */
  props[PROP_HEARTBEAT_INTERVAL_MS] = uint_prop ("heartbeat-interval-ms", "Ping after this long without sending",
                                                 10, 600000, 500);
  /**
   * BeachFastPathLink:heartbeat-timeout-ms:
   *
   * The link is unhealthy when no frame came from the peer for this long.
   */
  props[PROP_HEARTBEAT_TIMEOUT_MS] = uint_prop ("heartbeat-timeout-ms", "Unhealthy after this long without a frame",
                                                20, 600000, 1500);
  /**
   * BeachFastPathLink:unhealthy-close-ms:
   *
   * An unhealthy link is closed after this long.
   */
  props[PROP_UNHEALTHY_CLOSE_MS] = uint_prop ("unhealthy-close-ms", "Close after this long unhealthy",
                                              0, 3600000, 10000);
  /**
   * BeachFastPathLink:max-frame-bytes:
   *
   * The largest frame sent, envelope included; larger messages are
   * chunked (never on the state channel).
   */
  props[PROP_MAX_FRAME_BYTES] = uint_prop ("max-frame-bytes", "The largest frame on the wire",
                                           BEACH_FRAME_MAX_BYTES_MIN, 65536, BEACH_FRAME_MAX_BYTES_DEFAULT);
  /**
   * BeachFastPathLink:send-queue-limit:
   *
   * How many frames may wait locally while a channel's buffered amount
   * is high; past it, beach_fast_path_link_send() fails with
   * %BEACH_ERROR_TOO_MANY_REQUESTS.
   */
  props[PROP_SEND_QUEUE_LIMIT] = uint_prop ("send-queue-limit", "Frames queued locally at most",
                                            1, G_MAXINT32, 4096);
  /**
   * BeachFastPathLink:reassembly-timeout-ms:
   *
   * A chunked message not complete after this long is dropped.
   */
  props[PROP_REASSEMBLY_TIMEOUT_MS] = uint_prop ("reassembly-timeout-ms", "Drop a reassembly after this long",
                                                 1, 3600000, BEACH_REASSEMBLY_TIMEOUT_MS);
  /**
   * BeachFastPathLink:receive-queue-limit:
   *
   * How many received frames may wait for this link's main context;
   * frames are also bounded to 8 MiB of text in all. Past either bound a
   * frame is dropped as it arrives (before any parsing) and counted in
   * #BeachFastPathLink:frames-dropped: a peer that sends faster than the
   * context handles frames costs a counter, not memory. Connection and
   * channel events are never dropped. Takes effect at once.
   */
  props[PROP_RECEIVE_QUEUE_LIMIT] = uint_prop ("receive-queue-limit", "Received frames queued at most",
                                               1, G_MAXINT32, RECEIVE_QUEUE_FRAMES);
  /**
   * BeachFastPathLink:actions-label:
   *
   * The label of the actions channel (manager to harness).
   */
  props[PROP_ACTIONS_LABEL] = label_prop ("actions-label", "mgr-actions");
  /**
   * BeachFastPathLink:acks-label:
   *
   * The label of the acks channel (harness to manager).
   */
  props[PROP_ACKS_LABEL] = label_prop ("acks-label", "mgr-acks");
  /**
   * BeachFastPathLink:state-label:
   *
   * The label of the state channel (harness to manager, lossy).
   */
  props[PROP_STATE_LABEL] = label_prop ("state-label", "mgr-state");
  /**
   * BeachFastPathLink:link-id:
   *
   * An identifier for the owner's use; the link only logs it.
   */
  props[PROP_LINK_ID] = g_param_spec_string ("link-id", NULL, NULL, NULL,
                                             G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * BeachFastPathLink:health:
   *
   * connecting → healthy ⇄ unhealthy → closed; notified on the owner's
   * context.
   */
  props[PROP_HEALTH] = g_param_spec_enum ("health", NULL, NULL, BEACH_TYPE_LINK_HEALTH,
                                          BEACH_LINK_HEALTH_CONNECTING, ro);
  /**
   * BeachFastPathLink:rtt-us:
   *
   * The last ping round trip in microseconds, -1 until measured.
   */
  props[PROP_RTT_US] = g_param_spec_int64 ("rtt-us", NULL, NULL, -1, G_MAXINT64, -1, ro);
  /**
   * BeachFastPathLink:unknown-frames:
   *
   * Frames received that were malformed or of an unknown type. Not
   * notified.
   */
  props[PROP_UNKNOWN_FRAMES] = g_param_spec_uint ("unknown-frames", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * BeachFastPathLink:frames-sent:
   *
   * Wire frames sent (each chunk counts). Not notified.
   */
  props[PROP_FRAMES_SENT] = g_param_spec_uint64 ("frames-sent", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * BeachFastPathLink:frames-received:
   *
   * Wire frames received (each chunk counts). Not notified.
   */
  props[PROP_FRAMES_RECEIVED] = g_param_spec_uint64 ("frames-received", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /**
   * BeachFastPathLink:reassemblies-dropped:
   *
   * Chunked messages given up: over a cap, timed out, or inconsistent.
   * Not notified.
   */
  props[PROP_REASSEMBLIES_DROPPED] = g_param_spec_uint ("reassemblies-dropped", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /**
   * BeachFastPathLink:frames-dropped:
   *
   * Wire frames dropped on arrival because the receive queue was full
   * (see #BeachFastPathLink:receive-queue-limit). A dropped `ack` leaves
   * its action unsettled until its own timeout. Notified on the owner's
   * context when it grows; the first drop, and then at most one a
   * minute, is also logged as a warning.
   */
  props[PROP_FRAMES_DROPPED] = g_param_spec_uint64 ("frames-dropped", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /**
   * BeachFastPathLink::local-candidate:
   * @self: the link
   * @candidate: an `a=candidate` value (`candidate:…`), or "" once
   *   gathering is complete
   * @sdp_mline_index: the m-line it belongs to
   *
   * A local ICE candidate for the peer (trickle).
   */
  signals[SIGNAL_LOCAL_CANDIDATE] = g_signal_new ("local-candidate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_UINT);
  /**
   * BeachFastPathLink::frame-received:
   * @self: the link
   * @channel: the channel it came on
   * @type: the frame type: action, ping, ack, pong, state or health
   * @payload: the payload (a null node when the frame had none)
   *
   * A frame from the peer, reassembled if it was chunked. Frames of other
   * types are counted in #BeachFastPathLink:unknown-frames instead. Pings
   * are answered by the link before this is emitted.
   */
  signals[SIGNAL_FRAME_RECEIVED] = g_signal_new ("frame-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                 0, NULL, NULL, NULL, G_TYPE_NONE, 3, BEACH_TYPE_FAST_PATH_CHANNEL,
                                                 G_TYPE_STRING, JSON_TYPE_NODE);
}

static void
beach_fast_path_link_init (BeachFastPathLink *self)
{
  static const gchar *const loopback[] = { "127.0.0.1", NULL };

  self->context = g_main_context_ref_thread_default ();
  self->local_addresses = g_strdupv ((GStrv) loopback);
  self->ice_servers = g_new0 (gchar *, 1);
  self->health = BEACH_LINK_HEALTH_CONNECTING;
  self->rtt_us = -1;
  self->local_candidates = g_ptr_array_new_with_free_func (g_free);
  self->close_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  self->reassembler = beach_reassembler_new (N_CHANNELS, BEACH_REASSEMBLY_MAX_PER_CHANNEL,
                                             BEACH_REASSEMBLY_MAX_BYTES,
                                             (gint64) BEACH_REASSEMBLY_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND);
  for (guint i = 0; i < N_CHANNELS; i++)
    g_queue_init (&self->channels[i].queue);
  beach_link_machine_init (self);
}

/* -- public API */

/**
 * beach_fast_path_link_new:
 * @role: which end of the link this is
 *
 * Creates a link. Its signals and notifications are emitted on the
 * thread-default main context of the calling thread, which must run it;
 * use the link from that thread only. Set properties before
 * beach_fast_path_link_create_offer_async() or
 * beach_fast_path_link_answer_async().
 *
 * Returns: (transfer full): a new #BeachFastPathLink
 */
BeachFastPathLink *
beach_fast_path_link_new (BeachFastPathRole role)
{
  return g_object_new (BEACH_TYPE_FAST_PATH_LINK, "role", role, NULL);
}

/**
 * beach_fast_path_link_create_offer_async:
 * @self: an offerer #BeachFastPathLink
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the offer
 * @user_data: (closure): data for @callback
 *
 * Starts the peer connection, creates the three channels (`mgr-state`
 * unordered without retransmits), makes the offer and sets it local. The
 * result carries the ICE candidates gathered within about 300 ms; later
 * ones arrive through #BeachFastPathLink::local-candidate.
 */
void
beach_fast_path_link_create_offer_async (BeachFastPathLink *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;

  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_fast_path_link_create_offer_async);
  if (self->role != BEACH_FAST_PATH_ROLE_OFFERER) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_CONFLICT, "an answerer link does not offer");
    return;
  }
  if (!beach_link_machine_start (self, &error) || !beach_peer_offer (self->peer, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    if (self->phase == LINK_PHASE_NEGOTIATING)
      beach_link_machine_close (self, "the offer failed");
    return;
  }
  self->negotiation = g_steal_pointer (&task);
}

/**
 * beach_fast_path_link_create_offer_finish:
 * @self: a #BeachFastPathLink
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the offer SDP, or %NULL with @error
 *   set
 */
gchar *
beach_fast_path_link_create_offer_finish (BeachFastPathLink *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * beach_fast_path_link_answer_async:
 * @self: an answerer #BeachFastPathLink
 * @offer_sdp: the remote offer
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the answer
 * @user_data: (closure): data for @callback
 *
 * Checks the offer (both data-channel dialects are accepted; an offer in
 * the older `DTLS/SCTP` one is answered in it), starts the peer
 * connection, sets the offer, creates the answer and sets it local. The
 * answer carries the candidates gathered when gathering completes, or
 * after about 300 ms, whichever is first. A malformed offer fails with
 * %BEACH_ERROR_INVALID_FIELD.
 */
void
beach_fast_path_link_answer_async (BeachFastPathLink *self, const gchar *offer_sdp, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sdp = NULL;

  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_fast_path_link_answer_async);
  if (self->role != BEACH_FAST_PATH_ROLE_ANSWERER) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_CONFLICT, "an offerer link does not answer");
    return;
  }
  sdp = beach_sdp_normalize (offer_sdp, &self->legacy_sdp, &error);
  if (sdp == NULL || !beach_link_machine_start (self, &error) || !beach_peer_answer (self->peer, sdp, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    if (self->phase == LINK_PHASE_NEGOTIATING)
      beach_link_machine_close (self, "the answer failed");
    return;
  }
  self->negotiation = g_steal_pointer (&task);
}

/**
 * beach_fast_path_link_answer_finish:
 * @self: a #BeachFastPathLink
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the answer SDP, or %NULL with @error
 *   set
 */
gchar *
beach_fast_path_link_answer_finish (BeachFastPathLink *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * beach_fast_path_link_set_remote_answer:
 * @self: an offerer #BeachFastPathLink
 * @answer_sdp: the remote answer (either data-channel dialect)
 * @error: return location for a #GError
 *
 * Sets the answer to this link's offer.
 *
 * Returns: %TRUE if webrtcbin took it; %BEACH_ERROR_INVALID_FIELD for a
 *   malformed or refused answer, %BEACH_ERROR_UNAVAILABLE before the offer
 *   or after close
 */
gboolean
beach_fast_path_link_set_remote_answer (BeachFastPathLink *self, const gchar *answer_sdp, GError **error)
{
  g_autofree gchar *sdp = NULL;

  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), FALSE);
  if (self->role != BEACH_FAST_PATH_ROLE_OFFERER) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_CONFLICT, "an answerer link takes no answer");
    return FALSE;
  }
  if (self->peer == NULL || self->phase != LINK_PHASE_RUNNING) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "no offer is out on this link");
    return FALSE;
  }
  sdp = beach_sdp_normalize (answer_sdp, NULL, error);
  return sdp != NULL && beach_peer_set_remote_answer (self->peer, sdp, error);
}

/**
 * beach_fast_path_link_add_remote_candidate:
 * @self: a #BeachFastPathLink
 * @candidate: an `a=candidate` line or value; "" (end of candidates) is
 *   accepted and ignored
 * @sdp_mline_index: the m-line it belongs to
 * @error: return location for a #GError
 *
 * Adds a remote ICE candidate. Candidates that come before the remote
 * description wait for it.
 *
 * Returns: %TRUE if the candidate was taken
 */
gboolean
beach_fast_path_link_add_remote_candidate (BeachFastPathLink *self, const gchar *candidate, guint sdp_mline_index, GError **error)
{
  g_autofree gchar *c = NULL;

  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), FALSE);
  c = beach_sdp_check_candidate (candidate, error);
  if (c == NULL)
    return FALSE;
  if (self->peer == NULL || self->phase >= LINK_PHASE_CLOSING) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE,
                         self->phase >= LINK_PHASE_CLOSING ? "the link is closed" : "the link is not started");
    return FALSE;
  }
  if (*c != '\0')
    beach_peer_add_remote_candidate (self->peer, sdp_mline_index, c);
  return TRUE;
}

/**
 * beach_fast_path_link_send:
 * @self: a #BeachFastPathLink
 * @channel: the channel to send on
 * @type: the frame type
 * @payload: (nullable): the payload, sent as null when %NULL
 * @error: return location for a #GError
 *
 * Sends `{"type":T,"payload":P}`. A frame over
 * #BeachFastPathLink:max-frame-bytes is chunked, except on the state
 * channel, where it fails with %BEACH_ERROR_PAYLOAD_TOO_LARGE (send it
 * over HTTP). While a channel's buffered amount is high, frames wait in a
 * bounded local queue; when that is full the send fails with
 * %BEACH_ERROR_TOO_MANY_REQUESTS. %BEACH_ERROR_UNAVAILABLE when the
 * channel is not open or the link is closed. A silent link
 * (beach_fast_path_link_set_silent()) drops the frame and returns %TRUE.
 *
 * Returns: %TRUE if the frame was sent or queued whole
 */
gboolean
beach_fast_path_link_send (BeachFastPathLink *self, BeachFastPathChannel channel, const gchar *type, JsonNode *payload, GError **error)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), FALSE);
  g_return_val_if_fail ((guint) channel < N_CHANNELS, FALSE);
  g_return_val_if_fail (type != NULL && *type != '\0', FALSE);

  return beach_link_machine_send (self, channel, type, payload, error);
}

/**
 * beach_fast_path_link_set_ping_status:
 * @self: a #BeachFastPathLink
 * @handshake_id: (nullable): the session's handshake id
 * @transport: (nullable): the session's transport
 * @pending: the session's fallback queue depth
 *
 * What every later ping carries besides `seq` and `sent_us`.
 */
void
beach_fast_path_link_set_ping_status (BeachFastPathLink *self, const gchar *handshake_id, const gchar *transport, guint pending)
{
  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  g_free (self->ping_handshake_id);
  self->ping_handshake_id = g_strdup (handshake_id);
  g_free (self->ping_transport);
  self->ping_transport = g_strdup (transport);
  self->ping_pending = pending;
}

/**
 * beach_fast_path_link_ping_now:
 * @self: a #BeachFastPathLink
 *
 * Sends a ping at once if the channels are open (to push a status change).
 */
void
beach_fast_path_link_ping_now (BeachFastPathLink *self)
{
  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  if (self->phase == LINK_PHASE_RUNNING)
    beach_link_machine_ping (self);
}

/**
 * beach_fast_path_link_close_async:
 * @self: a #BeachFastPathLink
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async) (nullable): called once the link is torn down
 * @user_data: (closure): data for @callback
 *
 * Closes the channels, waits for their local close (at most 200 ms), then
 * stops the peer connection and frees it off the main thread. Health is
 * %BEACH_LINK_HEALTH_CLOSED from the start. Closing a closed link
 * succeeds.
 */
void
beach_fast_path_link_close_async (BeachFastPathLink *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, beach_fast_path_link_close_async);
  if (self->phase == LINK_PHASE_CLOSED && self->torn_down) {
    g_task_return_boolean (task, TRUE);
    return;
  }
  g_ptr_array_add (self->close_tasks, g_steal_pointer (&task));
  if (self->phase == LINK_PHASE_IDLE) {
    beach_link_set_health (self, BEACH_LINK_HEALTH_CLOSED);
    beach_link_machine_teardown (self);
    return;
  }
  beach_link_machine_close (self, "closed by its owner");
}

/**
 * beach_fast_path_link_close_finish:
 * @self: a #BeachFastPathLink
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE once the link is torn down
 */
gboolean
beach_fast_path_link_close_finish (BeachFastPathLink *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * beach_fast_path_link_set_silent:
 * @self: a #BeachFastPathLink
 * @silent: whether to stop sending
 *
 * A test hook: a silent link sends nothing (no pings, pongs or frames;
 * beach_fast_path_link_send() drops and succeeds) while it stays
 * connected, like a peer that hung.
 */
void
beach_fast_path_link_set_silent (BeachFastPathLink *self, gboolean silent)
{
  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  self->silent = silent;
}

/**
 * beach_fast_path_link_get_role:
 * @self: a #BeachFastPathLink
 *
 * Returns: which end of the link this is
 */
BeachFastPathRole
beach_fast_path_link_get_role (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), BEACH_FAST_PATH_ROLE_OFFERER);
  return self->role;
}

/**
 * beach_fast_path_link_get_health:
 * @self: a #BeachFastPathLink
 *
 * Returns: the link's health
 */
BeachLinkHealth
beach_fast_path_link_get_health (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), BEACH_LINK_HEALTH_CLOSED);
  return self->health;
}

/**
 * beach_fast_path_link_get_rtt_us:
 * @self: a #BeachFastPathLink
 *
 * Returns: the last ping round trip in microseconds, or -1
 */
gint64
beach_fast_path_link_get_rtt_us (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), -1);
  return self->rtt_us;
}

/**
 * beach_fast_path_link_get_link_id:
 * @self: a #BeachFastPathLink
 *
 * Returns: (transfer none) (nullable): the owner's identifier of the link
 */
const gchar *
beach_fast_path_link_get_link_id (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), NULL);
  return self->link_id;
}

/**
 * beach_fast_path_link_set_link_id:
 * @self: a #BeachFastPathLink
 * @link_id: (nullable): an identifier for the owner's use
 *
 * Sets #BeachFastPathLink:link-id.
 */
void
beach_fast_path_link_set_link_id (BeachFastPathLink *self, const gchar *link_id)
{
  g_return_if_fail (BEACH_IS_FAST_PATH_LINK (self));
  if (g_strcmp0 (self->link_id, link_id) == 0)
    return;
  g_free (self->link_id);
  self->link_id = g_strdup (link_id);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LINK_ID]);
}

/**
 * beach_fast_path_link_get_unknown_frames:
 * @self: a #BeachFastPathLink
 *
 * Returns: frames received that were malformed or of an unknown type
 */
guint
beach_fast_path_link_get_unknown_frames (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), 0);
  return self->unknown_frames;
}

/**
 * beach_fast_path_link_get_frames_sent:
 * @self: a #BeachFastPathLink
 *
 * Returns: wire frames sent, chunks included
 */
guint64
beach_fast_path_link_get_frames_sent (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), 0);
  return self->frames_sent;
}

/**
 * beach_fast_path_link_get_frames_received:
 * @self: a #BeachFastPathLink
 *
 * Returns: wire frames received, chunks included
 */
guint64
beach_fast_path_link_get_frames_received (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), 0);
  return self->frames_received;
}

/**
 * beach_fast_path_link_get_reassemblies_dropped:
 * @self: a #BeachFastPathLink
 *
 * Returns: chunked messages given up (a cap, the timeout, or
 *   inconsistent slices)
 */
guint
beach_fast_path_link_get_reassemblies_dropped (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), 0);
  return self->reassemblies_dropped;
}

/**
 * beach_fast_path_link_get_frames_dropped:
 * @self: a #BeachFastPathLink
 *
 * Gets #BeachFastPathLink:frames-dropped.
 *
 * Returns: wire frames dropped on arrival because the receive queue was
 *   full
 */
guint64
beach_fast_path_link_get_frames_dropped (BeachFastPathLink *self)
{
  g_return_val_if_fail (BEACH_IS_FAST_PATH_LINK (self), 0);
  if (self->peer != NULL)
    return MAX (self->frames_dropped, beach_peer_get_messages_dropped (self->peer));
  return self->frames_dropped;
}

/* -- test hooks (beach-fast-path-link-private.h) */

void
beach_link_debug_set_raw_hook (BeachFastPathLink *self, BeachLinkRawHook hook, gpointer user_data)
{
  self->raw_hook = hook;
  self->raw_hook_data = user_data;
}

gboolean
beach_link_debug_send_raw (BeachFastPathLink *self, BeachFastPathChannel channel, const gchar *text, GError **error)
{
  return beach_link_machine_send_raw (self, channel, text, error);
}

guint
beach_link_debug_get_queued (BeachFastPathLink *self)
{
  return self->queued;
}
