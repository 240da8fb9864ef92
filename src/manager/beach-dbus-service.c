/* beach-dbus-service.c: the daemon's D-Bus control plane
 *
 * Owns sh.beach.Manager1 (WIRE.md "D-Bus"), exports the manager object and
 * one sh.beach.Session1 object per session under an ObjectManager, and
 * keeps their properties current through the generated setters: at once
 * when a session says it changed, and once a second for the values that
 * move continuously (heartbeat RTT, in flight). A name already taken, or no
 * bus at all, is logged once and the daemon runs on without D-Bus, unless
 * it was told to require it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-dbus-service"

#include "config.h"

#include "beach-dbus-generated.h"
#include "beach-dbus-service.h"
#include "beach-session.h"

#define SYNC_INTERVAL_MS 1000
#define SESSIONS_PATH    BEACH_DBUS_PATH "/sessions"

struct _BeachDbusService {
  GObject parent_instance;

  BeachSessionRegistry *registry;
  BeachRouter *router;
  BeachMetrics *metrics;
  BeachFallbackQueue *queue;
  gchar *http_url;

  gboolean require;
  guint owner_id;
  GDBusConnection *connection;
  BeachDbusManager1 *manager;
  GDBusObjectManagerServer *object_manager;
  GHashTable *sessions; /* session id -> SessionObject */
  guint n_fast;         /* exported sessions whose transport is fast_path */
  guint sync_id;
  gboolean exported;
  gboolean acquired;
};

enum {
  SIGNAL_UNAVAILABLE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachDbusService, beach_dbus_service, G_TYPE_OBJECT)

typedef struct {
  BeachDbusService *service;
  BeachSession *session;
  BeachDbusObjectSkeleton *object;
  BeachDbusSession1 *iface;
  gulong changed_id;
  gboolean transport_known;
  BeachTransport transport;
} SessionObject;

static void
session_object_free (SessionObject *so)
{
  if (so->transport_known && so->transport == BEACH_TRANSPORT_FAST_PATH)
    so->service->n_fast--;
  g_clear_signal_handler (&so->changed_id, so->session);
  if (so->service->object_manager != NULL)
    g_dbus_object_manager_server_unexport (so->service->object_manager,
                                           g_dbus_object_get_object_path (G_DBUS_OBJECT (so->object)));
  g_clear_object (&so->iface);
  g_clear_object (&so->object);
  g_clear_object (&so->session);
  g_free (so);
}

static gint64
latest_lease_expiry (BeachSession *s)
{
  gint64 now = g_get_real_time () / 1000;
  gint64 latest = 0;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, s->leases);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    BeachLease *lease = value;

    if (beach_session_lease_is_live (lease, now))
      latest = MAX (latest, lease->expires_at_ms);
  }
  return latest;
}

/* Every property, through the generated setters (they emit
 * PropertiesChanged only for values that changed). */
