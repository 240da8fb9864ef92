/* beach-session-store.h: session records, leases and the secret in Redis
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-redis-client.h"
#include "beach-session.h"

G_BEGIN_DECLS

/* What fetch returns: everything needed to rebuild or refresh a session. */
typedef struct {
  BeachRegistration *registration;
  gchar *harness_id;
  gint64 registered_at_ms;
  gchar *handshake_id;
  GPtrArray *leases; /* BeachLease*, owned */
} BeachStoredSession;

void beach_stored_session_free (BeachStoredSession *stored);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachStoredSession, beach_stored_session_free)

#define BEACH_TYPE_SESSION_STORE (beach_session_store_get_type ())
G_DECLARE_FINAL_TYPE (BeachSessionStore, beach_session_store, BEACH, SESSION_STORE, GObject)

BeachSessionStore *beach_session_store_new (BeachRedisClient *client,
                                            const gchar *prefix);

/* SET NX the deployment's token secret, then GET it: every instance and
 * every restart agrees. */
void beach_session_store_secret_async (BeachSessionStore *self,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gchar *beach_session_store_secret_finish (BeachSessionStore *self,
                                          GAsyncResult *result,
                                          GError **error);

/* Claims the global session id for a private beach (HSETNX on the index).
 * Returns the private beach that holds the id (ours when claimed). */
void beach_session_store_claim_async (BeachSessionStore *self,
                                      const gchar *session_id,
                                      const gchar *private_beach_id,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
gchar *beach_session_store_claim_finish (BeachSessionStore *self,
                                         GAsyncResult *result,
                                         GError **error);

/* Writes the record and every lease; fire-and-forget callers pass NULL. */
void beach_session_store_save_async (BeachSessionStore *self,
                                     BeachSession *session,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean beach_session_store_save_finish (BeachSessionStore *self,
                                          GAsyncResult *result,
                                          GError **error);
/* One lease field (HSET): concurrent grants on several managers never
 * overwrite each other. */
void beach_session_store_save_lease_async (BeachSessionStore *self,
                                           BeachSession *session,
                                           const BeachLease *lease,
                                           GAsyncReadyCallback callback,
                                           gpointer user_data);
gboolean beach_session_store_save_lease_finish (BeachSessionStore *self,
                                                GAsyncResult *result,
                                                GError **error);

/* NULL result without error: no such session. */
void beach_session_store_fetch_async (BeachSessionStore *self,
                                      const gchar *session_id,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
BeachStoredSession *beach_session_store_fetch_finish (BeachSessionStore *self,
                                                      GAsyncResult *result,
                                                      GError **error);

void beach_session_store_delete_async (BeachSessionStore *self,
                                       const gchar *private_beach_id,
                                       const gchar *session_id,
                                       GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean beach_session_store_delete_finish (BeachSessionStore *self,
                                            GAsyncResult *result,
                                            GError **error);

/* Activity (ZADD beach:activity): fire-and-forget. */
void beach_session_store_touch (BeachSessionStore *self,
                                const gchar *session_id,
                                gint64 now_ms);

/* Ids of every stored session (HKEYS of the index). */
void beach_session_store_list_async (BeachSessionStore *self,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
GStrv beach_session_store_list_finish (BeachSessionStore *self,
                                       GAsyncResult *result,
                                       GError **error);

/* Ids idle since before cutoff_ms (ZRANGEBYSCORE beach:activity). */
void beach_session_store_idle_async (BeachSessionStore *self,
                                     gint64 cutoff_ms,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
GStrv beach_session_store_idle_finish (BeachSessionStore *self,
                                       GAsyncResult *result,
                                       GError **error);

G_END_DECLS
