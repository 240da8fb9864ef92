/* bench-fastpath.c: the fast path through the daemon against its floor
 *
 * One run, printed as one JSON object on stdout (a table on stderr):
 *
 *  - raw_pair: the floor, two BeachFastPathLinks in this process with no
 *    manager. The answerer plays the daemon's part (it sends `action`
 *    frames on mgr-actions), the offerer the harness's (it parses each
 *    action and answers an `ack` on mgr-acks, with the same code as the
 *    harness peer below). Latency ping-pongs one action at a time, from
 *    just before the action is built until its ack is back. Throughput
 *    sends frames as fast as send() takes them (a 1 ms back-off on
 *    TOO_MANY_REQUESTS) while the offerer counts them.
 *  - manager: the real daemon (memory queue) with a fast_path session and
 *    a harness peer in this process that offers over the HTTP signalling
 *    routes and acks every action at once. Latency POSTs one action at a
 *    time and times (a) the peer having it (deliver) and (b) the daemon's
 *    `action_settled` event with "via":"fast_path" on the session's SSE
 *    stream (ack: the ack reached the manager, plus the SSE hop back).
 *    Throughput POSTs batches of 64 actions (fewer when 64 would not fit
 *    in a 900 KiB body, under the 1 MiB limit: 55 at 16 KiB) with at most
 *    WINDOW actions (rounded down to whole batches) not yet applied by the
 *    peer.
 *  - detection: the healthy peer sends a last ping and goes silent (it
 *    stays connected but sends nothing); the time until GET
 *    /sessions/:id/actions/pending says "fast_path_ready":false, polled
 *    every 10 ms. That is the worst case, the whole heartbeat timeout
 *    (1500 ms by default) plus the poll. Each repeat offers a fresh peer
 *    first; closing the silent one closes the daemon's end too.
 *
 * Every action carries a 200 B payload ({"bytes":"xxx…"}), or
 * --payload-bytes (at 16384 the link splits each frame into base64 chunks
 * of at most 14,336 bytes, WIRE "Chunking"). The links all
 * live on this process' main loop; the controller, the SSE reader and the
 * sequencing run on their own threads with blocking libsoup sessions.
 *
 * usage: bench-fastpath [--manager PATH] [-n N] [--throughput-count N]
 *                       [--detection-repeats N] [--payload-bytes N]
 *                       [--quick] [--verbose]
 *
 * --detection-repeats 0 skips the detection phase ("detection_ms":null).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "beach.h"
#include "bench-util.h"

#define PAYLOAD_BYTES 200
#define BATCH         64
/* What one POST of a throughput batch may carry (the body limit is 1 MiB). */
#define BATCH_BODY_BYTES (900 * 1024)
/* Below the queue's default cap of 500, like bench-redis: 7 batches. */
#define WINDOW 448
/* Round trips before the measured ones (connections, first allocations). */
#define WARMUP       50
#define WAIT_US      (10 * G_USEC_PER_SEC)
#define CONNECT_US   (20 * G_USEC_PER_SEC)
#define POLL_US      (10 * G_TIME_SPAN_MILLISECOND)
#define RAW_BURST    64
#define SESSION_ID   "fp"
#define DETECT_LIMIT (10 * G_USEC_PER_SEC)

/* -- shared state ---------------------------------------------------------- */

typedef struct _Bench Bench;

/* The harness side of one link: the raw pair's offerer, or a peer of the
 * daemon. Lives on the main loop. */
typedef struct {
  Bench *b;
  BeachFastPathLink *link;
  /* daemon peers only */
  gchar *link_id;
  GPtrArray *early; /* candidates gathered before the answer named the link */
  SoupSession *http;
  gboolean offer_failed;  /* under lock */
  BeachLinkHealth health; /* under lock */
  gboolean closed;        /* under lock */
} Harness;

/* The raw pair's daemon side, and the ping-pong state. Main loop only,
 * except the results read after done. */
typedef struct {
  Bench *b;
  BeachFastPathLink *link; /* answerer */
  Harness acker;           /* offerer */
  GPtrArray *sender_held;  /* candidates for the acker before it answered */
  GPtrArray *acker_held;   /* candidates for the sender before it started */
  gboolean sender_started;
  gboolean acker_answered;
  BeachLinkHealth health; /* under lock */
  gboolean closed;        /* under lock */
  /* latency */
  guint total, cur;
  gint64 *sent_us;
  gint64 *rtt_us;
  gboolean lat_done; /* under lock */
  /* throughput */
  guint t_count, t_sent;
  guint rejected;
  gint64 t_start_us;
} Raw;

struct _Bench {
  GMainLoop *loop;
  GMutex lock;
  GCond cond;
  gchar *payload;       /* {"bytes":"xxx…"}, payload_bytes long */
  gchar *bytes;         /* the xxx… */
  gboolean ack_actions; /* under lock: the harness acks what it gets */
  gboolean verbose;

  /* per phase, under lock */
  guint track_n;
  gint64 *recv_us;    /* [track_n] harness has action a<i> */
  gint64 *settled_us; /* [track_n] SSE: action_settled via fast_path */
  guint64 applied;    /* t<i> actions the harness got */
  guint64 applied_target;
  gint64 applied_done_us;
  gboolean sse_up;

  /* the daemon */
  gchar *manager;
  gchar *tmp;
  BenchDaemon daemon;
  gchar *session_token;
  gchar *lease_token;
  GCancellable *sse_cancel;

  /* options */
  guint n;
  guint t_count;
  guint repeats;
  guint payload_bytes;
  guint batch;  /* actions per throughput POST */
  guint window; /* actions not yet applied, a multiple of batch */

  /* results */
  BenchLat raw_lat, raw_deliver;
  gdouble raw_per_s;
  guint raw_rejected;
  gint64 raw_cpu_us;
  BenchLat m_deliver, m_ack, m_post;
  BenchLat m_ack_leg;      /* peer has it -> action_settled read from SSE */
  BenchLat m_after_answer; /* POST answer -> peer has it (clamped at 0) */
  guint m_not_fast_path;
  gdouble m_per_s, m_settled_per_s;
  guint m_rejected;
  gint64 m_cpu_daemon_us, m_cpu_bench_us;
  gint64 daemon_peak_rss_kb;
  gdouble *detect_ms;
  guint detect_n;
  gint status;
};

/* -- small helpers --------------------------------------------------------- */

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

/* "a17" -> 17 when the prefix matches, else G_MAXUINT */
static guint
id_index (const gchar *id, gchar prefix)
{
  if (id == NULL || id[0] != prefix || !g_ascii_isdigit (id[1]))
    return G_MAXUINT;
  return (guint) g_ascii_strtoull (id + 1, NULL, 10);
}

static JsonNode *
action_frame (Bench *b, gchar prefix, guint i)
{
  g_autofree gchar *id = g_strdup_printf ("%c%u", prefix, i);
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAction) a = beach_action_new_terminal_write (id, b->bytes, &error);

  if (a == NULL)
    g_error ("action %s: %s", id, error->message);
  return beach_action_to_json (a);
}

