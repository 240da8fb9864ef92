/* beach-fast-path-link-machine.c: the state machine of BeachFastPathLink
 *
 * WIRE.md "Fast path": negotiation, health and heartbeat, sending with a
 * bounded queue and chunking, receiving with reassembly, closing. The
 * webrtcbin plumbing is in beach-webrtc-peer-private.c, the frame rules
 * in beach-frame-private.c. Everything here runs on the owner's context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-fast-path-link"

#include "config.h"

#include <string.h>

#include "beach-error.h"
#include "beach-fast-path-link-private.h"
#include "beach-sdp-private.h"

static void update_health (BeachFastPathLink *self);
static void drain (BeachFastPathLink *self, guint channel);

/* -- timers: GSources with a ready time, re-armed rather than re-created */

static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  callback (user_data);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
  NULL, NULL, timer_dispatch, NULL, NULL, NULL
};

static GSource *
timer_new (BeachFastPathLink *self, GSourceFunc func, const gchar *name)
{
  GSource *source = g_source_new (&timer_funcs, sizeof (GSource));

  g_source_set_static_name (source, name);
  g_source_set_callback (source, func, self, NULL);
  g_source_attach (source, self->context);
  return source;
}

static void
timer_free (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
disarm_all (BeachFastPathLink *self)
{
  GSource *timers[] = { self->ping_timer, self->deadline_timer, self->close_timer,
                        self->reassembly_timer, self->drain_timer, self->wait_timer };

  for (guint i = 0; i < G_N_ELEMENTS (timers); i++)
    g_source_set_ready_time (timers[i], -1);
}

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

/* -- health */

static gboolean
transport_up (BeachFastPathLink *self)
{
  if (!self->connected)
    return FALSE;
  for (guint i = 0; i < N_CHANNELS; i++) {
    if (!self->channels[i].open)
      return FALSE;
  }
  return TRUE;
}

/* Pings and pongs go out on our own outbound channel. */
static guint
outbound_channel (BeachFastPathLink *self)
{
  return self->role == BEACH_FAST_PATH_ROLE_ANSWERER ? BEACH_FAST_PATH_CHANNEL_ACTIONS
                                                     : BEACH_FAST_PATH_CHANNEL_ACKS;
}

void
beach_link_machine_ping (BeachFastPathLink *self)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) payload = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (GError) error = NULL;

  if (self->silent || !transport_up (self))
    return;
  json_object_set_int_member (obj, "seq", ++self->ping_seq);
  json_object_set_int_member (obj, "sent_us", now_us ());
  if (self->ping_handshake_id != NULL)
    json_object_set_string_member (obj, "handshake_id", self->ping_handshake_id);
  else
    json_object_set_null_member (obj, "handshake_id");
  if (self->ping_transport != NULL)
    json_object_set_string_member (obj, "transport", self->ping_transport);
  else
    json_object_set_null_member (obj, "transport");
  json_object_set_int_member (obj, "pending", self->ping_pending);
  json_node_set_object (payload, obj);
  if (!beach_link_machine_send (self, outbound_channel (self), "ping", payload, &error))
    g_debug ("ping not sent: %s", error->message);
}

static void
arm_ping (BeachFastPathLink *self)
{
  gint64 interval = (gint64) self->heartbeat_interval_ms * G_TIME_SPAN_MILLISECOND;
  gint64 next = self->last_tx_us + interval;

  if (next <= now_us ())
    next = now_us () + interval;
  g_source_set_ready_time (self->ping_timer, next);
}

