/* test-action-ack.c: BeachActionAck parse, validate, serialise
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "beach.h"

/* Field errors name the field as “field”; malformed input names what it is. */
static void
assert_error_names (const GError *error, gint code, const gchar *field)
{
  g_autofree gchar *quoted = g_strdup_printf ("“%s”", field);

  g_assert_error (error, BEACH_ERROR, code);
  g_test_message ("  -> %s", error->message);
  g_assert_nonnull (strstr (error->message, code == BEACH_ERROR_MALFORMED ? field : quoted));
}

static void
assert_same (BeachActionAck *a, BeachActionAck *b)
{
  g_assert_cmpstr (beach_action_ack_get_id (a), ==, beach_action_ack_get_id (b));
  g_assert_cmpint (beach_action_ack_get_status (a), ==, beach_action_ack_get_status (b));
  g_assert_cmpint (beach_action_ack_get_applied_at_ms (a), ==, beach_action_ack_get_applied_at_ms (b));
  g_assert_cmpint (beach_action_ack_get_latency_ms (a), ==, beach_action_ack_get_latency_ms (b));
  g_assert_cmpstr (beach_action_ack_get_error_code (a), ==, beach_action_ack_get_error_code (b));
  g_assert_cmpstr (beach_action_ack_get_error_message (a), ==, beach_action_ack_get_error_message (b));
}

static void
test_ack_round_trip (void)
{
  static const gchar *const inputs[] = {
    "{\"id\":\"a-1\",\"status\":\"ok\",\"applied_at\":1700000000123}",
    "{\"id\":\"a:2.x~_-\",\"status\":\"rejected\",\"applied_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":5000000},"
    "\"latency_ms\":0,\"error_code\":\"bad_input\",\"error_message\":\"\\u00e9\\u2603 \\\"quoted\\\"\\n\"}",
    "{\"id\":\"b\",\"status\":\"expired\",\"applied_at\":0,\"latency_ms\":12345,\"error_message\":\"\"}",
    "{\"id\":\"c\",\"status\":\"preempted\",\"applied_at\":1,\"error_code\":\"x\",\"extra\":[1,2]}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachActionAck) a = beach_action_ack_new_from_string (inputs[i], &error);
    g_autoptr (BeachActionAck) b = NULL;
    g_autoptr (BeachActionAck) c = NULL;
    g_autoptr (JsonNode) node = NULL;
    g_autofree gchar *text = NULL;
    g_autofree gchar *text2 = NULL;

    g_test_message ("case %u: %s", i, inputs[i]);
    g_assert_no_error (error);
    text = beach_action_ack_to_string (a);
    b = beach_action_ack_new_from_string (text, &error);
    g_assert_no_error (error);
    assert_same (a, b);
    text2 = beach_action_ack_to_string (b);
    g_assert_cmpstr (text, ==, text2);
    g_assert_null (strstr (text, "extra"));

    /* the JsonNode path agrees with the text path */
    node = beach_action_ack_to_json (b);
    c = beach_action_ack_new_from_json (node, &error);
    g_assert_no_error (error);
    assert_same (a, c);
  }
}

static void
test_ack_fields (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachActionAck) ack = beach_action_ack_new_from_string (
    "{\"id\":\"id-9\",\"status\":\"rejected\",\"applied_at\":1700000000123,\"latency_ms\":42,"
    "\"error_code\":\"nope\",\"error_message\":\"refused\"}",
    &error);
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (beach_action_ack_get_id (ack), ==, "id-9");
  g_assert_cmpint (beach_action_ack_get_status (ack), ==, BEACH_ACK_STATUS_REJECTED);
  g_assert_cmpint (beach_action_ack_get_applied_at_ms (ack), ==, G_GINT64_CONSTANT (1700000000123));
  g_assert_cmpint (beach_action_ack_get_latency_ms (ack), ==, 42);
  g_assert_cmpstr (beach_action_ack_get_error_code (ack), ==, "nope");
  g_assert_cmpstr (beach_action_ack_get_error_message (ack), ==, "refused");
  text = beach_action_ack_to_string (ack);
  g_assert_cmpstr (text, ==,
                   "{\"id\":\"id-9\",\"status\":\"rejected\","
                   "\"applied_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":123000000},"
                   "\"latency_ms\":42,\"error_code\":\"nope\",\"error_message\":\"refused\"}");
}

static void
test_ack_timestamps (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachActionAck) ms = beach_action_ack_new_from_string (
    "{\"id\":\"a\",\"status\":\"ok\",\"applied_at\":1700000000999}", &error);
  g_autoptr (BeachActionAck) st = NULL;
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (beach_action_ack_get_applied_at_ms (ms), ==, G_GINT64_CONSTANT (1700000000999));
  text = beach_action_ack_to_string (ms);
  g_assert_nonnull (strstr (text, "\"applied_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":999000000}"));

  st = beach_action_ack_new_from_string (
    "{\"id\":\"a\",\"status\":\"ok\",\"applied_at\":{\"secs_since_epoch\":1700000000,\"nanos_since_epoch\":999999999}}",
    &error);
  g_assert_no_error (error);
  g_assert_cmpint (beach_action_ack_get_applied_at_ms (st), ==, G_GINT64_CONSTANT (1700000000999));
}

