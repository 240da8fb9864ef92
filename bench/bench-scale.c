/* bench-scale.c: one manager against many links and many fallback sessions
 *
 * One run, printed as one JSON object on stdout (a table on stderr):
 *
 *  - links: for each N, a fresh daemon (memory queue) and N real
 *    BeachHarness peers spread over helper processes, K per process (this
 *    binary re-run with --child-peers: K harnesses on one main loop, each
 *    registering its own fast_path session and offering its link over the
 *    HTTP signalling routes). The helpers bring their links up at most a
 *    few at a time each. Reported: the time until all N links are healthy
 *    (the helpers' view, then checked against the daemon's GET /sessions),
 *    then, with every link healthy and no actions (only the heartbeat
 *    pings and each harness' HTTP health post every 10 s), S samples of W
 *    seconds each of the daemon's RSS (VmRSS in /proc/PID/status), threads
 *    (/proc/PID/task entries), fds (/proc/PID/fd entries), CPU (utime +
 *    stime deltas of /proc/PID/stat, % of one core) and the heartbeat RTT
 *    p50/p99 (the delta of the daemon's own
 *    beach_fastpath_heartbeat_rtt_seconds histograms on GET /metrics over
 *    the window, summed over sessions, interpolated inside a bucket). Each
 *    figure is given as the median of the samples with min and max.
 *  - redis: a daemon with --queue redis on a private redis-server (Unix
 *    socket, temporary directory), S sessions registered http_fallback
 *    with a controller lease each, one long-poll parked per session (host
 *    side: poller threads with asynchronous libsoup, acking each batch at
 *    once and polling again), and a controller thread that posts one
 *    action at a time, round-robin over the sessions, at a target
 *    aggregate rate (open loop, a bounded number of POSTs in flight; when
 *    the daemon cannot keep up the achieved rate is reported). Latency is
 *    from just before the POST to the poll answer in the host; the payload
 *    carries the send time. A warm-up first, then S sub-windows.
 *
 * When a limit is hit (a link that never turns healthy, a helper that
 * cannot start, the daemon gone, a rate not reached) the run goes on and
 * says so in "limit_hit"; "notes" say what would lift it.
 *
 * usage: bench-scale [--manager PATH] [--redis-server PATH] [--quick]
 *                    [--links 50,100,250,500] [--per-helper K]
 *                    [--samples S] [--window-secs W] [--redis-sessions N]
 *                    [--redis-rate R] [--no-links] [--no-redis] [--verbose]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "bench-scale"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "beach.h"
#include "bench-util.h"

/* links being connected at once, over all helpers */
#define BRING_UP_PARALLEL 16
#define PRIVATE_BEACH     "scale"
#define POLL_WAIT_MS      20000
#define POLL_MAX          64
#define CTL_IN_FLIGHT     256
#define REG_THREADS       8
#define POLL_THREADS      32
#define PAYLOAD_FILL      160
/* libsoup walks a session's whole message queue on every step: thousands of
 * parked polls on one SoupSession cost O(n) per message. One session per
 * group of this many keeps each queue short. */
#define SESSIONS_PER_SOUP 25
#define CTL_SOUPS         16

/* -- small helpers --------------------------------------------------------- */

typedef struct {
  gdouble median, min, max;
} Stat;

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

static Stat
stat_of (gdouble *v, guint n)
{
  Stat s = { -1, -1, -1 };

  if (n == 0)
    return s;
  qsort (v, n, sizeof *v, cmp_double);
  s.min = v[0];
  s.max = v[n - 1];
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return s;
}

static void
append_stat (GString *s, const gchar *name, Stat st, const gchar *fmt)
{
  g_autofree gchar *f = g_strdup_printf ("\"%%s\":{\"median\":%s,\"min\":%s,\"max\":%s}", fmt, fmt, fmt);

  if (st.median < 0) {
    g_string_append_printf (s, "\"%s\":null", name);
    return;
  }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  g_string_append_printf (s, f, name, st.median, st.min, st.max);
#pragma GCC diagnostic pop
}

static void
json_str (GString *s, const gchar *v)
{
  if (v == NULL) {
    g_string_append (s, "null");
    return;
  }
  g_string_append_c (s, '"');
  for (const gchar *p = v; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf (s, "\\%c", *p);
    else if ((guchar) *p < 0x20)
      g_string_append_printf (s, "\\u%04x", *p);
    else
      g_string_append_c (s, *p);
  }
  g_string_append_c (s, '"');
}

/* VmRSS of PID in KiB, -1 when unknown */
static gint64
proc_rss_kib (GPid pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree gchar *text = NULL;
  const gchar *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strstr (text, "VmRSS:")) == NULL)
    return -1;
  return g_ascii_strtoll (p + 6, NULL, 10);
}

/* entries of /proc/PID/SUB (task, fd), -1 when unknown */
static gint
proc_count (GPid pid, const gchar *sub)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/%s", (int) pid, sub);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  gint n = 0;

  if (dir == NULL)
    return -1;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static gchar *
read_trimmed (const gchar *path)
{
  gchar *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return g_strstrip (text);
}

/* the JSON in BODY, NULL when it is none */
static JsonNode *
parse_bytes (GBytes *body)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();

  if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), NULL))
    return NULL;
  return json_parser_steal_root (parser);
}

static gboolean
proc_alive (GSubprocess *proc)
{
  GPid pid = bench_subprocess_pid (proc);
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = NULL;
  const gchar *p;

  if (pid == 0 || !g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  p = strrchr (text, ')');
  return p != NULL && p[1] == ' ' && p[2] != 'Z';
}

static void
raise_nofile (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit (RLIMIT_NOFILE, &rl);
  }
}

