/* standalone-main.c: replay files through a libFuzzer target without clang
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
  guint n = 0;

  for (int i = 1; i < argc; i++) {
    g_autoptr (GDir) dir = g_dir_open (argv[i], 0, NULL);
    const gchar *name;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *path = g_build_filename (argv[i], name, NULL);
      g_autofree gchar *data = NULL;
      gsize len = 0;

      if (!g_file_get_contents (path, &data, &len, NULL))
        continue;
      LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
      n++;
    }
  }
  g_print ("1..1\nok 1 - replayed %u inputs\n", n);
  return n > 0 ? 0 : 1;
}
