/* beach-metrics.c: the daemon's one store of counters, gauges and histograms
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-metrics"

#include "config.h"

#include <math.h>
#include <string.h>

#include "beach-metrics.h"

typedef enum {
  METRIC_COUNTER,
  METRIC_GAUGE,
  METRIC_HISTOGRAM,
} MetricType;

/* WIRE.md "Details": 100 µs to 2.5 s; +Inf is implied by the count. */
static const gdouble histogram_bounds[] = {
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
  0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};
#define N_BOUNDS G_N_ELEMENTS (histogram_bounds)

typedef struct {
  const gchar *name;
  MetricType type;
  /* carries private_beach_id and session_id, so remove_session looks here */
  gboolean per_session;
  /* a label-less family gets its one series at 0 from the start, so a
   * scrape before the first event still sees the value */
  gboolean zero_at_start;
  /* only meaningful with the Redis backend (WIRE.md: absent otherwise) */
  gboolean redis_only;
  const gchar *help;
} FamilyInfo;

static const FamilyInfo family_infos[] = {
  /* per session */
  { "session_transport", METRIC_GAUGE, TRUE, FALSE, FALSE,
    "Current transport of the session: 1 for the labelled transport, 0 for the others." },
  { "fastpath_link_healthy", METRIC_GAUGE, TRUE, FALSE, FALSE,
    "1 while the session's fast-path link is healthy, else 0." },
  { "fastpath_heartbeat_rtt_seconds", METRIC_HISTOGRAM, TRUE, FALSE, FALSE,
    "Round-trip time of fast-path heartbeats." },
  { "fastpath_actions_sent_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Actions sent to the harness over the fast path." },
  { "fastpath_acks_received_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Action acks received over the fast path." },
  { "fastpath_state_received_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "State diffs received over the fast path." },
  { "fastpath_failovers_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Demotions from the fast path to the fallback queue, by reason." },
  { "actions_enqueued_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Actions written to the fallback queue." },
  { "actions_delivered_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Fallback-queue entries delivered to the harness, redeliveries included." },
  { "actions_acked_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Actions settled, by status." },
  { "actions_queue_depth", METRIC_GAUGE, TRUE, FALSE, FALSE,
    "Unacked entries in the session's fallback queue." },
  { "actions_queue_pending", METRIC_GAUGE, TRUE, FALSE, FALSE,
    "Fallback-queue entries delivered and not yet acked." },
  { "actions_dead_lettered_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Actions moved to the dead letters, by reason." },
  { "redis_pending_reclaimed_total", METRIC_COUNTER, TRUE, FALSE, FALSE,
    "Delivered entries reclaimed for redelivery (either queue backend)." },
  { "action_latency_seconds", METRIC_HISTOGRAM, TRUE, FALSE, FALSE,
    "Time from accepting an action to its ack." },
  { "harness_fastpath_state", METRIC_GAUGE, TRUE, FALSE, FALSE,
    "Fast-path state the harness last reported: 1 for the labelled state, 0 for the others." },
  /* global */
  { "controller_actions_dropped_total", METRIC_COUNTER, FALSE, FALSE, FALSE,
    "Controller actions refused without being queued, by reason." },
  { "handshakes_total", METRIC_COUNTER, FALSE, FALSE, FALSE,
    "Controller handshakes issued, by kind." },
  { "transport_transitions_total", METRIC_COUNTER, FALSE, FALSE, FALSE,
    "Session transport transitions, by from, to and reason." },
  { "http_requests_total", METRIC_COUNTER, FALSE, FALSE, FALSE,
    "HTTP requests answered, by route pattern and status code." },
  { "actions_ack_unknown_total", METRIC_COUNTER, FALSE, TRUE, FALSE,
    "Acks naming an action id the queue does not know." },
  { "redis_available", METRIC_GAUGE, FALSE, FALSE, TRUE,
    "1 while the Redis backend answers, else 0." },
  { "cluster_instances", METRIC_GAUGE, FALSE, FALSE, TRUE,
    "Manager instances heart-beating on this Redis, this one included." },
  { "cluster_owned_sessions", METRIC_GAUGE, FALSE, TRUE, TRUE,
    "Sessions whose healthy primary link ends on this manager (it holds their owner record)." },
  { "cluster_actions_forwarded_total", METRIC_COUNTER, FALSE, TRUE, TRUE,
    "Actions this manager accepted and appended to another manager's inbox." },
  { "cluster_inbox_actions_total", METRIC_COUNTER, FALSE, TRUE, TRUE,
    "Actions this manager took from its inbox (forwarded to it by others)." },
  { "cluster_actions_reclaimed_total", METRIC_COUNTER, FALSE, TRUE, TRUE,
    "Actions of a dead manager (its inbox and in-flight records) this manager moved to the fallback queues." },
  { "events_subscribers", METRIC_GAUGE, FALSE, TRUE, FALSE,
    "Live Server-Sent Events subscribers." },
  { "events_dropped_subscribers_total", METRIC_COUNTER, FALSE, TRUE, FALSE,
    "Server-Sent Events subscribers disconnected for falling too far behind." },
};

typedef struct {
  gchar *labels;
  gdouble value;
  /* histograms only */
  gdouble sum;
  guint64 count;
  guint64 *buckets; /* per bucket, not cumulated; render cumulates */
} Series;

typedef struct {
  const FamilyInfo *info;
  GHashTable *series; /* labels → Series */
} Family;

struct _BeachMetrics {
  GObject parent_instance;

  GHashTable *families; /* name → Family, borrowed from order */
  GPtrArray *order;     /* Family, owned; registration order is render order */
  gboolean redis_enabled;
};

G_DEFINE_FINAL_TYPE (BeachMetrics, beach_metrics, G_TYPE_OBJECT)

static const gchar *
metric_type_to_string (MetricType type)
{
  switch (type) {
    case METRIC_COUNTER:
      return "counter";
    case METRIC_GAUGE:
      return "gauge";
    case METRIC_HISTOGRAM:
      return "histogram";
    default:
      g_assert_not_reached ();
  }
}

static void
series_free (Series *s)
{
  g_free (s->labels);
  g_free (s->buckets);
  g_free (s);
}

static void
family_free (Family *fam)
{
  g_hash_table_unref (fam->series);
  g_free (fam);
}

static Series *
family_ensure_series (Family *fam, const gchar *labels)
{
  Series *s = g_hash_table_lookup (fam->series, labels);

  if (s != NULL)
    return s;
  s = g_new0 (Series, 1);
  s->labels = g_strdup (labels);
  if (fam->info->type == METRIC_HISTOGRAM)
    s->buckets = g_new0 (guint64, N_BOUNDS);
  g_hash_table_insert (fam->series, s->labels, s);
  return s;
}

static gboolean
family_visible (BeachMetrics *self, Family *fam)
{
  return !fam->info->redis_only || self->redis_enabled;
}

static void
beach_metrics_finalize (GObject *object)
{
  BeachMetrics *self = BEACH_METRICS (object);

  g_clear_pointer (&self->families, g_hash_table_unref);
  g_clear_pointer (&self->order, g_ptr_array_unref);

  G_OBJECT_CLASS (beach_metrics_parent_class)->finalize (object);
}

static void
beach_metrics_class_init (BeachMetricsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = beach_metrics_finalize;
}

static void
beach_metrics_init (BeachMetrics *self)
{
  self->families = g_hash_table_new (g_str_hash, g_str_equal);
  self->order = g_ptr_array_new_with_free_func ((GDestroyNotify) family_free);

  for (guint i = 0; i < G_N_ELEMENTS (family_infos); i++) {
    Family *fam = g_new0 (Family, 1);

    fam->info = &family_infos[i];
    fam->series = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) series_free);
    if (fam->info->zero_at_start)
      family_ensure_series (fam, "");
    g_ptr_array_add (self->order, fam);
    g_hash_table_insert (self->families, (gpointer) fam->info->name, fam);
  }
}

