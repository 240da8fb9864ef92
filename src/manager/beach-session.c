/* beach-session.c: one session's record
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-session"

#include "config.h"

#include "beach-auth.h"
#include "beach-json-private.h"
#include "beach-session.h"

/* Dead (expired or released) leases stay known so their holders get 409
 * missing_lease rather than 401; this bounds how many are remembered. */
#define MAX_DEAD_LEASES    1024
#define MAX_CAPABILITIES   64
#define MAX_METADATA_BYTES (16 * 1024)

enum {
  SIGNAL_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BeachSession, beach_session, G_TYPE_OBJECT)

void
beach_registration_free (BeachRegistration *reg)
{
  if (reg == NULL)
    return;
  g_free (reg->session_id);
  g_free (reg->private_beach_id);
  g_strfreev (reg->capabilities);
  g_free (reg->location_hint);
  g_clear_pointer (&reg->metadata, json_object_unref);
  g_free (reg->version);
  g_free (reg);
}

static gboolean
get_id (JsonObject *obj, const gchar *key, gchar **out, GError **error)
{
  const gchar *v = NULL;

  if (!beach_json_get_string (obj, key, key, TRUE, 0, &v, error))
    return FALSE;
  if (!beach_session_id_is_valid (v)) {
    g_set_error (error, BEACH_ERROR, BEACH_ERROR_INVALID_FIELD,
                 "“%s”: must match ^[A-Za-z0-9._~-]{1,128}$", key);
    return FALSE;
  }
  *out = g_strdup (v);
  return TRUE;
}

/* The one parser of registration bodies. */
BeachRegistration *
beach_registration_parse (JsonNode *body, GError **error)
{
  g_autoptr (BeachRegistration) reg = g_new0 (BeachRegistration, 1);
  JsonObject *obj = beach_json_require_object (body, "registration", error);
  const gchar *s = NULL;
  JsonObject *metadata = NULL;

  if (obj == NULL)
    return NULL;
  if (!get_id (obj, "session_id", &reg->session_id, error) || !get_id (obj, "private_beach_id", &reg->private_beach_id, error))
    return NULL;
  if (!beach_json_get_string (obj, "harness_type", "harness_type", TRUE, 0, &s, error))
    return NULL;
  if (!beach_harness_type_from_string (s, &reg->harness_type, error)) {
    g_prefix_error (error, "“harness_type”: ");
    return NULL;
  }
  if (!beach_json_get_string_array (obj, "capabilities", "capabilities", TRUE,
                                    MAX_CAPABILITIES, 128, &reg->capabilities, error)
      || !beach_json_get_string (obj, "location_hint", "location_hint", FALSE, 256, &s, error))
    return NULL;
  reg->location_hint = g_strdup (s);
  if (!beach_json_get_object (obj, "metadata", "metadata", FALSE, &metadata, error))
    return NULL;
  if (metadata != NULL) {
    g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
    g_autofree gchar *text = NULL;

    json_node_set_object (node, metadata);
    text = json_to_string (node, FALSE);
    if (strlen (text) > MAX_METADATA_BYTES) {
      g_set_error (error, BEACH_ERROR, BEACH_ERROR_PAYLOAD_TOO_LARGE,
                   "“metadata”: more than %u bytes", MAX_METADATA_BYTES);
      return NULL;
    }
    reg->metadata = json_object_ref (metadata);
  }
  if (!beach_json_get_string (obj, "version", "version", TRUE, 64, &s, error))
    return NULL;
  reg->version = g_strdup (s);
  reg->transport_mode = BEACH_TRANSPORT_MODE_FAST_PATH;
  if (!beach_json_get_string (obj, "transport_mode", "transport_mode", FALSE, 0, &s, error))
    return NULL;
  if (s != NULL && !beach_transport_mode_from_string (s, &reg->transport_mode, error)) {
    g_prefix_error (error, "“transport_mode”: ");
    return NULL;
  }
  return g_steal_pointer (&reg);
}

void
beach_lease_free (BeachLease *lease)
{
  if (lease == NULL)
    return;
  g_free (lease->token);
  g_free (lease->reason);
  g_free (lease);
}

