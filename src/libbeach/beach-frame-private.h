/* beach-frame-private.h: fast-path frames: encode, chunk, parse, reassemble
 *
 * Pure functions of WIRE.md "Fast path": no I/O, no clock of their own
 * (callers pass monotonic microseconds), so every rule is unit-tested
 * without a peer connection.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Every frame on the wire is at most this many bytes, envelope included. */
#define BEACH_FRAME_MAX_BYTES_DEFAULT 14336
/* The smallest frame size a chunk envelope fits in with room to spare. */
#define BEACH_FRAME_MAX_BYTES_MIN 512
#define BEACH_FRAME_CHUNK_VERSION 1
/* Reassembly caps: per channel, over all channels, and age. */
#define BEACH_REASSEMBLY_MAX_PER_CHANNEL 16
#define BEACH_REASSEMBLY_MAX_BYTES       (1024 * 1024)
#define BEACH_REASSEMBLY_TIMEOUT_MS      15000
/* The most slices one message may announce. */
#define BEACH_REASSEMBLY_MAX_COUNT 65536

/* One parsed wire frame. For a chunk, chunk holds the whole object. */
typedef struct {
  gchar *type;
  JsonNode *payload; /* never NULL: a null node when the frame had none */
  JsonObject *chunk; /* set only when type is "chunk" */
} BeachFrame;

/* {"type":T,"payload":P}, compact; a NULL payload is sent as null. */
gchar *beach_frame_encode (const gchar *type,
                           JsonNode *payload);

/* Splits an encoded frame into chunk frames of at most max_frame_bytes
 * each. Every slice is the standard base64 of a contiguous byte range of
 * the frame (so it decodes on its own); ids are random UUIDs. */
GPtrArray *beach_frame_chunk (const gchar *frame,
                              gsize frame_len,
                              gsize max_frame_bytes,
                              const gchar *scope,
                              GError **error);

/* The types a link emits: action, ping, ack, pong, state, health. */
gboolean beach_frame_type_is_known (const gchar *type);

/* A JSON object with a non-empty string "type"; BEACH_ERROR_MALFORMED
 * otherwise. */
BeachFrame *beach_frame_parse (const gchar *text,
                               gsize len,
                               GError **error);
void beach_frame_free (BeachFrame *frame);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachFrame, beach_frame_free)

typedef struct _BeachReassembler BeachReassembler;

typedef enum {
  BEACH_CHUNK_HELD,      /* kept, the message is not complete yet */
  BEACH_CHUNK_COMPLETE,  /* the message is complete: see out_message */
  BEACH_CHUNK_MALFORMED, /* not a valid chunk; nothing changed */
  BEACH_CHUNK_DROPPED,   /* a cap refused or dropped this reassembly */
  BEACH_CHUNK_IGNORED,   /* a slice of a reassembly dropped earlier */
} BeachChunkResult;

BeachReassembler *beach_reassembler_new (guint n_channels,
                                         guint max_per_channel,
                                         gsize max_bytes,
                                         gint64 timeout_us);
void beach_reassembler_free (BeachReassembler *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachReassembler, beach_reassembler_free)
void beach_reassembler_set_timeout (BeachReassembler *self,
                                    gint64 timeout_us);

/* Feeds one chunk object received on channel. On COMPLETE, out_message is
 * the reassembled bytes (an encoded frame). Slices may come in any order
 * and of any size; the scope is ignored. */
BeachChunkResult beach_reassembler_add (BeachReassembler *self,
                                        guint channel,
                                        JsonObject *chunk,
                                        gint64 now_us,
                                        GBytes **out_message,
                                        GError **error);
/* Drops reassemblies older than the timeout; returns how many. */
guint beach_reassembler_expire (BeachReassembler *self,
                                gint64 now_us);
/* When the oldest reassembly times out, or -1 with none. */
gint64 beach_reassembler_next_deadline (BeachReassembler *self);
guint beach_reassembler_get_count (BeachReassembler *self,
                                   guint channel);
gsize beach_reassembler_get_bytes (BeachReassembler *self);

G_END_DECLS
