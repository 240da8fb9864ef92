/* beach-action-ack.c: an action acknowledgement
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-action-ack"

#include "config.h"

#include "beach-action-ack.h"
#include "beach-error.h"
#include "beach-ids.h"
#include "beach-json-private.h"

/* Limits of the wire contract on the optional error fields. */
#define ERROR_CODE_MAX    128
#define ERROR_MESSAGE_MAX 4096

/**
 * BeachActionAck:
 *
 * One `ActionAck` of the wire contract: `{id, status, applied_at,
 * latency_ms?, error_code?, error_message?}`. Every status is final.
 * Instances are immutable and always valid: the only ways to make one run
 * the same checks as the wire parser.
 */
struct _BeachActionAck {
  GObject parent_instance;

  gchar *id;
  BeachAckStatus status;
  gint64 applied_at_ms;
  gint64 latency_ms; /* -1: none */
  gchar *error_code;
  gchar *error_message;
};

G_DEFINE_FINAL_TYPE (BeachActionAck, beach_action_ack, G_TYPE_OBJECT)

static void
beach_action_ack_finalize (GObject *object)
{
  BeachActionAck *self = BEACH_ACTION_ACK (object);

  g_free (self->id);
  g_free (self->error_code);
  g_free (self->error_message);
  G_OBJECT_CLASS (beach_action_ack_parent_class)->finalize (object);
}

static void
beach_action_ack_class_init (BeachActionAckClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_action_ack_finalize;
}

static void
beach_action_ack_init (BeachActionAck *self)
{
  self->latency_ms = -1;
}

/**
 * beach_action_ack_new_from_json:
 * @node: a JSON node holding an `ActionAck` object
 * @error: return location for a #GError
 *
 * The one validating parser of acks. It checks that `id` matches the action
 * id pattern, that `status` is one of `ok`, `rejected`, `expired` or
 * `preempted`, that `applied_at` is a timestamp in either wire form, that
 * `latency_ms`, when present, is an integer >= 0, that `error_code`, when
 * present, is a string of 1 to 128 bytes and that `error_message`, when
 * present, is a string of at most 4096 bytes. A field sent as null counts as
 * absent; unknown fields are ignored.
 *
 * Returns: (transfer full) (nullable): a new #BeachActionAck, or %NULL with
 *   @error set to a code naming the field
 */
BeachActionAck *
beach_action_ack_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (BeachActionAck) self = NULL;
  JsonObject *obj;
  const gchar *id = NULL;
  const gchar *status_str = NULL;
  const gchar *error_code = NULL;
  const gchar *error_message = NULL;
  BeachAckStatus status = BEACH_ACK_STATUS_OK;
  gint64 applied_at = 0;
  gint64 latency = -1;
  gboolean has_latency = FALSE;

  obj = beach_json_require_object (node, "ack", error);
  if (obj == NULL)
    return NULL;
  if (!beach_json_get_string (obj, "id", "id", TRUE, 0, &id, error))
    return NULL;
  if (!beach_action_id_is_valid (id)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“id”: must match ^[A-Za-z0-9._~:-]{1,128}$");
    return NULL;
  }
  if (!beach_json_get_string (obj, "status", "status", TRUE, 0, &status_str, error))
    return NULL;
  if (!beach_ack_status_from_string (status_str, &status, error)) {
    g_prefix_error (error, "“status”: ");
    return NULL;
  }
  if (!beach_json_get_timestamp (obj, "applied_at", "applied_at", TRUE,
                                 &applied_at, NULL, error))
    return NULL;
  if (!beach_json_get_int (obj, "latency_ms", "latency_ms", FALSE, 0, G_MAXINT64,
                           &latency, &has_latency, error))
    return NULL;
  if (!beach_json_get_string (obj, "error_code", "error_code", FALSE,
                              ERROR_CODE_MAX, &error_code, error))
    return NULL;
  if (error_code != NULL && *error_code == '\0') {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“error_code”: must not be empty");
    return NULL;
  }
  if (!beach_json_get_string (obj, "error_message", "error_message", FALSE,
                              ERROR_MESSAGE_MAX, &error_message, error))
    return NULL;

  self = g_object_new (BEACH_TYPE_ACTION_ACK, NULL);
  self->id = g_strdup (id);
  self->status = status;
  self->applied_at_ms = applied_at;
  self->latency_ms = has_latency ? latency : -1;
  self->error_code = g_strdup (error_code);
  self->error_message = g_strdup (error_message);
  return g_steal_pointer (&self);
}

/**
 * beach_action_ack_new_from_string:
 * @json: the text of an `ActionAck` object
 * @error: return location for a #GError
 *
 * Parses JSON text, then the ack; see beach_action_ack_new_from_json().
 *
 * Returns: (transfer full) (nullable): a new #BeachActionAck, or %NULL with
 *   @error set
 */