static void
set_acking (Bench *b, gboolean ack)
{
  g_mutex_lock (&b->lock);
  b->ack_actions = ack;
  g_mutex_unlock (&b->lock);
}

static guint64
get_applied (Bench *b)
{
  guint64 v;

  g_mutex_lock (&b->lock);
  v = b->applied;
  g_mutex_unlock (&b->lock);
  return v;
}

/* Resets the per-phase arrival tables for N latency ids. */
static void
track_reset (Bench *b, guint n, guint64 applied_target)
{
  g_mutex_lock (&b->lock);
  g_free (b->recv_us);
  g_free (b->settled_us);
  b->track_n = n;
  b->recv_us = g_new0 (gint64, MAX (n, 1));
  b->settled_us = g_new0 (gint64, MAX (n, 1));
  b->applied = 0;
  b->applied_target = applied_target;
  b->applied_done_us = 0;
  g_mutex_unlock (&b->lock);
}

/* -- waiting across threads ------------------------------------------------ */

typedef gboolean (*Pred) (Bench *b, gconstpointer data);

/* Waits under the lock until PRED holds or TIMEOUT_US pass. */
static gboolean
wait_for (Bench *b, Pred pred, gconstpointer data, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  gboolean ok;

  g_mutex_lock (&b->lock);
  while (!(ok = pred (b, data)) && g_cond_wait_until (&b->cond, &b->lock, deadline))
    ;
  ok = pred (b, data);
  g_mutex_unlock (&b->lock);
  return ok;
}

static gboolean
pred_flag (Bench *b, gconstpointer data)
{
  return *(const gboolean *) data;
}

static gboolean
pred_health_is (Bench *b, gconstpointer data)
{
  /* data: a BeachLinkHealth[2]: the field, then the wanted value */
  const BeachLinkHealth *const *pair = data;

  return *pair[0] == *pair[1];
}

static gboolean
wait_health (Bench *b, BeachLinkHealth *field, BeachLinkHealth want, gint64 timeout_us)
{
  const BeachLinkHealth *pair[2] = { field, &want };

  return wait_for (b, pred_health_is, pair, timeout_us);
}

static gboolean
pred_arrived (Bench *b, gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);

  return b->recv_us[i] != 0 && (b->settled_us[i] != 0 || !b->sse_up);
}

static gboolean
pred_applied_at_least (Bench *b, gconstpointer data)
{
  return b->applied >= *(const guint64 *) data;
}

static gboolean
pred_applied_progress (Bench *b, gconstpointer data)
{
  return b->applied > *(const guint64 *) data;
}

typedef struct {
  GSourceFunc func;
  gpointer data;
  gboolean done;
  Bench *b;
} Call;

static gboolean
call_dispatch (gpointer user_data)
{
  Call *c = user_data;

  c->func (c->data);
  g_mutex_lock (&c->b->lock);
  c->done = TRUE;
  g_cond_broadcast (&c->b->cond);
  g_mutex_unlock (&c->b->lock);
  return G_SOURCE_REMOVE;
}

/* Runs FUNC (DATA) on the main loop and waits for it. */
static void
on_loop (Bench *b, GSourceFunc func, gpointer data)
{
  Call c = { func, data, FALSE, b };

  g_main_context_invoke (NULL, call_dispatch, &c);
  if (!wait_for (b, pred_flag, &c.done, WAIT_US))
    g_error ("the main loop did not answer");
}

/* -- HTTP ------------------------------------------------------------------ */

/* The daemon, for saying why a request failed. */
static GSubprocess *daemon_proc;

static gchar *
daemon_status (void)
{
  GPid pid;

  if (daemon_proc == NULL)
    return g_strdup ("");
  pid = bench_subprocess_pid (daemon_proc);
  if (pid != 0) {
    g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
    g_autofree gchar *text = NULL;
    const gchar *p;

    /* running, or a zombie about to be reaped */
    if (g_file_get_contents (path, &text, NULL, NULL) && (p = strrchr (text, ')')) != NULL && p[1] == ' ' && p[2] != 'Z')
      return g_strdup (" (the manager is still running)");
  }
  g_subprocess_wait (daemon_proc, NULL, NULL);
  if (g_subprocess_get_if_signaled (daemon_proc))
    return g_strdup_printf (" (the manager was killed by signal %d)", g_subprocess_get_term_sig (daemon_proc));
  return g_strdup_printf (" (the manager exited with status %d)", g_subprocess_get_exit_status (daemon_proc));
}

typedef struct {
  gboolean ready;
  gint64 in_flight;
  gint64 pending;
} Pending;

static void
get_pending (Bench *b, SoupSession *session, Pending *out)
{
  g_autofree gchar *url = g_strdup_printf ("%s/sessions/%s/actions/pending", b->daemon.url, SESSION_ID);
  g_autoptr (JsonNode) r = bench_call (session, "GET", url, b->session_token, NULL);
  JsonObject *o = json_node_get_object (r);

  out->ready = json_object_get_boolean_member_with_default (o, "fast_path_ready", FALSE);
  out->in_flight = json_object_get_int_member_with_default (o, "in_flight", -1);
  out->pending = json_object_get_int_member_with_default (o, "pending", -1);
}

/* -- the harness side (main loop) ------------------------------------------ */

static void
harness_on_frame (BeachFastPathLink *link, BeachFastPathChannel channel, const gchar *type, JsonNode *payload, Harness *h)
{
  Bench *b = h->b;
  g_autoptr (GError) error = NULL;
  g_autoptr (BeachAction) action = NULL;
  g_autoptr (BeachActionAck) ack = NULL;
  g_autoptr (JsonNode) frame = NULL;
  gint64 now = g_get_monotonic_time ();
  const gchar *id;
  guint idx;
  gboolean ack_it;

  if (!g_str_equal (type, "action"))
    return;
  action = beach_action_new_from_json (payload, &error);
  if (action == NULL) {
    g_printerr ("bench-fastpath: bad action: %s\n", error->message);
    return;
  }
  id = beach_action_get_id (action);
  g_mutex_lock (&b->lock);
  if ((idx = id_index (id, 'a')) < b->track_n) {
    if (b->recv_us[idx] == 0)
      b->recv_us[idx] = now;
    g_cond_broadcast (&b->cond);
  } else if (id_index (id, 't') != G_MAXUINT) {
    if (++b->applied == b->applied_target)
      b->applied_done_us = now;
    g_cond_broadcast (&b->cond);
  }
  ack_it = b->ack_actions;
  g_mutex_unlock (&b->lock);
  if (!ack_it)
    return;
  ack = beach_action_ack_new (id, BEACH_ACK_STATUS_OK, g_get_real_time () / 1000, -1, NULL, NULL, &error);
  frame = beach_action_ack_to_json (ack);
  if (!beach_fast_path_link_send (link, BEACH_FAST_PATH_CHANNEL_ACKS, "ack", frame, &error))
    g_printerr ("bench-fastpath: ack %s: %s\n", id, error->message);
}

