/* beach-manager-app.h: the beach-manager GApplication
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define BEACH_TYPE_MANAGER_APP (beach_manager_app_get_type ())
G_DECLARE_FINAL_TYPE (BeachManagerApp, beach_manager_app, BEACH, MANAGER_APP, GApplication)

BeachManagerApp *beach_manager_app_new (void);
gint beach_manager_app_get_exit_status (BeachManagerApp *self);

G_END_DECLS
