/* bench-redis.c: fallback delivery on the Redis backend against its floor
 *
 * One run, three subjects, printed side by side as one JSON object:
 *
 *  - memory: the daemon with the memory queue (latency and throughput),
 *    as the reference for what the HTTP round trips alone cost;
 *  - redis: the daemon with --queue redis on a private redis-server;
 *  - raw_hiredis: the floor, a blocking-hiredis XADD / XREADGROUP /
 *    XACK+XDEL loop on two connections against the same redis-server.
 *
 * Latency sends N actions one at a time, from just before the controller's
 * POST (or XADD) until the host (consumer) has it. Throughput posts batches
 * of 64 actions with a 200 B payload while the host long-polls max=256 and
 * acks each batch; the controller keeps at most WINDOW actions unacked so
 * that it stays under the queue's default cap of 500 (a 429 is retried and
 * counted). The raw loop uses the same window, batch and payload size.
 *
 * redis-server and both daemons are started here, on a Unix socket and on
 * 127.0.0.1:0, in a temporary directory that is removed at the end.
 *
 * usage: bench-redis [--manager PATH] [--redis-server PATH] [-n N]
 *                    [--throughput-count N]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <hiredis/hiredis.h>
#include <string.h>

#include "bench-util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (redisContext, redisFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (redisReply, freeReplyObject)

#define PAYLOAD_BYTES 200
#define BATCH         64
#define HOST_MAX      256
/* The default queue cap is 500 unacked entries per session: 7 batches. */
#define WINDOW 448
/* Actions sent before the measured ones (connections, first script loads). */
#define WARMUP       50
#define ARRIVAL_WAIT (10 * G_USEC_PER_SEC)

/* -- small helpers ------------------------------------------------------- */

typedef struct {
  gint64 daemon, redis, bench; /* CPU µs (user + system) */
} Cpu;

typedef struct {
  guint count;
  gdouble secs, per_s;
  guint rejected; /* 429 answers retried */
  guint polls;    /* polls (reads) that returned something */
  Cpu cpu;        /* spent during the run */
  guint64 redis_calls;
  guint64 redis_usec;
  GString *per_action; /* JSON object: command -> calls per action */
} Tput;

static void
cpu_snapshot (GSubprocess *daemon, GSubprocess *redis, Cpu *c)
{
  GPid d = bench_subprocess_pid (daemon), r = bench_subprocess_pid (redis);

  c->daemon = d != 0 ? bench_proc_cpu_us (d) : 0;
  c->redis = r != 0 ? bench_proc_cpu_us (r) : 0;
  c->bench = bench_proc_cpu_us (0);
}

/* {"bytes":"xxx…"}, PAYLOAD_BYTES long */
static gchar *
make_payload (void)
{
  const gsize overhead = strlen ("{\"bytes\":\"\"}");
  g_autofree gchar *xs = g_strnfill (PAYLOAD_BYTES - overhead, 'x');

  return g_strdup_printf ("{\"bytes\":\"%s\"}", xs);
}

/* -- the host side: long-poll, stamp, ack -------------------------------- */

typedef struct {
  const gchar *url;
  const gchar *session_id;
  const gchar *session_token;
  guint n;               /* distinct actions to wait for: ids a0 .. a(n-1) */
  guint max;             /* poll batch */
  gint64 *recv_us;       /* [n], 0 until arrived */
  GAsyncQueue *arrivals; /* latency mode: one push per arrival */
  GMutex lock;
  GCond cond;
  guint64 acked; /* under lock */
  gint64 done_us;
  guint polls;
} Host;

static void
host_init (Host *h, guint n, guint max, gboolean latency)
{
  memset (h, 0, sizeof *h);
  h->n = n;
  h->max = max;
  h->recv_us = g_new0 (gint64, n);
  h->arrivals = latency ? g_async_queue_new () : NULL;
  g_mutex_init (&h->lock);
  g_cond_init (&h->cond);
}

static void
host_clear (Host *h)
{
  g_free (h->recv_us);
  g_clear_pointer (&h->arrivals, g_async_queue_unref);
  g_mutex_clear (&h->lock);
  g_cond_clear (&h->cond);
}

