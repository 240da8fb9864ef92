/* beach-event-hub.c: Server-Sent Events fan-out
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-event-hub"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "beach.h"
#include "beach-event-hub.h"
#include "beach-manager-util.h"

/* A stream told to close gets this long to drain before it is cut, so a
 * client that stopped reading cannot pin its backlog forever. */
#define CLOSE_GRACE_SECONDS 10

typedef struct {
  BeachEventHub *hub;     /* not a ref: the hub releases every subscriber first */
  GList *link;            /* in hub->subscribers */
  SoupServerMessage *msg; /* ref */
  gchar *session_id;      /* NULL: every event */
  guint64 next_id;
  guint backlog; /* chunks appended and not yet written */
  gboolean closing;
  gboolean completed; /* the body's end is queued */
  gulong wrote_chunk_id;
  gulong finished_id;
  gulong disconnected_id;
  GSource *eof_watch;
  guint grace_id;
} Subscriber;

struct _BeachEventHub {
  GObject parent_instance;

  BeachMetrics *metrics; /* nullable */
  GQueue subscribers;    /* Subscriber, live and closing */
  guint n_live;
  guint max_backlog;
  guint keepalive_seconds;
  guint keepalive_id;
  gboolean shut_down;
};

G_DEFINE_FINAL_TYPE (BeachEventHub, beach_event_hub, G_TYPE_OBJECT)

static void update_keepalive (BeachEventHub *self);

static void
update_gauge (BeachEventHub *self)
{
  if (self->metrics != NULL)
    beach_metrics_gauge_set (self->metrics, "events_subscribers", NULL, self->n_live);
}

static void
subscriber_set_closing (Subscriber *sub)
{
  BeachEventHub *self = sub->hub;

  if (sub->closing)
    return;
  sub->closing = TRUE;
  self->n_live--;
  update_gauge (self);
  update_keepalive (self);
}

/* Forgets @sub: our handlers and sources go, the message ref goes. Safe
 * from inside the message's own signal emissions, since libsoup holds its
 * own reference on the message while it emits. */
static void
subscriber_release (Subscriber *sub)
{
  BeachEventHub *self = sub->hub;

  subscriber_set_closing (sub);
  g_clear_signal_handler (&sub->wrote_chunk_id, sub->msg);
  g_clear_signal_handler (&sub->finished_id, sub->msg);
  g_clear_signal_handler (&sub->disconnected_id, sub->msg);
  if (sub->eof_watch != NULL) {
    g_source_destroy (sub->eof_watch);
    g_clear_pointer (&sub->eof_watch, g_source_unref);
  }
  g_clear_handle_id (&sub->grace_id, g_source_remove);
  g_queue_delete_link (&self->subscribers, sub->link);
  g_clear_object (&sub->msg);
  g_free (sub->session_id);
  g_free (sub);
}

/* Queues the end of the body once, and wakes libsoup to write it. */
static void
subscriber_complete (SoupServerMessage *msg, gboolean *completed)
{
  if (!*completed)
    soup_message_body_complete (soup_server_message_get_response_body (msg));
  *completed = TRUE;
  soup_server_message_unpause (msg);
}

/* Cuts the connection at once instead of letting the body drain: a client
 * that stopped reading would never take the rest. The socket is shut down
 * under libsoup, whose next write (provoked here) fails, so libsoup ends the
 * message through its own error path. Stealing the connection instead
 * warns inside libsoup when the peer has already reset it. */
static void
subscriber_abort (Subscriber *sub)
{
  g_autoptr (SoupServerMessage) msg = g_object_ref (sub->msg);
  GSocket *sock = soup_server_message_get_socket (msg);
  gboolean completed = sub->completed;

  subscriber_release (sub);

  if (sock != NULL) {
    struct linger reset = { 1, 0 };

    /* RST rather than FIN at close: discard what the peer never read
     * instead of keeping it for an orphaned socket */
    if (setsockopt (g_socket_get_fd (sock), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) != 0)
      g_debug ("SO_LINGER: %s", g_strerror (errno));
    /* fails with ENOTCONN when the peer is already gone, which is fine */
    g_socket_shutdown (sock, TRUE, TRUE, NULL);
  }
  subscriber_complete (msg, &completed);
}

