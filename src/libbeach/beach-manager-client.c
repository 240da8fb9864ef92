/* beach-manager-client.c: a beach-manager seen over D-Bus
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-manager-client"

#include "config.h"

#include "beach-dbus-generated.h"
#include "beach-error.h"
#include "beach-manager-client.h"

/**
 * BeachManagerClient:
 *
 * A small client of a running beach-manager's D-Bus interface
 * (`sh.beach.Manager1` at `/sh/beach/Manager1`), wrapping the
 * gdbus-codegen proxy the way libgeoclue wraps its own. Its properties
 * follow the daemon's (`PropertiesChanged`), and
 * #BeachManagerClient::transport-changed relays the daemon's
 * `TransportChanged` signal.
 */
struct _BeachManagerClient {
  GObject parent_instance;

  BeachDbusManager1 *proxy;
};

enum {
  SIGNAL_TRANSPORT_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachManagerClient, beach_manager_client, G_TYPE_OBJECT)

static void
on_transport_changed (BeachDbusManager1 *proxy,
                      const gchar *session_id,
                      const gchar *from,
                      const gchar *to,
                      const gchar *reason,
                      BeachManagerClient *self)
{
  g_signal_emit (self, signals[SIGNAL_TRANSPORT_CHANGED], 0, session_id, from, to, reason);
}

static void
on_proxy (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  BeachDbusManager1 *proxy = beach_dbus_manager1_proxy_new_for_bus_finish (result, &error);
  BeachManagerClient *self;

  if (proxy == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy)) == NULL) {
    g_object_unref (proxy);
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no beach-manager owns sh.beach.Manager1");
    return;
  }
  self = g_object_new (BEACH_TYPE_MANAGER_CLIENT, NULL);
  self->proxy = proxy;
  g_signal_connect_object (proxy, "transport-changed", G_CALLBACK (on_transport_changed), self, 0);
  g_task_return_pointer (task, self, g_object_unref);
}

/**
 * beach_manager_client_new:
 * @bus_type: %G_BUS_TYPE_SESSION or %G_BUS_TYPE_SYSTEM
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when ready
 * @user_data: data for @callback
 *
 * Connects to the beach-manager that owns `sh.beach.Manager1` on the bus.
 */
void
beach_manager_client_new (GBusType bus_type, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, beach_manager_client_new);
  beach_dbus_manager1_proxy_new_for_bus (bus_type, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, "sh.beach.Manager1",
                                         "/sh/beach/Manager1", cancellable, on_proxy, task);
}

/**
 * beach_manager_client_new_finish:
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the client, or %NULL when no manager runs on
 *   the bus
 */
BeachManagerClient *
beach_manager_client_new_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * beach_manager_client_get_version:
 * @self: a #BeachManagerClient
 *
 * Returns: (nullable): the daemon's version
 */
const gchar *
beach_manager_client_get_version (BeachManagerClient *self)
{
  g_return_val_if_fail (BEACH_IS_MANAGER_CLIENT (self), NULL);
  return beach_dbus_manager1_get_version (self->proxy);
}

/**
 * beach_manager_client_get_http_address:
 * @self: a #BeachManagerClient
 *
 * Returns: (nullable): the URL of the daemon's HTTP API
 */
const gchar *
beach_manager_client_get_http_address (BeachManagerClient *self)
{
  g_return_val_if_fail (BEACH_IS_MANAGER_CLIENT (self), NULL);
  return beach_dbus_manager1_get_http_address (self->proxy);
}

/**
 * beach_manager_client_get_queue_backend:
 * @self: a #BeachManagerClient
 *
 * Returns: (nullable): "memory" or "redis"
 */
const gchar *
beach_manager_client_get_queue_backend (BeachManagerClient *self)
{
  g_return_val_if_fail (BEACH_IS_MANAGER_CLIENT (self), NULL);
  return beach_dbus_manager1_get_queue_backend (self->proxy);
}

/**
 * beach_manager_client_get_queue_backend_connected:
 * @self: a #BeachManagerClient
 *
 * Returns: whether the queue backend answers
 */
gboolean
beach_manager_client_get_queue_backend_connected (BeachManagerClient *self)
{
  g_return_val_if_fail (BEACH_IS_MANAGER_CLIENT (self), FALSE);
  return beach_dbus_manager1_get_queue_backend_connected (self->proxy);
}

