/* beach-memory-queue.h: the in-process fallback queue
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "beach-fallback-queue.h"

G_BEGIN_DECLS

#define BEACH_TYPE_MEMORY_QUEUE (beach_memory_queue_get_type ())
G_DECLARE_FINAL_TYPE (BeachMemoryQueue, beach_memory_queue, BEACH, MEMORY_QUEUE, BeachFallbackQueue)

/* The queue's timers and the signals they cause run on the thread-default
 * main context at construction. */
BeachFallbackQueue *beach_memory_queue_new (const BeachQueueConfig *config);

G_END_DECLS
