/* test-transport-hints.c: BeachTransportHints parse, validate, serialise
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

#define ROUTES(ID)                                                       \
  "\"actions_poll\":{\"path\":\"/sessions/" ID "/actions/poll\"},"       \
  "\"actions_ack\":{\"path\":\"/sessions/" ID "/actions/ack\"},"         \
  "\"actions_pending\":{\"path\":\"/sessions/" ID "/actions/pending\"}," \
  "\"state_post\":{\"path\":\"/sessions/" ID "/state\"},"                \
  "\"health_post\":{\"path\":\"/sessions/" ID "/health\"}"

/* The WIRE.md example, byte for byte as the serialiser writes it. */
static const gchar wire_fast[] = "{" ROUTES ("s-1") ","
                                                    "\"fast_path_webrtc\":{\"offer_path\":\"/fastpath/sessions/s-1/webrtc/offer\","
                                                    "\"ice_path\":\"/fastpath/sessions/s-1/webrtc/ice\","
                                                    "\"channels\":{\"actions\":\"mgr-actions\",\"acks\":\"mgr-acks\",\"state\":\"mgr-state\"},"
                                                    "\"ice_servers\":[],\"status\":\"stable\"}}";

static const gchar wire_fallback[] = "{" ROUTES ("s-1") ",\"fast_path_webrtc\":null}";

static void
assert_round_trips (BeachTransportHints *a)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *text = beach_transport_hints_to_string (a);
  g_autoptr (BeachTransportHints) b = beach_transport_hints_new_from_string (text, &error);
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (BeachTransportHints) c = NULL;
  g_autofree gchar *text2 = NULL;

  g_assert_no_error (error);
  g_assert_true (beach_transport_hints_equal (a, b));
  text2 = beach_transport_hints_to_string (b);
  g_assert_cmpstr (text, ==, text2);
  node = beach_transport_hints_to_json (b);
  c = beach_transport_hints_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_true (beach_transport_hints_equal (a, c));
}

static void
test_hints_for_session (void)
{
  g_autoptr (BeachTransportHints) fast = beach_transport_hints_new_for_session ("s-1", TRUE);
  g_autoptr (BeachTransportHints) slow = beach_transport_hints_new_for_session ("s-1", FALSE);
  g_autofree gchar *fast_text = beach_transport_hints_to_string (fast);
  g_autofree gchar *slow_text = beach_transport_hints_to_string (slow);

  g_assert_cmpstr (fast_text, ==, wire_fast);
  g_assert_cmpstr (slow_text, ==, wire_fallback);

  g_assert_cmpstr (beach_transport_hints_get_actions_poll_path (fast), ==, "/sessions/s-1/actions/poll");
  g_assert_cmpstr (beach_transport_hints_get_actions_ack_path (fast), ==, "/sessions/s-1/actions/ack");
  g_assert_cmpstr (beach_transport_hints_get_actions_pending_path (fast), ==, "/sessions/s-1/actions/pending");
  g_assert_cmpstr (beach_transport_hints_get_state_post_path (fast), ==, "/sessions/s-1/state");
  g_assert_cmpstr (beach_transport_hints_get_health_post_path (fast), ==, "/sessions/s-1/health");
  g_assert_true (beach_transport_hints_has_fast_path (fast));
  g_assert_cmpstr (beach_transport_hints_get_offer_path (fast), ==, "/fastpath/sessions/s-1/webrtc/offer");
  g_assert_cmpstr (beach_transport_hints_get_ice_path (fast), ==, "/fastpath/sessions/s-1/webrtc/ice");
  g_assert_cmpstr (beach_transport_hints_get_actions_channel (fast), ==, "mgr-actions");
  g_assert_cmpstr (beach_transport_hints_get_acks_channel (fast), ==, "mgr-acks");
  g_assert_cmpstr (beach_transport_hints_get_state_channel (fast), ==, "mgr-state");
  g_assert_cmpstr (beach_transport_hints_get_fast_path_status (fast), ==, "stable");
  g_assert_null (beach_transport_hints_get_ice_servers (fast)[0]);

  g_assert_false (beach_transport_hints_has_fast_path (slow));
  g_assert_cmpstr (beach_transport_hints_get_state_post_path (slow), ==, "/sessions/s-1/state");
  g_assert_null (beach_transport_hints_get_offer_path (slow));
  g_assert_null (beach_transport_hints_get_ice_path (slow));
  g_assert_null (beach_transport_hints_get_actions_channel (slow));
  g_assert_null (beach_transport_hints_get_fast_path_status (slow));
  g_assert_null (beach_transport_hints_get_ice_servers (slow)[0]);

  assert_round_trips (fast);
  assert_round_trips (slow);
}

