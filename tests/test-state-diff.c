/* test-state-diff.c: BeachStateDiff parse, validate, serialise
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
assert_same (BeachStateDiff *a, BeachStateDiff *b)
{
  g_assert_cmpuint (beach_state_diff_get_sequence (a), ==, beach_state_diff_get_sequence (b));
  g_assert_cmpint (beach_state_diff_get_emitted_at_ms (a), ==, beach_state_diff_get_emitted_at_ms (b));
  g_assert_true (json_node_equal (beach_state_diff_get_payload (a), beach_state_diff_get_payload (b)));
  g_assert_cmpuint (beach_state_diff_get_payload_size (a), ==, beach_state_diff_get_payload_size (b));
}

static void
test_diff_round_trip (void)
{
  static const gchar *const inputs[] = {
    "{\"sequence\":0,\"emitted_at\":1700000000123,\"payload\":{\"rows\":[\"a\",\"b\"],\"cursor\":{\"x\":1,\"y\":2}}}",
    "{\"sequence\":9223372036854775807,\"emitted_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":1000000},"
    "\"payload\":[1,\"two\",null,true,{\"k\":[]}]}",
    "{\"sequence\":7,\"emitted_at\":0,\"payload\":\"\\u00e9\\u2603\"}",
    "{\"sequence\":8,\"emitted_at\":0,\"payload\":false}",
    "{\"sequence\":9,\"emitted_at\":0,\"payload\":-12,\"unknown\":\"ignored\"}",
    "{\"sequence\":10,\"emitted_at\":0,\"payload\":{}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachStateDiff) a = beach_state_diff_new_from_string (inputs[i], &error);
    g_autoptr (BeachStateDiff) b = NULL;
    g_autoptr (BeachStateDiff) c = NULL;
    g_autoptr (JsonNode) node = NULL;
    g_autofree gchar *text = NULL;
    g_autofree gchar *text2 = NULL;

    g_test_message ("case %u: %s", i, inputs[i]);
    g_assert_no_error (error);
    text = beach_state_diff_to_string (a);
    g_assert_cmpuint (beach_state_diff_get_payload_size (a), ==, strlen (text));
    b = beach_state_diff_new_from_string (text, &error);
    g_assert_no_error (error);
    assert_same (a, b);
    text2 = beach_state_diff_to_string (b);
    g_assert_cmpstr (text, ==, text2);
    g_assert_null (strstr (text, "unknown"));

    node = beach_state_diff_to_json (b);
    c = beach_state_diff_new_from_json (node, &error);
    g_assert_no_error (error);
    assert_same (a, c);
  }
}

static void
test_diff_timestamps (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachStateDiff) ms = beach_state_diff_new_from_string (
    "{\"sequence\":1,\"emitted_at\":1700000000042,\"payload\":1}", &error);
  g_autoptr (BeachStateDiff) st = NULL;
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (beach_state_diff_get_emitted_at_ms (ms), ==, G_GINT64_CONSTANT (1700000000042));
  text = beach_state_diff_to_string (ms);
  g_assert_cmpstr (text, ==,
                   "{\"sequence\":1,\"emitted_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":42000000},\"payload\":1}");

  st = beach_state_diff_new_from_string (
    "{\"sequence\":1,\"emitted_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":42123456},\"payload\":1}",
    &error);
  g_assert_no_error (error);
  g_assert_cmpint (beach_state_diff_get_emitted_at_ms (st), ==, G_GINT64_CONSTANT (1700000000042));
}

static void
test_diff_constructor (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) payload = json_from_string ("{\"screen\":[\"$ ls\"]}", &error);
  g_autoptr (JsonNode) null_node = json_node_new (JSON_NODE_NULL);
  g_autoptr (BeachStateDiff) diff = NULL;
  g_autoptr (BeachStateDiff) bad = NULL;
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  diff = beach_state_diff_new (42, 1700000000000, payload, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (beach_state_diff_get_sequence (diff), ==, 42);
  g_assert_cmpint (beach_state_diff_get_emitted_at_ms (diff), ==, G_GINT64_CONSTANT (1700000000000));
  g_assert_true (json_node_equal (beach_state_diff_get_payload (diff), payload));
  /* the payload is a copy: changing the caller's node changes nothing */
  g_assert_true (beach_state_diff_get_payload (diff) != payload);
  json_object_set_int_member (json_node_get_object (payload), "more", 1);
  g_assert_false (json_node_equal (beach_state_diff_get_payload (diff), payload));
  text = beach_state_diff_to_string (diff);
  g_assert_cmpstr (text, ==,
                   "{\"sequence\":42,\"emitted_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":0},"
                   "\"payload\":{\"screen\":[\"$ ls\"]}}");
  g_assert_cmpuint (beach_state_diff_get_payload_size (diff), ==, strlen (text));

  bad = beach_state_diff_new (1, 0, NULL, &error);
  g_assert_null (bad);
  assert_error_names (error, BEACH_ERROR_MISSING_FIELD, "payload");
  g_clear_error (&error);

  bad = beach_state_diff_new (1, 0, null_node, &error);
  g_assert_null (bad);
  assert_error_names (error, BEACH_ERROR_MISSING_FIELD, "payload");
  g_clear_error (&error);

  bad = beach_state_diff_new (G_MAXUINT64, 0, payload, &error);
  g_assert_null (bad);
  assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "sequence");
  g_clear_error (&error);

  bad = beach_state_diff_new (1, -1, payload, &error);
  g_assert_null (bad);
  assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "emitted_at");
}

