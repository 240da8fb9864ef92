/* test-error.c: the BeachError table
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gio.h>

#include "beach.h"

static void
test_error_http_status (void)
{
  static const struct {
    BeachError code;
    guint status;
    const gchar *kind;
    const gchar *error_code;
  } cases[] = {
    { BEACH_ERROR_FAILED, 500, "internal_error", NULL },
    { BEACH_ERROR_INVALID_FIELD, 400, "bad_request", "invalid_field" },
    { BEACH_ERROR_MISSING_FIELD, 400, "bad_request", "missing_field" },
    { BEACH_ERROR_MALFORMED, 400, "bad_request", "malformed" },
    { BEACH_ERROR_UNAUTHORIZED, 401, "unauthorized", NULL },
    { BEACH_ERROR_FORBIDDEN, 403, "forbidden", NULL },
    { BEACH_ERROR_NOT_FOUND, 404, "not_found", NULL },
    { BEACH_ERROR_METHOD_NOT_ALLOWED, 405, "method_not_allowed", NULL },
    { BEACH_ERROR_CONFLICT, 409, "conflict", NULL },
    { BEACH_ERROR_MISSING_LEASE, 409, "conflict", "missing_lease" },
    { BEACH_ERROR_HTTP_FALLBACK_MODE, 409, "conflict", "http_fallback_mode" },
    { BEACH_ERROR_FAST_PATH_NOT_READY, 412, "precondition_failed", "fast_path_not_ready" },
    { BEACH_ERROR_PAYLOAD_TOO_LARGE, 413, "payload_too_large", NULL },
    { BEACH_ERROR_TOO_MANY_REQUESTS, 429, "too_many_requests", NULL },
    { BEACH_ERROR_QUEUE_FULL, 429, "too_many_requests", "queue_full" },
    { BEACH_ERROR_UNAVAILABLE, 503, "unavailable", NULL },
  };

  g_assert_cmpuint (G_N_ELEMENTS (cases), ==, BEACH_ERROR_N_CODES);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_assert_cmpuint (beach_error_to_http_status (cases[i].code), ==, cases[i].status);
    g_assert_cmpstr (beach_error_to_kind (cases[i].code), ==, cases[i].kind);
    g_assert_cmpstr (beach_error_to_error_code (cases[i].code), ==, cases[i].error_code);
    /* the envelope maps back to the same code: each code without an
     * error_code is the first of its kind in the table */
    g_assert_cmpint (beach_error_from_kind (cases[i].kind, cases[i].error_code), ==, cases[i].code);
  }
  g_assert_cmpint (beach_error_from_kind ("no_such_kind", NULL), ==, BEACH_ERROR_FAILED);
  g_assert_cmpint (beach_error_from_kind ("conflict", NULL), ==, BEACH_ERROR_CONFLICT);
  g_assert_cmpint (beach_error_from_kind ("conflict", "missing_lease"), ==, BEACH_ERROR_MISSING_LEASE);
  /* out-of-range codes degrade to internal_error, never crash */
  g_assert_cmpuint (beach_error_to_http_status ((BeachError) 9999), ==, 500);
}

static void
test_error_dbus_names (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (gint code = 0; code < BEACH_ERROR_N_CODES; code++) {
    const gchar *name = beach_error_to_dbus_name ((BeachError) code);
    g_autoptr (GError) error = g_error_new_literal (BEACH_ERROR, code, "boom");
    g_autofree gchar *remote = NULL;
    g_autoptr (GError) back = NULL;

    g_assert_true (g_dbus_is_interface_name (name));
    g_assert_true (g_str_has_prefix (name, "sh.beach.Manager1.Error."));
    g_assert_false (g_hash_table_contains (seen, name));
    g_hash_table_add (seen, (gpointer) name);

    /* registered with GDBus: an error crossing the bus keeps domain and code */
    remote = g_dbus_error_encode_gerror (error);
    g_assert_cmpstr (remote, ==, name);
    back = g_dbus_error_new_for_dbus_error (name, "boom");
    g_assert_error (back, BEACH_ERROR, code);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/http-status", test_error_http_status);
  g_test_add_func ("/error/dbus-names", test_error_dbus_names);
  return g_test_run ();
}
