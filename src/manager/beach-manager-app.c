/* beach-manager-app.c: the beach-manager GApplication
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-manager-app"

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <stdio.h>
#include <sys/resource.h>

#include "beach-auth.h"
#include "beach-config.h"
#include "beach-event-hub.h"
#include "beach-fast-path.h"
#include "beach-http-api.h"
#include "beach-manager-app.h"
#include "beach-dbus-service.h"
#include "beach-memory-queue.h"
#include "beach-metrics.h"
#include "beach-router.h"
#include "beach-session-registry.h"
#ifdef BEACH_REDIS_BACKEND
#include "beach-redis-client.h"
#include "beach-redis-queue.h"
#ifdef BEACH_REDIS_BACKEND
#include "beach-cluster.h"
#endif
#include "beach-session-store.h"
#endif

struct _BeachManagerApp {
  GApplication parent_instance;

  /* options */
  gchar *opt_listen;
  gchar *opt_config;
  gchar *opt_queue;
  gchar *opt_redis_url;
  gboolean opt_require_dbus;
  gboolean opt_system_bus;

  BeachConfig *config;
  BeachAuth *auth;
  BeachFallbackQueue *queue;
  BeachMetrics *metrics;
  BeachEventHub *events;
  BeachSessionRegistry *registry;
  BeachRouter *router;
  BeachFastPath *fast_path;
  BeachHttpApi *http;
  BeachDbusService *dbus;
#ifdef BEACH_REDIS_BACKEND
  BeachRedisClient *redis;
#ifdef BEACH_REDIS_BACKEND
  BeachCluster *cluster;
#endif
  BeachSessionStore *store;
#endif

  guint sigint_id;
  guint sigterm_id;
  guint sweep_id;
  gboolean shutting_down;
  gint exit_status;
};

G_DEFINE_FINAL_TYPE (BeachManagerApp, beach_manager_app, G_TYPE_APPLICATION)

static void
on_http_shut_down (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachManagerApp) self = user_data;

  beach_http_api_shutdown_finish (BEACH_HTTP_API (source), result, NULL);
  g_message ("stopped");
  g_application_release (G_APPLICATION (self));
}

static void shut_down_http (BeachManagerApp *self);

#ifdef BEACH_REDIS_BACKEND
static void
on_cluster_stopped (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachManagerApp) self = user_data;

  beach_cluster_stop_finish (BEACH_CLUSTER (source), result, NULL);
  shut_down_http (self);
}
#endif

static void
on_links_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachManagerApp) self = user_data;

  beach_fast_path_shutdown_finish (BEACH_FAST_PATH (source), result, NULL);
#ifdef BEACH_REDIS_BACKEND
  /* Owner records and the instance's heartbeat go before the HTTP side, so
   * that other managers stop forwarding here and take the inbox at once. */
  if (self->cluster != NULL) {
    beach_cluster_stop_async (self->cluster, on_cluster_stopped, g_object_ref (self));
    return;
  }
#endif
  shut_down_http (self);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  BeachManagerApp *self = user_data;

  if (!self->shutting_down) {
    self->shutting_down = TRUE;
    g_message ("shutting down on signal");
    g_clear_handle_id (&self->sweep_id, g_source_remove);
    /* Hosts see their links close at once (channels first), not after a
     * heartbeat timeout: the links close before the HTTP side goes. */
    beach_fast_path_shutdown_async (self->fast_path, on_links_closed, g_object_ref (self));
  }
  return G_SOURCE_CONTINUE;
}

/* --require-dbus and no name: a clean shutdown with a failure status. */
static void
on_dbus_unavailable (BeachDbusService *dbus, GError *error, BeachManagerApp *self)
{
  g_printerr (_ ("beach-manager: D-Bus is required: %s\n"), error->message);
  self->exit_status = 1;
  on_quit_signal (self);
}

static void
shut_down_http (BeachManagerApp *self)
{
  beach_http_api_shutdown_async (self->http, on_http_shut_down, g_object_ref (self));
}

static gboolean
on_sweep (gpointer user_data)
{
  BeachManagerApp *self = user_data;

  beach_router_sweep_idle (self->router, self->config->session_idle_expiry_secs);
  return G_SOURCE_CONTINUE;
}

/* Each fast-path link holds ~7 fds; the default soft limit of 1024 would
 * cap a manager at ~140 hosts. */
static void
raise_nofile_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
      g_debug ("could not raise RLIMIT_NOFILE");
  }
}