/**
 * beach_manager_client_get_session_count:
 * @self: a #BeachManagerClient
 *
 * Returns: how many sessions are registered
 */
guint
beach_manager_client_get_session_count (BeachManagerClient *self)
{
  g_return_val_if_fail (BEACH_IS_MANAGER_CLIENT (self), 0);
  return beach_dbus_manager1_get_session_count (self->proxy);
}

/**
 * beach_manager_client_get_fast_path_session_count:
 * @self: a #BeachManagerClient
 *
 * Returns: how many sessions are on the fast path
 */
guint
beach_manager_client_get_fast_path_session_count (BeachManagerClient *self)
{
  g_return_val_if_fail (BEACH_IS_MANAGER_CLIENT (self), 0);
  return beach_dbus_manager1_get_fast_path_session_count (self->proxy);
}

static void
on_metrics (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  GVariant *metrics = NULL;

  if (!beach_dbus_manager1_call_get_metrics_finish (BEACH_DBUS_MANAGER1 (source), &metrics, result, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, metrics, (GDestroyNotify) g_variant_unref);
}

/**
 * beach_manager_client_get_metrics:
 * @self: a #BeachManagerClient
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the metrics
 * @user_data: data for @callback
 *
 * Reads every `/metrics` series over D-Bus (`GetMetrics`).
 */
void
beach_manager_client_get_metrics (BeachManagerClient *self,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  GTask *task;

  g_return_if_fail (BEACH_IS_MANAGER_CLIENT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  beach_dbus_manager1_call_get_metrics (self->proxy, cancellable, on_metrics, task);
}

/**
 * beach_manager_client_get_metrics_finish:
 * @self: a #BeachManagerClient
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): an `a{sd}` variant keyed like `/metrics`
 */
GVariant *
beach_manager_client_get_metrics_finish (BeachManagerClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_mode_set (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;

  if (!beach_dbus_manager1_call_set_transport_mode_finish (BEACH_DBUS_MANAGER1 (source), result, &error)) {
    g_dbus_error_strip_remote_error (error);
    g_task_return_error (task, g_steal_pointer (&error));
  } else {
    g_task_return_boolean (task, TRUE);
  }
}

/**
 * beach_manager_client_set_transport_mode:
 * @self: a #BeachManagerClient
 * @session_id: a session
 * @mode: "fast_path" or "http_fallback"
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Changes a session's transport mode (`SetTransportMode`). Errors come
 * back in the %BEACH_ERROR domain (registered D-Bus error names).
 */
void
beach_manager_client_set_transport_mode (BeachManagerClient *self,
                                         const gchar *session_id,
                                         const gchar *mode,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback,
                                         gpointer user_data)
{
  GTask *task;

  g_return_if_fail (BEACH_IS_MANAGER_CLIENT (self));

  /* The error domain must be registered before a reply can map onto it. */
  (void) beach_error_quark ();
  task = g_task_new (self, cancellable, callback, user_data);
  beach_dbus_manager1_call_set_transport_mode (self->proxy, session_id, mode, cancellable, on_mode_set, task);
}

/**
 * beach_manager_client_set_transport_mode_finish:
 * @self: a #BeachManagerClient
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the mode was set
 */
gboolean
beach_manager_client_set_transport_mode_finish (BeachManagerClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
beach_manager_client_dispose (GObject *object)
{
  BeachManagerClient *self = BEACH_MANAGER_CLIENT (object);

  g_clear_object (&self->proxy);
  G_OBJECT_CLASS (beach_manager_client_parent_class)->dispose (object);
}

static void
beach_manager_client_class_init (BeachManagerClientClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = beach_manager_client_dispose;

  /**
   * BeachManagerClient::transport-changed:
   * @self: the client
   * @session_id: the session
   * @from: the previous transport ("" for the first)
   * @to: the new transport
   * @reason: why
   *
   * A session's transport changed.
   */
  signals[SIGNAL_TRANSPORT_CHANGED] = g_signal_new ("transport-changed", G_TYPE_FROM_CLASS (klass),
                                                    G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                                                    G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
beach_manager_client_init (BeachManagerClient *self)
{
}