/* Waits until at most LIMIT are unacked after SENT, or ack progress when
 * ANY_PROGRESS; false on a timeout. */
static gboolean
wait_acked (GMutex *lock, GCond *cond, const guint64 *acked, guint64 sent, guint64 limit, gboolean any_progress)
{
  gint64 deadline = g_get_monotonic_time () + ARRIVAL_WAIT;
  guint64 start;
  gboolean ok = TRUE;

  g_mutex_lock (lock);
  start = *acked;
  while (ok && (any_progress ? *acked == start : sent - *acked > limit))
    ok = g_cond_wait_until (cond, lock, deadline);
  g_mutex_unlock (lock);
  return ok;
}

static gpointer
host_thread (gpointer data)
{
  Host *h = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;
  g_autofree gchar *poll_url = g_strdup_printf ("%s/sessions/%s/actions/poll?wait_ms=5000&max=%u", h->url,
                                                h->session_id, h->max);
  g_autofree gchar *ack_url = g_strdup_printf ("%s/sessions/%s/actions/ack", h->url, h->session_id);
  guint got = 0;

  g_main_context_push_thread_default (ctx);
  session = bench_soup_session_new ();
  while (got < h->n) {
    g_autoptr (JsonNode) res = bench_call (session, "GET", poll_url, h->session_token, NULL);
    JsonArray *actions = json_object_get_array_member (json_node_get_object (res), "actions");
    guint len = json_array_get_length (actions);
    gint64 now = g_get_monotonic_time ();
    g_autoptr (GString) acks = g_string_new ("[");
    gint64 applied_ms = g_get_real_time () / 1000;

    for (guint i = 0; i < len; i++) {
      JsonObject *a = json_array_get_object_element (actions, i);
      const gchar *id = json_object_get_string_member (a, "id");
      guint idx = (guint) g_ascii_strtoull (id + 1, NULL, 10);

      if (idx < h->n && h->recv_us[idx] == 0) {
        h->recv_us[idx] = now;
        got++;
        if (h->arrivals != NULL)
          g_async_queue_push (h->arrivals, GUINT_TO_POINTER (idx + 1));
      }
      g_string_append_printf (acks, "%s{\"id\":\"%s\",\"status\":\"ok\",\"applied_at\":%" G_GINT64_FORMAT "}",
                              i > 0 ? "," : "", id, applied_ms);
    }
    g_string_append_c (acks, ']');
    if (len > 0) {
      g_autoptr (JsonNode) r = bench_call (session, "POST", ack_url, h->session_token, acks->str);

      h->polls++;
      g_mutex_lock (&h->lock);
      h->acked += len;
      g_cond_signal (&h->cond);
      g_mutex_unlock (&h->lock);
    }
  }
  h->done_us = g_get_monotonic_time ();
  g_main_context_pop_thread_default (ctx);
  return NULL;
}

/* -- daemon runs --------------------------------------------------------- */

static void
daemon_latency (const gchar *base, guint n, BenchLat *out)
{
  guint total = n + WARMUP;
  g_autoptr (SoupSession) session = bench_soup_session_new ();
  g_autofree gchar *session_token = NULL;
  g_autofree gchar *lease_token = NULL;
  g_autofree gchar *actions_url = g_strdup_printf ("%s/sessions/lat/actions", base);
  g_autofree gint64 *send_us = g_new0 (gint64, total);
  g_autofree gint64 *posted_us = g_new0 (gint64, total);
  g_autofree gint64 *lat = g_new0 (gint64, n);
  g_autofree gint64 *after = g_new0 (gint64, n);
  Host h;
  GThread *host;

  bench_open_session (session, base, BENCH_OPERATOR_TOKEN, "lat", "http_fallback", &session_token, &lease_token);
  host_init (&h, total, BATCH, TRUE);
  h.url = base;
  h.session_id = "lat";
  h.session_token = session_token;
  host = g_thread_new ("host", host_thread, &h);

  for (guint i = 0; i < total; i++) {
    g_autofree gchar *body = g_strdup_printf (
      "{\"actions\":[{\"id\":\"a%u\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"x\"}}]}", i);
    g_autoptr (JsonNode) r = NULL;

    send_us[i] = g_get_monotonic_time ();
    r = bench_call (session, "POST", actions_url, lease_token, body);
    posted_us[i] = g_get_monotonic_time ();
    if (g_async_queue_timeout_pop (h.arrivals, ARRIVAL_WAIT) == NULL)
      g_error ("action %u never arrived", i);
  }
  g_thread_join (host);

  for (guint i = 0; i < n; i++) {
    lat[i] = h.recv_us[WARMUP + i] - send_us[WARMUP + i];
    /* negative when the poll answer beat the POST's own answer */
    after[i] = MAX (0, h.recv_us[WARMUP + i] - posted_us[WARMUP + i]);
  }
  bench_lat_stats (lat, after, n, out);
  host_clear (&h);
}

