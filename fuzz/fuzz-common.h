/* fuzz-common.h: shared by the libFuzzer targets of fuzz/
 *
 * Each target is built twice: with clang -fsanitize=fuzzer by
 * `meson setup -Dfuzzing=true` (scripts/fuzz), and with standalone-main.c
 * as a test that replays fuzz/corpus/TARGET/ and fuzz/regressions/TARGET/.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "beach.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Warnings are expected (a skipped entry is warned about) and only slow
 * the fuzzer down; a critical is a bug: abort so it is reported. */
static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) == 0)
    return G_LOG_WRITER_HANDLED;
  for (gsize i = 0; i < n_fields; i++) {
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
      fprintf (stderr, "fuzz: critical: %s\n", (const gchar *) fields[i].value);
  }
  abort ();
}

static inline void
fuzz_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
    g_once_init_leave (&done, 1);
  }
}

/* A refusal is a BEACH_ERROR with a message, never a bare FALSE. */
#define FUZZ_ASSERT_REFUSAL(error)                                                                                    \
  G_STMT_START                                                                                                        \
  {                                                                                                                   \
    if ((error) == NULL || (error)->domain != BEACH_ERROR || (error)->message == NULL || (error)->message[0] == '\0') \
      g_error ("refusal without a BEACH_ERROR message");                                                              \
  }                                                                                                                   \
  G_STMT_END

/* Consumes one byte of the input (0 when none is left). */
static inline guint8
fuzz_take_byte (const uint8_t **data, size_t *size)
{
  guint8 b;

  if (*size == 0)
    return 0;
  b = **data;
  (*data)++;
  (*size)--;
  return b;
}