static void
test_hints_round_trip (void)
{
  static const gchar *const inputs[] = {
    wire_fast,
    wire_fallback,
    "{" ROUTES ("x") "}",
    "{" ROUTES ("x") ",\"fast_path_webrtc\":{\"offer_path\":\"/o\",\"ice_path\":\"/i\","
                     "\"channels\":{\"actions\":\"a\",\"acks\":\"b\",\"state\":\"c\"},"
                     "\"ice_servers\":[\"stun:stun.example.org:3478\",{\"urls\":[\"turn:t1\",\"turn:t2\"],\"username\":\"u\",\"credential\":\"p\"}],"
                     "\"status\":\"renegotiating\",\"future\":{\"k\":1}},\"other\":true}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachTransportHints) a = beach_transport_hints_new_from_string (inputs[i], &error);

    g_test_message ("case %u: %s", i, inputs[i]);
    g_assert_no_error (error);
    assert_round_trips (a);
  }
}

static void
test_hints_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachTransportHints) h = beach_transport_hints_new_from_string (
    "{" ROUTES ("s") ",\"fast_path_webrtc\":{\"offer_path\":\"/o\",\"ice_path\":\"/i\",\"channels\":{\"acks\":\"my-acks\",\"state\":null}}}",
    &error);
  g_autoptr (BeachTransportHints) nulls = NULL;
  g_autoptr (BeachTransportHints) absent = NULL;
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (beach_transport_hints_get_actions_channel (h), ==, "mgr-actions");
  g_assert_cmpstr (beach_transport_hints_get_acks_channel (h), ==, "my-acks");
  g_assert_cmpstr (beach_transport_hints_get_state_channel (h), ==, "mgr-state");
  g_assert_cmpstr (beach_transport_hints_get_fast_path_status (h), ==, "stable");
  g_assert_null (beach_transport_hints_get_ice_servers (h)[0]);
  /* channels, ice_servers and status are always written */
  text = beach_transport_hints_to_string (h);
  g_assert_nonnull (strstr (text, "\"channels\":{\"actions\":\"mgr-actions\",\"acks\":\"my-acks\",\"state\":\"mgr-state\"},"
                                  "\"ice_servers\":[],\"status\":\"stable\"}"));

  /* null counts as absent, for the whole object and its optional members */
  nulls = beach_transport_hints_new_from_string (
    "{" ROUTES ("s") ",\"fast_path_webrtc\":{\"offer_path\":\"/o\",\"ice_path\":\"/i\",\"channels\":null,\"ice_servers\":null,\"status\":null}}",
    &error);
  g_assert_no_error (error);
  g_assert_cmpstr (beach_transport_hints_get_actions_channel (nulls), ==, "mgr-actions");
  g_assert_cmpstr (beach_transport_hints_get_fast_path_status (nulls), ==, "stable");
  g_assert_null (beach_transport_hints_get_ice_servers (nulls)[0]);

  absent = beach_transport_hints_new_from_string ("{" ROUTES ("s") "}", &error);
  g_assert_no_error (error);
  g_assert_false (beach_transport_hints_has_fast_path (absent));
}

static void
test_hints_ice_servers (void)
{
  static const gchar *const urls[] = { "stun:a", "turn:b", "turn:c", "stun:d", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachTransportHints) h = beach_transport_hints_new_from_string (
    "{" ROUTES ("s") ",\"fast_path_webrtc\":{\"offer_path\":\"/o\",\"ice_path\":\"/i\",\"ice_servers\":["
                     "\"stun:a\",{\"urls\":\"turn:b\",\"username\":\"u\",\"credential\":\"c\"},"
                     "{\"urls\":[\"turn:c\",\"stun:d\"],\"username\":null}]}}",
    &error);
  g_autoptr (BeachTransportHints) built = beach_transport_hints_new_for_session ("s", TRUE);
  g_autoptr (BeachTransportHints) slow = beach_transport_hints_new_for_session ("s", FALSE);
  g_autofree gchar *text = NULL;

  g_assert_no_error (error);
  g_assert_true (g_strv_equal (beach_transport_hints_get_ice_servers (h), urls));
  text = beach_transport_hints_to_string (h);
  g_assert_nonnull (strstr (text, "\"ice_servers\":[\"stun:a\",\"turn:b\",\"turn:c\",\"stun:d\"]"));

  beach_transport_hints_set_ice_servers (built, urls);
  g_assert_true (g_strv_equal (beach_transport_hints_get_ice_servers (built), urls));
  assert_round_trips (built);
  beach_transport_hints_set_ice_servers (built, NULL);
  g_assert_null (beach_transport_hints_get_ice_servers (built)[0]);

  /* no fast path, no ICE servers */
  beach_transport_hints_set_ice_servers (slow, urls);
  g_assert_null (beach_transport_hints_get_ice_servers (slow)[0]);
}

