#!/usr/bin/python3
# test-po.py: the translations are complete and the programs find them.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#     BEACHCTL=build/src/ctl/beachctl BEACH_HOST=build/src/host/beach-host \
#     BEACH_MO_DIR=build/po LIBBEACH_DIR=build/src/libbeach \
#         /usr/bin/python3 tests/test-po.py
#
# 1. po/POTFILES.in names exactly the files under src/ that mark strings
#    (_(), N_(), C_(), NC_(), ngettext (), g_dngettext ()...), both ways.
# 2. Every msgid xgettext extracts from those files today (meson's glib
#    preset keywords) has a translation in po/de.po that is neither fuzzy nor
#    empty (msgcmp); de.po itself has no fuzzy or untranslated entry, the
#    plural forms of German, and passes msgfmt -c --check-format.
# 3. The compiled catalog works through the relocation lookup the programs
#    use (src/common/beach-i18n.c): beachctl and beach-host copied into
#    TMP/bin with the built .mo in TMP/share/locale print German --help
#    under LANGUAGE=de LC_ALL=C.UTF-8, and English without LANGUAGE.
# The gettext tools come from Debian's gettext (scripts/packages.txt).
# Prints TAP.

import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SRCROOT = os.path.dirname(HERE)
PO_DIR = os.path.join(SRCROOT, 'po')
DOMAIN = 'beach-manager'

# meson's i18n 'glib' preset (mesonbuild/modules/i18n.py), as po/meson.build
# uses it; xgettext adds its C defaults (gettext, ngettext, dgettext...).
XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments',
    '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2', '--keyword=NC_:1c,2',
    '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3', '--keyword=g_dpgettext2:2c,3',
    '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format', '--flag=NC_:2:pass-c-format',
    '--flag=g_dngettext:2:pass-c-format', '--flag=g_strdup_printf:1:c-format',
    '--flag=g_string_printf:2:c-format', '--flag=g_string_append_printf:2:c-format',
    '--flag=g_error_new:3:c-format', '--flag=g_set_error:4:c-format',
    '--flag=g_markup_printf_escaped:1:c-format', '--flag=g_log:3:c-format',
    '--flag=g_print:1:c-format', '--flag=g_printerr:1:c-format', '--flag=g_printf:1:c-format',
    '--flag=g_fprintf:2:c-format', '--flag=g_sprintf:2:c-format', '--flag=g_snprintf:3:c-format',
]

# A call that marks a string: one of the keywords above or of xgettext's C
# defaults, as a whole word, before "(" (the repo's style puts a space).
MARKER = re.compile(r'(?<![A-Za-z0-9_])(?:_|N_|C_|NC_|Q_|gettext|dgettext|dcgettext|ngettext|'
                    r'dngettext|dcngettext|pgettext|npgettext|g_dgettext|g_dcgettext|'
                    r'g_dngettext|g_dpgettext|g_dpgettext2)\s*\(')