static void
harness_on_health (BeachFastPathLink *link, GParamSpec *pspec, Harness *h)
{
  g_mutex_lock (&h->b->lock);
  h->health = beach_fast_path_link_get_health (link);
  g_cond_broadcast (&h->b->cond);
  g_mutex_unlock (&h->b->lock);
}

static void
harness_on_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Harness *h = user_data;

  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
  g_mutex_lock (&h->b->lock);
  h->closed = TRUE;
  g_cond_broadcast (&h->b->cond);
  g_mutex_unlock (&h->b->lock);
}

/* -- the raw pair (main loop) ---------------------------------------------- */

static void
raw_on_candidate (BeachFastPathLink *link, const gchar *candidate, guint mline, Raw *r)
{
  gboolean from_sender = link == r->link;
  g_autoptr (GError) error = NULL;

  if (candidate == NULL || *candidate == '\0')
    return;
  if (from_sender ? !r->acker_answered : !r->sender_started) {
    g_ptr_array_add (from_sender ? r->sender_held : r->acker_held, g_strdup (candidate));
    return;
  }
  if (!beach_fast_path_link_add_remote_candidate (from_sender ? r->acker.link : r->link, candidate, mline, &error))
    g_error ("raw pair candidate: %s", error->message);
}

static void
raw_flush (GPtrArray *held, BeachFastPathLink *to)
{
  for (guint i = 0; i < held->len; i++) {
    g_autoptr (GError) error = NULL;

    if (!beach_fast_path_link_add_remote_candidate (to, held->pdata[i], 0, &error))
      g_error ("raw pair candidate: %s", error->message);
  }
  g_ptr_array_set_size (held, 0);
}

static void
raw_on_sender_health (BeachFastPathLink *link, GParamSpec *pspec, Raw *r)
{
  g_mutex_lock (&r->b->lock);
  r->health = beach_fast_path_link_get_health (link);
  g_cond_broadcast (&r->b->cond);
  g_mutex_unlock (&r->b->lock);
}

static void
raw_send_action (Raw *r)
{
  g_autoptr (JsonNode) frame = NULL;
  g_autoptr (GError) error = NULL;

  r->sent_us[r->cur] = g_get_monotonic_time ();
  frame = action_frame (r->b, 'a', r->cur);
  if (!beach_fast_path_link_send (r->link, BEACH_FAST_PATH_CHANNEL_ACTIONS, "action", frame, &error))
    g_error ("raw pair send: %s", error->message);
}

static void
raw_on_sender_frame (BeachFastPathLink *link, BeachFastPathChannel channel, const gchar *type, JsonNode *payload, Raw *r)
{
  g_autoptr (BeachActionAck) ack = NULL;
  guint idx;

  if (!g_str_equal (type, "ack"))
    return;
  ack = beach_action_ack_new_from_json (payload, NULL);
  if (ack == NULL || (idx = id_index (beach_action_ack_get_id (ack), 'a')) != r->cur || r->cur >= r->total)
    return;
  r->rtt_us[r->cur] = g_get_monotonic_time () - r->sent_us[r->cur];
  if (++r->cur < r->total) {
    raw_send_action (r);
    return;
  }
  g_mutex_lock (&r->b->lock);
  r->lat_done = TRUE;
  g_cond_broadcast (&r->b->cond);
  g_mutex_unlock (&r->b->lock);
}

static void
raw_on_offer (GObject *source, GAsyncResult *result, gpointer user_data);

static void
raw_on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Raw *r = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *answer = beach_fast_path_link_answer_finish (r->link, result, &error);

  if (answer == NULL || !beach_fast_path_link_set_remote_answer (r->acker.link, answer, &error))
    g_error ("raw pair answer: %s", error->message);
  r->acker_answered = TRUE;
  raw_flush (r->sender_held, r->acker.link);
}

static void
raw_on_offer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Raw *r = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *offer = beach_fast_path_link_create_offer_finish (r->acker.link, result, &error);

  if (offer == NULL)
    g_error ("raw pair offer: %s", error->message);
  beach_fast_path_link_answer_async (r->link, offer, NULL, raw_on_answer, r);
  r->sender_started = TRUE;
  raw_flush (r->acker_held, r->link);
}

static gboolean
raw_start (gpointer data)
{
  Raw *r = data;

  r->link = beach_fast_path_link_new (BEACH_FAST_PATH_ROLE_ANSWERER);
  r->acker.b = r->b;
  r->acker.link = beach_fast_path_link_new (BEACH_FAST_PATH_ROLE_OFFERER);
  r->acker.health = BEACH_LINK_HEALTH_CONNECTING;
  r->health = BEACH_LINK_HEALTH_CONNECTING;
  r->sender_held = g_ptr_array_new_with_free_func (g_free);
  r->acker_held = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (r->link, "local-candidate", G_CALLBACK (raw_on_candidate), r);
  g_signal_connect (r->acker.link, "local-candidate", G_CALLBACK (raw_on_candidate), r);
  g_signal_connect (r->link, "notify::health", G_CALLBACK (raw_on_sender_health), r);
  g_signal_connect (r->acker.link, "notify::health", G_CALLBACK (harness_on_health), &r->acker);
  g_signal_connect (r->link, "frame-received", G_CALLBACK (raw_on_sender_frame), r);
  g_signal_connect (r->acker.link, "frame-received", G_CALLBACK (harness_on_frame), &r->acker);
  beach_fast_path_link_create_offer_async (r->acker.link, NULL, raw_on_offer, r);
  return G_SOURCE_REMOVE;
}

static gboolean
raw_latency_begin (gpointer data)
{
  Raw *r = data;

  r->cur = 0;
  raw_send_action (r);
  return G_SOURCE_REMOVE;
}

static gboolean raw_burst (gpointer data);

static gboolean
raw_backoff_done (gpointer data)
{
  g_idle_add (raw_burst, data);
  return G_SOURCE_REMOVE;
}

/* As many frames as send() takes, RAW_BURST per dispatch so that the
 * receiving end (on the same loop) gets its turn. */