static gint64
rlimit_cur (int which)
{
  struct rlimit rl;

  if (getrlimit (which, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return -1;
  return (gint64) rl.rlim_cur;
}

/* -- child: K harnesses on one main loop ----------------------------------- */

typedef struct _Peers Peers;

typedef struct {
  Peers *ps;
  BeachHarness *harness;
  gboolean healthy;
  gboolean ever_healthy;
  gboolean done; /* failed or terminated */
} Peer;

struct _Peers {
  GMainLoop *loop;
  gchar *url, *token;
  guint first, count, parallel;
  Peer *peers;
  guint next;
  guint connecting;
  guint healthy, drops, failed;
};

static void peers_start_next (Peers *ps);

static void
peers_report (Peers *ps)
{
  printf ("H %u %u %u\n", ps->healthy, ps->drops, ps->failed);
  fflush (stdout);
}

static void
peer_settled (Peer *p)
{
  /* the first outcome of a link frees a bring-up slot */
  if (!p->ever_healthy && !p->done && p->ps->connecting > 0)
    p->ps->connecting--;
}

static void
on_peer_notify (BeachHarness *h, GParamSpec *pspec, Peer *p)
{
  gboolean healthy = beach_harness_get_link_health (h) == BEACH_LINK_HEALTH_HEALTHY;

  if (healthy == p->healthy)
    return;
  if (healthy) {
    peer_settled (p);
    p->ever_healthy = TRUE;
    p->ps->healthy++;
  } else {
    p->ps->healthy--;
    p->ps->drops++;
  }
  p->healthy = healthy;
  peers_report (p->ps);
  peers_start_next (p->ps);
}

static void
on_peer_terminated (BeachHarness *h, GError *error, Peer *p)
{
  g_printerr ("bench-scale: peer %s: %s\n", beach_harness_get_session_id (h), error->message);
  peer_settled (p);
  if (p->healthy)
    p->ps->healthy--;
  p->healthy = FALSE;
  p->done = TRUE;
  p->ps->failed++;
  peers_report (p->ps);
  peers_start_next (p->ps);
}

static void
on_peer_started (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Peer *p = user_data;
  g_autoptr (GError) error = NULL;

  if (beach_harness_start_finish (BEACH_HARNESS (source), result, &error))
    return;
  g_printerr ("bench-scale: peer start: %s\n", error->message);
  peer_settled (p);
  p->done = TRUE;
  p->ps->failed++;
  peers_report (p->ps);
  peers_start_next (p->ps);
}

/* A link that is not healthy after this long no longer holds a slot. */
static gboolean
on_slot_timeout (gpointer user_data)
{
  Peer *p = user_data;

  if (!p->ever_healthy && !p->done) {
    peer_settled (p);
    p->done = TRUE; /* still trying; it may turn healthy later */
    p->ever_healthy = TRUE;
    peers_start_next (p->ps);
  }
  return G_SOURCE_REMOVE;
}

static void
peers_start_next (Peers *ps)
{
  while (ps->connecting < ps->parallel && ps->next < ps->count) {
    Peer *p = &ps->peers[ps->next];
    g_autofree gchar *sid = g_strdup_printf ("l%05u", ps->first + ps->next);

    ps->next++;
    ps->connecting++;
    p->ps = ps;
    p->harness = g_object_new (BEACH_TYPE_HARNESS, "url", ps->url, "session-id", sid, "private-beach-id",
                               PRIVATE_BEACH, "token", ps->token, "harness-type", BEACH_HARNESS_TYPE_CUSTOM, NULL);
    g_signal_connect (p->harness, "notify::link-health", G_CALLBACK (on_peer_notify), p);
    g_signal_connect (p->harness, "terminated", G_CALLBACK (on_peer_terminated), p);
    beach_harness_start_async (p->harness, NULL, on_peer_started, p);
    g_timeout_add_seconds (15, on_slot_timeout, p);
  }
}

static gboolean
on_stdin_hup (gint fd, GIOCondition cond, gpointer user_data)
{
  Peers *ps = user_data;

  g_main_loop_quit (ps->loop);
  return G_SOURCE_REMOVE;
}

static int
child_peers (const gchar *url, const gchar *token, guint first, guint count, guint parallel)
{
  Peers ps = { 0 };

  ps.loop = g_main_loop_new (NULL, FALSE);
  ps.url = g_strdup (url);
  ps.token = g_strdup (token);
  ps.first = first;
  ps.count = count;
  ps.parallel = MAX (parallel, 1);
  ps.peers = g_new0 (Peer, count);
  /* the parent closes our stdin to stop us */
  g_unix_fd_add (0, G_IO_HUP | G_IO_ERR | G_IO_IN, on_stdin_hup, &ps);
  peers_report (&ps);
  peers_start_next (&ps);
  g_main_loop_run (ps.loop);
  /* no graceful stop: the daemon goes first; exit without tearing down */
  _exit (0);
}

/* -- the links part -------------------------------------------------------- */

typedef struct {
  GSubprocess *proc;
  GThread *reader;
  guint healthy, drops, failed; /* under Links.lock */
  gboolean eof;
} Helper;

typedef struct {
  GMutex lock;
  GCond cond;
  Helper *helpers;
  guint n_helpers;
} Links;

typedef struct {
  Links *links;
  Helper *h;
} ReaderArg;

static gpointer
helper_reader (gpointer data)
{
  ReaderArg *a = data;
  g_autoptr (GDataInputStream) in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (a->h->proc));
  gchar *line;

  while ((line = g_data_input_stream_read_line (in, NULL, NULL, NULL)) != NULL) {
    guint hl, dr, fa;

    if (sscanf (line, "H %u %u %u", &hl, &dr, &fa) == 3) {
      g_mutex_lock (&a->links->lock);
      a->h->healthy = hl;
      a->h->drops = dr;
      a->h->failed = fa;
      g_cond_broadcast (&a->links->cond);
      g_mutex_unlock (&a->links->lock);
    }
    g_free (line);
  }
  g_mutex_lock (&a->links->lock);
  a->h->eof = TRUE;
  g_cond_broadcast (&a->links->cond);
  g_mutex_unlock (&a->links->lock);
  g_free (a);
  return NULL;
}

static void
links_totals (Links *l, guint *healthy, guint *drops, guint *failed, guint *dead)
{
  *healthy = *drops = *failed = *dead = 0;
  for (guint i = 0; i < l->n_helpers; i++) {
    *healthy += l->helpers[i].healthy;
    *drops += l->helpers[i].drops;
    *failed += l->helpers[i].failed;
    *dead += l->helpers[i].eof;
  }
}

/* GET URL with a bearer TOKEN (may be NULL); the body on 200, else NULL
 * (an overloaded daemon that does not answer in 30 s is a finding, not a
 * crash). */
static GBytes *
try_get (SoupSession *http, const gchar *url, const gchar *token)
{
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr (GBytes) body = NULL;

  if (token != NULL) {
    g_autofree gchar *auth = g_strdup_printf ("Bearer %s", token);

    soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  }
  body = soup_session_send_and_read (http, msg, NULL, NULL);
  if (body == NULL || soup_message_get_status (msg) != 200)
    return NULL;
  return g_steal_pointer (&body);
}

/* Sums the fastpath_heartbeat_rtt_seconds buckets of every session: le ->
 * cumulative count. */
static GHashTable *
scrape_rtt (SoupSession *http, const gchar *base)
{
  g_autofree gchar *url = g_strdup_printf ("%s/metrics", base);
  g_autoptr (GBytes) body = NULL;
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = NULL;

  if ((body = try_get (http, url, NULL)) == NULL)
    return h;
  {
    g_autofree gchar *text = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));

    lines = g_strsplit (text, "\n", -1);
  }
  for (guint i = 0; lines[i] != NULL; i++) {
    const gchar *le, *end, *val;
    g_autofree gchar *key = NULL;
    gdouble *sum;

    if (lines[i][0] == '#' || strstr (lines[i], "fastpath_heartbeat_rtt_seconds_bucket{") == NULL)
      continue;
    le = strstr (lines[i], "le=\"");
    val = strrchr (lines[i], ' ');
    if (le == NULL || val == NULL || (end = strchr (le + 4, '"')) == NULL)
      continue;
    key = g_strndup (le + 4, end - le - 4);
    sum = g_hash_table_lookup (h, key);
    if (sum == NULL) {
      sum = g_new0 (gdouble, 1);
      g_hash_table_insert (h, g_steal_pointer (&key), sum);
    }
    *sum += g_ascii_strtod (val + 1, NULL);
  }
  return h;
}

static gdouble
le_value (const gchar *le)
{
  return g_str_equal (le, "+Inf") ? G_MAXDOUBLE : g_ascii_strtod (le, NULL);
}

/* Quantile Q (ms) of the histogram B - A, -1 when empty; *COUNT gets its size. */
static gdouble
rtt_quantile (GHashTable *a, GHashTable *b, gdouble q, gdouble *count)
{
  g_autoptr (GList) keys = g_hash_table_get_keys (b);
  guint n = g_list_length (keys), i = 0;
  g_autofree gdouble *les = g_new0 (gdouble, n);
  g_autofree gdouble *cum = g_new0 (gdouble, n);
  gdouble total, rank, prev_le = 0, prev_cum = 0;

  /* sort by le */
  for (GList *k = keys; k != NULL; k = k->next, i++) {
    gdouble *va = g_hash_table_lookup (a, k->data), *vb = g_hash_table_lookup (b, k->data);

    les[i] = le_value (k->data);
    cum[i] = *vb - (va != NULL ? *va : 0);
  }
  for (guint x = 1; x < n; x++)
    for (guint y = x; y > 0 && les[y - 1] > les[y]; y--) {
      gdouble t = les[y];

      les[y] = les[y - 1];
      les[y - 1] = t;
      t = cum[y];
      cum[y] = cum[y - 1];
      cum[y - 1] = t;
    }
  total = n > 0 ? cum[n - 1] : 0;
  *count = total;
  if (total <= 0)
    return -1;
  rank = q * total;
  for (i = 0; i < n; i++) {
    if (cum[i] >= rank) {
      if (les[i] == G_MAXDOUBLE)
        return prev_le * 1000;
      if (cum[i] == prev_cum)
        return les[i] * 1000;
      return (prev_le + (les[i] - prev_le) * (rank - prev_cum) / (cum[i] - prev_cum)) * 1000;
    }
    prev_le = les[i];
    prev_cum = cum[i];
  }
  return prev_le * 1000;
}

typedef struct {
  guint n;
  guint helpers;
  guint healthy_peak;   /* helpers' view */
  guint registered;     /* sessions the daemon knows */
  guint64 generations;  /* sum of link_generation: links opened again */
  guint healthy_daemon; /* GET /sessions fast_path_ready */
  gdouble up_secs;      /* -1: not all healthy */
  guint min_healthy;    /* during the samples */
  guint drops, failed;
  gint64 base_rss, base_threads, base_fds;
  Stat rss, threads, fds, cpu, helpers_cpu, p50, p99;
  gdouble rtt_samples;
  guint scrape_failures; /* GET /metrics not answered (30 s) or empty */
  gchar *limit_hit;
} LinkRun;