static void
daemon_throughput (const gchar *base, guint count, Tput *out)
{
  g_autoptr (SoupSession) session = bench_soup_session_new ();
  g_autofree gchar *session_token = NULL;
  g_autofree gchar *lease_token = NULL;
  g_autofree gchar *actions_url = g_strdup_printf ("%s/sessions/tput/actions", base);
  g_autofree gchar *payload = make_payload ();
  Host h;
  GThread *host;
  guint sent = 0;
  gint64 start;

  bench_open_session (session, base, BENCH_OPERATOR_TOKEN, "tput", "http_fallback", &session_token, &lease_token);
  host_init (&h, count, HOST_MAX, FALSE);
  h.url = base;
  h.session_id = "tput";
  h.session_token = session_token;
  host = g_thread_new ("host", host_thread, &h);

  start = g_get_monotonic_time ();
  while (sent < count) {
    guint m = MIN (BATCH, count - sent);
    g_autoptr (GString) body = g_string_new ("{\"actions\":[");
    g_autoptr (GBytes) reply = NULL;
    guint status;

    if (!wait_acked (&h.lock, &h.cond, &h.acked, sent + m, WINDOW, FALSE))
      g_error ("the host stopped acking at %u", sent);
    for (guint j = 0; j < m; j++)
      g_string_append_printf (body, "%s{\"id\":\"a%u\",\"action_type\":\"terminal_write\",\"payload\":%s}",
                              j > 0 ? "," : "", sent + j, payload);
    g_string_append (body, "]}");
    status = bench_request (session, "POST", actions_url, lease_token, body->str, &reply);
    if (status == 429) {
      out->rejected++;
      wait_acked (&h.lock, &h.cond, &h.acked, 0, 0, TRUE);
      continue;
    }
    if (status != 200)
      g_error ("POST %s: HTTP %u: %.*s", actions_url, status, (int) g_bytes_get_size (reply),
               (const char *) g_bytes_get_data (reply, NULL));
    sent += m;
  }
  g_thread_join (host);
  out->count = count;
  out->secs = (h.done_us - start) / (gdouble) G_USEC_PER_SEC;
  out->per_s = count / out->secs;
  out->polls = h.polls;
  host_clear (&h);
}

static void
daemon_start (BenchDaemon *d, const gchar *manager, const gchar *dir, const gchar *queue, const gchar *redis_url)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = bench_soup_session_new ();
  const gchar *argv[] = { manager, "--listen", "127.0.0.1:0", "--queue", queue, NULL, NULL, NULL };

  if (redis_url != NULL) {
    argv[5] = "--redis-url";
    argv[6] = redis_url;
  }
  g_mkdir_with_parents (dir, 0700);
  if (!bench_daemon_spawn (d, argv, dir, BENCH_OPERATOR_TOKEN, BENCH_DAEMON_DIE_WITH_PARENT, &error))
    g_error ("cannot start %s: %s", manager, error->message);
  if (!bench_daemon_read_url (d))
    g_error ("the %s manager did not start", queue);
  /* 503 until the queue answers and (Redis) the token secret is read */
  if (!bench_wait_ready (session, d->url, ARRIVAL_WAIT))
    g_error ("the %s manager never became ready", queue);
}

