/* beach-session-registry.h: sessions by id, and the token indexes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-session.h"

G_BEGIN_DECLS

#define BEACH_TYPE_SESSION_REGISTRY (beach_session_registry_get_type ())
G_DECLARE_FINAL_TYPE (BeachSessionRegistry, beach_session_registry, BEACH, SESSION_REGISTRY, GObject)

BeachSessionRegistry *beach_session_registry_new (void);
BeachSession *beach_session_registry_lookup (BeachSessionRegistry *self,
                                             const gchar *session_id);
void beach_session_registry_add (BeachSessionRegistry *self,
                                 BeachSession *session,
                                 const gchar *session_token);
void beach_session_registry_remove (BeachSessionRegistry *self,
                                    const gchar *session_id);
BeachSession *beach_session_registry_lookup_lease (BeachSessionRegistry *self,
                                                   const gchar *lease_token);
BeachSession *beach_session_registry_lookup_session_token (BeachSessionRegistry *self,
                                                           const gchar *session_token);
GPtrArray *beach_session_registry_list (BeachSessionRegistry *self);
guint beach_session_registry_get_n_sessions (BeachSessionRegistry *self);

G_END_DECLS
