/* beach-i18n.h: gettext set-up shared by beach-manager, beach-host and
 * beachctl (compiled into each program, not part of libbeach)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where the catalogs are: <dir of the executable>/../share/locale when that
 * directory exists (an install moved with DESTDIR or to another prefix),
 * else the configured LOCALEDIR. */
gchar *beach_i18n_get_locale_dir (void);

/* setlocale (LC_ALL, ""), then binds GETTEXT_PACKAGE to that directory in
 * UTF-8 and makes it the default domain. Call first thing in main(). */
void beach_i18n_init (void);

G_END_DECLS
