#!/usr/bin/python3
"""test-install.py: what `meson install` puts in a DESTDIR, and that it runs.

    test-install.py --build-root BUILD --source-root SRC [--meson MESON] [-v]

meson passes these (tests/meson.build, suite 'install'); the environment
carries BEACH_SANITIZED / BEACH_SANITIZE (the build's b_sanitize), CC, and
the sanitizer options. Run by hand:

    /usr/bin/python3 tests/test-install.py --build-root build --source-root . -v

It runs `meson install --destdir TMP --no-rebuild` once, then checks:

- every file we ship is at its configured path (prefix, bindir, libdir,
  ... as `meson introspect` reports them) and nothing else is an ELF file;
- no installed file names the build or the source tree (ELF files with
  their debug sections removed: DWARF records the compile directory by
  design, and stripping it is the packager's job; RPATH/RUNPATH explicitly);
- the installed programs work from the DESTDIR with LD_LIBRARY_PATH at its
  libdir only: beach-manager serves, beach-host attaches over the fast path
  and types what it is sent into `cat`, beachctl sends and leases over HTTP
  and speaks German with LANGUAGE=de;
- /usr/bin/python3 loads the installed typelib and library (not under ASan);
- a C program builds against the installed headers through the installed
  pkg-config file, links the installed library, and runs.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'e2e'))

import beachtest  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--build-root', required=True)
ap.add_argument('--source-root', required=True)
ap.add_argument('--meson', default=shutil.which('meson') or 'meson')
ARGS, REST = ap.parse_known_args()
BUILD = os.path.realpath(ARGS.build_root)
SOURCE = os.path.realpath(ARGS.source_root)
SANITIZED = os.environ.get('BEACH_SANITIZED') == '1'
SANITIZE = os.environ.get('BEACH_SANITIZE', 'none')

RUN_TIMEOUT = 30        # one short command (--help, pkg-config, a query)
INSTALL_TIMEOUT = 300   # meson install of the whole tree on a loaded machine
COMPILE_TIMEOUT = 120
HEALTHY_TIMEOUT = 30.0  # the host's link up and its poller paused (goal ~10 s)
STATE_TIMEOUT = 10.0    # a delivered write shows in the session state

# Filled by setUpModule.
DEST = None       # the DESTDIR
OPTS = {}         # meson build options by name
P = {}            # configured directories (absolute, without DESTDIR)


def run(argv, env=None, timeout=RUN_TIMEOUT, check=True, **kw):
    r = subprocess.run(argv, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if check and r.returncode != 0:
        raise AssertionError('%s: exit status %d\nstdout:\n%s\nstderr:\n%s'
                             % (' '.join(argv), r.returncode,
                                r.stdout.decode(errors='replace'),
                                r.stderr.decode(errors='replace')))
    return r


def in_dest(path):
    """A configured absolute path, inside the DESTDIR."""
    return os.path.join(DEST, os.path.relpath(path, '/'))


def abs_dir(opt):
    v = OPTS[opt]
    return v if os.path.isabs(v) else os.path.join(OPTS['prefix'], v)


def linguas():
    path = os.path.join(SOURCE, 'po', 'LINGUAS')
    langs = []
    with open(path) as f:
        for line in f:
            langs += line.split('#', 1)[0].split()
    return langs


def installed_env(**extra):
    """The environment for an installed program: the DESTDIR's libdir as the
    only LD_LIBRARY_PATH, no typelib path, a fixed English locale."""
    env = dict(os.environ)
    for k in ('LD_LIBRARY_PATH', 'GI_TYPELIB_PATH', 'LANGUAGE', 'LANG', 'BEACH_MANAGER_TOKEN',
              'DBUS_SESSION_BUS_ADDRESS', 'DBUS_SYSTEM_BUS_ADDRESS', 'PKG_CONFIG_PATH',
              'PKG_CONFIG_SYSROOT_DIR', 'LD_PRELOAD'):
        env.pop(k, None)
    env['LD_LIBRARY_PATH'] = in_dest(P['libdir'])
    env['LC_ALL'] = 'C.UTF-8'
    # No session bus: beachctl must not find some other manager on it, and
    # the daemon runs on without one.
    env['DBUS_SESSION_BUS_ADDRESS'] = 'unix:path=/nonexistent/bus'
    env.update(extra)
    return env


def setUpModule():
    global DEST
    intro = run([ARGS.meson, 'introspect', '--buildoptions', BUILD])
    for o in json.loads(intro.stdout):
        OPTS[o['name']] = o['value']
    for d in ('bindir', 'libdir', 'includedir', 'datadir', 'mandir', 'localedir'):
        P[d] = abs_dir(d)
    unit_dir = OPTS.get('systemd_user_unit_dir') or ''
    if not unit_dir:
        # As data/meson.build: systemd.pc's directory rebased on our prefix.
        r = run(['pkg-config', '--define-variable=prefix=' + OPTS['prefix'],
                 '--variable=systemduserunitdir', 'systemd'], check=False)
        unit_dir = r.stdout.decode().strip() if r.returncode == 0 and r.stdout.strip() else \
            os.path.join(OPTS['prefix'], 'lib', 'systemd', 'user')
    P['unitdir'] = unit_dir
    DEST = tempfile.mkdtemp(prefix='beach-install-')
    try:
        run([ARGS.meson, 'install', '-C', BUILD, '--destdir', DEST, '--no-rebuild', '--quiet'],
            timeout=INSTALL_TIMEOUT)
    except BaseException:
        # tearDownModule does not run when setUpModule fails.
        shutil.rmtree(DEST, ignore_errors=True)
        raise


def tearDownModule():
    if DEST:
        shutil.rmtree(DEST, ignore_errors=True)


def installed_files():
    out = []
    for root, dirs, files in os.walk(DEST):
        for name in files:
            out.append(os.path.join(root, name))
    return sorted(out)


def is_elf(path):
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, 'rb') as f:
        return f.read(4) == b'\x7fELF'


def expected_files():
    """{configured absolute path: what it is}."""
    bindir, libdir, datadir, mandir = P['bindir'], P['libdir'], P['datadir'], P['mandir']
    inc = os.path.join(P['includedir'], 'libbeach-1')
    exp = {}
    for prog in ('beach-manager', 'beach-host', 'beachctl'):
        exp[os.path.join(bindir, prog)] = 'program'
    for lib in ('libbeach-1.so', 'libbeach-1.so.0', 'libbeach-1.so.0.0.0'):
        exp[os.path.join(libdir, lib)] = 'library'
    exp[os.path.join(libdir, 'pkgconfig', 'libbeach-1.pc')] = 'pkg-config file'
    # The public headers: every one beach.h includes, and every header in
    # src/libbeach that is not *-private.h.
    with open(os.path.join(SOURCE, 'src', 'libbeach', 'beach.h')) as f:
        headers = set(re.findall(r'#include "([^"]+)"', f.read())) | {'beach.h'}
    headers |= {h for h in os.listdir(os.path.join(SOURCE, 'src', 'libbeach'))
                if h.endswith('.h') and not h.endswith('-private.h')}
    for h in headers:
        exp[os.path.join(inc, h)] = 'header'
    if OPTS.get('introspection', True):
        exp[os.path.join(datadir, 'gir-1.0', 'Beach-1.0.gir')] = 'GIR'
        exp[os.path.join(libdir, 'girepository-1.0', 'Beach-1.0.typelib')] = 'typelib'
    for xml in os.listdir(os.path.join(SOURCE, 'introspection')):
        if xml.endswith('.xml'):
            exp[os.path.join(datadir, 'dbus-1', 'interfaces', xml)] = 'D-Bus interface'
    exp[os.path.join(datadir, 'dbus-1', 'services', 'sh.beach.Manager1.service')] = \
        'D-Bus activation file'
    exp[os.path.join(P['unitdir'], 'beach-manager.service')] = 'systemd user unit'
    for page in os.listdir(os.path.join(SOURCE, 'data', 'man')):
        section = page.rsplit('.', 1)[-1]
        if section.isdigit():
            exp[os.path.join(mandir, 'man' + section, page)] = 'man page'
    for comp in os.listdir(os.path.join(SOURCE, 'data', 'completions')):
        exp[os.path.join(datadir, 'bash-completion', 'completions', comp)] = 'bash completion'
    exp[os.path.join(datadir, 'doc', 'beach-manager', 'examples', 'beach-manager.conf')] = \
        'example config'
    exp[os.path.join(datadir, 'beach-manager', 'grafana', 'beach-manager.json')] = \
        'Grafana board'
    if os.path.exists(os.path.join(SOURCE, 'data', 'openapi.yaml')):
        exp[os.path.join(datadir, 'beach-manager', 'openapi.yaml')] = 'OpenAPI description'
    for lang in linguas():
        exp[os.path.join(P['localedir'], lang, 'LC_MESSAGES', 'beach-manager.mo')] = \
            'message catalog'
    return exp


class InstalledFiles(unittest.TestCase):

    def test_expected_files(self):
        exp = expected_files()
        # The man pages, for one: all four.
        self.assertGreaterEqual(sum(1 for w in exp.values() if w == 'man page'), 4)
        missing = ['%s (%s)' % (p, w) for p, w in sorted(exp.items())
                   if not os.path.exists(in_dest(p))]
        self.assertEqual(missing, [], 'not installed at the configured path')
        self.assertTrue(os.path.islink(in_dest(os.path.join(P['libdir'], 'libbeach-1.so'))),
                        'libbeach-1.so is the development symlink')
        if not os.path.exists(os.path.join(SOURCE, 'data', 'openapi.yaml')):
            sys.stderr.write('note: data/openapi.yaml is not in the source tree yet\n')

    def test_programs_are_executable(self):
        for prog in ('beach-manager', 'beach-host', 'beachctl'):
            path = in_dest(os.path.join(P['bindir'], prog))
            self.assertTrue(os.access(path, os.X_OK), path)

    def test_no_stray_binaries(self):
        # Tests, benchmarks and fuzzers stay in the build tree.
        allowed = {os.path.realpath(in_dest(os.path.join(P['bindir'], p)))
                   for p in ('beach-manager', 'beach-host', 'beachctl')}
        allowed.add(os.path.realpath(in_dest(os.path.join(P['libdir'], 'libbeach-1.so.0.0.0'))))
        stray = [f for f in installed_files() if is_elf(f) and os.path.realpath(f) not in allowed]
        self.assertEqual(stray, [])

    def test_everything_under_prefix(self):
        roots = [in_dest(OPTS['prefix']), in_dest(P['unitdir'])]
        outside = [f for f in installed_files()
                   if not any(f.startswith(r.rstrip('/') + '/') for r in roots)]
        self.assertEqual(outside, [])

    def test_no_build_or_source_paths(self):
        needles = {BUILD.encode(), SOURCE.encode()}
        # The unresolved spellings too, if the roots were given through links.
        needles |= {os.path.abspath(ARGS.build_root).encode(),
                    os.path.abspath(ARGS.source_root).encode()}
        bad = []
        scanned = 0
        for f in installed_files():
            if os.path.islink(f):
                target = os.readlink(f)
                if any(n.decode() in target for n in needles) or os.path.isabs(target):
                    bad.append('%s -> %s' % (f, target))
                continue
            if is_elf(f):
                dyn = run(['readelf', '-d', f]).stdout.decode(errors='replace')
                for line in dyn.splitlines():
                    if 'RPATH' in line or 'RUNPATH' in line:
                        if any(n.decode() in line for n in needles):
                            bad.append('%s: %s' % (f, line.strip()))
                # DWARF records the compile directory (DW_AT_comp_dir) by
                # design; everything else must not name the trees.
                with tempfile.NamedTemporaryFile(prefix='beach-stripped-') as tmp:
                    run(['objcopy', '--strip-debug', f, tmp.name])
                    with open(tmp.name, 'rb') as fd:
                        data = fd.read()
            else:
                with open(f, 'rb') as fd:
                    data = fd.read()
            scanned += 1
            for n in needles:
                if n in data:
                    i = data.index(n)
                    bad.append('%s: %r' % (f, data[max(0, i - 40):i + len(n) + 40]))
        self.assertGreaterEqual(scanned, 30)
        self.assertEqual(bad, [], 'installed files that name the build or source tree')

    def test_units_point_at_installed_binary(self):
        daemon = os.path.join(P['bindir'], 'beach-manager')
        with open(in_dest(os.path.join(P['unitdir'], 'beach-manager.service'))) as f:
            unit = f.read()
        self.assertRegex(unit, r'(?m)^ExecStart=%s --require-dbus$' % re.escape(daemon))
        with open(in_dest(os.path.join(P['datadir'], 'dbus-1', 'services',
                                       'sh.beach.Manager1.service'))) as f:
            service = f.read()
        self.assertRegex(service, r'(?m)^Exec=%s ' % re.escape(daemon))
        self.assertRegex(service, r'(?m)^SystemdService=beach-manager\.service$')

    def test_pkgconfig_file(self):
        with open(in_dest(os.path.join(P['libdir'], 'pkgconfig', 'libbeach-1.pc'))) as f:
            pc = f.read()
        self.assertRegex(pc, r'(?m)^prefix=%s$' % re.escape(OPTS['prefix']))
        # Every other directory hangs off ${prefix}: the file relocates.
        for var in ('libdir', 'includedir'):
            self.assertRegex(pc, r'(?m)^%s=\$\{prefix\}/' % var)


class InstalledPrograms(beachtest.BeachTestCase):
    """The installed binaries, run from the DESTDIR."""

    START = False

    def prog(self, name):
        return in_dest(os.path.join(P['bindir'], name))

    def setUp(self):
        super().setUp()
        # beachtest.Daemon runs beachtest.BINARY with a copy of os.environ.
        self._saved = (beachtest.BINARY, dict(os.environ))
        beachtest.BINARY = self.prog('beach-manager')
        env = installed_env()
        os.environ.clear()
        os.environ.update(env)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            beachtest.BINARY = self._saved[0]
            os.environ.clear()
            os.environ.update(self._saved[1])

    def state_text(self, d, sid):
        status, body, _ = d.req('GET', '/sessions/%s/state' % sid, d.operator_token)
        self.assertEqual(status, 200, body)
        return '\n'.join(body['payload']['lines']) if body else ''

    def wait_state(self, d, sid, text):
        deadline = time.monotonic() + STATE_TIMEOUT
        while text not in self.state_text(d, sid):
            if time.monotonic() > deadline:
                self.fail('%r not in the state of %s within %.0f s: %r'
                          % (text, sid, STATE_TIMEOUT, self.state_text(d, sid)))
            time.sleep(0.05)

    def start_host(self, d, sid, state_home):
        argv = [self.prog('beach-host'), '--json-log',
                '--manager', 'http://%s:%d' % (d.host, d.port), '--session-id', sid,
                '--private-beach-id', 'pb', '--token', d.operator_token, '--', 'cat']
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE,
                                env=installed_env(XDG_STATE_HOME=state_home))
        lines = []
        cond = threading.Condition()

        def read():
            for raw in iter(proc.stderr.readline, b''):
                with cond:
                    lines.append(raw.decode(errors='replace').rstrip('\n'))
                    cond.notify_all()
            with cond:
                lines.append(None)
                cond.notify_all()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            reader.join(5)
            proc.stderr.close()

        self._closers.append(stop)

        def wait_message(message, timeout):
            deadline = time.monotonic() + timeout
            with cond:
                while True:
                    for line in lines:
                        if line is None:
                            self.fail('beach-host exited (%s) before %r; log:\n%s'
                                      % (proc.poll(), message, '\n'.join(lines[:-1][-30:])))
                        try:
                            if json.loads(line).get('message') == message:
                                return
                        except ValueError:
                            pass
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.fail('beach-host: no %r within %.0f s; log:\n%s'
                                  % (message, timeout, '\n'.join(lines[-30:])))
                    cond.wait(left)

        def log():
            with cond:
                return '\n'.join(line for line in lines if line is not None)

        return proc, wait_message, stop, log

    def test_daemon_host_and_beachctl(self):
        d = self.start_daemon()
        op = d.operator_token
        status, body, _ = d.req('GET', '/healthz')
        self.assertEqual(status, 200, body)

        # A session registered with the operator token.
        status, body, _ = d.req('POST', '/sessions/register', op,
                                self.registration('reg1', mode='http_fallback'))
        self.assertEqual(status, 200, body)
        self.assertTrue(body['session_token'])

        # beach-host: `cat` in a PTY, attached over the fast path.
        state_home = tempfile.mkdtemp(prefix='beach-install-state-')
        self.addCleanup(shutil.rmtree, state_home, True)
        proc, wait_message, stop_host, host_log = self.start_host(d, 'inst1', state_home)
        wait_message('fast path ready; http poller paused', HEALTHY_TIMEOUT)
        with open('/proc/%d/maps' % proc.pid) as f:
            libs = {line.split()[-1] for line in f if 'libbeach-1.so' in line}
        self.assertEqual(libs, {os.path.realpath(in_dest(
            os.path.join(P['libdir'], 'libbeach-1.so.0.0.0')))},
            'beach-host maps the installed libbeach only')

        # A terminal_write through the HTTP API reaches cat.
        status, body, _ = d.req('POST', '/sessions/inst1/controller/lease', op, {})
        self.assertEqual(status, 200, body)
        lease = body['controller_token']
        status, body, _ = d.req('POST', '/sessions/inst1/actions', lease, {
            'controller_token': lease,
            'actions': [{'id': 'w1', 'action_type': 'terminal_write',
                         'payload': {'bytes': 'hello-from-http\n'}}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body['accepted_ids'], ['w1'], body)
        self.wait_state(d, 'inst1', 'hello-from-http')
        status, body, _ = d.req('DELETE', '/sessions/inst1/controller/lease', lease)
        self.assertEqual(status, 200, body)

        # beachctl send and lease over HTTP, against the same session.
        ctl = [self.prog('beachctl'), '--url', 'http://%s:%d' % (d.host, d.port),
               '--token', op, '--json']
        r = run(ctl + ['send', 'inst1', 'hello-from-beachctl\n'], env=installed_env())
        doc = json.loads(r.stdout)
        self.assertEqual((doc['session_id'], doc['accepted']), ('inst1', True), doc)
        self.assertIn(doc['transport'], ('fast_path', 'http_fallback'), doc)
        self.wait_state(d, 'inst1', 'hello-from-beachctl')
        r = run(ctl + ['lease', 'reg1', '--ttl-ms', '60000'], env=installed_env())
        doc = json.loads(r.stdout)
        self.assertEqual(doc['session_id'], 'reg1', doc)
        self.assertEqual(doc['ttl_ms'], 60000, doc)
        self.assertTrue(doc['controller_token'], doc)
        # The lease is real: the daemon takes actions with it.
        status, body, _ = d.req('POST', '/sessions/reg1/actions', doc['controller_token'], {
            'controller_token': doc['controller_token'],
            'actions': [{'id': 'q1', 'action_type': 'terminal_write',
                         'payload': {'bytes': 'x'}}]})
        self.assertEqual(status, 200, body)

        # The host ends cleanly on SIGTERM.
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        stop_host()
        self.assertEqual(rc, 0, 'beach-host exit status on SIGTERM; its log:\n' + host_log())

    def test_beachctl_help_and_version(self):
        r = run([self.prog('beachctl'), '--version'], env=installed_env())
        self.assertEqual(r.stdout.decode().strip(), 'beachctl %s' % self.project_version())
        r = run([self.prog('beachctl'), '--help'], env=installed_env())
        out = r.stdout.decode()
        self.assertIn('--json', out)
        self.assertIn('COMMAND', out)
        r = run([self.prog('beach-manager'), '--version'], env=installed_env())
        self.assertEqual(r.stdout.decode().strip(), 'beach-manager %s' % self.project_version())

    @staticmethod
    def project_version():
        r = run([ARGS.meson, 'introspect', '--projectinfo', BUILD])
        return json.loads(r.stdout)['version']

    def test_beachctl_speaks_german(self):
        langs = linguas()
        if not langs:
            self.skipTest('po/LINGUAS lists no language yet')
        self.assertIn('de', langs, 'po/LINGUAS')
        catalog = parse_po(os.path.join(SOURCE, 'po', 'de.po'))
        ctl = self.prog('beachctl')
        english = run([ctl, '--help'], env=installed_env()).stdout.decode()
        german = run([ctl, '--help'], env=installed_env(LANGUAGE='de')).stdout.decode()
        # Our strings (not GLib's own "Usage:"), as they show in --help.
        ours = [(msgid, msgstr) for msgid, msgstr in catalog.items()
                if len(msgid) >= 10 and '%' not in msgid and msgid in english
                and msgstr != msgid]
        self.assertTrue(ours, 'po/de.po translates none of the strings of beachctl --help')
        sys.stderr.write('checking %d translated strings, e.g. %r -> %r\n'
                         % (len(ours), ours[0][0], ours[0][1]))
        missing = [(msgid, msgstr) for msgid, msgstr in ours if msgstr not in german]
        self.assertEqual(missing, [], 'not translated in LANGUAGE=de beachctl --help:\n'
                         + german)


def parse_po(path):
    """{msgid: msgstr} of the translated, non-fuzzy entries of a .po file."""
    def unquote(s):
        return json.loads(s) if s.startswith('"') else ''

    entries = {}
    with open(path, encoding='utf-8') as f:
        blocks = f.read().split('\n\n')
    for block in blocks:
        fuzzy = False
        cur = None
        fields = {}
        for line in block.splitlines():
            line = line.strip()
            if line.startswith('#,') and 'fuzzy' in line:
                fuzzy = True
            elif line.startswith('#') or not line:
                continue
            elif line.startswith('"') and cur:
                fields[cur] += unquote(line)
            else:
                key, _, rest = line.partition(' ')
                cur = key
                fields[cur] = unquote(rest.strip())
        msgid, msgstr = fields.get('msgid'), fields.get('msgstr')
        if msgid and msgstr and not fuzzy:
            entries[msgid] = msgstr
    return entries


@unittest.skipIf(SANITIZED, 'Python cannot load an ASan-instrumented library')
class InstalledTypelib(unittest.TestCase):

    SCRIPT = r'''
import json, gi
gi.require_version('GIRepository', '2.0')
gi.require_version('Beach', '1.0')
from gi.repository import GIRepository, Beach
a = Beach.Action.new_from_string(
    '{"id":"act-1","action_type":"terminal_write","payload":{"bytes":"ls\\n"}}')
libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libbeach-1.so' in l})
print(json.dumps({
    'typelib': GIRepository.Repository.get_default().get_typelib_path('Beach'),
    'libs': libs, 'id': a.get_id(), 'bytes': a.get_terminal_bytes()}))
'''

    def test_python_gi(self):
        env = installed_env(GI_TYPELIB_PATH=in_dest(os.path.join(P['libdir'],
                                                                 'girepository-1.0')))
        r = run(['/usr/bin/python3', '-c', self.SCRIPT], env=env)
        out = json.loads(r.stdout)
        self.assertTrue(os.path.realpath(out['typelib']).startswith(DEST + '/'), out)
        self.assertEqual(out['libs'], [os.path.realpath(in_dest(
            os.path.join(P['libdir'], 'libbeach-1.so.0.0.0')))], out)
        self.assertEqual((out['id'], out['bytes']), ('act-1', 'ls\n'))


class InstalledDevelopmentFiles(unittest.TestCase):

    PROGRAM = r'''
#include <beach.h>
#include <stdio.h>
#include <string.h>

int
main (void)
{
  GError *error = NULL;
  BeachAction *a = beach_action_new_from_string (
      "{\"id\":\"c-1\",\"action_type\":\"terminal_write\",\"payload\":{\"bytes\":\"hi\"}}",
      &error);
  BeachAction *bad;

  if (a == NULL) {
    fprintf (stderr, "parse: %s\n", error->message);
    return 1;
  }
  bad = beach_action_new_from_string ("{", &error);
  if (bad != NULL || !g_error_matches (error, BEACH_ERROR, BEACH_ERROR_MALFORMED))
    return 2;
  g_clear_error (&error);
  printf ("%s %s %s %s\n", BEACH_VERSION, beach_action_get_id (a),
          beach_action_get_action_type (a), beach_action_get_terminal_bytes (a));
  g_object_unref (a);
  return strcmp (BEACH_ACTION_TYPE_TERMINAL_WRITE, "terminal_write") != 0;
}
'''

    def test_compile_with_pkgconfig(self):
        work = tempfile.mkdtemp(prefix='beach-install-cc-')
        self.addCleanup(shutil.rmtree, work, True)
        # The installed .pc, relocated into the DESTDIR: its prefix line
        # rewritten, nothing else. (--define-prefix cannot find a multiarch
        # prefix, and PKG_CONFIG_SYSROOT_DIR or --define-variable would move
        # GLib's flags too.)
        src_pc = in_dest(os.path.join(P['libdir'], 'pkgconfig', 'libbeach-1.pc'))
        pcdir = os.path.join(work, 'pkgconfig')
        os.mkdir(pcdir)
        with open(src_pc) as f:
            pc = f.read()
        pc, n = re.subn(r'(?m)^prefix=.*$', 'prefix=' + in_dest(OPTS['prefix']), pc)
        self.assertEqual(n, 1, pc)
        with open(os.path.join(pcdir, 'libbeach-1.pc'), 'w') as f:
            f.write(pc)
        env = installed_env(PKG_CONFIG_PATH=pcdir)
        r = run(['pkg-config', '--cflags', '--libs', 'libbeach-1'], env=env)
        flags = r.stdout.decode().split()
        self.assertIn('-I' + in_dest(os.path.join(P['includedir'], 'libbeach-1')), flags)
        self.assertIn('-L' + in_dest(P['libdir']), flags)
        self.assertIn('-lbeach-1', flags)
        self.assertFalse([f for f in flags if BUILD in f or SOURCE in f], flags)

        c = os.path.join(work, 'prog.c')
        exe = os.path.join(work, 'prog')
        with open(c, 'w') as f:
            f.write(self.PROGRAM)
        cc = os.environ.get('CC', 'cc').split()
        san = ['-fsanitize=' + SANITIZE] if SANITIZE not in ('', 'none') else []
        run(cc + ['-std=gnu11', '-Wall', '-Werror'] + san + [c, '-o', exe] + flags,
            env=env, timeout=COMPILE_TIMEOUT)
        r = run([exe], env=installed_env())
        self.assertEqual(r.stdout.decode().split(),
                         [InstalledPrograms.project_version(), 'c-1', 'terminal_write', 'hi'])


if __name__ == '__main__':
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
