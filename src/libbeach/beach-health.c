/* beach-health.c: a harness health heartbeat
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-health"

#include "config.h"

#include <math.h>

#include "beach-error.h"
#include "beach-health.h"
#include "beach-json-private.h"

/**
 * BeachHealth:
 *
 * One `HealthHeartbeat` of the wire contract: `{queue_depth, cpu_load?,
 * memory_bytes?, degraded, warnings, fast_path?: {state, attempts,
 * last_error?}}`, the harness's own view of itself and its link.
 *
 * A harness builds one with beach_health_new() and the setters; the
 * manager parses one with beach_health_new_from_json(). The setters keep
 * the object within the wire limits, so what beach_health_to_json() writes
 * always parses back.
 */
struct _BeachHealth {
  GObject parent_instance;

  guint64 queue_depth;
  gboolean degraded;
  gboolean has_cpu_load;
  gdouble cpu_load;
  gint64 memory_bytes; /* -1: none */
  GPtrArray *warnings; /* NULL-terminated, owned strings */

  gboolean has_fast_path;
  BeachLinkHealth fast_path_state;
  guint fast_path_attempts;
  gchar *fast_path_last_error;
};

G_DEFINE_FINAL_TYPE (BeachHealth, beach_health, G_TYPE_OBJECT)

static void
beach_health_finalize (GObject *object)
{
  BeachHealth *self = BEACH_HEALTH (object);

  g_clear_pointer (&self->warnings, g_ptr_array_unref);
  g_free (self->fast_path_last_error);
  G_OBJECT_CLASS (beach_health_parent_class)->finalize (object);
}

static void
beach_health_class_init (BeachHealthClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_health_finalize;
}

static void
beach_health_init (BeachHealth *self)
{
  self->memory_bytes = -1;
  self->warnings = g_ptr_array_new_null_terminated (0, g_free, TRUE);
}

/* Cuts @s to at most @max_len bytes without splitting a character. */
static gchar *
truncate_utf8 (const gchar *s, gsize max_len)
{
  const gchar *end;

  if (strlen (s) <= max_len)
    return g_strdup (s);
  end = g_utf8_find_prev_char (s, s + max_len + 1);
  return g_strndup (s, end != NULL ? (gsize) (end - s) : 0);
}

/**
 * beach_health_new:
 * @queue_depth: the harness's own queue depth, at most %G_MAXINT64
 * @degraded: whether the harness considers itself degraded
 *
 * Starts a heartbeat with no warnings and no optional field; add them with
 * the setters.
 *
 * Returns: (transfer full): a new #BeachHealth
 */
BeachHealth *
beach_health_new (guint64 queue_depth, gboolean degraded)
{
  BeachHealth *self;

  g_return_val_if_fail (queue_depth <= G_MAXINT64, NULL);

  self = g_object_new (BEACH_TYPE_HEALTH, NULL);
  self->queue_depth = queue_depth;
  self->degraded = !!degraded;
  return self;
}

/**
 * beach_health_set_cpu_load:
 * @self: a #BeachHealth
 * @cpu_load: the CPU load, a finite number >= 0, or a negative number to
 *   leave `cpu_load` out
 *
 * Sets or clears `cpu_load`.
 */
void
beach_health_set_cpu_load (BeachHealth *self, gdouble cpu_load)
{
  g_return_if_fail (BEACH_IS_HEALTH (self));
  g_return_if_fail (isfinite (cpu_load));

  self->has_cpu_load = cpu_load >= 0;
  self->cpu_load = self->has_cpu_load ? cpu_load : 0;
}

/**
 * beach_health_set_memory_bytes:
 * @self: a #BeachHealth
 * @memory_bytes: the memory in use, in bytes, or -1 to leave
 *   `memory_bytes` out
 *
 * Sets or clears `memory_bytes`.
 */
void
beach_health_set_memory_bytes (BeachHealth *self, gint64 memory_bytes)
{
  g_return_if_fail (BEACH_IS_HEALTH (self));

  self->memory_bytes = memory_bytes >= 0 ? memory_bytes : -1;
}