static void
beach_session_finalize (GObject *object)
{
  BeachSession *self = BEACH_SESSION (object);

  g_free (self->session_id);
  g_free (self->private_beach_id);
  g_free (self->harness_id);
  g_strfreev (self->capabilities);
  g_free (self->location_hint);
  g_clear_pointer (&self->metadata, json_object_unref);
  g_free (self->version);
  g_free (self->handshake_id);
  g_free (self->owner);
  g_hash_table_unref (self->leases);
  g_queue_clear_full (&self->lease_order, g_free);
  g_clear_pointer (&self->last_health, json_object_unref);
  g_clear_pointer (&self->last_state, json_node_unref);
  g_free (self->last_error);
  G_OBJECT_CLASS (beach_session_parent_class)->finalize (object);
}

static void
beach_session_class_init (BeachSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = beach_session_finalize;

  /* Anything an observer (D-Bus, metrics, parked polls) shows changed. */
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 0);
}

static void
beach_session_init (BeachSession *self)
{
  self->leases = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) beach_lease_free);
  g_queue_init (&self->lease_order);
  self->heartbeat_rtt_us = -1;
}

static void
emit_changed (BeachSession *self)
{
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* An operator changed the mode (D-Bus SetTransportMode). */
void
beach_session_set_transport_mode (BeachSession *self, BeachTransportMode mode)
{
  if (self->transport_mode == mode)
    return;
  self->transport_mode = mode;
  emit_changed (self);
}

/* Fields the fast path sets directly (readiness, generation, in flight,
 * RTT) changed: tell the watchers. */
void
beach_session_notify_changed (BeachSession *self)
{
  emit_changed (self);
}

/* A renegotiation issued a new handshake id: parked polls and the fast
 * path (through "changed") tell the host. */
void
beach_session_set_handshake_id (BeachSession *self, const gchar *handshake_id)
{
  if (g_strcmp0 (self->handshake_id, handshake_id) == 0)
    return;
  g_free (self->handshake_id);
  self->handshake_id = g_strdup (handshake_id);
  emit_changed (self);
}

BeachSession *
beach_session_new (const BeachRegistration *reg, gint64 now_ms)
{
  BeachSession *self = g_object_new (BEACH_TYPE_SESSION, NULL);

  self->session_id = g_strdup (reg->session_id);
  self->private_beach_id = g_strdup (reg->private_beach_id);
  self->harness_id = g_uuid_string_random ();
  self->harness_type = reg->harness_type;
  self->handshake_id = g_uuid_string_random ();
  self->registered_at_ms = now_ms;
  self->last_activity_ms = now_ms;
  self->transport = BEACH_TRANSPORT_PENDING;
  self->transport_reason = BEACH_TRANSPORT_REASON_REGISTERED;
  self->transport_changed_at_ms = now_ms;
  beach_session_update (self, reg);
  return self;
}

/* Re-registration refreshes these; harness_type and harness_id stay. The
 * caller handles a transport_mode change (a mode_changed transition). */
void
beach_session_update (BeachSession *self, const BeachRegistration *reg)
{
  g_strfreev (self->capabilities);
  self->capabilities = g_strdupv (reg->capabilities);
  g_free (self->location_hint);
  self->location_hint = g_strdup (reg->location_hint);
  g_clear_pointer (&self->metadata, json_object_unref);
  if (reg->metadata != NULL)
    self->metadata = json_object_ref (reg->metadata);
  g_free (self->version);
  self->version = g_strdup (reg->version);
  self->transport_mode = reg->transport_mode;
  emit_changed (self);
}

void
beach_session_touch (BeachSession *self, gint64 now_ms)
{
  self->last_activity_ms = MAX (self->last_activity_ms, now_ms);
}

gboolean
beach_session_lease_is_live (const BeachLease *lease, gint64 now_ms)
{
  return lease != NULL && !lease->released && now_ms < lease->expires_at_ms;
}

/* Forgets the oldest dead leases past the bound; live ones are never
 * forgotten. */
static void
trim_dead_leases (BeachSession *self, gint64 now_ms)
{
  guint dead = 0;

  for (GList *l = self->lease_order.head; l != NULL; l = l->next) {
    if (!beach_session_lease_is_live (g_hash_table_lookup (self->leases, l->data), now_ms))
      dead++;
  }
  for (GList *l = self->lease_order.head; l != NULL && dead > MAX_DEAD_LEASES;) {
    GList *next = l->next;

    if (!beach_session_lease_is_live (g_hash_table_lookup (self->leases, l->data), now_ms)) {
      g_hash_table_remove (self->leases, l->data);
      g_free (l->data);
      g_queue_delete_link (&self->lease_order, l);
      dead--;
    }
    l = next;
  }
}

BeachLease *
beach_session_grant_lease (BeachSession *self, guint ttl_ms, const gchar *reason, gboolean by_operator, gint64 now_ms)
{
  BeachLease *lease = g_new0 (BeachLease, 1);

  /* SESSION:RANDOM. The session in the token lets any manager find the
   * lease's session without another index (':' is not allowed in ids). */
  {
    g_autofree gchar *random = beach_random_token ();

    lease->token = g_strconcat (self->session_id, ":", random, NULL);
  }
  lease->granted_ms = now_ms;
  lease->ttl_ms = ttl_ms;
  lease->expires_at_ms = now_ms + ttl_ms;
  lease->reason = g_strdup (reason);
  lease->by_operator = by_operator;
  g_hash_table_insert (self->leases, lease->token, lease);
  g_queue_push_tail (&self->lease_order, g_strdup (lease->token));
  if (g_queue_get_length (&self->lease_order) > MAX_DEAD_LEASES)
    trim_dead_leases (self, now_ms);
  emit_changed (self);
  return lease;
}

BeachLease *
beach_session_lookup_lease (BeachSession *self, const gchar *token)
{
  return token != NULL ? g_hash_table_lookup (self->leases, token) : NULL;
}

void
beach_session_renew_lease (BeachSession *self, BeachLease *lease, guint ttl_ms, gint64 now_ms)
{
  lease->ttl_ms = ttl_ms;
  lease->expires_at_ms = now_ms + ttl_ms;
  emit_changed (self);
}

void
beach_session_release_lease (BeachSession *self, BeachLease *lease)
{
  lease->released = TRUE;
  emit_changed (self);
}

/* Undoes a grant that could not be made durable. */
void
beach_session_forget_lease (BeachSession *self, const gchar *token)
{
  GList *link = g_queue_find_custom (&self->lease_order, token, (GCompareFunc) g_strcmp0);

  if (link != NULL) {
    g_free (link->data);
    g_queue_delete_link (&self->lease_order, link);
  }
  g_hash_table_remove (self->leases, token);
  emit_changed (self);
}

guint
beach_session_count_live_leases (BeachSession *self, gint64 now_ms)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    n += beach_session_lease_is_live (value, now_ms) ? 1 : 0;
  return n;
}

