/* beach-session-store.c: session records, leases and the secret in Redis
 *
 * Keys (WIRE.md "Redis keys"): PREFIX:secret, PREFIX:session-index (hash
 * S -> P), PREFIX:{P:S}:session (hash: registration, harness_id,
 * registered_at_ms, handshake_id, and one `lease:TOKEN` field per lease),
 * PREFIX:activity (zset S -> last activity ms).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-session-store"

#include "config.h"

#include "beach-auth.h"
#include "beach-json-private.h"
#include "beach-redis-private.h"
#include "beach-session-store.h"

struct _BeachSessionStore {
  GObject parent_instance;

  BeachRedisClient *client;
  gchar *prefix;
};

G_DEFINE_FINAL_TYPE (BeachSessionStore, beach_session_store, G_TYPE_OBJECT)

void
beach_stored_session_free (BeachStoredSession *stored)
{
  if (stored == NULL)
    return;
  g_clear_pointer (&stored->registration, beach_registration_free);
  g_free (stored->harness_id);
  g_free (stored->handshake_id);
  g_clear_pointer (&stored->leases, g_ptr_array_unref);
  g_free (stored);
}

static void
beach_session_store_finalize (GObject *object)
{
  BeachSessionStore *self = BEACH_SESSION_STORE (object);

  g_clear_object (&self->client);
  g_free (self->prefix);
  G_OBJECT_CLASS (beach_session_store_parent_class)->finalize (object);
}

static void
beach_session_store_class_init (BeachSessionStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_session_store_finalize;
}

static void
beach_session_store_init (BeachSessionStore *self)
{
}

BeachSessionStore *
beach_session_store_new (BeachRedisClient *client, const gchar *prefix)
{
  BeachSessionStore *self = g_object_new (BEACH_TYPE_SESSION_STORE, NULL);

  self->client = g_object_ref (client);
  self->prefix = g_strdup (prefix != NULL ? prefix : "beach");
  return self;
}

static gchar *
key (BeachSessionStore *self, const gchar *name)
{
  return g_strdup_printf ("%s:%s", self->prefix, name);
}

static gchar *
session_key (BeachSessionStore *self, const gchar *p, const gchar *s)
{
  return g_strdup_printf ("%s:{%s:%s}:session", self->prefix, p, s);
}

/* Completes task with the reply, or its error; ERROR replies become
 * BEACH_ERROR_FAILED. Returns NULL when the task was completed. */
static BeachRedisReply *
take_reply (GObject *source, GAsyncResult *result, GTask *task)
{
  g_autoptr (GError) error = NULL;
  BeachRedisReply *reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, &error);

  if (reply == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return NULL;
  }
  if (reply->type == BEACH_REDIS_REPLY_ERROR) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED, "redis: %s", reply->str);
    beach_redis_reply_free (reply);
    return NULL;
  }
  return reply;
}

/* -- secret */

static void
secret_get_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autoptr (GError) error = NULL;
  const gchar *secret;

  if (reply == NULL)
    return;
  secret = beach_redis_reply_get_string (reply, &error);
  if (secret == NULL || strlen (secret) < 16) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED,
                             "the token secret in Redis is missing or shorter than 16 characters");
    return;
  }
  g_task_return_pointer (task, g_strdup (secret), g_free);
}

static void
secret_setnx_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachSessionStore *self = g_task_get_source_object (task);
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autofree gchar *k = key (self, "secret");

  if (reply == NULL)
    return;
  beach_redis_client_commandv_async (self->client, NULL, secret_get_cb,
                                     g_steal_pointer (&task), "GET", k, NULL);
}

void
beach_session_store_secret_async (BeachSessionStore *self, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *k = key (self, "secret");
  g_autofree gchar *fresh = beach_random_token ();

  beach_redis_client_commandv_async (self->client, NULL, secret_setnx_cb, task,
                                     "SET", k, fresh, "NX", NULL);
}

gchar *
beach_session_store_secret_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- claim */

