/* beach-auth.c: operator token, token secret, session tokens
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-auth"

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/random.h>

#include "beach.h"
#include "beach-auth.h"

struct _BeachAuth {
  GObject parent_instance;

  gchar *operator_token;
  gchar *operator_token_path; /* NULL when it came from config or env */
  gchar *secret;
};

G_DEFINE_FINAL_TYPE (BeachAuth, beach_auth, G_TYPE_OBJECT)

static void
beach_auth_finalize (GObject *object)
{
  BeachAuth *self = BEACH_AUTH (object);

  g_free (self->operator_token);
  g_free (self->operator_token_path);
  g_free (self->secret);
  G_OBJECT_CLASS (beach_auth_parent_class)->finalize (object);
}

static void
beach_auth_class_init (BeachAuthClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_auth_finalize;
}

static void
beach_auth_init (BeachAuth *self)
{
}

static gchar *
base64url (const guint8 *data, gsize len)
{
  g_autofree gchar *b64 = g_base64_encode (data, len);
  GString *s = g_string_new (NULL);

  for (const gchar *p = b64; *p != '\0'; p++) {
    if (*p == '+')
      g_string_append_c (s, '-');
    else if (*p == '/')
      g_string_append_c (s, '_');
    else if (*p != '=')
      g_string_append_c (s, *p);
  }
  return g_string_free (s, FALSE);
}

/* 32 bytes from getrandom(), base64url: 43 characters. */
gchar *
beach_random_token (void)
{
  guint8 buf[32];
  gsize got = 0;

  while (got < sizeof buf) {
    ssize_t n = getrandom (buf + got, sizeof buf - got, 0);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      g_error ("getrandom failed: %s", g_strerror (errno));
    got += (gsize) n;
  }
  return base64url (buf, sizeof buf);
}

/* Constant time in the length of b, so a token is not guessed byte by byte. */
gboolean
beach_tokens_equal (const gchar *a, const gchar *b)
{
  gsize la, lb;
  guint8 diff = 0;

  if (a == NULL || b == NULL)
    return FALSE;
  la = strlen (a);
  lb = strlen (b);
  for (gsize i = 0; i < lb; i++)
    diff |= (guint8) (a[i < la ? i : 0] ^ b[i]);
  return diff == 0 && la == lb;
}

/* Reads a 0600 token file, or creates it with a fresh token. */
static gchar *
load_or_create (const gchar *path, GError **error)
{
  g_autofree gchar *contents = NULL;
  g_autofree gchar *dir = g_path_get_dirname (path);
  g_autofree gchar *token = NULL;
  g_autoptr (GError) local_error = NULL;

  if (g_file_get_contents (path, &contents, NULL, &local_error)) {
    g_strstrip (contents);
    if (strlen (contents) < 16) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED,
                   "%s holds fewer than 16 characters; delete it to make a new one", path);
      return NULL;
    }
    return g_steal_pointer (&contents);
  }
  if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "cannot read %s: %s",
                 path, local_error->message);
    return NULL;
  }
  if (g_mkdir_with_parents (dir, 0700) != 0) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "cannot create %s: %s",
                 dir, g_strerror (errno));
    return NULL;
  }
  token = beach_random_token ();
  g_clear_error (&local_error);
  /* g_file_set_contents_full writes atomically with the mode we ask for. */
  if (!g_file_set_contents_full (path, token, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &local_error)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "cannot write %s: %s",
                 path, local_error->message);
    return NULL;
  }
  g_message ("generated %s", path);
  return g_steal_pointer (&token);
}

/**
 * beach_auth_new:
 * @state_dir: where `operator-token` and `session-secret` live
 * @operator_token: (nullable): a configured operator token, or %NULL to use
 *   (and on first start create) the stored one
 *
 * Returns: (transfer full) (nullable): the auth store, or %NULL with @error set
 */
BeachAuth *
beach_auth_new (const gchar *state_dir, const gchar *operator_token, GError **error)
{
  g_autoptr (BeachAuth) self = g_object_new (BEACH_TYPE_AUTH, NULL);
  g_autofree gchar *secret_path = g_build_filename (state_dir, "session-secret", NULL);

  if (operator_token != NULL) {
    self->operator_token = g_strdup (operator_token);
  } else {
    self->operator_token_path = g_build_filename (state_dir, "operator-token", NULL);
    self->operator_token = load_or_create (self->operator_token_path, error);
    if (self->operator_token == NULL)
      return NULL;
  }
  self->secret = load_or_create (secret_path, error);
  if (self->secret == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

/* For the Redis backend: the secret comes from `beach:secret` once Redis
 * answers (beach_auth_set_secret); until then no session token verifies. */
BeachAuth *
beach_auth_new_operator_only (const gchar *state_dir, const gchar *operator_token, GError **error)
{
  g_autoptr (BeachAuth) self = g_object_new (BEACH_TYPE_AUTH, NULL);

  if (operator_token != NULL) {
    self->operator_token = g_strdup (operator_token);
  } else {
    self->operator_token_path = g_build_filename (state_dir, "operator-token", NULL);
    self->operator_token = load_or_create (self->operator_token_path, error);
    if (self->operator_token == NULL)
      return NULL;
  }
  return g_steal_pointer (&self);
}

void
beach_auth_set_secret (BeachAuth *self, const gchar *secret)
{
  if (g_strcmp0 (self->secret, secret) != 0 && self->secret != NULL)
    g_warning ("the token secret changed under us; earlier session tokens no longer verify");
  g_free (self->secret);
  self->secret = g_strdup (secret);
}

gboolean
beach_auth_has_secret (BeachAuth *self)
{
  return self->secret != NULL;
}

/* For backends that keep the secret elsewhere (Redis `beach:secret`). */
BeachAuth *
beach_auth_new_with_secret (const gchar *operator_token, const gchar *secret)
{
  BeachAuth *self = g_object_new (BEACH_TYPE_AUTH, NULL);

  self->operator_token = g_strdup (operator_token);
  self->secret = g_strdup (secret);
  return self;
}

gboolean
beach_auth_is_operator (BeachAuth *self, const gchar *token)
{
  return beach_tokens_equal (token, self->operator_token);
}

/* base64url(HMAC-SHA256(secret, session_id)), no padding. */
gchar *
beach_auth_session_token (BeachAuth *self, const gchar *session_id)
{
  g_autoptr (GHmac) hmac = NULL;
  guint8 digest[32];
  gsize len = sizeof digest;

  g_return_val_if_fail (self->secret != NULL, NULL);
  hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) self->secret, strlen (self->secret));
  g_hmac_update (hmac, (const guchar *) session_id, -1);
  g_hmac_get_digest (hmac, digest, &len);
  return base64url (digest, len);
}

gboolean
beach_auth_verify_session_token (BeachAuth *self, const gchar *session_id, const gchar *token)
{
  g_autofree gchar *expected = NULL;

  if (session_id == NULL || token == NULL)
    return FALSE;
  expected = beach_auth_session_token (self, session_id);
  return beach_tokens_equal (token, expected);
}

const gchar *
beach_auth_get_operator_token_path (BeachAuth *self)
{
  return self->operator_token_path;
}
