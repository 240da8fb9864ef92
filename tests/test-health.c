/* test-health.c: BeachHealth parse, validate, build, serialise
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "beach.h"

static void
assert_error_names (const GError *error, gint code, const gchar *field)
{
  g_autofree gchar *quoted = g_strdup_printf ("“%s”", field);

  g_assert_error (error, BEACH_ERROR, code);
  g_test_message ("  -> %s", error->message);
  g_assert_nonnull (strstr (error->message, code == BEACH_ERROR_MALFORMED ? field : quoted));
}

static void
assert_same (BeachHealth *a, BeachHealth *b)
{
  g_assert_cmpuint (beach_health_get_queue_depth (a), ==, beach_health_get_queue_depth (b));
  g_assert_cmpint (beach_health_get_degraded (a), ==, beach_health_get_degraded (b));
  g_assert_cmpint (beach_health_has_cpu_load (a), ==, beach_health_has_cpu_load (b));
  g_assert_cmpfloat (beach_health_get_cpu_load (a), ==, beach_health_get_cpu_load (b));
  g_assert_cmpint (beach_health_get_memory_bytes (a), ==, beach_health_get_memory_bytes (b));
  g_assert_true (g_strv_equal (beach_health_get_warnings (a), beach_health_get_warnings (b)));
  g_assert_cmpint (beach_health_has_fast_path (a), ==, beach_health_has_fast_path (b));
  g_assert_cmpint (beach_health_get_fast_path_state (a), ==, beach_health_get_fast_path_state (b));
  g_assert_cmpuint (beach_health_get_fast_path_attempts (a), ==, beach_health_get_fast_path_attempts (b));
  g_assert_cmpstr (beach_health_get_fast_path_last_error (a), ==, beach_health_get_fast_path_last_error (b));
}

static void
assert_round_trips (BeachHealth *a)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *text = beach_health_to_string (a);
  g_autoptr (BeachHealth) b = beach_health_new_from_string (text, &error);
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (BeachHealth) c = NULL;
  g_autofree gchar *text2 = NULL;

  g_assert_no_error (error);
  assert_same (a, b);
  text2 = beach_health_to_string (b);
  g_assert_cmpstr (text, ==, text2);
  node = beach_health_to_json (b);
  c = beach_health_new_from_json (node, &error);
  g_assert_no_error (error);
  assert_same (a, c);
}

static void
test_health_round_trip (void)
{
  static const gchar *const inputs[] = {
    "{\"queue_depth\":0,\"degraded\":false,\"warnings\":[]}",
    "{\"queue_depth\":12,\"cpu_load\":0.75,\"memory_bytes\":104857600,\"degraded\":true,"
    "\"warnings\":[\"disk \\u00e9\\u2603\",\"\"],\"fast_path\":{\"state\":\"unhealthy\",\"attempts\":3,\"last_error\":\"ice failed\"}}",
    "{\"queue_depth\":1,\"cpu_load\":2,\"degraded\":false,\"warnings\":[\"a\"],\"fast_path\":{\"state\":\"healthy\",\"attempts\":0}}",
    "{\"queue_depth\":9223372036854775807,\"degraded\":false,\"warnings\":[],\"fast_path\":{\"state\":\"disabled\",\"attempts\":0},\"x\":1}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachHealth) a = beach_health_new_from_string (inputs[i], &error);

    g_test_message ("case %u: %s", i, inputs[i]);
    g_assert_no_error (error);
    assert_round_trips (a);
  }
}

static void
test_health_fields (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachHealth) h = beach_health_new_from_string (
    "{\"queue_depth\":12,\"cpu_load\":2,\"memory_bytes\":1024,\"degraded\":true,"
    "\"warnings\":[\"one\",\"two\"],\"fast_path\":{\"state\":\"connecting\",\"attempts\":4,\"last_error\":\"timeout\"}}",
    &error);
  const gchar *const *warnings;

  g_assert_no_error (error);
  g_assert_cmpuint (beach_health_get_queue_depth (h), ==, 12);
  g_assert_true (beach_health_has_cpu_load (h));
  /* an integer cpu_load is accepted as a number */
  g_assert_cmpfloat (beach_health_get_cpu_load (h), ==, 2.0);
  g_assert_cmpint (beach_health_get_memory_bytes (h), ==, 1024);
  g_assert_true (beach_health_get_degraded (h));
  warnings = beach_health_get_warnings (h);
  g_assert_cmpuint (g_strv_length ((GStrv) warnings), ==, 2);
  g_assert_cmpstr (warnings[0], ==, "one");
  g_assert_cmpstr (warnings[1], ==, "two");
  g_assert_true (beach_health_has_fast_path (h));
  g_assert_cmpint (beach_health_get_fast_path_state (h), ==, BEACH_LINK_HEALTH_CONNECTING);
  g_assert_cmpuint (beach_health_get_fast_path_attempts (h), ==, 4);
  g_assert_cmpstr (beach_health_get_fast_path_last_error (h), ==, "timeout");
}

