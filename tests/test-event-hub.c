/* test-event-hub.c: BeachEventHub against a real SoupServer and real clients
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <sys/socket.h>

#include "beach-event-hub.h"
#include "beach-metrics.h"

#define TIMEOUT_MS 10000

#ifdef __SANITIZE_ADDRESS__
/* GLib and libsoup are built without frame pointers: with the default fast
 * unwinder a leak report stops at g_malloc, and tests/lsan.supp (which
 * names libsoup's own leaks) cannot match it. */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}
#endif

static gboolean
set_true (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until @cond holds; fails the test after @ms. */
#define WAIT_UNTIL(cond, ms)                                                 \
  G_STMT_START                                                               \
  {                                                                          \
    gboolean timed_out_ = FALSE;                                             \
    guint timeout_id_ = g_timeout_add ((ms), set_true, &timed_out_);         \
    while (!(cond) && !timed_out_)                                           \
      g_main_context_iteration (NULL, TRUE);                                 \
    if (!(cond))                                                             \
      g_error ("timed out after %u ms waiting for %s", (guint) (ms), #cond); \
    if (!timed_out_)                                                         \
      g_source_remove (timeout_id_);                                         \
  }                                                                          \
  G_STMT_END

typedef struct {
  SoupServer *server;
  BeachMetrics *metrics;
  BeachEventHub *hub;
  SoupSession *session;
  guint16 port;
  guint n_ended;      /* requests libsoup finished or aborted */
  guint n_msgs_alive; /* SoupServerMessages not yet finalized */
} Fixture;

static void
on_msg_finalized (gpointer data, GObject *where_the_object_was)
{
  Fixture *f = data;

  f->n_msgs_alive--;
}

static void
on_request_ended (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  Fixture *f = user_data;

  f->n_ended++;
}

static void
server_callback (SoupServer *server,
                 SoupServerMessage *msg,
                 const char *path,
                 GHashTable *query,
                 gpointer user_data)
{
  Fixture *f = user_data;
  const gchar *prefix = "/sessions/";
  const gchar *suffix = "/events";

  /* a reference kept too long keeps the connection's whole graph alive and
   * reachable from the main context, where LeakSanitizer cannot see it */
  f->n_msgs_alive++;
  g_object_weak_ref (G_OBJECT (msg), on_msg_finalized, f);
  if (g_strcmp0 (path, "/events") == 0) {
    beach_event_hub_add_subscriber (f->hub, msg, NULL);
  } else if (g_str_has_prefix (path, prefix) && g_str_has_suffix (path, suffix) && strlen (path) > strlen (prefix) + strlen (suffix)) {
    g_autofree gchar *id = g_strndup (path + strlen (prefix),
                                      strlen (path) - strlen (prefix) - strlen (suffix));

    beach_event_hub_add_subscriber (f->hub, msg, id);
  } else {
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
  }
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  GSList *uris;

  f->metrics = beach_metrics_new ();
  f->hub = beach_event_hub_new (f->metrics);
  f->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (f->server, NULL, server_callback, f, NULL);
  g_signal_connect (f->server, "request-finished", G_CALLBACK (on_request_ended), f);
  g_signal_connect (f->server, "request-aborted", G_CALLBACK (on_request_ended), f);
  soup_server_listen_local (f->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (f->server);
  g_assert_nonnull (uris);
  f->port = (guint16) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  /* several streams to one host at once: lift the default of 2 */
  f->session = soup_session_new_with_options ("max-conns-per-host", 16, NULL);
  /* loopback only; and libproxy's C++ exceptions trip ASan */
  soup_session_set_proxy_resolver (f->session, NULL);
}

/* Keeps a blocking iteration from sleeping past a deadline. */
static gboolean
on_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->hub);
  soup_session_abort (f->session);
  g_clear_object (&f->session);
  soup_server_disconnect (f->server);
  g_clear_object (&f->server);
  g_clear_object (&f->metrics);
  /* libsoup may drop its last reference to a finished message an
   * iteration or two later: wait for it (5 s at most), then a message
   * still alive is a leak. */
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
    guint tick = g_timeout_add (20, on_tick, NULL);

    while (f->n_msgs_alive > 0 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (tick);
    while (g_main_context_iteration (NULL, FALSE))
      ;
  }
  g_assert_cmpuint (f->n_msgs_alive, ==, 0);
}

static gdouble
metric (Fixture *f, const gchar *family)
{
  return beach_metrics_get (f->metrics, family, NULL);
}

/* -- a SoupSession client reading the stream as it comes -------------- */

typedef struct {
  SoupMessage *msg;
  GInputStream *stream;
  GCancellable *cancellable;
  GString *buf;
  gboolean pending;
  gboolean eof;
  GError *error;
  gchar chunk[16384];
} Client;

static void client_read (Client *c);

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Client *c = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &c->error);

  c->pending = FALSE;
  if (n > 0) {
    g_string_append_len (c->buf, c->chunk, n);
    client_read (c);
  } else if (n == 0) {
    c->eof = TRUE;
  }
}