typedef struct {
  gchar *self;
  gchar *manager;
  gchar *tmp;
  guint per_helper;
  guint samples;
  guint window;
  gboolean verbose;
} Opts;

static void
spawn_daemon (BenchDaemon *d, const Opts *o, const gchar *dir, const gchar *queue, const gchar *redis_url)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = bench_soup_session_new ();
  const gchar *argv[] = { o->manager, "--listen", "127.0.0.1:0", "--queue", queue, NULL, NULL, NULL };

  if (redis_url != NULL) {
    argv[5] = "--redis-url";
    argv[6] = redis_url;
  }
  g_mkdir_with_parents (dir, 0700);
  if (!bench_daemon_spawn (d, argv, dir, BENCH_OPERATOR_TOKEN,
                           BENCH_DAEMON_DIE_WITH_PARENT | BENCH_DAEMON_NO_DEBUG_ENV | (o->verbose ? BENCH_DAEMON_KEEP_STDERR : 0),
                           &error))
    g_error ("cannot start %s: %s", o->manager, error->message);
  if (!bench_daemon_read_url (d))
    g_error ("the manager did not start");
  if (!bench_wait_ready (session, d->url, 20 * G_USEC_PER_SEC))
    g_error ("the manager never became ready");
}

/* Sessions whose link is healthy in the daemon's view; *REGISTERED gets the
 * sessions it knows, *GENERATIONS the sum of their link_generation (links
 * that were opened again: churn). */
static guint
daemon_ready_count (SoupSession *http, const gchar *base, guint *registered, guint64 *generations)
{
  g_autofree gchar *url = g_strdup_printf ("%s/sessions", base);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (JsonNode) node = NULL;
  JsonArray *arr;
  guint n = 0;

  *registered = 0;
  if ((body = try_get (http, url, BENCH_OPERATOR_TOKEN)) == NULL)
    return 0;
  node = parse_bytes (body);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return 0;
  arr = json_object_get_array_member (json_node_get_object (node), "sessions");
  *registered = arr != NULL ? json_array_get_length (arr) : 0;
  for (guint i = 0; i < *registered; i++) {
    JsonObject *o = json_array_get_object_element (arr, i);

    n += json_object_get_boolean_member_with_default (o, "fast_path_ready", FALSE);
    *generations += (guint64) json_object_get_int_member_with_default (o, "link_generation", 0);
  }
  return n;
}

static void
run_links (const Opts *o, guint n, LinkRun *r)
{
  g_auto (BenchDaemon) d = { 0 };
  g_autoptr (SoupSession) http = NULL;
  g_autofree gchar *dir = g_strdup_printf ("%s/links-%u", o->tmp, n);
  g_autofree gdouble *rss = g_new0 (gdouble, o->samples), *thr = g_new0 (gdouble, o->samples);
  g_autofree gdouble *fds = g_new0 (gdouble, o->samples), *cpu = g_new0 (gdouble, o->samples);
  g_autofree gdouble *hcpu = g_new0 (gdouble, o->samples), *p50 = g_new0 (gdouble, o->samples);
  g_autofree gdouble *p99 = g_new0 (gdouble, o->samples);
  guint n50 = 0, n99 = 0, done = 0;
  Links l = { 0 };
  GPid dp;
  gint64 t0, deadline, cap, c0;
  guint healthy = 0, drops = 0, failed = 0, dead = 0;
  gboolean daemon_gone = FALSE;
  g_autoptr (GString) limit = g_string_new (NULL);

  http = g_object_new (SOUP_TYPE_SESSION, "timeout", 30, "proxy-resolver", NULL, NULL);
  memset (r, 0, sizeof *r);
  r->n = n;
  r->up_secs = -1;
  spawn_daemon (&d, o, dir, "memory", NULL);
  dp = bench_subprocess_pid (d.proc);
  /* the daemon alone, before any link */
  g_usleep (G_USEC_PER_SEC / 2);
  r->base_rss = proc_rss_kib (dp);
  r->base_threads = proc_count (dp, "task");
  r->base_fds = proc_count (dp, "fd");

  g_mutex_init (&l.lock);
  g_cond_init (&l.cond);
  l.n_helpers = (n + o->per_helper - 1) / o->per_helper;
  l.helpers = g_new0 (Helper, l.n_helpers);
  r->helpers = l.n_helpers;
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < l.n_helpers; i++) {
    guint first = i * o->per_helper, count = MIN (o->per_helper, n - first);
    g_autofree gchar *s_first = g_strdup_printf ("%u", first), *s_count = g_strdup_printf ("%u", count);
    g_autofree gchar *s_par = g_strdup_printf ("%u", MAX (2, BRING_UP_PARALLEL / l.n_helpers));
    const gchar *argv[] = { o->self, "--child-peers", "--url", d.url, "--first", s_first, "--count", s_count,
                            "--parallel", s_par, NULL };
    g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | (o->verbose ? 0 : G_SUBPROCESS_FLAGS_STDERR_SILENCE));
    g_autoptr (GError) error = NULL;
    ReaderArg *a;

    g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
    g_subprocess_launcher_setenv (launcher, "BEACH_MANAGER_TOKEN", BENCH_OPERATOR_TOKEN, TRUE);
    g_subprocess_launcher_set_child_setup (launcher, bench_die_with_parent, NULL, NULL);
    l.helpers[i].proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
    if (l.helpers[i].proc == NULL) {
      g_string_append_printf (limit, "helper %u of %u could not start: %s; ", i + 1, l.n_helpers, error->message);
      l.helpers[i].eof = TRUE;
      continue;
    }
    a = g_new0 (ReaderArg, 1);
    a->links = &l;
    a->h = &l.helpers[i];
    l.helpers[i].reader = g_thread_new ("helper-reader", helper_reader, a);
  }

  /* bring-up: until all N are healthy, or no new peak for 20 s past the
   * first deadline, or the hard cap (links that flap are no progress) */
  deadline = t0 + (30 + n / 5) * G_USEC_PER_SEC;
  cap = t0 + (60 + n / 5) * G_USEC_PER_SEC;
  g_mutex_lock (&l.lock);
  for (;;) {
    gint64 wait_until = MIN (deadline, g_get_monotonic_time () + G_USEC_PER_SEC);
    guint peak = r->healthy_peak;

    links_totals (&l, &healthy, &drops, &failed, &dead);
    r->healthy_peak = MAX (r->healthy_peak, healthy);
    if (healthy >= n || dead == l.n_helpers || g_get_monotonic_time () >= deadline)
      break;
    if (healthy > peak)
      deadline = MIN (cap, MAX (deadline, g_get_monotonic_time () + 20 * G_USEC_PER_SEC));
    g_cond_wait_until (&l.cond, &l.lock, wait_until);
    if (!proc_alive (d.proc)) {
      daemon_gone = TRUE;
      break;
    }
  }
  g_mutex_unlock (&l.lock);
  if (healthy >= n)
    r->up_secs = (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC;
  if (daemon_gone) {
    g_string_append_printf (limit, "the daemon exited during bring-up with %u links healthy; ", healthy);
  } else if (healthy < n) {
    g_string_append_printf (limit, "%u of %u links healthy after %.0f s (%u failed, %u helpers gone); ", healthy,
                            n, (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC, failed, dead);
  }
  if (o->verbose)
    g_printerr ("bench-scale: N=%u: %u healthy in %.1f s\n", n, healthy,
                (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC);

  if (!daemon_gone) {
    /* warm-up: every link has exchanged a few pings, first allocations done */
    g_usleep (3 * G_USEC_PER_SEC);
    r->healthy_daemon = daemon_ready_count (http, d.url, &r->registered, &r->generations);
    r->min_healthy = G_MAXUINT;
    for (guint s = 0; s < o->samples && proc_alive (d.proc); s++) {
      g_autoptr (GHashTable) h0 = NULL, h1 = NULL;
      gint64 hc0 = 0, hc1 = 0, t1, c1, w0;
      gdouble cnt, v;

      h0 = scrape_rtt (http, d.url);
      if (g_hash_table_size (h0) == 0)
        r->scrape_failures++;
      w0 = g_get_monotonic_time ();
      c0 = bench_proc_cpu_us (dp);
      for (guint i = 0; i < l.n_helpers; i++)
        hc0 += bench_proc_cpu_us (bench_subprocess_pid (l.helpers[i].proc));
      g_usleep (o->window * G_USEC_PER_SEC);
      c1 = bench_proc_cpu_us (dp);
      for (guint i = 0; i < l.n_helpers; i++)
        hc1 += bench_proc_cpu_us (bench_subprocess_pid (l.helpers[i].proc));
      t1 = g_get_monotonic_time ();
      h1 = scrape_rtt (http, d.url);
      if (g_hash_table_size (h1) == 0)
        r->scrape_failures++;
      rss[done] = proc_rss_kib (dp);
      thr[done] = proc_count (dp, "task");
      fds[done] = proc_count (dp, "fd");
      cpu[done] = 100.0 * (c1 - c0) / (t1 - w0);
      hcpu[done] = 100.0 * (hc1 - hc0) / (t1 - w0);
      if ((v = rtt_quantile (h0, h1, 0.50, &cnt)) >= 0)
        p50[n50++] = v;
      if ((v = rtt_quantile (h0, h1, 0.99, &cnt)) >= 0)
        p99[n99++] = v;
      r->rtt_samples += cnt;
      done++;
      g_mutex_lock (&l.lock);
      links_totals (&l, &healthy, &drops, &failed, &dead);
      g_mutex_unlock (&l.lock);
      r->min_healthy = MIN (r->min_healthy, healthy);
    }
    if (r->min_healthy == G_MAXUINT)
      r->min_healthy = 0;
    if (!proc_alive (d.proc))
      g_string_append (limit, "the daemon exited during the samples; ");
    else if (r->min_healthy < r->healthy_peak)
      g_string_append_printf (limit, "links dropped during the idle samples (%u healthy at worst); ",
                              r->min_healthy);
  }
  g_mutex_lock (&l.lock);
  links_totals (&l, &healthy, &drops, &failed, &dead);
  g_mutex_unlock (&l.lock);
  r->drops = drops;
  r->failed = failed;
  r->rss = stat_of (rss, done);
  r->threads = stat_of (thr, done);
  r->fds = stat_of (fds, done);
  r->cpu = stat_of (cpu, done);
  r->helpers_cpu = stat_of (hcpu, done);
  r->p50 = stat_of (p50, n50);
  r->p99 = stat_of (p99, n99);
  if (r->scrape_failures > 0)
    g_string_append_printf (limit, "GET /metrics failed or timed out (30 s) %u times: the main loop is saturated; ",
                            r->scrape_failures);
  if (limit->len > 0) {
    g_string_truncate (limit, limit->len - 2);
    r->limit_hit = g_strdup (limit->str);
  }

  /* the daemon first: then the helpers' links just go away */
  bench_daemon_stop (&d);
  for (guint i = 0; i < l.n_helpers; i++) {
    if (l.helpers[i].proc == NULL)
      continue;
    g_output_stream_close (g_subprocess_get_stdin_pipe (l.helpers[i].proc), NULL, NULL);
    g_subprocess_send_signal (l.helpers[i].proc, SIGTERM);
    g_subprocess_wait (l.helpers[i].proc, NULL, NULL);
    g_thread_join (l.helpers[i].reader);
    g_clear_object (&l.helpers[i].proc);
  }
  g_free (l.helpers);
  g_mutex_clear (&l.lock);
  g_cond_clear (&l.cond);
}

/* -- the Redis part -------------------------------------------------------- */

typedef struct _RedisRun RedisRun;

typedef struct {
  gchar *id;
  SoupSession *http; /* its poller's, shared with SESSIONS_PER_SOUP others */
  gchar *session_token;
  gchar *lease_token;
  gchar *poll_url;
  gchar *ack_url;
  gchar *actions_url;
} Sess;

typedef struct {
  RedisRun *rr;
  GMainContext *ctx;
  GMainLoop *loop;
  SoupSession *http;
  GPtrArray *soups; /* pollers: one per SESSIONS_PER_SOUP; controller: CTL_SOUPS */
  guint next_soup;
  guint from, to; /* sessions [from, to) */
  GThread *thread;
} Worker;

struct _RedisRun {
  const gchar *base;
  Sess *sess;
  guint n;
  gdouble rate;
  gchar *fill;
  volatile gint stopping;
  GMutex lock;
  /* under lock */
  gint64 *lat;
  guint lat_n, lat_cap;
  gint64 lat_from_us; /* only actions sent after this are timed */
  guint64 delivered, acked_calls, poll_errors, ack_errors;
  /* controller (its own thread) */
  guint64 sent, rejected, post_errors, behind;
  guint in_flight;
  guint rr_next;
  gint64 *post_lat; /* POST answer times of the measured actions */
  guint post_n, post_cap;
  gint64 ctl_start_us;
  guint64 ctl_base; /* sent when the rate last (re)started */
  GSource *tick;
  /* registration */
  volatile gint reg_next;
};

static void poll_session (Worker *w, guint i);

typedef struct {
  Worker *w;
  guint i;
} PollCtx;

static void
on_ack_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RedisRun *rr = user_data;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  g_mutex_lock (&rr->lock);
  if (body == NULL || soup_message_get_status (msg) != 200)
    rr->ack_errors += !g_atomic_int_get (&rr->stopping);
  else
    rr->acked_calls++;
  g_mutex_unlock (&rr->lock);
}

static SoupMessage *
new_message (const gchar *method, const gchar *url, const gchar *token, const gchar *body)
{
  SoupMessage *msg = soup_message_new (method, url);
  g_autofree gchar *auth = g_strdup_printf ("Bearer %s", token);

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  if (body != NULL) {
    g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));

    soup_message_set_request_body_from_bytes (msg, "application/json", b);
  }
  return msg;
}