static void
claim_get_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autoptr (GError) error = NULL;
  const gchar *holder;

  if (reply == NULL)
    return;
  holder = beach_redis_reply_get_string (reply, &error);
  if (holder == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, g_strdup (holder), g_free);
}

static void
claim_setnx_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachSessionStore *self = g_task_get_source_object (task);
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autofree gchar *k = key (self, "session-index");
  const gchar *const *ids = g_task_get_task_data (task);

  if (reply == NULL)
    return;
  beach_redis_client_commandv_async (self->client, NULL, claim_get_cb, g_steal_pointer (&task),
                                     "HGET", k, ids[0], NULL);
}

void
beach_session_store_claim_async (BeachSessionStore *self, const gchar *session_id, const gchar *private_beach_id, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *k = key (self, "session-index");
  const gchar *ids[] = { session_id, NULL };

  g_task_set_task_data (task, g_strdupv ((gchar **) ids), (GDestroyNotify) g_strfreev);
  beach_redis_client_commandv_async (self->client, NULL, claim_setnx_cb, task,
                                     "HSETNX", k, session_id, private_beach_id, NULL);
}

gchar *
beach_session_store_claim_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- save */

static void
ok_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);

  if (reply != NULL)
    g_task_return_boolean (task, TRUE);
}

static void
log_failure_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("could not persist a session change: %s", error->message);
}

void
beach_session_store_save_async (BeachSessionStore *self, BeachSession *session, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback != NULL ? callback : log_failure_cb, user_data);
  g_autofree gchar *k = session_key (self, session->private_beach_id, session->session_id);
  g_autoptr (JsonNode) reg = beach_session_registration_to_json (session);
  g_autofree gchar *reg_text = json_to_string (reg, FALSE);
  g_autofree gchar *registered = g_strdup_printf ("%" G_GINT64_FORMAT, session->registered_at_ms);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer value;

  g_ptr_array_add (argv, g_strdup ("HSET"));
  g_ptr_array_add (argv, g_strdup (k));
  g_ptr_array_add (argv, g_strdup ("registration"));
  g_ptr_array_add (argv, g_strdup (reg_text));
  g_ptr_array_add (argv, g_strdup ("harness_id"));
  g_ptr_array_add (argv, g_strdup (session->harness_id));
  g_ptr_array_add (argv, g_strdup ("registered_at_ms"));
  g_ptr_array_add (argv, g_strdup (registered));
  g_ptr_array_add (argv, g_strdup ("handshake_id"));
  g_ptr_array_add (argv, g_strdup (session->handshake_id));
  g_hash_table_iter_init (&iter, session->leases);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    BeachLease *lease = value;

    g_ptr_array_add (argv, g_strconcat ("lease:", lease->token, NULL));
    g_ptr_array_add (argv, beach_lease_to_string (lease));
  }
  g_ptr_array_add (argv, NULL);
  beach_redis_client_command_async (self->client, (const gchar *const *) argv->pdata, NULL,
                                    ok_cb, task);
  beach_session_store_touch (self, session->session_id, session->last_activity_ms);
}

gboolean
beach_session_store_save_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
beach_session_store_save_lease_async (BeachSessionStore *self, BeachSession *session, const BeachLease *lease, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback != NULL ? callback : log_failure_cb, user_data);
  g_autofree gchar *k = session_key (self, session->private_beach_id, session->session_id);
  g_autofree gchar *field = g_strconcat ("lease:", lease->token, NULL);
  g_autofree gchar *text = beach_lease_to_string (lease);

  beach_redis_client_commandv_async (self->client, NULL, ok_cb, task, "HSET", k, field, text, NULL);
}

gboolean
beach_session_store_save_lease_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- fetch */