static void
test_ack_null_as_absent (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachActionAck) ack = beach_action_ack_new_from_string (
    "{\"id\":\"a\",\"status\":\"ok\",\"applied_at\":5,\"latency_ms\":null,\"error_code\":null,\"error_message\":null}",
    &error);
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (beach_action_ack_get_latency_ms (ack), ==, -1);
  g_assert_null (beach_action_ack_get_error_code (ack));
  g_assert_null (beach_action_ack_get_error_message (ack));
  text = beach_action_ack_to_string (ack);
  g_assert_cmpstr (text, ==,
                   "{\"id\":\"a\",\"status\":\"ok\",\"applied_at\":{\"secs_since_epoch\":0,\"nanos_since_epoch\":5000000}}");
}

static void
test_ack_constructor (void)
{
  static const BeachAckStatus statuses[] = {
    BEACH_ACK_STATUS_OK,
    BEACH_ACK_STATUS_REJECTED,
    BEACH_ACK_STATUS_EXPIRED,
    BEACH_ACK_STATUS_PREEMPTED,
  };
  g_autoptr (GError) error = NULL;
  g_autofree gchar *long_code = g_strnfill (129, 'c');

  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++) {
    g_autoptr (BeachActionAck) ack = beach_action_ack_new ("x:1", statuses[i], 1700000000000, i == 0 ? -1 : 7,
                                                           i == 1 ? "code" : NULL, i == 1 ? "msg" : NULL, &error);
    g_autoptr (BeachActionAck) back = NULL;
    g_autofree gchar *text = NULL;

    g_assert_no_error (error);
    g_assert_cmpint (beach_action_ack_get_status (ack), ==, statuses[i]);
    g_assert_cmpint (beach_action_ack_get_latency_ms (ack), ==, i == 0 ? -1 : 7);
    text = beach_action_ack_to_string (ack);
    back = beach_action_ack_new_from_string (text, &error);
    g_assert_no_error (error);
    assert_same (ack, back);
  }

  /* the constructor runs the parser's checks */
  {
    g_autoptr (BeachActionAck) bad = beach_action_ack_new ("a b", BEACH_ACK_STATUS_OK, 0, -1, NULL, NULL, &error);
    g_assert_null (bad);
    assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "id");
    g_clear_error (&error);
  }
  {
    g_autoptr (BeachActionAck) bad = beach_action_ack_new (NULL, BEACH_ACK_STATUS_OK, 0, -1, NULL, NULL, &error);
    g_assert_null (bad);
    assert_error_names (error, BEACH_ERROR_MISSING_FIELD, "id");
    g_clear_error (&error);
  }
  {
    g_autoptr (BeachActionAck) bad = beach_action_ack_new ("a", (BeachAckStatus) 99, 0, -1, NULL, NULL, &error);
    g_assert_null (bad);
    assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "status");
    g_clear_error (&error);
  }
  {
    g_autoptr (BeachActionAck) bad = beach_action_ack_new ("a", BEACH_ACK_STATUS_OK, -1, -1, NULL, NULL, &error);
    g_assert_null (bad);
    assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "applied_at");
    g_clear_error (&error);
  }
  {
    g_autoptr (BeachActionAck) bad = beach_action_ack_new ("a", BEACH_ACK_STATUS_REJECTED, 0, -1, long_code, NULL, &error);
    g_assert_null (bad);
    assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "error_code");
    g_clear_error (&error);
  }
}

static void
test_ack_limits (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *code_max = g_strnfill (128, 'c');
  g_autofree gchar *code_over = g_strnfill (129, 'c');
  g_autofree gchar *msg_max = g_strnfill (4096, 'm');
  g_autofree gchar *msg_over = g_strnfill (4097, 'm');
  g_autoptr (BeachActionAck) ok = beach_action_ack_new ("a", BEACH_ACK_STATUS_REJECTED, 0, -1, code_max, msg_max, &error);
  g_autoptr (BeachActionAck) bad_code = NULL;
  g_autoptr (BeachActionAck) bad_msg = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (strlen (beach_action_ack_get_error_code (ok)), ==, 128);
  g_assert_cmpuint (strlen (beach_action_ack_get_error_message (ok)), ==, 4096);

  bad_code = beach_action_ack_new ("a", BEACH_ACK_STATUS_REJECTED, 0, -1, code_over, NULL, &error);
  g_assert_null (bad_code);
  assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "error_code");
  g_clear_error (&error);

  bad_msg = beach_action_ack_new ("a", BEACH_ACK_STATUS_REJECTED, 0, -1, NULL, msg_over, &error);
  g_assert_null (bad_msg);
  assert_error_names (error, BEACH_ERROR_INVALID_FIELD, "error_message");
}