static gboolean
repoll_later (gpointer data)
{
  PollCtx *pc = data;

  poll_session (pc->w, pc->i);
  return G_SOURCE_REMOVE;
}

static void
on_polled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PollCtx *pc = user_data;
  Worker *w = pc->w;
  RedisRun *rr = w->rr;
  Sess *s = &rr->sess[pc->i];
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr (JsonNode) node = NULL;
  JsonArray *actions;
  gint64 now = g_get_monotonic_time ();
  guint len;

  if (g_atomic_int_get (&rr->stopping)) {
    g_free (pc);
    return;
  }
  if (body == NULL || soup_message_get_status (msg) != 200 || (node = parse_bytes (body)) == NULL) {
    g_mutex_lock (&rr->lock);
    rr->poll_errors++;
    g_mutex_unlock (&rr->lock);
    {
      GSource *src = g_timeout_source_new (200);

      g_source_set_callback (src, repoll_later, pc, g_free);
      g_source_attach (src, w->ctx);
      g_source_unref (src);
    }
    return;
  }
  actions = json_object_get_array_member (json_node_get_object (node), "actions");
  len = actions != NULL ? json_array_get_length (actions) : 0;
  if (len > 0) {
    g_autoptr (GString) acks = g_string_new ("[");
    gint64 applied_ms = g_get_real_time () / 1000;
    g_autoptr (SoupMessage) amsg = NULL;

    g_mutex_lock (&rr->lock);
    for (guint i = 0; i < len; i++) {
      JsonObject *a = json_array_get_object_element (actions, i);
      JsonObject *payload = json_object_get_object_member (a, "payload");
      const gchar *bytes = payload != NULL ? json_object_get_string_member_with_default (payload, "bytes", "") : "";
      gint64 sent_us = g_ascii_strtoll (bytes, NULL, 10);

      rr->delivered++;
      if (sent_us >= rr->lat_from_us && rr->lat_from_us > 0) {
        if (rr->lat_n == rr->lat_cap) {
          rr->lat_cap = MAX (1024, rr->lat_cap * 2);
          rr->lat = g_renew (gint64, rr->lat, rr->lat_cap * 2);
        }
        rr->lat[2 * rr->lat_n] = sent_us;
        rr->lat[2 * rr->lat_n + 1] = now - sent_us;
        rr->lat_n++;
      }
      g_string_append_printf (acks, "%s{\"id\":\"%s\",\"status\":\"ok\",\"applied_at\":%" G_GINT64_FORMAT "}",
                              i > 0 ? "," : "", json_object_get_string_member (a, "id"), applied_ms);
    }
    g_mutex_unlock (&rr->lock);
    g_string_append_c (acks, ']');
    amsg = new_message ("POST", s->ack_url, s->session_token, acks->str);
    soup_session_send_and_read_async (s->http, amsg, G_PRIORITY_DEFAULT, NULL, on_ack_done, rr);
  }
  g_free (pc);
  poll_session (w, (guint) (s - rr->sess));
}

