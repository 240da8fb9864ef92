#!/usr/bin/python3
# test-config-keys.py: every key the daemon reads is documented
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#     test-config-keys.py SRC/beach-config.c MAN/beach-manager.conf.5 DATA/beach-manager.conf
#
# Reads the groups and keys src/manager/beach-config.c parses (and the
# ranges of its numbers) and checks, both ways, that they are the ones
# beach-manager.conf(5) documents and the example file lists: each key under
# its group, each number with the range the code enforces and the default the
# example shows. Prints TAP.

import ast
import operator
import re
import sys

config_c, man_path, example_path = sys.argv[1:4]

with open(config_c) as f:
    c_text = f.read()
with open(man_path) as f:
    man_text = f.read()
with open(example_path) as f:
    example_text = f.read()


def const_int(expr):
    """A C constant expression of decimal numbers, + and * (65536, 64 * 1024)."""
    ops = {ast.Add: operator.add, ast.Mult: operator.mul}

    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError('not a constant expression: %r' % expr)

    return ev(ast.parse(expr.strip(), mode='eval').body)


# -- what the code reads ----------------------------------------------------

groups_m = re.search(r'known_groups\[\]\s*=\s*\{([^}]*)\}', c_text)
code_groups = re.findall(r'"(\w+)"', groups_m.group(1)) if groups_m else []

code_keys = {}    # (group, key) -> None, or (min, max) for numbers
for m in re.finditer(r'\(\s*kf\s*,\s*"(\w+)"\s*,\s*"(\w+)"', c_text):
    code_keys.setdefault((m.group(1), m.group(2)), None)
# read_address_list (kf, "KEY", ...) reads [fastpath] KEY.
for m in re.finditer(r'read_address_list\s*\(\s*kf\s*,\s*"(\w+)"', c_text):
    code_keys.setdefault(('fastpath', m.group(1)), None)
for m in re.finditer(r'read_uint\s*\(\s*kf\s*,\s*"(\w+)"\s*,\s*"(\w+)"\s*,([^,]+),([^,]+),', c_text):
    code_keys[(m.group(1), m.group(2))] = (const_int(m.group(3)), const_int(m.group(4)))

# -- what the man page documents -------------------------------------------

man_sections = {}   # group -> {key: entry text}
for m in re.finditer(r'^\.SH "\[(\w+)\] GROUP"\n(.*?)(?=^\.SH )', man_text, re.M | re.S):
    entries = {}
    for e in re.finditer(r'^\.TP\n\.B (\w+)\n(.*?)(?=^\.TP\n|\Z)', m.group(2), re.M | re.S):
        entries[e.group(1)] = e.group(2)
    man_sections[m.group(1)] = entries
man_keys = {(g, k) for g, entries in man_sections.items() for k in entries}

# -- what the example lists ---------------------------------------------------

example_keys = {}   # (group, key) -> value
group = None
for line in example_text.splitlines():
    line = line.strip()
    if not line or line.startswith('#'):
        continue
    m = re.fullmatch(r'\[(\w+)\]', line)
    if m:
        group = m.group(1)
        continue
    key, _, value = line.partition('=')
    example_keys[(group, key.strip())] = value.strip()

# -- checks ------------------------------------------------------------------

results = []


def check(name, problems):
    results.append((name, problems))


ranged = sum(1 for r in code_keys.values() if r is not None)
calls = len(re.findall(r'read_uint\s*\(\s*kf\b', c_text))
check('beach-config.c: groups and keys found',
      [] if code_groups and len(code_keys) >= 25 and ranged == calls else
      ['parsed %d groups, %d keys, %d of %d read_uint calls: the patterns no longer '
       'match beach-config.c' % (len(code_groups), len(code_keys), ranged, calls)])
check('every key is in a known group',
      ['[%s] %s' % k for k in sorted(code_keys) if k[0] not in code_groups])
check('every group has a section in the man page',
      ['[%s]' % g for g in code_groups if g not in man_sections])
check('every group is in the example',
      ['[%s]' % g for g in code_groups if g not in {g for g, _ in example_keys}])
check('every key read is in the man page',
      ['[%s] %s' % k for k in sorted(code_keys) if k not in man_keys])
check('every key read is in the example',
      ['[%s] %s' % k for k in sorted(code_keys) if k not in example_keys])
check('the man page documents no key the code does not read',
      ['[%s] %s' % k for k in sorted(man_keys) if k not in code_keys])
check('the example lists no key the code does not read',
      ['[%s] %s' % k for k in sorted(example_keys) if k not in code_keys])


def ranges_and_defaults():
    problems = []
    for (g, k), rng in sorted(code_keys.items()):
        entry = man_sections.get(g, {}).get(k)
        if rng is None or entry is None:
            continue
        flat = ' '.join(entry.split())
        want = '%d..%d' % rng
        if ('in ' + want) not in flat:
            problems.append('[%s] %s: man page lacks the range "in %s"' % (g, k, want))
        value = example_keys.get((g, k))
        if value is not None and ('default %s' % value) not in flat:
            problems.append('[%s] %s: man page lacks "default %s" (the example\'s value)'
                            % (g, k, value))
        if value is not None and not (value.isdigit() and rng[0] <= int(value) <= rng[1]):
            problems.append('[%s] %s: example value %r outside %s' % (g, k, value, want))
    return problems


check('numbers: the man page gives the range the code enforces and the example default',
      ranges_and_defaults())
check('the man page has an EXAMPLE section and names --config',
      [] if re.search(r'^\.SH EXAMPLE', man_text, re.M) and r'\-\-config' in man_text
      else ['no .SH EXAMPLE or no \\-\\-config'])

print('1..%d' % len(results))
for i, (name, problems) in enumerate(results, 1):
    print('%s %d - %s' % ('not ok' if problems else 'ok', i, name))
    for p in problems:
        print('# ' + p)
sys.exit(1 if any(p for _, p in results) else 0)
