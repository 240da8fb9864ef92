/* beach-manager-app.c: the beach-manager GApplication
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-manager-app"

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <stdio.h>

#include "beach-http-api.h"
#include "beach-manager-app.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"

struct _BeachManagerApp {
  GApplication parent_instance;

  gchar *listen;
  BeachHttpApi *http;
  guint sigint_id;
  guint sigterm_id;
  gboolean shutting_down;
  gint exit_status;
};

G_DEFINE_FINAL_TYPE (BeachManagerApp, beach_manager_app, G_TYPE_APPLICATION)

static gboolean
on_quit_signal (gpointer user_data)
{
  BeachManagerApp *self = user_data;

  if (!self->shutting_down) {
    self->shutting_down = TRUE;
    g_message ("shutting down on signal");
    if (self->http != NULL)
      beach_http_api_shutdown (self->http);
    g_application_release (G_APPLICATION (self));
  }
  return G_SOURCE_CONTINUE;
}

static gint
beach_manager_app_handle_local_options (GApplication *app, GVariantDict *options)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (app);
  const gchar *listen = NULL;

  if (g_variant_dict_contains (options, "version")) {
    g_print ("beach-manager %s\n", PACKAGE_VERSION);
    return 0;
  }
  if (g_variant_dict_lookup (options, "listen", "&s", &listen)) {
    g_free (self->listen);
    self->listen = g_strdup (listen);
  }
  return -1;
}

static void
beach_manager_app_startup (GApplication *app)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (app);
  g_autoptr (GError) error = NULL;

  G_APPLICATION_CLASS (beach_manager_app_parent_class)->startup (app);

  self->http = beach_http_api_new ();
  if (!beach_http_api_listen (self->http, self->listen, &error)) {
    g_printerr (_ ("beach-manager: cannot listen on %s: %s\n"), self->listen, error->message);
    self->exit_status = 1;
    return;
  }
  /* Tests and scripts read this line to learn the port. */
  g_print ("listening on %s\n", beach_http_api_get_url (self->http));
  fflush (stdout);

  self->sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, self);
  g_application_hold (app);
}

static void
beach_manager_app_activate (GApplication *app)
{
  /* The daemon has no window; startup did the work. */
}

static void
beach_manager_app_shutdown (GApplication *app)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (app);

  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_object (&self->http);
  G_APPLICATION_CLASS (beach_manager_app_parent_class)->shutdown (app);
}

static void
beach_manager_app_finalize (GObject *object)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (object);

  g_free (self->listen);
  G_OBJECT_CLASS (beach_manager_app_parent_class)->finalize (object);
}

static void
beach_manager_app_class_init (BeachManagerAppClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = beach_manager_app_finalize;
  app_class->handle_local_options = beach_manager_app_handle_local_options;
  app_class->startup = beach_manager_app_startup;
  app_class->activate = beach_manager_app_activate;
  app_class->shutdown = beach_manager_app_shutdown;
}

static const GOptionEntry option_entries[] = {
  { "listen", 'l', 0, G_OPTION_ARG_STRING, NULL, N_ ("Address to listen on (default 127.0.0.1:8080; port 0 picks one)"), N_ ("ADDR:PORT") },
  { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_ ("Print the version and exit"), NULL },
  { NULL }
};

static void
beach_manager_app_init (BeachManagerApp *self)
{
  self->listen = g_strdup (DEFAULT_LISTEN);
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _ ("Deliver Private Beach controller actions to hosts."));
}

BeachManagerApp *
beach_manager_app_new (void)
{
  /* Non-unique: several managers may run on one machine and one bus. */
  return g_object_new (BEACH_TYPE_MANAGER_APP,
                       "application-id", "sh.beach.Manager",
                       "flags", G_APPLICATION_NON_UNIQUE,
                       NULL);
}

gint
beach_manager_app_get_exit_status (BeachManagerApp *self)
{
  return self->exit_status;
}