static void
poll_session (Worker *w, guint i)
{
  Sess *s = &w->rr->sess[i];
  g_autoptr (SoupMessage) msg = new_message ("GET", s->poll_url, s->session_token, NULL);
  PollCtx *pc = g_new0 (PollCtx, 1);

  pc->w = w;
  pc->i = i;
  soup_session_send_and_read_async (s->http, msg, G_PRIORITY_DEFAULT, NULL, on_polled, pc);
}

static SoupSession *
big_session (void)
{
  return g_object_new (SOUP_TYPE_SESSION, "max-conns", 1000, "max-conns-per-host", 1000, "timeout", 60,
                       "proxy-resolver", NULL, NULL);
}

static gboolean
start_polls (gpointer data)
{
  Worker *w = data;

  for (guint i = w->from; i < w->to; i++)
    poll_session (w, i);
  return G_SOURCE_REMOVE;
}

static gpointer
poller_thread (gpointer data)
{
  Worker *w = data;

  g_main_context_push_thread_default (w->ctx);
  w->soups = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = w->from; i < w->to; i++) {
    if ((i - w->from) % SESSIONS_PER_SOUP == 0)
      g_ptr_array_add (w->soups, big_session ());
    w->rr->sess[i].http = g_ptr_array_index (w->soups, w->soups->len - 1);
  }
  start_polls (w);
  g_main_loop_run (w->loop);
  g_clear_pointer (&w->soups, g_ptr_array_unref);
  g_main_context_pop_thread_default (w->ctx);
  return NULL;
}

/* controller: open loop at rr->rate, one action per POST */

static void ctl_issue (Worker *w);

typedef struct {
  Worker *w;
  gint64 t;
} PostCtx;

static void
on_posted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree PostCtx *pc = user_data;
  Worker *w = pc->w;
  RedisRun *rr = w->rr;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, NULL);
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  guint status = body != NULL ? soup_message_get_status (msg) : 0;

  rr->in_flight--;
  if (rr->lat_from_us > 0 && pc->t >= rr->lat_from_us) {
    if (rr->post_n == rr->post_cap) {
      rr->post_cap = MAX (1024, rr->post_cap * 2);
      rr->post_lat = g_renew (gint64, rr->post_lat, rr->post_cap);
    }
    rr->post_lat[rr->post_n++] = g_get_monotonic_time () - pc->t;
  }
  if (status == 429)
    rr->rejected++;
  else if (status != 200)
    rr->post_errors++;
  ctl_issue (w);
}

static void
ctl_issue (Worker *w)
{
  RedisRun *rr = w->rr;
  gint64 now = g_get_monotonic_time ();
  guint64 due;

  if (g_atomic_int_get (&rr->stopping) || rr->rate <= 0)
    return;
  due = rr->ctl_base + (guint64) ((now - rr->ctl_start_us) * rr->rate / G_USEC_PER_SEC);
  while (rr->sent < due && rr->in_flight < CTL_IN_FLIGHT) {
    Sess *s = &rr->sess[rr->rr_next];
    gint64 t = g_get_monotonic_time ();
    g_autofree gchar *body = g_strdup_printf (
      "{\"actions\":[{\"id\":\"a%" G_GUINT64_FORMAT "\",\"action_type\":\"terminal_write\",\"payload\":"
      "{\"bytes\":\"%" G_GINT64_FORMAT " %s\"}}]}",
      rr->sent, t, rr->fill);
    g_autoptr (SoupMessage) msg = new_message ("POST", s->actions_url, s->lease_token, body);
    PostCtx *pc = g_new0 (PostCtx, 1);

    rr->rr_next = (rr->rr_next + 1) % rr->n;
    rr->sent++;
    rr->in_flight++;
    pc->w = w;
    pc->t = t;
    w->next_soup = (w->next_soup + 1) % w->soups->len;
    soup_session_send_and_read_async (g_ptr_array_index (w->soups, w->next_soup), msg, G_PRIORITY_DEFAULT, NULL,
                                      on_posted, pc);
  }
  /* more than a second behind: drop the debt, count it (open loop, honest) */
  if (due > rr->sent + (guint64) rr->rate) {
    rr->behind += due - rr->sent;
    rr->ctl_base = rr->sent;
    rr->ctl_start_us = now;
  }
}

static gboolean
on_tick (gpointer data)
{
  ctl_issue (data);
  return G_SOURCE_CONTINUE;
}

static gpointer
ctl_thread (gpointer data)
{
  Worker *w = data;
  GSource *tick = g_timeout_source_new (2);

  g_main_context_push_thread_default (w->ctx);
  w->soups = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < CTL_SOUPS; i++)
    g_ptr_array_add (w->soups, big_session ());
  w->rr->ctl_start_us = g_get_monotonic_time ();
  g_source_set_callback (tick, on_tick, w, NULL);
  g_source_attach (tick, w->ctx);
  g_main_loop_run (w->loop);
  g_source_destroy (tick);
  g_source_unref (tick);
  g_clear_pointer (&w->soups, g_ptr_array_unref);
  g_main_context_pop_thread_default (w->ctx);
  return NULL;
}

static gpointer
reg_thread (gpointer data)
{
  RedisRun *rr = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (SoupSession) http = NULL;
  gint i;

  g_main_context_push_thread_default (ctx);
  http = bench_soup_session_new ();
  while ((i = g_atomic_int_add (&rr->reg_next, 1)) < (gint) rr->n) {
    Sess *s = &rr->sess[i];

    bench_open_session (http, rr->base, BENCH_OPERATOR_TOKEN, s->id, "http_fallback", &s->session_token,
                        &s->lease_token);
  }
  g_main_context_pop_thread_default (ctx);
  return NULL;
}

typedef struct {
  guint sessions;
  gdouble target_rate;
  gdouble register_secs;
  gboolean polls_parked;
  gdouble idle_cpu, idle_redis_cpu;
  gdouble post_p50, post_p99;
  gint64 idle_rss;
  Stat sent_rate, delivered_rate, p50, p99, cpu, rss, redis_rss, redis_cpu, bench_cpu, daemon_fds, daemon_threads;
  guint64 sent, delivered, rejected, post_errors, poll_errors, ack_errors, behind, undelivered;
  guint lat_n;
  gchar *limit_hit;
  gchar *error;
} RedisResult;

static void
worker_stop (Worker *w)
{
  g_main_loop_quit (w->loop);
  g_thread_join (w->thread);
  g_main_loop_unref (w->loop);
  g_main_context_unref (w->ctx);
}

static void
worker_start (Worker *w, RedisRun *rr, const gchar *name, GThreadFunc fn)
{
  w->rr = rr;
  w->ctx = g_main_context_new ();
  w->loop = g_main_loop_new (w->ctx, FALSE);
  w->thread = g_thread_new (name, fn, w);
}

