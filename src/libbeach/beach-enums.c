/* beach-enums.c: wire strings for the Beach enums
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-enums"

#include "config.h"

#include "beach-enum-types.h"
#include "beach-enums.h"
#include "beach-error.h"

/* The wire strings are the GEnumValue nicks (see the nick= annotations in
 * beach-enums.h), so glib-mkenums' table is the only list of them. */
static const gchar *
enum_to_string (GType type, gint value)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);

  return v != NULL ? v->value_nick : NULL;
}

static gboolean
enum_from_string (GType type, const gchar *str, gint *out_value, GError **error)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = str != NULL ? g_enum_get_value_by_nick (klass, str) : NULL;

  if (v == NULL) {
    g_autoptr (GString) allowed = g_string_new (NULL);

    for (guint i = 0; i < klass->n_values; i++)
      g_string_append_printf (allowed, "%s%s", i > 0 ? ", " : "",
                              klass->values[i].value_nick);
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“%s” is not one of: %s", str != NULL ? str : "(null)",
                 allowed->str);
    return FALSE;
  }
  if (out_value != NULL)
    *out_value = v->value;
  return TRUE;
}

/**
 * beach_transport_mode_to_string:
 * @value: a #BeachTransportMode
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_transport_mode_to_string (BeachTransportMode value)
{
  return enum_to_string (BEACH_TYPE_TRANSPORT_MODE, (gint) value);
}

/**
 * beach_transport_mode_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachTransportMode. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_transport_mode_from_string (const gchar *str, BeachTransportMode *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_TRANSPORT_MODE, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachTransportMode) v;
  return TRUE;
}

/**
 * beach_transport_to_string:
 * @value: a #BeachTransport
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_transport_to_string (BeachTransport value)
{
  return enum_to_string (BEACH_TYPE_TRANSPORT, (gint) value);
}

/**
 * beach_transport_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachTransport. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_transport_from_string (const gchar *str, BeachTransport *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_TRANSPORT, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachTransport) v;
  return TRUE;
}

/**
 * beach_link_health_to_string:
 * @value: a #BeachLinkHealth
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_link_health_to_string (BeachLinkHealth value)
{
  return enum_to_string (BEACH_TYPE_LINK_HEALTH, (gint) value);
}

/**
 * beach_link_health_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachLinkHealth. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_link_health_from_string (const gchar *str, BeachLinkHealth *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_LINK_HEALTH, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachLinkHealth) v;
  return TRUE;
}

/**
 * beach_ack_status_to_string:
 * @value: a #BeachAckStatus
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_ack_status_to_string (BeachAckStatus value)
{
  return enum_to_string (BEACH_TYPE_ACK_STATUS, (gint) value);
}

/**
 * beach_ack_status_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachAckStatus. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_ack_status_from_string (const gchar *str, BeachAckStatus *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_ACK_STATUS, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachAckStatus) v;
  return TRUE;
}

/**
 * beach_handshake_kind_to_string:
 * @value: a #BeachHandshakeKind
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_handshake_kind_to_string (BeachHandshakeKind value)
{
  return enum_to_string (BEACH_TYPE_HANDSHAKE_KIND, (gint) value);
}

/**
 * beach_handshake_kind_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachHandshakeKind. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_handshake_kind_from_string (const gchar *str, BeachHandshakeKind *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_HANDSHAKE_KIND, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachHandshakeKind) v;
  return TRUE;
}

/**
 * beach_drop_reason_to_string:
 * @value: a #BeachDropReason
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_drop_reason_to_string (BeachDropReason value)
{
  return enum_to_string (BEACH_TYPE_DROP_REASON, (gint) value);
}

/**
 * beach_drop_reason_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachDropReason. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_drop_reason_from_string (const gchar *str, BeachDropReason *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_DROP_REASON, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachDropReason) v;
  return TRUE;
}

/**
 * beach_transport_reason_to_string:
 * @value: a #BeachTransportReason
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_transport_reason_to_string (BeachTransportReason value)
{
  return enum_to_string (BEACH_TYPE_TRANSPORT_REASON, (gint) value);
}

/**
 * beach_transport_reason_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachTransportReason. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_transport_reason_from_string (const gchar *str, BeachTransportReason *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_TRANSPORT_REASON, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachTransportReason) v;
  return TRUE;
}

/**
 * beach_harness_type_to_string:
 * @value: a #BeachHarnessType
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_harness_type_to_string (BeachHarnessType value)
{
  return enum_to_string (BEACH_TYPE_HARNESS_TYPE, (gint) value);
}

/**
 * beach_harness_type_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachHarnessType. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_harness_type_from_string (const gchar *str, BeachHarnessType *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_HARNESS_TYPE, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachHarnessType) v;
  return TRUE;
}

/**
 * beach_dead_letter_reason_to_string:
 * @value: a #BeachDeadLetterReason
 *
 * Returns: (transfer none) (nullable): the wire string of @value, or %NULL
 *   if @value is out of range
 */
const gchar *
beach_dead_letter_reason_to_string (BeachDeadLetterReason value)
{
  return enum_to_string (BEACH_TYPE_DEAD_LETTER_REASON, (gint) value);
}

/**
 * beach_dead_letter_reason_from_string:
 * @str: a wire string
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the wire string of a #BeachDeadLetterReason. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_dead_letter_reason_from_string (const gchar *str, BeachDeadLetterReason *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_DEAD_LETTER_REASON, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachDeadLetterReason) v;
  return TRUE;
}

/**
 * beach_fast_path_role_to_string:
 * @value: a #BeachFastPathRole
 *
 * Returns: (transfer none) (nullable): the nick of @value, or %NULL if
 *   @value is out of range
 */
const gchar *
beach_fast_path_role_to_string (BeachFastPathRole value)
{
  return enum_to_string (BEACH_TYPE_FAST_PATH_ROLE, (gint) value);
}

/**
 * beach_fast_path_role_from_string:
 * @str: a nick
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the nick of a #BeachFastPathRole. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_fast_path_role_from_string (const gchar *str, BeachFastPathRole *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_FAST_PATH_ROLE, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachFastPathRole) v;
  return TRUE;
}

/**
 * beach_fast_path_channel_to_string:
 * @value: a #BeachFastPathChannel
 *
 * Returns: (transfer none) (nullable): the nick of @value, or %NULL if
 *   @value is out of range
 */
const gchar *
beach_fast_path_channel_to_string (BeachFastPathChannel value)
{
  return enum_to_string (BEACH_TYPE_FAST_PATH_CHANNEL, (gint) value);
}

/**
 * beach_fast_path_channel_from_string:
 * @str: a nick
 * @out_value: (out) (optional): where to store the value
 * @error: return location for a #GError
 *
 * Parses the nick of a #BeachFastPathChannel. An unknown string is
 * %BEACH_ERROR_INVALID_FIELD, and the message lists the allowed strings.
 *
 * Returns: %TRUE if @str names a value
 */
gboolean
beach_fast_path_channel_from_string (const gchar *str, BeachFastPathChannel *out_value, GError **error)
{
  gint v = 0;

  if (!enum_from_string (BEACH_TYPE_FAST_PATH_CHANNEL, str, &v, error))
    return FALSE;
  if (out_value != NULL)
    *out_value = (BeachFastPathChannel) v;
  return TRUE;
}
