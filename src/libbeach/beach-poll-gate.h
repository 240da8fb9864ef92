/* beach-poll-gate.h: when a host polls, backs off, pauses and checks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <glib-object.h>

#include "beach-enums.h"

G_BEGIN_DECLS

#define BEACH_TYPE_POLL_GATE (beach_poll_gate_get_type ())
G_DECLARE_FINAL_TYPE (BeachPollGate, beach_poll_gate, BEACH, POLL_GATE, GObject)

BeachPollGate *beach_poll_gate_new (void);

void beach_poll_gate_set_link_healthy (BeachPollGate *self,
                                       gboolean healthy,
                                       gint64 now_us);
void beach_poll_gate_observe_status (BeachPollGate *self,
                                     BeachTransport transport,
                                     gboolean fast_path_ready,
                                     guint pending,
                                     gint64 now_us);
void beach_poll_gate_request_started (BeachPollGate *self,
                                      BeachPollGateRequest kind,
                                      gint64 now_us);
void beach_poll_gate_request_finished (BeachPollGate *self,
                                       BeachPollGateRequest kind,
                                       gboolean ok,
                                       gint64 now_us);
BeachPollGateStep beach_poll_gate_next (BeachPollGate *self,
                                        gint64 now_us,
                                        gint64 *delay_ms);

BeachPollGateState beach_poll_gate_get_state (BeachPollGate *self);
gboolean beach_poll_gate_get_paused (BeachPollGate *self);
const gchar *beach_poll_gate_get_reason (BeachPollGate *self);
guint beach_poll_gate_get_consecutive_errors (BeachPollGate *self);

G_END_DECLS