static void
test_hints_equal (void)
{
  static const gchar *const urls[] = { "stun:a", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachTransportHints) a = beach_transport_hints_new_for_session ("s-1", TRUE);
  g_autoptr (BeachTransportHints) b = beach_transport_hints_new_for_session ("s-1", TRUE);
  g_autoptr (BeachTransportHints) other = beach_transport_hints_new_for_session ("s-2", TRUE);
  g_autoptr (BeachTransportHints) slow = beach_transport_hints_new_for_session ("s-1", FALSE);
  g_autoptr (BeachTransportHints) parsed = beach_transport_hints_new_from_string (wire_fast, &error);
  g_autoptr (BeachTransportHints) no_channels = NULL;
  g_autoptr (BeachTransportHints) renamed = NULL;

  g_assert_no_error (error);
  g_assert_true (beach_transport_hints_equal (a, b));
  g_assert_true (beach_transport_hints_equal (a, parsed));
  g_assert_true (beach_transport_hints_equal (a, a));
  g_assert_true (beach_transport_hints_equal (NULL, NULL));
  g_assert_false (beach_transport_hints_equal (a, NULL));
  g_assert_false (beach_transport_hints_equal (NULL, a));
  g_assert_false (beach_transport_hints_equal (a, other));
  g_assert_false (beach_transport_hints_equal (a, slow));

  /* missing channels mean the defaults, so nothing changed */
  no_channels = beach_transport_hints_new_from_string (
    "{" ROUTES ("s-1") ",\"fast_path_webrtc\":{\"offer_path\":\"/fastpath/sessions/s-1/webrtc/offer\","
                       "\"ice_path\":\"/fastpath/sessions/s-1/webrtc/ice\"}}",
    &error);
  g_assert_no_error (error);
  g_assert_true (beach_transport_hints_equal (a, no_channels));

  renamed = beach_transport_hints_new_from_string (
    "{" ROUTES ("s-1") ",\"fast_path_webrtc\":{\"offer_path\":\"/fastpath/sessions/s-1/webrtc/offer\","
                       "\"ice_path\":\"/fastpath/sessions/s-1/webrtc/ice\",\"channels\":{\"state\":\"st\"}}}",
    &error);
  g_assert_no_error (error);
  g_assert_false (beach_transport_hints_equal (a, renamed));

  beach_transport_hints_set_ice_servers (b, urls);
  g_assert_false (beach_transport_hints_equal (a, b));
  beach_transport_hints_set_ice_servers (a, urls);
  g_assert_true (beach_transport_hints_equal (a, b));
}

typedef struct {
  const gchar *json;
  gint code;
  const gchar *field;
} BadCase;

#define R4                                                                \
  "\"actions_poll\":{\"path\":\"/p\"},\"actions_ack\":{\"path\":\"/a\"}," \
  "\"actions_pending\":{\"path\":\"/n\"},\"state_post\":{\"path\":\"/s\"}"
#define R5 R4 ",\"health_post\":{\"path\":\"/h\"}"
#define FP "\"offer_path\":\"/o\",\"ice_path\":\"/i\""