/* A ping goes out after heartbeat-interval-ms without sending anything. */
static gboolean
on_ping_timer (gpointer user_data)
{
  BeachFastPathLink *self = user_data;
  gint64 interval = (gint64) self->heartbeat_interval_ms * G_TIME_SPAN_MILLISECOND;

  if (self->phase != LINK_PHASE_RUNNING || !transport_up (self))
    return G_SOURCE_CONTINUE;
  if (now_us () - self->last_tx_us >= interval)
    beach_link_machine_ping (self);
  arm_ping (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_deadline (gpointer user_data)
{
  update_health (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_unhealthy_too_long (gpointer user_data)
{
  BeachFastPathLink *self = user_data;

  if (self->health == BEACH_LINK_HEALTH_UNHEALTHY)
    beach_link_machine_close (self, "unhealthy for too long");
  return G_SOURCE_CONTINUE;
}

/* Healthy = connected, three channels open, and a frame from the peer
 * within heartbeat-timeout-ms. The deadline timer fires when the last
 * frame gets too old; a frame arriving meanwhile only moves last_rx_us,
 * and the timer re-arms itself from it. */
static void
update_health (BeachFastPathLink *self)
{
  gint64 now = now_us ();
  gint64 timeout = (gint64) self->heartbeat_timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean up;

  if (self->phase != LINK_PHASE_RUNNING)
    return;
  up = transport_up (self);
  if (up && self->up_since_us == 0) {
    self->up_since_us = now;
    beach_link_machine_ping (self); /* the peer's first proof of our life */
    arm_ping (self);
  }
  if (up && self->last_rx_us > 0 && now < self->last_rx_us + timeout) {
    g_source_set_ready_time (self->close_timer, -1);
    g_source_set_ready_time (self->deadline_timer, self->last_rx_us + timeout);
    beach_link_set_health (self, BEACH_LINK_HEALTH_HEALTHY);
    return;
  }
  if (self->health == BEACH_LINK_HEALTH_HEALTHY || (self->health == BEACH_LINK_HEALTH_CONNECTING && up && now >= self->up_since_us + timeout)) {
    g_source_set_ready_time (self->deadline_timer, -1);
    g_source_set_ready_time (self->close_timer, now + (gint64) self->unhealthy_close_ms * G_TIME_SPAN_MILLISECOND);
    beach_link_set_health (self, BEACH_LINK_HEALTH_UNHEALTHY);
  } else if (self->health == BEACH_LINK_HEALTH_CONNECTING && up) {
    g_source_set_ready_time (self->deadline_timer, self->up_since_us + timeout);
  }
}

/* -- sending */

static void
raw_hook (BeachFastPathLink *self, guint channel, gboolean outgoing, const gchar *text, gsize len)
{
  if (self->raw_hook != NULL)
    self->raw_hook (self, (BeachFastPathChannel) channel, outgoing, text, len, self->raw_hook_data);
}

static gboolean
transmit (BeachFastPathLink *self, guint channel, const gchar *text, GError **error)
{
  if (!beach_peer_send (self->peer, channel, text, error))
    return FALSE;
  self->frames_sent++;
  self->last_tx_us = now_us ();
  if (self->raw_hook != NULL)
    raw_hook (self, channel, TRUE, text, strlen (text));
  return TRUE;
}

static gboolean
channel_usable (BeachFastPathLink *self, guint channel, GError **error)
{
  if (self->phase != LINK_PHASE_RUNNING || self->peer == NULL || !self->channels[channel].open) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "the “%s” channel is %s",
                 self->labels[channel], self->phase >= LINK_PHASE_CLOSING ? "closed" : "not open yet");
    return FALSE;
  }
  return TRUE;
}

/* Sends every piece of one message, or none: the queue bound is checked
 * up front for whatever may have to wait. */
static gboolean
send_pieces (BeachFastPathLink *self, guint channel, GPtrArray *pieces, gsize total, GError **error)
{
  BeachLinkChannel *ch = &self->channels[channel];
  guint64 buffered = beach_peer_buffered_amount (self->peer, channel);
  gboolean direct = g_queue_is_empty (&ch->queue) && buffered + total <= HIGH_WATER_BYTES;

  if (!direct && self->queued + pieces->len > self->send_queue_limit) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_TOO_MANY_REQUESTS,
                 "the fast-path send queue is full: %u frames wait while “%s” has %" G_GUINT64_FORMAT
                 " bytes buffered (send-queue-limit %u); retry later or send over HTTP",
                 self->queued, self->labels[channel], buffered, self->send_queue_limit);
    return FALSE;
  }
  for (guint i = 0; i < pieces->len; i++) {
    if (g_queue_is_empty (&ch->queue) && beach_peer_buffered_amount (self->peer, channel) < HIGH_WATER_BYTES) {
      if (!transmit (self, channel, pieces->pdata[i], error))
        return FALSE;
    } else {
      g_queue_push_tail (&ch->queue, g_strdup (pieces->pdata[i]));
      self->queued++;
    }
  }
  if (!g_queue_is_empty (&ch->queue))
    g_source_set_ready_time (self->drain_timer, now_us () + DRAIN_RETRY_US);
  return TRUE;
}

