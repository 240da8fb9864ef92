/* fuzz-frames.c: fast-path frames and chunk reassembly
 *
 * First byte even: the rest is a sequence of frames, one per line; each is
 * parsed and every chunk is fed to one reassembler (small caps, so they
 * are reached), with the channel and the clock taken from the input. The
 * caps must hold after every slice, and a completed message must be what
 * the slices carried.
 * First byte odd: the rest is a frame that beach_frame_chunk() splits;
 * its chunks, fed back in an order taken from the input, must reassemble
 * to the same bytes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-common.h"

#include <string.h>

#include "beach-frame-private.h"

#define N_CHANNELS      3
#define MAX_PER_CHANNEL 4
#define MAX_BYTES       8192
#define TIMEOUT_US      1000

static void
check_caps (BeachReassembler *r)
{
  guint total = 0;

  g_assert_cmpuint (beach_reassembler_get_bytes (r), <=, MAX_BYTES);
  for (guint ch = 0; ch < N_CHANNELS; ch++) {
    g_assert_cmpuint (beach_reassembler_get_count (r, ch), <=, MAX_PER_CHANNEL);
    total += beach_reassembler_get_count (r, ch);
  }
  if (total == 0)
    g_assert_cmpint (beach_reassembler_next_deadline (r), ==, -1);
  else
    g_assert_cmpint (beach_reassembler_next_deadline (r), >=, 0);
}

static void
feed_lines (const gchar *data, gsize size)
{
  g_autoptr (BeachReassembler) r = beach_reassembler_new (N_CHANNELS, MAX_PER_CHANNEL, MAX_BYTES, TIMEOUT_US);
  gint64 now = 0;
  gsize pos = 0;

  while (pos < size) {
    const gchar *line = data + pos;
    const gchar *nl = memchr (line, '\n', size - pos);
    gsize len = nl != NULL ? (gsize) (nl - line) : size - pos;
    g_autoptr (GError) error = NULL;
    g_autoptr (BeachFrame) frame = NULL;
    guint channel = 0;

    pos += len + (nl != NULL ? 1 : 0);
    /* "N|" before a frame: channel N % N_CHANNELS, N ms later. */
    if (len >= 2 && line[1] == '|' && g_ascii_isdigit (line[0])) {
      channel = (guint) (line[0] - '0') % N_CHANNELS;
      now += (line[0] - '0') * 100;
      line += 2;
      len -= 2;
    }
    frame = beach_frame_parse (line, len, &error);
    if (frame == NULL) {
      FUZZ_ASSERT_REFUSAL (error);
      continue;
    }
    g_assert (frame->type != NULL && frame->type[0] != '\0' && frame->payload != NULL);
    if (frame->chunk != NULL) {
      g_autoptr (GBytes) message = NULL;
      BeachChunkResult res = beach_reassembler_add (r, channel, frame->chunk, now, &message, &error);

      switch (res) {
        case BEACH_CHUNK_COMPLETE:
          g_assert (message != NULL && error == NULL);
          break;
        case BEACH_CHUNK_HELD:
        case BEACH_CHUNK_IGNORED:
          g_assert (message == NULL);
          break;
        case BEACH_CHUNK_MALFORMED:
        case BEACH_CHUNK_DROPPED:
          g_assert (message == NULL);
          FUZZ_ASSERT_REFUSAL (error);
          break;
        default:
          g_assert_not_reached ();
      }
      check_caps (r);
      if (message != NULL) {
        gsize mlen = 0;
        const gchar *m = g_bytes_get_data (message, &mlen);
        g_autoptr (GError) inner_error = NULL;
        g_autoptr (BeachFrame) inner = beach_frame_parse (m != NULL ? m : "", mlen, &inner_error);

        if (inner == NULL)
          FUZZ_ASSERT_REFUSAL (inner_error);
      }
    }
    beach_reassembler_expire (r, now);
    check_caps (r);
  }
}

static void
chunk_round_trip (const gchar *data, gsize size)
{
  g_autoptr (BeachReassembler) r = NULL;
  g_autoptr (GPtrArray) chunks = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) message = NULL;
  g_autofree guint *order = NULL;
  gsize max_frame;
  guint8 seed;

  if (size < 2)
    return;
  /* 1..256 KiB of frame cut into frames of 512..~4 KiB. */
  max_frame = BEACH_FRAME_MAX_BYTES_MIN + (guint8) data[0] * 16;
  seed = (guint8) data[1];
  data += 2;
  size -= 2;
  chunks = beach_frame_chunk (data, size, max_frame, "fuzz", &error);
  if (chunks == NULL) {
    FUZZ_ASSERT_REFUSAL (error);
    return;
  }
  g_assert_cmpuint (chunks->len, >=, 1);
  r = beach_reassembler_new (1, 1, BEACH_REASSEMBLY_MAX_BYTES, TIMEOUT_US);
  order = g_new (guint, chunks->len);
  for (guint i = 0; i < chunks->len; i++)
    order[i] = i;
  /* A permutation from the seed: some senders' slices arrive out of order. */
  for (guint i = chunks->len; i > 1; i--) {
    guint j = (guint) ((seed * 2654435761u + i * 40503u) % i);
    guint t = order[i - 1];

    order[i - 1] = order[j];
    order[j] = t;
  }
  for (guint i = 0; i < chunks->len; i++) {
    const gchar *text = chunks->pdata[order[i]];
    g_autoptr (GError) chunk_error = NULL;
    g_autoptr (BeachFrame) frame = NULL;
    BeachChunkResult res;

    g_assert_cmpuint (strlen (text), <=, max_frame);
    frame = beach_frame_parse (text, strlen (text), &chunk_error);
    g_assert_no_error (chunk_error);
    g_assert (frame->chunk != NULL);
    res = beach_reassembler_add (r, 0, frame->chunk, 0, &message, &chunk_error);
    g_assert_no_error (chunk_error);
    g_assert_cmpint (res, ==, i + 1 == chunks->len ? BEACH_CHUNK_COMPLETE : BEACH_CHUNK_HELD);
  }
  g_assert (message != NULL);
  g_assert_cmpuint (g_bytes_get_size (message), ==, size);
  g_assert (size == 0 || memcmp (g_bytes_get_data (message, NULL), data, size) == 0);
  g_assert_cmpuint (beach_reassembler_get_bytes (r), ==, 0);
  g_assert_cmpuint (beach_reassembler_get_count (r, 0), ==, 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint8 mode;

  fuzz_init ();
  mode = fuzz_take_byte (&data, &size);
  if (mode % 2 == 0)
    feed_lines ((const gchar *) data, size);
  else
    chunk_round_trip ((const gchar *) data, size);
  return 0;
}