static void
run_redis (const Opts *o, const gchar *redis_server, guint n, gdouble rate, guint warm_secs, guint window, RedisResult *res)
{
  g_auto (BenchDaemon) d = { 0 };
  g_autofree gchar *dir = g_strdup_printf ("%s/redis", o->tmp);
  g_autofree gchar *sock = g_strdup_printf ("%s/redis.sock", dir);
  g_autofree gchar *url = g_strdup_printf ("unix://%s", sock);
  g_autofree gchar *ddir = g_strdup_printf ("%s/redis-daemon", o->tmp);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GSubprocess) redis = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gdouble *v_sent = g_new0 (gdouble, o->samples), *v_del = g_new0 (gdouble, o->samples);
  g_autofree gdouble *v_p50 = g_new0 (gdouble, o->samples), *v_p99 = g_new0 (gdouble, o->samples);
  g_autofree gdouble *v_cpu = g_new0 (gdouble, o->samples), *v_rss = g_new0 (gdouble, o->samples);
  g_autofree gdouble *v_rrss = g_new0 (gdouble, o->samples), *v_rcpu = g_new0 (gdouble, o->samples);
  g_autofree gdouble *v_bcpu = g_new0 (gdouble, o->samples), *v_fds = g_new0 (gdouble, o->samples);
  g_autofree gdouble *v_thr = g_new0 (gdouble, o->samples);
  guint nlat = 0, done = 0;
  RedisRun rr = { 0 };
  Worker pollers[POLL_THREADS] = { 0 }, ctl = { 0 };
  GThread *regs[REG_THREADS];
  GPid dp, rp;
  gint64 t0;
  g_autoptr (GString) limit = g_string_new (NULL);

  memset (res, 0, sizeof *res);
  res->sessions = n;
  res->target_rate = rate;
  g_mkdir_with_parents (dir, 0700);
  g_subprocess_launcher_set_child_setup (launcher, bench_die_with_parent, NULL, NULL);
  redis = g_subprocess_launcher_spawn (launcher, &error, redis_server, "--port", "0", "--unixsocket", sock, "--save",
                                       "", "--appendonly", "no", "--dir", dir, "--maxclients", "10000", NULL);
  if (redis == NULL) {
    res->error = g_strdup_printf ("cannot start %s: %s", redis_server, error->message);
    return;
  }
  t0 = g_get_monotonic_time ();
  while (!g_file_test (sock, G_FILE_TEST_EXISTS) && g_get_monotonic_time () - t0 < 10 * G_USEC_PER_SEC)
    g_usleep (10000);
  spawn_daemon (&d, o, ddir, "redis", url);
  dp = bench_subprocess_pid (d.proc);
  rp = bench_subprocess_pid (redis);

  g_mutex_init (&rr.lock);
  rr.base = d.url;
  rr.n = n;
  rr.fill = g_strnfill (PAYLOAD_FILL, 'x');
  rr.sess = g_new0 (Sess, n);
  for (guint i = 0; i < n; i++) {
    Sess *s = &rr.sess[i];

    s->id = g_strdup_printf ("r%05u", i);
    s->poll_url = g_strdup_printf ("%s/sessions/%s/actions/poll?wait_ms=%u&max=%u", d.url, s->id, POLL_WAIT_MS,
                                   POLL_MAX);
    s->ack_url = g_strdup_printf ("%s/sessions/%s/actions/ack", d.url, s->id);
    s->actions_url = g_strdup_printf ("%s/sessions/%s/actions", d.url, s->id);
  }
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < REG_THREADS; i++)
    regs[i] = g_thread_new ("register", reg_thread, &rr);
  for (guint i = 0; i < REG_THREADS; i++)
    g_thread_join (regs[i]);
  res->register_secs = (g_get_monotonic_time () - t0) / (gdouble) G_USEC_PER_SEC;
  if (o->verbose)
    g_printerr ("bench-scale: %u sessions registered in %.1f s\n", n, res->register_secs);

  for (guint i = 0; i < POLL_THREADS; i++) {
    pollers[i].from = i * n / POLL_THREADS;
    pollers[i].to = (i + 1) * n / POLL_THREADS;
    worker_start (&pollers[i], &rr, "poller", poller_thread);
  }
  /* let the polls park (the daemon's fd count tells) */
  t0 = g_get_monotonic_time ();
  while (proc_count (dp, "fd") < (gint) n && g_get_monotonic_time () - t0 < 30 * G_USEC_PER_SEC)
    g_usleep (100000);
  res->polls_parked = proc_count (dp, "fd") >= (gint) n;
  if (!res->polls_parked)
    g_string_append_printf (limit, "only %d daemon fds after 30 s: not every poll is parked; ",
                            proc_count (dp, "fd"));
  g_usleep (G_USEC_PER_SEC);
  /* every poll parked, nothing sent: what the sessions alone cost */
  {
    gint64 c0 = bench_proc_cpu_us (dp), r0 = bench_proc_cpu_us (rp), w0 = g_get_monotonic_time ();

    g_usleep (3 * G_USEC_PER_SEC);
    res->idle_cpu = 100.0 * (bench_proc_cpu_us (dp) - c0) / (g_get_monotonic_time () - w0);
    res->idle_redis_cpu = 100.0 * (bench_proc_cpu_us (rp) - r0) / (g_get_monotonic_time () - w0);
    res->idle_rss = proc_rss_kib (dp);
  }

  /* warm-up at the target rate, then the samples */
  rr.rate = rate;
  worker_start (&ctl, &rr, "controller", ctl_thread);
  g_usleep (warm_secs * G_USEC_PER_SEC);
  for (guint s = 0; s < o->samples && proc_alive (d.proc); s++) {
    gint64 w0 = g_get_monotonic_time (), w1;
    gint64 c0 = bench_proc_cpu_us (dp), r0 = bench_proc_cpu_us (rp), b0 = bench_proc_cpu_us (0), c1, r1, b1;
    guint64 sent0, del0, sent1, del1;
    guint lat1;
    g_autofree gint64 *lat = NULL;
    guint k = 0;

    g_mutex_lock (&rr.lock);
    /* sent is the controller's; read racily, it only grows */
    sent0 = rr.sent;
    del0 = rr.delivered;
    if (rr.lat_from_us == 0)
      rr.lat_from_us = w0;
    g_mutex_unlock (&rr.lock);
    g_usleep (window * G_USEC_PER_SEC);
    c1 = bench_proc_cpu_us (dp);
    r1 = bench_proc_cpu_us (rp);
    b1 = bench_proc_cpu_us (0);
    w1 = g_get_monotonic_time ();
    g_mutex_lock (&rr.lock);
    sent1 = rr.sent;
    del1 = rr.delivered;
    lat1 = rr.lat_n;
    /* actions sent inside this window that have arrived by now */
    lat = g_new0 (gint64, lat1 + 1);
    for (guint i = 0; i < lat1; i++)
      if (rr.lat[2 * i] >= w0 && rr.lat[2 * i] < w1)
        lat[k++] = rr.lat[2 * i + 1];
    g_mutex_unlock (&rr.lock);
    v_sent[done] = (sent1 - sent0) * (gdouble) G_USEC_PER_SEC / (w1 - w0);
    v_del[done] = (del1 - del0) * (gdouble) G_USEC_PER_SEC / (w1 - w0);
    v_cpu[done] = 100.0 * (c1 - c0) / (w1 - w0);
    v_rcpu[done] = 100.0 * (r1 - r0) / (w1 - w0);
    v_bcpu[done] = 100.0 * (b1 - b0) / (w1 - w0);
    v_rss[done] = proc_rss_kib (dp);
    v_rrss[done] = proc_rss_kib (rp);
    v_fds[done] = proc_count (dp, "fd");
    v_thr[done] = proc_count (dp, "task");
    if (k > 0) {
      qsort (lat, k, sizeof *lat, bench_cmp_i64);
      v_p50[nlat] = bench_pct_ms (lat, k, 0.50);
      v_p99[nlat] = bench_pct_ms (lat, k, 0.99);
      nlat++;
      res->lat_n += k;
    }
    done++;
  }
  /* stop sending, let what was sent arrive */
  rr.rate = 0;
  g_usleep (3 * G_USEC_PER_SEC);
  g_atomic_int_set (&rr.stopping, 1);
  worker_stop (&ctl);
  if (!proc_alive (d.proc))
    g_string_append (limit, "the daemon exited during the run; ");
  bench_daemon_stop (&d);
  for (guint i = 0; i < POLL_THREADS; i++)
    worker_stop (&pollers[i]);
  bench_process_stop (redis);

  if (rr.post_n > 0) {
    qsort (rr.post_lat, rr.post_n, sizeof (gint64), bench_cmp_i64);
    res->post_p50 = bench_pct_ms (rr.post_lat, rr.post_n, 0.50);
    res->post_p99 = bench_pct_ms (rr.post_lat, rr.post_n, 0.99);
  }
  g_free (rr.post_lat);
  res->sent = rr.sent;
  res->delivered = rr.delivered;
  res->undelivered = rr.sent > rr.delivered + rr.rejected + rr.post_errors
                       ? rr.sent - rr.delivered - rr.rejected - rr.post_errors
                       : 0;
  res->rejected = rr.rejected;
  res->post_errors = rr.post_errors;
  res->poll_errors = rr.poll_errors;
  res->ack_errors = rr.ack_errors;
  res->behind = rr.behind;
  res->sent_rate = stat_of (v_sent, done);
  res->delivered_rate = stat_of (v_del, done);
  res->p50 = stat_of (v_p50, nlat);
  res->p99 = stat_of (v_p99, nlat);
  res->cpu = stat_of (v_cpu, done);
  res->rss = stat_of (v_rss, done);
  res->redis_rss = stat_of (v_rrss, done);
  res->redis_cpu = stat_of (v_rcpu, done);
  res->bench_cpu = stat_of (v_bcpu, done);
  res->daemon_fds = stat_of (v_fds, done);
  res->daemon_threads = stat_of (v_thr, done);
  if (res->delivered_rate.median >= 0 && res->delivered_rate.median < 0.95 * rate)
    g_string_append_printf (limit, "delivered %.0f actions/s of the %.0f/s asked (median of the samples); ",
                            res->delivered_rate.median, rate);
  if (limit->len > 0) {
    g_string_truncate (limit, limit->len - 2);
    res->limit_hit = g_strdup (limit->str);
  }
  for (guint i = 0; i < n; i++) {
    g_free (rr.sess[i].id);
    g_free (rr.sess[i].session_token);
    g_free (rr.sess[i].lease_token);
    g_free (rr.sess[i].poll_url);
    g_free (rr.sess[i].ack_url);
    g_free (rr.sess[i].actions_url);
  }
  g_free (rr.sess);
  g_free (rr.lat);
  g_free (rr.fill);
  g_mutex_clear (&rr.lock);
}