/**
 * beach_metrics_new:
 *
 * Creates the store with every family of WIRE.md "Metrics" registered, so
 * each one renders its HELP and TYPE before it has a series.
 *
 * Returns: (transfer full): a new #BeachMetrics
 */
BeachMetrics *
beach_metrics_new (void)
{
  return g_object_new (BEACH_TYPE_METRICS, NULL);
}

/* Unknown families and type mix-ups are bugs in the caller, never input
 * from outside, so they are criticals rather than errors. */
static Family *
lookup_family (BeachMetrics *self, const gchar *name, gint type)
{
  Family *fam = g_hash_table_lookup (self->families, name);

  if (fam == NULL) {
    g_critical ("metric family “%s” is not registered", name);
    return NULL;
  }
  if (type >= 0 && fam->info->type != (MetricType) type) {
    g_critical ("metric family “%s” is a %s, not a %s", name,
                metric_type_to_string (fam->info->type),
                metric_type_to_string ((MetricType) type));
    return NULL;
  }
  return fam;
}

/**
 * beach_metrics_counter_add:
 * @self: a #BeachMetrics
 * @family: a registered counter family
 * @labels: (nullable): a label body from beach_metrics_labels(), or %NULL
 * @value: a non-negative increment
 *
 * Adds @value to the counter series, creating it at 0 first.
 */