/**
 * beach_health_add_warning:
 * @self: a #BeachHealth
 * @warning: a warning, UTF-8
 *
 * Appends a warning. One longer than %BEACH_HEALTH_WARNING_MAX_LEN bytes is
 * cut to fit (at a character boundary); once the list holds
 * %BEACH_HEALTH_WARNINGS_MAX entries further warnings are dropped, so a
 * heartbeat built from runtime messages always stays valid.
 *
 * Returns: %TRUE if the warning was added, %FALSE if the list was full
 */
gboolean
beach_health_add_warning (BeachHealth *self, const gchar *warning)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), FALSE);
  g_return_val_if_fail (warning != NULL, FALSE);

  if (self->warnings->len >= BEACH_HEALTH_WARNINGS_MAX)
    return FALSE;
  g_ptr_array_add (self->warnings, truncate_utf8 (warning, BEACH_HEALTH_WARNING_MAX_LEN));
  return TRUE;
}

/**
 * beach_health_set_fast_path:
 * @self: a #BeachHealth
 * @state: the link's health as the harness sees it
 * @attempts: how many links the harness has tried, at most %G_MAXINT
 * @last_error: (nullable): the last link error, or %NULL; one longer than
 *   %BEACH_HEALTH_LAST_ERROR_MAX_LEN bytes is cut to fit
 *
 * Sets the `fast_path` object, replacing any earlier one.
 */
void
beach_health_set_fast_path (BeachHealth *self, BeachLinkHealth state, guint attempts, const gchar *last_error)
{
  g_return_if_fail (BEACH_IS_HEALTH (self));
  g_return_if_fail (beach_link_health_to_string (state) != NULL);
  g_return_if_fail (attempts <= G_MAXINT);

  self->has_fast_path = TRUE;
  self->fast_path_state = state;
  self->fast_path_attempts = attempts;
  g_free (self->fast_path_last_error);
  self->fast_path_last_error = last_error != NULL ? truncate_utf8 (last_error, BEACH_HEALTH_LAST_ERROR_MAX_LEN) : NULL;
}

static gboolean
parse_fast_path (BeachHealth *self, JsonObject *fp, GError **error)
{
  const gchar *state = NULL;
  const gchar *last_error = NULL;
  gint64 attempts = 0;

  if (!beach_json_get_string (fp, "fast_path.state", "state", TRUE, 0, &state, error))
    return FALSE;
  if (!beach_link_health_from_string (state, &self->fast_path_state, error)) {
    g_prefix_error (error, "“fast_path.state”: ");
    return FALSE;
  }
  if (!beach_json_get_int (fp, "fast_path.attempts", "attempts", TRUE, 0, G_MAXINT,
                           &attempts, NULL, error))
    return FALSE;
  if (!beach_json_get_string (fp, "fast_path.last_error", "last_error", FALSE,
                              BEACH_HEALTH_LAST_ERROR_MAX_LEN, &last_error, error))
    return FALSE;
  self->has_fast_path = TRUE;
  self->fast_path_attempts = (guint) attempts;
  self->fast_path_last_error = g_strdup (last_error);
  return TRUE;
}

/**
 * beach_health_new_from_json:
 * @node: a JSON node holding a `HealthHeartbeat` object
 * @error: return location for a #GError
 *
 * The one validating parser of heartbeats. It checks that `queue_depth` is
 * an integer >= 0, `cpu_load` (optional) a number >= 0, `memory_bytes`
 * (optional) an integer >= 0, `degraded` a boolean, `warnings` an array of
 * at most %BEACH_HEALTH_WARNINGS_MAX strings of at most
 * %BEACH_HEALTH_WARNING_MAX_LEN bytes, and `fast_path` (optional) an object
 * with a #BeachLinkHealth `state`, an integer `attempts` >= 0 and an
 * optional string `last_error`. Nested fields are named by their path in
 * errors (`fast_path.state`, `warnings[2]`). Unknown fields are ignored.
 *
 * Returns: (transfer full) (nullable): a new #BeachHealth, or %NULL with
 *   @error set to a code naming the field
 */