/* -- output ---------------------------------------------------------------- */

static guint *
parse_list (const gchar *s, guint *n)
{
  g_auto (GStrv) parts = g_strsplit (s, ",", -1);
  guint *v = g_new0 (guint, g_strv_length (parts) + 1);

  *n = 0;
  for (guint i = 0; parts[i] != NULL; i++)
    if (g_ascii_strtoull (parts[i], NULL, 10) > 0)
      v[(*n)++] = (guint) g_ascii_strtoull (parts[i], NULL, 10);
  return v;
}

static void
append_link_run (GString *s, const LinkRun *r)
{
  gdouble dn = r->n > 0 ? r->n : 1;

  g_string_append_printf (s, "{\"n\":%u,\"helpers\":%u,\"healthy\":%u,", r->n, r->helpers, r->healthy_peak);
  /* null: GET /sessions was not answered in time */
  if (r->registered > 0)
    g_string_append_printf (s, "\"healthy_daemon_view\":%u,", r->healthy_daemon);
  else
    g_string_append (s, "\"healthy_daemon_view\":null,");
  if (r->up_secs >= 0)
    g_string_append_printf (s, "\"up_secs\":%.2f,", r->up_secs);
  else
    g_string_append (s, "\"up_secs\":null,");
  g_string_append_printf (s, "\"registered\":%u,\"link_generations_sum\":%" G_GUINT64_FORMAT ",", r->registered,
                          r->generations);
  g_string_append_printf (s,
                          "\"min_healthy_during_samples\":%u,\"drops\":%u,\"failed\":%u,"
                          "\"baseline\":{\"rss_kib\":%" G_GINT64_FORMAT ",\"threads\":%" G_GINT64_FORMAT
                          ",\"fds\":%" G_GINT64_FORMAT "},",
                          r->min_healthy, r->drops, r->failed, r->base_rss, r->base_threads, r->base_fds);
  append_stat (s, "rss_kib", r->rss, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "threads", r->threads, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "fds", r->fds, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "idle_cpu_pct", r->cpu, "%.2f");
  g_string_append_c (s, ',');
  append_stat (s, "rtt_p50_ms", r->p50, "%.3f");
  g_string_append_c (s, ',');
  append_stat (s, "rtt_p99_ms", r->p99, "%.3f");
  g_string_append_c (s, ',');
  append_stat (s, "helpers_cpu_pct", r->helpers_cpu, "%.1f");
  g_string_append_printf (s, ",\"rtt_count\":%.0f,", r->rtt_samples);
  if (r->rss.median >= 0)
    g_string_append_printf (s, "\"per_link\":{\"rss_kib\":%.1f,\"threads\":%.2f,\"fds\":%.2f},",
                            (r->rss.median - r->base_rss) / dn, (r->threads.median - r->base_threads) / dn,
                            (r->fds.median - r->base_fds) / dn);
  g_string_append (s, "\"limit_hit\":");
  json_str (s, r->limit_hit);
  g_string_append_c (s, '}');
}

static void
append_redis (GString *s, const RedisResult *r)
{
  g_string_append_printf (s,
                          "{\"sessions\":%u,\"target_actions_per_s\":%.0f,\"register_secs\":%.2f,"
                          "\"polls_parked\":%s,",
                          r->sessions, r->target_rate, r->register_secs, r->polls_parked ? "true" : "false");
  g_string_append_printf (s,
                          "\"idle_parked\":{\"daemon_cpu_pct\":%.1f,\"redis_cpu_pct\":%.1f,\"daemon_rss_kib\":%" G_GINT64_FORMAT
                          "},",
                          r->idle_cpu, r->idle_redis_cpu, r->idle_rss);
  g_string_append_printf (s, "\"post_answer_ms\":{\"p50\":%.2f,\"p99\":%.2f},", r->post_p50, r->post_p99);
  if (r->delivered_rate.median > 0)
    g_string_append_printf (s, "\"daemon_cpu_ms_per_action\":%.3f,",
                            r->cpu.median * 10 / r->delivered_rate.median);
  append_stat (s, "sent_per_s", r->sent_rate, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "delivered_per_s", r->delivered_rate, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "latency_p50_ms", r->p50, "%.2f");
  g_string_append_c (s, ',');
  append_stat (s, "latency_p99_ms", r->p99, "%.2f");
  g_string_append_c (s, ',');
  append_stat (s, "daemon_cpu_pct", r->cpu, "%.1f");
  g_string_append_c (s, ',');
  append_stat (s, "daemon_rss_kib", r->rss, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "daemon_fds", r->daemon_fds, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "daemon_threads", r->daemon_threads, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "redis_rss_kib", r->redis_rss, "%.0f");
  g_string_append_c (s, ',');
  append_stat (s, "redis_cpu_pct", r->redis_cpu, "%.1f");
  g_string_append_c (s, ',');
  append_stat (s, "bench_cpu_pct", r->bench_cpu, "%.1f");
  g_string_append_printf (s,
                          ",\"latency_count\":%u,\"sent\":%" G_GUINT64_FORMAT ",\"delivered\":%" G_GUINT64_FORMAT
                          ",\"undelivered_at_end\":%" G_GUINT64_FORMAT ",\"rejected_429\":%" G_GUINT64_FORMAT
                          ",\"post_errors\":%" G_GUINT64_FORMAT ",\"poll_errors\":%" G_GUINT64_FORMAT
                          ",\"ack_errors\":%" G_GUINT64_FORMAT ",\"not_sent_behind_schedule\":%" G_GUINT64_FORMAT ",",
                          r->lat_n, r->sent, r->delivered, r->undelivered, r->rejected, r->post_errors,
                          r->poll_errors, r->ack_errors, r->behind);
  g_string_append (s, "\"limit_hit\":");
  json_str (s, r->limit_hit);
  g_string_append (s, ",\"error\":");
  json_str (s, r->error);
  g_string_append_c (s, '}');
}

static void
print_table (LinkRun *runs, guint n_runs, const RedisResult *rr)
{
  g_printerr ("%6s %9s %9s %8s %6s %9s %10s %10s  %s\n", "N", "up s", "RSS MiB", "threads", "fds", "idle CPU%",
              "RTT p50 ms", "RTT p99 ms", "limit");
  for (guint i = 0; i < n_runs; i++) {
    LinkRun *r = &runs[i];

    g_printerr ("%6u %9.1f %9.1f %8.0f %6.0f %9.2f %10.3f %10.3f  %s\n", r->n, r->up_secs, r->rss.median / 1024,
                r->threads.median, r->fds.median, r->cpu.median, r->p50.median, r->p99.median,
                r->limit_hit != NULL ? r->limit_hit : "");
  }
  if (rr != NULL && rr->sessions > 0)
    g_printerr ("redis: %u sessions, target %.0f/s: sent %.0f/s, delivered %.0f/s, p50 %.2f ms, p99 %.2f ms, "
                "daemon CPU %.0f%%, RSS %.0f MiB, redis RSS %.0f MiB %s\n",
                rr->sessions, rr->target_rate, rr->sent_rate.median, rr->delivered_rate.median, rr->p50.median,
                rr->p99.median, rr->cpu.median, rr->rss.median / 1024, rr->redis_rss.median / 1024,
                rr->limit_hit != NULL ? rr->limit_hit : "");
}