static const BadCase bad_hints[] = {
  { "", BEACH_ERROR_MALFORMED, "JSON" },
  { "{\"actions_poll\":", BEACH_ERROR_MALFORMED, "JSON" },
  { "[]", BEACH_ERROR_MALFORMED, "object" },
  { "\"hints\"", BEACH_ERROR_MALFORMED, "object" },
  { "{\"actions_ack\":{\"path\":\"/a\"}}", BEACH_ERROR_MISSING_FIELD, "actions_poll" },
  { "{\"actions_poll\":null}", BEACH_ERROR_MISSING_FIELD, "actions_poll" },
  { "{\"actions_poll\":\"/p\"}", BEACH_ERROR_INVALID_FIELD, "actions_poll" },
  { "{\"actions_poll\":{}}", BEACH_ERROR_MISSING_FIELD, "actions_poll.path" },
  { "{\"actions_poll\":{\"path\":5}}", BEACH_ERROR_INVALID_FIELD, "actions_poll.path" },
  { "{\"actions_poll\":{\"path\":\"sessions/x/actions/poll\"}}", BEACH_ERROR_INVALID_FIELD, "actions_poll.path" },
  { "{\"actions_poll\":{\"path\":\"\"}}", BEACH_ERROR_INVALID_FIELD, "actions_poll.path" },
  { "{\"actions_poll\":{\"path\":\"/p\"}}", BEACH_ERROR_MISSING_FIELD, "actions_ack" },
  { "{" R4 "}", BEACH_ERROR_MISSING_FIELD, "health_post" },
  { "{" R4 ",\"health_post\":{\"path\":null}}", BEACH_ERROR_MISSING_FIELD, "health_post.path" },
  { "{" R4 ",\"health_post\":[\"/h\"]}", BEACH_ERROR_INVALID_FIELD, "health_post" },
  { "{" R5 ",\"fast_path_webrtc\":true}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc" },
  { "{" R5 ",\"fast_path_webrtc\":{}}", BEACH_ERROR_MISSING_FIELD, "fast_path_webrtc.offer_path" },
  { "{" R5 ",\"fast_path_webrtc\":{\"offer_path\":\"/o\"}}", BEACH_ERROR_MISSING_FIELD, "fast_path_webrtc.ice_path" },
  { "{" R5 ",\"fast_path_webrtc\":{\"offer_path\":\"/o\",\"ice_path\":\"ice\"}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_path" },
  { "{" R5 ",\"fast_path_webrtc\":{\"offer_path\":1,\"ice_path\":\"/i\"}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.offer_path" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"channels\":[]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.channels" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"channels\":{\"acks\":3}}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.channels.acks" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"channels\":{\"state\":\"\"}}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.channels.state" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":{}}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":\"stun:a\"}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[\"stun:a\",3]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[1]" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[\"\"]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[0]" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[{}]}}", BEACH_ERROR_MISSING_FIELD, "fast_path_webrtc.ice_servers[0].urls" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[{\"urls\":{}}]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[0].urls" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[{\"urls\":7}]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[0].urls" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[{\"urls\":[\"stun:a\",1]}]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[0].urls[1]" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[{\"urls\":[\"\"]}]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[0].urls[0]" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[{\"urls\":\"stun:a\",\"username\":5}]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[0].username" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[\"stun:a\",{\"urls\":\"turn:b\",\"credential\":[]}]}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[1].credential" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"status\":7}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.status" },
  { "{" R5 ",\"fast_path_webrtc\":{" FP ",\"status\":\"\"}}", BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.status" },
};

static void
check_bad (const gchar *json, gint code, const gchar *field)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachTransportHints) h = beach_transport_hints_new_from_string (json, &error);

  g_assert_null (h);
  assert_error_names (error, code, field);
}

static void
test_hints_malformed (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad_hints); i++) {
    g_test_message ("case %u: %s", i, bad_hints[i].json);
    check_bad (bad_hints[i].json, bad_hints[i].code, bad_hints[i].field);
  }
}

static void
test_hints_limits (void)
{
  g_autofree gchar *max_path = g_strnfill (BEACH_TRANSPORT_HINTS_PATH_MAX_LEN, 'p');
  g_autofree gchar *json = NULL;
  g_autoptr (GString) many = g_string_new ("{" R5 ",\"fast_path_webrtc\":{" FP ",\"ice_servers\":[");
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachTransportHints) ok = NULL;

  max_path[0] = '/';
  json = g_strdup_printf ("{" R4 ",\"health_post\":{\"path\":\"%s\"}}", max_path);
  ok = beach_transport_hints_new_from_string (json, &error);
  g_assert_no_error (error);
  g_free (json);
  json = g_strdup_printf ("{" R4 ",\"health_post\":{\"path\":\"%sp\"}}", max_path);
  check_bad (json, BEACH_ERROR_INVALID_FIELD, "health_post.path");

  /* the URL limit counts after flattening */
  for (guint i = 0; i < BEACH_TRANSPORT_HINTS_ICE_SERVERS_MAX; i += 2)
    g_string_append_printf (many, "%s{\"urls\":[\"stun:%u\",\"stun:%u\"]}", i > 0 ? "," : "", i, i + 1);
  g_string_append (many, ",\"stun:over\"]}}");
  check_bad (many->str, BEACH_ERROR_INVALID_FIELD, "fast_path_webrtc.ice_servers[32]");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transport-hints/for-session", test_hints_for_session);
  g_test_add_func ("/transport-hints/round-trip", test_hints_round_trip);
  g_test_add_func ("/transport-hints/defaults", test_hints_defaults);
  g_test_add_func ("/transport-hints/ice-servers", test_hints_ice_servers);
  g_test_add_func ("/transport-hints/equal", test_hints_equal);
  g_test_add_func ("/transport-hints/malformed", test_hints_malformed);
  g_test_add_func ("/transport-hints/limits", test_hints_limits);
  return g_test_run ();
}