static void
test_health_null_as_absent (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachHealth) h = beach_health_new_from_string (
    "{\"queue_depth\":0,\"cpu_load\":null,\"memory_bytes\":null,\"degraded\":false,\"warnings\":[],\"fast_path\":null}",
    &error);
  g_autoptr (BeachHealth) fp = NULL;
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_false (beach_health_has_cpu_load (h));
  g_assert_cmpint (beach_health_get_memory_bytes (h), ==, -1);
  g_assert_false (beach_health_has_fast_path (h));
  g_assert_cmpint (beach_health_get_fast_path_state (h), ==, BEACH_LINK_HEALTH_DISABLED);
  g_assert_null (beach_health_get_fast_path_last_error (h));
  g_assert_nonnull (beach_health_get_warnings (h));
  g_assert_null (beach_health_get_warnings (h)[0]);
  text = beach_health_to_string (h);
  g_assert_cmpstr (text, ==, "{\"queue_depth\":0,\"degraded\":false,\"warnings\":[]}");

  fp = beach_health_new_from_string (
    "{\"queue_depth\":0,\"degraded\":false,\"warnings\":[],\"fast_path\":{\"state\":\"closed\",\"attempts\":1,\"last_error\":null}}",
    &error);
  g_assert_no_error (error);
  g_assert_true (beach_health_has_fast_path (fp));
  g_assert_null (beach_health_get_fast_path_last_error (fp));
}

static void
test_health_builder (void)
{
  g_autoptr (BeachHealth) h = beach_health_new (3, TRUE);
  g_autofree gchar *text = NULL;

  g_assert_false (beach_health_has_cpu_load (h));
  g_assert_cmpint (beach_health_get_memory_bytes (h), ==, -1);
  g_assert_false (beach_health_has_fast_path (h));
  assert_round_trips (h);

  beach_health_set_cpu_load (h, 0.5);
  beach_health_set_memory_bytes (h, 2048);
  g_assert_true (beach_health_add_warning (h, "low disk"));
  g_assert_true (beach_health_add_warning (h, "slow"));
  beach_health_set_fast_path (h, BEACH_LINK_HEALTH_HEALTHY, 2, "earlier failure");
  text = beach_health_to_string (h);
  g_assert_cmpstr (text, ==,
                   "{\"queue_depth\":3,\"cpu_load\":0.5,\"memory_bytes\":2048,\"degraded\":true,"
                   "\"warnings\":[\"low disk\",\"slow\"],"
                   "\"fast_path\":{\"state\":\"healthy\",\"attempts\":2,\"last_error\":\"earlier failure\"}}");
  assert_round_trips (h);

  /* replacing and clearing */
  beach_health_set_fast_path (h, BEACH_LINK_HEALTH_CLOSED, 3, NULL);
  g_assert_null (beach_health_get_fast_path_last_error (h));
  beach_health_set_cpu_load (h, -1);
  beach_health_set_memory_bytes (h, -1);
  g_assert_false (beach_health_has_cpu_load (h));
  g_assert_cmpint (beach_health_get_memory_bytes (h), ==, -1);
  assert_round_trips (h);
}