static void
client_read (Client *c)
{
  c->pending = TRUE;
  g_input_stream_read_async (c->stream, c->chunk, sizeof c->chunk, G_PRIORITY_DEFAULT,
                             c->cancellable, on_read, c);
}

static void
on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Client *c = user_data;

  c->pending = FALSE;
  c->stream = soup_session_send_finish (SOUP_SESSION (source), result, &c->error);
  if (c->stream != NULL)
    client_read (c);
}

static Client *
client_open (Fixture *f, const gchar *path)
{
  Client *c = g_new0 (Client, 1);
  g_autofree gchar *url = g_strdup_printf ("http://127.0.0.1:%u%s", f->port, path);

  c->msg = soup_message_new ("GET", url);
  c->cancellable = g_cancellable_new ();
  c->buf = g_string_new (NULL);
  c->pending = TRUE;
  soup_session_send_async (f->session, c->msg, G_PRIORITY_DEFAULT, c->cancellable, on_sent, c);
  WAIT_UNTIL (c->stream != NULL || c->error != NULL, TIMEOUT_MS);
  g_assert_no_error (c->error);
  return c;
}

static void
client_free (Client *c)
{
  g_cancellable_cancel (c->cancellable);
  WAIT_UNTIL (!c->pending, TIMEOUT_MS);
  g_clear_error (&c->error);
  g_clear_object (&c->stream);
  g_clear_object (&c->msg);
  g_clear_object (&c->cancellable);
  g_string_free (c->buf, TRUE);
  g_free (c);
}

typedef struct {
  guint64 id;
  gchar *event;
  gchar *data;
} Frame;

static void
frame_free (Frame *frame)
{
  g_free (frame->event);
  g_free (frame->data);
  g_free (frame);
}

/* Complete event frames so far; comment-only frames (keep-alives) are
 * counted apart. */
static GPtrArray *
client_frames (Client *c, guint *n_comments)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  g_auto (GStrv) blocks = g_strsplit (c->buf->str, "\n\n", -1);
  guint n_blocks = g_strv_length (blocks);

  if (n_comments != NULL)
    *n_comments = 0;
  /* the last piece is whatever follows the last blank line: incomplete */
  for (guint i = 0; i + 1 < n_blocks; i++) {
    g_auto (GStrv) lines = g_strsplit (blocks[i], "\n", -1);
    Frame *frame;

    if (lines[0] != NULL && lines[0][0] == ':') {
      g_assert_cmpstr (lines[0], ==, ": keep-alive");
      g_assert_null (lines[1]);
      if (n_comments != NULL)
        (*n_comments)++;
      continue;
    }
    g_assert_cmpuint (g_strv_length (lines), ==, 3);
    g_assert_true (g_str_has_prefix (lines[0], "id: "));
    g_assert_true (g_str_has_prefix (lines[1], "event: "));
    g_assert_true (g_str_has_prefix (lines[2], "data: "));
    frame = g_new0 (Frame, 1);
    frame->id = g_ascii_strtoull (lines[0] + strlen ("id: "), NULL, 10);
    frame->event = g_strdup (lines[1] + strlen ("event: "));
    frame->data = g_strdup (lines[2] + strlen ("data: "));
    g_ptr_array_add (frames, frame);
  }
  return frames;
}

static guint
client_n_frames (Client *c)
{
  g_autoptr (GPtrArray) frames = client_frames (c, NULL);

  return frames->len;
}

static guint
client_n_keepalives (Client *c)
{
  g_autoptr (GPtrArray) frames = NULL;
  guint n;

  frames = client_frames (c, &n);
  return n;
}

