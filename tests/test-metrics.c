/* test-metrics.c: BeachMetrics families, rendering, labels, removal
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gio.h>
#include <string.h>

#include "beach-metrics.h"

static const struct {
  const gchar *name;
  const gchar *type;
} families[] = {
  { "session_transport", "gauge" },
  { "fastpath_link_healthy", "gauge" },
  { "fastpath_heartbeat_rtt_seconds", "histogram" },
  { "fastpath_actions_sent_total", "counter" },
  { "fastpath_acks_received_total", "counter" },
  { "fastpath_state_received_total", "counter" },
  { "fastpath_failovers_total", "counter" },
  { "actions_enqueued_total", "counter" },
  { "actions_delivered_total", "counter" },
  { "actions_acked_total", "counter" },
  { "actions_queue_depth", "gauge" },
  { "actions_queue_pending", "gauge" },
  { "actions_dead_lettered_total", "counter" },
  { "redis_pending_reclaimed_total", "counter" },
  { "action_latency_seconds", "histogram" },
  { "harness_fastpath_state", "gauge" },
  { "controller_actions_dropped_total", "counter" },
  { "handshakes_total", "counter" },
  { "transport_transitions_total", "counter" },
  { "http_requests_total", "counter" },
  { "actions_ack_unknown_total", "counter" },
  { "events_subscribers", "gauge" },
  { "events_dropped_subscribers_total", "counter" },
};

static gboolean
has_line (const gchar *text, const gchar *line)
{
  g_autofree gchar *needle = g_strconcat ("\n", line, "\n", NULL);
  g_autofree gchar *haystack = g_strconcat ("\n", text, NULL);

  return strstr (haystack, needle) != NULL;
}

#define assert_line(text, line)                              \
  G_STMT_START                                               \
  {                                                          \
    if (!has_line ((text), (line)))                          \
      g_error ("missing line “%s” in:\n%s", (line), (text)); \
  }                                                          \
  G_STMT_END

#define assert_no_line(text, line)                              \
  G_STMT_START                                                  \
  {                                                             \
    if (has_line ((text), (line)))                              \
      g_error ("unexpected line “%s” in:\n%s", (line), (text)); \
  }                                                             \
  G_STMT_END

/* Sample lines as name → value, in rendered form. */
static GHashTable *
parse_samples (const gchar *text)
{
  GHashTable *samples = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++) {
    const gchar *space;
    gchar *key;

    if (lines[i][0] == '\0' || lines[i][0] == '#')
      continue;
    space = strrchr (lines[i], ' ');
    g_assert_nonnull (space);
    key = g_strndup (lines[i], space - lines[i]);
    /* every series is rendered once */
    g_assert_false (g_hash_table_contains (samples, key));
    g_hash_table_insert (samples, key, g_strdup (space + 1));
  }
  return samples;
}

static void
test_metrics_families (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *text = beach_metrics_render (metrics);
  g_autoptr (GHashTable) samples = parse_samples (text);
  guint n_type = 0;

  for (guint i = 0; i < G_N_ELEMENTS (families); i++) {
    g_autofree gchar *type = g_strdup_printf ("# TYPE %s %s", families[i].name, families[i].type);
    g_autofree gchar *help = g_strdup_printf ("# HELP %s ", families[i].name);
    g_autofree gchar *help_line = g_strconcat ("\n", help, NULL);
    g_autofree gchar *haystack = g_strconcat ("\n", text, NULL);

    assert_line (text, type);
    g_assert_nonnull (strstr (haystack, help_line));
    if (strcmp (families[i].type, "counter") == 0)
      g_assert_true (g_str_has_suffix (families[i].name, "_total"));
  }
  for (const gchar *p = text; (p = strstr (p, "# TYPE ")) != NULL; p++)
    n_type++;
  g_assert_cmpuint (n_type, ==, G_N_ELEMENTS (families));
  g_assert_null (strstr (text, "redis_available"));

  /* only the label-less globals have a series before any traffic */
  g_assert_cmpuint (g_hash_table_size (samples), ==, 3);
  assert_line (text, "actions_ack_unknown_total 0");
  assert_line (text, "events_subscribers 0");
  assert_line (text, "events_dropped_subscribers_total 0");
}

