/* beach-sdp-private.c: checks and rewrites of data-channel SDP
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-sdp"

#include "config.h"

#include <string.h>

#include <gst/sdp/sdp.h>

#include "beach-error.h"
#include "beach-sdp-private.h"

#define DATACHANNEL_FORMAT "webrtc-datachannel"
#define LEGACY_STREAMS     "1024"
#define CANDIDATE_MAX_LEN  1024

static gboolean
invalid (GError **error, const gchar *message)
{
  g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“sdp”: %s", message);
  return FALSE;
}

static gboolean
is_port (const gchar *s)
{
  gchar *end = NULL;
  guint64 v;

  if (s == NULL || !g_ascii_isdigit (*s))
    return FALSE;
  v = g_ascii_strtoull (s, &end, 10);
  return *end == '\0' && v > 0 && v <= 65535;
}

/* Current dialect: `m=application P UDP/DTLS/SCTP webrtc-datachannel`. */
static gboolean
is_current_datachannel (const GstSDPMedia *m)
{
  const gchar *proto = gst_sdp_media_get_proto (m);

  return g_strcmp0 (gst_sdp_media_get_media (m), "application") == 0 && (g_strcmp0 (proto, "UDP/DTLS/SCTP") == 0 || g_strcmp0 (proto, "TCP/DTLS/SCTP") == 0) && gst_sdp_media_formats_len (m) == 1 && g_strcmp0 (gst_sdp_media_get_format (m, 0), DATACHANNEL_FORMAT) == 0;
}

/* Older dialect: `m=application P DTLS/SCTP 5000` and
 * `a=sctpmap:5000 webrtc-datachannel 1024`. */
static gboolean
is_legacy_datachannel (const GstSDPMedia *m)
{
  const gchar *fmt;

  if (g_strcmp0 (gst_sdp_media_get_media (m), "application") != 0 || g_strcmp0 (gst_sdp_media_get_proto (m), "DTLS/SCTP") != 0 || gst_sdp_media_formats_len (m) != 1)
    return FALSE;
  fmt = gst_sdp_media_get_format (m, 0);
  if (!is_port (fmt))
    return FALSE;
  for (guint i = 0; i < gst_sdp_media_attributes_len (m); i++) {
    const GstSDPAttribute *a = gst_sdp_media_get_attribute (m, i);
    g_auto (GStrv) parts = NULL;

    if (g_strcmp0 (a->key, "sctpmap") != 0 || a->value == NULL)
      continue;
    parts = g_strsplit (a->value, " ", 3);
    if (g_strcmp0 (parts[0], fmt) == 0 && g_strcmp0 (parts[1], DATACHANNEL_FORMAT) == 0)
      return TRUE;
  }
  return FALSE;
}

static gint
find_attribute (const GstSDPMedia *m, const gchar *key)
{
  for (guint i = 0; i < gst_sdp_media_attributes_len (m); i++) {
    if (g_strcmp0 (gst_sdp_media_get_attribute (m, i)->key, key) == 0)
      return (gint) i;
  }
  return -1;
}

static void
legacy_to_current (GstSDPMedia *m)
{
  g_autofree gchar *port = g_strdup (gst_sdp_media_get_format (m, 0));
  gint idx;

  gst_sdp_media_set_proto (m, "UDP/DTLS/SCTP");
  gst_sdp_media_replace_format (m, 0, DATACHANNEL_FORMAT);
  while ((idx = find_attribute (m, "sctpmap")) >= 0)
    gst_sdp_media_remove_attribute (m, (guint) idx);
  if (find_attribute (m, "sctp-port") < 0)
    gst_sdp_media_add_attribute (m, "sctp-port", port);
}

static gboolean
has_value (const GstSDPMessage *msg, const GstSDPMedia *m, const gchar *key)
{
  const gchar *v = gst_sdp_media_get_attribute_val (m, key);

  if (v == NULL)
    v = gst_sdp_message_get_attribute_val (msg, key);
  return v != NULL && *v != '\0';
}

static GstSDPMessage *
parse (const gchar *sdp, GError **error)
{
  GstSDPMessage *msg = NULL;
  gsize len;

  if (sdp == NULL || *sdp == '\0') {
    invalid (error, "empty");
    return NULL;
  }
  len = strlen (sdp);
  if (len > BEACH_SDP_MAX_BYTES) {
    invalid (error, "longer than 64 KiB");
    return NULL;
  }
  if (!g_utf8_validate (sdp, (gssize) len, NULL)) {
    invalid (error, "not valid UTF-8");
    return NULL;
  }
  if (!g_str_has_prefix (sdp, "v=0")) {
    invalid (error, "does not start with v=0");
    return NULL;
  }
  if (gst_sdp_message_new_from_text (sdp, &msg) != GST_SDP_OK || msg == NULL) {
    if (msg != NULL)
      gst_sdp_message_free (msg);
    invalid (error, "does not parse");
    return NULL;
  }
  return msg;
}

