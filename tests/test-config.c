/* test-config.c: the config file and its defaults
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>

#include "beach-config.h"

/* data/beach-manager.conf shows every default; loading it must change
 * nothing, so the file and the code cannot drift apart. */
static void
test_config_example_is_defaults (void)
{
  g_autofree gchar *path = g_test_build_filename (G_TEST_DIST, "..", "data", "beach-manager.conf", NULL);
  g_autoptr (BeachConfig) d = beach_config_new_defaults ();
  g_autoptr (BeachConfig) c = beach_config_new_defaults ();
  g_autoptr (GError) error = NULL;

  g_assert_true (beach_config_load_file (c, path, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c->listen, ==, d->listen);
  g_assert_null (c->public_url);
  g_assert_cmpuint (g_strv_length (c->cors_origins), ==, 0);
  g_assert_cmpuint (c->request_timeout_secs, ==, d->request_timeout_secs);
  g_assert_cmpuint (c->request_timeout_secs, ==, 30);
  g_assert_cmpuint (c->body_bytes, ==, d->body_bytes);
  g_assert_cmpuint (c->body_bytes, ==, 1024 * 1024);
  g_assert_cmpuint (c->actions_per_call, ==, 256);
  g_assert_cmpuint (c->action_payload_bytes, ==, 65536);
  g_assert_cmpuint (c->max_wait_ms, ==, 30000);
  g_assert_cmpuint (c->max_poll, ==, 256);
  g_assert_cmpuint (c->default_poll, ==, 64);
  g_assert_cmpstr (c->queue_backend, ==, "memory");
  g_assert_null (c->redis_url);
  g_assert_cmpuint (c->queue.cap, ==, d->queue.cap);
  g_assert_cmpuint (c->queue.cap, ==, 500);
  g_assert_cmpuint (c->queue.reclaim_ms, ==, 5000);
  g_assert_cmpuint (c->queue.max_deliveries, ==, 5);
  g_assert_cmpuint (c->queue.dead_letters_kept, ==, 10000);
  g_assert_cmpuint (c->lease_default_ttl_ms, ==, 30000);
  g_assert_cmpuint (c->session_idle_expiry_secs, ==, 86400);
  g_assert_null (c->operator_token);
  g_assert_cmpstr (c->state_dir, ==, d->state_dir);
  g_assert_cmpuint (g_strv_length (c->fast_path.local_addresses), ==, 1);
  g_assert_cmpstr (c->fast_path.local_addresses[0], ==, "127.0.0.1");
  g_assert_cmpuint (g_strv_length (c->fast_path.ice_servers), ==, 0);
  g_assert_cmpuint (c->fast_path.heartbeat_interval_ms, ==, 500);
  g_assert_cmpuint (c->fast_path.heartbeat_timeout_ms, ==, 1500);
  g_assert_cmpuint (c->fast_path.unhealthy_close_ms, ==, 10000);
  g_assert_cmpuint (c->fast_path.ack_timeout_ms, ==, 2000);
  g_assert_cmpuint (c->fast_path.candidate_timeout_ms, ==, 10000);
  g_assert_cmpuint (c->fast_path.max_candidates, ==, 2);
  g_assert_cmpuint (c->events_max_backlog, ==, 1000);
  g_assert_cmpuint (c->events_keepalive_secs, ==, 15);
}

static void
test_config_rejects (void)
{
  static const struct {
    const gchar *text;
    const gchar *needle;
  } cases[] = {
    { "[queue]\ncap=0\n", "[queue] cap" },
    { "[queue]\ncap=many\n", "[queue] cap" },
    { "[queue]\ncap=-1\n", "[queue] cap" },
    { "[queue]\nbackend=postgres\n", "backend" },
    { "[limits]\nmax_poll=10\ndefault_poll=20\n", "default_poll" },
    { "[leases]\ndefault_ttl_ms=10\n", "default_ttl_ms" },
    { "[bogus]\nx=1\n", "[bogus]" },
    { "[fastpath]\nheartbeat_timout_ms=1000\n", "unknown key “heartbeat_timout_ms” in [fastpath]" },
    { "[http]\nlisten=127.0.0.1:0\n[auth]\noperator_token=short\n", "[auth] operator_token" },
    { "not a key file", "config" },
    { "[fastpath]\nlocal_addresses=localhost\n", "local_addresses" },
    { "[fastpath]\nice_servers=http://x\n", "ice_servers" },
    { "[fastpath]\nheartbeat_interval_ms=2000\nheartbeat_timeout_ms=1000\n", "heartbeat_timeout_ms" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *path = NULL;
    g_autoptr (BeachConfig) c = beach_config_new_defaults ();
    g_autoptr (GError) error = NULL;
    gint fd = g_file_open_tmp ("beach-config-XXXXXX.conf", &path, NULL);

    g_assert_cmpint (fd, >=, 0);
    g_assert_true (g_file_set_contents (path, cases[i].text, -1, NULL));
    g_assert_false (beach_config_load_file (c, path, &error));
    g_assert_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD);
    g_test_message ("%s -> %s", cases[i].text, error->message);
    g_assert_nonnull (strstr (error->message, cases[i].needle));
    g_close (fd, NULL);
    g_unlink (path);
  }
}

static void
test_config_environment (void)
{
  g_autoptr (BeachConfig) c = beach_config_new_defaults ();
  g_autoptr (GError) error = NULL;

  g_setenv ("BEACH_CORS_ORIGINS", " https://a.example , ,https://b.example", TRUE);
  g_setenv ("BEACH_MANAGER_TOKEN", "short", TRUE);
  g_assert_false (beach_config_apply_environment (c, &error));
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD);
  g_clear_error (&error);
  g_setenv ("BEACH_MANAGER_TOKEN", "0123456789abcdef0123", TRUE);
  g_assert_true (beach_config_apply_environment (c, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c->operator_token, ==, "0123456789abcdef0123");
  g_assert_cmpuint (g_strv_length (c->cors_origins), ==, 2);
  g_assert_cmpstr (c->cors_origins[0], ==, "https://a.example");
  g_assert_cmpstr (c->cors_origins[1], ==, "https://b.example");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/example-is-defaults", test_config_example_is_defaults);
  g_test_add_func ("/config/rejects", test_config_rejects);
  g_test_add_func ("/config/environment", test_config_environment);
  return g_test_run ();
}