static void
stop_process (GSubprocess **proc, const gchar *what)
{
  if (*proc == NULL)
    return;
  if (!bench_process_stop (*proc))
    g_printerr ("bench-redis: warning: %s did not exit cleanly\n", what);
  g_clear_object (proc);
}

static void
daemon_stop (BenchDaemon *d, const gchar *what)
{
  if (!bench_daemon_stop (d))
    g_printerr ("bench-redis: warning: %s did not exit cleanly\n", what);
  bench_daemon_clear (d);
}

/* -- Redis --------------------------------------------------------------- */

static redisContext *
redis_connect (const gchar *sock)
{
  redisContext *c = redisConnectUnix (sock);

  if (c == NULL || c->err != 0)
    g_error ("cannot connect to %s: %s", sock, c != NULL ? c->errstr : "out of memory");
  return c;
}

static void
redis_expect_ok (redisContext *c, redisReply *r, const gchar *what)
{
  if (r == NULL)
    g_error ("%s: %s", what, c->errstr);
  if (r->type == REDIS_REPLY_ERROR)
    g_error ("%s: %s", what, r->str);
}

static GSubprocess *
redis_start (const gchar *server, const gchar *dir, const gchar *sock)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;
  gint64 deadline = g_get_monotonic_time () + ARRIVAL_WAIT;

  g_mkdir_with_parents (dir, 0700);
  g_subprocess_launcher_set_child_setup (launcher, bench_die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawn (launcher, &error, server, "--port", "0", "--unixsocket", sock, "--save", "",
                                      "--appendonly", "no", "--dir", dir, NULL);
  if (proc == NULL)
    g_error ("cannot start %s: %s", server, error->message);
  for (;;) {
    if (g_file_test (sock, G_FILE_TEST_EXISTS)) {
      redisContext *c = redisConnectUnix (sock);
      redisReply *r = c != NULL && c->err == 0 ? redisCommand (c, "PING") : NULL;
      gboolean up = r != NULL && r->type == REDIS_REPLY_STATUS && g_str_equal (r->str, "PONG");

      g_clear_pointer (&r, freeReplyObject);
      g_clear_pointer (&c, redisFree);
      if (up)
        return proc;
    }
    if (g_get_monotonic_time () > deadline)
      g_error ("%s did not answer on %s", server, sock);
    g_usleep (10000);
  }
}

static void
redis_reset_stats (redisContext *c)
{
  g_autoptr (redisReply) r = redisCommand (c, "CONFIG RESETSTAT");

  redis_expect_ok (c, r, "CONFIG RESETSTAT");
}

/* Reads INFO commandstats into T: total calls and µs, and the calls per
 * action of each command (commands run by scripts are counted too). */
static void
redis_read_stats (redisContext *c, guint count, Tput *t)
{
  g_autoptr (redisReply) r = redisCommand (c, "INFO commandstats");
  g_auto (GStrv) lines = NULL;
  gboolean first = TRUE;

  redis_expect_ok (c, r, "INFO commandstats");
  lines = g_strsplit (r->str, "\r\n", -1);
  t->per_action = g_string_new ("{");
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autofree gchar *name = NULL;
    const gchar *colon, *calls, *usec;
    guint64 n;

    /* cmdstat_xadd:calls=5,usec=40,usec_per_call=8.00,... */
    if (!g_str_has_prefix (lines[i], "cmdstat_") || (colon = strchr (lines[i], ':')) == NULL || (calls = strstr (colon, "calls=")) == NULL || (usec = strstr (colon, "usec=")) == NULL)
      continue;
    name = g_strndup (lines[i] + strlen ("cmdstat_"), colon - lines[i] - strlen ("cmdstat_"));
    /* ours, not the subject's */
    if (g_str_has_prefix (name, "config") || g_str_has_prefix (name, "info"))
      continue;
    n = g_ascii_strtoull (calls + strlen ("calls="), NULL, 10);
    t->redis_calls += n;
    t->redis_usec += g_ascii_strtoull (usec + strlen ("usec="), NULL, 10);
    g_string_append_printf (t->per_action, "%s\"%s\":%.3f", first ? "" : ",", name, (gdouble) n / count);
    first = FALSE;
  }
  g_string_append_c (t->per_action, '}');
}

