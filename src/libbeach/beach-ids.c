/* beach-ids.c: identifier rules of the wire contract
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-ids"

#include "config.h"

#include "beach-ids.h"

static gboolean
id_char_ok (gchar c, gboolean allow_colon)
{
  return g_ascii_isalnum (c) || c == '.' || c == '_' || c == '~' || c == '-' || (allow_colon && c == ':');
}

static gboolean
id_is_valid (const gchar *id, gboolean allow_colon)
{
  gsize n = 0;

  if (id == NULL)
    return FALSE;
  for (; id[n] != '\0'; n++) {
    if (n >= BEACH_ID_MAX_LEN || !id_char_ok (id[n], allow_colon))
      return FALSE;
  }
  return n > 0;
}

/**
 * beach_session_id_is_valid:
 * @id: (nullable): a candidate session or private beach id
 *
 * Session ids and private beach ids match `^[A-Za-z0-9._~-]{1,128}$`.
 *
 * Returns: %TRUE if @id is valid
 */
gboolean
beach_session_id_is_valid (const gchar *id)
{
  return id_is_valid (id, FALSE);
}

/**
 * beach_action_id_is_valid:
 * @id: (nullable): a candidate action id
 *
 * Action ids match `^[A-Za-z0-9._~:-]{1,128}$`.
 *
 * Returns: %TRUE if @id is valid
 */
gboolean
beach_action_id_is_valid (const gchar *id)
{
  return id_is_valid (id, TRUE);
}

/**
 * beach_action_type_is_valid:
 * @action_type: (nullable): a candidate action type
 *
 * Action types match `^[a-z][a-z0-9_]{0,63}$`.
 *
 * Returns: %TRUE if @action_type is valid
 */
gboolean
beach_action_type_is_valid (const gchar *action_type)
{
  gsize n;

  if (action_type == NULL || !g_ascii_islower (action_type[0]))
    return FALSE;
  for (n = 1; action_type[n] != '\0'; n++) {
    gchar c = action_type[n];

    if (n >= 64 || !(g_ascii_islower (c) || g_ascii_isdigit (c) || c == '_'))
      return FALSE;
  }
  return TRUE;
}