static JsonObject *
object_from_json (const gchar *json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = json_from_string (json, &error);

  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

static void
publish_json (Fixture *f, const gchar *session_id, const gchar *event, const gchar *json)
{
  g_autoptr (JsonObject) data = object_from_json (json);

  beach_event_hub_publish (f->hub, session_id, event, data);
}

/* -- a raw socket client, for clients that misbehave ------------------- */

static GSocket *
raw_connect (Fixture *f, const gchar *path, gint rcvbuf)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (loopback, f->port);
  g_autofree gchar *request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);

  g_assert_no_error (error);
  if (rcvbuf > 0) {
    g_socket_set_option (sock, SOL_SOCKET, SO_RCVBUF, rcvbuf, &error);
    g_assert_no_error (error);
  }
  /* the listener's backlog completes the handshake without the loop */
  g_socket_connect (sock, addr, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_socket_send (sock, request, strlen (request), NULL, &error), ==, strlen (request));
  g_assert_no_error (error);
  return g_steal_pointer (&sock);
}

/* -- tests ------------------------------------------------------------- */

static void
test_order_and_filter (Fixture *f, gconstpointer data)
{
  Client *all = client_open (f, "/events");
  Client *s1 = client_open (f, "/sessions/s1/events");
  g_autoptr (GPtrArray) frames = NULL;
  SoupMessageHeaders *headers;
  static const gchar *const expected_events[] = { "transport", "handshake", "notice", "state" };

  g_assert_cmpuint (soup_message_get_status (all->msg), ==, SOUP_STATUS_OK);
  headers = soup_message_get_response_headers (all->msg);
  g_assert_cmpstr (soup_message_headers_get_content_type (headers, NULL), ==, "text/event-stream");
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Cache-Control"), ==, "no-cache");
  g_assert_cmpint (soup_message_headers_get_encoding (headers), ==, SOUP_ENCODING_CHUNKED);
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 2);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 2);

  publish_json (f, "s1", "transport",
                "{\"session_id\":\"s1\",\"from\":\"pending\",\"to\":\"fast_path\",\"reason\":\"link_healthy\"}");
  publish_json (f, "s2", "handshake", "{\"session_id\":\"s2\",\"kind\":\"initial\",\"handshake_id\":\"h1\"}");
  /* a global-only event, with a newline that must stay escaped */
  publish_json (f, NULL, "notice", "{\"text\":\"two\\nlines \\\"quoted\\\"\"}");
  publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":7}");

  WAIT_UNTIL (client_n_frames (all) == 4 && client_n_frames (s1) == 2, TIMEOUT_MS);

  frames = client_frames (all, NULL);
  for (guint i = 0; i < frames->len; i++) {
    Frame *frame = g_ptr_array_index (frames, i);

    g_assert_cmpuint (frame->id, ==, i + 1);
    g_assert_cmpstr (frame->event, ==, expected_events[i]);
  }
  g_assert_cmpstr (((Frame *) g_ptr_array_index (frames, 1))->data, ==,
                   "{\"session_id\":\"s2\",\"kind\":\"initial\",\"handshake_id\":\"h1\"}");
  g_assert_cmpstr (((Frame *) g_ptr_array_index (frames, 2))->data, ==,
                   "{\"text\":\"two\\nlines \\\"quoted\\\"\"}");

  /* the session stream: its own events only, its own ids, byte for byte */
  g_assert_cmpstr (s1->buf->str, ==,
                   "id: 1\nevent: transport\n"
                   "data: {\"session_id\":\"s1\",\"from\":\"pending\",\"to\":\"fast_path\",\"reason\":\"link_healthy\"}\n\n"
                   "id: 2\nevent: state\ndata: {\"session_id\":\"s1\",\"sequence\":7}\n\n");

  /* NULL data is an empty object */
  beach_event_hub_publish (f->hub, "s1", "queue_empty", NULL);
  WAIT_UNTIL (client_n_frames (s1) == 3, TIMEOUT_MS);
  g_assert_true (g_str_has_suffix (s1->buf->str, "id: 3\nevent: queue_empty\ndata: {}\n\n"));

  client_free (all);
  client_free (s1);
}

