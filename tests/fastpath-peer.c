/* fastpath-peer.c: a harness-side fast-path peer for end-to-end tests
 *
 * Offers a link to a running beach-manager over the HTTP signalling routes,
 * acks every action it receives, and reports on stdout, one line each:
 *   LINK <link_id>            the answer arrived
 *   HEALTH <state>            the link's health changed
 *   ACTION <id>               an action arrived (acked unless --no-ack)
 *   PING <transport> <pending> <handshake_id>
 * Commands on stdin, one per line: `silent` (stop sending anything, stay
 * connected: a frozen host), `ack on|off`, `close` (graceful close, then
 * exit 0).
 *
 * usage: fastpath-peer --url URL --session-id S --token SESSION_TOKEN [--no-ack]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <libsoup/soup.h>
#include <stdio.h>

#include "beach.h"

typedef struct {
  GMainLoop *loop;
  SoupSession *http;
  gchar *url;
  gchar *session_id;
  gchar *token;
  gchar *link_id;
  BeachFastPathLink *link;
  gboolean ack;
  GPtrArray *early_candidates; /* before the answer named the link */
  GDataInputStream *stdin_stream;
  gint status;
} Peer;

static void
say (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

static void
say (const gchar *format, ...)
{
  va_list ap;

  va_start (ap, format);
  vprintf (format, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static JsonNode *
post_json (Peer *p, const gchar *path, JsonNode *body, GError **error)
{
  g_autofree gchar *uri = g_strconcat (p->url, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", uri);
  g_autofree gchar *text = json_to_string (body, FALSE);
  g_autofree gchar *auth = g_strdup_printf ("Bearer %s", p->token);
  g_autoptr (GBytes) req = g_bytes_new (text, strlen (text));
  g_autoptr (GBytes) out = NULL;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  soup_message_set_request_body_from_bytes (msg, "application/json", req);
  out = soup_session_send_and_read (p->http, msg, NULL, error);
  if (out == NULL)
    return NULL;
  if (soup_message_get_status (msg) != 200) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "POST %s: HTTP %u: %.*s", path,
                 soup_message_get_status (msg), (int) g_bytes_get_size (out),
                 (const gchar *) g_bytes_get_data (out, NULL));
    return NULL;
  }
  return json_from_string (g_bytes_get_data (out, NULL), error);
}

static void
send_candidate (Peer *p, const gchar *candidate, guint mline)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) body = json_node_new (JSON_NODE_OBJECT);
  g_autofree gchar *path = g_strdup_printf ("/fastpath/sessions/%s/webrtc/ice", p->session_id);
  g_autoptr (JsonNode) res = NULL;
  g_autoptr (GError) error = NULL;

  json_object_set_string_member (obj, "candidate", candidate);
  json_object_set_int_member (obj, "sdp_mline_index", mline);
  json_object_set_string_member (obj, "link_id", p->link_id);
  json_node_set_object (body, obj);
  res = post_json (p, path, body, &error);
  if (res == NULL)
    g_printerr ("fastpath-peer: ice: %s\n", error->message);
}

static void
on_local_candidate (BeachFastPathLink *link, const gchar *candidate, guint mline, Peer *p)
{
  if (candidate == NULL || *candidate == '\0')
    return;
  if (p->link_id == NULL) {
    g_ptr_array_add (p->early_candidates, g_strdup (candidate));
    return;
  }
  send_candidate (p, candidate, mline);
}

static void
on_health (BeachFastPathLink *link, GParamSpec *pspec, Peer *p)
{
  say ("HEALTH %s", beach_link_health_to_string (beach_fast_path_link_get_health (link)));
}

static void
on_frame (BeachFastPathLink *link, BeachFastPathChannel channel, const gchar *type, JsonNode *payload, Peer *p)
{
  if (g_str_equal (type, "action")) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachAction) action = beach_action_new_from_json (payload, &error);
    g_autoptr (BeachActionAck) ack = NULL;
    g_autoptr (JsonNode) frame = NULL;

    if (action == NULL) {
      g_printerr ("fastpath-peer: bad action: %s\n", error->message);
      return;
    }
    say ("ACTION %s", beach_action_get_id (action));
    if (!p->ack)
      return;
    ack = beach_action_ack_new (beach_action_get_id (action), BEACH_ACK_STATUS_OK,
                                g_get_real_time () / 1000, -1, NULL, NULL, &error);
    frame = beach_action_ack_to_json (ack);
    if (!beach_fast_path_link_send (link, BEACH_FAST_PATH_CHANNEL_ACKS, "ack", frame, &error))
      g_printerr ("fastpath-peer: ack %s: %s\n", beach_action_get_id (action), error->message);
  } else if (g_str_equal (type, "ping") && JSON_NODE_HOLDS_OBJECT (payload)) {
    JsonObject *o = json_node_get_object (payload);

    say ("PING %s %" G_GINT64_FORMAT " %s",
         json_object_get_string_member_with_default (o, "transport", "?"),
         json_object_get_int_member_with_default (o, "pending", -1),
         json_object_get_string_member_with_default (o, "handshake_id", "?"));
  }
}

