/* fuzz-redis-reply.c: the parsers of Redis replies
 *
 * The first byte picks the reply shape; the rest is RESP, read into a
 * reply tree by hiredis' own reader and handed to the parser of that
 * shape, as the queue and the session store receive it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "fuzz-common.h"

#include <string.h>

#include "beach-redis-private.h"

/* hiredis 0.14 callocs an array's element table from the announced count
 * before any element arrives: keep counts small so the fuzzer does not
 * chase allocation limits of the reader instead of our parsers. */
#define MAX_ANNOUNCED 4096

enum {
  SHAPE_READ,
  SHAPE_ACK,
  SHAPE_STATS,
  SHAPE_DEAD_LETTERS,
  SHAPE_MAINTAIN,
  SHAPE_SESSION_HASH,
  SHAPE_TAG,
  N_SHAPES
};

static gboolean
counts_are_small (const gchar *data, gsize size)
{
  for (gsize i = 0; i < size; i++) {
    guint64 n = 0;
    gsize j = i + 1;

    if (data[i] != '*' && data[i] != '$')
      continue;
    if (j < size && data[j] == '-')
      j++;
    for (; j < size && g_ascii_isdigit (data[j]); j++) {
      n = n * 10 + (guint64) (data[j] - '0');
      if (n > MAX_ANNOUNCED)
        return FALSE;
    }
  }
  return TRUE;
}

static BeachRedisReply *
read_reply (const gchar *data, gsize size)
{
  redisReader *reader;
  void *raw = NULL;
  BeachRedisReply *reply = NULL;

  if (!counts_are_small (data, size))
    return NULL;
  reader = redisReaderCreate ();
  g_assert (reader != NULL);
  if (redisReaderFeed (reader, data, size) == REDIS_OK && redisReaderGetReply (reader, &raw) == REDIS_OK && raw != NULL)
    reply = beach_redis_reply_new_from_hiredis (raw);
  if (raw != NULL)
    freeReplyObject (raw);
  redisReaderFree (reader);
  return reply;
}

static const BeachRedisReply *
element (const BeachRedisReply *reply, guint index, gboolean array, guint min_elements)
{
  const BeachRedisReply *e;

  if (reply == NULL || reply->type != BEACH_REDIS_REPLY_ARRAY || index >= reply->n_elements)
    return NULL;
  e = reply->elements[index];
  if (array && (e->type != BEACH_REDIS_REPLY_ARRAY || e->n_elements < min_elements))
    return NULL;
  return e;
}

static void
check_stats (const BeachQueueStats *stats)
{
  g_assert_cmpuint (stats->delivered, <=, stats->depth);
}

/* The read script: {entries, dead-lettered ids, expired pairs, depth, delivered}. */
static gboolean
parse_read (const BeachRedisReply *reply, GError **error)
{
  const BeachRedisReply *list = element (reply, 0, TRUE, 0);
  BeachQueueStats stats = { 0 };
  BeachQueueOutbox out;
  gboolean ok;

  if (list == NULL)
    return TRUE; /* read_apply refuses it before any parser runs */
  if (!beach_redis_queue_parse_stats (reply, 3, &stats, error))
    return FALSE;
  check_stats (&stats);
  beach_queue_outbox_init (&out, "fuzz-beach", "fuzz-session");
  ok = beach_redis_queue_collect_removed (reply, 1, &out, error);
  beach_queue_outbox_clear (&out);
  if (!ok)
    return FALSE;
  for (guint i = 0; i < list->n_elements; i++) {
    const BeachRedisReply *item = element (list, i, TRUE, 4);
    g_autoptr (BeachQueueEntry) entry = NULL;

    if (item == NULL)
      continue;
    entry = beach_redis_queue_parse_entry ("fuzz-session", item, error);
    if (entry == NULL && error != NULL && *error != NULL)
      return FALSE;
    if (entry != NULL)
      g_assert (entry->action != NULL && entry->deliveries >= 1);
  }
  return TRUE;
}

static gboolean
parse_ack (const BeachRedisReply *reply, GError **error)
{
  BeachQueueStats stats = { 0 };

  if (!beach_redis_queue_parse_stats (reply, 1, &stats, error))
    return FALSE;
  check_stats (&stats);
  return TRUE;
}

static gboolean
parse_dead_letters (const BeachRedisReply *reply, GError **error)
{
  for (guint i = 0; i < reply->n_elements; i++) {
    const BeachRedisReply *item = element (reply, i, TRUE, 2);
    g_autoptr (BeachDeadLetter) letter = NULL;

    if (item == NULL)
      continue;
    letter = beach_redis_queue_parse_dead_letter ("fuzz-session", item, error);
    if (letter == NULL && error != NULL && *error != NULL)
      return FALSE;
    if (letter != NULL)
      g_assert (letter->id != NULL && letter->action != NULL && letter->at_ms >= 0);
  }
  return TRUE;
}

static gboolean
parse_maintain (const BeachRedisReply *reply, GError **error)
{
  BeachQueueStats stats = { 0 };
  BeachQueueOutbox out;
  gboolean ok;

  if (!beach_redis_queue_parse_stats (reply, 4, &stats, error))
    return FALSE;
  check_stats (&stats);
  beach_queue_outbox_init (&out, "fuzz-beach", "fuzz-session");
  ok = beach_redis_queue_collect_removed (reply, 0, &out, error);
  beach_queue_outbox_clear (&out);
  return ok;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const guint min_elements[N_SHAPES] = { 5, 3, 2, 0, 6, 0, 0 };
  g_autoptr (BeachRedisReply) reply = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok = TRUE;
  guint shape;

  fuzz_init ();
  shape = fuzz_take_byte (&data, &size) % N_SHAPES;
  reply = read_reply ((const gchar *) data, size);
  if (reply == NULL)
    return 0;

  if (shape == SHAPE_SESSION_HASH) {
    g_autoptr (BeachStoredSession) stored = beach_session_store_parse_stored (reply, &error);

    ok = stored != NULL;
    if (ok)
      g_assert (stored->registration != NULL && stored->harness_id != NULL && stored->handshake_id != NULL && stored->leases != NULL);
  } else if (shape == SHAPE_TAG) {
    g_autofree gchar *p = NULL;
    g_autofree gchar *s = NULL;

    if (reply->str != NULL && beach_redis_queue_parse_tag (reply->str, reply->len, &p, &s))
      g_assert (p != NULL && s != NULL);
    else
      g_assert (p == NULL && s == NULL);
    return 0;
  } else {
    reply = beach_redis_queue_finish_reply (g_steal_pointer (&reply), min_elements[shape], &error);
    if (reply == NULL) {
      ok = FALSE;
    } else {
      switch (shape) {
        case SHAPE_READ:
          ok = parse_read (reply, &error);
          break;
        case SHAPE_ACK:
          ok = parse_ack (reply, &error);
          break;
        case SHAPE_STATS: {
          BeachQueueStats stats = { 0 };

          ok = beach_redis_queue_parse_stats (reply, 0, &stats, &error);
          if (ok)
            check_stats (&stats);
          break;
        }
        case SHAPE_DEAD_LETTERS:
          ok = parse_dead_letters (reply, &error);
          break;
        case SHAPE_MAINTAIN:
          ok = parse_maintain (reply, &error);
          break;
        default:
          g_assert_not_reached ();
      }
    }
  }
  if (!ok)
    FUZZ_ASSERT_REFUSAL (error);
  return 0;
}
