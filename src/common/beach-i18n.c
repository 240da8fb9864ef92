/* beach-i18n.c: gettext set-up shared by the programs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "beach-i18n"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "beach-i18n.h"

gchar *
beach_i18n_get_locale_dir (void)
{
  g_autofree gchar *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree gchar *bindir = NULL;
  g_autofree gchar *dir = NULL;

  if (exe == NULL || !g_path_is_absolute (exe))
    return g_strdup (LOCALEDIR);
  bindir = g_path_get_dirname (exe);
  dir = g_canonicalize_filename ("../share/locale", bindir);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    return g_strdup (LOCALEDIR);
  return g_steal_pointer (&dir);
}

void
beach_i18n_init (void)
{
  g_autofree gchar *dir = beach_i18n_get_locale_dir ();

  setlocale (LC_ALL, "");
  /* bindtextdomain copies the directory name. */
  bindtextdomain (GETTEXT_PACKAGE, dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}
