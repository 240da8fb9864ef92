/* beach-state-diff.c: a state diff posted by a harness
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-state-diff"

#include "config.h"

#include "beach-error.h"
#include "beach-json-private.h"
#include "beach-state-diff.h"

/**
 * BeachStateDiff:
 *
 * One `StateDiff` of the wire contract: `{sequence, emitted_at, payload}`,
 * posted over HTTP or sent on the `mgr-state` channel. The payload is any
 * JSON value but null; the manager keeps it opaque. Instances are immutable
 * and always valid: the only ways to make one run the same checks as the
 * wire parser.
 */
struct _BeachStateDiff {
  GObject parent_instance;

  guint64 sequence;
  gint64 emitted_at_ms;
  JsonNode *payload;
  gsize size; /* compact JSON bytes of the whole serialised diff */
};

G_DEFINE_FINAL_TYPE (BeachStateDiff, beach_state_diff, G_TYPE_OBJECT)

static void
beach_state_diff_finalize (GObject *object)
{
  BeachStateDiff *self = BEACH_STATE_DIFF (object);

  g_clear_pointer (&self->payload, json_node_unref);
  G_OBJECT_CLASS (beach_state_diff_parent_class)->finalize (object);
}

static void
beach_state_diff_class_init (BeachStateDiffClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_state_diff_finalize;
}

static void
beach_state_diff_init (BeachStateDiff *self)
{
}

/* json_node_copy() shares objects, arrays and even values with the
 * original, so a caller could change a diff after the fact. */
static JsonNode *
deep_copy (JsonNode *node)
{
  JsonNode *copy;

  switch (JSON_NODE_TYPE (node)) {
    case JSON_NODE_OBJECT: {
      g_autoptr (JsonObject) obj = json_object_new ();
      JsonObjectIter iter;
      const gchar *name;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, &name, &member))
        json_object_set_member (obj, name, deep_copy (member));
      copy = json_node_new (JSON_NODE_OBJECT);
      json_node_set_object (copy, obj);
      return copy;
    }
    case JSON_NODE_ARRAY: {
      JsonArray *src = json_node_get_array (node);
      guint n = json_array_get_length (src);
      g_autoptr (JsonArray) array = json_array_sized_new (n);

      for (guint i = 0; i < n; i++)
        json_array_add_element (array, deep_copy (json_array_get_element (src, i)));
      copy = json_node_new (JSON_NODE_ARRAY);
      json_node_set_array (copy, array);
      return copy;
    }
    case JSON_NODE_VALUE:
      copy = json_node_new (JSON_NODE_VALUE);
      switch (json_node_get_value_type (node)) {
        case G_TYPE_INT64:
          json_node_set_int (copy, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          json_node_set_double (copy, json_node_get_double (node));
          break;
        case G_TYPE_BOOLEAN:
          json_node_set_boolean (copy, json_node_get_boolean (node));
          break;
        default:
          json_node_set_string (copy, json_node_get_string (node));
          break;
      }
      return copy;
    case JSON_NODE_NULL:
    default:
      return json_node_new (JSON_NODE_NULL);
  }
}

/* deep: a tree the caller may change; otherwise it shares the payload. */
static JsonNode *
build_json (BeachStateDiff *self, gboolean deep)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sequence");
  json_builder_add_int_value (builder, (gint64) self->sequence);
  beach_json_builder_add_timestamp (builder, "emitted_at", self->emitted_at_ms);
  json_builder_set_member_name (builder, "payload");
  json_builder_add_value (builder, deep ? deep_copy (self->payload) : json_node_copy (self->payload));
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * beach_state_diff_new_from_json:
 * @node: a JSON node holding a `StateDiff` object
 * @error: return location for a #GError
 *
 * The one validating parser of state diffs. It checks that `sequence` is an
 * integer >= 0, that `emitted_at` is a timestamp in either wire form and
 * that `payload` is present and not null; the payload itself is copied
 * unchecked. Unknown fields are ignored.
 *
 * Returns: (transfer full) (nullable): a new #BeachStateDiff, or %NULL with
 *   @error set to a code naming the field
 */
BeachStateDiff *
beach_state_diff_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (BeachStateDiff) self = NULL;
  g_autoptr (JsonNode) shallow = NULL;
  g_autofree gchar *text = NULL;
  JsonObject *obj;
  JsonNode *payload;
  gint64 sequence = 0;
  gint64 emitted_at = 0;

  obj = beach_json_require_object (node, "state diff", error);
  if (obj == NULL)
    return NULL;
  if (!beach_json_get_int (obj, "sequence", "sequence", TRUE, 0, G_MAXINT64,
                           &sequence, NULL, error))
    return NULL;
  if (!beach_json_get_timestamp (obj, "emitted_at", "emitted_at", TRUE,
                                 &emitted_at, NULL, error))
    return NULL;
  payload = json_object_get_member (obj, "payload");
  if (payload == NULL || JSON_NODE_HOLDS_NULL (payload)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_MISSING_FIELD,
                 "“payload”: required field is missing");
    return NULL;
  }

  self = g_object_new (BEACH_TYPE_STATE_DIFF, NULL);
  self->sequence = (guint64) sequence;
  self->emitted_at_ms = emitted_at;
  self->payload = deep_copy (payload);
  json_node_seal (self->payload);
  /* Measured once: the fast path asks for every diff whether it fits. */
  shallow = build_json (self, FALSE);
  text = json_to_string (shallow, FALSE);
  self->size = strlen (text);
  return g_steal_pointer (&self);
}

