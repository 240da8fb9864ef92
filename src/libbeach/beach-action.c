/* beach-action.c: an action command
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-action"

#include "config.h"

#include "beach-action.h"
#include "beach-error.h"
#include "beach-ids.h"
#include "beach-json-private.h"

/**
 * BeachAction:
 *
 * One `ActionCommand` of the wire contract: `{id, action_type, payload,
 * expires_at?}`. Instances are immutable and always valid: the only ways to
 * make one run the same checks as the wire parser.
 */
struct _BeachAction {
  GObject parent_instance;

  gchar *id;
  gchar *action_type;
  JsonObject *payload;
  gint64 expires_at_ms; /* -1: none */
  gsize payload_size;   /* compact JSON bytes */
};

G_DEFINE_FINAL_TYPE (BeachAction, beach_action, G_TYPE_OBJECT)

static void
beach_action_finalize (GObject *object)
{
  BeachAction *self = BEACH_ACTION (object);

  g_free (self->id);
  g_free (self->action_type);
  g_clear_pointer (&self->payload, json_object_unref);
  G_OBJECT_CLASS (beach_action_parent_class)->finalize (object);
}

static void
beach_action_class_init (BeachActionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_action_finalize;
}

static void
beach_action_init (BeachAction *self)
{
  self->expires_at_ms = -1;
}

/* The payload as compact JSON text: its size is the limit's measure. */
static gchar *
compact_text (JsonObject *payload)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, payload);
  return json_to_string (node, FALSE);
}

/**
 * beach_action_new_from_json_full:
 * @node: a JSON node holding an `ActionCommand` object
 * @max_payload_bytes: the payload limit in bytes of compact JSON, or 0 for
 *   %BEACH_ACTION_PAYLOAD_MAX
 * @error: return location for a #GError
 *
 * The one validating parser of actions. It checks that `id` matches the
 * action id pattern, that `action_type` matches `^[a-z][a-z0-9_]{0,63}$`,
 * that `payload` is an object within the limit, that a `terminal_write`
 * carries a string `bytes`, and that `expires_at`, when present, is a
 * timestamp in either wire form. Unknown fields are ignored.
 *
 * Returns: (transfer full) (nullable): a new #BeachAction, or %NULL with
 *   @error set (%BEACH_ERROR_PAYLOAD_TOO_LARGE for an oversized payload,
 *   otherwise a 400-class code naming the field)
 */
BeachAction *
beach_action_new_from_json_full (JsonNode *node, gsize max_payload_bytes, GError **error)
{
  g_autoptr (BeachAction) self = NULL;
  JsonObject *obj;
  JsonObject *payload = NULL;
  const gchar *id = NULL;
  const gchar *action_type = NULL;
  gint64 expires_at = -1;
  gboolean has_expiry = FALSE;
  g_autofree gchar *text = NULL;

  if (max_payload_bytes == 0)
    max_payload_bytes = BEACH_ACTION_PAYLOAD_MAX;

  obj = beach_json_require_object (node, "action", error);
  if (obj == NULL)
    return NULL;
  if (!beach_json_get_string (obj, "id", "id", TRUE, 0, &id, error))
    return NULL;
  if (!beach_action_id_is_valid (id)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“id”: must match ^[A-Za-z0-9._~:-]{1,128}$");
    return NULL;
  }
  if (!beach_json_get_string (obj, "action_type", "action_type", TRUE, 0,
                              &action_type, error))
    return NULL;
  if (!beach_action_type_is_valid (action_type)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“action_type”: must match ^[a-z][a-z0-9_]{0,63}$");
    return NULL;
  }
  if (!beach_json_get_object (obj, "payload", "payload", TRUE, &payload, error))
    return NULL;
  if (!beach_json_get_timestamp (obj, "expires_at", "expires_at", FALSE,
                                 &expires_at, &has_expiry, error))
    return NULL;

  if (g_strcmp0 (action_type, BEACH_ACTION_TYPE_TERMINAL_WRITE) == 0) {
    const gchar *bytes = NULL;

    if (!beach_json_get_string (payload, "payload.bytes", "bytes", TRUE, 0,
                                &bytes, error))
      return NULL;
  }

  text = compact_text (payload);
  self = g_object_new (BEACH_TYPE_ACTION, NULL);
  self->payload_size = strlen (text);
  if (self->payload_size > max_payload_bytes) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                 "“payload”: %" G_GSIZE_FORMAT " bytes is over the limit of %" G_GSIZE_FORMAT,
                 self->payload_size, max_payload_bytes);
    return NULL;
  }
  self->id = g_strdup (id);
  self->action_type = g_strdup (action_type);
  /* Actions are immutable: a payload the caller could still change is
   * replaced by a sealed copy parsed from the text just measured. */
  if (json_object_is_immutable (payload)) {
    self->payload = json_object_ref (payload);
  } else {
    g_autoptr (JsonNode) copy = beach_json_from_string (text, -1, NULL);

    g_assert (copy != NULL && JSON_NODE_HOLDS_OBJECT (copy));
    self->payload = json_object_ref (json_node_get_object (copy));
  }
  self->expires_at_ms = has_expiry ? expires_at : -1;
  return g_steal_pointer (&self);
}

/**
 * beach_action_new_from_json:
 * @node: a JSON node holding an `ActionCommand` object
 * @error: return location for a #GError
 *
 * Parses an action with the default payload limit; see
 * beach_action_new_from_json_full().
 *
 * Returns: (transfer full) (nullable): a new #BeachAction, or %NULL with
 *   @error set
 */
BeachAction *
beach_action_new_from_json (JsonNode *node, GError **error)
{
  return beach_action_new_from_json_full (node, 0, error);
}