static gint
beach_manager_app_handle_local_options (GApplication *app, GVariantDict *options)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (app);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachConfig) config = beach_config_new_defaults ();

  if (g_variant_dict_contains (options, "version")) {
    g_print ("beach-manager %s\n", PACKAGE_VERSION);
    return 0;
  }
  if (g_variant_dict_contains (options, "list-routes")) {
    g_auto (GStrv) routes = beach_http_api_list_routes ();

    for (guint i = 0; routes[i] != NULL; i++)
      g_print ("%s\n", routes[i]);
    return 0;
  }
  if (self->opt_config != NULL && !beach_config_load_file (config, self->opt_config, &error)) {
    g_printerr (_ ("beach-manager: %s\n"), error->message);
    return 2;
  }
  if (!beach_config_apply_environment (config, &error)) {
    g_printerr (_ ("beach-manager: %s\n"), error->message);
    return 2;
  }
  if (self->opt_listen != NULL) {
    g_free (config->listen);
    config->listen = g_strdup (self->opt_listen);
  }
  if (self->opt_queue != NULL) {
    if (g_strcmp0 (self->opt_queue, "memory") != 0 && g_strcmp0 (self->opt_queue, "redis") != 0) {
      g_printerr (_ ("beach-manager: --queue must be memory or redis, not “%s”\n"), self->opt_queue);
      return 2;
    }
    g_free (config->queue_backend);
    config->queue_backend = g_strdup (self->opt_queue);
  }
  if (self->opt_redis_url != NULL) {
    g_free (config->redis_url);
    config->redis_url = g_strdup (self->opt_redis_url);
    if (self->opt_queue == NULL) {
      g_free (config->queue_backend);
      config->queue_backend = g_strdup ("redis");
    }
  }
  if (g_strcmp0 (config->queue_backend, "redis") == 0) {
#ifdef BEACH_REDIS_BACKEND
    g_autoptr (BeachRedisClient) probe = NULL;

    if (config->redis_url == NULL) {
      g_printerr (_ ("beach-manager: --queue redis needs --redis-url (redis://HOST:PORT/DB or unix:///PATH)\n"));
      return 2;
    }
    /* The URL is checked now, so a typo stops the daemon with a message. */
    probe = beach_redis_client_new (config->redis_url, NULL, &error);
    if (probe == NULL) {
      g_printerr (_ ("beach-manager: %s\n"), error->message);
      return 2;
    }
#else
    g_printerr (_ ("beach-manager: this build has no Redis support (meson -Dredis=enabled)\n"));
    return 2;
#endif
  }
  self->config = g_steal_pointer (&config);
  return -1;
}

#ifdef BEACH_REDIS_BACKEND
static void
secret_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachManagerApp) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *secret = beach_session_store_secret_finish (BEACH_SESSION_STORE (source), result, &error);

  if (secret == NULL) {
    g_warning ("cannot read the token secret from Redis: %s", error->message);
    return;
  }
  if (self->auth != NULL)
    beach_auth_set_secret (self->auth, secret);
}

/* Every (re)connection re-reads the secret: a fresh Redis gets ours (SET
 * NX), an existing one gives us the deployment's. */
static void
on_redis_connected (BeachRedisClient *client, GParamSpec *pspec, BeachManagerApp *self)
{
  gboolean up = beach_redis_client_get_connected (client);

  beach_metrics_gauge_set (self->metrics, "redis_available", NULL, up ? 1 : 0);
  if (!up)
    return;
  /* In-flight records of dead managers are recovered by the cluster
   * (beach-cluster.c), which leaves a live manager's alone. */
  beach_session_store_secret_async (self->store, secret_cb, g_object_ref (self));
}
#endif

static gboolean
build_services (BeachManagerApp *self, GError **error)
{
  const BeachConfig *c = self->config;

  self->metrics = beach_metrics_new ();
#ifdef BEACH_REDIS_BACKEND
  if (g_strcmp0 (c->queue_backend, "redis") == 0) {
    self->auth = beach_auth_new_operator_only (c->state_dir, c->operator_token, error);
    if (self->auth == NULL)
      return FALSE;
    self->redis = beach_redis_client_new (c->redis_url, NULL, error);
    if (self->redis == NULL)
      return FALSE;
    self->queue = BEACH_FALLBACK_QUEUE (beach_redis_queue_new (self->redis, NULL, &c->queue));
    self->store = beach_session_store_new (self->redis, NULL);
    beach_metrics_set_redis_enabled (self->metrics, TRUE);
    beach_metrics_gauge_set (self->metrics, "redis_available", NULL, 0);
    g_signal_connect (self->redis, "notify::connected", G_CALLBACK (on_redis_connected), self);
    beach_redis_client_start (self->redis);
  }
#endif
  if (self->queue == NULL) {
    self->auth = beach_auth_new (c->state_dir, c->operator_token, error);
    if (self->auth == NULL)
      return FALSE;
    self->queue = BEACH_FALLBACK_QUEUE (beach_memory_queue_new (&c->queue));
  }
  self->events = beach_event_hub_new (self->metrics);
  beach_event_hub_set_limits (self->events, c->events_max_backlog, c->events_keepalive_secs);
  self->registry = beach_session_registry_new ();
  self->router = beach_router_new (c, self->registry, self->queue, self->metrics, self->events);
  self->fast_path = beach_fast_path_new (c, self->registry, self->queue, self->metrics, self->events);
  beach_router_set_fast_path (self->router, self->fast_path);
#ifdef BEACH_REDIS_BACKEND
  if (self->store != NULL) {
    beach_router_set_store (self->router, self->store, self->auth);
    self->cluster = beach_cluster_new (self->redis, BEACH_REDIS_QUEUE (self->queue), self->metrics, NULL,
                                       c->instance_id, c->owner_ttl_ms, c->inbox_cap);
    beach_router_set_cluster (self->router, self->cluster);
    g_message ("manager instance %s", beach_cluster_get_instance_id (self->cluster));
    beach_cluster_start (self->cluster);
  }
#endif
  self->http = beach_http_api_new (c, self->auth, self->registry, self->queue, self->router,
                                   self->metrics, self->events);
  beach_http_api_set_fast_path (self->http, self->fast_path);
  return beach_http_api_listen (self->http, c->listen, error);
}