static void
test_metrics_counter_gauge (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *ok = beach_metrics_session_labels ("pb", "s1", "status", "ok", NULL);
  g_autofree gchar *tcp = beach_metrics_session_labels ("pb", "s1", "transport", "fast_path", NULL);
  g_autofree gchar *plain = beach_metrics_session_base_labels ("pb", "s1");
  g_autofree gchar *plain2 = beach_metrics_session_labels ("pb", "s1", NULL, NULL);
  g_autofree gchar *route = beach_metrics_labels ("route", "/sessions/:id/actions/poll", "code", "200", NULL);
  g_autofree gchar *text = NULL;

  g_assert_cmpstr (ok, ==, "private_beach_id=\"pb\",session_id=\"s1\",status=\"ok\"");
  g_assert_cmpstr (plain, ==, "private_beach_id=\"pb\",session_id=\"s1\"");
  g_assert_cmpstr (plain2, ==, plain);

  beach_metrics_counter_add (metrics, "actions_acked_total", ok, 1);
  beach_metrics_counter_add (metrics, "actions_acked_total", ok, 2);
  beach_metrics_counter_add (metrics, "http_requests_total", route, 1);
  beach_metrics_counter_add (metrics, "actions_ack_unknown_total", NULL, 5);
  beach_metrics_gauge_set (metrics, "session_transport", tcp, 1);
  beach_metrics_gauge_set (metrics, "actions_queue_depth", plain, 0.1);
  beach_metrics_gauge_set (metrics, "actions_queue_pending", plain, 12);
  beach_metrics_gauge_set (metrics, "actions_queue_pending", plain, 7);
  beach_metrics_gauge_set (metrics, "events_subscribers", "", 1e20);

  g_assert_cmpfloat (beach_metrics_get (metrics, "actions_acked_total", ok), ==, 3);
  g_assert_cmpfloat (beach_metrics_get (metrics, "actions_queue_pending", plain), ==, 7);
  g_assert_cmpfloat (beach_metrics_get (metrics, "actions_enqueued_total", plain), ==, 0);
  g_assert_cmpfloat (beach_metrics_get (metrics, "actions_ack_unknown_total", NULL), ==, 5);

  text = beach_metrics_render (metrics);
  assert_line (text, "actions_acked_total{private_beach_id=\"pb\",session_id=\"s1\",status=\"ok\"} 3");
  assert_line (text, "http_requests_total{route=\"/sessions/:id/actions/poll\",code=\"200\"} 1");
  assert_line (text, "actions_ack_unknown_total 5");
  assert_line (text, "session_transport{private_beach_id=\"pb\",session_id=\"s1\",transport=\"fast_path\"} 1");
  assert_line (text, "actions_queue_depth{private_beach_id=\"pb\",session_id=\"s1\"} 0.1");
  assert_line (text, "actions_queue_pending{private_beach_id=\"pb\",session_id=\"s1\"} 7");
  assert_line (text, "events_subscribers 1e+20");

  /* a series goes back to absent, not to 0 */
  beach_metrics_remove_series (metrics, "session_transport", tcp);
  g_clear_pointer (&text, g_free);
  text = beach_metrics_render (metrics);
  g_assert_null (strstr (text, "session_transport{"));
  assert_line (text, "# TYPE session_transport gauge");
}

