/* main.c: beach-manager entry point
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <signal.h>

#include "beach-i18n.h"
#include "beach-manager-app.h"

int
main (int argc, char **argv)
{
  g_autoptr (BeachManagerApp) app = NULL;
  int status;

  /* A peer that vanishes mid-write (hiredis writes with plain write()) must
   * be an error return, not the end of the daemon. */
  signal (SIGPIPE, SIG_IGN);
  /* GApplication's main option group translates with the default domain,
   * which this sets; its summary is translated where it is set. */
  beach_i18n_init ();

  app = beach_manager_app_new ();
  status = g_application_run (G_APPLICATION (app), argc, argv);
  if (status == 0)
    status = beach_manager_app_get_exit_status (app);
  return status;
}
