/* beach-error.c: the Beach error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-error"

#include "config.h"

#include <gio/gio.h>

#include "beach-error.h"

/* The one table: everything that derives from an error code derives here. */
typedef struct {
  BeachError code;
  guint http_status;
  const gchar *kind;
  const gchar *error_code; /* nullable: the envelope's optional field */
  const gchar *dbus_name;
} BeachErrorEntry;

static const BeachErrorEntry error_table[] = {
  { BEACH_ERROR_FAILED, 500, "internal_error", NULL, "sh.beach.Manager1.Error.Failed" },
  { BEACH_ERROR_INVALID_FIELD, 400, "bad_request", "invalid_field", "sh.beach.Manager1.Error.InvalidField" },
  { BEACH_ERROR_MISSING_FIELD, 400, "bad_request", "missing_field", "sh.beach.Manager1.Error.MissingField" },
  { BEACH_ERROR_MALFORMED, 400, "bad_request", "malformed", "sh.beach.Manager1.Error.Malformed" },
  { BEACH_ERROR_UNAUTHORIZED, 401, "unauthorized", NULL, "sh.beach.Manager1.Error.Unauthorized" },
  { BEACH_ERROR_FORBIDDEN, 403, "forbidden", NULL, "sh.beach.Manager1.Error.Forbidden" },
  { BEACH_ERROR_NOT_FOUND, 404, "not_found", NULL, "sh.beach.Manager1.Error.NotFound" },
  { BEACH_ERROR_METHOD_NOT_ALLOWED, 405, "method_not_allowed", NULL, "sh.beach.Manager1.Error.MethodNotAllowed" },
  { BEACH_ERROR_CONFLICT, 409, "conflict", NULL, "sh.beach.Manager1.Error.Conflict" },
  { BEACH_ERROR_MISSING_LEASE, 409, "conflict", "missing_lease", "sh.beach.Manager1.Error.MissingLease" },
  { BEACH_ERROR_HTTP_FALLBACK_MODE, 409, "conflict", "http_fallback_mode", "sh.beach.Manager1.Error.HttpFallbackMode" },
  { BEACH_ERROR_FAST_PATH_NOT_READY, 412, "precondition_failed", "fast_path_not_ready", "sh.beach.Manager1.Error.FastPathNotReady" },
  { BEACH_ERROR_PAYLOAD_TOO_LARGE, 413, "payload_too_large", NULL, "sh.beach.Manager1.Error.PayloadTooLarge" },
  { BEACH_ERROR_TOO_MANY_REQUESTS, 429, "too_many_requests", NULL, "sh.beach.Manager1.Error.TooManyRequests" },
  { BEACH_ERROR_QUEUE_FULL, 429, "too_many_requests", "queue_full", "sh.beach.Manager1.Error.QueueFull" },
  { BEACH_ERROR_UNAVAILABLE, 503, "unavailable", NULL, "sh.beach.Manager1.Error.Unavailable" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (error_table) == BEACH_ERROR_N_CODES);

static const BeachErrorEntry *
lookup (BeachError code)
{
  if ((guint) code >= G_N_ELEMENTS (error_table))
    return &error_table[BEACH_ERROR_FAILED];
  g_assert (error_table[code].code == code);
  return &error_table[code];
}

/**
 * beach_error_quark:
 *
 * The quark of %BEACH_ERROR. The first call also registers every code as a
 * D-Bus error name, so a #GError crossing D-Bus keeps its domain and code.
 *
 * Returns: the quark
 */
GQuark
beach_error_quark (void)
{
  static gsize quark = 0;
  static gsize entries_ready = 0;
  static GDBusErrorEntry entries[G_N_ELEMENTS (error_table)];

  /* The entries are derived from error_table once; registration does its
   * own once-init on quark, so it must not run inside another one on it. */
  if (g_once_init_enter (&entries_ready)) {
    for (guint i = 0; i < G_N_ELEMENTS (error_table); i++) {
      entries[i].error_code = error_table[i].code;
      entries[i].dbus_error_name = error_table[i].dbus_name;
    }
    g_once_init_leave (&entries_ready, 1);
  }
  g_dbus_error_register_error_domain ("beach-error-quark", &quark, entries,
                                      G_N_ELEMENTS (entries));
  return (GQuark) quark;
}

/**
 * beach_error_to_http_status:
 * @code: a #BeachError
 *
 * Returns: the HTTP status the manager answers for @code
 */
guint
beach_error_to_http_status (BeachError code)
{
  return lookup (code)->http_status;
}

/**
 * beach_error_to_kind:
 * @code: a #BeachError
 *
 * The `error` field of the wire envelope, e.g. `bad_request`.
 *
 * Returns: (transfer none): the kind string
 */
const gchar *
beach_error_to_kind (BeachError code)
{
  return lookup (code)->kind;
}

/**
 * beach_error_to_error_code:
 * @code: a #BeachError
 *
 * The optional `error_code` field of the wire envelope, e.g. `missing_lease`.
 *
 * Returns: (transfer none) (nullable): the error code, or %NULL when the
 *   envelope carries none
 */
const gchar *
beach_error_to_error_code (BeachError code)
{
  return lookup (code)->error_code;
}

/**
 * beach_error_to_dbus_name:
 * @code: a #BeachError
 *
 * Returns: (transfer none): the D-Bus error name registered for @code
 */
const gchar *
beach_error_to_dbus_name (BeachError code)
{
  return lookup (code)->dbus_name;
}

/**
 * beach_error_from_kind:
 * @kind: the `error` field of an envelope
 * @error_code: (nullable): its `error_code` field
 *
 * Maps an error envelope received from a manager back to a code, so clients
 * can match on codes. An exact (kind, error_code) pair wins; otherwise the
 * first code with that kind; otherwise %BEACH_ERROR_FAILED.
 *
 * Returns: the matching #BeachError
 */
BeachError
beach_error_from_kind (const gchar *kind, const gchar *error_code)
{
  const BeachErrorEntry *by_kind = NULL;

  g_return_val_if_fail (kind != NULL, BEACH_ERROR_FAILED);

  for (guint i = 0; i < G_N_ELEMENTS (error_table); i++) {
    if (g_strcmp0 (error_table[i].kind, kind) != 0)
      continue;
    if (error_code != NULL && g_strcmp0 (error_table[i].error_code, error_code) == 0)
      return error_table[i].code;
    if (by_kind == NULL)
      by_kind = &error_table[i];
  }
  return by_kind != NULL ? by_kind->code : BEACH_ERROR_FAILED;
}
