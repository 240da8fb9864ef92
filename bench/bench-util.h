/* bench-util.h: helpers shared by the benchmarks
 *
 * Starting beach-manager and reading its "listening on" line, blocking JSON
 * HTTP calls with a bearer token, register + lease, latency percentiles,
 * CPU time of a process and removing a temporary tree.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* BEACH_MANAGER_TOKEN given to every daemon the benchmarks start. */
#define BENCH_OPERATOR_TOKEN "bench-operator-token-0123456789abcdef"

/* -- misc ------------------------------------------------------------------ */

/* --manager's default: $BEACH_MANAGER, else the build tree's binary. */
gchar *bench_default_manager (void);

/* Removes PATH and, when it is a directory (not a link), all below it. */
void bench_rm_rf (const gchar *path);

/* A GSpawnChildSetupFunc: the child gets SIGTERM when this process dies,
 * so that it does not outlive an aborted bench (Linux only). */
void bench_die_with_parent (gpointer data);

/* The pid of PROC, 0 when NULL or no longer running. */
GPid bench_subprocess_pid (GSubprocess *proc);

/* utime + stime of PID (0: this process) in µs, 0 when unknown. */
gint64 bench_proc_cpu_us (GPid pid);

/* Peak resident set (VmHWM) of PID (0: this process) in KiB, 0 when
 * unknown. Read it before the process exits. */
gint64 bench_proc_peak_rss_kb (GPid pid);

/* -- latency statistics ---------------------------------------------------- */

typedef struct {
  guint n;
  gdouble p50, p99, p999, max, mean;
  gdouble after_p50, after_p99; /* only when bench_lat_stats() got AFTER */
} BenchLat;

/* qsort() comparator for gint64 */
gint bench_cmp_i64 (gconstpointer a, gconstpointer b);

/* The Q quantile of SORTED[0..n), µs in, ms out. */
gdouble bench_pct_ms (const gint64 *sorted, guint n, gdouble q);

/* Sorts LAT[0..n) (and AFTER, when not NULL) and fills OUT. N >= 1. */
void bench_lat_stats (gint64 *lat, gint64 *after, guint n, BenchLat *out);

/* -- HTTP ------------------------------------------------------------------ */

/* A session without proxy lookup (the daemon is on 127.0.0.1). */
SoupSession *bench_soup_session_new (void);

/* Called when a request fails below HTTP; returns a suffix for the error
 * (a newly allocated string, may be ""). NULL: no suffix. */
typedef gchar *(*BenchFailureHint) (void);
void bench_set_failure_hint (BenchFailureHint hint);

/* A blocking request with "Authorization: Bearer TOKEN" (none when TOKEN is
 * NULL) and BODY as application/json (none when NULL). Returns the status;
 * OUT gets the body. Transport errors are fatal. */
guint bench_request (SoupSession *session, const gchar *method, const gchar *url, const gchar *token, const gchar *body, GBytes **out);

/* bench_request() that must answer 200 with JSON; returns the JSON. */
JsonNode *bench_call (SoupSession *session, const gchar *method, const gchar *url, const gchar *token, const gchar *body);

/* Registers session SID on the daemon at BASE (TRANSPORT_MODE: NULL leaves
 * it to the daemon's default) and takes its controller lease for a day. */
void bench_open_session (SoupSession *session, const gchar *base, const gchar *operator_token, const gchar *sid, const gchar *transport_mode, gchar **session_token, gchar **lease_token);

/* Polls GET BASE/readyz every 20 ms until it answers 200; FALSE when that
 * takes more than TIMEOUT_US. */
gboolean bench_wait_ready (SoupSession *session, const gchar *base, gint64 timeout_us);

/* -- the daemon ------------------------------------------------------------ */

typedef enum {
  BENCH_DAEMON_NONE = 0,
  BENCH_DAEMON_KEEP_STDERR = 1 << 0,     /* else the daemon's stderr is silenced */
  BENCH_DAEMON_DIE_WITH_PARENT = 1 << 1, /* bench_die_with_parent() */
  BENCH_DAEMON_NO_DEBUG_ENV = 1 << 2,    /* unset G_MESSAGES_DEBUG */
} BenchDaemonFlags;

typedef struct {
  GSubprocess *proc;
  GDataInputStream *out; /* its stdout; kept open while it runs */
  gchar *url;            /* from "listening on URL" */
} BenchDaemon;

/* Spawns ARGV with XDG_CONFIG_HOME=CONFIG_DIR and BEACH_MANAGER_TOKEN=TOKEN,
 * its stdout piped. FALSE with ERROR when it cannot be started. */
gboolean bench_daemon_spawn (BenchDaemon *d, const gchar *const *argv, const gchar *config_dir, const gchar *token, BenchDaemonFlags flags, GError **error);

/* Reads the daemon's stdout up to "listening on URL" and sets d->url;
 * FALSE when the output ends first. */
gboolean bench_daemon_read_url (BenchDaemon *d);

/* SIGTERM to PROC and waits; TRUE when it ended by a signal or status 0. */
gboolean bench_process_stop (GSubprocess *proc);

/* bench_process_stop() on d->proc, TRUE when there is none. Frees nothing. */
gboolean bench_daemon_stop (BenchDaemon *d);

/* Stops the daemon when it still runs and frees the fields. */
void bench_daemon_clear (BenchDaemon *d);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (BenchDaemon, bench_daemon_clear)

G_END_DECLS