/* The latest expiry among live leases, or 0 when there is none. */
gint64
beach_session_lease_expires_at_ms (BeachSession *self, gint64 now_ms)
{
  GHashTableIter iter;
  gpointer value;
  gint64 latest = 0;

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    BeachLease *lease = value;

    if (beach_session_lease_is_live (lease, now_ms))
      latest = MAX (latest, lease->expires_at_ms);
  }
  return latest;
}

/* Returns TRUE when the transport changed (or was set the first time). */
gboolean
beach_session_set_transport (BeachSession *self, BeachTransport transport, BeachTransportReason reason, gint64 now_ms, BeachTransport *out_from)
{
  if (out_from != NULL)
    *out_from = self->transport;
  if (self->transport_known && self->transport == transport)
    return FALSE;
  self->transport_known = TRUE;
  self->transport = transport;
  self->transport_reason = reason;
  self->transport_changed_at_ms = now_ms;
  self->drop_logged = FALSE;
  emit_changed (self);
  return TRUE;
}

void
beach_session_set_queue_stats (BeachSession *self, guint pending, guint delivered)
{
  if (self->pending == pending && self->delivered == delivered)
    return;
  self->pending = pending;
  self->delivered = delivered;
  emit_changed (self);
}

void
beach_session_set_health (BeachSession *self, JsonObject *health, gint64 now_ms)
{
  g_clear_pointer (&self->last_health, json_object_unref);
  self->last_health = json_object_new ();
  {
    g_autoptr (GList) members = json_object_get_members (health);

    for (GList *l = members; l != NULL; l = l->next)
      json_object_set_member (self->last_health, l->data,
                              json_node_copy (json_object_get_member (health, l->data)));
  }
  json_object_set_int_member (self->last_health, "received_at_ms", now_ms);
  emit_changed (self);
}