static gboolean
raw_burst (gpointer data)
{
  Raw *r = data;

  for (guint k = 0; k < RAW_BURST && r->t_sent < r->t_count; k++) {
    g_autoptr (JsonNode) frame = action_frame (r->b, 't', r->t_sent);
    g_autoptr (GError) error = NULL;

    if (!beach_fast_path_link_send (r->link, BEACH_FAST_PATH_CHANNEL_ACTIONS, "action", frame, &error)) {
      if (!g_error_matches (error, BEACH_ERROR, BEACH_ERROR_TOO_MANY_REQUESTS))
        g_error ("raw pair send: %s", error->message);
      r->rejected++;
      g_timeout_add (1, raw_backoff_done, r);
      return G_SOURCE_REMOVE;
    }
    r->t_sent++;
  }
  return r->t_sent < r->t_count ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean
raw_throughput_begin (gpointer data)
{
  Raw *r = data;

  r->t_sent = 0;
  r->t_start_us = g_get_monotonic_time ();
  g_idle_add (raw_burst, r);
  return G_SOURCE_REMOVE;
}

static void
raw_on_sender_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Raw *r = user_data;

  beach_fast_path_link_close_finish (BEACH_FAST_PATH_LINK (source), result, NULL);
  g_mutex_lock (&r->b->lock);
  r->closed = TRUE;
  g_cond_broadcast (&r->b->cond);
  g_mutex_unlock (&r->b->lock);
}

static gboolean
raw_close (gpointer data)
{
  Raw *r = data;

  beach_fast_path_link_close_async (r->link, NULL, raw_on_sender_closed, r);
  beach_fast_path_link_close_async (r->acker.link, NULL, harness_on_closed, &r->acker);
  return G_SOURCE_REMOVE;
}

static gboolean
raw_free (gpointer data)
{
  Raw *r = data;

  g_signal_handlers_disconnect_by_data (r->link, r);
  g_signal_handlers_disconnect_by_data (r->acker.link, r);
  g_signal_handlers_disconnect_by_data (r->acker.link, &r->acker);
  g_clear_object (&r->link);
  g_clear_object (&r->acker.link);
  g_ptr_array_unref (r->sender_held);
  g_ptr_array_unref (r->acker_held);
  return G_SOURCE_REMOVE;
}

/* -- a peer of the daemon (main loop) -------------------------------------- */

static JsonNode *
peer_post (Harness *h, const gchar *path, JsonObject *obj, GError **error)
{
  g_autofree gchar *url = g_strconcat (h->b->daemon.url, path, NULL);
  g_autoptr (JsonNode) body = json_node_new (JSON_NODE_OBJECT);
  g_autofree gchar *text = NULL;
  g_autoptr (GBytes) out = NULL;
  guint status;

  json_node_set_object (body, obj);
  text = json_to_string (body, FALSE);
  status = bench_request (h->http, "POST", url, h->b->session_token, text, &out);
  if (status != 200) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_FAILED, "POST %s: HTTP %u: %.*s", path, status,
                 (int) g_bytes_get_size (out), (const gchar *) g_bytes_get_data (out, NULL));
    return NULL;
  }
  return json_from_string (g_bytes_get_data (out, NULL), error);
}

static void
peer_send_candidate (Harness *h, const gchar *candidate, guint mline)
{
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autofree gchar *path = g_strdup_printf ("/fastpath/sessions/%s/webrtc/ice", SESSION_ID);
  g_autoptr (JsonNode) res = NULL;
  g_autoptr (GError) error = NULL;

  json_object_set_string_member (obj, "candidate", candidate);
  json_object_set_int_member (obj, "sdp_mline_index", mline);
  json_object_set_string_member (obj, "link_id", h->link_id);
  res = peer_post (h, path, obj, &error);
  if (res == NULL)
    g_printerr ("bench-fastpath: ice: %s\n", error->message);
}

static void
peer_on_candidate (BeachFastPathLink *link, const gchar *candidate, guint mline, Harness *h)
{
  if (candidate == NULL || *candidate == '\0')
    return;
  if (h->link_id == NULL) {
    g_ptr_array_add (h->early, g_strdup (candidate));
    return;
  }
  peer_send_candidate (h, candidate, mline);
}

static void
peer_on_offer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Harness *h = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sdp = beach_fast_path_link_create_offer_finish (h->link, result, &error);
  g_autofree gchar *path = g_strdup_printf ("/fastpath/sessions/%s/webrtc/offer", SESSION_ID);
  g_autoptr (JsonObject) obj = json_object_new ();
  g_autoptr (JsonNode) answer = NULL;
  JsonObject *a;

  if (sdp == NULL)
    goto fail;
  json_object_set_string_member (obj, "sdp", sdp);
  json_object_set_string_member (obj, "type", "offer");
  answer = peer_post (h, path, obj, &error);
  if (answer == NULL)
    goto fail;
  a = json_node_get_object (answer);
  h->link_id = g_strdup (json_object_get_string_member (a, "link_id"));
  if (!beach_fast_path_link_set_remote_answer (h->link, json_object_get_string_member (a, "sdp"), &error))
    goto fail;
  for (guint i = 0; i < h->early->len; i++)
    peer_send_candidate (h, h->early->pdata[i], 0);
  g_ptr_array_set_size (h->early, 0);
  return;

fail:
  g_printerr ("bench-fastpath: offer: %s\n", error->message);
  g_mutex_lock (&h->b->lock);
  h->offer_failed = TRUE;
  g_cond_broadcast (&h->b->cond);
  g_mutex_unlock (&h->b->lock);
}

static gboolean
peer_start (gpointer data)
{
  Harness *h = data;

  h->http = bench_soup_session_new ();
  h->early = g_ptr_array_new_with_free_func (g_free);
  h->health = BEACH_LINK_HEALTH_CONNECTING;
  h->link = beach_fast_path_link_new (BEACH_FAST_PATH_ROLE_OFFERER);
  g_signal_connect (h->link, "local-candidate", G_CALLBACK (peer_on_candidate), h);
  g_signal_connect (h->link, "notify::health", G_CALLBACK (harness_on_health), h);
  g_signal_connect (h->link, "frame-received", G_CALLBACK (harness_on_frame), h);
  beach_fast_path_link_create_offer_async (h->link, NULL, peer_on_offer, h);
  return G_SOURCE_REMOVE;
}

static gboolean
peer_close (gpointer data)
{
  Harness *h = data;

  beach_fast_path_link_close_async (h->link, NULL, harness_on_closed, h);
  return G_SOURCE_REMOVE;
}

static gboolean
peer_free (gpointer data)
{
  Harness *h = data;

  g_signal_handlers_disconnect_by_data (h->link, h);
  g_clear_object (&h->link);
  g_clear_object (&h->http);
  g_clear_pointer (&h->early, g_ptr_array_unref);
  g_free (h->link_id);
  g_free (h);
  return G_SOURCE_REMOVE;
}

typedef struct {
  Harness *h;
  gint64 at_us;
} Silence;

static gboolean
peer_silence (gpointer data)
{
  Silence *s = data;

  /* A last frame right now, so the daemon's heartbeat timeout runs from
   * here: this measures the worst case, a peer that hangs just after it
   * was last heard. */
  beach_fast_path_link_ping_now (s->h->link);
  s->at_us = g_get_monotonic_time ();
  beach_fast_path_link_set_silent (s->h->link, TRUE);
  return G_SOURCE_REMOVE;
}

static gboolean
pred_peer_settled (Bench *b, gconstpointer data)
{
  const Harness *h = data;

  return h->offer_failed || h->health == BEACH_LINK_HEALTH_HEALTHY || h->health == BEACH_LINK_HEALTH_CLOSED;
}

