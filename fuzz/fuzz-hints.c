/* fuzz-hints.c: transport hints (the registration answer a host reads)
 *
 * What we emit we accept, equal, and it encodes the same again.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-common.h"

#include "beach-json-private.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (BeachTransportHints) hints = NULL;
  g_autoptr (BeachTransportHints) again = NULL;
  g_autoptr (JsonNode) out = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *text2 = NULL;

  fuzz_init ();
  node = beach_json_from_string ((const gchar *) data, (gssize) size, &error);
  if (node != NULL)
    hints = beach_transport_hints_new_from_json (node, &error);
  if (hints == NULL) {
    FUZZ_ASSERT_REFUSAL (error);
    return 0;
  }
  g_assert_no_error (error);
  /* Every path a host will request is there when the hints parse. */
  g_assert (beach_transport_hints_get_actions_poll_path (hints) != NULL);
  g_assert (beach_transport_hints_get_actions_ack_path (hints) != NULL);
  if (beach_transport_hints_has_fast_path (hints)) {
    g_assert (beach_transport_hints_get_offer_path (hints) != NULL);
    g_assert (beach_transport_hints_get_ice_path (hints) != NULL);
  }
  out = beach_transport_hints_to_json (hints);
  text = beach_transport_hints_to_string (hints);
  again = beach_transport_hints_new_from_string (text, &error);
  if (again == NULL)
    g_error ("hints: we emitted what we refuse: %s: %s", text, error->message);
  g_assert (beach_transport_hints_equal (hints, again));
  text2 = beach_transport_hints_to_string (again);
  g_assert_cmpstr (text, ==, text2);
  return 0;
}