/* The floor: XADD on one connection, XREADGROUP + XACK + XDEL on another. */
typedef struct {
  const gchar *sock;
  const gchar *key;
  guint n;
  gint64 *recv_us;
  GAsyncQueue *arrivals;
  GMutex lock;
  GCond cond;
  guint64 acked;
  gint64 done_us;
  guint reads;
} Raw;

static gpointer
raw_consumer (gpointer data)
{
  Raw *r = data;
  g_autoptr (redisContext) c = redis_connect (r->sock);
  guint got = 0;

  while (got < r->n) {
    g_autoptr (redisReply) rep = redisCommand (c, "XREADGROUP GROUP g c BLOCK 5000 COUNT 64 STREAMS %s >", r->key);
    gint64 now = g_get_monotonic_time ();
    redisReply *entries;
    g_autofree const char **ack = NULL;
    g_autofree const char **del = NULL;
    void *reply = NULL;

    redis_expect_ok (c, rep, "XREADGROUP");
    if (rep->type == REDIS_REPLY_NIL)
      continue;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 || rep->element[0]->elements != 2)
      g_error ("XREADGROUP: unexpected reply type %d", rep->type);
    entries = rep->element[0]->element[1];
    ack = g_new (const char *, entries->elements + 3);
    del = g_new (const char *, entries->elements + 2);
    ack[0] = "XACK";
    ack[1] = r->key;
    ack[2] = "g";
    del[0] = "XDEL";
    del[1] = r->key;
    for (gsize i = 0; i < entries->elements; i++) {
      redisReply *e = entries->element[i];
      guint idx = (guint) g_ascii_strtoull (e->element[1]->element[1]->str, NULL, 10);

      ack[i + 3] = e->element[0]->str;
      del[i + 2] = e->element[0]->str;
      if (idx < r->n && r->recv_us[idx] == 0) {
        r->recv_us[idx] = now;
        got++;
        if (r->arrivals != NULL)
          g_async_queue_push (r->arrivals, GUINT_TO_POINTER (idx + 1));
      }
    }
    redisAppendCommandArgv (c, (int) entries->elements + 3, ack, NULL);
    redisAppendCommandArgv (c, (int) entries->elements + 2, del, NULL);
    for (guint k = 0; k < 2; k++) {
      if (redisGetReply (c, &reply) != REDIS_OK)
        g_error ("XACK/XDEL: %s", c->errstr);
      redis_expect_ok (c, reply, "XACK/XDEL");
      freeReplyObject (reply);
    }
    r->reads++;
    g_mutex_lock (&r->lock);
    r->acked += entries->elements;
    g_cond_signal (&r->cond);
    g_mutex_unlock (&r->lock);
  }
  r->done_us = g_get_monotonic_time ();
  return NULL;
}

static void
raw_begin (Raw *r, redisContext *c, const gchar *sock, const gchar *key, guint n, gboolean latency)
{
  g_autoptr (redisReply) rep = redisCommand (c, "XGROUP CREATE %s g $ MKSTREAM", key);

  redis_expect_ok (c, rep, "XGROUP CREATE");
  memset (r, 0, sizeof *r);
  r->sock = sock;
  r->key = key;
  r->n = n;
  r->recv_us = g_new0 (gint64, n);
  r->arrivals = latency ? g_async_queue_new () : NULL;
  g_mutex_init (&r->lock);
  g_cond_init (&r->cond);
}

static void
raw_end (Raw *r)
{
  g_free (r->recv_us);
  g_clear_pointer (&r->arrivals, g_async_queue_unref);
  g_mutex_clear (&r->lock);
  g_cond_clear (&r->cond);
}

/* "%08u" then 'x' up to PAYLOAD_BYTES */
static void
raw_value (gchar *buf, guint i)
{
  memset (buf, 'x', PAYLOAD_BYTES);
  g_snprintf (buf, 9, "%08u", i);
  buf[8] = 'x';
}