static void
test_diff_size (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *big = g_strnfill (20000, 'x');
  g_autoptr (JsonNode) payload = json_node_new (JSON_NODE_VALUE);
  g_autoptr (BeachStateDiff) diff = NULL;
  g_autofree gchar *text = NULL;

  json_node_set_string (payload, big);
  diff = beach_state_diff_new (1, 0, payload, &error);
  g_assert_no_error (error);
  text = beach_state_diff_to_string (diff);
  g_assert_cmpuint (beach_state_diff_get_payload_size (diff), ==, strlen (text));
  g_assert_cmpuint (beach_state_diff_get_payload_size (diff), >, 20000);
}

typedef struct {
  const gchar *json;
  gint code;
  const gchar *field;
} BadCase;

static const BadCase bad_diffs[] = {
  { "", BEACH_ERROR_MALFORMED, "JSON" },
  { "{\"sequence\":1,", BEACH_ERROR_MALFORMED, "JSON" },
  { "[1]", BEACH_ERROR_MALFORMED, "object" },
  { "\"diff\"", BEACH_ERROR_MALFORMED, "object" },
  { "null", BEACH_ERROR_MALFORMED, "object" },
  { "{\"emitted_at\":1,\"payload\":{}}", BEACH_ERROR_MISSING_FIELD, "sequence" },
  { "{\"sequence\":null,\"emitted_at\":1,\"payload\":{}}", BEACH_ERROR_MISSING_FIELD, "sequence" },
  { "{\"sequence\":-1,\"emitted_at\":1,\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "sequence" },
  { "{\"sequence\":1.5,\"emitted_at\":1,\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "sequence" },
  { "{\"sequence\":\"1\",\"emitted_at\":1,\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "sequence" },
  { "{\"sequence\":true,\"emitted_at\":1,\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "sequence" },
  { "{\"sequence\":1,\"payload\":{}}", BEACH_ERROR_MISSING_FIELD, "emitted_at" },
  { "{\"sequence\":1,\"emitted_at\":null,\"payload\":{}}", BEACH_ERROR_MISSING_FIELD, "emitted_at" },
  { "{\"sequence\":1,\"emitted_at\":\"now\",\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "emitted_at" },
  { "{\"sequence\":1,\"emitted_at\":-2,\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "emitted_at" },
  { "{\"sequence\":1,\"emitted_at\":[1],\"payload\":{}}", BEACH_ERROR_INVALID_FIELD, "emitted_at" },
  { "{\"sequence\":1,\"emitted_at\":{\"secs_since_epoch\":1,\"nanos_since_epoch\":1000000000},\"payload\":{}}",
    BEACH_ERROR_INVALID_FIELD, "emitted_at.nanos_since_epoch" },
  { "{\"sequence\":1,\"emitted_at\":{\"nanos_since_epoch\":0},\"payload\":{}}",
    BEACH_ERROR_MISSING_FIELD, "emitted_at.secs_since_epoch" },
  { "{\"sequence\":1,\"emitted_at\":1}", BEACH_ERROR_MISSING_FIELD, "payload" },
  { "{\"sequence\":1,\"emitted_at\":1,\"payload\":null}", BEACH_ERROR_MISSING_FIELD, "payload" },
};

static void
test_diff_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_diffs); i++) {
    const BadCase *c = &bad_diffs[i];
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachStateDiff) diff = beach_state_diff_new_from_string (c->json, &error);

    g_test_message ("case %u: %s", i, c->json);
    g_assert_null (diff);
    assert_error_names (error, c->code, c->field);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/state-diff/round-trip", test_diff_round_trip);
  g_test_add_func ("/state-diff/timestamps", test_diff_timestamps);
  g_test_add_func ("/state-diff/constructor", test_diff_constructor);
  g_test_add_func ("/state-diff/size", test_diff_size);
  g_test_add_func ("/state-diff/malformed", test_diff_malformed);
  return g_test_run ();
}
