/* fuzz-query.c: numeric query parameters (?wait_ms=&max=, ?since=)
 *
 * The input is a query string, decoded as libsoup decodes it for the
 * server handlers, then read with the bounds each handler uses.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-common.h"

#include <libsoup/soup.h>
#include <string.h>

#include "beach-config.h"
#include "beach-manager-util.h"

static void
check (GHashTable *query, const gchar *name, guint64 min, guint64 max, guint64 fallback, const gchar *what)
{
  g_autoptr (GError) error = NULL;
  guint64 v = G_MAXUINT64;

  if (beach_query_get_uint (query, name, min, max, fallback, what, &v, &error)) {
    g_assert_no_error (error);
    g_assert (v == fallback || (v >= min && v <= max));
  } else {
    FUZZ_ASSERT_REFUSAL (error);
    g_assert (error->code == BEACH_ERROR_INVALID_FIELD);
    g_assert (strstr (error->message, name) != NULL);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static BeachConfig *config = NULL;
  g_autofree gchar *text = NULL;
  g_autoptr (GHashTable) query = NULL;
  guint64 lo, hi;

  fuzz_init ();
  if (config == NULL)
    config = beach_config_new_defaults ();
  /* Two bytes of bounds for a parameter named "n". */
  lo = fuzz_take_byte (&data, &size);
  hi = lo + fuzz_take_byte (&data, &size) * 1000u;
  text = g_strndup ((const gchar *) data, size);
  query = soup_form_decode (text);
  g_assert (query != NULL);

  check (query, "wait_ms", 0, config->max_wait_ms, 0, NULL);
  check (query, "max", 1, config->max_poll, config->default_poll, NULL);
  check (query, "since", 0, G_MAXUINT, 0, "a candidate index");
  check (query, "since", 0, G_MAXINT64, 0, "epoch milliseconds");
  check (query, "n", lo, hi, 0, NULL);
  check (NULL, "n", lo, hi, 7, NULL);
  return 0;
}