gboolean
beach_link_machine_send (BeachFastPathLink *self, guint channel, const gchar *type, JsonNode *payload, GError **error)
{
  g_autofree gchar *text = NULL;
  g_autoptr (GPtrArray) pieces = NULL;
  gsize len;

  if (!channel_usable (self, channel, error))
    return FALSE;
  if (self->silent)
    return TRUE;
  text = beach_frame_encode (type, payload);
  len = strlen (text);
  if (len <= self->max_frame_bytes) {
    pieces = g_ptr_array_new ();
    g_ptr_array_add (pieces, text);
    return send_pieces (self, channel, pieces, len, error);
  }
  if (channel == BEACH_FAST_PATH_CHANNEL_STATE) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                 "a %" G_GSIZE_FORMAT "-byte frame is over the %u-byte limit, and “%s” is never chunked: "
                 "send it over HTTP",
                 len, self->max_frame_bytes, self->labels[channel]);
    return FALSE;
  }
  pieces = beach_frame_chunk (text, len, self->max_frame_bytes, self->labels[channel], error);
  return pieces != NULL && send_pieces (self, channel, pieces, len, error);
}

gboolean
beach_link_machine_send_raw (BeachFastPathLink *self, guint channel, const gchar *text, GError **error)
{
  return channel_usable (self, channel, error) && transmit (self, channel, text, error);
}

static void
drain (BeachFastPathLink *self, guint channel)
{
  BeachLinkChannel *ch = &self->channels[channel];

  while (!g_queue_is_empty (&ch->queue) && beach_peer_buffered_amount (self->peer, channel) < HIGH_WATER_BYTES) {
    g_autofree gchar *text = g_queue_pop_head (&ch->queue);
    g_autoptr (GError) error = NULL;

    self->queued--;
    if (!transmit (self, channel, text, &error)) {
      g_debug ("dropping %u queued frames: %s", ch->queue.length, error->message);
      self->queued -= ch->queue.length;
      g_queue_clear_full (&ch->queue, g_free);
      g_queue_init (&ch->queue);
    }
  }
}

static gboolean
on_drain_timer (gpointer user_data)
{
  BeachFastPathLink *self = user_data;

  if (self->phase != LINK_PHASE_RUNNING)
    return G_SOURCE_CONTINUE;
  for (guint i = 0; i < N_CHANNELS; i++)
    drain (self, i);
  if (self->queued > 0)
    g_source_set_ready_time (self->drain_timer, now_us () + DRAIN_RETRY_US);
  return G_SOURCE_CONTINUE;
}

void
beach_link_machine_clear_queues (BeachFastPathLink *self)
{
  for (guint i = 0; i < N_CHANNELS; i++) {
    g_queue_clear_full (&self->channels[i].queue, g_free);
    g_queue_init (&self->channels[i].queue);
  }
  self->queued = 0;
}

/* -- receiving */

static void
handle_pong (BeachFastPathLink *self, JsonNode *payload)
{
  JsonObject *obj;
  JsonNode *sent;
  gint64 rtt;

  if (!JSON_NODE_HOLDS_OBJECT (payload))
    return;
  obj = json_node_get_object (payload);
  sent = json_object_get_member (obj, "sent_us");
  if (sent == NULL || !JSON_NODE_HOLDS_VALUE (sent) || json_node_get_value_type (sent) != G_TYPE_INT64)
    return;
  rtt = now_us () - json_node_get_int (sent);
  if (rtt < 0 || rtt > RTT_MAX_US)
    return;
  beach_link_set_rtt (self, rtt);
}

static void
handle_frame (BeachFastPathLink *self, guint channel, BeachFrame *frame)
{
  if (!beach_frame_type_is_known (frame->type)) {
    g_debug ("unknown frame type “%s” on %s", frame->type, self->labels[channel]);
    self->unknown_frames++;
    return;
  }
  if (g_str_equal (frame->type, "ping")) {
    g_autoptr (GError) error = NULL;

    /* The pong carries the ping payload unchanged. */
    if (!self->silent && !beach_link_machine_send (self, outbound_channel (self), "pong", frame->payload, &error))
      g_debug ("pong not sent: %s", error->message);
  } else if (g_str_equal (frame->type, "pong")) {
    handle_pong (self, frame->payload);
  }
  beach_link_emit_frame (self, channel, frame->type, frame->payload);
}

static void
arm_reassembly_timer (BeachFastPathLink *self)
{
  g_source_set_ready_time (self->reassembly_timer, beach_reassembler_next_deadline (self->reassembler));
}

