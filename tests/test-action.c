/* test-action.c: BeachAction parse, validate, serialise
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "beach.h"

static void
test_action_round_trip (void)
{
  static const gchar *const inputs[] = {
    "{\"id\":\"a-1\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"ls\\n\"}}",
    "{\"id\":\"a:2.x~_-\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"\\u00e9\\u2603\"},"
    "\"expires_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":123000000}}",
    "{\"id\":\"b\",\"action_type\":\"custom_thing2\",\"payload\":{\"n\":[1,2,{\"k\":null}]}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachAction) a = beach_action_new_from_string (inputs[i], &error);
    g_autoptr (BeachAction) b = NULL;
    g_autofree gchar *text = NULL;
    g_autofree gchar *text2 = NULL;

    g_assert_no_error (error);
    text = beach_action_to_string (a);
    b = beach_action_new_from_string (text, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (beach_action_get_id (a), ==, beach_action_get_id (b));
    g_assert_cmpstr (beach_action_get_action_type (a), ==, beach_action_get_action_type (b));
    g_assert_cmpint (beach_action_get_expires_at_ms (a), ==, beach_action_get_expires_at_ms (b));
    g_assert_cmpuint (beach_action_get_payload_size (a), ==, beach_action_get_payload_size (b));
    text2 = beach_action_to_string (b);
    g_assert_cmpstr (text, ==, text2);
  }
}

static void
test_action_timestamps (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAction) ms = beach_action_new_from_string (
    "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"x\"},\"expires_at\":1700000000123}", &error);
  g_autoptr (BeachAction) st = NULL;
  g_autoptr (BeachAction) none = NULL;
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (beach_action_get_expires_at_ms (ms), ==, G_GINT64_CONSTANT (1700000000123));
  /* emitted in the {secs, nanos} form */
  text = beach_action_to_string (ms);
  g_assert_nonnull (strstr (text, "\"expires_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":123000000}"));

  st = beach_action_new_from_string (
    "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"x\"},"
    "\"expires_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":123999999}}",
    &error);
  g_assert_no_error (error);
  g_assert_cmpint (beach_action_get_expires_at_ms (st), ==, G_GINT64_CONSTANT (1700000000123));
  g_assert_true (beach_action_is_expired (st, G_GINT64_CONSTANT (1700000000124)));
  g_assert_false (beach_action_is_expired (st, G_GINT64_CONSTANT (1700000000123)));

  /* null counts as absent */
  none = beach_action_new_from_string (
    "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"x\"},\"expires_at\":null}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (beach_action_get_expires_at_ms (none), ==, -1);
  g_assert_false (beach_action_is_expired (none, G_MAXINT64));
}

static void
test_action_constructors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAction) tw = beach_action_new_terminal_write ("id-1", "echo hi\n", &error);
  g_autoptr (BeachAction) bad = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (beach_action_get_terminal_bytes (tw), ==, "echo hi\n");
  g_assert_cmpstr (beach_action_get_action_type (tw), ==, "terminal_write");

  /* the constructor runs the parser's checks */
  bad = beach_action_new_terminal_write ("no spaces", "x", &error);
  g_assert_null (bad);
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD);
  g_assert_nonnull (strstr (error->message, "id"));
}

/* An action is immutable: changing the caller's payload afterwards must not
 * change what was validated. */
static void
test_action_immutable (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) payload = json_object_new ();
  g_autoptr (BeachAction) action = NULL;

  json_object_set_string_member (payload, "bytes", "safe");
  action = beach_action_new ("a", "terminal_write", payload, -1, &error);
  g_assert_no_error (error);
  json_object_set_string_member (payload, "bytes", "changed");
  json_object_set_int_member (payload, "extra", 1);
  g_assert_cmpstr (beach_action_get_terminal_bytes (action), ==, "safe");
  g_assert_false (json_object_has_member (beach_action_get_payload (action), "extra"));
  g_assert_true (json_object_is_immutable (beach_action_get_payload (action)));
}