static void
on_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;

  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
  say ("CLOSED");
  g_main_loop_quit (p->loop);
}

static void read_command (Peer *p);

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;
  g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                      result, NULL, NULL);

  if (line == NULL || g_str_equal (g_strstrip (line), "close")) {
    beach_fast_path_link_close_async (p->link, NULL, on_closed, p);
    return;
  }
  if (g_str_equal (line, "silent"))
    beach_fast_path_link_set_silent (p->link, TRUE);
  else if (g_str_equal (line, "ack off"))
    p->ack = FALSE;
  else if (g_str_equal (line, "ack on"))
    p->ack = TRUE;
  say ("OK %s", line);
  read_command (p);
}

static void
read_command (Peer *p)
{
  g_data_input_stream_read_line_async (p->stdin_stream, G_PRIORITY_DEFAULT, NULL, on_line, p);
}

static void
on_offer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sdp = beach_fast_path_link_create_offer_finish (p->link, result, &error);
  g_autoptr (JsonObject) obj = NULL;
  g_autoptr (JsonNode) body = NULL;
  g_autoptr (JsonNode) answer = NULL;
  g_autofree gchar *path = NULL;
  JsonObject *a;

  if (sdp == NULL)
    goto fail;
  obj = json_object_new ();
  json_object_set_string_member (obj, "sdp", sdp);
  json_object_set_string_member (obj, "type", "offer");
  body = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (body, obj);
  path = g_strdup_printf ("/fastpath/sessions/%s/webrtc/offer", p->session_id);
  answer = post_json (p, path, body, &error);
  if (answer == NULL)
    goto fail;
  a = json_node_get_object (answer);
  p->link_id = g_strdup (json_object_get_string_member (a, "link_id"));
  say ("LINK %s", p->link_id);
  if (!beach_fast_path_link_set_remote_answer (p->link, json_object_get_string_member (a, "sdp"), &error))
    goto fail;
  for (guint i = 0; i < p->early_candidates->len; i++)
    send_candidate (p, p->early_candidates->pdata[i], 0);
  return;

fail:
  g_printerr ("fastpath-peer: %s\n", error->message);
  p->status = 1;
  g_main_loop_quit (p->loop);
}

int
main (int argc, char **argv)
{
  Peer p = { 0 };
  gboolean no_ack = FALSE;
  const GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &p.url, "manager URL", "URL" },
    { "session-id", 0, 0, G_OPTION_ARG_STRING, &p.session_id, "session id", "ID" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &p.token, "session token", "TOKEN" },
    { "no-ack", 0, 0, G_OPTION_ARG_NONE, &no_ack, "do not ack actions", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- a fast-path test peer");
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || p.url == NULL || p.session_id == NULL || p.token == NULL) {
    g_printerr ("fastpath-peer: %s\n", error != NULL ? error->message : "--url, --session-id and --token are required");
    return 2;
  }
  p.ack = !no_ack;
  p.loop = g_main_loop_new (NULL, FALSE);
  p.http = soup_session_new_with_options ("proxy-resolver", NULL, NULL);
  p.early_candidates = g_ptr_array_new_with_free_func (g_free);
  p.link = beach_fast_path_link_new (BEACH_FAST_PATH_ROLE_OFFERER);
  g_signal_connect (p.link, "local-candidate", G_CALLBACK (on_local_candidate), &p);
  g_signal_connect (p.link, "notify::health", G_CALLBACK (on_health), &p);
  g_signal_connect (p.link, "frame-received", G_CALLBACK (on_frame), &p);
  in = g_unix_input_stream_new (0, FALSE);
  p.stdin_stream = g_data_input_stream_new (in);
  read_command (&p);
  beach_fast_path_link_create_offer_async (p.link, NULL, on_offer, &p);
  g_main_loop_run (p.loop);

  g_clear_object (&p.stdin_stream);
  g_clear_object (&p.link);
  g_clear_object (&p.http);
  g_ptr_array_unref (p.early_candidates);
  g_main_loop_unref (p.loop);
  g_free (p.link_id);
  g_free (p.url);
  g_free (p.session_id);
  g_free (p.token);
  return p.status;
}
