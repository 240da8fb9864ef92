/* beach-config.c: the daemon's settings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-config"

#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "beach-config.h"

BeachConfig *
beach_config_new_defaults (void)
{
  BeachConfig *c = g_new0 (BeachConfig, 1);

  c->listen = g_strdup ("127.0.0.1:8080");
  c->cors_origins = g_new0 (gchar *, 1);
  c->request_timeout_secs = 30;
  c->body_bytes = 1024 * 1024;
  c->actions_per_call = 256;
  c->action_payload_bytes = 64 * 1024;
  c->max_wait_ms = 30000;
  c->max_poll = 256;
  c->default_poll = 64;
  c->queue_backend = g_strdup ("memory");
  beach_queue_config_init_defaults (&c->queue);
  c->lease_default_ttl_ms = 30000;
  c->session_idle_expiry_secs = 24 * 60 * 60;
  c->state_dir = g_build_filename (g_get_user_config_dir (), "beach-manager", NULL);
  {
    const gchar *const loopback[] = { "127.0.0.1", NULL };

    c->fast_path.local_addresses = g_strdupv ((gchar **) loopback);
  }
  c->fast_path.ice_servers = g_new0 (gchar *, 1);
  c->fast_path.heartbeat_interval_ms = 500;
  c->fast_path.heartbeat_timeout_ms = 1500;
  c->fast_path.unhealthy_close_ms = 10000;
  c->fast_path.ack_timeout_ms = 2000;
  c->fast_path.candidate_timeout_ms = 10000;
  c->fast_path.max_candidates = 2;
  c->events_max_backlog = 1000;
  c->events_keepalive_secs = 15;
  c->owner_ttl_ms = 3000;
  c->inbox_cap = 10000;
  return c;
}

void
beach_config_free (BeachConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->listen);
  g_free (c->public_url);
  g_strfreev (c->cors_origins);
  g_free (c->queue_backend);
  g_free (c->redis_url);
  g_free (c->instance_id);
  g_free (c->operator_token);
  g_free (c->state_dir);
  g_strfreev (c->fast_path.local_addresses);
  g_strfreev (c->fast_path.ice_servers);
  g_free (c);
}

/* Reads an unsigned key if present, within min..max; absent keeps *out. */
static gboolean
read_uint (GKeyFile *kf, const gchar *group, const gchar *key, guint min, guint max, guint *out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree gchar *raw = g_key_file_get_value (kf, group, key, NULL);
  guint64 v = 0;

  if (raw == NULL)
    return TRUE;
  g_key_file_remove_key (kf, group, key, NULL);
  g_strstrip (raw);
  if (!g_ascii_string_to_unsigned (raw, 10, min, max, &v, &local_error)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "[%s] %s = “%s”: expected a whole number in %u..%u", group, key,
                 raw, min, max);
    return FALSE;
  }
  *out = (guint) v;
  return TRUE;
}

static void
read_string (GKeyFile *kf, const gchar *group, const gchar *key, gchar **out)
{
  g_autofree gchar *v = g_key_file_get_string (kf, group, key, NULL);

  if (v == NULL)
    return;
  g_key_file_remove_key (kf, group, key, NULL);
  g_strstrip (v);
  g_free (*out);
  *out = *v != '\0' ? g_steal_pointer (&v) : NULL;
}

/* Literal IP addresses only: ICE binds to exactly these. */
static gboolean
read_address_list (GKeyFile *kf, const gchar *key, GStrv *out, GError **error)
{
  g_auto (GStrv) list = g_key_file_get_string_list (kf, "fastpath", key, NULL, NULL);

  g_key_file_remove_key (kf, "fastpath", key, NULL);

  if (list == NULL)
    return TRUE;
  for (guint i = 0; list[i] != NULL; i++) {
    g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (g_strstrip (list[i]));

    if (addr == NULL) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "[fastpath] %s: “%s” is not an IP address", key, list[i]);
      return FALSE;
    }
  }
  if (list[0] == NULL) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "[fastpath] %s: at least one address is needed", key);
    return FALSE;
  }
  g_strfreev (*out);
  *out = g_steal_pointer (&list);
  return TRUE;
}

