/* fuzz-parsers.c: every parser of outside input, fed arbitrary bytes
 *
 * Built as a libFuzzer target by scripts/fuzz (clang -fsanitize=fuzzer),
 * and with standalone-main.c as a test that replays fuzz/corpus/.
 * The first byte picks the parser so one corpus covers them all.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>

#include "beach-json-private.h"
#include "beach-session.h"
#include "beach.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GError) error = NULL;
  guint8 which;

  if (size < 1)
    return 0;
  which = data[0] % 6;
  node = beach_json_from_string ((const gchar *) data + 1, (gssize) size - 1, &error);
  if (node == NULL) {
    g_assert (error != NULL && error->domain == BEACH_ERROR);
    return 0;
  }
  switch (which) {
    case 0: {
      g_autoptr (BeachAction) a = beach_action_new_from_json (node, &error);
      if (a != NULL) {
        g_autofree gchar *text = beach_action_to_string (a);
        g_autoptr (BeachAction) b = beach_action_new_from_string (text, NULL);
        g_assert (b != NULL); /* what we emit, we accept */
      }
      break;
    }
    case 1: {
      g_autoptr (BeachActionAck) a = beach_action_ack_new_from_json (node, &error);
      if (a != NULL) {
        g_autofree gchar *text = beach_action_ack_to_string (a);
        g_autoptr (BeachActionAck) b = beach_action_ack_new_from_string (text, NULL);
        g_assert (b != NULL);
      }
      break;
    }
    case 2: {
      g_autoptr (BeachStateDiff) d = beach_state_diff_new_from_json (node, &error);
      break;
    }
    case 3: {
      g_autoptr (BeachHealth) h = beach_health_new_from_json (node, &error);
      break;
    }
    case 4: {
      g_autoptr (BeachTransportHints) h = beach_transport_hints_new_from_json (node, &error);
      if (h != NULL) {
        g_autoptr (JsonNode) out = beach_transport_hints_to_json (h);
        g_autoptr (BeachTransportHints) h2 = beach_transport_hints_new_from_json (out, NULL);
        g_assert (h2 != NULL && beach_transport_hints_equal (h, h2));
      }
      break;
    }
    default: {
      g_autoptr (BeachRegistration) r = beach_registration_parse (node, &error);
      break;
    }
  }
  /* A refusal is always a BEACH_ERROR with a message. */
  g_assert (error == NULL || (error->domain == BEACH_ERROR && error->message[0] != '\0'));
  return 0;
}
