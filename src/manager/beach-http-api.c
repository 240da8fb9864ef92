/* beach-http-api.c: the SoupServer routes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-http-api"

#include "config.h"

#include <libsoup/soup.h>

#include "beach.h"
#include "beach-http-api.h"
#include "beach-manager-util.h"

struct _BeachHttpApi {
  GObject parent_instance;

  SoupServer *server;
  gchar *url;
};

G_DEFINE_FINAL_TYPE (BeachHttpApi, beach_http_api, G_TYPE_OBJECT)

static void
respond_json (SoupServerMessage *msg, guint status, const gchar *body)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
}

static void
respond_error (SoupServerMessage *msg, const GError *error)
{
  BeachError code = error->domain == BEACH_ERROR ? (BeachError) error->code : BEACH_ERROR_FAILED;
  g_autofree gchar *body = beach_error_envelope_to_string (code, error->message);

  respond_json (msg, beach_error_to_http_status (code), body);
}

static void
handle_healthz (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  if (g_strcmp0 (soup_server_message_get_method (msg), "GET") != 0) {
    g_autoptr (GError) error = g_error_new (BEACH_ERROR, BEACH_ERROR_METHOD_NOT_ALLOWED,
                                            "%s is not allowed on %s",
                                            soup_server_message_get_method (msg), path);
    respond_error (msg, error);
    return;
  }
  respond_json (msg, SOUP_STATUS_OK, "{\"status\":\"ok\"}");
}

static void
handle_unmatched (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  g_autoptr (GError) error = g_error_new (BEACH_ERROR, BEACH_ERROR_NOT_FOUND,
                                          "no route for %s", path);
  respond_error (msg, error);
}

static void
beach_http_api_finalize (GObject *object)
{
  BeachHttpApi *self = BEACH_HTTP_API (object);

  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_free (self->url);
  G_OBJECT_CLASS (beach_http_api_parent_class)->finalize (object);
}

static void
beach_http_api_class_init (BeachHttpApiClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_http_api_finalize;
}

static void
beach_http_api_init (BeachHttpApi *self)
{
  self->server = soup_server_new ("server-header", "beach-manager/" PACKAGE_VERSION, NULL);
  soup_server_add_handler (self->server, NULL, handle_unmatched, self, NULL);
  soup_server_add_handler (self->server, "/healthz", handle_healthz, self, NULL);
}

BeachHttpApi *
beach_http_api_new (void)
{
  return g_object_new (BEACH_TYPE_HTTP_API, NULL);
}

/* Listens on ADDR:PORT (port 0 picks a free one) and records the URL. */
gboolean
beach_http_api_listen (BeachHttpApi *self, const gchar *address, GError **error)
{
  g_autoptr (GSocketAddress) sockaddr = NULL;
  g_autoptr (GSList) uris = NULL;

  sockaddr = beach_parse_listen_address (address, error);
  if (sockaddr == NULL)
    return FALSE;
  if (!soup_server_listen (self->server, sockaddr, 0, error))
    return FALSE;
  uris = soup_server_get_uris (self->server);
  if (uris != NULL) {
    GUri *uri = uris->data;
    g_autofree gchar *host = NULL;

    /* soup gives IPv6 hosts without brackets; a URL needs them. */
    if (strchr (g_uri_get_host (uri), ':') != NULL)
      host = g_strdup_printf ("[%s]", g_uri_get_host (uri));
    else
      host = g_strdup (g_uri_get_host (uri));
    g_free (self->url);
    self->url = g_strdup_printf ("http://%s:%d", host, g_uri_get_port (uri));
  }
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  return TRUE;
}

const gchar *
beach_http_api_get_url (BeachHttpApi *self)
{
  return self->url;
}

void
beach_http_api_shutdown (BeachHttpApi *self)
{
  if (self->server != NULL)
    soup_server_disconnect (self->server);
}
