/* test-enums.c: wire strings of every enum
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "beach.h"

typedef const gchar *(*ToString) (gint value);
typedef gboolean (*FromString) (const gchar *str, gint *out, GError **error);

typedef struct {
  const gchar *name;
  GType (*get_type) (void);
  ToString to_string;
  FromString from_string;
  const gchar *const *wire;
} EnumCase;

static const gchar *const transport_modes[] = { "fast_path", "http_fallback", NULL };
static const gchar *const transports[] = { "pending", "fast_path", "http_fallback", NULL };
static const gchar *const link_healths[] = { "connecting", "healthy", "unhealthy", "closed", "disabled", NULL };
static const gchar *const ack_statuses[] = { "ok", "rejected", "expired", "preempted", NULL };
static const gchar *const handshake_kinds[] = { "refresh", "renegotiate", NULL };
static const gchar *const drop_reasons[] = { "fast_path_not_ready", "queue_full", "missing_lease", "unavailable", NULL };
static const gchar *const transport_reasons[] = {
  "registered", "link_healthy", "queue_nonempty", "queue_empty", "heartbeat_timeout", "ack_timeout",
  "channel_closed", "connection_failed", "link_replaced", "mode_changed", "session_deleted", NULL
};
static const gchar *const harness_types[] = { "terminal_shim", "cabana_adapter", "remote_widget", "service_proxy", "custom", NULL };
static const gchar *const dead_letter_reasons[] = { "max_deliveries", "session_deleted", "session_expired", NULL };

#define CASE(low, wire)                                                                                            \
  {                                                                                                                \
#low, beach_##low##_get_type, (ToString) beach_##low##_to_string, (FromString) beach_##low##_from_string, wire \
  }

static const EnumCase cases[] = {
  CASE (transport_mode, transport_modes),
  CASE (transport, transports),
  CASE (link_health, link_healths),
  CASE (ack_status, ack_statuses),
  CASE (handshake_kind, handshake_kinds),
  CASE (drop_reason, drop_reasons),
  CASE (transport_reason, transport_reasons),
  CASE (harness_type, harness_types),
  CASE (dead_letter_reason, dead_letter_reasons),
};

static void
test_enums_round_trip (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const EnumCase *c = &cases[i];
    g_autoptr (GEnumClass) klass = g_type_class_ref (c->get_type ());
    guint n = g_strv_length ((gchar **) c->wire);

    g_test_message ("enum %s", c->name);
    g_assert_cmpuint (klass->n_values, ==, n);
    for (guint v = 0; v < n; v++) {
      gint back = -1;
      g_autoptr (GError) error = NULL;

      g_assert_cmpstr (c->to_string ((gint) v), ==, c->wire[v]);
      g_assert_true (c->from_string (c->wire[v], &back, &error));
      g_assert_no_error (error);
      g_assert_cmpint (back, ==, (gint) v);
    }
    g_assert_null (c->to_string (999));
  }
}

static void
test_enums_reject (void)
{
  static const gchar *const bad[] = { "", "FAST_PATH", "fast-path", " ok", "ok ", "bogus" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    for (guint b = 0; b < G_N_ELEMENTS (bad); b++) {
      g_autoptr (GError) error = NULL;
      gint out = 12345;

      g_assert_false (cases[i].from_string (bad[b], &out, &error));
      g_assert_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD);
      /* the message lists what is allowed */
      g_assert_nonnull (strstr (error->message, cases[i].wire[0]));
      g_assert_cmpint (out, ==, 12345);
    }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/enums/round-trip", test_enums_round_trip);
  g_test_add_func ("/enums/reject", test_enums_reject);
  return g_test_run ();
}