BeachActionAck *
beach_action_ack_new_from_string (const gchar *json, GError **error)
{
  g_autoptr (JsonNode) node = beach_json_from_string (json, -1, error);

  if (node == NULL)
    return NULL;
  return beach_action_ack_new_from_json (node, error);
}

/**
 * beach_action_ack_new:
 * @id: the id of the acknowledged action
 * @status: the final status
 * @applied_at_ms: when the host settled the action, in epoch milliseconds
 * @latency_ms: the host's latency in milliseconds, or -1 for none
 * @error_code: (nullable): a short machine-readable reason, or %NULL
 * @error_message: (nullable): a human-readable reason, or %NULL
 * @error: return location for a #GError
 *
 * Builds an ack and validates it exactly as the wire parser would.
 *
 * Returns: (transfer full) (nullable): a new #BeachActionAck, or %NULL with
 *   @error set
 */
BeachActionAck *
beach_action_ack_new (const gchar *id, BeachAckStatus status, gint64 applied_at_ms, gint64 latency_ms, const gchar *error_code, const gchar *error_message, GError **error)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  const gchar *status_str = beach_ack_status_to_string (status);

  if (id != NULL)
    json_object_set_string_member (obj, "id", id);
  if (status_str != NULL)
    json_object_set_string_member (obj, "status", status_str);
  else
    json_object_set_int_member (obj, "status", (gint64) status);
  json_object_set_int_member (obj, "applied_at", applied_at_ms);
  if (latency_ms >= 0)
    json_object_set_int_member (obj, "latency_ms", latency_ms);
  if (error_code != NULL)
    json_object_set_string_member (obj, "error_code", error_code);
  if (error_message != NULL)
    json_object_set_string_member (obj, "error_message", error_message);
  json_node_set_object (node, obj);
  return beach_action_ack_new_from_json (node, error);
}

/**
 * beach_action_ack_get_id:
 * @self: a #BeachActionAck
 *
 * Returns: (transfer none): the id of the acknowledged action
 */
const gchar *
beach_action_ack_get_id (BeachActionAck *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), NULL);
  return self->id;
}

/**
 * beach_action_ack_get_status:
 * @self: a #BeachActionAck
 *
 * Returns: the final status
 */
BeachAckStatus
beach_action_ack_get_status (BeachActionAck *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), BEACH_ACK_STATUS_OK);
  return self->status;
}

/**
 * beach_action_ack_get_applied_at_ms:
 * @self: a #BeachActionAck
 *
 * Returns: when the host settled the action, in epoch milliseconds
 */
gint64
beach_action_ack_get_applied_at_ms (BeachActionAck *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), -1);
  return self->applied_at_ms;
}

/**
 * beach_action_ack_get_latency_ms:
 * @self: a #BeachActionAck
 *
 * Returns: the host's latency in milliseconds, or -1 if none was sent
 */
gint64
beach_action_ack_get_latency_ms (BeachActionAck *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), -1);
  return self->latency_ms;
}

/**
 * beach_action_ack_get_error_code:
 * @self: a #BeachActionAck
 *
 * Returns: (transfer none) (nullable): the error code, or %NULL
 */
const gchar *
beach_action_ack_get_error_code (BeachActionAck *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), NULL);
  return self->error_code;
}

/**
 * beach_action_ack_get_error_message:
 * @self: a #BeachActionAck
 *
 * Returns: (transfer none) (nullable): the error message, or %NULL
 */
const gchar *
beach_action_ack_get_error_message (BeachActionAck *self)
{
  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), NULL);
  return self->error_message;
}

/**
 * beach_action_ack_to_json:
 * @self: a #BeachActionAck
 *
 * Serialises the ack in its wire form; `applied_at` is emitted as
 * `{secs_since_epoch, nanos_since_epoch}` and absent optional fields are
 * left out.
 *
 * Returns: (transfer full): a new JSON node
 */
JsonNode *
beach_action_ack_to_json (BeachActionAck *self)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (BEACH_IS_ACTION_ACK (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, self->id);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, beach_ack_status_to_string (self->status));
  beach_json_builder_add_timestamp (builder, "applied_at", self->applied_at_ms);
  if (self->latency_ms >= 0) {
    json_builder_set_member_name (builder, "latency_ms");
    json_builder_add_int_value (builder, self->latency_ms);
  }
  if (self->error_code != NULL) {
    json_builder_set_member_name (builder, "error_code");
    json_builder_add_string_value (builder, self->error_code);
  }
  if (self->error_message != NULL) {
    json_builder_set_member_name (builder, "error_message");
    json_builder_add_string_value (builder, self->error_message);
  }
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * beach_action_ack_to_string:
 * @self: a #BeachActionAck
 *
 * Returns: (transfer full): the wire form as compact JSON text
 */
gchar *
beach_action_ack_to_string (BeachActionAck *self)
{
  g_autoptr (JsonNode) node = beach_action_ack_to_json (self);

  return json_to_string (node, FALSE);
}