void
beach_metrics_counter_add (BeachMetrics *self,
                           const gchar *family,
                           const gchar *labels,
                           gdouble value)
{
  Family *fam;

  g_return_if_fail (BEACH_IS_METRICS (self));
  g_return_if_fail (family != NULL);
  g_return_if_fail (value >= 0);

  fam = lookup_family (self, family, METRIC_COUNTER);
  if (fam == NULL)
    return;
  family_ensure_series (fam, labels != NULL ? labels : "")->value += value;
}

/**
 * beach_metrics_gauge_set:
 * @self: a #BeachMetrics
 * @family: a registered gauge family
 * @labels: (nullable): a label body from beach_metrics_labels(), or %NULL
 * @value: the new value
 *
 * Sets the gauge series, creating it if needed.
 */
void
beach_metrics_gauge_set (BeachMetrics *self,
                         const gchar *family,
                         const gchar *labels,
                         gdouble value)
{
  Family *fam;

  g_return_if_fail (BEACH_IS_METRICS (self));
  g_return_if_fail (family != NULL);

  fam = lookup_family (self, family, METRIC_GAUGE);
  if (fam == NULL)
    return;
  family_ensure_series (fam, labels != NULL ? labels : "")->value = value;
}

/**
 * beach_metrics_histogram_observe:
 * @self: a #BeachMetrics
 * @family: a registered histogram family
 * @labels: (nullable): a label body from beach_metrics_labels(), or %NULL
 * @seconds: the observed duration
 *
 * Records one observation. A negative duration (a wall clock stepping
 * back) counts as 0 rather than corrupting the sum.
 */
void
beach_metrics_histogram_observe (BeachMetrics *self,
                                 const gchar *family,
                                 const gchar *labels,
                                 gdouble seconds)
{
  Family *fam;
  Series *s;

  g_return_if_fail (BEACH_IS_METRICS (self));
  g_return_if_fail (family != NULL);
  g_return_if_fail (!isnan (seconds));

  fam = lookup_family (self, family, METRIC_HISTOGRAM);
  if (fam == NULL)
    return;
  if (seconds < 0)
    seconds = 0;
  s = family_ensure_series (fam, labels != NULL ? labels : "");
  s->count++;
  s->sum += seconds;
  for (guint i = 0; i < N_BOUNDS; i++) {
    if (seconds <= histogram_bounds[i]) {
      s->buckets[i]++;
      break;
    }
  }
}

/**
 * beach_metrics_get:
 * @self: a #BeachMetrics
 * @family: a registered family
 * @labels: (nullable): a label body, or %NULL
 *
 * Returns: the counter or gauge value, or a histogram's observation count;
 *   0 when the series does not exist
 */
gdouble
beach_metrics_get (BeachMetrics *self, const gchar *family, const gchar *labels)
{
  Family *fam;
  Series *s;

  g_return_val_if_fail (BEACH_IS_METRICS (self), 0);
  g_return_val_if_fail (family != NULL, 0);

  fam = lookup_family (self, family, -1);
  if (fam == NULL)
    return 0;
  s = g_hash_table_lookup (fam->series, labels != NULL ? labels : "");
  if (s == NULL)
    return 0;
  return fam->info->type == METRIC_HISTOGRAM ? (gdouble) s->count : s->value;
}

static gboolean
label_name_is_valid (const gchar *name)
{
  if (name == NULL || !(g_ascii_isalpha (name[0]) || name[0] == '_'))
    return FALSE;
  for (const gchar *p = name + 1; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '_')
      return FALSE;
  }
  return TRUE;
}

static void
append_label (GString *out, const gchar *key, const gchar *value)
{
  if (!label_name_is_valid (key)) {
    g_critical ("“%s” is not a valid metric label name", key);
    return;
  }
  if (out->len > 0)
    g_string_append_c (out, ',');
  g_string_append (out, key);
  g_string_append (out, "=\"");
  for (const gchar *p = value != NULL ? value : ""; *p != '\0'; p++) {
    switch (*p) {
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      default:
        g_string_append_c (out, *p);
        break;
    }
  }
  g_string_append_c (out, '"');
}