static gboolean
on_reassembly_timer (gpointer user_data)
{
  BeachFastPathLink *self = user_data;
  guint dropped = beach_reassembler_expire (self->reassembler, now_us ());

  if (dropped > 0)
    g_debug ("dropped %u reassemblies older than %u ms", dropped, self->reassembly_timeout_ms);
  self->reassemblies_dropped += dropped;
  arm_reassembly_timer (self);
  return G_SOURCE_CONTINUE;
}

static void
handle_chunk (BeachFastPathLink *self, guint channel, BeachFrame *frame)
{
  g_autoptr (GBytes) message = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachFrame) inner = NULL;
  gconstpointer data;
  gsize len = 0;

  switch (beach_reassembler_add (self->reassembler, channel, frame->chunk, now_us (), &message, &error)) {
    case BEACH_CHUNK_HELD:
      arm_reassembly_timer (self);
      return;
    case BEACH_CHUNK_MALFORMED:
      g_debug ("bad chunk on %s: %s", self->labels[channel], error != NULL ? error->message : "?");
      self->unknown_frames++;
      return;
    case BEACH_CHUNK_DROPPED:
      g_debug ("reassembly dropped on %s: %s", self->labels[channel], error != NULL ? error->message : "?");
      self->reassemblies_dropped++;
      return;
    case BEACH_CHUNK_IGNORED:
      return;
    case BEACH_CHUNK_COMPLETE:
    default:
      break;
  }
  data = g_bytes_get_data (message, &len);
  inner = beach_frame_parse (data, len, &error);
  if (inner == NULL || inner->chunk != NULL) {
    g_debug ("bad reassembled frame on %s: %s", self->labels[channel],
             error != NULL ? error->message : "a chunk inside a chunk");
    self->unknown_frames++;
    return;
  }
  handle_frame (self, channel, inner);
}

static void
on_message (BeachFastPathLink *self, guint channel, const gchar *text, gsize len)
{
  g_autoptr (BeachFrame) frame = NULL;
  g_autoptr (GError) error = NULL;

  if (self->phase != LINK_PHASE_RUNNING)
    return;
  /* Any frame is proof of life, even one we cannot read. */
  self->frames_received++;
  self->last_rx_us = now_us ();
  raw_hook (self, channel, FALSE, text, len);
  if (self->health != BEACH_LINK_HEALTH_HEALTHY)
    update_health (self);

  frame = beach_frame_parse (text, len, &error);
  if (frame == NULL) {
    g_debug ("malformed frame on %s: %s", self->labels[channel], error->message);
    self->unknown_frames++;
    return;
  }
  if (frame->chunk != NULL)
    handle_chunk (self, channel, frame);
  else
    handle_frame (self, channel, frame);
}

/* -- negotiation */

static void
fail_negotiation (BeachFastPathLink *self, GError *error)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->negotiation);

  if (task != NULL)
    g_task_return_error (task, error);
  else
    g_error_free (error);
}

static void
finish_negotiation (BeachFastPathLink *self)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->negotiation);
  g_autofree gchar *sdp = NULL;

  g_source_set_ready_time (self->wait_timer, -1);
  if (task == NULL)
    return;
  if (g_task_return_error_if_cancelled (task))
    return;
  sdp = beach_peer_get_local_sdp (self->peer);
  if (sdp == NULL) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED, "webrtcbin has no local description");
    return;
  }
  /* webrtcbin writes gathered candidates into its local description;
   * if it did not, add the ones it reported. */
  if (beach_sdp_count_candidates (sdp) == 0 && self->local_candidates->len > 0) {
    g_autofree gchar *with = NULL;

    g_debug ("adding %u candidates to a local description that had none", self->local_candidates->len);
    g_ptr_array_add (self->local_candidates, NULL);
    with = beach_sdp_add_candidates (sdp, (const gchar *const *) self->local_candidates->pdata);
    g_ptr_array_remove_index (self->local_candidates, self->local_candidates->len - 1);
    g_free (sdp);
    sdp = g_steal_pointer (&with);
  }
  if (self->legacy_sdp) {
    g_autofree gchar *legacy = beach_sdp_to_legacy (sdp);

    g_free (sdp);
    sdp = g_steal_pointer (&legacy);
  }
  g_task_return_pointer (task, g_steal_pointer (&sdp), g_free);
}

static gboolean
on_wait_timer (gpointer user_data)
{
  BeachFastPathLink *self = user_data;

  if (self->phase == LINK_PHASE_RUNNING && self->negotiation != NULL)
    finish_negotiation (self);
  else if (self->phase == LINK_PHASE_CLOSING)
    beach_link_machine_close (self, NULL); /* the close wait is over */
  return G_SOURCE_CONTINUE;
}