BeachHealth *
beach_health_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (BeachHealth) self = NULL;
  g_auto (GStrv) warnings = NULL;
  JsonObject *obj;
  JsonObject *fp = NULL;
  gint64 queue_depth = 0;
  gint64 memory_bytes = -1;
  gboolean degraded = FALSE;

  obj = beach_json_require_object (node, "health heartbeat", error);
  if (obj == NULL)
    return NULL;
  self = g_object_new (BEACH_TYPE_HEALTH, NULL);
  if (!beach_json_get_int (obj, "queue_depth", "queue_depth", TRUE, 0, G_MAXINT64,
                           &queue_depth, NULL, error)
      || !beach_json_get_double (obj, "cpu_load", "cpu_load", FALSE, 0, G_MAXDOUBLE,
                                 &self->cpu_load, &self->has_cpu_load, error)
      || !beach_json_get_int (obj, "memory_bytes", "memory_bytes", FALSE, 0,
                              G_MAXINT64, &memory_bytes, NULL, error)
      || !beach_json_get_bool (obj, "degraded", "degraded", TRUE, &degraded, NULL, error)
      || !beach_json_get_string_array (obj, "warnings", "warnings", TRUE,
                                       BEACH_HEALTH_WARNINGS_MAX,
                                       BEACH_HEALTH_WARNING_MAX_LEN, &warnings, error)
      || !beach_json_get_object (obj, "fast_path", "fast_path", FALSE, &fp, error))
    return NULL;
  if (fp != NULL && !parse_fast_path (self, fp, error))
    return NULL;

  self->queue_depth = (guint64) queue_depth;
  self->memory_bytes = memory_bytes;
  self->degraded = degraded;
  for (guint i = 0; warnings[i] != NULL; i++)
    g_ptr_array_add (self->warnings, g_steal_pointer (&warnings[i]));
  return g_steal_pointer (&self);
}

/**
 * beach_health_new_from_string:
 * @json: the text of a `HealthHeartbeat` object
 * @error: return location for a #GError
 *
 * Parses JSON text, then the heartbeat; see beach_health_new_from_json().
 *
 * Returns: (transfer full) (nullable): a new #BeachHealth, or %NULL with
 *   @error set
 */
BeachHealth *
beach_health_new_from_string (const gchar *json, GError **error)
{
  g_autoptr (JsonNode) node = beach_json_from_string (json, -1, error);

  if (node == NULL)
    return NULL;
  return beach_health_new_from_json (node, error);
}

/**
 * beach_health_get_queue_depth:
 * @self: a #BeachHealth
 *
 * Returns: the harness's own queue depth
 */
guint64
beach_health_get_queue_depth (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), 0);
  return self->queue_depth;
}

/**
 * beach_health_get_degraded:
 * @self: a #BeachHealth
 *
 * Returns: whether the harness considers itself degraded
 */
gboolean
beach_health_get_degraded (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), FALSE);
  return self->degraded;
}

/**
 * beach_health_has_cpu_load:
 * @self: a #BeachHealth
 *
 * Returns: %TRUE if the heartbeat carries `cpu_load`
 */
gboolean
beach_health_has_cpu_load (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), FALSE);
  return self->has_cpu_load;
}

/**
 * beach_health_get_cpu_load:
 * @self: a #BeachHealth
 *
 * Returns: the CPU load, or 0 if there is none (see
 *   beach_health_has_cpu_load())
 */
gdouble
beach_health_get_cpu_load (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), 0);
  return self->cpu_load;
}

/**
 * beach_health_get_memory_bytes:
 * @self: a #BeachHealth
 *
 * Returns: the memory in use in bytes, or -1 if there is none
 */
gint64
beach_health_get_memory_bytes (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), -1);
  return self->memory_bytes;
}

