/* beach-error.h: the Beach error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * BEACH_ERROR:
 *
 * The error domain of every #GError raised by libbeach and beach-manager.
 */
#define BEACH_ERROR (beach_error_quark ())

/**
 * BeachError:
 * @BEACH_ERROR_FAILED: an internal failure (HTTP 500)
 * @BEACH_ERROR_INVALID_FIELD: a field has the wrong type, range or form (HTTP 400)
 * @BEACH_ERROR_MISSING_FIELD: a required field is absent (HTTP 400)
 * @BEACH_ERROR_MALFORMED: the input is not well-formed JSON or not an object (HTTP 400)
 * @BEACH_ERROR_UNAUTHORIZED: no token, or an unknown one (HTTP 401)
 * @BEACH_ERROR_FORBIDDEN: a token of the wrong kind or for another session (HTTP 403)
 * @BEACH_ERROR_NOT_FOUND: no such session or resource (HTTP 404)
 * @BEACH_ERROR_METHOD_NOT_ALLOWED: a known path with a wrong method (HTTP 405)
 * @BEACH_ERROR_CONFLICT: the request conflicts with the current state (HTTP 409)
 * @BEACH_ERROR_MISSING_LEASE: the controller lease is expired, released or unknown (HTTP 409)
 * @BEACH_ERROR_HTTP_FALLBACK_MODE: a fast-path offer for an `http_fallback` session (HTTP 409)
 * @BEACH_ERROR_FAST_PATH_NOT_READY: the fast path cannot take the call and queueing is not allowed (HTTP 412)
 * @BEACH_ERROR_PAYLOAD_TOO_LARGE: a body or payload is over its size limit (HTTP 413)
 * @BEACH_ERROR_TOO_MANY_REQUESTS: a bound other than the queue cap was hit (HTTP 429)
 * @BEACH_ERROR_QUEUE_FULL: the session's fallback queue is at its cap (HTTP 429)
 * @BEACH_ERROR_UNAVAILABLE: the queue backend or a needed service is down (HTTP 503)
 *
 * Error codes of the %BEACH_ERROR domain. Each code maps to one HTTP status,
 * one error kind of the wire envelope, an optional `error_code`, and one
 * D-Bus error name; see beach_error_to_http_status().
 */
typedef enum {
  BEACH_ERROR_FAILED,
  BEACH_ERROR_INVALID_FIELD,
  BEACH_ERROR_MISSING_FIELD,
  BEACH_ERROR_MALFORMED,
  BEACH_ERROR_UNAUTHORIZED,
  BEACH_ERROR_FORBIDDEN,
  BEACH_ERROR_NOT_FOUND,
  BEACH_ERROR_METHOD_NOT_ALLOWED,
  BEACH_ERROR_CONFLICT,
  BEACH_ERROR_MISSING_LEASE,
  BEACH_ERROR_HTTP_FALLBACK_MODE,
  BEACH_ERROR_FAST_PATH_NOT_READY,
  BEACH_ERROR_PAYLOAD_TOO_LARGE,
  BEACH_ERROR_TOO_MANY_REQUESTS,
  BEACH_ERROR_QUEUE_FULL,
  BEACH_ERROR_UNAVAILABLE,
} BeachError;

/**
 * BEACH_ERROR_N_CODES:
 *
 * The number of codes in #BeachError.
 */
#define BEACH_ERROR_N_CODES (BEACH_ERROR_UNAVAILABLE + 1)

GQuark beach_error_quark (void);

guint beach_error_to_http_status (BeachError code);
const gchar *beach_error_to_kind (BeachError code);
const gchar *beach_error_to_error_code (BeachError code);
const gchar *beach_error_to_dbus_name (BeachError code);
BeachError beach_error_from_kind (const gchar *kind,
                                  const gchar *error_code);

G_END_DECLS
