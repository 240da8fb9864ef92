/* beach-frame-private.c: fast-path frames: encode, chunk, parse, reassemble
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-frame"

#include "config.h"

#include <string.h>

#include "beach-error.h"
#include "beach-frame-private.h"
#include "beach-json-private.h"

/* How many recently dropped reassemblies are remembered, so their later
 * slices are ignored instead of starting doomed reassemblies. */
#define DROPPED_MEMORY 64
#define TYPE_MAX_LEN   64
#define ID_MAX_LEN     128

static const gchar *const known_types[] = {
  "action", "ping", "ack", "pong", "state", "health", NULL
};

gboolean
beach_frame_type_is_known (const gchar *type)
{
  return type != NULL && g_strv_contains (known_types, type);
}

gchar *
beach_frame_encode (const gchar *type, JsonNode *payload)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

  g_return_val_if_fail (type != NULL, NULL);

  json_object_set_string_member (obj, "type", type);
  if (payload != NULL)
    json_object_set_member (obj, "payload", json_node_copy (payload));
  else
    json_object_set_null_member (obj, "payload");
  json_node_set_object (root, obj);
  return json_to_string (root, FALSE);
}

static gchar *
chunk_encode (const gchar *scope, const gchar *id, guint index, guint count, const gchar *b64)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (obj, "type", "chunk");
  json_object_set_int_member (obj, "version", BEACH_FRAME_CHUNK_VERSION);
  json_object_set_string_member (obj, "scope", scope);
  json_object_set_string_member (obj, "id", id);
  json_object_set_int_member (obj, "index", index);
  json_object_set_int_member (obj, "count", count);
  json_object_set_string_member (obj, "payload", b64);
  json_node_set_object (root, obj);
  return json_to_string (root, FALSE);
}

GPtrArray *
beach_frame_chunk (const gchar *frame, gsize frame_len, gsize max_frame_bytes, const gchar *scope, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *id = g_uuid_string_random ();
  gsize per_chunk = 0; /* raw bytes per slice, a multiple of 3 */
  guint count = 1;

  g_return_val_if_fail (frame != NULL, NULL);
  if (scope == NULL)
    scope = "";

  /* The envelope grows with the digits of index and count: settle on a
   * count whose envelope leaves room for the slices it implies. */
  for (guint round = 0; round < 8; round++) {
    g_autofree gchar *probe = chunk_encode (scope, id, count - 1, count, "");
    gsize overhead = strlen (probe);
    guint needed;

    if (overhead + 4 > max_frame_bytes) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                   "max frame size %" G_GSIZE_FORMAT " is too small for a chunk envelope",
                   max_frame_bytes);
      return NULL;
    }
    per_chunk = (max_frame_bytes - overhead) / 4 * 3;
    needed = (guint) MAX ((gsize) 1, (frame_len + per_chunk - 1) / per_chunk);
    if (needed <= count)
      break;
    count = needed;
  }
  if (count > BEACH_REASSEMBLY_MAX_COUNT) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                 "a frame of %" G_GSIZE_FORMAT " bytes needs more than %u chunks",
                 frame_len, BEACH_REASSEMBLY_MAX_COUNT);
    return NULL;
  }

  for (guint i = 0; i < count; i++) {
    gsize off = (gsize) i * per_chunk;
    gsize len = MIN (per_chunk, frame_len - MIN (off, frame_len));
    g_autofree gchar *b64 = g_base64_encode ((const guchar *) frame + off, len);
    gchar *text = chunk_encode (scope, id, i, count, b64);

    if (strlen (text) > max_frame_bytes) {
      /* Cannot happen with the sizes settled above; never send one. */
      g_free (text);
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
                   "chunk %u of %u came out over %" G_GSIZE_FORMAT " bytes", i, count,
                   max_frame_bytes);
      return NULL;
    }
    g_ptr_array_add (out, text);
  }
  return g_steal_pointer (&out);
}

void
beach_frame_free (BeachFrame *frame)
{
  if (frame == NULL)
    return;
  g_free (frame->type);
  g_clear_pointer (&frame->payload, json_node_unref);
  g_clear_pointer (&frame->chunk, json_object_unref);
  g_free (frame);
}