/* Offers a fresh peer and waits until the daemon routes to it. */
static Harness *
peer_connect (Bench *b, SoupSession *session)
{
  Harness *h = g_new0 (Harness, 1);
  gint64 start = g_get_monotonic_time ();
  Pending p = { 0 };

  h->b = b;
  on_loop (b, peer_start, h);
  if (!wait_for (b, pred_peer_settled, h, CONNECT_US) || h->offer_failed || h->health != BEACH_LINK_HEALTH_HEALTHY)
    g_error ("the harness peer did not become healthy");
  for (;;) {
    get_pending (b, session, &p);
    if (p.ready)
      break;
    if (g_get_monotonic_time () - start > CONNECT_US)
      g_error ("the daemon never reported fast_path_ready");
    g_usleep (POLL_US);
  }
  if (b->verbose)
    g_printerr ("bench-fastpath: peer %s ready in %.0f ms\n", h->link_id,
                (g_get_monotonic_time () - start) / 1000.0);
  return h;
}

static void
peer_disconnect (Bench *b, Harness *h)
{
  on_loop (b, peer_close, h);
  if (!wait_for (b, pred_flag, &h->closed, WAIT_US))
    g_printerr ("bench-fastpath: warning: a peer did not close in time\n");
  on_loop (b, peer_free, h);
}

/* -- the SSE reader (own thread) ------------------------------------------- */

static gpointer
sse_thread (gpointer data)
{
  Bench *b = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) stream = NULL;
  g_autoptr (GDataInputStream) lines = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *url = g_strdup_printf ("%s/sessions/%s/events", b->daemon.url, SESSION_ID);
  g_autofree gchar *auth = g_strdup_printf ("Bearer %s", BENCH_OPERATOR_TOKEN);
  gboolean settled = FALSE;
  gchar *line;

  g_main_context_push_thread_default (ctx);
  session = bench_soup_session_new ();
  /* no timeout: the stream idles between actions */
  soup_session_set_timeout (session, 0);
  msg = soup_message_new ("GET", url);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Accept", "text/event-stream");
  stream = soup_session_send (session, msg, b->sse_cancel, &error);
  if (stream == NULL || soup_message_get_status (msg) != 200)
    g_error ("GET %s: %s", url, error != NULL ? error->message : soup_message_get_reason_phrase (msg));
  g_mutex_lock (&b->lock);
  b->sse_up = TRUE;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);

  lines = g_data_input_stream_new (stream);
  g_data_input_stream_set_newline_type (lines, G_DATA_STREAM_NEWLINE_TYPE_LF);
  while ((line = g_data_input_stream_read_line_utf8 (lines, NULL, b->sse_cancel, NULL)) != NULL) {
    gint64 now = g_get_monotonic_time ();

    if (g_str_has_prefix (line, "event: ")) {
      settled = g_str_equal (line + strlen ("event: "), "action_settled");
    } else if (settled && g_str_has_prefix (line, "data: ")) {
      g_autoptr (JsonNode) node = json_from_string (line + strlen ("data: "), NULL);
      JsonObject *o = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      guint idx;

      if (o != NULL && g_strcmp0 (json_object_get_string_member_with_default (o, "via", NULL), "fast_path") == 0) {
        g_mutex_lock (&b->lock);
        idx = id_index (json_object_get_string_member_with_default (o, "id", NULL), 'a');
        if (idx < b->track_n && b->settled_us[idx] == 0) {
          b->settled_us[idx] = now;
          g_cond_broadcast (&b->cond);
        }
        g_mutex_unlock (&b->lock);
      }
    } else if (*line == '\0') {
      settled = FALSE;
    }
    g_free (line);
  }
  /* the message completes as its stream closes: on this context */
  g_clear_object (&lines);
  g_clear_object (&stream);
  g_clear_object (&msg);
  g_clear_object (&session);
  g_mutex_lock (&b->lock);
  b->sse_up = FALSE;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
  g_main_context_pop_thread_default (ctx);
  return NULL;
}

/* -- the daemon ------------------------------------------------------------ */

static void
daemon_start (Bench *b, SoupSession *session)
{
  g_autoptr (GError) error = NULL;
  const gchar *argv[] = { b->manager, "--listen", "127.0.0.1:0", "--queue", "memory", NULL };

  b->tmp = g_dir_make_tmp ("beach-bench-XXXXXX", &error);
  if (b->tmp == NULL)
    g_error ("temporary directory: %s", error->message);
  if (!bench_daemon_spawn (&b->daemon, argv, b->tmp, BENCH_OPERATOR_TOKEN,
                           (b->verbose ? BENCH_DAEMON_KEEP_STDERR : BENCH_DAEMON_NONE) | BENCH_DAEMON_NO_DEBUG_ENV | BENCH_DAEMON_DIE_WITH_PARENT,
                           &error)) {
    bench_rm_rf (b->tmp);
    g_error ("cannot start %s: %s", b->manager, error->message);
  }
  daemon_proc = b->daemon.proc;
  if (!bench_daemon_read_url (&b->daemon))
    g_error ("the manager did not start");
  if (!bench_wait_ready (session, b->daemon.url, WAIT_US))
    g_error ("the manager never became ready");

  /* a fast_path session: transport_mode left to its default */
  bench_open_session (session, b->daemon.url, BENCH_OPERATOR_TOKEN, SESSION_ID, NULL, &b->session_token,
                      &b->lease_token);
}

static void
daemon_stop (Bench *b)
{
  b->daemon_peak_rss_kb = bench_proc_peak_rss_kb (bench_subprocess_pid (b->daemon.proc));
  if (!bench_daemon_stop (&b->daemon))
    g_printerr ("bench-fastpath: warning: the manager did not exit cleanly\n");
  daemon_proc = NULL;
  g_clear_object (&b->daemon.out);
  g_clear_object (&b->daemon.proc);
  if (b->tmp != NULL)
    bench_rm_rf (b->tmp);
  g_clear_pointer (&b->tmp, g_free);
}

/* -- the phases (bench thread) --------------------------------------------- */

