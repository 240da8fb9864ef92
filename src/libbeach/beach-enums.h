/* beach-enums.h: the wire vocabulary as enums
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(__BEACH_H_INSIDE__) && !defined(BEACH_COMPILATION)
#error "Only <beach.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/* The nick of each value is its lower_snake_case wire string. */

/**
 * BeachTransportMode:
 * @BEACH_TRANSPORT_MODE_FAST_PATH: actions go over the fast path; queueing needs `"fallback":"allow"`
 * @BEACH_TRANSPORT_MODE_HTTP_FALLBACK: the session is served by HTTP polling
 *
 * What a session is configured for (`transport_mode`). It never changes by
 * itself.
 */
typedef enum {
  BEACH_TRANSPORT_MODE_FAST_PATH,     /*< nick=fast_path >*/
  BEACH_TRANSPORT_MODE_HTTP_FALLBACK, /*< nick=http_fallback >*/
} BeachTransportMode;

/**
 * BeachTransport:
 * @BEACH_TRANSPORT_PENDING: neither path serves the host right now
 * @BEACH_TRANSPORT_FAST_PATH: actions are sent on a healthy link
 * @BEACH_TRANSPORT_HTTP_FALLBACK: the host is being served by the queue
 *
 * How a session is served right now (`transport`).
 */
typedef enum {
  BEACH_TRANSPORT_PENDING,       /*< nick=pending >*/
  BEACH_TRANSPORT_FAST_PATH,     /*< nick=fast_path >*/
  BEACH_TRANSPORT_HTTP_FALLBACK, /*< nick=http_fallback >*/
} BeachTransport;

/**
 * BeachLinkHealth:
 * @BEACH_LINK_HEALTH_CONNECTING: negotiating
 * @BEACH_LINK_HEALTH_HEALTHY: connected, three channels open, heartbeat in time
 * @BEACH_LINK_HEALTH_UNHEALTHY: was connecting or healthy and missed a condition
 * @BEACH_LINK_HEALTH_CLOSED: torn down
 * @BEACH_LINK_HEALTH_DISABLED: no fast path for this session
 *
 * The health of one fast-path link, as both ends judge it.
 */
typedef enum {
  BEACH_LINK_HEALTH_CONNECTING, /*< nick=connecting >*/
  BEACH_LINK_HEALTH_HEALTHY,    /*< nick=healthy >*/
  BEACH_LINK_HEALTH_UNHEALTHY,  /*< nick=unhealthy >*/
  BEACH_LINK_HEALTH_CLOSED,     /*< nick=closed >*/
  BEACH_LINK_HEALTH_DISABLED,   /*< nick=disabled >*/
} BeachLinkHealth;

/**
 * BeachAckStatus:
 * @BEACH_ACK_STATUS_OK: applied
 * @BEACH_ACK_STATUS_REJECTED: refused by the host
 * @BEACH_ACK_STATUS_EXPIRED: past its `expires_at`
 * @BEACH_ACK_STATUS_PREEMPTED: superseded before it was applied
 *
 * The status of an action ack. Every status is final.
 */
typedef enum {
  BEACH_ACK_STATUS_OK,        /*< nick=ok >*/
  BEACH_ACK_STATUS_REJECTED,  /*< nick=rejected >*/
  BEACH_ACK_STATUS_EXPIRED,   /*< nick=expired >*/
  BEACH_ACK_STATUS_PREEMPTED, /*< nick=preempted >*/
} BeachAckStatus;

/**
 * BeachHandshakeKind:
 * @BEACH_HANDSHAKE_KIND_REFRESH: only the lease changed
 * @BEACH_HANDSHAKE_KIND_RENEGOTIATE: a new handshake id was issued
 *
 * What a controller handshake did.
 */
typedef enum {
  BEACH_HANDSHAKE_KIND_REFRESH,     /*< nick=refresh >*/
  BEACH_HANDSHAKE_KIND_RENEGOTIATE, /*< nick=renegotiate >*/
} BeachHandshakeKind;

/**
 * BeachDropReason:
 * @BEACH_DROP_REASON_FAST_PATH_NOT_READY: no healthy link and queueing not allowed
 * @BEACH_DROP_REASON_QUEUE_FULL: the queue is at its cap
 * @BEACH_DROP_REASON_MISSING_LEASE: the controller holds no live lease
 * @BEACH_DROP_REASON_UNAVAILABLE: the queue backend is down
 *
 * Why a whole actions call was refused.
 */
typedef enum {
  BEACH_DROP_REASON_FAST_PATH_NOT_READY, /*< nick=fast_path_not_ready >*/
  BEACH_DROP_REASON_QUEUE_FULL,          /*< nick=queue_full >*/
  BEACH_DROP_REASON_MISSING_LEASE,       /*< nick=missing_lease >*/
  BEACH_DROP_REASON_UNAVAILABLE,         /*< nick=unavailable >*/
} BeachDropReason;