static void
test_metrics_histogram (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *l = beach_metrics_session_base_labels ("pb", "s1");
  g_autofree gchar *text = NULL;
  g_autoptr (GHashTable) samples = NULL;
  static const struct {
    const gchar *le;
    guint count;
  } expected[] = {
    { "0.0001", 1 },
    { "0.00025", 1 },
    { "0.0005", 1 },
    { "0.001", 1 },
    { "0.0025", 1 },
    { "0.005", 1 },
    { "0.01", 1 },
    { "0.025", 1 },
    { "0.05", 1 },
    { "0.1", 1 },
    { "0.25", 2 },
    { "0.5", 3 },
    { "1", 3 },
    { "2.5", 3 },
    { "+Inf", 4 },
  };
  const gchar *sum;

  beach_metrics_histogram_observe (metrics, "action_latency_seconds", l, 0.00005);
  beach_metrics_histogram_observe (metrics, "action_latency_seconds", l, 0.125);
  /* a bound is inclusive (le) */
  beach_metrics_histogram_observe (metrics, "action_latency_seconds", l, 0.5);
  beach_metrics_histogram_observe (metrics, "action_latency_seconds", l, 4);
  beach_metrics_histogram_observe (metrics, "fastpath_heartbeat_rtt_seconds", NULL, 0.002);

  g_assert_cmpfloat (beach_metrics_get (metrics, "action_latency_seconds", l), ==, 4);

  text = beach_metrics_render (metrics);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
    g_autofree gchar *line = g_strdup_printf ("action_latency_seconds_bucket{%s,le=\"%s\"} %u",
                                              l, expected[i].le, expected[i].count);

    assert_line (text, line);
  }
  samples = parse_samples (text);
  {
    g_autofree gchar *key = g_strdup_printf ("action_latency_seconds_sum{%s}", l);

    sum = g_hash_table_lookup (samples, key);
    g_assert_nonnull (sum);
    g_assert_cmpfloat_with_epsilon (g_ascii_strtod (sum, NULL), 4.62505, 1e-12);
  }
  {
    g_autofree gchar *line = g_strdup_printf ("action_latency_seconds_count{%s} 4", l);

    assert_line (text, line);
  }
  /* label-less histograms: le is the only label */
  assert_line (text, "fastpath_heartbeat_rtt_seconds_bucket{le=\"0.001\"} 0");
  assert_line (text, "fastpath_heartbeat_rtt_seconds_bucket{le=\"0.0025\"} 1");
  assert_line (text, "fastpath_heartbeat_rtt_seconds_bucket{le=\"+Inf\"} 1");
  assert_line (text, "fastpath_heartbeat_rtt_seconds_sum 0.002");
  assert_line (text, "fastpath_heartbeat_rtt_seconds_count 1");

  /* buckets come in ascending order, +Inf last, then _sum and _count */
  {
    const gchar *first = strstr (text, "action_latency_seconds_bucket{");
    const gchar *inf = strstr (text, "le=\"+Inf\"} 4");
    const gchar *sum_line = strstr (text, "action_latency_seconds_sum{");
    const gchar *count_line = strstr (text, "action_latency_seconds_count{");

    g_assert_true (first < inf && inf < sum_line && sum_line < count_line);
    g_assert_nonnull (strstr (first, "le=\"0.0001\"} 1\naction_latency_seconds_bucket{"));
  }
}

static void
test_metrics_label_escaping (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *l = beach_metrics_labels ("reason", "a\\b\"c\nd", NULL);
  g_autofree gchar *empty = beach_metrics_labels (NULL, NULL);
  g_autofree gchar *null_value = beach_metrics_labels ("reason", NULL, NULL);
  g_autofree gchar *session = beach_metrics_session_labels ("p\"1", "s\\1", "reason", "x\ny", NULL);
  g_autofree gchar *text = NULL;

  g_assert_cmpstr (l, ==, "reason=\"a\\\\b\\\"c\\nd\"");
  g_assert_cmpstr (empty, ==, "");
  g_assert_cmpstr (null_value, ==, "reason=\"\"");
  g_assert_cmpstr (session, ==, "private_beach_id=\"p\\\"1\",session_id=\"s\\\\1\",reason=\"x\\ny\"");

  beach_metrics_counter_add (metrics, "controller_actions_dropped_total", l, 2);
  beach_metrics_counter_add (metrics, "actions_dead_lettered_total", session, 1);
  text = beach_metrics_render (metrics);
  assert_line (text, "controller_actions_dropped_total{reason=\"a\\\\b\\\"c\\nd\"} 2");
  assert_line (text, "actions_dead_lettered_total{private_beach_id=\"p\\\"1\",session_id=\"s\\\\1\",reason=\"x\\ny\"} 1");

  beach_metrics_remove_session (metrics, "p\"1", "s\\1");
  g_clear_pointer (&text, g_free);
  text = beach_metrics_render (metrics);
  g_assert_null (strstr (text, "actions_dead_lettered_total{"));
}

static void
populate_session (BeachMetrics *metrics, const gchar *beach, const gchar *session)
{
  g_autofree gchar *plain = beach_metrics_session_base_labels (beach, session);
  g_autofree gchar *acked = beach_metrics_session_labels (beach, session, "status", "ok", NULL);
  /* a value that contains another session's label text */
  g_autofree gchar *tricky = beach_metrics_session_labels (beach, session, "reason", "session_id=\"abc\"", NULL);

  beach_metrics_counter_add (metrics, "actions_enqueued_total", plain, 1);
  beach_metrics_counter_add (metrics, "actions_acked_total", acked, 1);
  beach_metrics_counter_add (metrics, "fastpath_failovers_total", tricky, 1);
  beach_metrics_gauge_set (metrics, "actions_queue_depth", plain, 3);
  beach_metrics_histogram_observe (metrics, "action_latency_seconds", plain, 0.01);
}

