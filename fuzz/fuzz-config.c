/* fuzz-config.c: the daemon's config file, from key-file text
 *
 * A file that loads leaves a config that satisfies every documented
 * bound; the addresses it names (listen, redis_url) go through their own
 * parsers too.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-common.h"

#include "beach-config.h"
#include "beach-manager-util.h"
#ifdef BEACH_REDIS_BACKEND
#include "beach-redis-client.h"
#endif

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (BeachConfig) c = beach_config_new_defaults ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) addr = NULL;

  fuzz_init ();
  if (!beach_config_load_data (c, (const gchar *) data, size, "fuzz.conf", &error)) {
    FUZZ_ASSERT_REFUSAL (error);
    return 0;
  }
  g_assert_no_error (error);
  g_assert (c->listen != NULL && c->state_dir != NULL);
  g_assert (g_strcmp0 (c->queue_backend, "memory") == 0 || g_strcmp0 (c->queue_backend, "redis") == 0);
  g_assert_cmpuint (c->default_poll, <=, c->max_poll);
  g_assert_cmpuint (c->max_poll, >=, 1);
  g_assert_cmpuint (c->actions_per_call, >=, 1);
  g_assert_cmpuint (c->body_bytes, >=, 1024);
  g_assert_cmpuint (c->fast_path.heartbeat_timeout_ms, >, c->fast_path.heartbeat_interval_ms);
  g_assert_cmpuint (c->fast_path.max_candidates, >=, 1);
  g_assert_cmpuint (c->fast_path.max_candidates, <=, 16);
  g_assert (c->fast_path.local_addresses == NULL || c->fast_path.local_addresses[0] != NULL);

  addr = beach_parse_listen_address (c->listen, &error);
  if (addr == NULL) {
    FUZZ_ASSERT_REFUSAL (error);
    g_clear_error (&error);
  }
#ifdef BEACH_REDIS_BACKEND
  if (c->redis_url != NULL) {
    g_autoptr (BeachRedisClient) client = beach_redis_client_new (c->redis_url, NULL, &error);

    if (client == NULL)
      FUZZ_ASSERT_REFUSAL (error);
  }
#endif
  return 0;
}