void
beach_session_set_state (BeachSession *self, JsonNode *state)
{
  g_clear_pointer (&self->last_state, json_node_unref);
  self->last_state = json_node_copy (state);
}

JsonNode *
beach_session_to_json (BeachSession *self, gint64 now_ms)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer value;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, self->session_id);
  json_builder_set_member_name (b, "private_beach_id");
  json_builder_add_string_value (b, self->private_beach_id);
  json_builder_set_member_name (b, "harness_type");
  json_builder_add_string_value (b, beach_harness_type_to_string (self->harness_type));
  json_builder_set_member_name (b, "transport_mode");
  json_builder_add_string_value (b, beach_transport_mode_to_string (self->transport_mode));
  json_builder_set_member_name (b, "transport");
  json_builder_add_string_value (b, beach_transport_to_string (self->transport));
  json_builder_set_member_name (b, "transport_reason");
  json_builder_add_string_value (b, beach_transport_reason_to_string (self->transport_reason));
  json_builder_set_member_name (b, "fast_path_ready");
  json_builder_add_boolean_value (b, self->fast_path_ready);
  json_builder_set_member_name (b, "handshake_id");
  json_builder_add_string_value (b, self->handshake_id);
  json_builder_set_member_name (b, "link_generation");
  json_builder_add_int_value (b, (gint64) self->link_generation);
  json_builder_set_member_name (b, "pending");
  json_builder_add_int_value (b, self->pending);
  json_builder_set_member_name (b, "in_flight");
  json_builder_add_int_value (b, self->in_flight);
  json_builder_set_member_name (b, "heartbeat_rtt_us");
  if (self->heartbeat_rtt_us >= 0)
    json_builder_add_int_value (b, self->heartbeat_rtt_us);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "leases");
  json_builder_begin_array (b);
  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    BeachLease *lease = value;

    if (!beach_session_lease_is_live (lease, now_ms))
      continue;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "expires_at_ms");
    json_builder_add_int_value (b, lease->expires_at_ms);
    json_builder_set_member_name (b, "reason");
    if (lease->reason != NULL)
      json_builder_add_string_value (b, lease->reason);
    else
      json_builder_add_null_value (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "last_health");
  if (self->last_health != NULL) {
    g_autoptr (JsonNode) h = json_node_new (JSON_NODE_OBJECT);

    json_node_set_object (h, self->last_health);
    json_builder_add_value (b, json_node_copy (h));
  } else {
    json_builder_add_null_value (b);
  }
  json_builder_set_member_name (b, "registered_at_ms");
  json_builder_add_int_value (b, self->registered_at_ms);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* The session id a lease token names, or NULL if it has none. */
const gchar *
beach_lease_token_session (const gchar *token, gsize *out_len)
{
  const gchar *colon = token != NULL ? strchr (token, ':') : NULL;

  if (colon == NULL || colon == token)
    return NULL;
  *out_len = (gsize) (colon - token);
  return token;
}