/* The one parser of a stored session hash (HGETALL reply). */
static BeachStoredSession *
parse_stored (const BeachRedisReply *reply, GError **error)
{
  g_autoptr (BeachStoredSession) stored = g_new0 (BeachStoredSession, 1);
  g_autoptr (JsonNode) reg_node = NULL;
  gint64 registered = -1;

  if (reply->type != BEACH_REDIS_REPLY_ARRAY || reply->n_elements % 2 != 0) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_FAILED, "session hash: not a field list");
    return NULL;
  }
  stored->leases = g_ptr_array_new_with_free_func ((GDestroyNotify) beach_lease_free);
  for (guint i = 0; i + 1 < reply->n_elements; i += 2) {
    const gchar *field = beach_redis_reply_get_string (reply->elements[i], error);
    const gchar *value = field != NULL ? beach_redis_reply_get_string (reply->elements[i + 1], error) : NULL;

    if (value == NULL)
      return NULL;
    /* A repeated field (never sent by Redis) replaces the earlier one. */
    if (g_str_equal (field, "registration")) {
      g_clear_pointer (&reg_node, json_node_unref);
      reg_node = beach_json_from_string (value, -1, error);
      if (reg_node == NULL)
        return NULL;
    } else if (g_str_equal (field, "harness_id")) {
      g_free (stored->harness_id);
      stored->harness_id = g_strdup (value);
    } else if (g_str_equal (field, "handshake_id")) {
      g_free (stored->handshake_id);
      stored->handshake_id = g_strdup (value);
    } else if (g_str_equal (field, "registered_at_ms")) {
      g_autoptr (GError) local_error = NULL;

      if (!g_ascii_string_to_signed (value, 10, 0, G_MAXINT64, &registered, &local_error)) {
        g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "session hash: registered_at_ms: %s",
                     local_error->message);
        return NULL;
      }
    } else if (g_str_has_prefix (field, "lease:")) {
      BeachLease *lease = beach_lease_new_from_string (value, error);

      if (lease == NULL)
        return NULL;
      g_ptr_array_add (stored->leases, lease);
    }
  }
  if (reg_node == NULL || stored->harness_id == NULL || stored->handshake_id == NULL || registered < 0) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_FAILED, "session hash: fields are missing");
    return NULL;
  }
  stored->registration = beach_registration_parse (reg_node, error);
  if (stored->registration == NULL)
    return NULL;
  stored->registered_at_ms = registered;
  return g_steal_pointer (&stored);
}

static void
fetch_hash_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autoptr (GError) error = NULL;
  BeachStoredSession *stored;

  if (reply == NULL)
    return;
  if (reply->type == BEACH_REDIS_REPLY_ARRAY && reply->n_elements == 0) {
    g_task_return_pointer (task, NULL, NULL); /* index without record: gone */
    return;
  }
  stored = parse_stored (reply, &error);
  if (stored == NULL) {
    g_prefix_error (&error, "stored session %s: ", (const gchar *) g_task_get_task_data (task));
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_pointer (task, stored, (GDestroyNotify) beach_stored_session_free);
}

static void
fetch_index_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachSessionStore *self = g_task_get_source_object (task);
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autofree gchar *k = NULL;
  const gchar *p;

  if (reply == NULL)
    return;
  if (reply->type == BEACH_REDIS_REPLY_NIL) {
    g_task_return_pointer (task, NULL, NULL);
    return;
  }
  p = beach_redis_reply_get_string (reply, NULL);
  if (p == NULL || !beach_session_id_is_valid (p)) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED,
                             "session index: bad private beach id for %s",
                             (const gchar *) g_task_get_task_data (task));
    return;
  }
  k = session_key (self, p, g_task_get_task_data (task));
  beach_redis_client_commandv_async (self->client, NULL, fetch_hash_cb, g_steal_pointer (&task),
                                     "HGETALL", k, NULL);
}

void
beach_session_store_fetch_async (BeachSessionStore *self, const gchar *session_id, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *k = key (self, "session-index");

  g_task_set_task_data (task, g_strdup (session_id), g_free);
  beach_redis_client_commandv_async (self->client, NULL, fetch_index_cb, task,
                                     "HGET", k, session_id, NULL);
}

BeachStoredSession *
beach_session_store_fetch_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- delete */