static void
phase_raw (Bench *b)
{
  Raw *r = g_new0 (Raw, 1);
  guint total = b->n + WARMUP;
  g_autofree gint64 *lat = g_new0 (gint64, b->n);
  g_autofree gint64 *one_way = g_new0 (gint64, b->n);
  guint64 target = b->t_count;
  gint64 cpu0;

  g_printerr ("bench-fastpath: raw pair...\n");
  r->b = b;
  r->total = total;
  r->sent_us = g_new0 (gint64, total);
  r->rtt_us = g_new0 (gint64, total);
  on_loop (b, raw_start, r);
  if (!wait_health (b, &r->health, BEACH_LINK_HEALTH_HEALTHY, CONNECT_US) || !wait_health (b, &r->acker.health, BEACH_LINK_HEALTH_HEALTHY, CONNECT_US))
    g_error ("the raw pair did not become healthy");

  /* latency: one action at a time, each answered by an ack */
  track_reset (b, total, 0);
  set_acking (b, TRUE);
  on_loop (b, raw_latency_begin, r);
  if (!wait_for (b, pred_flag, &r->lat_done, (gint64) total * WAIT_US / 100 + WAIT_US))
    g_error ("the raw ping-pong stalled at %u", r->cur);
  for (guint i = 0; i < b->n; i++) {
    lat[i] = r->rtt_us[WARMUP + i];
    one_way[i] = b->recv_us[WARMUP + i] - r->sent_us[WARMUP + i];
  }
  bench_lat_stats (lat, NULL, b->n, &b->raw_lat);
  bench_lat_stats (one_way, NULL, b->n, &b->raw_deliver);

  /* throughput: as fast as send() takes them */
  track_reset (b, 0, target);
  set_acking (b, FALSE);
  r->t_count = b->t_count;
  cpu0 = bench_proc_cpu_us (0);
  on_loop (b, raw_throughput_begin, r);
  for (;;) {
    guint64 seen = get_applied (b);

    if (wait_for (b, pred_applied_at_least, &target, 0))
      break;
    if (!wait_for (b, pred_applied_progress, &seen, WAIT_US))
      g_error ("the raw throughput run stalled at %" G_GUINT64_FORMAT, seen);
  }
  b->raw_cpu_us = bench_proc_cpu_us (0) - cpu0;
  b->raw_per_s = b->t_count / ((b->applied_done_us - r->t_start_us) / (gdouble) G_USEC_PER_SEC);
  b->raw_rejected = r->rejected;

  on_loop (b, raw_close, r);
  if (!wait_for (b, pred_flag, &r->closed, WAIT_US) || !wait_for (b, pred_flag, &r->acker.closed, WAIT_US))
    g_printerr ("bench-fastpath: warning: the raw pair did not close in time\n");
  on_loop (b, raw_free, r);
  g_free (r->sent_us);
  g_free (r->rtt_us);
  g_free (r);
}

static void
manager_latency (Bench *b, SoupSession *session)
{
  guint total = b->n + WARMUP;
  g_autofree gchar *url = g_strdup_printf ("%s/sessions/%s/actions", b->daemon.url, SESSION_ID);
  g_autofree gint64 *send_us = g_new0 (gint64, total);
  g_autofree gint64 *posted_us = g_new0 (gint64, total);
  g_autofree gint64 *deliver = g_new0 (gint64, b->n);
  g_autofree gint64 *acked = g_new0 (gint64, b->n);
  g_autofree gint64 *post = g_new0 (gint64, b->n);
  g_autofree gint64 *ack_leg = g_new0 (gint64, b->n);
  g_autofree gint64 *after_answer = g_new0 (gint64, b->n);

  track_reset (b, total, 0);
  for (guint i = 0; i < total; i++) {
    g_autofree gchar *body = g_strdup_printf (
      "{\"actions\":[{\"id\":\"a%u\",\"action_type\":\"terminal_write\",\"payload\":%s}]}", i, b->payload);
    g_autoptr (JsonNode) r = NULL;
    const gchar *transport;

    send_us[i] = g_get_monotonic_time ();
    r = bench_call (session, "POST", url, b->lease_token, body);
    posted_us[i] = g_get_monotonic_time ();
    transport = json_object_get_string_member_with_default (json_node_get_object (r), "transport", "?");
    if (!g_str_equal (transport, "fast_path") && i >= WARMUP)
      b->m_not_fast_path++;
    if (!wait_for (b, pred_arrived, GUINT_TO_POINTER (i), WAIT_US))
      g_error ("action a%u: no %s after 10 s (transport %s)", i,
               b->recv_us[i] == 0 ? "delivery" : "action_settled event", transport);
  }
  if (!b->sse_up)
    g_error ("the SSE stream ended");
  for (guint i = 0; i < b->n; i++) {
    deliver[i] = b->recv_us[WARMUP + i] - send_us[WARMUP + i];
    acked[i] = b->settled_us[WARMUP + i] - send_us[WARMUP + i];
    post[i] = posted_us[WARMUP + i] - send_us[WARMUP + i];
    ack_leg[i] = b->settled_us[WARMUP + i] - b->recv_us[WARMUP + i];
    /* negative when the action beat the POST's own answer */
    after_answer[i] = MAX (0, b->recv_us[WARMUP + i] - posted_us[WARMUP + i]);
  }
  bench_lat_stats (deliver, NULL, b->n, &b->m_deliver);
  bench_lat_stats (acked, NULL, b->n, &b->m_ack);
  bench_lat_stats (post, NULL, b->n, &b->m_post);
  bench_lat_stats (ack_leg, NULL, b->n, &b->m_ack_leg);
  bench_lat_stats (after_answer, NULL, b->n, &b->m_after_answer);
}

static void
manager_throughput (Bench *b, SoupSession *session)
{
  g_autofree gchar *url = g_strdup_printf ("%s/sessions/%s/actions", b->daemon.url, SESSION_ID);
  guint64 target = b->t_count;
  guint sent = 0;
  gint64 start, cpu_d0, cpu_b0, settled_us;
  GPid pid = bench_subprocess_pid (b->daemon.proc);
  Pending p = { 0 };

  track_reset (b, 0, target);
  cpu_d0 = bench_proc_cpu_us (pid);
  cpu_b0 = bench_proc_cpu_us (0);
  start = g_get_monotonic_time ();
  while (sent < b->t_count) {
    guint m = MIN (b->batch, b->t_count - sent);
    guint64 need = sent + m > b->window ? sent + m - b->window : 0;
    g_autoptr (GString) body = g_string_new ("{\"actions\":[");
    g_autoptr (GBytes) reply = NULL;
    guint status;

    if (!wait_for (b, pred_applied_at_least, &need, WAIT_US))
      g_error ("the peer stopped applying at %" G_GUINT64_FORMAT " of %u sent", get_applied (b), sent);
    for (guint j = 0; j < m; j++)
      g_string_append_printf (body, "%s{\"id\":\"t%u\",\"action_type\":\"terminal_write\",\"payload\":%s}",
                              j > 0 ? "," : "", sent + j, b->payload);
    g_string_append (body, "]}");
    status = bench_request (session, "POST", url, b->lease_token, body->str, &reply);
    if (status == 429) {
      guint64 seen = get_applied (b);

      b->m_rejected++;
      wait_for (b, pred_applied_progress, &seen, WAIT_US);
      continue;
    }
    if (status != 200)
      g_error ("POST %s: HTTP %u: %.*s", url, status, (int) g_bytes_get_size (reply),
               (const char *) g_bytes_get_data (reply, NULL));
    sent += m;
  }
  if (!wait_for (b, pred_applied_at_least, &target, WAIT_US))
    g_error ("the peer applied only %" G_GUINT64_FORMAT " of %u", get_applied (b), b->t_count);
  /* every ack has reached the manager */
  for (;;) {
    get_pending (b, session, &p);
    if (p.in_flight == 0 && p.pending == 0)
      break;
    if (g_get_monotonic_time () - b->applied_done_us > WAIT_US)
      g_error ("%" G_GINT64_FORMAT " actions still in flight", p.in_flight);
    g_usleep (1000);
  }
  settled_us = g_get_monotonic_time ();
  b->m_cpu_daemon_us = bench_proc_cpu_us (pid) - cpu_d0;
  b->m_cpu_bench_us = bench_proc_cpu_us (0) - cpu_b0;
  b->m_per_s = b->t_count / ((b->applied_done_us - start) / (gdouble) G_USEC_PER_SEC);
  b->m_settled_per_s = b->t_count / ((settled_us - start) / (gdouble) G_USEC_PER_SEC);
}