static void
test_health_builder_limits (void)
{
  g_autoptr (BeachHealth) h = beach_health_new (0, FALSE);
  g_autoptr (GString) long_warning = g_string_new (NULL);
  g_autoptr (GString) long_error = g_string_new (NULL);
  const gchar *const *warnings;

  /* 3-byte characters, so the cut falls inside one */
  for (guint i = 0; i < 400; i++)
    g_string_append (long_warning, "\u2603");
  for (guint i = 0; i < 1400; i++)
    g_string_append (long_error, "\u2603");

  g_assert_true (beach_health_add_warning (h, long_warning->str));
  for (guint i = 1; i < BEACH_HEALTH_WARNINGS_MAX; i++)
    g_assert_true (beach_health_add_warning (h, "w"));
  g_assert_false (beach_health_add_warning (h, "one too many"));
  warnings = beach_health_get_warnings (h);
  g_assert_cmpuint (g_strv_length ((GStrv) warnings), ==, BEACH_HEALTH_WARNINGS_MAX);
  g_assert_cmpuint (strlen (warnings[0]), ==, 1023);
  g_assert_true (g_utf8_validate (warnings[0], -1, NULL));

  beach_health_set_fast_path (h, BEACH_LINK_HEALTH_UNHEALTHY, 1, long_error->str);
  g_assert_cmpuint (strlen (beach_health_get_fast_path_last_error (h)), <=, BEACH_HEALTH_LAST_ERROR_MAX_LEN);
  g_assert_true (g_utf8_validate (beach_health_get_fast_path_last_error (h), -1, NULL));

  /* what the builder makes always parses back */
  assert_round_trips (h);
}

typedef struct {
  const gchar *json;
  gint code;
  const gchar *field;
} BadCase;

#define QD "\"queue_depth\":1"
#define DG "\"degraded\":false"
#define WN "\"warnings\":[]"
#define OK QD "," DG "," WN

static const BadCase bad_healths[] = {
  { "", BEACH_ERROR_MALFORMED, "JSON" },
  { "{\"queue_depth\":}", BEACH_ERROR_MALFORMED, "JSON" },
  { "[]", BEACH_ERROR_MALFORMED, "object" },
  { "true", BEACH_ERROR_MALFORMED, "object" },
  { "{" DG "," WN "}", BEACH_ERROR_MISSING_FIELD, "queue_depth" },
  { "{\"queue_depth\":null," DG "," WN "}", BEACH_ERROR_MISSING_FIELD, "queue_depth" },
  { "{\"queue_depth\":-1," DG "," WN "}", BEACH_ERROR_INVALID_FIELD, "queue_depth" },
  { "{\"queue_depth\":1.5," DG "," WN "}", BEACH_ERROR_INVALID_FIELD, "queue_depth" },
  { "{\"queue_depth\":\"3\"," DG "," WN "}", BEACH_ERROR_INVALID_FIELD, "queue_depth" },
  { "{" OK ",\"cpu_load\":-0.5}", BEACH_ERROR_INVALID_FIELD, "cpu_load" },
  { "{" OK ",\"cpu_load\":\"high\"}", BEACH_ERROR_INVALID_FIELD, "cpu_load" },
  { "{" OK ",\"memory_bytes\":-1}", BEACH_ERROR_INVALID_FIELD, "memory_bytes" },
  { "{" OK ",\"memory_bytes\":1.5}", BEACH_ERROR_INVALID_FIELD, "memory_bytes" },
  { "{" QD "," WN "}", BEACH_ERROR_MISSING_FIELD, "degraded" },
  { "{" QD ",\"degraded\":null," WN "}", BEACH_ERROR_MISSING_FIELD, "degraded" },
  { "{" QD ",\"degraded\":\"yes\"," WN "}", BEACH_ERROR_INVALID_FIELD, "degraded" },
  { "{" QD ",\"degraded\":1," WN "}", BEACH_ERROR_INVALID_FIELD, "degraded" },
  { "{" QD "," DG "}", BEACH_ERROR_MISSING_FIELD, "warnings" },
  { "{" QD "," DG ",\"warnings\":null}", BEACH_ERROR_MISSING_FIELD, "warnings" },
  { "{" QD "," DG ",\"warnings\":\"disk\"}", BEACH_ERROR_INVALID_FIELD, "warnings" },
  { "{" QD "," DG ",\"warnings\":[1]}", BEACH_ERROR_INVALID_FIELD, "warnings[0]" },
  { "{" QD "," DG ",\"warnings\":[\"a\",\"b\",null]}", BEACH_ERROR_INVALID_FIELD, "warnings[2]" },
  { "{" OK ",\"fast_path\":\"healthy\"}", BEACH_ERROR_INVALID_FIELD, "fast_path" },
  { "{" OK ",\"fast_path\":{\"attempts\":1}}", BEACH_ERROR_MISSING_FIELD, "fast_path.state" },
  { "{" OK ",\"fast_path\":{\"state\":\"up\",\"attempts\":1}}", BEACH_ERROR_INVALID_FIELD, "fast_path.state" },
  { "{" OK ",\"fast_path\":{\"state\":1,\"attempts\":1}}", BEACH_ERROR_INVALID_FIELD, "fast_path.state" },
  { "{" OK ",\"fast_path\":{\"state\":\"healthy\"}}", BEACH_ERROR_MISSING_FIELD, "fast_path.attempts" },
  { "{" OK ",\"fast_path\":{\"state\":\"healthy\",\"attempts\":-1}}", BEACH_ERROR_INVALID_FIELD, "fast_path.attempts" },
  { "{" OK ",\"fast_path\":{\"state\":\"healthy\",\"attempts\":\"2\"}}", BEACH_ERROR_INVALID_FIELD, "fast_path.attempts" },
  { "{" OK ",\"fast_path\":{\"state\":\"healthy\",\"attempts\":1,\"last_error\":5}}", BEACH_ERROR_INVALID_FIELD, "fast_path.last_error" },
};

