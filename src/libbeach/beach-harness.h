/* beach-harness.h: the harness runtime (a host's side of a session)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <gio/gio.h>

#include "beach-action.h"
#include "beach-enums.h"
#include "beach-health.h"
#include "beach-state-diff.h"
#include "beach-transport-hints.h"

G_BEGIN_DECLS

/**
 * BEACH_HARNESS_WINDOW_SIZE_DEFAULT:
 *
 * How many applied action ids a harness remembers by default.
 */
#define BEACH_HARNESS_WINDOW_SIZE_DEFAULT 4096

#define BEACH_TYPE_HARNESS (beach_harness_get_type ())
G_DECLARE_FINAL_TYPE (BeachHarness, beach_harness, BEACH, HARNESS, GObject)

BeachHarness *beach_harness_new (const gchar *url,
                                 const gchar *session_id,
                                 const gchar *private_beach_id,
                                 const gchar *token);
BeachHarness *beach_harness_new_for_urls (const gchar *const *urls,
                                          const gchar *session_id,
                                          const gchar *private_beach_id,
                                          const gchar *token);

void beach_harness_start_async (BeachHarness *self,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean beach_harness_start_finish (BeachHarness *self,
                                     GAsyncResult *result,
                                     GError **error);
void beach_harness_refresh_async (BeachHarness *self,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean beach_harness_refresh_finish (BeachHarness *self,
                                       GAsyncResult *result,
                                       GError **error);
void beach_harness_stop_async (BeachHarness *self,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean beach_harness_stop_finish (BeachHarness *self,
                                    GAsyncResult *result,
                                    GError **error);

gboolean beach_harness_ack (BeachHarness *self,
                            BeachAction *action,
                            BeachAckStatus status,
                            const gchar *error_code,
                            const gchar *error_message,
                            GError **error);
gboolean beach_harness_publish_state (BeachHarness *self,
                                      BeachStateDiff *diff,
                                      GError **error);
gboolean beach_harness_publish_health (BeachHarness *self,
                                       BeachHealth *health,
                                       GError **error);

const gchar *beach_harness_get_url (BeachHarness *self);
const gchar *const *beach_harness_get_urls (BeachHarness *self);
const gchar *beach_harness_get_session_id (BeachHarness *self);
const gchar *beach_harness_get_private_beach_id (BeachHarness *self);
const gchar *beach_harness_get_session_token (BeachHarness *self);
const gchar *beach_harness_get_harness_id (BeachHarness *self);
BeachTransportHints *beach_harness_get_hints (BeachHarness *self);
BeachTransport beach_harness_get_transport (BeachHarness *self);
BeachLinkHealth beach_harness_get_link_health (BeachHarness *self);
const gchar *beach_harness_get_handshake_id (BeachHarness *self);
guint beach_harness_get_pending (BeachHarness *self);
gboolean beach_harness_get_polling (BeachHarness *self);
const gchar *beach_harness_get_polling_reason (BeachHarness *self);
guint beach_harness_get_link_attempts (BeachHarness *self);
guint beach_harness_get_links_opened (BeachHarness *self);
guint64 beach_harness_get_polls (BeachHarness *self);
const gchar *beach_harness_get_last_error (BeachHarness *self);

G_END_DECLS
