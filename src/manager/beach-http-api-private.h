/* beach-http-api-private.h: shared by the beach-http-*.c route files
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include "beach-http-api.h"
#include "beach-manager-util.h"

G_BEGIN_DECLS

typedef enum {
  BEACH_AUTH_OPERATOR = 1 << 0,
  BEACH_AUTH_SESSION = 1 << 1,
  BEACH_AUTH_LEASE = 1 << 2,
  BEACH_AUTH_PUBLIC = 1 << 3, /* no token needed */
} BeachAuthKind;

struct _BeachHttpApi {
  GObject parent_instance;

  const BeachConfig *config;
  BeachAuth *auth;
  BeachSessionRegistry *registry;
  BeachFallbackQueue *queue;
  BeachRouter *router;
  BeachMetrics *metrics;
  BeachEventHub *events;
  BeachFastPath *fast_path;

  SoupServer *server;
  gchar *url;
  GPtrArray *parked; /* ParkedPoll*, see beach-http-actions.c */
  gboolean shutting_down;
};

/* One request, from dispatch to response. */
typedef struct {
  BeachHttpApi *api;
  SoupServerMessage *msg;
  GHashTable *query;     /* nullable */
  const gchar *route;    /* the pattern, for metrics */
  gchar *path_id;        /* :id, nullable */
  gchar *token;          /* nullable */
  BeachAuthKind auth;    /* the kind the token proved */
  BeachSession *session; /* the :id session, nullable */
  BeachLease *lease;     /* when auth is a lease */
  const struct _BeachRoute *matched;
  guint sync_step;
} BeachRequest;

void beach_request_free (BeachRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BeachRequest, beach_request_free)

typedef void (*BeachRouteHandler) (BeachRequest *req);

void beach_http_respond_json (SoupServerMessage *msg,
                              guint status,
                              JsonNode *body);
void beach_http_respond_text (SoupServerMessage *msg,
                              guint status,
                              const gchar *content_type,
                              const gchar *body);
void beach_http_respond_error (SoupServerMessage *msg,
                               const GError *error);
void beach_http_respond_new_error (SoupServerMessage *msg,
                                   BeachError code,
                                   const gchar *format,
                                   ...) G_GNUC_PRINTF (3, 4);
JsonNode *beach_http_parse_body (BeachRequest *req,
                                 gboolean empty_is_object,
                                 GError **error);
gint64 beach_http_now_ms (void);

/* Route handlers. */
void beach_http_handle_register (BeachRequest *req);
void beach_http_handle_list_sessions (BeachRequest *req);
void beach_http_handle_get_session (BeachRequest *req);
void beach_http_handle_delete_session (BeachRequest *req);
void beach_http_handle_lease_acquire (BeachRequest *req);
void beach_http_handle_lease_release (BeachRequest *req);
void beach_http_handle_state_post (BeachRequest *req);
void beach_http_handle_state_get (BeachRequest *req);
void beach_http_handle_health_post (BeachRequest *req);
void beach_http_handle_dead_letters (BeachRequest *req);
void beach_http_handle_events (BeachRequest *req);
void beach_http_handle_handshake (BeachRequest *req);
void beach_http_handle_handshake_renew (BeachRequest *req);
void beach_http_handle_actions (BeachRequest *req);
void beach_http_handle_poll (BeachRequest *req);
void beach_http_handle_pending (BeachRequest *req);
void beach_http_handle_ack (BeachRequest *req);
void beach_http_handle_offer (BeachRequest *req);
void beach_http_handle_ice_post (BeachRequest *req);
void beach_http_handle_ice_get (BeachRequest *req);

/* Parked polls (beach-http-actions.c). */
void beach_http_parked_init (BeachHttpApi *self);
GPtrArray *beach_http_parked_shutdown (BeachHttpApi *self); /* the answered messages */

/* The parsers of request bodies: pure functions of the parsed JSON, so
 * fuzz/fuzz-records.c drives them. Strings point into @node. */
typedef struct {
  gint64 ttl_ms; /* -1: absent */
  const gchar *reason;
  const gchar *controller_token;
} BeachLeaseBody;

/* {controller_token?, reason?, ttl_ms?, passcode?, requester_private_beach_id?} */
typedef struct {
  const gchar *controller_token; /* NULL when absent or empty */
  const gchar *reason;
  gint64 ttl_ms; /* -1: absent */
} BeachHandshakeBody;

typedef struct {
  const gchar *sdp;
  const gchar *handshake_id; /* nullable */
} BeachOfferBody;

typedef struct {
  const gchar *candidate; /* "": end of candidates */
  const gchar *sdp_mid;   /* nullable */
  guint sdp_mline_index;
  const gchar *link_id; /* nullable */
} BeachIceBody;

GPtrArray *beach_http_parse_actions_body (const BeachConfig *config,
                                          JsonNode *body,
                                          const gchar **out_token,
                                          BeachFallbackPolicy *out_policy,
                                          GError **error); /* BeachAction* */
GPtrArray *beach_http_parse_ack_body (JsonNode *body,
                                      GError **error); /* BeachActionAck* */
gboolean beach_http_parse_lease_body (JsonNode *node,
                                      BeachLeaseBody *out,
                                      GError **error);
gboolean beach_http_parse_handshake_body (JsonNode *node,
                                          BeachHandshakeBody *out,
                                          GError **error);
gboolean beach_http_parse_offer_body (JsonNode *node,
                                      BeachOfferBody *out,
                                      GError **error);
gboolean beach_http_parse_ice_body (JsonNode *node,
                                    BeachIceBody *out,
                                    GError **error);

G_END_DECLS