static void
test_close_session (Fixture *f, gconstpointer data)
{
  Client *all = client_open (f, "/events");
  Client *s1a = client_open (f, "/sessions/s1/events");
  Client *s1b = client_open (f, "/sessions/s1/events");
  Client *s2 = client_open (f, "/sessions/s2/events");
  g_autoptr (GPtrArray) frames = NULL;

  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 4);

  publish_json (f, "s1", "transport",
                "{\"session_id\":\"s1\",\"from\":\"fast_path\",\"to\":\"pending\",\"reason\":\"session_deleted\"}");
  beach_event_hub_close_session (f->hub, "s1");
  /* closing streams stop counting at once */
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 2);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 2);
  /* nothing more reaches a closing stream */
  publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":1}");

  WAIT_UNTIL (s1a->eof && s1b->eof, TIMEOUT_MS);
  g_assert_no_error (s1a->error);
  g_assert_no_error (s1b->error);
  frames = client_frames (s1a, NULL);
  g_assert_cmpuint (frames->len, ==, 1);
  g_assert_cmpstr (((Frame *) g_ptr_array_index (frames, 0))->event, ==, "transport");
  g_assert_cmpstr (s1a->buf->str, ==, s1b->buf->str);

  /* the other streams go on */
  publish_json (f, "s2", "state", "{\"session_id\":\"s2\",\"sequence\":1}");
  WAIT_UNTIL (client_n_frames (all) == 3 && client_n_frames (s2) == 1, TIMEOUT_MS);
  g_assert_false (all->eof);
  g_assert_false (s2->eof);
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 2);

  client_free (all);
  client_free (s1a);
  client_free (s1b);
  client_free (s2);
}

static void
test_client_disconnect (Fixture *f, gconstpointer data)
{
  g_autoptr (GSocket) idle = raw_connect (f, "/events", 0);
  g_autoptr (GSocket) busy = NULL;
  g_autoptr (GError) error = NULL;

  WAIT_UNTIL (beach_event_hub_get_n_subscribers (f->hub) == 1, TIMEOUT_MS);
  g_socket_close (idle, &error);
  g_assert_no_error (error);
  /* noticed without any write to fail */
  WAIT_UNTIL (beach_event_hub_get_n_subscribers (f->hub) == 0, TIMEOUT_MS);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 0);

  /* gone with a backlog still queued in libsoup */
  busy = raw_connect (f, "/sessions/s1/events", 0);
  WAIT_UNTIL (beach_event_hub_get_n_subscribers (f->hub) == 1, TIMEOUT_MS);
  for (guint i = 0; i < 20; i++)
    publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":1}");
  g_socket_close (busy, &error);
  g_assert_no_error (error);
  WAIT_UNTIL (beach_event_hub_get_n_subscribers (f->hub) == 0, TIMEOUT_MS);
  for (guint i = 0; i < 20; i++)
    publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":2}");
  /* libsoup itself let go of both messages */
  WAIT_UNTIL (f->n_ended == 2, TIMEOUT_MS);
  g_assert_cmpfloat (metric (f, "events_dropped_subscribers_total"), ==, 0);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 0);
}

typedef struct {
  Fixture *f;
  JsonObject *data;
  guint published;
} Flood;

/* Idle priority: libsoup's writes (default priority) run between two
 * events, so the stream drains as fast as the peer lets it. */
static gboolean
flood_one (gpointer user_data)
{
  Flood *flood = user_data;

  beach_event_hub_publish (flood->f->hub, "s1", "state", flood->data);
  flood->published++;
  return G_SOURCE_CONTINUE;
}

static void
test_slow_subscriber (Fixture *f, gconstpointer data)
{
  g_autoptr (GSocket) stalled = NULL;
  g_autoptr (JsonObject) payload = json_object_new ();
  g_autofree gchar *blob = g_strnfill (32 * 1024, 'x');
  Flood flood = { f, payload, 0 };
  guint flood_id;

  beach_event_hub_set_limits (f->hub, 50, 15);
  json_object_set_string_member (payload, "session_id", "s1");
  json_object_set_string_member (payload, "blob", blob);

  /* a small receive window, and never a read */
  stalled = raw_connect (f, "/sessions/s1/events", 4096);
  WAIT_UNTIL (beach_event_hub_get_n_subscribers (f->hub) == 1, TIMEOUT_MS);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 1);

  flood_id = g_idle_add (flood_one, &flood);
  WAIT_UNTIL (metric (f, "events_dropped_subscribers_total") == 1 || flood.published > 100000,
              TIMEOUT_MS * 2);
  g_source_remove (flood_id);
  g_test_message ("cut after %u events of 32 KiB", flood.published);
  g_assert_cmpfloat (metric (f, "events_dropped_subscribers_total"), ==, 1);
  /* at least the backlog itself went out before the cut */
  g_assert_cmpuint (flood.published, >=, 50);
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 0);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 0);
  /* and libsoup let go of the message and its unwritten chunks */
  WAIT_UNTIL (f->n_ended == 1, TIMEOUT_MS);

  /* publishing after the cut touches nothing of the old stream */
  beach_event_hub_publish (f->hub, "s1", "state", payload);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpfloat (metric (f, "events_dropped_subscribers_total"), ==, 1);
}