/**
 * BeachTransportReason:
 * @BEACH_TRANSPORT_REASON_REGISTERED: the first state of a session
 * @BEACH_TRANSPORT_REASON_LINK_HEALTHY: a link became healthy (to `fast_path`)
 * @BEACH_TRANSPORT_REASON_QUEUE_NONEMPTY: the queue took entries (to `http_fallback`)
 * @BEACH_TRANSPORT_REASON_QUEUE_EMPTY: the queue drained (to `pending`)
 * @BEACH_TRANSPORT_REASON_HEARTBEAT_TIMEOUT: no frame within the heartbeat timeout
 * @BEACH_TRANSPORT_REASON_ACK_TIMEOUT: an in-flight action was not acked in time
 * @BEACH_TRANSPORT_REASON_CHANNEL_CLOSED: a data channel closed
 * @BEACH_TRANSPORT_REASON_CONNECTION_FAILED: the peer connection failed
 * @BEACH_TRANSPORT_REASON_LINK_REPLACED: a newer link took over
 * @BEACH_TRANSPORT_REASON_MODE_CHANGED: the session's transport mode changed
 * @BEACH_TRANSPORT_REASON_SESSION_DELETED: the session was deleted
 *
 * Why a session's transport changed.
 */
typedef enum {
  BEACH_TRANSPORT_REASON_REGISTERED,        /*< nick=registered >*/
  BEACH_TRANSPORT_REASON_LINK_HEALTHY,      /*< nick=link_healthy >*/
  BEACH_TRANSPORT_REASON_QUEUE_NONEMPTY,    /*< nick=queue_nonempty >*/
  BEACH_TRANSPORT_REASON_QUEUE_EMPTY,       /*< nick=queue_empty >*/
  BEACH_TRANSPORT_REASON_HEARTBEAT_TIMEOUT, /*< nick=heartbeat_timeout >*/
  BEACH_TRANSPORT_REASON_ACK_TIMEOUT,       /*< nick=ack_timeout >*/
  BEACH_TRANSPORT_REASON_CHANNEL_CLOSED,    /*< nick=channel_closed >*/
  BEACH_TRANSPORT_REASON_CONNECTION_FAILED, /*< nick=connection_failed >*/
  BEACH_TRANSPORT_REASON_LINK_REPLACED,     /*< nick=link_replaced >*/
  BEACH_TRANSPORT_REASON_MODE_CHANGED,      /*< nick=mode_changed >*/
  BEACH_TRANSPORT_REASON_SESSION_DELETED,   /*< nick=session_deleted >*/
} BeachTransportReason;

/**
 * BeachHarnessType:
 * @BEACH_HARNESS_TYPE_TERMINAL_SHIM: a terminal host
 * @BEACH_HARNESS_TYPE_CABANA_ADAPTER: a Cabana adapter
 * @BEACH_HARNESS_TYPE_REMOTE_WIDGET: a remote widget
 * @BEACH_HARNESS_TYPE_SERVICE_PROXY: a service proxy
 * @BEACH_HARNESS_TYPE_CUSTOM: anything else
 *
 * What kind of harness registered a session.
 */
typedef enum {
  BEACH_HARNESS_TYPE_TERMINAL_SHIM,  /*< nick=terminal_shim >*/
  BEACH_HARNESS_TYPE_CABANA_ADAPTER, /*< nick=cabana_adapter >*/
  BEACH_HARNESS_TYPE_REMOTE_WIDGET,  /*< nick=remote_widget >*/
  BEACH_HARNESS_TYPE_SERVICE_PROXY,  /*< nick=service_proxy >*/
  BEACH_HARNESS_TYPE_CUSTOM,         /*< nick=custom >*/
} BeachHarnessType;

/**
 * BeachDeadLetterReason:
 * @BEACH_DEAD_LETTER_REASON_MAX_DELIVERIES: delivered the maximum number of times, never acked
 * @BEACH_DEAD_LETTER_REASON_SESSION_DELETED: the session was deleted
 * @BEACH_DEAD_LETTER_REASON_SESSION_EXPIRED: the session was idle past its expiry
 *
 * Why an action was moved to the dead letters.
 */
typedef enum {
  BEACH_DEAD_LETTER_REASON_MAX_DELIVERIES,  /*< nick=max_deliveries >*/
  BEACH_DEAD_LETTER_REASON_SESSION_DELETED, /*< nick=session_deleted >*/
  BEACH_DEAD_LETTER_REASON_SESSION_EXPIRED, /*< nick=session_expired >*/
} BeachDeadLetterReason;

/**
 * BeachFastPathRole:
 * @BEACH_FAST_PATH_ROLE_OFFERER: creates the channels and the offer (the harness)
 * @BEACH_FAST_PATH_ROLE_ANSWERER: answers an offer and receives the channels (the manager)
 *
 * Which end of a fast-path link a #BeachFastPathLink is.
 */
typedef enum {
  BEACH_FAST_PATH_ROLE_OFFERER,  /*< nick=offerer >*/
  BEACH_FAST_PATH_ROLE_ANSWERER, /*< nick=answerer >*/
} BeachFastPathRole;