static void
sync_session (SessionObject *so)
{
  BeachSession *s = so->session;
  BeachDbusSession1 *i = so->iface;
  BeachDbusService *self = so->service;

  g_object_freeze_notify (G_OBJECT (i));
  beach_dbus_session1_set_id (i, s->session_id);
  beach_dbus_session1_set_private_beach_id (i, s->private_beach_id);
  beach_dbus_session1_set_harness_type (i, beach_harness_type_to_string (s->harness_type));
  beach_dbus_session1_set_transport_mode (i, beach_transport_mode_to_string (s->transport_mode));
  beach_dbus_session1_set_transport (i, beach_transport_to_string (s->transport));
  beach_dbus_session1_set_transport_reason (
    i, s->transport_known ? beach_transport_reason_to_string (s->transport_reason) : "");
  beach_dbus_session1_set_transport_changed_at_ms (i, s->transport_changed_at_ms);
  beach_dbus_session1_set_fast_path_ready (i, s->fast_path_ready);
  beach_dbus_session1_set_handshake_id (i, s->handshake_id != NULL ? s->handshake_id : "");
  beach_dbus_session1_set_link_generation (i, s->link_generation);
  beach_dbus_session1_set_pending_actions (i, s->pending);
  beach_dbus_session1_set_in_flight_actions (i, s->in_flight);
  beach_dbus_session1_set_heartbeat_rtt_us (i, s->heartbeat_rtt_us);
  beach_dbus_session1_set_lease_expires_at_ms (i, latest_lease_expiry (s));
  beach_dbus_session1_set_last_error (i, s->last_error != NULL ? s->last_error : "");
  g_object_thaw_notify (G_OBJECT (i));

  if (s->transport_known && (!so->transport_known || so->transport != s->transport)) {
    const gchar *from = so->transport_known ? beach_transport_to_string (so->transport) : "";

    if (self->manager != NULL)
      beach_dbus_manager1_emit_transport_changed (self->manager, s->session_id, from,
                                                  beach_transport_to_string (s->transport),
                                                  beach_transport_reason_to_string (s->transport_reason));
    if (so->transport_known && so->transport == BEACH_TRANSPORT_FAST_PATH)
      self->n_fast--;
    if (s->transport == BEACH_TRANSPORT_FAST_PATH)
      self->n_fast++;
    so->transport_known = TRUE;
    so->transport = s->transport;
  }
}

/* Counts kept as sessions change (a session's "changed" fires on every
 * enqueue and ack: no scan of the registry per change). */
static void
sync_manager (BeachDbusService *self)
{
  g_object_freeze_notify (G_OBJECT (self->manager));
  beach_dbus_manager1_set_session_count (self->manager, g_hash_table_size (self->sessions));
  beach_dbus_manager1_set_fast_path_session_count (self->manager, self->n_fast);
  beach_dbus_manager1_set_queue_backend_connected (self->manager, beach_fallback_queue_is_available (self->queue));
  g_object_thaw_notify (G_OBJECT (self->manager));
}

static void
on_session_changed (BeachSession *session, SessionObject *so)
{
  sync_session (so);
  sync_manager (so->service);
}

static void
add_session (BeachDbusService *self, BeachSession *session)
{
  g_autofree gchar *escaped = g_dbus_escape_object_path (session->session_id);
  g_autofree gchar *path = g_strdup_printf ("%s/%s", SESSIONS_PATH, escaped);
  SessionObject *so;

  if (g_hash_table_contains (self->sessions, session->session_id))
    return;
  so = g_new0 (SessionObject, 1);
  so->service = self;
  so->session = g_object_ref (session);
  so->object = beach_dbus_object_skeleton_new (path);
  so->iface = beach_dbus_session1_skeleton_new ();
  beach_dbus_object_skeleton_set_session1 (so->object, so->iface);
  sync_session (so);
  so->changed_id = g_signal_connect (session, "changed", G_CALLBACK (on_session_changed), so);
  g_dbus_object_manager_server_export (self->object_manager, G_DBUS_OBJECT_SKELETON (so->object));
  g_hash_table_insert (self->sessions, g_strdup (session->session_id), so);
  sync_manager (self);
}

static void
on_session_added (BeachSessionRegistry *registry, BeachSession *session, BeachDbusService *self)
{
  if (self->exported)
    add_session (self, session);
}

static void
on_session_removed (BeachSessionRegistry *registry, BeachSession *session, BeachDbusService *self)
{
  if (!self->exported)
    return;
  g_hash_table_remove (self->sessions, session->session_id);
  sync_manager (self);
}

static gboolean
on_sync (gpointer user_data)
{
  BeachDbusService *self = user_data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    sync_session (value);
  sync_manager (self);
  return G_SOURCE_CONTINUE;
}

/* -- methods */