gchar *
beach_sdp_normalize (const gchar *sdp, gboolean *out_legacy, GError **error)
{
  g_autoptr (GstSDPMessage) msg = parse (sdp, error);
  gboolean legacy = FALSE;
  guint n;

  if (msg == NULL)
    return NULL;
  n = gst_sdp_message_medias_len (msg);
  if (n == 0) {
    invalid (error, "no media section");
    return NULL;
  }
  for (guint i = 0; i < n; i++) {
    GstSDPMedia *m = (GstSDPMedia *) gst_sdp_message_get_media (msg, i);

    if (is_legacy_datachannel (m)) {
      legacy_to_current (m);
      legacy = TRUE;
    } else if (!is_current_datachannel (m)) {
      invalid (error, "only data-channel (application … webrtc-datachannel) sections are supported");
      return NULL;
    }
    if (!has_value (msg, m, "ice-ufrag") || !has_value (msg, m, "ice-pwd")) {
      invalid (error, "no ICE credentials (a=ice-ufrag, a=ice-pwd)");
      return NULL;
    }
    if (!has_value (msg, m, "fingerprint")) {
      invalid (error, "no DTLS fingerprint (a=fingerprint)");
      return NULL;
    }
  }
  if (out_legacy != NULL)
    *out_legacy = legacy;
  return gst_sdp_message_as_text (msg);
}

gchar *
beach_sdp_to_legacy (const gchar *sdp)
{
  g_autoptr (GstSDPMessage) msg = parse (sdp, NULL);

  if (msg == NULL)
    return g_strdup (sdp);
  for (guint i = 0; i < gst_sdp_message_medias_len (msg); i++) {
    GstSDPMedia *m = (GstSDPMedia *) gst_sdp_message_get_media (msg, i);
    const gchar *port;
    g_autofree gchar *p = NULL;
    g_autofree gchar *map = NULL;
    gint idx;

    if (!is_current_datachannel (m))
      continue;
    port = gst_sdp_media_get_attribute_val (m, "sctp-port");
    p = g_strdup (is_port (port) ? port : "5000");
    while ((idx = find_attribute (m, "sctp-port")) >= 0)
      gst_sdp_media_remove_attribute (m, (guint) idx);
    gst_sdp_media_set_proto (m, "DTLS/SCTP");
    gst_sdp_media_replace_format (m, 0, p);
    map = g_strdup_printf ("%s " DATACHANNEL_FORMAT " " LEGACY_STREAMS, p);
    gst_sdp_media_add_attribute (m, "sctpmap", map);
  }
  return gst_sdp_message_as_text (msg);
}

guint
beach_sdp_count_candidates (const gchar *sdp)
{
  g_autoptr (GstSDPMessage) msg = parse (sdp, NULL);
  guint count = 0;

  if (msg == NULL)
    return 0;
  for (guint i = 0; i < gst_sdp_message_medias_len (msg); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media (msg, i);

    for (guint j = 0; j < gst_sdp_media_attributes_len (m); j++)
      count += g_strcmp0 (gst_sdp_media_get_attribute (m, j)->key, "candidate") == 0 ? 1 : 0;
  }
  return count;
}

gchar *
beach_sdp_get_mid (const gchar *sdp, guint mline)
{
  g_autoptr (GstSDPMessage) msg = parse (sdp, NULL);
  const gchar *mid;

  if (msg == NULL || mline >= gst_sdp_message_medias_len (msg))
    return NULL;
  mid = gst_sdp_media_get_attribute_val (gst_sdp_message_get_media (msg, mline), "mid");
  return mid != NULL && *mid != '\0' ? g_strdup (mid) : NULL;
}

gchar *
beach_sdp_add_candidates (const gchar *sdp, const gchar *const *candidates)
{
  g_autoptr (GstSDPMessage) msg = parse (sdp, NULL);
  GstSDPMedia *m;

  if (msg == NULL || gst_sdp_message_medias_len (msg) == 0)
    return g_strdup (sdp);
  m = (GstSDPMedia *) gst_sdp_message_get_media (msg, 0);
  for (guint i = 0; candidates != NULL && candidates[i] != NULL; i++) {
    if (g_str_has_prefix (candidates[i], "candidate:"))
      gst_sdp_media_add_attribute (m, "candidate", candidates[i] + strlen ("candidate:"));
  }
  return gst_sdp_message_as_text (msg);
}

gchar *
beach_sdp_check_candidate (const gchar *candidate, GError **error)
{
  g_autofree gchar *c = NULL;
  g_auto (GStrv) fields = NULL;

  if (candidate == NULL) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD, "“candidate”: missing");
    return NULL;
  }
  if (g_str_has_prefix (candidate, "a="))
    candidate += 2;
  c = g_strstrip (g_strdup (candidate));
  if (*c == '\0')
    return g_steal_pointer (&c);
  if (strlen (c) > CANDIDATE_MAX_LEN || !g_str_has_prefix (c, "candidate:")) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "“candidate”: must be an a=candidate line (candidate:…)");
    return NULL;
  }
  for (const gchar *p = c; *p != '\0'; p++) {
    if ((guchar) *p < 0x20 || (guchar) *p == 0x7f) {
      g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                           "“candidate”: control characters");
      return NULL;
    }
  }
  /* foundation component transport priority address port typ type */
  fields = g_strsplit (c + strlen ("candidate:"), " ", -1);
  if (g_strv_length (fields) < 8 || g_strcmp0 (fields[6], "typ") != 0 || !is_port (fields[5]) || !g_ascii_isdigit (fields[1][0]) || !g_ascii_isdigit (fields[3][0])) {
    g_set_error_literal (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                         "“candidate”: not of the form “candidate:F C TRANSPORT PRIORITY ADDRESS PORT typ TYPE …”");
    return NULL;
  }
  return g_steal_pointer (&c);
}
