/* beach.h: the libbeach umbrella header
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define __BEACH_H_INSIDE__

#include "beach-action-ack.h"
#include "beach-action.h"
#include "beach-enum-types.h"
#include "beach-enums.h"
#include "beach-error.h"
#include "beach-fast-path-link.h"
#include "beach-harness.h"
#include "beach-health.h"
#include "beach-ids.h"
#include "beach-manager-client.h"
#include "beach-poll-gate.h"
#include "beach-state-diff.h"
#include "beach-transport-hints.h"
#include "beach-version.h"

#undef __BEACH_H_INSIDE__