static void
append_labels_valist (GString *out, const gchar *first_key, va_list args)
{
  for (const gchar *key = first_key; key != NULL; key = va_arg (args, const gchar *)) {
    const gchar *value = va_arg (args, const gchar *);

    append_label (out, key, value);
  }
}

/**
 * beach_metrics_labels:
 * @first_key: (nullable): the first label name, or %NULL for no labels
 * @...: its value, then further name/value pairs, ending with %NULL
 *
 * Builds a label body with the values escaped for the text format
 * (`\\`, `\"`, `\n`). A %NULL value renders as the empty string.
 *
 * Returns: (transfer full): a label body such as `status="ok"`
 */
gchar *
beach_metrics_labels (const gchar *first_key, ...)
{
  GString *out = g_string_new (NULL);
  va_list args;

  va_start (args, first_key);
  append_labels_valist (out, first_key, args);
  va_end (args);
  return g_string_free (out, FALSE);
}

/**
 * beach_metrics_session_labels:
 * @private_beach_id: the session's private beach
 * @session_id: the session
 * @first_key: (nullable): a further label name, or %NULL
 * @...: its value, then further name/value pairs, ending with %NULL
 *
 * Like beach_metrics_labels() with the two per-session labels first, in
 * the order beach_metrics_remove_session() expects to find them.
 *
 * Returns: (transfer full): a label body
 */
gchar *
beach_metrics_session_labels (const gchar *private_beach_id,
                              const gchar *session_id,
                              const gchar *first_key,
                              ...)
{
  GString *out = g_string_new (NULL);
  va_list args;

  append_label (out, "private_beach_id", private_beach_id);
  append_label (out, "session_id", session_id);
  va_start (args, first_key);
  append_labels_valist (out, first_key, args);
  va_end (args);
  return g_string_free (out, FALSE);
}

/**
 * beach_metrics_session_base_labels:
 * @private_beach_id: the session's private beach
 * @session_id: the session
 *
 * The two per-session labels alone. beach_metrics_session_labels() cannot
 * be called with no further pair without tripping its sentinel check
 * (`NULL, NULL` would do), and most per-session series need no more.
 *
 * Returns: (transfer full): `private_beach_id="…",session_id="…"`
 */
gchar *
beach_metrics_session_base_labels (const gchar *private_beach_id,
                                   const gchar *session_id)
{
  GString *out = g_string_new (NULL);

  append_label (out, "private_beach_id", private_beach_id);
  append_label (out, "session_id", session_id);
  return g_string_free (out, FALSE);
}

/* Walks the pairs of a label body rather than searching for a substring,
 * so session "s" never matches session "s2" or a value that happens to
 * contain `session_id="s"`. @escaped_value is compared in escaped form. */
static gboolean
label_body_has (const gchar *body, const gchar *key, const gchar *escaped_value)
{
  gsize key_len = strlen (key);
  gsize value_len = strlen (escaped_value);
  const gchar *p = body;

  while (*p != '\0') {
    const gchar *eq = strchr (p, '=');
    const gchar *value;
    const gchar *q;

    if (eq == NULL || eq[1] != '"')
      return FALSE;
    value = eq + 2;
    for (q = value; *q != '\0' && *q != '"'; q++) {
      if (*q == '\\' && q[1] != '\0')
        q++;
    }
    if (*q != '"')
      return FALSE;
    if ((gsize) (eq - p) == key_len && strncmp (p, key, key_len) == 0 && (gsize) (q - value) == value_len && strncmp (value, escaped_value, value_len) == 0)
      return TRUE;
    p = q + 1;
    if (*p == ',')
      p++;
    else if (*p != '\0')
      return FALSE;
  }
  return FALSE;
}

typedef struct {
  gchar *beach;   /* escaped */
  gchar *session; /* escaped */
} SessionMatch;

static gboolean
series_is_session (gpointer key, gpointer value, gpointer user_data)
{
  const SessionMatch *match = user_data;

  return label_body_has (key, "session_id", match->session) && label_body_has (key, "private_beach_id", match->beach);
}

static gchar *
escape_label_value (const gchar *value)
{
  g_autoptr (GString) out = g_string_new (NULL);
  gsize prefix = strlen ("k=\"");

  append_label (out, "k", value);
  /* strip `k="` and the closing quote */
  return g_strndup (out->str + prefix, out->len - prefix - 1);
}