static void
on_gathering_complete (BeachFastPathLink *self)
{
  if (self->gathering_complete)
    return;
  self->gathering_complete = TRUE;
  beach_link_emit_candidate (self, "", 0);
  if (self->negotiated)
    finish_negotiation (self);
}

static void
on_peer_event (GObject *owner, const BeachPeerEvent *ev)
{
  BeachFastPathLink *self = BEACH_FAST_PATH_LINK (owner);

  switch (ev->kind) {
    case BEACH_PEER_EVENT_MESSAGE:
      on_message (self, (guint) ev->channel, ev->text, ev->len);
      break;
    case BEACH_PEER_EVENT_NEGOTIATED:
      if (self->phase != LINK_PHASE_NEGOTIATING)
        break;
      self->phase = LINK_PHASE_RUNNING;
      self->negotiated = TRUE;
      if (self->gathering_complete)
        finish_negotiation (self);
      else
        g_source_set_ready_time (self->wait_timer, now_us () + GATHER_WAIT_US);
      update_health (self);
      break;
    case BEACH_PEER_EVENT_FAILED:
      fail_negotiation (self, g_error_new (BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“sdp”: %s", ev->text));
      beach_link_machine_close (self, ev->text);
      break;
    case BEACH_PEER_EVENT_ICE_CANDIDATE:
      if (ev->text == NULL || *ev->text == '\0') {
        on_gathering_complete (self);
        break;
      }
      g_ptr_array_add (self->local_candidates, g_strdup (ev->text));
      beach_link_emit_candidate (self, ev->text, (guint) ev->value);
      break;
    case BEACH_PEER_EVENT_GATHERING:
      if (ev->value)
        on_gathering_complete (self);
      break;
    case BEACH_PEER_EVENT_CONNECTION:
      self->connected = ev->value == BEACH_PEER_CONNECTION_CONNECTED;
      if (ev->value == BEACH_PEER_CONNECTION_FAILED || ev->value == BEACH_PEER_CONNECTION_CLOSED)
        beach_link_machine_close (self, "the peer connection failed");
      else
        update_health (self);
      break;
    case BEACH_PEER_EVENT_CHANNEL:
    case BEACH_PEER_EVENT_OPEN:
      if (self->peer != NULL && beach_peer_channel_is_open (self->peer, (guint) ev->channel)) {
        self->channels[ev->channel].open = TRUE;
        update_health (self);
      }
      break;
    case BEACH_PEER_EVENT_CLOSE:
      self->channels[ev->channel].open = FALSE;
      self->channels[ev->channel].closed = TRUE;
      if (self->phase == LINK_PHASE_CLOSING)
        beach_link_machine_close (self, NULL);
      else if (self->phase != LINK_PHASE_CLOSED)
        beach_link_machine_close (self, "a channel closed");
      break;
    case BEACH_PEER_EVENT_ERROR:
      g_debug ("link %s: %s error: %s", self->link_id != NULL ? self->link_id : "(unnamed)",
               ev->channel >= 0 ? self->labels[ev->channel] : "pipeline", ev->text);
      if (ev->channel < 0)
        beach_link_machine_close (self, ev->text);
      break;
    case BEACH_PEER_EVENT_LOW:
      if (self->phase == LINK_PHASE_RUNNING)
        drain (self, (guint) ev->channel);
      break;
    case BEACH_PEER_EVENT_DROPPED:
      beach_link_set_frames_dropped (self, (guint64) ev->value);
      break;
    case BEACH_PEER_EVENT_PROMISE:
    default:
      break;
  }
}

gboolean
beach_link_machine_start (BeachFastPathLink *self, GError **error)
{
  BeachPeerConfig config = {
    .context = self->context,
    .local_addresses = (const gchar *const *) self->local_addresses,
    .ice_servers = (const gchar *const *) self->ice_servers,
    .offerer = self->role == BEACH_FAST_PATH_ROLE_OFFERER,
    .max_messages = self->receive_queue_limit,
    .max_bytes = RECEIVE_QUEUE_BYTES,
  };

  if (self->phase != LINK_PHASE_IDLE) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_CONFLICT, "this link was started already");
    return FALSE;
  }
  for (guint i = 0; i < N_CHANNELS; i++)
    config.labels[i] = self->labels[i];
  self->peer = beach_peer_new (G_OBJECT (self), on_peer_event, &config, error);
  if (self->peer == NULL)
    return FALSE;
  beach_peer_set_low_threshold (self->peer, LOW_WATER_BYTES);
  beach_reassembler_set_timeout (self->reassembler,
                                 (gint64) self->reassembly_timeout_ms * G_TIME_SPAN_MILLISECOND);
  self->phase = LINK_PHASE_NEGOTIATING;
  return TRUE;
}