BeachFrame *
beach_frame_parse (const gchar *text, gsize len, GError **error)
{
  g_autoptr (JsonNode) root = beach_json_from_string (text, (gssize) len, error);
  g_autoptr (BeachFrame) frame = NULL;
  JsonObject *obj;
  JsonNode *type;
  JsonNode *payload;

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED, "a frame must be a JSON object");
    return NULL;
  }
  obj = json_node_get_object (root);
  type = json_object_get_member (obj, "type");
  if (type == NULL || !JSON_NODE_HOLDS_VALUE (type) || json_node_get_value_type (type) != G_TYPE_STRING || json_node_get_string (type)[0] == '\0' || strlen (json_node_get_string (type)) > TYPE_MAX_LEN) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "a frame needs a non-empty string “type”");
    return NULL;
  }
  frame = g_new0 (BeachFrame, 1);
  frame->type = g_strdup (json_node_get_string (type));
  payload = json_object_get_member (obj, "payload");
  /* A copy has no parent: the root goes away with this function. */
  frame->payload = payload != NULL ? json_node_copy (payload) : json_node_new (JSON_NODE_NULL);
  if (g_str_equal (frame->type, "chunk"))
    frame->chunk = json_object_ref (obj);
  return g_steal_pointer (&frame);
}

/* -- reassembly */

typedef struct {
  gchar *key; /* "channel:id" */
  guint channel;
  guint count;
  gsize bytes; /* decoded size estimate, counted toward the cap */
  gint64 started_us;
  GHashTable *slices; /* index -> base64 text */
} Reassembly;

struct _BeachReassembler {
  guint n_channels;
  guint max_per_channel;
  gsize max_bytes;
  gsize bytes;
  gint64 timeout_us;
  guint *per_channel;
  GHashTable *by_key; /* key -> Reassembly* */
  GQueue dropped;     /* keys, oldest first */
  GHashTable *dropped_set;
};

static void
reassembly_free (Reassembly *r)
{
  g_free (r->key);
  g_hash_table_unref (r->slices);
  g_free (r);
}

BeachReassembler *
beach_reassembler_new (guint n_channels, guint max_per_channel, gsize max_bytes, gint64 timeout_us)
{
  BeachReassembler *self = g_new0 (BeachReassembler, 1);

  self->n_channels = n_channels;
  self->max_per_channel = max_per_channel;
  self->max_bytes = max_bytes;
  self->timeout_us = timeout_us;
  self->per_channel = g_new0 (guint, n_channels);
  self->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) reassembly_free);
  g_queue_init (&self->dropped);
  self->dropped_set = g_hash_table_new (g_str_hash, g_str_equal);
  return self;
}

void
beach_reassembler_free (BeachReassembler *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->by_key);
  g_hash_table_unref (self->dropped_set);
  g_queue_clear_full (&self->dropped, g_free);
  g_free (self->per_channel);
  g_free (self);
}

void
beach_reassembler_set_timeout (BeachReassembler *self, gint64 timeout_us)
{
  self->timeout_us = timeout_us;
}

static void
remember_dropped (BeachReassembler *self, const gchar *key)
{
  gchar *copy;

  if (g_hash_table_contains (self->dropped_set, key))
    return;
  if (self->dropped.length >= DROPPED_MEMORY) {
    gchar *old = g_queue_pop_head (&self->dropped);

    g_hash_table_remove (self->dropped_set, old);
    g_free (old);
  }
  copy = g_strdup (key);
  g_queue_push_tail (&self->dropped, copy);
  g_hash_table_add (self->dropped_set, copy);
}

static void
drop (BeachReassembler *self, Reassembly *r)
{
  self->bytes -= r->bytes;
  self->per_channel[r->channel]--;
  remember_dropped (self, r->key);
  g_hash_table_remove (self->by_key, r->key);
}

static gboolean
base64_is_valid (const gchar *s, gsize len)
{
  gsize pad = 0;

  for (gsize i = 0; i < len; i++) {
    gchar c = s[i];

    if (c == '=') {
      pad++;
      continue;
    }
    if (pad > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
      return FALSE;
  }
  return pad <= 2;
}

/* Slices decode on their own when each is whole base64 (a multiple of 4),
 * and together when a sender cut one base64 text anywhere: text is
 * carried over until it is aligned again. */
static GBytes *
assemble (Reassembly *r, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_sized_new ((guint) r->bytes);
  g_autoptr (GString) pending = g_string_new (NULL);

  for (guint i = 0; i < r->count; i++) {
    const gchar *slice = g_hash_table_lookup (r->slices, GUINT_TO_POINTER (i));

    g_string_append (pending, slice);
    if (pending->len % 4 == 0 && pending->len > 0) {
      gsize n = 0;
      g_autofree guchar *raw = g_base64_decode (pending->str, &n);

      g_byte_array_append (out, raw, (guint) n);
      g_string_truncate (pending, 0);
    } else if (strchr (slice, '=') != NULL) {
      break;
    }
  }
  if (pending->len != 0) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_MALFORMED,
                         "the chunk payloads do not join into base64");
    return NULL;
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static gboolean
read_chunk (JsonObject *chunk, const gchar **id, gint64 *index, gint64 *count, const gchar **b64, GError **error)
{
  gint64 version = BEACH_FRAME_CHUNK_VERSION;

  if (!beach_json_get_int (chunk, "version", "version", FALSE, 0, G_MAXINT32, &version, NULL, error))
    return FALSE;
  if (version != BEACH_FRAME_CHUNK_VERSION) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“version”: %" G_GINT64_FORMAT " is not supported", version);
    return FALSE;
  }
  if (!beach_json_get_string (chunk, "id", "id", TRUE, ID_MAX_LEN, id, error))
    return FALSE;
  if (**id == '\0') {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“id”: empty");
    return FALSE;
  }
  if (!beach_json_get_int (chunk, "count", "count", TRUE, 1, BEACH_REASSEMBLY_MAX_COUNT, count, NULL, error))
    return FALSE;
  if (!beach_json_get_int (chunk, "index", "index", TRUE, 0, *count - 1, index, NULL, error))
    return FALSE;
  if (!beach_json_get_string (chunk, "payload", "payload", TRUE, 0, b64, error))
    return FALSE;
  if (!base64_is_valid (*b64, strlen (*b64))) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“payload”: not base64");
    return FALSE;
  }
  return TRUE;
}