static void
raw_latency (const gchar *sock, guint n, BenchLat *out)
{
  guint total = n + WARMUP;
  g_autoptr (redisContext) p = redis_connect (sock);
  g_autofree gint64 *send_us = g_new0 (gint64, total);
  g_autofree gint64 *lat = g_new0 (gint64, n);
  gchar buf[PAYLOAD_BYTES];
  Raw r;
  GThread *consumer;

  raw_begin (&r, p, sock, "bench:raw:lat", total, TRUE);
  consumer = g_thread_new ("consumer", raw_consumer, &r);
  for (guint i = 0; i < total; i++) {
    g_autoptr (redisReply) rep = NULL;

    raw_value (buf, i);
    send_us[i] = g_get_monotonic_time ();
    rep = redisCommand (p, "XADD %s * m %b", r.key, buf, (size_t) PAYLOAD_BYTES);
    redis_expect_ok (p, rep, "XADD");
    if (g_async_queue_timeout_pop (r.arrivals, ARRIVAL_WAIT) == NULL)
      g_error ("raw message %u never arrived", i);
  }
  g_thread_join (consumer);
  for (guint i = 0; i < n; i++)
    lat[i] = r.recv_us[WARMUP + i] - send_us[WARMUP + i];
  bench_lat_stats (lat, NULL, n, out);
  raw_end (&r);
}

static void
raw_throughput (const gchar *sock, guint count, Tput *out)
{
  g_autoptr (redisContext) p = redis_connect (sock);
  gchar buf[PAYLOAD_BYTES];
  Raw r;
  GThread *consumer;
  guint sent = 0;
  gint64 start;

  raw_begin (&r, p, sock, "bench:raw:tput", count, FALSE);
  consumer = g_thread_new ("consumer", raw_consumer, &r);
  start = g_get_monotonic_time ();
  while (sent < count) {
    guint m = MIN (BATCH, count - sent);

    if (!wait_acked (&r.lock, &r.cond, &r.acked, sent + m, WINDOW, FALSE))
      g_error ("the raw consumer stopped acking at %u", sent);
    for (guint j = 0; j < m; j++) {
      raw_value (buf, sent + j);
      redisAppendCommand (p, "XADD %s * m %b", r.key, buf, (size_t) PAYLOAD_BYTES);
    }
    for (guint j = 0; j < m; j++) {
      void *reply = NULL;

      if (redisGetReply (p, &reply) != REDIS_OK)
        g_error ("XADD: %s", p->errstr);
      redis_expect_ok (p, reply, "XADD");
      freeReplyObject (reply);
    }
    sent += m;
  }
  g_thread_join (consumer);
  out->count = count;
  out->secs = (r.done_us - start) / (gdouble) G_USEC_PER_SEC;
  out->per_s = count / out->secs;
  out->polls = r.reads;
  raw_end (&r);
}

/* Around a throughput run: CPU of each process, and Redis' command stats. */
static void
tput_begin (Cpu *c0, redisContext *ctl, GSubprocess *daemon, GSubprocess *redis)
{
  if (ctl != NULL)
    redis_reset_stats (ctl);
  cpu_snapshot (daemon, redis, c0);
}

static void
tput_end (const Cpu *c0, redisContext *ctl, GSubprocess *daemon, GSubprocess *redis, Tput *t)
{
  Cpu c1;

  cpu_snapshot (daemon, redis, &c1);
  t->cpu.daemon = c1.daemon - c0->daemon;
  t->cpu.redis = c1.redis - c0->redis;
  t->cpu.bench = c1.bench - c0->bench;
  if (ctl != NULL)
    redis_read_stats (ctl, t->count, t);
}

/* -- output -------------------------------------------------------------- */

static void
append_lat (GString *s, const BenchLat *l, gboolean after)
{
  g_string_append_printf (s, "\"actions\":%u,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f",
                          l->n, l->p50, l->p99, l->p999, l->max, l->mean);
  if (after)
    g_string_append_printf (s, ",\"after_post_p50_ms\":%.3f,\"after_post_p99_ms\":%.3f", l->after_p50, l->after_p99);
}