/* The healthy peer goes silent; returns the ms until the daemon says so. */
static gdouble
detect_once (Bench *b, SoupSession *session, Harness *h)
{
  Silence s = { h, 0 };
  Pending p = { 0 };

  on_loop (b, peer_silence, &s);
  for (;;) {
    gint64 t;

    get_pending (b, session, &p);
    t = g_get_monotonic_time ();
    if (!p.ready)
      return (t - s.at_us) / 1000.0;
    if (t - s.at_us > DETECT_LIMIT)
      g_error ("the daemon still reports fast_path_ready after %d s", (int) (DETECT_LIMIT / G_USEC_PER_SEC));
    g_usleep (POLL_US);
  }
}

static void
phase_manager (Bench *b, SoupSession *session)
{
  GThread *sse;
  Harness *h;

  g_printerr ("bench-fastpath: manager...\n");
  daemon_start (b, session);
  h = peer_connect (b, session);

  /* latency, with the SSE stream for the acks */
  b->sse_cancel = g_cancellable_new ();
  sse = g_thread_new ("sse", sse_thread, b);
  if (!wait_for (b, pred_flag, &b->sse_up, WAIT_US))
    g_error ("the SSE stream did not open");
  set_acking (b, TRUE);
  manager_latency (b, session);
  /* throughput measures the link: nobody listens to the events */
  g_cancellable_cancel (b->sse_cancel);
  g_thread_join (sse);
  g_clear_object (&b->sse_cancel);
  manager_throughput (b, session);

  /* detection: the first repeat silences this peer, the others a fresh one */
  if (b->repeats > 0)
    g_printerr ("bench-fastpath: detection...\n");
  b->detect_ms = g_new0 (gdouble, b->repeats);
  for (guint i = 0; i < b->repeats; i++) {
    if (h == NULL)
      h = peer_connect (b, session);
    b->detect_ms[i] = detect_once (b, session, h);
    b->detect_n++;
    if (b->verbose)
      g_printerr ("bench-fastpath: detection %u: %.1f ms\n", i + 1, b->detect_ms[i]);
    peer_disconnect (b, h);
    h = NULL;
  }
  if (h != NULL)
    peer_disconnect (b, h);
  daemon_stop (b);
}

static gpointer
bench_thread (gpointer data)
{
  Bench *b = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  SoupSession *session;

  g_main_context_push_thread_default (ctx);
  session = bench_soup_session_new ();
  phase_raw (b);
  phase_manager (b, session);
  g_object_unref (session);
  g_main_context_pop_thread_default (ctx);
  g_main_loop_quit (b->loop);
  return NULL;
}

/* -- output ---------------------------------------------------------------- */

static gdouble
ratio (gdouble a, gdouble b)
{
  return b > 0 ? a / b : 0;
}

static void
print_results (Bench *b, gdouble wall)
{
  g_autoptr (GString) json = g_string_new (NULL);
  gdouble det_min, det_med, det_max;

  det_min = det_med = det_max = 0;
  if (b->detect_n > 0) {
    qsort (b->detect_ms, b->detect_n, sizeof (gdouble), cmp_double);
    det_min = b->detect_ms[0];
    det_max = b->detect_ms[b->detect_n - 1];
    det_med = b->detect_n % 2 == 1 ? b->detect_ms[b->detect_n / 2]
                                   : (b->detect_ms[b->detect_n / 2 - 1] + b->detect_ms[b->detect_n / 2]) / 2;
  }

  g_string_append_printf (json,
                          "{\"bench\":\"fastpath\",\"payload_bytes\":%u,\"batch\":%u,\"window\":%u,"
                          "\"latency_actions\":%u,\"throughput_actions\":%u,"
                          "\"raw_pair\":{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
                          "\"mean_ms\":%.3f,\"deliver_p50_ms\":%.3f,\"deliver_p99_ms\":%.3f,\"deliver_p999_ms\":%.3f,"
                          "\"frames_per_s\":%.0f,\"send_rejected_429\":%u,\"cpu_us_per_frame\":%.1f},",
                          b->payload_bytes, b->batch, b->window, b->n, b->t_count, b->raw_lat.p50, b->raw_lat.p99, b->raw_lat.p999,
                          b->raw_lat.max, b->raw_lat.mean, b->raw_deliver.p50, b->raw_deliver.p99, b->raw_deliver.p999, b->raw_per_s,
                          b->raw_rejected, (gdouble) b->raw_cpu_us / b->t_count);
  g_string_append_printf (json,
                          "\"manager\":{\"deliver_p50_ms\":%.3f,\"deliver_p99_ms\":%.3f,\"deliver_p999_ms\":%.3f,"
                          "\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"ack_p999_ms\":%.3f,\"ack_max_ms\":%.3f,"
                          "\"post_p50_ms\":%.3f,\"post_p99_ms\":%.3f,\"after_post_deliver_p50_ms\":%.3f,"
                          "\"ack_leg_p50_ms\":%.3f,\"ack_leg_p99_ms\":%.3f,\"not_fast_path\":%u,"
                          "\"actions_per_s\":%.0f,\"settled_per_s\":%.0f,\"rejected_429\":%u,"
                          "\"cpu_us_per_action\":{\"daemon\":%.1f,\"bench\":%.1f},"
                          "\"daemon_peak_rss_kb\":%" G_GINT64_FORMAT "},",
                          b->m_deliver.p50, b->m_deliver.p99, b->m_deliver.p999, b->m_ack.p50, b->m_ack.p99,
                          b->m_ack.p999, b->m_ack.max, b->m_post.p50, b->m_post.p99, b->m_after_answer.p50,
                          b->m_ack_leg.p50, b->m_ack_leg.p99, b->m_not_fast_path, b->m_per_s,
                          b->m_settled_per_s, b->m_rejected, (gdouble) b->m_cpu_daemon_us / b->t_count,
                          (gdouble) b->m_cpu_bench_us / b->t_count, b->daemon_peak_rss_kb);
  if (b->detect_n > 0)
    g_string_append_printf (json, "\"detection_ms\":{\"min\":%.1f,\"median\":%.1f,\"max\":%.1f,\"repeats\":%u,\"goal\":1500},",
                            det_min, det_med, det_max, b->detect_n);
  else
    g_string_append (json, "\"detection_ms\":null,");
  g_string_append_printf (json,
                          "\"ratios\":{\"ack_p50_vs_raw_p50\":%.2f,\"ack_p99_vs_raw_p99\":%.2f,"
                          "\"throughput_vs_raw\":%.4f},\"wall_secs\":%.1f}",
                          ratio (b->m_ack.p50, b->raw_lat.p50), ratio (b->m_ack.p99, b->raw_lat.p99),
                          ratio (b->m_per_s, b->raw_per_s), wall);
  g_print ("%s\n", json->str);

  g_printerr ("\n%-22s %9s %9s %9s %9s %12s\n", "", "p50 ms", "p99 ms", "p999 ms", "max ms", "per s");
  g_printerr ("%-22s %9.3f %9.3f %9.3f %9.3f %12.0f\n", "raw pair round trip", b->raw_lat.p50, b->raw_lat.p99,
              b->raw_lat.p999, b->raw_lat.max, b->raw_per_s);
  g_printerr ("%-22s %9.3f %9.3f %9.3f %9.3f %12s\n", "raw pair one way", b->raw_deliver.p50, b->raw_deliver.p99,
              b->raw_deliver.p999, b->raw_deliver.max, "");
  g_printerr ("%-22s %9.3f %9.3f %9.3f %9.3f %12s\n", "manager POST answer", b->m_post.p50, b->m_post.p99,
              b->m_post.p999, b->m_post.max, "");
  g_printerr ("%-22s %9.3f %9.3f %9.3f %9.3f %12s\n", "  peer ack -> SSE event", b->m_ack_leg.p50, b->m_ack_leg.p99,
              b->m_ack_leg.p999, b->m_ack_leg.max, "");
  g_printerr ("%-22s %9.3f %9.3f %9.3f %9.3f %12.0f\n", "manager deliver", b->m_deliver.p50, b->m_deliver.p99,
              b->m_deliver.p999, b->m_deliver.max, b->m_per_s);
  g_printerr ("%-22s %9.3f %9.3f %9.3f %9.3f %12.0f\n", "manager ack (SSE)", b->m_ack.p50, b->m_ack.p99,
              b->m_ack.p999, b->m_ack.max, b->m_settled_per_s);
  if (b->detect_n > 0)
    g_printerr ("detection: min %.0f ms, median %.0f ms, max %.0f ms over %u (goal 1500 ms)\n", det_min, det_med,
                det_max, b->detect_n);
  g_printerr ("manager/raw: ack p50 x%.2f, p99 x%.2f, throughput x%.4f; wall %.1f s\n",
              ratio (b->m_ack.p50, b->raw_lat.p50), ratio (b->m_ack.p99, b->raw_lat.p99),
              ratio (b->m_per_s, b->raw_per_s), wall);
}