int
main (int argc, char **argv)
{
  g_autofree gchar *manager = NULL, *redis_server = NULL, *links_s = NULL, *url = NULL;
  gboolean quick = FALSE, verbose = FALSE, no_links = FALSE, no_redis = FALSE, child = FALSE;
  gint per_helper = 50, samples = 5, window = 0, redis_sessions = 0, first = 0, count = 0, parallel = 4;
  gdouble redis_rate = 0;
  const GOptionEntry entries[] = {
    { "manager", 0, 0, G_OPTION_ARG_FILENAME, &manager, "beach-manager binary", "PATH" },
    { "redis-server", 0, 0, G_OPTION_ARG_FILENAME, &redis_server, "redis-server binary", "PATH" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "N = 50,100; 2,000 Redis sessions at 1,000/s", NULL },
    { "links", 0, 0, G_OPTION_ARG_STRING, &links_s, "comma-separated N (default 50,100,250,500)", "LIST" },
    { "per-helper", 0, 0, G_OPTION_ARG_INT, &per_helper, "harnesses per helper process (50)", "K" },
    { "samples", 0, 0, G_OPTION_ARG_INT, &samples, "samples per figure (5)", "S" },
    { "window-secs", 0, 0, G_OPTION_ARG_INT, &window, "seconds per sample (5; quick 3)", "W" },
    { "redis-sessions", 0, 0, G_OPTION_ARG_INT, &redis_sessions, "fallback sessions (10000; quick 2000)", "N" },
    { "redis-rate", 0, 0, G_OPTION_ARG_DOUBLE, &redis_rate, "aggregate actions/s (10000; quick 1000)", "R" },
    { "no-links", 0, 0, G_OPTION_ARG_NONE, &no_links, "skip the links part", NULL },
    { "no-redis", 0, 0, G_OPTION_ARG_NONE, &no_redis, "skip the Redis part", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "progress and children's stderr", NULL },
    { "child-peers", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &child, NULL, NULL },
    { "url", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &url, NULL, NULL },
    { "first", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &first, NULL, NULL },
    { "count", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &count, NULL, NULL },
    { "parallel", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &parallel, NULL, NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- one manager against many links and sessions");
  g_autoptr (GError) error = NULL;
  g_autofree guint *ns = NULL;
  guint n_ns = 0;
  g_autofree LinkRun *runs = NULL;
  RedisResult rres = { 0 };
  Opts o = { 0 };
  g_autoptr (GString) out = g_string_new ("{\"bench\":\"scale\",");
  g_autofree gchar *loadavg = read_trimmed ("/proc/loadavg");
  g_autofree gchar *pid_max = read_trimmed ("/proc/sys/kernel/pid_max");
  g_autofree gchar *threads_max = read_trimmed ("/proc/sys/kernel/threads-max");
  gint64 t_start = g_get_monotonic_time ();

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("bench-scale: %s\n", error->message);
    return 2;
  }
  raise_nofile ();
  if (child)
    return child_peers (url, g_getenv ("BEACH_MANAGER_TOKEN"), (guint) first, (guint) count, (guint) parallel);

  signal (SIGPIPE, SIG_IGN);
  o.self = g_file_read_link ("/proc/self/exe", NULL);
  if (o.self == NULL)
    o.self = g_strdup (argv[0]);
  o.manager = manager != NULL ? g_strdup (manager) : bench_default_manager ();
  o.per_helper = (guint) CLAMP (per_helper, 1, 1000);
  o.samples = (guint) CLAMP (samples, 1, 100);
  o.window = (guint) (window > 0 ? window : quick ? 3
                                                  : 5);
  o.verbose = verbose;
  o.tmp = g_dir_make_tmp ("bench-scale-XXXXXX", &error);
  if (o.tmp == NULL)
    g_error ("temporary directory: %s", error->message);
  if (redis_server == NULL)
    redis_server = g_strdup ("redis-server");
  ns = parse_list (links_s != NULL ? links_s : quick ? "50,100"
                                                     : "50,100,250,500",
                   &n_ns);
  if (redis_sessions <= 0)
    redis_sessions = quick ? 2000 : 10000;
  if (redis_rate <= 0)
    redis_rate = quick ? 1000 : 10000;

  runs = g_new0 (LinkRun, MAX (n_ns, 1));
  if (!no_links)
    for (guint i = 0; i < n_ns; i++) {
      g_autoptr (GString) row = g_string_new (NULL);

      run_links (&o, ns[i], &runs[i]);
      /* progress, and the figures survive an aborted run */
      append_link_run (row, &runs[i]);
      g_printerr ("bench-scale: %s\n", row->str);
    }
  if (!no_redis) {
    g_autofree gchar *rs = g_find_program_in_path (redis_server);

    if (rs == NULL) {
      rres.sessions = (guint) redis_sessions;
      rres.error = g_strdup_printf ("%s not found", redis_server);
    } else {
      run_redis (&o, rs, (guint) redis_sessions, redis_rate, quick ? 3 : 5, quick ? 3 : o.window, &rres);
    }
  }

  g_string_append_printf (out,
                          "\"quick\":%s,\"host\":{\"cpus\":%u,\"loadavg_at_start\":\"%s\",\"pid_max\":%s,"
                          "\"threads_max\":%s,\"rlimit_nofile\":%" G_GINT64_FORMAT ",\"rlimit_nproc\":%" G_GINT64_FORMAT
                          "},",
                          quick ? "true" : "false", g_get_num_processors (), loadavg, pid_max, threads_max,
                          rlimit_cur (RLIMIT_NOFILE), rlimit_cur (RLIMIT_NPROC));
  g_string_append_printf (out,
                          "\"config\":{\"per_helper\":%u,\"samples\":%u,\"window_secs\":%u,\"bring_up_parallel\":%u,"
                          "\"rtt_source\":\"GET /metrics beach_fastpath_heartbeat_rtt_seconds, window delta, "
                          "all sessions, bucket-interpolated\"},",
                          o.per_helper, o.samples, o.window, BRING_UP_PARALLEL);
  g_string_append (out, "\"links\":[");
  for (guint i = 0; !no_links && i < n_ns; i++) {
    if (i > 0)
      g_string_append_c (out, ',');
    append_link_run (out, &runs[i]);
  }
  g_string_append (out, "],\"redis\":");
  if (no_redis)
    g_string_append (out, "null");
  else
    append_redis (out, &rres);
  g_string_append (out, ",\"notes\":[");
  g_string_append (
    out,
    "\"Each link costs the daemon one webrtcbin pipeline: ~13 threads and ~7 fds (see per_link); the harness side "
    "costs about as many threads again. Threads count against RLIMIT_NPROC (per user) and kernel.pid_max / "
    "threads-max (system-wide); raise those (or run peers on other hosts) to go further, or lift it in the code by "
    "sharing one pipeline / SCTP association for many links.\","
    "\"fds: the daemon raises its soft RLIMIT_NOFILE to the hard limit itself; each link holds ~7 fds and each "
    "parked long-poll one socket, so the hard limit bounds links and fallback sessions (LimitNOFILE= in the unit, "
    "prlimit --nofile for a running daemon).\","
    "\"CPU: idle links cost heartbeat pings (one each way every 500 ms unless traffic flows) in the daemon's "
    "main loop and the GStreamer threads; a longer [fastpath] heartbeat_interval_ms lowers it at the price of "
    "slower detection. The peers run on the same host, so helpers_cpu_pct competes with the daemon.\","
    "\"Redis part: one action per POST (sessions are independent), one long-poll parked per session, ack per "
    "batch; every action costs three HTTP requests on the daemon's single main loop, so the daemon's CPU (one "
    "core at most) bounds the rate; the pollers and controller share the same cores.\"");
  g_string_append_printf (out, "],\"total_secs\":%.1f}\n",
                          (g_get_monotonic_time () - t_start) / (gdouble) G_USEC_PER_SEC);
  print_table (runs, no_links ? 0 : n_ns, no_redis ? NULL : &rres);
  fputs (out->str, stdout);
  fflush (stdout);
  bench_rm_rf (o.tmp);
  g_free (o.tmp);
  g_free (o.self);
  g_free (o.manager);
  for (guint i = 0; i < n_ns; i++)
    g_free (runs[i].limit_hit);
  g_free (rres.limit_hit);
  g_free (rres.error);
  return 0;
}