static void
append_tput (GString *s, const Tput *t)
{
  g_string_append_printf (s,
                          ",\"throughput_per_s\":%.0f,\"throughput_actions\":%u,\"throughput_secs\":%.3f,"
                          "\"throughput_rejected_429\":%u,\"throughput_reads\":%u,"
                          "\"cpu_us_per_action\":{\"daemon\":%.1f,\"redis\":%.1f,\"bench\":%.1f}",
                          t->per_s, t->count, t->secs, t->rejected, t->polls, (gdouble) t->cpu.daemon / t->count,
                          (gdouble) t->cpu.redis / t->count, (gdouble) t->cpu.bench / t->count);
  if (t->per_action != NULL)
    g_string_append_printf (s, ",\"redis_calls_per_action\":%.2f,\"redis_usec_per_action\":%.2f,\"redis_commands_per_action\":%s",
                            (gdouble) t->redis_calls / t->count, (gdouble) t->redis_usec / t->count,
                            t->per_action->str);
}

int
main (int argc, char **argv)
{
  g_autofree gchar *manager = NULL;
  g_autofree gchar *redis_server = NULL;
  gint n = 2000;
  gint tcount = 20000;
  const GOptionEntry entries[] = {
    { "manager", 0, 0, G_OPTION_ARG_FILENAME, &manager, "beach-manager binary", "PATH" },
    { "redis-server", 0, 0, G_OPTION_ARG_FILENAME, &redis_server, "redis-server binary (from PATH)", "PATH" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &n, "latency: actions sent one at a time (2000)", "N" },
    { "throughput-count", 0, 0, G_OPTION_ARG_INT, &tcount, "throughput: actions sent in batches of 64 (20000)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("- fallback delivery on Redis vs raw hiredis");
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = NULL;
  g_autofree gchar *mem_dir = NULL;
  g_autofree gchar *redis_dir = NULL;
  g_autofree gchar *rd_dir = NULL;
  g_autofree gchar *sock = NULL;
  g_autofree gchar *redis_url = NULL;
  g_autoptr (GString) json = g_string_new (NULL);
  g_autoptr (redisContext) ctl = NULL;
  GSubprocess *redis = NULL;
  BenchDaemon d = { 0 };
  BenchLat mem_lat = { 0 }, red_lat = { 0 }, raw_lat = { 0 };
  Tput mem_t = { 0 }, red_t = { 0 }, raw_t = { 0 };
  Cpu c0;
  gint64 t0 = g_get_monotonic_time ();

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error) || n < 1 || tcount < 1) {
    g_printerr ("bench-redis: %s\n", error != NULL ? error->message : "counts must be >= 1");
    return 2;
  }
  if (manager == NULL)
    manager = bench_default_manager ();
  if (redis_server == NULL)
    redis_server = g_strdup ("redis-server");

  tmp = g_dir_make_tmp ("beach-bench-XXXXXX", &error);
  g_assert_no_error (error);
  mem_dir = g_build_filename (tmp, "memory", NULL);
  redis_dir = g_build_filename (tmp, "redis", NULL);
  rd_dir = g_build_filename (tmp, "manager", NULL);
  sock = g_build_filename (redis_dir, "redis.sock", NULL);
  redis_url = g_strdup_printf ("unix://%s", sock);

  /* 1. the memory queue: the same HTTP path without Redis */
  g_printerr ("bench-redis: memory daemon...\n");
  daemon_start (&d, manager, mem_dir, "memory", NULL);
  daemon_latency (d.url, (guint) n, &mem_lat);
  tput_begin (&c0, NULL, d.proc, NULL);
  daemon_throughput (d.url, (guint) tcount, &mem_t);
  tput_end (&c0, NULL, d.proc, NULL, &mem_t);
  daemon_stop (&d, "the memory manager");

  /* 2. the floor, alone on a fresh redis-server */
  g_printerr ("bench-redis: raw hiredis...\n");
  redis = redis_start (redis_server, redis_dir, sock);
  ctl = redis_connect (sock);
  raw_latency (sock, (guint) n, &raw_lat);
  tput_begin (&c0, ctl, NULL, redis);
  raw_throughput (sock, (guint) tcount, &raw_t);
  tput_end (&c0, ctl, NULL, redis, &raw_t);

  /* 3. the daemon on the same redis-server */
  g_printerr ("bench-redis: redis daemon...\n");
  daemon_start (&d, manager, rd_dir, "redis", redis_url);
  daemon_latency (d.url, (guint) n, &red_lat);
  tput_begin (&c0, ctl, d.proc, redis);
  daemon_throughput (d.url, (guint) tcount, &red_t);
  tput_end (&c0, ctl, d.proc, redis, &red_t);
  daemon_stop (&d, "the redis manager");

  g_clear_pointer (&ctl, redisFree);
  stop_process (&redis, "redis-server");
  bench_rm_rf (tmp);

  g_string_append (json, "{\"bench\":\"redis\",\"memory\":{");
  append_lat (json, &mem_lat, TRUE);
  append_tput (json, &mem_t);
  g_string_append (json, "},\"redis\":{");
  append_lat (json, &red_lat, TRUE);
  append_tput (json, &red_t);
  g_string_append (json, "},\"raw_hiredis\":{");
  append_lat (json, &raw_lat, FALSE);
  append_tput (json, &raw_t);
  g_string_append_printf (json,
                          "},\"ratios\":{\"redis_vs_raw_p50\":%.2f,\"redis_vs_raw_p99\":%.2f,"
                          "\"redis_vs_raw_throughput\":%.4f,\"redis_vs_memory_p50\":%.2f,"
                          "\"redis_vs_memory_throughput\":%.3f},\"wall_secs\":%.1f}",
                          red_lat.p50 / raw_lat.p50, red_lat.p99 / raw_lat.p99, red_t.per_s / raw_t.per_s,
                          red_lat.p50 / mem_lat.p50, red_t.per_s / mem_t.per_s,
                          (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC);
  g_print ("%s\n", json->str);

  g_printerr ("\n%-12s %9s %9s %9s %9s %12s %10s %10s %10s\n", "", "p50 ms", "p99 ms", "p999 ms", "max ms",
              "actions/s", "cpu us/a", "", "");
  g_printerr ("%-12s %9s %9s %9s %9s %12s %10s %10s %10s\n", "", "", "", "", "", "", "daemon", "redis", "bench");
  g_printerr ("%-12s %9.3f %9.3f %9.3f %9.3f %12.0f %10.1f %10s %10.1f\n", "memory", mem_lat.p50, mem_lat.p99,
              mem_lat.p999, mem_lat.max, mem_t.per_s, (gdouble) mem_t.cpu.daemon / mem_t.count, "-",
              (gdouble) mem_t.cpu.bench / mem_t.count);
  g_printerr ("%-12s %9.3f %9.3f %9.3f %9.3f %12.0f %10.1f %10.1f %10.1f\n", "redis", red_lat.p50, red_lat.p99,
              red_lat.p999, red_lat.max, red_t.per_s, (gdouble) red_t.cpu.daemon / red_t.count,
              (gdouble) red_t.cpu.redis / red_t.count, (gdouble) red_t.cpu.bench / red_t.count);
  g_printerr ("%-12s %9.3f %9.3f %9.3f %9.3f %12.0f %10s %10.1f %10.1f\n", "raw hiredis", raw_lat.p50, raw_lat.p99,
              raw_lat.p999, raw_lat.max, raw_t.per_s, "-", (gdouble) raw_t.cpu.redis / raw_t.count,
              (gdouble) raw_t.cpu.bench / raw_t.count);
  g_printerr ("redis/raw: p50 x%.1f, throughput x%.3f; redis/memory: p50 x%.2f, throughput x%.2f\n",
              red_lat.p50 / raw_lat.p50, red_t.per_s / raw_t.per_s, red_lat.p50 / mem_lat.p50,
              red_t.per_s / mem_t.per_s);
  g_printerr ("redis commands per action (throughput): %s\n", red_t.per_action->str);

  if (red_t.per_action != NULL)
    g_string_free (red_t.per_action, TRUE);
  if (raw_t.per_action != NULL)
    g_string_free (raw_t.per_action, TRUE);
  return 0;
}