static gboolean
handle_get_metrics (BeachDbusManager1 *iface, GDBusMethodInvocation *invocation, BeachDbusService *self)
{
  beach_dbus_manager1_complete_get_metrics (iface, invocation, beach_metrics_to_variant (self->metrics));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static BeachSession *
lookup_or_fail (BeachDbusService *self, GDBusMethodInvocation *invocation, const gchar *session_id)
{
  BeachSession *session = beach_session_registry_lookup (self->registry, session_id);

  if (session == NULL)
    g_dbus_method_invocation_return_error (invocation, BEACH_ERROR, BEACH_ERROR_NOT_FOUND, "no session %s",
                                           session_id);
  return session;
}

static gboolean
handle_set_transport_mode (BeachDbusManager1 *iface,
                           GDBusMethodInvocation *invocation,
                           const gchar *session_id,
                           const gchar *mode,
                           BeachDbusService *self)
{
  BeachSession *session = lookup_or_fail (self, invocation, session_id);
  BeachTransportMode m;
  g_autoptr (GError) error = NULL;

  if (session == NULL)
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!beach_transport_mode_from_string (mode, &m, &error)) {
    g_prefix_error (&error, "mode: ");
    g_dbus_method_invocation_return_gerror (invocation, error);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  g_message ("session %s: transport mode set to %s over D-Bus", session_id, mode);
  beach_router_set_transport_mode (self->router, session, m);
  beach_dbus_manager1_complete_set_transport_mode (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
dropped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GDBusMethodInvocation) invocation = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_router_delete_session_finish (BEACH_ROUTER (source), result, &error))
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
handle_drop_session (BeachDbusManager1 *iface,
                     GDBusMethodInvocation *invocation,
                     const gchar *session_id,
                     BeachDbusService *self)
{
  BeachSession *session = lookup_or_fail (self, invocation, session_id);

  if (session == NULL)
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  g_message ("session %s: dropped over D-Bus", session_id);
  beach_router_delete_session_async (self->router, session, BEACH_DEAD_LETTER_REASON_SESSION_DELETED, dropped_cb,
                                     g_object_ref (invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* -- export and name */

static gboolean
export_all (BeachDbusService *self, GError **error)
{
  g_autoptr (GPtrArray) list = NULL;

  self->manager = beach_dbus_manager1_skeleton_new ();
  beach_dbus_manager1_set_version (self->manager, PACKAGE_VERSION);
  beach_dbus_manager1_set_http_address (self->manager, self->http_url);
  beach_dbus_manager1_set_queue_backend (self->manager, beach_fallback_queue_get_backend_name (self->queue));
  g_signal_connect (self->manager, "handle-get-metrics", G_CALLBACK (handle_get_metrics), self);
  g_signal_connect (self->manager, "handle-set-transport-mode", G_CALLBACK (handle_set_transport_mode), self);
  g_signal_connect (self->manager, "handle-drop-session", G_CALLBACK (handle_drop_session), self);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->manager), self->connection,
                                         BEACH_DBUS_PATH, error)) {
    g_clear_object (&self->manager);
    return FALSE;
  }
  /* The ObjectManager lives on the manager's own path; sessions below it. */
  self->object_manager = g_dbus_object_manager_server_new (BEACH_DBUS_PATH);
  self->exported = TRUE;
  list = beach_session_registry_list (self->registry);
  for (guint i = 0; i < list->len; i++)
    add_session (self, list->pdata[i]);
  g_dbus_object_manager_server_set_connection (self->object_manager, self->connection);
  sync_manager (self);
  self->sync_id = g_timeout_add (SYNC_INTERVAL_MS, on_sync, self);
  return TRUE;
}

static void
unexport_all (BeachDbusService *self)
{
  g_clear_handle_id (&self->sync_id, g_source_remove);
  g_hash_table_remove_all (self->sessions);
  if (self->object_manager != NULL)
    g_dbus_object_manager_server_set_connection (self->object_manager, NULL);
  g_clear_object (&self->object_manager);
  if (self->manager != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->manager));
  g_clear_object (&self->manager);
  self->exported = FALSE;
}