static void
beach_manager_app_startup (GApplication *app)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (app);
  g_autoptr (GError) error = NULL;

  G_APPLICATION_CLASS (beach_manager_app_parent_class)->startup (app);

  raise_nofile_limit ();
  if (!build_services (self, &error)) {
    g_printerr (_ ("beach-manager: %s\n"), error->message);
    self->exit_status = 1;
    return;
  }
  /* Before the port is announced: a SIGTERM sent as soon as the line
   * below is read is a clean shutdown, not death by the default action. */
  self->sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, self);
  /* Tests and scripts read this line to learn the port: never translated
   * (docs/i18n.md). */
  g_print ("listening on %s\n", beach_http_api_get_url (self->http));
  if (beach_auth_get_operator_token_path (self->auth) != NULL)
    g_print (_ ("operator token in %s\n"), beach_auth_get_operator_token_path (self->auth));
  fflush (stdout);

  self->dbus = beach_dbus_service_new (self->registry, self->router, self->metrics, self->queue,
                                       beach_http_api_get_url (self->http));
  g_signal_connect (self->dbus, "unavailable", G_CALLBACK (on_dbus_unavailable), self);
  beach_dbus_service_start (self->dbus, self->opt_system_bus ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION,
                            self->opt_require_dbus);
  self->sweep_id = g_timeout_add_seconds (MIN (60, MAX (1, self->config->session_idle_expiry_secs / 2)),
                                          on_sweep, self);
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
  g_clear_handle_id (&self->sweep_id, g_source_remove);
  if (self->dbus != NULL)
    beach_dbus_service_stop (self->dbus);
  g_clear_object (&self->dbus);
  g_clear_object (&self->http);
  g_clear_object (&self->router);
  g_clear_object (&self->fast_path);
#ifdef BEACH_REDIS_BACKEND
  g_clear_object (&self->cluster);
#endif
  g_clear_object (&self->registry);
  g_clear_object (&self->events);
  g_clear_object (&self->metrics);
  g_clear_object (&self->queue);
#ifdef BEACH_REDIS_BACKEND
  if (self->redis != NULL) {
    g_signal_handlers_disconnect_by_data (self->redis, self);
    beach_redis_client_stop (self->redis);
  }
  g_clear_object (&self->store);
  g_clear_object (&self->redis);
#endif
  g_clear_object (&self->auth);
  G_APPLICATION_CLASS (beach_manager_app_parent_class)->shutdown (app);
}

static void
beach_manager_app_finalize (GObject *object)
{
  BeachManagerApp *self = BEACH_MANAGER_APP (object);

  g_free (self->opt_listen);
  g_free (self->opt_config);
  g_free (self->opt_queue);
  g_free (self->opt_redis_url);
  g_clear_pointer (&self->config, beach_config_free);
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

static void
beach_manager_app_init (BeachManagerApp *self)
{
  const GOptionEntry entries[] = {
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &self->opt_listen, N_ ("Address to listen on (default 127.0.0.1:8080; port 0 picks one)"), N_ ("ADDR:PORT") },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &self->opt_config, N_ ("Configuration file (GKeyFile)"), N_ ("FILE") },
    { "queue", 0, 0, G_OPTION_ARG_STRING, &self->opt_queue, N_ ("Fallback queue backend: memory (default) or redis"), N_ ("BACKEND") },
    { "redis-url", 0, 0, G_OPTION_ARG_STRING, &self->opt_redis_url, N_ ("Redis URL: redis://HOST:PORT/DB or unix:///PATH"), N_ ("URL") },
    { "require-dbus", 0, 0, G_OPTION_ARG_NONE, &self->opt_require_dbus, N_ ("Exit when the D-Bus name cannot be owned (default: run on without D-Bus)"), NULL },
    { "system-bus", 0, 0, G_OPTION_ARG_NONE, &self->opt_system_bus, N_ ("Own the D-Bus name on the system bus instead of the session bus"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_ ("Print the version and exit"), NULL },
    { "list-routes", 0, 0, G_OPTION_ARG_NONE, NULL, N_ ("Print the HTTP routes, one “METHOD PATTERN” a line, and exit"), NULL },
    { NULL }
  };

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
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