# The German strings the --help of each program must show, and the English
# ones they replace.
GERMAN_HELP = {
    'beachctl': ['Einen beach-manager beobachten und steuern: Status über D-Bus, Aktionen über HTTP.',
                 'Maschinenlesbare Ausgabe: ein JSON-Dokument pro Befehl',
                 'BEFEHL [ARGUMENTE…]', 'Befehle:',
                 'set-mode SITZUNG MODUS  Den Transportmodus setzen'],
    'beach-host': ['Einen Befehl in einem Pseudo-Terminal ausführen und ihn als Sitzung an einen '
                   'Private-Beach-Manager anbinden.',
                   '--journal=PFAD', 'Terminalzeilen (Vorgabe 24)', '-- BEFEHL [ARGUMENTE…]'],
}
ENGLISH_HELP = {
    'beachctl': ['Look at and drive a beach-manager: status over D-Bus, actions over HTTP.',
                 'Machine output: one JSON document per command', 'COMMAND [ARGS…]', 'Commands:'],
    'beach-host': ['Run a command in a pseudo-terminal and attach it to a Private Beach manager as a '
                   'session.', '--journal=PATH', 'Terminal rows (default 24)'],
}


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def strip_comments_and_strings(text):
    """C source without comments, string and character literals (each
    replaced by a blank), so markers are looked for in code only."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            i = n if j < 0 else j + 2
            out.append(' ')
        elif text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            i = j + 1
            out.append(c + c)
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def source_files():
    """The C files under src/: git's tracked and untracked-but-not-ignored
    files, or a walk when this is not a git checkout."""
    p = None
    if shutil.which('git'):
        p = run(['git', '-C', SRCROOT, 'ls-files', '--cached', '--others', '--exclude-standard',
                 '--', 'src'])
    if p is not None and p.returncode == 0:
        names = p.stdout.splitlines()
    else:
        names = []
        for root, _dirs, files in os.walk(os.path.join(SRCROOT, 'src')):
            names += [os.path.relpath(os.path.join(root, f), SRCROOT) for f in files]
    return sorted(n for n in names if n.endswith(('.c', '.h'))
                  and os.path.isfile(os.path.join(SRCROOT, n)))


def potfiles():
    with open(os.path.join(PO_DIR, 'POTFILES.in'), encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]


def check_potfiles():
    marking = []
    for name in source_files():
        with open(os.path.join(SRCROOT, name), encoding='utf-8') as f:
            if MARKER.search(strip_comments_and_strings(f.read())):
                marking.append(name)
    listed = potfiles()
    problems = []
    dups = sorted({n for n in listed if listed.count(n) > 1})
    if dups:
        problems.append('listed twice in POTFILES.in: %s' % ', '.join(dups))
    missing = sorted(set(marking) - set(listed))
    if missing:
        problems.append('mark strings but are not in POTFILES.in: %s' % ', '.join(missing))
    extra = sorted(set(listed) - set(marking))
    if extra:
        problems.append('in POTFILES.in but mark no string (or do not exist): %s' % ', '.join(extra))
    if not marking:
        problems.append('no source file marks a string: the marker pattern is broken')
    return problems


def check_catalog(tmp):
    problems = []
    de_po = os.path.join(PO_DIR, 'de.po')
    pot = os.path.join(tmp, DOMAIN + '.pot')
    p = run(['xgettext', '--package-name=' + DOMAIN, '-D', SRCROOT, '-o', pot,
             '-f', os.path.join(PO_DIR, 'POTFILES.in')] + XGETTEXT_ARGS)
    if p.returncode != 0:
        return ['xgettext failed: %s' % p.stderr]
    n_msgids = sum(1 for line in open(pot, encoding='utf-8') if line.startswith('msgid "')) - 1
    if n_msgids < 50:
        problems.append('xgettext extracted only %d msgids' % n_msgids)
    # Every msgid of the sources is in de.po, translated and not fuzzy.
    p = run(['msgcmp', de_po, pot])
    if p.returncode != 0:
        problems.append('de.po lacks translations of the current sources '
                        '(meson compile beach-manager-pot, then beach-manager-update-po):\n%s' % p.stderr)
    # de.po itself: no fuzzy, no untranslated, valid formats.
    p = run(['msgfmt', '-c', '--check-format', '--statistics', '-o', os.devnull, de_po],
            env=dict(os.environ, LC_ALL='C'))
    if p.returncode != 0:
        problems.append('msgfmt -c --check-format: %s' % p.stderr)
    elif re.search(r'fuzzy|untranslated', p.stderr):
        problems.append('de.po is not complete: %s' % p.stderr.strip())
    with open(de_po, encoding='utf-8') as f:
        text = f.read()
    if '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' not in text:
        problems.append('de.po: Plural-Forms is not "nplurals=2; plural=(n != 1);"')
    if '"Language: de\\n"' not in text:
        problems.append('de.po: no "Language: de" header')
    with open(os.path.join(PO_DIR, 'LINGUAS'), encoding='utf-8') as f:
        linguas = [w for line in f if not line.startswith('#') for w in line.split()]
    if 'de' not in linguas:
        problems.append('po/LINGUAS does not list de')
    return problems


def relocated_tree(tmp):
    """TMP/bin with copies of the programs, TMP/share/locale with the built
    catalog: what an install moved with DESTDIR looks like to the lookup."""
    mo = os.path.join(os.environ['BEACH_MO_DIR'], 'de', 'LC_MESSAGES', DOMAIN + '.mo')
    if not os.path.isfile(mo):
        raise AssertionError('no built catalog at %s' % mo)
    root = os.path.join(tmp, 'prefix')
    os.makedirs(os.path.join(root, 'bin'))
    os.makedirs(os.path.join(root, 'share', 'locale', 'de', 'LC_MESSAGES'))
    shutil.copy(mo, os.path.join(root, 'share', 'locale', 'de', 'LC_MESSAGES'))
    programs = {}
    for name, var in (('beachctl', 'BEACHCTL'), ('beach-host', 'BEACH_HOST')):
        programs[name] = shutil.copy(os.environ[var], os.path.join(root, 'bin', name))
    return programs


def check_runtime(tmp, language):
    problems = []
    programs = relocated_tree(tmp)
    env = dict(os.environ, LC_ALL='C.UTF-8')
    env.pop('LANGUAGE', None)
    env.pop('LANG', None)
    if language:
        env['LANGUAGE'] = language
    # beach-host's RUNPATH ($ORIGIN/../libbeach) does not survive the copy.
    env['LD_LIBRARY_PATH'] = os.environ['LIBBEACH_DIR']
    for name, path in programs.items():
        p = run([path, '--help'], env=env, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            problems.append('%s --help: exit %d: %s' % (name, p.returncode, p.stderr))
            continue
        want, unwanted = ((GERMAN_HELP, ENGLISH_HELP) if language else (ENGLISH_HELP, GERMAN_HELP))
        for s in want[name]:
            if s not in p.stdout:
                problems.append('%s --help (LANGUAGE=%s): no %r in:\n%s' % (name, language, s, p.stdout))
        for s in unwanted[name]:
            if s in p.stdout:
                problems.append('%s --help (LANGUAGE=%s): %r in:\n%s' % (name, language, s, p.stdout))
    return problems


def main():
    checks = [
        ('POTFILES.in lists exactly the files that mark strings', lambda tmp: check_potfiles()),
        ('po/de.po translates every string of the sources', check_catalog),
        ('the relocated programs print German --help with LANGUAGE=de',
         lambda tmp: check_runtime(tmp, 'de')),
        ('and English without LANGUAGE', lambda tmp: check_runtime(tmp, None)),
    ]
    print('1..%d' % len(checks))
    failed = 0
    for i, (title, check) in enumerate(checks, 1):
        with tempfile.TemporaryDirectory(prefix='test-po-') as tmp:
            try:
                problems = check(tmp)
            except Exception:  # noqa: BLE001 - reported as a failure
                problems = [traceback.format_exc()]
        print(('not ok' if problems else 'ok') + ' %d - %s' % (i, title))
        for problem in problems:
            for line in problem.splitlines():
                print('# ' + line)
        failed += bool(problems)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