BeachChunkResult
beach_reassembler_add (BeachReassembler *self, guint channel, JsonObject *chunk, gint64 now_us, GBytes **out_message, GError **error)
{
  const gchar *id = NULL;
  const gchar *b64 = NULL;
  gint64 index = 0;
  gint64 count = 0;
  g_autofree gchar *key = NULL;
  Reassembly *r;
  gsize add;

  g_return_val_if_fail (channel < self->n_channels, BEACH_CHUNK_MALFORMED);
  *out_message = NULL;

  if (!read_chunk (chunk, &id, &index, &count, &b64, error))
    return BEACH_CHUNK_MALFORMED;

  key = g_strdup_printf ("%u:%s", channel, id);
  if (g_hash_table_contains (self->dropped_set, key))
    return BEACH_CHUNK_IGNORED;

  r = g_hash_table_lookup (self->by_key, key);
  if (r == NULL) {
    if (self->per_channel[channel] >= self->max_per_channel) {
      remember_dropped (self, key);
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_TOO_MANY_REQUESTS,
                   "already %u reassemblies on this channel", self->max_per_channel);
      return BEACH_CHUNK_DROPPED;
    }
    r = g_new0 (Reassembly, 1);
    r->key = g_strdup (key);
    r->channel = channel;
    r->count = (guint) count;
    r->started_us = now_us;
    r->slices = g_hash_table_new_full (NULL, NULL, NULL, g_free);
    g_hash_table_insert (self->by_key, r->key, r);
    self->per_channel[channel]++;
  } else if (r->count != (guint) count) {
    drop (self, r);
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "“count” changed within one message");
    return BEACH_CHUNK_DROPPED;
  }

  if (g_hash_table_contains (r->slices, GINT_TO_POINTER ((gint) index)))
    return BEACH_CHUNK_HELD; /* a duplicate slice changes nothing */

  add = strlen (b64) / 4 * 3 + strlen (b64) % 4;
  if (self->bytes + add > self->max_bytes) {
    drop (self, r);
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                 "reassemblies would hold over %" G_GSIZE_FORMAT " bytes", self->max_bytes);
    return BEACH_CHUNK_DROPPED;
  }
  g_hash_table_insert (r->slices, GINT_TO_POINTER ((gint) index), g_strdup (b64));
  r->bytes += add;
  self->bytes += add;

  if (g_hash_table_size (r->slices) < r->count)
    return BEACH_CHUNK_HELD;

  *out_message = assemble (r, error);
  self->bytes -= r->bytes;
  self->per_channel[r->channel]--;
  if (*out_message == NULL) {
    remember_dropped (self, r->key);
    g_hash_table_remove (self->by_key, key);
    return BEACH_CHUNK_MALFORMED;
  }
  g_hash_table_remove (self->by_key, key);
  return BEACH_CHUNK_COMPLETE;
}

guint
beach_reassembler_expire (BeachReassembler *self, gint64 now_us)
{
  g_autoptr (GPtrArray) old = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->by_key);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Reassembly *r = value;

    if (now_us - r->started_us >= self->timeout_us)
      g_ptr_array_add (old, r);
  }
  for (guint i = 0; i < old->len; i++)
    drop (self, old->pdata[i]);
  return old->len;
}

gint64
beach_reassembler_next_deadline (BeachReassembler *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 next = -1;

  g_hash_table_iter_init (&iter, self->by_key);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Reassembly *r = value;
    gint64 due = r->started_us + self->timeout_us;

    if (next < 0 || due < next)
      next = due;
  }
  return next;
}

guint
beach_reassembler_get_count (BeachReassembler *self, guint channel)
{
  g_return_val_if_fail (channel < self->n_channels, 0);
  return self->per_channel[channel];
}

gsize
beach_reassembler_get_bytes (BeachReassembler *self)
{
  return self->bytes;
}