static void
on_wrote_chunk (SoupServerMessage *msg, Subscriber *sub)
{
  if (sub->backlog > 0)
    sub->backlog--;
}

static void
on_finished (SoupServerMessage *msg, Subscriber *sub)
{
  subscriber_release (sub);
}

static gboolean
on_grace_expired (gpointer user_data)
{
  Subscriber *sub = user_data;

  sub->grace_id = 0;
  g_debug ("an event stream did not drain within %d s; cutting it", CLOSE_GRACE_SECONDS);
  subscriber_abort (sub);
  return G_SOURCE_REMOVE;
}

/* libsoup reads nothing more from a connection while a response is being
 * streamed, so a client that hangs up would only be noticed at the next
 * write. Watching for EOF keeps the subscriber count honest. */
static gboolean
on_client_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  Subscriber *sub = user_data;
  gchar byte;
  gssize n;

  if (condition & (G_IO_HUP | G_IO_ERR)) {
    subscriber_abort (sub);
    return G_SOURCE_REMOVE;
  }
  n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n > 0) {
    /* the client sent something (a pipelined request, a TLS record): not
     * ours to read, so stop watching rather than spin on it */
    g_source_destroy (sub->eof_watch);
    g_clear_pointer (&sub->eof_watch, g_source_unref);
    return G_SOURCE_REMOVE;
  }
  subscriber_abort (sub);
  return G_SOURCE_REMOVE;
}

/* Returns FALSE, without writing, when @sub is max_backlog chunks behind:
 * the caller cuts it. Takes @text. */
static gboolean
subscriber_write (BeachEventHub *self, Subscriber *sub, gchar *text)
{
  SoupMessageBody *body;

  if (sub->backlog >= self->max_backlog) {
    g_free (text);
    return FALSE;
  }
  body = soup_server_message_get_response_body (sub->msg);
  soup_message_body_append (body, SOUP_MEMORY_TAKE, text, strlen (text));
  sub->backlog++;
  /* libsoup pauses a chunked response whose body has run dry */
  soup_server_message_unpause (sub->msg);
  return TRUE;
}

static void
subscriber_close (Subscriber *sub)
{
  if (sub->closing)
    return;
  subscriber_set_closing (sub);
  subscriber_complete (sub->msg, &sub->completed);
  sub->grace_id = g_timeout_add_seconds (CLOSE_GRACE_SECONDS, on_grace_expired, sub);
}

static void
drop_slow (BeachEventHub *self, GPtrArray *slow)
{
  for (guint i = 0; i < slow->len; i++) {
    Subscriber *sub = g_ptr_array_index (slow, i);

    g_info ("disconnecting an event subscriber %u events behind", self->max_backlog);
    if (self->metrics != NULL)
      beach_metrics_counter_add (self->metrics, "events_dropped_subscribers_total", NULL, 1);
    subscriber_abort (sub);
  }
}

static gboolean
on_keepalive (gpointer user_data)
{
  BeachEventHub *self = user_data;
  g_autoptr (GPtrArray) slow = g_ptr_array_new ();

  for (GList *l = self->subscribers.head; l != NULL; l = l->next) {
    Subscriber *sub = l->data;

    if (!sub->closing && !subscriber_write (self, sub, g_strdup (": keep-alive\n\n")))
      g_ptr_array_add (slow, sub);
  }
  drop_slow (self, slow);
  return G_SOURCE_CONTINUE;
}

/* One timer for the hub rather than one per stream, and only while some
 * stream is live. */
static void
update_keepalive (BeachEventHub *self)
{
  if (self->n_live == 0 || self->keepalive_seconds == 0) {
    g_clear_handle_id (&self->keepalive_id, g_source_remove);
    return;
  }
  if (self->keepalive_id == 0)
    self->keepalive_id = g_timeout_add_seconds (self->keepalive_seconds, on_keepalive, self);
}

