#!/usr/bin/python3
# test-symbols.py: the exported ABI of libbeach equals its GIR.
#
# Every function in Beach-1.0.gir is exported by libbeach-1.so, and every
# beach_ symbol the library exports is in the GIR: nothing private leaks
# through libbeach.map, and nothing public is missing from it. The exported
# set also equals the committed list src/libbeach/libbeach.symbols, so an
# ABI change is always a reviewed diff of that file.
#
# usage: test-symbols.py LIBRARY GIR SYMBOLS
#
# SPDX-License-Identifier: LGPL-2.1-or-later
import subprocess
import sys
import xml.etree.ElementTree as ET

lib, gir, symbols_file = sys.argv[1], sys.argv[2], sys.argv[3]
C = '{http://www.gtk.org/introspection/c/1.0}'

tree = ET.parse(gir)
in_gir = set()
for el in tree.iter():
    ident = el.get(C + 'identifier')
    if ident and el.tag.endswith(('}function', '}method', '}constructor')):
        in_gir.add(ident)
    gtype = el.get('{http://www.gtk.org/introspection/glib/1.0}get-type')
    if gtype and gtype != 'intern':
        in_gir.add(gtype)

out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                     capture_output=True, text=True).stdout
exported = {line.split()[-1].split('@')[0] for line in out.splitlines()
            if line.split() and line.split()[-2] in ('T', 'W')}
ours = {s for s in exported if s.startswith('beach_')}

with open(symbols_file) as f:
    committed = {line.strip() for line in f if line.strip() and not line.startswith('#')}

missing = sorted(in_gir - exported)
leaked = sorted(ours - in_gir)
print('1..3')
print(('ok' if not missing else 'not ok') + ' 1 - every GIR function is exported')
for s in missing:
    print('# not exported: ' + s)
print(('ok' if not leaked else 'not ok') + ' 2 - every exported beach_ symbol is in the GIR')
for s in leaked:
    print('# exported but not introspectable: ' + s)
added = sorted(ours - committed)
removed = sorted(committed - ours)
print(('ok' if not added and not removed else 'not ok')
      + ' 3 - the exported symbols equal the committed list (%s)' % symbols_file)
for s in added:
    print('# exported but not in the list (new ABI? add it): ' + s)
for s in removed:
    print('# in the list but not exported (an ABI break): ' + s)
print('# %d symbols checked' % len(ours))
sys.exit(1 if missing or leaked or added or removed else 0)