/**
 * beach_health_get_warnings:
 * @self: a #BeachHealth
 *
 * Returns: (transfer none) (array zero-terminated=1): the warnings, possibly
 *   none; valid until the next beach_health_add_warning()
 */
const gchar *const *
beach_health_get_warnings (BeachHealth *self)
{
  static const gchar *const none[] = { NULL };

  g_return_val_if_fail (BEACH_IS_HEALTH (self), NULL);
  /* An empty null-terminated GPtrArray may not have allocated pdata yet. */
  if (self->warnings->pdata == NULL)
    return none;
  return (const gchar *const *) self->warnings->pdata;
}

/**
 * beach_health_has_fast_path:
 * @self: a #BeachHealth
 *
 * Returns: %TRUE if the heartbeat carries a `fast_path` object
 */
gboolean
beach_health_has_fast_path (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), FALSE);
  return self->has_fast_path;
}

/**
 * beach_health_get_fast_path_state:
 * @self: a #BeachHealth
 *
 * Returns: `fast_path.state`, or %BEACH_LINK_HEALTH_DISABLED if there is no
 *   `fast_path` object
 */
BeachLinkHealth
beach_health_get_fast_path_state (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), BEACH_LINK_HEALTH_DISABLED);
  return self->has_fast_path ? self->fast_path_state : BEACH_LINK_HEALTH_DISABLED;
}

/**
 * beach_health_get_fast_path_attempts:
 * @self: a #BeachHealth
 *
 * Returns: `fast_path.attempts`, or 0 if there is no `fast_path` object
 */
guint
beach_health_get_fast_path_attempts (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), 0);
  return self->fast_path_attempts;
}

/**
 * beach_health_get_fast_path_last_error:
 * @self: a #BeachHealth
 *
 * Returns: (transfer none) (nullable): `fast_path.last_error`, or %NULL
 */
const gchar *
beach_health_get_fast_path_last_error (BeachHealth *self)
{
  g_return_val_if_fail (BEACH_IS_HEALTH (self), NULL);
  return self->fast_path_last_error;
}

/**
 * beach_health_to_json:
 * @self: a #BeachHealth
 *
 * Serialises the heartbeat in its wire form; absent optional fields are
 * left out, `warnings` is always written.
 *
 * Returns: (transfer full): a new JSON node
 */
JsonNode *
beach_health_to_json (BeachHealth *self)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (BEACH_IS_HEALTH (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "queue_depth");
  json_builder_add_int_value (builder, (gint64) self->queue_depth);
  if (self->has_cpu_load) {
    json_builder_set_member_name (builder, "cpu_load");
    json_builder_add_double_value (builder, self->cpu_load);
  }
  if (self->memory_bytes >= 0) {
    json_builder_set_member_name (builder, "memory_bytes");
    json_builder_add_int_value (builder, self->memory_bytes);
  }
  json_builder_set_member_name (builder, "degraded");
  json_builder_add_boolean_value (builder, self->degraded);
  json_builder_set_member_name (builder, "warnings");
  json_builder_begin_array (builder);
  for (guint i = 0; i < self->warnings->len; i++)
    json_builder_add_string_value (builder, g_ptr_array_index (self->warnings, i));
  json_builder_end_array (builder);
  if (self->has_fast_path) {
    json_builder_set_member_name (builder, "fast_path");
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "state");
    json_builder_add_string_value (builder, beach_link_health_to_string (self->fast_path_state));
    json_builder_set_member_name (builder, "attempts");
    json_builder_add_int_value (builder, self->fast_path_attempts);
    if (self->fast_path_last_error != NULL) {
      json_builder_set_member_name (builder, "last_error");
      json_builder_add_string_value (builder, self->fast_path_last_error);
    }
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * beach_health_to_string:
 * @self: a #BeachHealth
 *
 * Returns: (transfer full): the wire form as compact JSON text
 */
gchar *
beach_health_to_string (BeachHealth *self)
{
  g_autoptr (JsonNode) node = beach_health_to_json (self);

  return json_to_string (node, FALSE);
}
