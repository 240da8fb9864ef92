/* beach-session-registry.c: sessions by id, and the token indexes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-session-registry"

#include "config.h"

#include "beach-session-registry.h"

struct _BeachSessionRegistry {
  GObject parent_instance;

  GHashTable *sessions;       /* id -> BeachSession (owned) */
  GHashTable *session_tokens; /* session token -> session id */
};

enum {
  SIGNAL_SESSION_ADDED,
  SIGNAL_SESSION_REMOVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachSessionRegistry, beach_session_registry, G_TYPE_OBJECT)

static void
beach_session_registry_finalize (GObject *object)
{
  BeachSessionRegistry *self = BEACH_SESSION_REGISTRY (object);

  g_hash_table_unref (self->sessions);
  g_hash_table_unref (self->session_tokens);
  G_OBJECT_CLASS (beach_session_registry_parent_class)->finalize (object);
}

static void
beach_session_registry_class_init (BeachSessionRegistryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_session_registry_finalize;

  signals[SIGNAL_SESSION_ADDED] = g_signal_new ("session-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                0, NULL, NULL, NULL, G_TYPE_NONE, 1, BEACH_TYPE_SESSION);
  signals[SIGNAL_SESSION_REMOVED] = g_signal_new ("session-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, BEACH_TYPE_SESSION);
}

static void
beach_session_registry_init (BeachSessionRegistry *self)
{
  self->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->session_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

BeachSessionRegistry *
beach_session_registry_new (void)
{
  return g_object_new (BEACH_TYPE_SESSION_REGISTRY, NULL);
}

BeachSession *
beach_session_registry_lookup (BeachSessionRegistry *self, const gchar *session_id)
{
  return session_id != NULL ? g_hash_table_lookup (self->sessions, session_id) : NULL;
}

void
beach_session_registry_add (BeachSessionRegistry *self, BeachSession *session, const gchar *session_token)
{
  g_hash_table_replace (self->sessions, g_strdup (session->session_id),
                        g_object_ref (session));
  g_hash_table_replace (self->session_tokens, g_strdup (session_token),
                        g_strdup (session->session_id));
  g_signal_emit (self, signals[SIGNAL_SESSION_ADDED], 0, session);
}

static gboolean
value_is (gpointer key, gpointer value, gpointer user_data)
{
  return g_str_equal (value, user_data);
}

void
beach_session_registry_remove (BeachSessionRegistry *self, const gchar *session_id)
{
  g_autoptr (BeachSession) session = NULL;
  g_autofree gchar *id = g_strdup (session_id);
  gchar *stolen_key = NULL;

  if (!g_hash_table_steal_extended (self->sessions, id, (gpointer *) &stolen_key,
                                    (gpointer *) &session))
    return;
  g_free (stolen_key);
  g_hash_table_foreach_remove (self->session_tokens, value_is, id);
  g_signal_emit (self, signals[SIGNAL_SESSION_REMOVED], 0, session);
}

/* Lease tokens name their session (SESSION:RANDOM); the lease must also be
 * one that session knows. */
BeachSession *
beach_session_registry_lookup_lease (BeachSessionRegistry *self, const gchar *lease_token)
{
  gsize len = 0;
  const gchar *sid = beach_lease_token_session (lease_token, &len);
  g_autofree gchar *id = NULL;
  BeachSession *session;

  if (sid == NULL)
    return NULL;
  id = g_strndup (sid, len);
  session = beach_session_registry_lookup (self, id);
  if (session == NULL || beach_session_lookup_lease (session, lease_token) == NULL)
    return NULL;
  return session;
}

BeachSession *
beach_session_registry_lookup_session_token (BeachSessionRegistry *self,
                                             const gchar *session_token)
{
  const gchar *id = session_token != NULL ? g_hash_table_lookup (self->session_tokens, session_token) : NULL;

  return id != NULL ? beach_session_registry_lookup (self, id) : NULL;
}

static gint
compare_ids (gconstpointer a, gconstpointer b)
{
  BeachSession *sa = *(BeachSession **) a;
  BeachSession *sb = *(BeachSession **) b;

  return g_strcmp0 (sa->session_id, sb->session_id);
}

/* Sessions sorted by id, each with a reference. */
GPtrArray *
beach_session_registry_list (BeachSessionRegistry *self)
{
  GPtrArray *list = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, g_object_ref (value));
  g_ptr_array_sort (list, compare_ids);
  return list;
}

guint
beach_session_registry_get_n_sessions (BeachSessionRegistry *self)
{
  return g_hash_table_size (self->sessions);
}