static void
test_action_payload_limit (void)
{
  g_autoptr (GError) error = NULL;
  /* {"bytes":"xxx…"} is 12 bytes of envelope around the string */
  g_autofree gchar *fits = g_strnfill (BEACH_ACTION_PAYLOAD_MAX - 12, 'x');
  g_autofree gchar *over = g_strnfill (BEACH_ACTION_PAYLOAD_MAX - 11, 'x');
  g_autoptr (BeachAction) ok = beach_action_new_terminal_write ("a", fits, &error);
  g_autoptr (BeachAction) big = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (BeachAction) custom = NULL;
  g_autofree gchar *small = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (beach_action_get_payload_size (ok), ==, BEACH_ACTION_PAYLOAD_MAX);
  big = beach_action_new_terminal_write ("a", over, &error);
  g_assert_null (big);
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "payload"));
  g_clear_error (&error);

  /* a configured limit applies instead of the default */
  small = g_strdup ("{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"0123456789\"}}");
  node = json_from_string (small, &error);
  g_assert_no_error (error);
  custom = beach_action_new_from_json_full (node, 16, &error);
  g_assert_null (custom);
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE);
}

/* Malformed actions: each must fail with the right code and name its field. */
typedef struct {
  const gchar *json;
  gint code;
  const gchar *field;
} BadCase;

#define TW_PAYLOAD "\"payload\":{\"bytes\":\"x\"}"

static const BadCase bad_actions[] = {
  { "", BEACH_ERROR_MALFORMED, "JSON" },
  { "{", BEACH_ERROR_MALFORMED, "JSON" },
  { "[]", BEACH_ERROR_MALFORMED, "object" },
  { "42", BEACH_ERROR_MALFORMED, "object" },
  { "null", BEACH_ERROR_MALFORMED, "object" },
  { "{\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_MISSING_FIELD, "id" },
  { "{\"id\":null,\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_MISSING_FIELD, "id" },
  { "{\"id\":7,\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"\",\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"a b\",\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"a/b\",\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"\\u00e9\",\"action_type\":\"terminal_write\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123"
    "01234567890123456789012345678901234567890123456789012345678901234\",\"action_type\":\"terminal_write\"," TW_PAYLOAD "}",
    BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"a\"," TW_PAYLOAD "}", BEACH_ERROR_MISSING_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":\"\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":\"Terminal\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":\"9lives\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":\"x-y\"," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":\"a0123456789012345678901234567890123456789012345678901234567890123\"," TW_PAYLOAD "}",
    BEACH_ERROR_INVALID_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":true," TW_PAYLOAD "}", BEACH_ERROR_INVALID_FIELD, "action_type" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"}", BEACH_ERROR_MISSING_FIELD, "payload" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":\"ls\"}", BEACH_ERROR_INVALID_FIELD, "payload" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":[1]}", BEACH_ERROR_INVALID_FIELD, "payload" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{}}", BEACH_ERROR_MISSING_FIELD, "payload.bytes" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":5}}", BEACH_ERROR_INVALID_FIELD, "payload.bytes" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":[\"x\"]}}", BEACH_ERROR_INVALID_FIELD, "payload.bytes" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":\"soon\"}", BEACH_ERROR_INVALID_FIELD, "expires_at" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":-5}", BEACH_ERROR_INVALID_FIELD, "expires_at" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":1.5}", BEACH_ERROR_INVALID_FIELD, "expires_at" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":{\"secs_since_epoch\":1}}",
    BEACH_ERROR_MISSING_FIELD, "expires_at.nanos_since_epoch" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":{\"nanos_since_epoch\":1}}",
    BEACH_ERROR_MISSING_FIELD, "expires_at.secs_since_epoch" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":{\"secs_since_epoch\":1,\"nanos_since_epoch\":1000000000}}",
    BEACH_ERROR_INVALID_FIELD, "expires_at.nanos_since_epoch" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":{\"secs_since_epoch\":-1,\"nanos_since_epoch\":0}}",
    BEACH_ERROR_INVALID_FIELD, "expires_at.secs_since_epoch" },
  { "{\"id\":\"a\",\"action_type\":\"terminal_write\"," TW_PAYLOAD ",\"expires_at\":99999999999999999}", BEACH_ERROR_INVALID_FIELD, "expires_at" },
};

static void
test_action_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_actions); i++) {
    const BadCase *c = &bad_actions[i];
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachAction) action = beach_action_new_from_string (c->json, &error);

    g_test_message ("case %u: %s", i, c->json);
    g_assert_null (action);
    g_assert_error (error, BEACH_ERROR, c->code);
    g_test_message ("  -> %s", error->message);
    g_assert_nonnull (strstr (error->message, c->field));
  }
}