static void
on_bus_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  BeachDbusService *self = user_data;
  g_autoptr (GError) error = NULL;

  g_set_object (&self->connection, connection);
  if (!export_all (self, &error))
    g_warning ("D-Bus: cannot export %s: %s", BEACH_DBUS_PATH, error->message);
}

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  BeachDbusService *self = user_data;

  self->acquired = TRUE;
  g_message ("D-Bus: owning %s", name);
}

static void
on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  BeachDbusService *self = user_data;
  g_autoptr (GError) error = NULL;

  unexport_all (self);
  if (connection == NULL)
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "no D-Bus bus to connect to");
  else if (self->acquired)
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED, "lost the name %s", name);
  else
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_EXISTS, "the name %s is owned by another process", name);
  g_clear_handle_id (&self->owner_id, g_bus_unown_name);
  g_clear_object (&self->connection);
  if (self->require) {
    g_warning ("D-Bus: %s, and --require-dbus was given", error->message);
    g_signal_emit (self, signals[SIGNAL_UNAVAILABLE], 0, error);
    return;
  }
  g_message ("D-Bus: %s; running without D-Bus", error->message);
}

void
beach_dbus_service_start (BeachDbusService *self, GBusType bus_type, gboolean require)
{
  g_return_if_fail (BEACH_IS_DBUS_SERVICE (self));
  g_return_if_fail (self->owner_id == 0);

  self->require = require;
  self->owner_id = g_bus_own_name (bus_type, BEACH_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, on_bus_acquired,
                                   on_name_acquired, on_name_lost, self, NULL);
}

void
beach_dbus_service_stop (BeachDbusService *self)
{
  g_return_if_fail (BEACH_IS_DBUS_SERVICE (self));

  unexport_all (self);
  g_clear_handle_id (&self->owner_id, g_bus_unown_name);
  g_clear_object (&self->connection);
}

gboolean
beach_dbus_service_get_exported (BeachDbusService *self)
{
  return self->exported && self->acquired;
}

BeachDbusService *
beach_dbus_service_new (BeachSessionRegistry *registry,
                        BeachRouter *router,
                        BeachMetrics *metrics,
                        BeachFallbackQueue *queue,
                        const gchar *http_url)
{
  BeachDbusService *self = g_object_new (BEACH_TYPE_DBUS_SERVICE, NULL);

  self->registry = g_object_ref (registry);
  self->router = g_object_ref (router);
  self->metrics = g_object_ref (metrics);
  self->queue = g_object_ref (queue);
  self->http_url = g_strdup (http_url);
  g_signal_connect_object (registry, "session-added", G_CALLBACK (on_session_added), self, 0);
  g_signal_connect_object (registry, "session-removed", G_CALLBACK (on_session_removed), self, 0);
  return self;
}

static void
beach_dbus_service_dispose (GObject *object)
{
  BeachDbusService *self = BEACH_DBUS_SERVICE (object);

  if (self->sessions != NULL)
    beach_dbus_service_stop (self);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_object (&self->registry);
  g_clear_object (&self->router);
  g_clear_object (&self->metrics);
  g_clear_object (&self->queue);
  G_OBJECT_CLASS (beach_dbus_service_parent_class)->dispose (object);
}

static void
beach_dbus_service_finalize (GObject *object)
{
  BeachDbusService *self = BEACH_DBUS_SERVICE (object);

  g_free (self->http_url);
  G_OBJECT_CLASS (beach_dbus_service_parent_class)->finalize (object);
}

static void
beach_dbus_service_class_init (BeachDbusServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = beach_dbus_service_dispose;
  object_class->finalize = beach_dbus_service_finalize;

  /* D-Bus was required and is not there (no bus, the name taken, or lost). */
  signals[SIGNAL_UNAVAILABLE] = g_signal_new ("unavailable", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
beach_dbus_service_init (BeachDbusService *self)
{
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) session_object_free);
}