/* -- closing */

static void
on_teardown_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BeachFastPathLink *self = BEACH_FAST_PATH_LINK (source);
  g_autoptr (GPtrArray) tasks = g_steal_pointer (&self->close_tasks);

  self->torn_down = TRUE;
  self->close_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    g_task_return_boolean (tasks->pdata[i], TRUE);
}

void
beach_link_machine_teardown (BeachFastPathLink *self)
{
  self->phase = LINK_PHASE_CLOSED;
  disarm_all (self);
  if (self->peer != NULL) {
    g_autoptr (GTask) task = g_task_new (self, NULL, on_teardown_done, NULL);

    g_task_set_source_tag (task, beach_link_machine_teardown);
    /* Drops not yet reported would be lost with the peer. */
    self->frames_dropped = MAX (self->frames_dropped, beach_peer_get_messages_dropped (self->peer));
    beach_peer_teardown (g_steal_pointer (&self->peer), task);
  } else {
    on_teardown_done (G_OBJECT (self), NULL, NULL);
  }
}

static gboolean
channels_still_open (BeachFastPathLink *self)
{
  for (guint i = 0; i < N_CHANNELS; i++) {
    if (self->channels[i].open && !self->channels[i].closed)
      return TRUE;
  }
  return FALSE;
}

/* Closing: close the channels (the peer sees it in milliseconds), wait
 * for our own on-close at most CLOSE_WAIT_US, then tear down. Called
 * again by each on-close and by the wait timer. */
void
beach_link_machine_close (BeachFastPathLink *self, const gchar *reason)
{
  if (self->phase == LINK_PHASE_CLOSED)
    return;
  if (self->phase == LINK_PHASE_CLOSING) {
    if (!channels_still_open (self) || now_us () >= g_source_get_ready_time (self->wait_timer))
      beach_link_machine_teardown (self);
    return;
  }
  if (reason != NULL)
    g_debug ("link %s closing: %s", self->link_id != NULL ? self->link_id : "(unnamed)", reason);
  self->phase = LINK_PHASE_CLOSING;
  disarm_all (self);
  beach_link_machine_clear_queues (self);
  fail_negotiation (self, g_error_new (BEACH_ERROR, BEACH_ERROR_UNAVAILABLE, "the link closed: %s",
                                       reason != NULL ? reason : "closed"));
  if (self->peer != NULL && channels_still_open (self)) {
    beach_peer_close_channels (self->peer);
    g_source_set_ready_time (self->wait_timer, now_us () + CLOSE_WAIT_US);
    beach_link_set_health (self, BEACH_LINK_HEALTH_CLOSED);
    return;
  }
  beach_link_set_health (self, BEACH_LINK_HEALTH_CLOSED);
  beach_link_machine_teardown (self);
}

/* -- lifetime */

void
beach_link_machine_init (BeachFastPathLink *self)
{
  self->ping_timer = timer_new (self, on_ping_timer, "beach-link-ping");
  self->deadline_timer = timer_new (self, on_deadline, "beach-link-deadline");
  self->close_timer = timer_new (self, on_unhealthy_too_long, "beach-link-unhealthy");
  self->reassembly_timer = timer_new (self, on_reassembly_timer, "beach-link-reassembly");
  self->drain_timer = timer_new (self, on_drain_timer, "beach-link-drain");
  self->wait_timer = timer_new (self, on_wait_timer, "beach-link-wait");
}

void
beach_link_machine_dispose (BeachFastPathLink *self)
{
  /* Nobody can wait any more: no graceful close, but the pipeline still
   * goes down off this thread. */
  if (self->peer != NULL)
    beach_peer_teardown (g_steal_pointer (&self->peer), NULL);
  self->phase = LINK_PHASE_CLOSED;
  timer_free (&self->ping_timer);
  timer_free (&self->deadline_timer);
  timer_free (&self->close_timer);
  timer_free (&self->reassembly_timer);
  timer_free (&self->drain_timer);
  timer_free (&self->wait_timer);
}