static void
beach_event_hub_dispose (GObject *object)
{
  BeachEventHub *self = BEACH_EVENT_HUB (object);

  /* streams still open here have no owner left to finish them */
  while (self->subscribers.head != NULL)
    subscriber_abort (self->subscribers.head->data);
  g_clear_handle_id (&self->keepalive_id, g_source_remove);
  g_clear_object (&self->metrics);

  G_OBJECT_CLASS (beach_event_hub_parent_class)->dispose (object);
}

static void
beach_event_hub_class_init (BeachEventHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = beach_event_hub_dispose;
}

static void
beach_event_hub_init (BeachEventHub *self)
{
  g_queue_init (&self->subscribers);
  self->max_backlog = BEACH_EVENT_HUB_DEFAULT_MAX_BACKLOG;
  self->keepalive_seconds = BEACH_EVENT_HUB_DEFAULT_KEEPALIVE_SECONDS;
}

/**
 * beach_event_hub_new:
 * @metrics: (nullable): where `events_subscribers` and
 *   `events_dropped_subscribers_total` go
 *
 * Returns: (transfer full): a new #BeachEventHub
 */
BeachEventHub *
beach_event_hub_new (BeachMetrics *metrics)
{
  BeachEventHub *self;

  g_return_val_if_fail (metrics == NULL || BEACH_IS_METRICS (metrics), NULL);

  self = g_object_new (BEACH_TYPE_EVENT_HUB, NULL);
  if (metrics != NULL)
    self->metrics = g_object_ref (metrics);
  update_gauge (self);
  return self;
}

/**
 * beach_event_hub_set_limits:
 * @self: a #BeachEventHub
 * @max_backlog: chunks a stream may have unwritten before it is cut (≥ 1)
 * @keepalive_seconds: seconds between keep-alive comments, 0 for none
 *
 * Defaults are WIRE.md's: 1000 events and 15 s.
 */
void
beach_event_hub_set_limits (BeachEventHub *self,
                            guint max_backlog,
                            guint keepalive_seconds)
{
  g_return_if_fail (BEACH_IS_EVENT_HUB (self));
  g_return_if_fail (max_backlog > 0);

  self->max_backlog = max_backlog;
  if (self->keepalive_seconds != keepalive_seconds) {
    self->keepalive_seconds = keepalive_seconds;
    g_clear_handle_id (&self->keepalive_id, g_source_remove);
    update_keepalive (self);
  }
}

static gboolean
event_name_is_valid (const gchar *event)
{
  return event != NULL && *event != '\0' && strpbrk (event, "\r\n") == NULL;
}

/**
 * beach_event_hub_publish:
 * @self: a #BeachEventHub
 * @session_id: (nullable): the session the event is about, or %NULL for a
 *   global-only event
 * @event: the event name
 * @data: (nullable): the event's JSON object; %NULL sends `{}`
 *
 * Sends the event to every stream of all events, and to the session's
 * own streams. A stream that is max_backlog events behind is cut and
 * counted in `events_dropped_subscribers_total`.
 */
void
beach_event_hub_publish (BeachEventHub *self,
                         const gchar *session_id,
                         const gchar *event,
                         JsonObject *data)
{
  g_autoptr (JsonNode) node = NULL;
  g_autofree gchar *json = NULL;
  g_autoptr (GPtrArray) slow = NULL;

  g_return_if_fail (BEACH_IS_EVENT_HUB (self));
  g_return_if_fail (event_name_is_valid (event));

  if (self->n_live == 0)
    return;

  node = json_node_new (JSON_NODE_OBJECT);
  if (data != NULL)
    json_node_set_object (node, data);
  else
    json_node_take_object (node, json_object_new ());
  /* compact JSON escapes control characters, so it stays on one line */
  json = json_to_string (node, FALSE);

  slow = g_ptr_array_new ();
  for (GList *l = self->subscribers.head; l != NULL; l = l->next) {
    Subscriber *sub = l->data;
    gchar *text;

    if (sub->closing)
      continue;
    if (sub->session_id != NULL && g_strcmp0 (sub->session_id, session_id) != 0)
      continue;
    text = g_strdup_printf ("id: %" G_GUINT64_FORMAT "\nevent: %s\ndata: %s\n\n",
                            sub->next_id, event, json);
    if (subscriber_write (self, sub, text))
      sub->next_id++;
    else
      g_ptr_array_add (slow, sub);
  }
  drop_slow (self, slow);
}

