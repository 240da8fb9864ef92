/* beach-auth.h: operator token, token secret, session tokens
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define BEACH_TYPE_AUTH (beach_auth_get_type ())
G_DECLARE_FINAL_TYPE (BeachAuth, beach_auth, BEACH, AUTH, GObject)

BeachAuth *beach_auth_new (const gchar *state_dir,
                           const gchar *operator_token,
                           GError **error);
BeachAuth *beach_auth_new_operator_only (const gchar *state_dir,
                                         const gchar *operator_token,
                                         GError **error);
void beach_auth_set_secret (BeachAuth *self,
                            const gchar *secret);
gboolean beach_auth_has_secret (BeachAuth *self);
BeachAuth *beach_auth_new_with_secret (const gchar *operator_token,
                                       const gchar *secret);
gboolean beach_auth_is_operator (BeachAuth *self,
                                 const gchar *token);
gchar *beach_auth_session_token (BeachAuth *self,
                                 const gchar *session_id);
gboolean beach_auth_verify_session_token (BeachAuth *self,
                                          const gchar *session_id,
                                          const gchar *token);
const gchar *beach_auth_get_operator_token_path (BeachAuth *self);

gchar *beach_random_token (void);
gboolean beach_tokens_equal (const gchar *a,
                             const gchar *b);

G_END_DECLS