/**
 * beach_state_diff_new_from_string:
 * @json: the text of a `StateDiff` object
 * @error: return location for a #GError
 *
 * Parses JSON text, then the diff; see beach_state_diff_new_from_json().
 *
 * Returns: (transfer full) (nullable): a new #BeachStateDiff, or %NULL with
 *   @error set
 */
BeachStateDiff *
beach_state_diff_new_from_string (const gchar *json, GError **error)
{
  g_autoptr (JsonNode) node = beach_json_from_string (json, -1, error);

  if (node == NULL)
    return NULL;
  return beach_state_diff_new_from_json (node, error);
}

/**
 * beach_state_diff_new:
 * @sequence: the harness's sequence number, at most %G_MAXINT64
 * @emitted_at_ms: when the harness emitted the diff, in epoch milliseconds
 * @payload: (nullable): the diff itself, any JSON value but null; it is
 *   copied
 * @error: return location for a #GError
 *
 * Builds a diff and validates it exactly as the wire parser would; a %NULL
 * or null @payload is %BEACH_ERROR_MISSING_FIELD.
 *
 * Returns: (transfer full) (nullable): a new #BeachStateDiff, or %NULL with
 *   @error set
 */
BeachStateDiff *
beach_state_diff_new (guint64 sequence, gint64 emitted_at_ms, JsonNode *payload, GError **error)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  /* A sequence past G_MAXINT64 wraps negative and fails the range check. */
  json_object_set_int_member (obj, "sequence", (gint64) sequence);
  json_object_set_int_member (obj, "emitted_at", emitted_at_ms);
  if (payload != NULL)
    json_object_set_member (obj, "payload", json_node_copy (payload));
  json_node_set_object (node, obj);
  return beach_state_diff_new_from_json (node, error);
}

/**
 * beach_state_diff_get_sequence:
 * @self: a #BeachStateDiff
 *
 * Returns: the harness's sequence number
 */
guint64
beach_state_diff_get_sequence (BeachStateDiff *self)
{
  g_return_val_if_fail (BEACH_IS_STATE_DIFF (self), 0);
  return self->sequence;
}

/**
 * beach_state_diff_get_emitted_at_ms:
 * @self: a #BeachStateDiff
 *
 * Returns: when the harness emitted the diff, in epoch milliseconds
 */
gint64
beach_state_diff_get_emitted_at_ms (BeachStateDiff *self)
{
  g_return_val_if_fail (BEACH_IS_STATE_DIFF (self), -1);
  return self->emitted_at_ms;
}

/**
 * beach_state_diff_get_payload:
 * @self: a #BeachStateDiff
 *
 * Returns: (transfer none): the payload, never a null node; it is sealed
 *   (immutable)
 */
JsonNode *
beach_state_diff_get_payload (BeachStateDiff *self)
{
  g_return_val_if_fail (BEACH_IS_STATE_DIFF (self), NULL);
  return self->payload;
}

/**
 * beach_state_diff_get_payload_size:
 * @self: a #BeachStateDiff
 *
 * The size of the whole diff as beach_state_diff_to_string() writes it,
 * which tells whether it fits in one fast-path frame (with the frame
 * envelope added) or must go over HTTP.
 *
 * Returns: the size of the serialised diff as compact JSON, in bytes
 */
gsize
beach_state_diff_get_payload_size (BeachStateDiff *self)
{
  g_return_val_if_fail (BEACH_IS_STATE_DIFF (self), 0);
  return self->size;
}

/**
 * beach_state_diff_to_json:
 * @self: a #BeachStateDiff
 *
 * Serialises the diff in its wire form; `emitted_at` is emitted as
 * `{secs_since_epoch, nanos_since_epoch}`.
 *
 * Returns: (transfer full): a new JSON node, the payload included, that the
 *   caller may change
 */
JsonNode *
beach_state_diff_to_json (BeachStateDiff *self)
{
  g_return_val_if_fail (BEACH_IS_STATE_DIFF (self), NULL);
  return build_json (self, TRUE);
}

/**
 * beach_state_diff_to_string:
 * @self: a #BeachStateDiff
 *
 * Returns: (transfer full): the wire form as compact JSON text
 */
gchar *
beach_state_diff_to_string (BeachStateDiff *self)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (BEACH_IS_STATE_DIFF (self), NULL);
  node = build_json (self, FALSE);
  return json_to_string (node, FALSE);
}
