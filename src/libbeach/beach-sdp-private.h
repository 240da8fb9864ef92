/* beach-sdp-private.h: checks and rewrites of data-channel SDP
 *
 * Input from outside (an offer, an answer, a candidate) is checked here
 * before webrtcbin sees it, so a malformed one is a GError, never a
 * critical inside GStreamer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The largest SDP accepted. */
#define BEACH_SDP_MAX_BYTES (64 * 1024)

/* Checks an SDP with one or more data-channel sections and nothing else
 * (ICE credentials and a DTLS fingerprint present), and rewrites the older
 * dialect (`DTLS/SCTP 5000` + `a=sctpmap:5000 webrtc-datachannel N`) to
 * the current one (`UDP/DTLS/SCTP webrtc-datachannel` + `a=sctp-port`),
 * which is the only one webrtcbin 1.22 recognises. out_legacy tells which
 * dialect came in. BEACH_ERROR_INVALID_FIELD on anything else. */
gchar *beach_sdp_normalize (const gchar *sdp,
                            gboolean *out_legacy,
                            GError **error);

/* The same SDP in the older dialect, for answering a peer that spoke it. */
gchar *beach_sdp_to_legacy (const gchar *sdp);

/* How many a=candidate lines the SDP carries. */
guint beach_sdp_count_candidates (const gchar *sdp);

/* The a=mid of the SDP's media section mline, or NULL when the SDP does
 * not parse, has no such section, or the section has no mid. */
gchar *beach_sdp_get_mid (const gchar *sdp,
                          guint mline);

/* Adds candidates ("candidate:…") to the first data-channel section. */
gchar *beach_sdp_add_candidates (const gchar *sdp,
                                 const gchar *const *candidates);

/* Checks one remote candidate line and returns it as "candidate:…"
 * (an "a=" prefix and line ends are dropped). "" stays "" (end of
 * candidates). */
gchar *beach_sdp_check_candidate (const gchar *candidate,
                                  GError **error);

G_END_DECLS