int
main (int argc, char **argv)
{
  Bench b = { 0 };
  /* -1: the default, which --quick lowers */
  gint n = -1;
  gint tcount = -1;
  gint repeats = -1;
  gint payload_bytes = PAYLOAD_BYTES;
  gboolean quick = FALSE;
  gboolean verbose = FALSE;
  g_autofree gchar *manager = NULL;
  const GOptionEntry entries[] = {
    { "manager", 0, 0, G_OPTION_ARG_FILENAME, &manager, "beach-manager binary (env BEACH_MANAGER)", "PATH" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &n, "latency: actions sent one at a time (2000)", "N" },
    { "throughput-count", 0, 0, G_OPTION_ARG_INT, &tcount, "throughput: actions (20000)", "N" },
    { "detection-repeats", 0, 0, G_OPTION_ARG_INT, &repeats, "silent-peer detections (5; 0: none)", "N" },
    { "payload-bytes", 0, 0, G_OPTION_ARG_INT, &payload_bytes, "action payload size (200, 64..65536)", "N" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "defaults n=300, throughput 3000, 2 detections", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "progress, and the daemon's stderr", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("- fast-path latency and throughput vs a raw link pair");
  g_autoptr (GError) error = NULL;
  const gsize overhead = strlen ("{\"bytes\":\"\"}");
  GThread *thread;
  gint64 t0 = g_get_monotonic_time ();

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error)) {
    g_printerr ("bench-fastpath: %s\n", error->message);
    return 2;
  }
  if (n < 0)
    n = quick ? 300 : 2000;
  if (tcount < 0)
    tcount = quick ? 3000 : 20000;
  if (repeats < 0)
    repeats = quick ? 2 : 5;
  if (n < 1 || tcount < 1) {
    g_printerr ("bench-fastpath: counts must be >= 1\n");
    return 2;
  }
  if (payload_bytes < 64 || payload_bytes > 65536) {
    g_printerr ("bench-fastpath: --payload-bytes must be in 64..65536\n");
    return 2;
  }
  if (manager == NULL)
    manager = bench_default_manager ();
  /* the plugin scan once, shared with the daemon (which inherits it) */
  if (g_getenv ("GST_REGISTRY") == NULL && g_file_test ("build", G_FILE_TEST_IS_DIR)) {
    g_autofree gchar *cwd = g_get_current_dir ();
    g_autofree gchar *reg = g_build_filename (cwd, "build", "gst-registry.bin", NULL);

    g_setenv ("GST_REGISTRY", reg, TRUE);
  }

  b.loop = g_main_loop_new (NULL, FALSE);
  g_mutex_init (&b.lock);
  g_cond_init (&b.cond);
  b.manager = manager;
  b.n = (guint) n;
  b.t_count = (guint) tcount;
  b.repeats = (guint) repeats;
  b.verbose = verbose;
  b.payload_bytes = (guint) payload_bytes;
  /* an action in a batch is its payload and about 70 bytes of envelope */
  b.batch = CLAMP (BATCH_BODY_BYTES / (b.payload_bytes + 70), 1, BATCH);
  b.window = MAX (WINDOW / b.batch, 1) * b.batch;
  b.bytes = g_strnfill (b.payload_bytes - overhead, 'x');
  b.payload = g_strdup_printf ("{\"bytes\":\"%s\"}", b.bytes);

  bench_set_failure_hint (daemon_status);
  thread = g_thread_new ("bench", bench_thread, &b);
  g_main_loop_run (b.loop);
  g_thread_join (thread);

  print_results (&b, (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC);

  bench_daemon_clear (&b.daemon);
  g_free (b.session_token);
  g_free (b.lease_token);
  g_free (b.recv_us);
  g_free (b.settled_us);
  g_free (b.detect_ms);
  g_free (b.payload);
  g_free (b.bytes);
  g_mutex_clear (&b.lock);
  g_cond_clear (&b.cond);
  g_main_loop_unref (b.loop);
  return b.status;
}
