/* standalone-main.c: replay files through a libFuzzer target without clang
 *
 * usage: fuzz-TARGET CORPUS-DIR [REGRESSIONS-DIR...]
 * Every file of every directory goes through LLVMFuzzerTestOneInput
 * (README* files too: any input must be safe). A crash or an abort fails
 * the test; one TAP result per directory. The first directory must hold
 * inputs; the others may be empty.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
  gboolean failed = FALSE;

  if (argc < 2) {
    g_printerr ("usage: %s CORPUS-DIR [DIR...]\n", argv[0]);
    return 2;
  }
  g_print ("1..%d\n", argc - 1);
  for (int i = 1; i < argc; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GDir) dir = g_dir_open (argv[i], 0, &error);
    const gchar *name;
    guint n = 0;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *path = g_build_filename (argv[i], name, NULL);
      g_autofree gchar *data = NULL;
      gsize len = 0;

      if (g_file_test (path, G_FILE_TEST_IS_DIR) || !g_file_get_contents (path, &data, &len, NULL))
        continue;
      LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
      n++;
    }
    if (dir == NULL || (i == 1 && n == 0)) {
      g_print ("not ok %d - %s: %s\n", i, argv[i], error != NULL ? error->message : "no inputs");
      failed = TRUE;
    } else {
      g_print ("ok %d - replayed %u inputs of %s\n", i, n, argv[i]);
    }
  }
  return failed ? 1 : 0;
}