/* json-glib 1.6 recurses once per level with no limit; the parser entry
 * point refuses deep text (100,000 levels overflowed the stack). */
static gchar *
nested_action (guint depth, const gchar *bytes)
{
  g_autofree gchar *open = g_strnfill (depth, '[');
  g_autofree gchar *close = g_strnfill (depth, ']');

  return g_strdup_printf ("{\"id\":\"a\",\"action_type\":\"terminal_write\","
                          "\"payload\":{\"bytes\":\"%s\",\"deep\":%s0%s}}",
                          bytes, open, close);
}

static void
test_action_deep_nesting (void)
{
  g_autofree gchar *brackets = g_strnfill (1000, '[');
  g_autofree gchar *ok_json = nested_action (126, brackets);
  g_autofree gchar *over_json = nested_action (127, "x");
  g_autofree gchar *huge_json = nested_action (100000, "x");
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAction) ok = NULL;
  g_autoptr (BeachAction) over = NULL;
  g_autoptr (BeachAction) huge = NULL;

  /* 128 levels with the action and its payload; brackets inside a string
   * are text, not nesting. */
  ok = beach_action_new_from_string (ok_json, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);

  over = beach_action_new_from_string (over_json, &error);
  g_assert_null (over);
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED);
  g_assert_nonnull (strstr (error->message, "deeper than 128"));
  g_clear_error (&error);

  huge = beach_action_new_from_string (huge_json, &error);
  g_assert_null (huge);
  g_assert_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED);
}

/* json-glib 1.6 turns a lone surrogate escape into bytes that are not
 * UTF-8, and ends a string at \u0000: both are refused. */
static void
test_action_escapes (void)
{
  static const gchar *const bad[] = { "\\ud800x", "\\udc00", "\\ud800\\u0041", "a\\u0000b", "\\uD83D" };
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree gchar *json = nested_action (0, bad[i]);
    g_autoptr (BeachAction) action = beach_action_new_from_string (json, &error);

    g_test_message ("bytes %s", bad[i]);
    g_assert_null (action);
    g_assert_error (error, BEACH_ERROR, BEACH_ERROR_MALFORMED);
    g_clear_error (&error);
  }
  {
    /* A pair, and an escaped backslash before "u0000", are fine. */
    g_autofree gchar *json = nested_action (0, "\\ud83d\\ude00 \\\\u0000");
    g_autoptr (BeachAction) action = beach_action_new_from_string (json, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (json_object_get_string_member (beach_action_get_payload (action), "bytes"), ==,
                     "\xf0\x9f\x98\x80 \\u0000");
  }
}

static void
test_action_ids (void)
{
  g_autofree gchar *max = g_strnfill (BEACH_ID_MAX_LEN, 'a');
  g_autofree gchar *over = g_strnfill (BEACH_ID_MAX_LEN + 1, 'a');

  g_assert_true (beach_session_id_is_valid ("A-z0.9_~"));
  g_assert_true (beach_session_id_is_valid (max));
  g_assert_false (beach_session_id_is_valid (over));
  g_assert_false (beach_session_id_is_valid (""));
  g_assert_false (beach_session_id_is_valid (NULL));
  g_assert_false (beach_session_id_is_valid ("a:b"));
  g_assert_true (beach_action_id_is_valid ("a:b"));
  g_assert_false (beach_action_id_is_valid ("a%2F"));
  g_assert_true (beach_action_type_is_valid ("terminal_write"));
  g_assert_false (beach_action_type_is_valid ("_x"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/action/round-trip", test_action_round_trip);
  g_test_add_func ("/action/timestamps", test_action_timestamps);
  g_test_add_func ("/action/constructors", test_action_constructors);
  g_test_add_func ("/action/immutable", test_action_immutable);
  g_test_add_func ("/action/payload-limit", test_action_payload_limit);
  g_test_add_func ("/action/malformed", test_action_malformed);
  g_test_add_func ("/action/deep-nesting", test_action_deep_nesting);
  g_test_add_func ("/action/escapes", test_action_escapes);
  g_test_add_func ("/action/ids", test_action_ids);
  return g_test_run ();
}