static void
check_bad (const gchar *json, gint code, const gchar *field)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachHealth) h = beach_health_new_from_string (json, &error);

  g_assert_null (h);
  assert_error_names (error, code, field);
}

static void
test_health_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_healths); i++) {
    g_test_message ("case %u: %s", i, bad_healths[i].json);
    check_bad (bad_healths[i].json, bad_healths[i].code, bad_healths[i].field);
  }
}

static void
test_health_limits (void)
{
  g_autoptr (GString) many = g_string_new ("{" QD "," DG ",\"warnings\":[");
  g_autoptr (GString) max = NULL;
  g_autofree gchar *long_warning = g_strnfill (BEACH_HEALTH_WARNING_MAX_LEN + 1, 'w');
  g_autofree gchar *long_error = g_strnfill (BEACH_HEALTH_LAST_ERROR_MAX_LEN + 1, 'e');
  g_autofree gchar *json = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachHealth) ok = NULL;

  for (guint i = 0; i < BEACH_HEALTH_WARNINGS_MAX; i++)
    g_string_append_printf (many, "%s\"w%u\"", i > 0 ? "," : "", i);
  max = g_string_new (many->str);
  g_string_append (max, "]}");
  ok = beach_health_new_from_string (max->str, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length ((GStrv) beach_health_get_warnings (ok)), ==, BEACH_HEALTH_WARNINGS_MAX);

  g_string_append (many, ",\"w64\"]}");
  check_bad (many->str, BEACH_ERROR_INVALID_FIELD, "warnings");

  json = g_strdup_printf ("{" QD "," DG ",\"warnings\":[\"ok\",\"%s\"]}", long_warning);
  check_bad (json, BEACH_ERROR_INVALID_FIELD, "warnings[1]");
  g_free (json);

  json = g_strdup_printf ("{" OK ",\"fast_path\":{\"state\":\"healthy\",\"attempts\":1,\"last_error\":\"%s\"}}", long_error);
  check_bad (json, BEACH_ERROR_INVALID_FIELD, "fast_path.last_error");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/health/round-trip", test_health_round_trip);
  g_test_add_func ("/health/fields", test_health_fields);
  g_test_add_func ("/health/null-as-absent", test_health_null_as_absent);
  g_test_add_func ("/health/builder", test_health_builder);
  g_test_add_func ("/health/builder-limits", test_health_builder_limits);
  g_test_add_func ("/health/malformed", test_health_malformed);
  g_test_add_func ("/health/limits", test_health_limits);
  return g_test_run ();
}