/**
 * beach_metrics_remove_session:
 * @self: a #BeachMetrics
 * @private_beach_id: the session's private beach
 * @session_id: the session
 *
 * Drops every series carrying both labels, as WIRE.md asks for a removed
 * session. This walks the per-session families once; sessions are removed
 * rarely enough that an index is not worth its upkeep on every update.
 */
void
beach_metrics_remove_session (BeachMetrics *self,
                              const gchar *private_beach_id,
                              const gchar *session_id)
{
  g_autofree gchar *beach = NULL;
  g_autofree gchar *session = NULL;
  SessionMatch match;

  g_return_if_fail (BEACH_IS_METRICS (self));
  g_return_if_fail (private_beach_id != NULL);
  g_return_if_fail (session_id != NULL);

  beach = escape_label_value (private_beach_id);
  session = escape_label_value (session_id);
  match.beach = beach;
  match.session = session;
  for (guint i = 0; i < self->order->len; i++) {
    Family *fam = g_ptr_array_index (self->order, i);

    if (fam->info->per_session)
      g_hash_table_foreach_remove (fam->series, series_is_session, &match);
  }
}

/**
 * beach_metrics_remove_series:
 * @self: a #BeachMetrics
 * @family: a registered family
 * @labels: (nullable): the label body of the series
 *
 * Drops one series, e.g. a `session_transport` label that no longer applies.
 */
void
beach_metrics_remove_series (BeachMetrics *self,
                             const gchar *family,
                             const gchar *labels)
{
  Family *fam;

  g_return_if_fail (BEACH_IS_METRICS (self));
  g_return_if_fail (family != NULL);

  fam = lookup_family (self, family, -1);
  if (fam != NULL)
    g_hash_table_remove (fam->series, labels != NULL ? labels : "");
}

/* Integers print without a decimal point; everything else in the shortest
 * form that reads back to the same double, always in the C locale. */
static void
append_number (GString *out, gdouble v)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (v)) {
    g_string_append (out, "NaN");
    return;
  }
  if (isinf (v)) {
    g_string_append (out, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v == floor (v) && fabs (v) <= 9007199254740992.0) {
    g_string_append_printf (out, "%" G_GINT64_FORMAT, (gint64) v);
    return;
  }
  g_ascii_formatd (buf, sizeof buf, "%.15g", v);
  if (g_ascii_strtod (buf, NULL) != v)
    g_ascii_dtostr (buf, sizeof buf, v);
  g_string_append (out, buf);
}

static void
sample_key (GString *key,
            const gchar *name,
            const gchar *suffix,
            const gchar *labels,
            const gchar *le)
{
  gboolean has_labels = labels != NULL && *labels != '\0';

  g_string_assign (key, name);
  g_string_append (key, suffix);
  if (!has_labels && le == NULL)
    return;
  g_string_append_c (key, '{');
  if (has_labels)
    g_string_append (key, labels);
  if (le != NULL)
    g_string_append_printf (key, "%sle=\"%s\"", has_labels ? "," : "", le);
  g_string_append_c (key, '}');
}

typedef void (*SampleFunc) (const gchar *key, gdouble value, gpointer user_data);

static void
histogram_foreach_sample (const gchar *name,
                          Series *s,
                          GString *key,
                          SampleFunc func,
                          gpointer user_data)
{
  g_autoptr (GString) le = g_string_new (NULL);
  guint64 cumulative = 0;

  for (guint i = 0; i < N_BOUNDS; i++) {
    cumulative += s->buckets[i];
    g_string_truncate (le, 0);
    append_number (le, histogram_bounds[i]);
    sample_key (key, name, "_bucket", s->labels, le->str);
    func (key->str, (gdouble) cumulative, user_data);
  }
  sample_key (key, name, "_bucket", s->labels, "+Inf");
  func (key->str, (gdouble) s->count, user_data);
  sample_key (key, name, "_sum", s->labels, NULL);
  func (key->str, s->sum, user_data);
  sample_key (key, name, "_count", s->labels, NULL);
  func (key->str, (gdouble) s->count, user_data);
}

static gint
compare_series (gconstpointer a, gconstpointer b)
{
  const Series *sa = *(Series *const *) a;
  const Series *sb = *(Series *const *) b;

  return strcmp (sa->labels, sb->labels);
}

/* Render and to_variant both go through here, so the variant's keys are
 * the rendered series names by construction. Series are sorted by label
 * body: a stable order that needs no bookkeeping on removal. */