static gboolean
read_ice_servers (GKeyFile *kf, GStrv *out, GError **error)
{
  g_auto (GStrv) list = g_key_file_get_string_list (kf, "fastpath", "ice_servers", NULL, NULL);

  g_key_file_remove_key (kf, "fastpath", "ice_servers", NULL);

  if (list == NULL)
    return TRUE;
  for (guint i = 0; list[i] != NULL; i++) {
    g_strstrip (list[i]);
    if (!g_str_has_prefix (list[i], "stun:") && !g_str_has_prefix (list[i], "turn:") && !g_str_has_prefix (list[i], "turns:")) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "[fastpath] ice_servers: “%s” is not a stun:, turn: or turns: URL", list[i]);
      return FALSE;
    }
  }
  g_strfreev (*out);
  *out = g_steal_pointer (&list);
  return TRUE;
}

gboolean
beach_config_instance_id_is_valid (const gchar *instance_id)
{
  gsize n = 0;

  if (instance_id == NULL)
    return FALSE;
  for (const gchar *p = instance_id; *p != '\0'; p++, n++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  }
  return n >= 1 && n <= 64;
}

static gboolean
check_backend (const gchar *backend, GError **error)
{
  if (g_strcmp0 (backend, "memory") == 0 || g_strcmp0 (backend, "redis") == 0)
    return TRUE;
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
               "[queue] backend = “%s”: expected memory or redis", backend);
  return FALSE;
}

static const gchar *const known_groups[] = { "http", "limits", "queue", "leases", "sessions",
                                             "auth", "events", "fastpath", "cluster", NULL };

static gboolean load_key_file (BeachConfig *c, GKeyFile *kf, const gchar *path, GError **error);

/* Loads FILE over the current values. Unknown groups and keys are an
 * error: a typo would otherwise be silently ignored. */
gboolean
beach_config_load_file (BeachConfig *c, const gchar *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local_error)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "cannot read config %s: %s", path, local_error->message);
    return FALSE;
  }
  return load_key_file (c, kf, path, error);
}

/* The same from @len bytes of key-file text; @name stands for the file in
 * error messages. */
gboolean
beach_config_load_data (BeachConfig *c, const gchar *data, gsize len, const gchar *name, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;

  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &local_error)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "cannot read config %s: %s", name, local_error->message);
    return FALSE;
  }
  return load_key_file (c, kf, name, error);
}