/**
 * BeachFastPathChannel:
 * @BEACH_FAST_PATH_CHANNEL_ACTIONS: `mgr-actions`: manager to harness, ordered, reliable
 * @BEACH_FAST_PATH_CHANNEL_ACKS: `mgr-acks`: harness to manager, ordered, reliable
 * @BEACH_FAST_PATH_CHANNEL_STATE: `mgr-state`: harness to manager, unordered, no retransmits
 *
 * The three data channels of a fast-path link. The nick is the default
 * label.
 */
typedef enum {
  BEACH_FAST_PATH_CHANNEL_ACTIONS, /*< nick=mgr-actions >*/
  BEACH_FAST_PATH_CHANNEL_ACKS,    /*< nick=mgr-acks >*/
  BEACH_FAST_PATH_CHANNEL_STATE,   /*< nick=mgr-state >*/
} BeachFastPathChannel;

/**
 * BeachPollGateState:
 * @BEACH_POLL_GATE_STATE_POLLING: the host long-polls
 * @BEACH_POLL_GATE_STATE_BACKING_OFF: the last request failed; the next poll waits
 * @BEACH_POLL_GATE_STATE_PAUSED: the manager confirmed the fast path and nothing pending
 *
 * Where a #BeachPollGate is.
 */
typedef enum {
  BEACH_POLL_GATE_STATE_POLLING,     /*< nick=polling >*/
  BEACH_POLL_GATE_STATE_BACKING_OFF, /*< nick=backing_off >*/
  BEACH_POLL_GATE_STATE_PAUSED,      /*< nick=paused >*/
} BeachPollGateState;

/**
 * BeachPollGateStep:
 * @BEACH_POLL_GATE_STEP_POLL: start one long-poll now
 * @BEACH_POLL_GATE_STEP_CHECK: start one `GET /actions/pending` safety check now
 * @BEACH_POLL_GATE_STEP_WAIT: nothing now; ask again after the delay, or after
 *   the next input when the delay is -1
 *
 * What beach_poll_gate_next() tells the poller to do.
 */
typedef enum {
  BEACH_POLL_GATE_STEP_POLL,  /*< nick=poll >*/
  BEACH_POLL_GATE_STEP_CHECK, /*< nick=check >*/
  BEACH_POLL_GATE_STEP_WAIT,  /*< nick=wait >*/
} BeachPollGateStep;

/**
 * BeachPollGateRequest:
 * @BEACH_POLL_GATE_REQUEST_POLL: a long-poll
 * @BEACH_POLL_GATE_REQUEST_ACK: an HTTP ack batch
 * @BEACH_POLL_GATE_REQUEST_CHECK: a `GET /actions/pending` safety check
 *
 * The HTTP requests a #BeachPollGate keeps count of.
 */
typedef enum {
  BEACH_POLL_GATE_REQUEST_POLL,  /*< nick=poll >*/
  BEACH_POLL_GATE_REQUEST_ACK,   /*< nick=ack >*/
  BEACH_POLL_GATE_REQUEST_CHECK, /*< nick=check >*/
} BeachPollGateRequest;

const gchar *beach_transport_mode_to_string (BeachTransportMode value);
gboolean beach_transport_mode_from_string (const gchar *str,
                                           BeachTransportMode *out_value,
                                           GError **error);
const gchar *beach_transport_to_string (BeachTransport value);
gboolean beach_transport_from_string (const gchar *str,
                                      BeachTransport *out_value,
                                      GError **error);
const gchar *beach_link_health_to_string (BeachLinkHealth value);
gboolean beach_link_health_from_string (const gchar *str,
                                        BeachLinkHealth *out_value,
                                        GError **error);
const gchar *beach_ack_status_to_string (BeachAckStatus value);
gboolean beach_ack_status_from_string (const gchar *str,
                                       BeachAckStatus *out_value,
                                       GError **error);
const gchar *beach_handshake_kind_to_string (BeachHandshakeKind value);
gboolean beach_handshake_kind_from_string (const gchar *str,
                                           BeachHandshakeKind *out_value,
                                           GError **error);
const gchar *beach_drop_reason_to_string (BeachDropReason value);
gboolean beach_drop_reason_from_string (const gchar *str,
                                        BeachDropReason *out_value,
                                        GError **error);
const gchar *beach_transport_reason_to_string (BeachTransportReason value);
gboolean beach_transport_reason_from_string (const gchar *str,
                                             BeachTransportReason *out_value,
                                             GError **error);
const gchar *beach_harness_type_to_string (BeachHarnessType value);
gboolean beach_harness_type_from_string (const gchar *str,
                                         BeachHarnessType *out_value,
                                         GError **error);
const gchar *beach_dead_letter_reason_to_string (BeachDeadLetterReason value);
gboolean beach_dead_letter_reason_from_string (const gchar *str,
                                               BeachDeadLetterReason *out_value,
                                               GError **error);
const gchar *beach_fast_path_role_to_string (BeachFastPathRole value);
gboolean beach_fast_path_role_from_string (const gchar *str,
                                           BeachFastPathRole *out_value,
                                           GError **error);
const gchar *beach_fast_path_channel_to_string (BeachFastPathChannel value);
gboolean beach_fast_path_channel_from_string (const gchar *str,
                                              BeachFastPathChannel *out_value,
                                              GError **error);

G_END_DECLS