/* Malformed acks: each must fail with the right code and name its field. */
typedef struct {
  const gchar *json;
  gint code;
  const gchar *field;
} BadCase;

#define ID_STATUS "\"id\":\"a\",\"status\":\"ok\""
#define OK_ACK    ID_STATUS ",\"applied_at\":1"

static const BadCase bad_acks[] = {
  { "", BEACH_ERROR_MALFORMED, "JSON" },
  { "{\"id\":", BEACH_ERROR_MALFORMED, "JSON" },
  { "[]", BEACH_ERROR_MALFORMED, "object" },
  { "\"ok\"", BEACH_ERROR_MALFORMED, "object" },
  { "{\"status\":\"ok\",\"applied_at\":1}", BEACH_ERROR_MISSING_FIELD, "id" },
  { "{\"id\":null,\"status\":\"ok\",\"applied_at\":1}", BEACH_ERROR_MISSING_FIELD, "id" },
  { "{\"id\":5,\"status\":\"ok\",\"applied_at\":1}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"\",\"status\":\"ok\",\"applied_at\":1}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"a/b\",\"status\":\"ok\",\"applied_at\":1}", BEACH_ERROR_INVALID_FIELD, "id" },
  { "{\"id\":\"a\",\"applied_at\":1}", BEACH_ERROR_MISSING_FIELD, "status" },
  { "{\"id\":\"a\",\"status\":null,\"applied_at\":1}", BEACH_ERROR_MISSING_FIELD, "status" },
  { "{\"id\":\"a\",\"status\":\"done\",\"applied_at\":1}", BEACH_ERROR_INVALID_FIELD, "status" },
  { "{\"id\":\"a\",\"status\":\"OK\",\"applied_at\":1}", BEACH_ERROR_INVALID_FIELD, "status" },
  { "{\"id\":\"a\",\"status\":0,\"applied_at\":1}", BEACH_ERROR_INVALID_FIELD, "status" },
  { "{" ID_STATUS "}", BEACH_ERROR_MISSING_FIELD, "applied_at" },
  { "{" ID_STATUS ",\"applied_at\":null}", BEACH_ERROR_MISSING_FIELD, "applied_at" },
  { "{" ID_STATUS ",\"applied_at\":\"now\"}", BEACH_ERROR_INVALID_FIELD, "applied_at" },
  { "{" ID_STATUS ",\"applied_at\":-1}", BEACH_ERROR_INVALID_FIELD, "applied_at" },
  { "{" ID_STATUS ",\"applied_at\":1.5}", BEACH_ERROR_INVALID_FIELD, "applied_at" },
  { "{" ID_STATUS ",\"applied_at\":{\"secs_since_epoch\":1}}", BEACH_ERROR_MISSING_FIELD, "applied_at.nanos_since_epoch" },
  { "{" ID_STATUS ",\"applied_at\":{\"secs_since_epoch\":\"1\",\"nanos_since_epoch\":0}}", BEACH_ERROR_INVALID_FIELD, "applied_at.secs_since_epoch" },
  { "{" OK_ACK ",\"latency_ms\":-1}", BEACH_ERROR_INVALID_FIELD, "latency_ms" },
  { "{" OK_ACK ",\"latency_ms\":1.5}", BEACH_ERROR_INVALID_FIELD, "latency_ms" },
  { "{" OK_ACK ",\"latency_ms\":\"5\"}", BEACH_ERROR_INVALID_FIELD, "latency_ms" },
  { "{" OK_ACK ",\"error_code\":\"\"}", BEACH_ERROR_INVALID_FIELD, "error_code" },
  { "{" OK_ACK ",\"error_code\":3}", BEACH_ERROR_INVALID_FIELD, "error_code" },
  { "{" OK_ACK ",\"error_message\":false}", BEACH_ERROR_INVALID_FIELD, "error_message" },
  { "{" OK_ACK ",\"error_message\":{\"text\":\"x\"}}", BEACH_ERROR_INVALID_FIELD, "error_message" },
};

static void
test_ack_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_acks); i++) {
    const BadCase *c = &bad_acks[i];
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachActionAck) ack = beach_action_ack_new_from_string (c->json, &error);

    g_test_message ("case %u: %s", i, c->json);
    g_assert_null (ack);
    assert_error_names (error, c->code, c->field);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/action-ack/round-trip", test_ack_round_trip);
  g_test_add_func ("/action-ack/fields", test_ack_fields);
  g_test_add_func ("/action-ack/timestamps", test_ack_timestamps);
  g_test_add_func ("/action-ack/null-as-absent", test_ack_null_as_absent);
  g_test_add_func ("/action-ack/constructor", test_ack_constructor);
  g_test_add_func ("/action-ack/limits", test_ack_limits);
  g_test_add_func ("/action-ack/malformed", test_ack_malformed);
  return g_test_run ();
}