static guint
count_session_series (const gchar *text, const gchar *beach, const gchar *session)
{
  g_autofree gchar *needle = g_strdup_printf ("{private_beach_id=\"%s\",session_id=\"%s\"", beach, session);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++) {
    const gchar *brace = strchr (lines[i], '{');
    gsize len = strlen (needle);

    if (brace != NULL && strncmp (brace, needle, len) == 0 && (brace[len] == ',' || brace[len] == '}'))
      n++;
  }
  return n;
}

static void
test_metrics_remove_session (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *before = NULL;
  g_autofree gchar *after = NULL;
  g_autofree gchar *route = beach_metrics_labels ("route", "/sessions/:id", "code", "200", NULL);
  const gchar *sessions[] = { "ab", "abc", "abcd" };
  guint per_session;

  for (guint i = 0; i < G_N_ELEMENTS (sessions); i++)
    populate_session (metrics, "pb", sessions[i]);
  populate_session (metrics, "pb2", "abc");
  beach_metrics_counter_add (metrics, "http_requests_total", route, 1);

  before = beach_metrics_render (metrics);
  /* 3 counters, 1 gauge, 15 buckets + sum + count */
  per_session = 3 + 1 + 17;
  g_assert_cmpuint (count_session_series (before, "pb", "abc"), ==, per_session);

  beach_metrics_remove_session (metrics, "pb", "abc");
  after = beach_metrics_render (metrics);
  g_assert_cmpuint (count_session_series (after, "pb", "abc"), ==, 0);
  g_assert_cmpuint (count_session_series (after, "pb", "ab"), ==, per_session);
  g_assert_cmpuint (count_session_series (after, "pb", "abcd"), ==, per_session);
  g_assert_cmpuint (count_session_series (after, "pb2", "abc"), ==, per_session);
  assert_line (after, "http_requests_total{route=\"/sessions/:id\",code=\"200\"} 1");
  /* HELP and TYPE stay */
  assert_line (after, "# TYPE actions_enqueued_total counter");

  /* removing an unknown session is harmless */
  beach_metrics_remove_session (metrics, "pb", "zzz");
}

static void
test_metrics_variant (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autoptr (GVariant) variant = NULL;
  g_autoptr (GHashTable) samples = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *transition = beach_metrics_labels ("from", "pending", "to", "fast_path", "reason", "link_healthy", NULL);
  GVariantIter iter;
  const gchar *key;
  gdouble value;
  guint n = 0;

  populate_session (metrics, "pb", "s1");
  beach_metrics_counter_add (metrics, "transport_transitions_total", transition, 1);
  beach_metrics_gauge_set (metrics, "actions_queue_depth", "private_beach_id=\"pb\",session_id=\"s1\"", 2.5);
  beach_metrics_histogram_observe (metrics, "fastpath_heartbeat_rtt_seconds", NULL, 0.0003);
  beach_metrics_set_redis_enabled (metrics, TRUE);
  beach_metrics_gauge_set (metrics, "redis_available", NULL, 1);

  text = beach_metrics_render (metrics);
  samples = parse_samples (text);
  variant = g_variant_ref_sink (beach_metrics_to_variant (metrics));
  g_assert_cmpstr (g_variant_get_type_string (variant), ==, "a{sd}");

  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "{&sd}", &key, &value)) {
    const gchar *rendered = g_hash_table_lookup (samples, key);

    if (rendered == NULL)
      g_error ("variant key “%s” is not a rendered series", key);
    g_assert_cmpfloat (g_ascii_strtod (rendered, NULL), ==, value);
    n++;
  }
  g_assert_cmpuint (n, ==, g_hash_table_size (samples));
  g_assert_true (g_hash_table_contains (samples, "redis_available"));
  g_assert_true (g_hash_table_contains (samples, "fastpath_heartbeat_rtt_seconds_bucket{le=\"0.0005\"}"));
  g_assert_true (g_hash_table_contains (samples, "fastpath_heartbeat_rtt_seconds_sum"));
}