JsonNode *
beach_session_registration_to_json (BeachSession *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "session_id");
  json_builder_add_string_value (b, self->session_id);
  json_builder_set_member_name (b, "private_beach_id");
  json_builder_add_string_value (b, self->private_beach_id);
  json_builder_set_member_name (b, "harness_type");
  json_builder_add_string_value (b, beach_harness_type_to_string (self->harness_type));
  json_builder_set_member_name (b, "capabilities");
  json_builder_begin_array (b);
  for (guint i = 0; self->capabilities != NULL && self->capabilities[i] != NULL; i++)
    json_builder_add_string_value (b, self->capabilities[i]);
  json_builder_end_array (b);
  if (self->location_hint != NULL) {
    json_builder_set_member_name (b, "location_hint");
    json_builder_add_string_value (b, self->location_hint);
  }
  if (self->metadata != NULL) {
    g_autoptr (JsonNode) m = json_node_new (JSON_NODE_OBJECT);

    json_node_set_object (m, self->metadata);
    json_builder_set_member_name (b, "metadata");
    json_builder_add_value (b, json_node_copy (m));
  }
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, self->version);
  json_builder_set_member_name (b, "transport_mode");
  json_builder_add_string_value (b, beach_transport_mode_to_string (self->transport_mode));
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gchar *
beach_lease_to_string (const BeachLease *lease)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "token");
  json_builder_add_string_value (b, lease->token);
  json_builder_set_member_name (b, "granted_ms");
  json_builder_add_int_value (b, lease->granted_ms);
  json_builder_set_member_name (b, "expires_at_ms");
  json_builder_add_int_value (b, lease->expires_at_ms);
  json_builder_set_member_name (b, "ttl_ms");
  json_builder_add_int_value (b, lease->ttl_ms);
  json_builder_set_member_name (b, "reason");
  if (lease->reason != NULL)
    json_builder_add_string_value (b, lease->reason);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "by_operator");
  json_builder_add_boolean_value (b, lease->by_operator);
  json_builder_set_member_name (b, "released");
  json_builder_add_boolean_value (b, lease->released);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* The one parser of stored leases (Redis replies are outside input). */
BeachLease *
beach_lease_new_from_string (const gchar *json, GError **error)
{
  g_autoptr (JsonNode) node = beach_json_from_string (json, -1, error);
  g_autoptr (BeachLease) lease = NULL;
  JsonObject *obj;
  const gchar *token = NULL, *reason = NULL;
  gint64 granted = 0, expires = 0, ttl = 0;
  gboolean by_operator = FALSE, released = FALSE;

  if (node == NULL)
    return NULL;
  obj = beach_json_require_object (node, "lease", error);
  if (obj == NULL || !beach_json_get_string (obj, "token", "token", TRUE, 512, &token, error) || !beach_json_get_int (obj, "granted_ms", "granted_ms", TRUE, 0, G_MAXINT64, &granted, NULL, error) || !beach_json_get_int (obj, "expires_at_ms", "expires_at_ms", TRUE, 0, G_MAXINT64, &expires, NULL, error) || !beach_json_get_int (obj, "ttl_ms", "ttl_ms", TRUE, 0, G_MAXUINT32, &ttl, NULL, error) || !beach_json_get_string (obj, "reason", "reason", FALSE, 256, &reason, error) || !beach_json_get_bool (obj, "by_operator", "by_operator", TRUE, &by_operator, NULL, error) || !beach_json_get_bool (obj, "released", "released", TRUE, &released, NULL, error))
    return NULL;
  lease = g_new0 (BeachLease, 1);
  lease->token = g_strdup (token);
  lease->granted_ms = granted;
  lease->expires_at_ms = expires;
  lease->ttl_ms = (guint) ttl;
  lease->reason = g_strdup (reason);
  lease->by_operator = by_operator;
  lease->released = released;
  return g_steal_pointer (&lease);
}

/* A session rebuilt from its stored record: the ids it was given at first
 * registration are kept. */
BeachSession *
beach_session_new_restored (const BeachRegistration *reg, const gchar *harness_id, gint64 registered_at_ms, const gchar *handshake_id, gint64 now_ms)
{
  BeachSession *self = beach_session_new (reg, now_ms);

  g_free (self->harness_id);
  self->harness_id = g_strdup (harness_id);
  g_free (self->handshake_id);
  self->handshake_id = g_strdup (handshake_id);
  self->registered_at_ms = registered_at_ms;
  return self;
}

/* Adopts a stored lease, or updates the known one with the same token
 * (another manager may have renewed or released it). Takes ownership. */
void
beach_session_restore_lease (BeachSession *self, BeachLease *lease)
{
  BeachLease *known = g_hash_table_lookup (self->leases, lease->token);

  if (known != NULL) {
    /* Later expiry and a release both win: neither can be undone. */
    known->expires_at_ms = MAX (known->expires_at_ms, lease->expires_at_ms);
    known->ttl_ms = lease->ttl_ms;
    known->released = known->released || lease->released;
    beach_lease_free (lease);
    return;
  }
  g_hash_table_insert (self->leases, lease->token, lease);
  g_queue_push_tail (&self->lease_order, g_strdup (lease->token));
}