static void
delete_step_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  BeachSessionStore *self = g_task_get_source_object (task);
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  const gchar *const *ids = g_task_get_task_data (task); /* P, S, step */
  gint step = ids[2][0] - '0';
  g_autofree gchar *k = NULL;

  if (reply == NULL)
    return;
  if (step == 0) {
    ((gchar **) ids)[2][0] = '1';
    k = key (self, "activity");
    beach_redis_client_commandv_async (self->client, NULL, delete_step_cb, g_steal_pointer (&task),
                                       "ZREM", k, ids[1], NULL);
  } else if (step == 1) {
    ((gchar **) ids)[2][0] = '2';
    k = key (self, "session-index");
    beach_redis_client_commandv_async (self->client, NULL, delete_step_cb, g_steal_pointer (&task),
                                       "HDEL", k, ids[1], NULL);
  } else {
    g_task_return_boolean (task, TRUE);
  }
}

/* The record, then activity, then the index entry last: a crash half-way
 * leaves an index entry without a record, which fetch reads as gone. */
void
beach_session_store_delete_async (BeachSessionStore *self, const gchar *private_beach_id, const gchar *session_id, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback != NULL ? callback : log_failure_cb, user_data);
  g_autofree gchar *k = session_key (self, private_beach_id, session_id);
  const gchar *ids[] = { private_beach_id, session_id, "0", NULL };

  g_task_set_task_data (task, g_strdupv ((gchar **) ids), (GDestroyNotify) g_strfreev);
  beach_redis_client_commandv_async (self->client, NULL, delete_step_cb, task, "DEL", k, NULL);
}

gboolean
beach_session_store_delete_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- activity, listing */

static void
ignore_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (BeachRedisReply) reply = beach_redis_client_command_finish (BEACH_REDIS_CLIENT (source), result, NULL);
}

void
beach_session_store_touch (BeachSessionStore *self, const gchar *session_id, gint64 now_ms)
{
  g_autofree gchar *k = key (self, "activity");
  g_autofree gchar *score = g_strdup_printf ("%" G_GINT64_FORMAT, now_ms);

  beach_redis_client_commandv_async (self->client, NULL, ignore_cb, NULL, "ZADD", k, score,
                                     session_id, NULL);
}

static void
strv_reply_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (BeachRedisReply) reply = take_reply (source, result, task);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

  if (reply == NULL)
    return;
  if (reply->type != BEACH_REDIS_REPLY_ARRAY) {
    g_task_return_new_error (task, BEACH_ERROR, BEACH_ERROR_FAILED, "expected a list of ids");
    return;
  }
  for (guint i = 0; i < reply->n_elements; i++) {
    const gchar *id = beach_redis_reply_get_string (reply->elements[i], NULL);

    if (id != NULL && beach_session_id_is_valid (id))
      g_strv_builder_add (b, id);
  }
  g_task_return_pointer (task, g_strv_builder_end (b), (GDestroyNotify) g_strfreev);
}

void
beach_session_store_list_async (BeachSessionStore *self, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *k = key (self, "session-index");

  beach_redis_client_commandv_async (self->client, NULL, strv_reply_cb, task, "HKEYS", k, NULL);
}

GStrv
beach_session_store_list_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
beach_session_store_idle_async (BeachSessionStore *self, gint64 cutoff_ms, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *k = key (self, "activity");
  g_autofree gchar *max = g_strdup_printf ("(%" G_GINT64_FORMAT, cutoff_ms);

  beach_redis_client_commandv_async (self->client, NULL, strv_reply_cb, task,
                                     "ZRANGEBYSCORE", k, "-inf", max, "LIMIT", "0", "100", NULL);
}

GStrv
beach_session_store_idle_finish (BeachSessionStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* -- for the fuzz target (beach-redis-private.h) */

BeachStoredSession *
beach_session_store_parse_stored (const BeachRedisReply *reply, GError **error)
{
  return parse_stored (reply, error);
}