static void
family_foreach_sample (Family *fam, SampleFunc func, gpointer user_data)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_sized_new (g_hash_table_size (fam->series));
  g_autoptr (GString) key = g_string_new (NULL);
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, fam->series);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (sorted, value);
  g_ptr_array_sort (sorted, compare_series);

  for (guint i = 0; i < sorted->len; i++) {
    Series *s = g_ptr_array_index (sorted, i);

    if (fam->info->type == METRIC_HISTOGRAM) {
      histogram_foreach_sample (fam->info->name, s, key, func, user_data);
    } else {
      sample_key (key, fam->info->name, "", s->labels, NULL);
      func (key->str, s->value, user_data);
    }
  }
}

static void
render_sample (const gchar *key, gdouble value, gpointer user_data)
{
  GString *out = user_data;

  g_string_append (out, key);
  g_string_append_c (out, ' ');
  append_number (out, value);
  g_string_append_c (out, '\n');
}

/**
 * beach_metrics_render:
 * @self: a #BeachMetrics
 *
 * Renders every visible family in the Prometheus text format 0.0.4.
 *
 * Returns: (transfer full): the exposition text
 */
gchar *
beach_metrics_render (BeachMetrics *self)
{
  GString *out;

  g_return_val_if_fail (BEACH_IS_METRICS (self), NULL);

  out = g_string_sized_new (8192);
  for (guint i = 0; i < self->order->len; i++) {
    Family *fam = g_ptr_array_index (self->order, i);

    if (!family_visible (self, fam))
      continue;
    g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n",
                            fam->info->name, fam->info->help,
                            fam->info->name, metric_type_to_string (fam->info->type));
    family_foreach_sample (fam, render_sample, out);
  }
  return g_string_free (out, FALSE);
}

static void
variant_sample (const gchar *key, gdouble value, gpointer user_data)
{
  g_variant_builder_add (user_data, "{sd}", key, value);
}

/**
 * beach_metrics_to_variant:
 * @self: a #BeachMetrics
 *
 * The same samples as beach_metrics_render(), for D-Bus: each key is the
 * series name exactly as rendered (`family{labels}`, or `family`), and a
 * histogram contributes its `_bucket`, `_sum` and `_count` series.
 *
 * Returns: (transfer floating): an `a{sd}` variant
 */
GVariant *
beach_metrics_to_variant (BeachMetrics *self)
{
  GVariantBuilder builder;

  g_return_val_if_fail (BEACH_IS_METRICS (self), NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sd}"));
  for (guint i = 0; i < self->order->len; i++) {
    Family *fam = g_ptr_array_index (self->order, i);

    if (family_visible (self, fam))
      family_foreach_sample (fam, variant_sample, &builder);
  }
  return g_variant_builder_end (&builder);
}

/**
 * beach_metrics_set_redis_enabled:
 * @self: a #BeachMetrics
 * @enabled: whether the Redis backend is in use
 *
 * With the memory queue `redis_available` is absent entirely, HELP and
 * TYPE included; this is the switch. Off by default.
 */
void
beach_metrics_set_redis_enabled (BeachMetrics *self, gboolean enabled)
{
  g_return_if_fail (BEACH_IS_METRICS (self));

  self->redis_enabled = !!enabled;
}

/**
 * beach_metrics_get_redis_enabled:
 * @self: a #BeachMetrics
 *
 * Returns: whether `redis_available` is rendered
 */
gboolean
beach_metrics_get_redis_enabled (BeachMetrics *self)
{
  g_return_val_if_fail (BEACH_IS_METRICS (self), FALSE);

  return self->redis_enabled;
}

/* harness_fastpath_state: the state a harness last reported, 1 for it and
 * 0 for the others; the same whether the report came by HTTP or on the
 * link. */
void
beach_metrics_set_harness_state (BeachMetrics *self,
                                 const gchar *private_beach_id,
                                 const gchar *session_id,
                                 BeachLinkHealth reported)
{
  for (gint st = BEACH_LINK_HEALTH_CONNECTING; st <= BEACH_LINK_HEALTH_DISABLED; st++) {
    g_autofree gchar *labels = beach_metrics_session_labels (private_beach_id, session_id, "state",
                                                             beach_link_health_to_string ((BeachLinkHealth) st), NULL);

    beach_metrics_gauge_set (self, "harness_fastpath_state", labels, (gint) reported == st ? 1 : 0);
  }
}