static gboolean
load_key_file (BeachConfig *c, GKeyFile *kf, const gchar *path, GError **error)
{
  g_auto (GStrv) groups = NULL;
  gchar **origins;

  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    if (!g_strv_contains (known_groups, groups[i])) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "%s: unknown group [%s]", path, groups[i]);
      return FALSE;
    }
  }

  read_string (kf, "http", "listen", &c->listen);
  if (c->listen == NULL)
    c->listen = g_strdup ("127.0.0.1:8080");
  read_string (kf, "http", "public_url", &c->public_url);
  origins = g_key_file_get_string_list (kf, "http", "cors_origins", NULL, NULL);
  g_key_file_remove_key (kf, "http", "cors_origins", NULL);
  if (origins != NULL) {
    g_strfreev (c->cors_origins);
    c->cors_origins = origins;
  }
  if (!read_uint (kf, "http", "request_timeout_secs", 0, 3600, &c->request_timeout_secs, error))
    return FALSE;
  if (!read_uint (kf, "limits", "body_bytes", 1024, 64 * 1024 * 1024, &c->body_bytes, error) || !read_uint (kf, "limits", "actions_per_call", 1, 10000, &c->actions_per_call, error) || !read_uint (kf, "limits", "action_payload_bytes", 16, 16 * 1024 * 1024, &c->action_payload_bytes, error) || !read_uint (kf, "limits", "max_wait_ms", 0, 3600000, &c->max_wait_ms, error) || !read_uint (kf, "limits", "max_poll", 1, 10000, &c->max_poll, error) || !read_uint (kf, "limits", "default_poll", 1, 10000, &c->default_poll, error))
    return FALSE;
  read_string (kf, "queue", "backend", &c->queue_backend);
  if (c->queue_backend == NULL)
    c->queue_backend = g_strdup ("memory");
  if (!check_backend (c->queue_backend, error))
    return FALSE;
  read_string (kf, "queue", "redis_url", &c->redis_url);
  if (!read_uint (kf, "queue", "cap", 1, 1000000, &c->queue.cap, error) || !read_uint (kf, "queue", "reclaim_ms", 10, 3600000, &c->queue.reclaim_ms, error) || !read_uint (kf, "queue", "max_deliveries", 1, 1000, &c->queue.max_deliveries, error) || !read_uint (kf, "queue", "dead_letters_kept", 1, 1000000, &c->queue.dead_letters_kept, error) || !read_uint (kf, "leases", "default_ttl_ms", 1000, 86400000, &c->lease_default_ttl_ms, error) || !read_uint (kf, "sessions", "idle_expiry_secs", 1, 365 * 86400, &c->session_idle_expiry_secs, error) || !read_uint (kf, "events", "max_backlog", 1, 1000000, &c->events_max_backlog, error) || !read_uint (kf, "events", "keepalive_secs", 1, 3600, &c->events_keepalive_secs, error))
    return FALSE;
  if (c->default_poll > c->max_poll) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "[limits] default_poll (%u) is above max_poll (%u)",
                 c->default_poll, c->max_poll);
    return FALSE;
  }
  if (!read_address_list (kf, "local_addresses", &c->fast_path.local_addresses, error) || !read_ice_servers (kf, &c->fast_path.ice_servers, error) || !read_uint (kf, "fastpath", "heartbeat_interval_ms", 50, 60000, &c->fast_path.heartbeat_interval_ms, error) || !read_uint (kf, "fastpath", "heartbeat_timeout_ms", 100, 600000, &c->fast_path.heartbeat_timeout_ms, error) || !read_uint (kf, "fastpath", "unhealthy_close_ms", 100, 3600000, &c->fast_path.unhealthy_close_ms, error) || !read_uint (kf, "fastpath", "ack_timeout_ms", 50, 600000, &c->fast_path.ack_timeout_ms, error) || !read_uint (kf, "fastpath", "candidate_timeout_ms", 100, 600000, &c->fast_path.candidate_timeout_ms, error) || !read_uint (kf, "fastpath", "max_candidates", 1, 16, &c->fast_path.max_candidates, error))
    return FALSE;
  if (c->fast_path.heartbeat_timeout_ms <= c->fast_path.heartbeat_interval_ms) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "[fastpath] heartbeat_timeout_ms (%u) must be above heartbeat_interval_ms (%u)",
                 c->fast_path.heartbeat_timeout_ms, c->fast_path.heartbeat_interval_ms);
    return FALSE;
  }
  read_string (kf, "cluster", "instance_id", &c->instance_id);
  if (c->instance_id != NULL && !beach_config_instance_id_is_valid (c->instance_id)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "[cluster] instance_id = “%s”: expected 1 to 64 letters, digits, - or _", c->instance_id);
    return FALSE;
  }
  if (!read_uint (kf, "cluster", "owner_ttl_ms", 300, 600000, &c->owner_ttl_ms, error) || !read_uint (kf, "cluster", "inbox_cap", 1, 10000000, &c->inbox_cap, error))
    return FALSE;
  read_string (kf, "auth", "operator_token", &c->operator_token);
  if (c->operator_token != NULL && strlen (c->operator_token) < 16) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "[auth] operator_token is shorter than 16 characters");
    return FALSE;
  }
  read_string (kf, "auth", "state_dir", &c->state_dir);
  if (c->state_dir == NULL)
    c->state_dir = g_build_filename (g_get_user_config_dir (), "beach-manager", NULL);

  /* Every key read above was removed from kf: what is left is unknown. */
  for (guint i = 0; groups[i] != NULL; i++) {
    g_auto (GStrv) keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);

    if (keys != NULL && keys[0] != NULL) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "%s: unknown key “%s” in [%s]", path, keys[0], groups[i]);
      return FALSE;
    }
  }
  return TRUE;
}

/* BEACH_MANAGER_TOKEN and BEACH_CORS_ORIGINS override the file. */
gboolean
beach_config_apply_environment (BeachConfig *c, GError **error)
{
  const gchar *token = g_getenv ("BEACH_MANAGER_TOKEN");
  const gchar *origins = g_getenv ("BEACH_CORS_ORIGINS");

  if (token != NULL && *token != '\0') {
    if (strlen (token) < 16) {
      g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                           "BEACH_MANAGER_TOKEN is shorter than 16 characters");
      return FALSE;
    }
    g_free (c->operator_token);
    c->operator_token = g_strdup (token);
  }
  if (origins != NULL) {
    g_auto (GStrv) parts = g_strsplit (origins, ",", -1);
    g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

    for (guint i = 0; parts[i] != NULL; i++) {
      g_strstrip (parts[i]);
      if (*parts[i] != '\0')
        g_strv_builder_add (b, parts[i]);
    }
    g_strfreev (c->cors_origins);
    c->cors_origins = g_strv_builder_end (b);
  }
  return TRUE;
}
