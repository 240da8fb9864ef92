/* queue-conformance.h: the fallback queue contract, as GTest cases
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-fallback-queue.h"

G_BEGIN_DECLS

/* Called once per test with that test's private GMainContext pushed as
 * thread-default, so the queue's timers and replies land there. Return NULL
 * to skip the test (e.g. the backend cannot run here). The suite unrefs
 * the queue at teardown and expects it to finalize. */
typedef BeachFallbackQueue *(*QueueConformanceFactory) (const BeachQueueConfig *config,
                                                        gpointer data);

/* Registers the suite under @prefix using only the abstract API. Every
 * test works on fresh, randomly named sessions and drops them at the end,
 * so a persistent backend can be shared between tests. */
void queue_conformance_add_tests (const gchar *prefix,
                                  BeachFallbackQueue *(*factory) (const BeachQueueConfig *config, gpointer data),
                                  gpointer data);

G_END_DECLS
