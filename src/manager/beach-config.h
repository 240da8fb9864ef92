/* beach-config.h: the daemon's settings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "beach-fallback-queue.h"

G_BEGIN_DECLS

typedef struct {
  /* [http] */
  gchar *listen;
  gchar *public_url; /* NULL: http:// + the listen address */
  GStrv cors_origins;
  guint request_timeout_secs; /* to send a whole request; 0: no limit */
  /* [limits] */
  guint body_bytes;
  guint actions_per_call;
  guint action_payload_bytes;
  guint max_wait_ms;
  guint max_poll;
  guint default_poll;
  /* [queue] */
  gchar *queue_backend; /* "memory" | "redis" */
  gchar *redis_url;
  BeachQueueConfig queue;
  /* [leases] */
  guint lease_default_ttl_ms;
  /* [sessions] */
  guint session_idle_expiry_secs;
  /* [auth] */
  gchar *operator_token; /* NULL: BEACH_MANAGER_TOKEN, else the stored one */
  gchar *state_dir;      /* where operator-token and session-secret live */
  /* [fastpath] */
  struct {
    GStrv local_addresses;
    GStrv ice_servers;
    guint heartbeat_interval_ms;
    guint heartbeat_timeout_ms;
    guint unhealthy_close_ms;
    guint ack_timeout_ms;
    guint candidate_timeout_ms;
    guint max_candidates;
  } fast_path;
  /* [events] */
  guint events_max_backlog;
  guint events_keepalive_secs;
  /* [cluster] (Redis only) */
  gchar *instance_id; /* NULL: a random one per start */
  guint owner_ttl_ms;
  guint inbox_cap;
} BeachConfig;

/* A manager instance id: 1 to 64 of [A-Za-z0-9_-]. */
gboolean beach_config_instance_id_is_valid (const gchar *instance_id);

BeachConfig *beach_config_new_defaults (void);
gboolean beach_config_load_file (BeachConfig *config,
                                 const gchar *path,
                                 GError **error);
gboolean beach_config_load_data (BeachConfig *config,
                                 const gchar *data,
                                 gsize len,
                                 const gchar *name,
                                 GError **error);
gboolean beach_config_apply_environment (BeachConfig *config,
                                         GError **error);
void beach_config_free (BeachConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachConfig, beach_config_free)

G_END_DECLS