/**
 * beach_action_new_from_string:
 * @json: the text of an `ActionCommand` object
 * @error: return location for a #GError
 *
 * Parses JSON text, then the action, with the default payload limit.
 *
 * Returns: (transfer full) (nullable): a new #BeachAction, or %NULL with
 *   @error set
 */
BeachAction *
beach_action_new_from_string (const gchar *json, GError **error)
{
  g_autoptr (JsonNode) node = beach_json_from_string (json, -1, error);

  if (node == NULL)
    return NULL;
  return beach_action_new_from_json (node, error);
}

/**
 * beach_action_new:
 * @id: the action id
 * @action_type: the action type, e.g. `terminal_write`
 * @payload: the payload object
 * @expires_at_ms: epoch milliseconds after which the action must not be
 *   applied, or -1 for never
 * @error: return location for a #GError
 *
 * Builds an action and validates it exactly as the wire parser would.
 *
 * Returns: (transfer full) (nullable): a new #BeachAction, or %NULL with
 *   @error set
 */
BeachAction *
beach_action_new (const gchar *id, const gchar *action_type, JsonObject *payload, gint64 expires_at_ms, GError **error)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  if (id != NULL)
    json_object_set_string_member (obj, "id", id);
  if (action_type != NULL)
    json_object_set_string_member (obj, "action_type", action_type);
  if (payload != NULL)
    json_object_set_object_member (obj, "payload", json_object_ref (payload));
  if (expires_at_ms >= 0)
    json_object_set_int_member (obj, "expires_at", expires_at_ms);
  json_node_set_object (node, obj);
  return beach_action_new_from_json (node, error);
}

/**
 * beach_action_new_terminal_write:
 * @id: the action id
 * @bytes: UTF-8 text to write verbatim to the terminal
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): a new `terminal_write` action, or
 *   %NULL with @error set
 */
BeachAction *
beach_action_new_terminal_write (const gchar *id, const gchar *bytes, GError **error)
{
  g_autoptr (JsonObject) payload = json_object_new ();

  g_return_val_if_fail (bytes != NULL, NULL);
  json_object_set_string_member (payload, "bytes", bytes);
  return beach_action_new (id, BEACH_ACTION_TYPE_TERMINAL_WRITE, payload, -1, error);
}

/**
 * beach_action_get_id:
 * @self: a #BeachAction
 *
 * Returns: (transfer none): the action id
 */
const gchar *
beach_action_get_id (BeachAction *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), NULL);
  return self->id;
}

/**
 * beach_action_get_action_type:
 * @self: a #BeachAction
 *
 * Returns: (transfer none): the action type
 */
const gchar *
beach_action_get_action_type (BeachAction *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), NULL);
  return self->action_type;
}

/**
 * beach_action_get_payload:
 * @self: a #BeachAction
 *
 * Returns: (transfer none): the payload object; do not modify it
 */
JsonObject *
beach_action_get_payload (BeachAction *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), NULL);
  return self->payload;
}

/**
 * beach_action_get_expires_at_ms:
 * @self: a #BeachAction
 *
 * Returns: the expiry in epoch milliseconds, or -1 if the action never expires
 */
gint64
beach_action_get_expires_at_ms (BeachAction *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), -1);
  return self->expires_at_ms;
}

/**
 * beach_action_is_expired:
 * @self: a #BeachAction
 * @now_ms: the current time in epoch milliseconds
 *
 * Returns: %TRUE if the action has an expiry and it is past
 */
gboolean
beach_action_is_expired (BeachAction *self, gint64 now_ms)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), FALSE);
  return self->expires_at_ms >= 0 && now_ms > self->expires_at_ms;
}

/**
 * beach_action_get_terminal_bytes:
 * @self: a #BeachAction
 *
 * Returns: (transfer none) (nullable): `payload.bytes` of a `terminal_write`
 *   action, or %NULL for any other type
 */
const gchar *
beach_action_get_terminal_bytes (BeachAction *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), NULL);
  if (g_strcmp0 (self->action_type, BEACH_ACTION_TYPE_TERMINAL_WRITE) != 0)
    return NULL;
  return json_object_get_string_member (self->payload, "bytes");
}

/**
 * beach_action_get_payload_size:
 * @self: a #BeachAction
 *
 * Returns: the size of the payload as compact JSON, in bytes
 */
gsize
beach_action_get_payload_size (BeachAction *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION (self), 0);
  return self->payload_size;
}

/**
 * beach_action_to_json:
 * @self: a #BeachAction
 *
 * Serialises the action in its wire form; `expires_at` is emitted as
 * `{secs_since_epoch, nanos_since_epoch}` and left out when there is none.
 *
 * Returns: (transfer full): a new JSON node
 */
JsonNode *
beach_action_to_json (BeachAction *self)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) payload = json_node_new (JSON_NODE_OBJECT);

  g_return_val_if_fail (BEACH_IS_ACTION (self), NULL);

  json_node_set_object (payload, self->payload);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, self->id);
  json_builder_set_member_name (builder, "action_type");
  json_builder_add_string_value (builder, self->action_type);
  json_builder_set_member_name (builder, "payload");
  json_builder_add_value (builder, json_node_copy (payload));
  if (self->expires_at_ms >= 0)
    beach_json_builder_add_timestamp (builder, "expires_at", self->expires_at_ms);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * beach_action_to_string:
 * @self: a #BeachAction
 *
 * Returns: (transfer full): the wire form as compact JSON text
 */
gchar *
beach_action_to_string (BeachAction *self)
{
  g_autoptr (JsonNode) node = beach_action_to_json (self);

  return json_to_string (node, FALSE);
}
