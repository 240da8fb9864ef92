/* fuzz-records.c: every JSON record and request-body parser
 *
 * The first byte picks the parser, the rest is the JSON text. Where an
 * encoder exists, what we emit we accept, and it encodes the same again.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-common.h"

#include "beach-http-api-private.h"
#include "beach-json-private.h"
#include "beach-session.h"

enum {
  PARSE_ACTION,
  PARSE_ACK,
  PARSE_STATE_DIFF,
  PARSE_HEALTH,
  PARSE_REGISTRATION,
  PARSE_ACTIONS_BODY,
  PARSE_ACKS_BODY,
  PARSE_LEASE_BODY,
  PARSE_HANDSHAKE_BODY,
  PARSE_OFFER_BODY,
  PARSE_ICE_BODY,
  PARSE_STORED_LEASE,
  N_PARSERS
};

/* Parse, encode, parse again: the second encoding is the same JSON (member
 * order may differ: json-glib keeps a repeated key at its first place). */
#define ROUND_TRIP(Type, node, parse_json, parse_string, to_string, error)                    \
  G_STMT_START                                                                                \
  {                                                                                           \
    g_autoptr (Type) a = parse_json (node, &error);                                           \
    ok = a != NULL;                                                                           \
    if (a != NULL) {                                                                          \
      g_autoptr (GError) again_error = NULL;                                                  \
      g_autofree gchar *text = to_string (a);                                                 \
      g_autoptr (Type) b = parse_string (text, &again_error);                                 \
      g_autofree gchar *text2 = NULL;                                                         \
      if (b == NULL)                                                                          \
        g_error ("%s: we emitted what we refuse: %s: %s", #Type, text, again_error->message); \
      text2 = to_string (b);                                                                  \
      if (!same_json (text, text2))                                                           \
        g_error ("%s: not a fixpoint: %s != %s", #Type, text, text2);                         \
    }                                                                                         \
  }                                                                                           \
  G_STMT_END

static gboolean
same_json (const gchar *a, const gchar *b)
{
  g_autoptr (JsonNode) na = NULL;
  g_autoptr (JsonNode) nb = NULL;

  if (g_str_equal (a, b))
    return TRUE;
  na = beach_json_from_string (a, -1, NULL);
  nb = beach_json_from_string (b, -1, NULL);
  return na != NULL && nb != NULL && json_node_equal (na, nb);
}

static BeachConfig *
fuzz_config (void)
{
  static BeachConfig *config = NULL;

  if (config == NULL)
    config = beach_config_new_defaults ();
  return config;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok = FALSE;
  guint which;

  fuzz_init ();
  which = fuzz_take_byte (&data, &size) % N_PARSERS;
  if (which == PARSE_STORED_LEASE) {
    /* Stored leases come as text: NUL-terminate a copy. */
    g_autofree gchar *text = g_strndup ((const gchar *) data, size);
    g_autoptr (BeachLease) lease = beach_lease_new_from_string (text, &error);

    if (lease != NULL) {
      g_autofree gchar *out = beach_lease_to_string (lease);
      g_autoptr (BeachLease) again = beach_lease_new_from_string (out, NULL);
      g_autofree gchar *out2 = NULL;

      g_assert (again != NULL);
      out2 = beach_lease_to_string (again);
      g_assert_cmpstr (out, ==, out2);
    } else {
      FUZZ_ASSERT_REFUSAL (error);
    }
    return 0;
  }

  node = beach_json_from_string ((const gchar *) data, (gssize) size, &error);
  if (node == NULL) {
    FUZZ_ASSERT_REFUSAL (error);
    return 0;
  }
  switch (which) {
    case PARSE_ACTION:
      ROUND_TRIP (BeachAction, node, beach_action_new_from_json, beach_action_new_from_string,
                  beach_action_to_string, error);
      break;
    case PARSE_ACK:
      ROUND_TRIP (BeachActionAck, node, beach_action_ack_new_from_json,
                  beach_action_ack_new_from_string, beach_action_ack_to_string, error);
      break;
    case PARSE_STATE_DIFF:
      ROUND_TRIP (BeachStateDiff, node, beach_state_diff_new_from_json,
                  beach_state_diff_new_from_string, beach_state_diff_to_string, error);
      break;
    case PARSE_HEALTH:
      ROUND_TRIP (BeachHealth, node, beach_health_new_from_json, beach_health_new_from_string,
                  beach_health_to_string, error);
      break;
    case PARSE_REGISTRATION: {
      g_autoptr (BeachRegistration) reg = beach_registration_parse (node, &error);

      ok = reg != NULL;
      break;
    }
    case PARSE_ACTIONS_BODY: {
      const gchar *token = NULL;
      BeachFallbackPolicy policy = BEACH_FALLBACK_POLICY_DEFAULT;
      g_autoptr (GPtrArray) actions = beach_http_parse_actions_body (fuzz_config (), node, &token,
                                                                     &policy, &error);

      ok = actions != NULL;
      if (ok)
        g_assert (actions->len >= 1 && actions->len <= fuzz_config ()->actions_per_call);
      break;
    }
    case PARSE_ACKS_BODY: {
      g_autoptr (GPtrArray) acks = beach_http_parse_ack_body (node, &error);

      ok = acks != NULL;
      if (ok)
        g_assert (acks->len <= 256);
      break;
    }
    case PARSE_LEASE_BODY: {
      BeachLeaseBody lb = { 0 };

      ok = beach_http_parse_lease_body (node, &lb, &error);
      if (ok)
        g_assert (lb.ttl_ms == -1 || (lb.ttl_ms >= 1000 && lb.ttl_ms <= 86400000));
      break;
    }
    case PARSE_HANDSHAKE_BODY: {
      BeachHandshakeBody hb = { 0 };

      ok = beach_http_parse_handshake_body (node, &hb, &error);
      if (ok)
        g_assert (hb.controller_token == NULL || hb.controller_token[0] != '\0');
      break;
    }
    case PARSE_OFFER_BODY: {
      BeachOfferBody ob = { 0 };

      ok = beach_http_parse_offer_body (node, &ob, &error);
      if (ok)
        g_assert (ob.sdp != NULL);
      break;
    }
    case PARSE_ICE_BODY: {
      BeachIceBody ib = { 0 };

      ok = beach_http_parse_ice_body (node, &ib, &error);
      if (ok)
        g_assert (ib.candidate != NULL && ib.sdp_mline_index <= 64);
      break;
    }
    default:
      g_assert_not_reached ();
  }
  if (!ok)
    FUZZ_ASSERT_REFUSAL (error);
  else
    g_assert (error == NULL);
  return 0;
}