static void
test_backlog_drains (Fixture *f, gconstpointer data)
{
  Client *c;

  /* far more events than the backlog, in bursts the reader keeps up with:
   * written chunks must leave the backlog */
  beach_event_hub_set_limits (f->hub, 4, 15);
  c = client_open (f, "/events");
  for (guint burst = 0; burst < 25; burst++) {
    for (guint i = 0; i < 4; i++)
      publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":1}");
    WAIT_UNTIL (client_n_frames (c) == (burst + 1) * 4, TIMEOUT_MS);
  }
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 1);
  g_assert_cmpfloat (metric (f, "events_dropped_subscribers_total"), ==, 0);

  /* a fifth event while four are unwritten is one too many */
  for (guint i = 0; i < 5; i++)
    publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":2}");
  g_assert_cmpfloat (metric (f, "events_dropped_subscribers_total"), ==, 1);
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 0);
  WAIT_UNTIL (c->eof || c->error != NULL, TIMEOUT_MS);

  client_free (c);
}

static void
test_keepalive (Fixture *f, gconstpointer data)
{
  Client *c;
  g_autoptr (GPtrArray) frames = NULL;

  beach_event_hub_set_limits (f->hub, 1000, 1);
  c = client_open (f, "/events");
  WAIT_UNTIL (client_n_keepalives (c) >= 2, TIMEOUT_MS);

  /* keep-alives take no event id */
  publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":1}");
  WAIT_UNTIL (client_n_frames (c) == 1, TIMEOUT_MS);
  frames = client_frames (c, NULL);
  g_assert_cmpuint (((Frame *) g_ptr_array_index (frames, 0))->id, ==, 1);

  client_free (c);
}

static void
test_shutdown (Fixture *f, gconstpointer data)
{
  Client *all = client_open (f, "/events");
  Client *s1 = client_open (f, "/sessions/s1/events");
  Client *late = NULL;

  publish_json (f, "s1", "state", "{\"session_id\":\"s1\",\"sequence\":1}");
  beach_event_hub_shutdown (f->hub);
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 0);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 0);
  WAIT_UNTIL (all->eof && s1->eof, TIMEOUT_MS);
  /* what was queued before the shutdown still arrived */
  g_assert_cmpuint (client_n_frames (all), ==, 1);
  g_assert_cmpuint (client_n_frames (s1), ==, 1);

  /* new streams are refused */
  late = client_open (f, "/events");
  g_assert_cmpuint (soup_message_get_status (late->msg), ==, SOUP_STATUS_SERVICE_UNAVAILABLE);
  WAIT_UNTIL (late->eof, TIMEOUT_MS);
  g_assert_nonnull (strstr (late->buf->str, "\"error\":\"unavailable\""));
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (f->hub), ==, 0);

  client_free (all);
  client_free (s1);
  client_free (late);
}

static void
test_dispose_with_streams (Fixture *f, gconstpointer data)
{
  Client *c = client_open (f, "/events");

  publish_json (f, NULL, "notice", "{}");
  /* the hub goes first, with a stream open and an event queued */
  g_clear_object (&f->hub);
  WAIT_UNTIL (c->eof || c->error != NULL, TIMEOUT_MS);
  g_assert_cmpfloat (metric (f, "events_subscribers"), ==, 0);
  client_free (c);
}

static void
test_no_metrics (void)
{
  g_autoptr (BeachEventHub) hub = beach_event_hub_new (NULL);

  beach_event_hub_publish (hub, "s1", "state", NULL);
  beach_event_hub_close_session (hub, "s1");
  beach_event_hub_shutdown (hub);
  g_assert_cmpuint (beach_event_hub_get_n_subscribers (hub), ==, 0);
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  ADD ("/event-hub/order-and-filter", test_order_and_filter);
  ADD ("/event-hub/close-session", test_close_session);
  ADD ("/event-hub/client-disconnect", test_client_disconnect);
  ADD ("/event-hub/slow-subscriber", test_slow_subscriber);
  ADD ("/event-hub/backlog-drains", test_backlog_drains);
  ADD ("/event-hub/keepalive", test_keepalive);
  ADD ("/event-hub/shutdown", test_shutdown);
  ADD ("/event-hub/dispose-with-streams", test_dispose_with_streams);
  g_test_add_func ("/event-hub/no-metrics", test_no_metrics);

  return g_test_run ();
}