static void
respond_unavailable (SoupServerMessage *msg)
{
  g_autofree gchar *body = beach_error_envelope_to_string (BEACH_ERROR_UNAVAILABLE,
                                                           "the daemon is shutting down");

  soup_server_message_set_status (msg, beach_error_to_http_status (BEACH_ERROR_UNAVAILABLE), NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
}

/**
 * beach_event_hub_add_subscriber:
 * @self: a #BeachEventHub
 * @msg: a GET `/events` or `/sessions/:id/events` request, from its handler
 * @session_id: (nullable): the session to follow, or %NULL for every event
 *
 * Answers @msg with a `text/event-stream` that stays open. The handler
 * returns without pausing: libsoup sends the headers at once and pauses
 * the chunked body by itself until the first event or keep-alive.
 */
void
beach_event_hub_add_subscriber (BeachEventHub *self,
                                SoupServerMessage *msg,
                                const gchar *session_id)
{
  SoupMessageHeaders *headers;
  Subscriber *sub;
  GSocket *sock;

  g_return_if_fail (BEACH_IS_EVENT_HUB (self));
  g_return_if_fail (SOUP_IS_SERVER_MESSAGE (msg));

  if (self->shut_down) {
    respond_unavailable (msg);
    return;
  }

  headers = soup_server_message_get_response_headers (msg);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  /* written chunks are dropped, so memory is the backlog, never the history */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);

  sub = g_new0 (Subscriber, 1);
  sub->hub = self;
  sub->msg = g_object_ref (msg);
  sub->session_id = g_strdup (session_id);
  sub->next_id = 1;
  sub->wrote_chunk_id = g_signal_connect (msg, "wrote-chunk", G_CALLBACK (on_wrote_chunk), sub);
  sub->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_finished), sub);
  sub->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_finished), sub);

  sock = soup_server_message_get_socket (msg);
  if (sock != NULL) {
    sub->eof_watch = g_socket_create_source (sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback (sub->eof_watch, G_SOURCE_FUNC (on_client_readable), sub, NULL);
    g_source_attach (sub->eof_watch, g_main_context_get_thread_default ());
  }

  g_queue_push_tail (&self->subscribers, sub);
  sub->link = self->subscribers.tail;
  self->n_live++;
  update_gauge (self);
  update_keepalive (self);
}

/**
 * beach_event_hub_close_session:
 * @self: a #BeachEventHub
 * @session_id: a session that is gone
 *
 * The session's own streams get the events already queued, then their
 * end. Publish the final `transport` event before calling this.
 */
void
beach_event_hub_close_session (BeachEventHub *self, const gchar *session_id)
{
  g_return_if_fail (BEACH_IS_EVENT_HUB (self));
  g_return_if_fail (session_id != NULL);

  for (GList *l = self->subscribers.head; l != NULL; l = l->next) {
    Subscriber *sub = l->data;

    if (g_strcmp0 (sub->session_id, session_id) == 0)
      subscriber_close (sub);
  }
}

/**
 * beach_event_hub_shutdown:
 * @self: a #BeachEventHub
 *
 * Ends every stream after what is already queued and refuses new ones
 * with 503. The streams finish as the main loop runs.
 */
void
beach_event_hub_shutdown (BeachEventHub *self)
{
  g_return_if_fail (BEACH_IS_EVENT_HUB (self));

  self->shut_down = TRUE;
  for (GList *l = self->subscribers.head; l != NULL; l = l->next)
    subscriber_close (l->data);
}

/**
 * beach_event_hub_get_n_subscribers:
 * @self: a #BeachEventHub
 *
 * Returns: the number of live streams (closing ones excluded), the value
 *   of `events_subscribers`
 */
guint
beach_event_hub_get_n_subscribers (BeachEventHub *self)
{
  g_return_val_if_fail (BEACH_IS_EVENT_HUB (self), 0);

  return self->n_live;
}