static void
test_metrics_redis (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *off = NULL;
  g_autofree gchar *on = NULL;
  g_autofree gchar *off_again = NULL;
  g_autoptr (GVariant) variant = NULL;
  GVariantIter iter;
  const gchar *key;
  gdouble value;

  g_assert_false (beach_metrics_get_redis_enabled (metrics));
  off = beach_metrics_render (metrics);
  g_assert_null (strstr (off, "redis_available"));
  variant = g_variant_ref_sink (beach_metrics_to_variant (metrics));
  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "{&sd}", &key, &value))
    g_assert_false (g_str_has_prefix (key, "redis_available"));

  beach_metrics_set_redis_enabled (metrics, TRUE);
  on = beach_metrics_render (metrics);
  assert_line (on, "# TYPE redis_available gauge");
  g_assert_nonnull (strstr (on, "\n# HELP redis_available "));
  beach_metrics_gauge_set (metrics, "redis_available", NULL, 1);
  g_clear_pointer (&on, g_free);
  on = beach_metrics_render (metrics);
  assert_line (on, "redis_available 1");

  beach_metrics_set_redis_enabled (metrics, FALSE);
  off_again = beach_metrics_render (metrics);
  g_assert_null (strstr (off_again, "redis_available"));
}

static void
test_metrics_misuse (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *text = NULL;

  g_test_expect_message ("beach-metrics", G_LOG_LEVEL_CRITICAL, "*not_a_family_total*not registered*");
  beach_metrics_counter_add (metrics, "not_a_family_total", NULL, 1);
  g_test_assert_expected_messages ();

  g_test_expect_message ("beach-metrics", G_LOG_LEVEL_CRITICAL, "*events_subscribers*gauge, not a counter*");
  beach_metrics_counter_add (metrics, "events_subscribers", NULL, 1);
  g_test_assert_expected_messages ();

  g_test_expect_message ("beach-metrics", G_LOG_LEVEL_CRITICAL, "*action_latency_seconds*histogram, not a gauge*");
  beach_metrics_gauge_set (metrics, "action_latency_seconds", NULL, 1);
  g_test_assert_expected_messages ();

  text = beach_metrics_render (metrics);
  g_assert_null (strstr (text, "not_a_family"));
  assert_line (text, "events_subscribers 0");
  g_assert_null (strstr (text, "action_latency_seconds_count"));
}

static void
test_metrics_promtool (void)
{
  g_autoptr (BeachMetrics) metrics = beach_metrics_new ();
  g_autofree gchar *promtool = g_find_program_in_path ("promtool");
  g_autofree gchar *text = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autofree gchar *route = beach_metrics_labels ("route", "unmatched", "code", "404", NULL);
  g_autofree gchar *odd = beach_metrics_labels ("reason", "quote \" backslash \\ newline \n end", NULL);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;

  if (promtool == NULL) {
    g_test_skip ("promtool not found (Debian package prometheus)");
    return;
  }

  populate_session (metrics, "pb", "s1");
  populate_session (metrics, "pb", "s2");
  beach_metrics_counter_add (metrics, "http_requests_total", route, 3);
  beach_metrics_counter_add (metrics, "controller_actions_dropped_total", odd, 1);
  beach_metrics_gauge_set (metrics, "events_subscribers", NULL, 2);
  beach_metrics_histogram_observe (metrics, "fastpath_heartbeat_rtt_seconds", NULL, 0.0123);
  beach_metrics_set_redis_enabled (metrics, TRUE);
  beach_metrics_gauge_set (metrics, "redis_available", NULL, 1);
  text = beach_metrics_render (metrics);

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                           &error, promtool, "check", "metrics", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, text, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_test_message ("promtool: %s%s", out, err);
  /* promtool exits 1 on a parse error and 3 on lint findings; every name
   * here follows both WIRE.md and the Prometheus conventions, so neither
   * is expected */
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/metrics/families", test_metrics_families);
  g_test_add_func ("/metrics/counter-gauge", test_metrics_counter_gauge);
  g_test_add_func ("/metrics/histogram", test_metrics_histogram);
  g_test_add_func ("/metrics/label-escaping", test_metrics_label_escaping);
  g_test_add_func ("/metrics/remove-session", test_metrics_remove_session);
  g_test_add_func ("/metrics/variant", test_metrics_variant);
  g_test_add_func ("/metrics/redis", test_metrics_redis);
  g_test_add_func ("/metrics/misuse", test_metrics_misuse);
  g_test_add_func ("/metrics/promtool", test_metrics_promtool);

  return g_test_run ();
}
