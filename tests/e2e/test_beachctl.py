#!/usr/bin/python3
"""beachctl against the real daemon, on a private session bus started per
test (dbus-daemon): every command, human and --json, and its errors.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    BEACHCTL=$PWD/build/src/ctl/beachctl \
        /usr/bin/python3 tests/e2e/test_beachctl.py -v

Standard library only (no gi), so it also runs in the ASan pass, where
beachctl's own leaks fail it.
"""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
from beachtest import parse_metrics  # noqa: E402

DBUS_DAEMON = shutil.which('dbus-daemon')
BEACHCTL = os.environ.get('BEACHCTL') or os.path.join(
    beachtest.SOURCE_ROOT, 'build', 'src', 'ctl', 'beachctl')
COMPLETION = os.path.join(beachtest.SOURCE_ROOT, 'data', 'completions', 'beachctl')
NO_BUS = 'unix:path=/nonexistent/beachctl-test-bus'
SESSION_KEYS = {'session_id', 'private_beach_id', 'harness_type', 'transport_mode', 'transport',
                'transport_reason', 'transport_changed_at_ms', 'fast_path_ready',
                'heartbeat_rtt_us', 'pending', 'in_flight', 'handshake_id', 'link_generation',
                'lease_expires_at_ms', 'last_error'}
HMS = r'\d\d:\d\d:\d\d'
UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'


class PrivateBus:
    """dbus-daemon --session on its own socket; the address it prints."""

    def __init__(self):
        self.proc = subprocess.Popen([DBUS_DAEMON, '--session', '--nofork', '--print-address=1'],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            self.close()
            raise RuntimeError('dbus-daemon printed no address')

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()


class Lines:
    """A pipe read line by line on a thread."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.all = []
        threading.Thread(target=self._run, args=(pipe,), daemon=True).start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b''):
            line = raw.decode('utf-8', errors='replace').rstrip('\n')
            self.all.append(line)
            self.q.put(line)
        self.q.put(None)

    def next(self, timeout, what):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError('no %s line within %.1f s (so far: %r)' % (what, timeout, self.all))
        if line is None:
            raise AssertionError('EOF before a %s line (so far: %r)' % (what, self.all))
        return line


@unittest.skipIf(DBUS_DAEMON is None, 'dbus-daemon is not installed')
class BeachctlTests(beachtest.BeachTestCase):

    START = False

    def setUp(self):
        super().setUp()
        if not os.access(BEACHCTL, os.X_OK):
            self.fail('beachctl not found at %s (set BEACHCTL)' % BEACHCTL)
        # Registered before the daemon starts: cleanups run after tearDown
        # has stopped it.
        self.bus = PrivateBus()
        self.addCleanup(self.bus.close)
        self.xdg = tempfile.mkdtemp(prefix='beachctl-xdg-')
        self.addCleanup(shutil.rmtree, self.xdg, True)
        self.d = self.start_daemon(env={'DBUS_SESSION_BUS_ADDRESS': self.bus.address})
        self.op = self.d.operator_token
        self.url = 'http://%s:%d' % (self.d.host, self.d.port)
        self.wait_owned()

    # -- helpers -----------------------------------------------------------

    def env(self, token=True, **extra):
        e = dict(os.environ)
        e.pop('BEACH_MANAGER_TOKEN', None)
        e['DBUS_SESSION_BUS_ADDRESS'] = self.bus.address
        e['XDG_CONFIG_HOME'] = self.xdg  # no operator-token file unless a test writes one
        e['LC_ALL'] = 'C.UTF-8'
        if token:
            e['BEACH_MANAGER_TOKEN'] = self.op
        e.update(extra)
        return e

    def run_ctl(self, *args, token=True, env=None):
        return subprocess.run([BEACHCTL] + list(args), env=env or self.env(token),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def ctl(self, *args, **kw):
        """Runs beachctl, expects exit 0 and a quiet stderr; its stdout."""
        p = self.run_ctl(*args, **kw)
        self.assertEqual(p.returncode, 0, 'beachctl %s: exit %d, stderr %r, stdout %r'
                         % (' '.join(args), p.returncode, p.stderr, p.stdout))
        self.assertEqual(p.stderr, '', 'beachctl %s' % ' '.join(args))
        return p.stdout

    def ctl_json(self, *args, **kw):
        out = self.ctl('--json', *args, **kw)
        self.assertEqual(out.count('\n'), 1, 'one JSON document on one line: %r' % out)
        return json.loads(out)

    def ctl_error(self, status, *args, **kw):
        """Runs beachctl, expects exit status and exactly one line on
        stderr (and nothing on stdout); returns that line."""
        p = self.run_ctl(*args, **kw)
        self.assertEqual(p.returncode, status, 'beachctl %s: stderr %r' % (' '.join(args), p.stderr))
        self.assertEqual(p.stdout, '', 'beachctl %s' % ' '.join(args))
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, 'one error line: %r' % p.stderr)
        self.assertTrue(lines[0].startswith('beachctl: '), lines[0])
        return lines[0]

    def wait_owned(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            p = self.run_ctl('status')
            if p.returncode == 0:
                return
            if time.monotonic() > deadline:
                self.fail('the daemon did not own sh.beach.Manager1 within %.0f s: %s'
                          % (timeout, p.stderr))
            time.sleep(0.05)

    def field(self, out, label):
        """The value of '  Label:   value' in human output."""
        m = re.search(r'^  %s: +(.*)$' % re.escape(label), out, re.M)
        self.assertIsNotNone(m, 'no %r line in:\n%s' % (label, out))
        return m.group(1)

    def watch(self, *args):
        """beachctl [args] watch, subscribed once its banner is on stderr."""
        proc = subprocess.Popen([BEACHCTL] + list(args) + ['watch'], env=self.env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        out, err = Lines(proc.stdout), Lines(proc.stderr)

        def cleanup():
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(cleanup)
        banner = err.next(10, 'watching')
        self.assertIn('watching transport changes on the session bus', banner)
        return proc, out, err

    def stop_watch(self, proc, err):
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail('watch did not exit within 10 s of SIGINT')
        time.sleep(0.1)  # let the reader thread take the last lines
        self.assertEqual(rc, 0, 'watch exit status; stderr %r' % err.all)
        self.assertEqual(err.all, [err.all[0]], 'nothing on stderr but the banner')

    # -- status ------------------------------------------------------------

    def test_status_manager(self):
        self.register('m1', mode='fast_path')
        self.register('m2', mode='http_fallback')
        out = self.ctl('status')
        self.assertRegex(out.splitlines()[0], r'^beach-manager \d+\.\d+\.\d+$')
        self.assertEqual(self.field(out, 'HTTP address'), self.url)
        self.assertEqual(self.field(out, 'Queue backend'), 'memory (connected)')
        self.assertEqual(self.field(out, 'Sessions'), '2 (0 on fast_path)')

        doc = self.ctl_json('status')
        self.assertEqual(doc, {
            'version': out.splitlines()[0].split()[1],
            'http_address': self.url,
            'queue_backend': 'memory',
            'queue_backend_connected': True,
            'session_count': 2,
            'fast_path_session_count': 0,
        })

    def test_status_session_after_set_mode(self):
        reg = self.register_full('s1', mode='fast_path')
        before = beachtest.now_ms()
        out = self.ctl('status', 's1')
        self.assertEqual(out.splitlines()[0], 's1 (private beach pb, terminal_shim)')
        self.assertRegex(self.field(out, 'Transport'), r'^pending since %s \(registered\)$' % HMS)
        self.assertEqual(self.field(out, 'Transport mode'), 'fast_path')

        # "Why is s1 on fallback?"
        self.assertEqual(self.ctl('set-mode', 's1', 'http_fallback'),
                         's1: transport mode set to http_fallback\n')
        out = self.ctl('status', 's1')
        self.assertRegex(self.field(out, 'Transport'), r'^http_fallback since %s \(mode_changed\)$' % HMS)
        self.assertEqual(self.field(out, 'Transport mode'), 'http_fallback')
        self.assertEqual(self.field(out, 'Fast path ready'), 'no')
        self.assertEqual(self.field(out, 'Heartbeat RTT'), 'no link')
        self.assertEqual(self.field(out, 'Pending'), '0')
        self.assertEqual(self.field(out, 'In flight'), '0')
        self.assertEqual(self.field(out, 'Handshake id'), reg['handshake_id'])
        self.assertEqual(self.field(out, 'Link generation'), '0')
        self.assertEqual(self.field(out, 'Lease expires'), 'no live lease')
        self.assertEqual(self.field(out, 'Last error'), 'none')

        doc = self.ctl_json('status', 's1')
        self.assertEqual(set(doc), SESSION_KEYS)
        self.assertEqual(doc['session_id'], 's1')
        self.assertEqual(doc['private_beach_id'], 'pb')
        self.assertEqual(doc['harness_type'], 'terminal_shim')
        self.assertEqual(doc['transport'], 'http_fallback')
        self.assertEqual(doc['transport_reason'], 'mode_changed')
        self.assertEqual(doc['transport_mode'], 'http_fallback')
        self.assertGreaterEqual(doc['transport_changed_at_ms'], before)
        self.assertLessEqual(doc['transport_changed_at_ms'], beachtest.now_ms())
        self.assertIs(doc['fast_path_ready'], False)
        self.assertEqual(doc['heartbeat_rtt_us'], -1)
        self.assertEqual((doc['pending'], doc['in_flight'], doc['link_generation']), (0, 0, 0))
        self.assertEqual(doc['handshake_id'], reg['handshake_id'])
        self.assertEqual((doc['lease_expires_at_ms'], doc['last_error']), (0, ''))

    def test_status_session_shows_lease_and_pending(self):
        self.register('s1')
        lease = self.ctl_json('lease', 's1', '--ttl-ms', '20000')
        self.ctl('send', 's1', 'x')
        doc = self.ctl_json('status', 's1')
        self.assertEqual(doc['lease_expires_at_ms'], lease['expires_at_ms'])
        self.assertEqual(doc['pending'], 1)
        out = self.ctl('status', 's1')
        self.assertRegex(self.field(out, 'Lease expires'), r'^%s \(in 1\d s\)$' % HMS)
        self.assertEqual(self.field(out, 'Pending'), '1')

    def test_status_unknown_session(self):
        self.assertEqual(self.ctl_error(1, 'status', 'nope'), 'beachctl: no session nope')
        self.assertEqual(self.ctl_error(1, '--json', 'status', 'nope'), 'beachctl: no session nope')
        line = self.ctl_error(2, 'status', 'a/b')
        self.assertIn('not a session id', line)

    # -- sessions ----------------------------------------------------------

    def test_sessions(self):
        self.assertEqual(self.ctl('sessions'), 'No sessions.\n')
        self.assertEqual(self.ctl_json('sessions'), [])
        self.register('b2', pb='pb2')
        self.register('a1', mode='fast_path')
        self.ctl('set-mode', 'b2', 'fast_path')
        lines = self.ctl('sessions').splitlines()
        self.assertEqual(lines[0].split(), ['SESSION', 'PRIVATE', 'BEACH', 'TRANSPORT', 'REASON',
                                            'PENDING', 'IN', 'FLIGHT'])
        self.assertEqual([l.split() for l in lines[1:]], [
            ['a1', 'pb', 'pending', 'registered', '0', '0'],
            ['b2', 'pb2', 'pending', 'mode_changed', '0', '0'],
        ])
        # Columns line up under the header.
        col = lines[0].index('TRANSPORT')
        self.assertTrue(all(l[col:].startswith('pending') for l in lines[1:]), lines)

        docs = self.ctl_json('sessions')
        self.assertEqual([d['session_id'] for d in docs], ['a1', 'b2'])
        for d in docs:
            self.assertEqual(set(d), SESSION_KEYS)
        self.assertEqual((docs[1]['private_beach_id'], docs[1]['transport_reason']), ('pb2', 'mode_changed'))

    # -- watch -------------------------------------------------------------

    def test_watch(self):
        self.register('w1', mode='fast_path')
        proc, out, err = self.watch()
        self.ctl('set-mode', 'w1', 'http_fallback')
        self.assertRegex(out.next(10, 'TransportChanged'),
                         r'^%s\.\d{3} w1: pending -> http_fallback \(mode_changed\)$' % HMS)
        self.register('w2', mode='fast_path')
        self.assertRegex(out.next(10, 'TransportChanged'),
                         r'^%s\.\d{3} w2: none -> pending \(registered\)$' % HMS)
        self.stop_watch(proc, err)
        self.assertEqual(len(out.all), 2, out.all)

    def test_watch_json_and_sigterm(self):
        self.register('w1', mode='fast_path')
        proc, out, err = self.watch('--json')
        before = beachtest.now_ms()
        self.ctl('set-mode', 'w1', 'http_fallback')
        self.ctl('set-mode', 'w1', 'fast_path')
        first = json.loads(out.next(10, 'TransportChanged'))
        second = json.loads(out.next(10, 'TransportChanged'))
        self.assertEqual(set(first), {'time', 'at_ms', 'session_id', 'from', 'to', 'reason'})
        self.assertEqual((first['session_id'], first['from'], first['to'], first['reason']),
                         ('w1', 'pending', 'http_fallback', 'mode_changed'))
        self.assertEqual((second['from'], second['to'], second['reason']),
                         ('http_fallback', 'pending', 'mode_changed'))
        self.assertGreaterEqual(first['at_ms'], before - 1000)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)

    def test_watch_bus_gone(self):
        proc, out, err = self.watch()
        self.d.stop()
        self.bus.close()
        rc = proc.wait(10)
        time.sleep(0.1)
        self.assertEqual(rc, 1)
        self.assertTrue(any('session bus closed' in l for l in err.all), err.all)

    # -- metrics -----------------------------------------------------------

    def test_metrics(self):
        self.register('m1')
        self.ctl('send', 'm1', 'x')
        out = self.ctl('metrics')
        lines = out.splitlines()
        keys = [l.rsplit(' ', 1)[0] for l in lines]
        self.assertEqual(keys, sorted(keys))
        self.assertEqual(len(keys), len(set(keys)))
        values = {}
        for l in lines:
            key, value = l.rsplit(' ', 1)
            values[key] = float(value)
        self.assertEqual(values['actions_enqueued_total{private_beach_id="pb",session_id="m1"}'], 1)
        self.assertIn('actions_queue_depth{private_beach_id="pb",session_id="m1"} 1', lines)
        self.assertIn('session_transport{private_beach_id="pb",session_id="m1",transport="http_fallback"} 1',
                      lines)
        # The same series as /metrics prints (but for the requests counted
        # in between).
        def stable(key):
            return not key.startswith('http_requests_total')
        series, _, _ = parse_metrics(self.metrics())
        self.assertEqual(len([k for k in series if stable(k[0])]), len([k for k in keys if stable(k)]))

        doc = self.ctl_json('metrics')
        self.assertEqual([k for k in doc if stable(k)], [k for k in keys if stable(k)])
        self.assertEqual(list(doc), sorted(doc))
        for key in filter(stable, keys):
            self.assertEqual(doc[key], values[key], key)

    # -- set-mode ----------------------------------------------------------

    def test_set_mode(self):
        self.register('s1')
        self.assertEqual(self.ctl_json('set-mode', 's1', 'fast_path'),
                         {'session_id': 's1', 'transport_mode': 'fast_path'})
        status, body, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual((status, body['transport_mode']), (200, 'fast_path'))
        self.assertEqual(self.ctl('set-mode', 's1', 'http_fallback'),
                         's1: transport mode set to http_fallback\n')
        status, body, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(body['transport_mode'], 'http_fallback')

    def test_set_mode_errors(self):
        self.register('s1')
        # sh.beach.Manager1.Error.NotFound, as one line.
        self.assertEqual(self.ctl_error(1, 'set-mode', 'nope', 'fast_path'), 'beachctl: no session nope')
        # A bad mode is refused before any call: even with no bus.
        line = self.ctl_error(2, 'set-mode', 's1', 'warp')
        self.assertIn('fast_path or http_fallback', line)
        self.ctl_error(2, 'set-mode', 's1', 'warp', env=self.env(DBUS_SESSION_BUS_ADDRESS=NO_BUS))
        self.ctl_error(2, 'set-mode', 's1')
        status, body, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(body['transport_mode'], 'http_fallback')

    # -- send --------------------------------------------------------------

    def test_send(self):
        token = self.register('s1')
        # The URL comes from HttpAddress over D-Bus, the token from the
        # environment.
        out = self.ctl('send', 's1', 'echo hi\n')
        m = re.match(r'^s1: accepted (%s) via http_fallback\n$' % UUID, out)
        self.assertIsNotNone(m, out)
        status, body, _ = self.poll('s1', token)
        self.assertEqual(status, 200)
        self.assertEqual(body['actions'], [{'id': m.group(1), 'action_type': 'terminal_write',
                                            'payload': {'bytes': 'echo hi\n'}}])
        self.ack('s1', token, [m.group(1)])
        # The lease was released.
        status, body, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(body['leases'], [])

        # --json, --url and --token given; a TEXT that looks like an option.
        doc = self.ctl_json('--url', self.url + '/', '--token', self.op, 'send', 's1', '--', '-n ü',
                            token=False, env=self.env(False, DBUS_SESSION_BUS_ADDRESS=NO_BUS))
        self.assertEqual(set(doc), {'session_id', 'id', 'accepted', 'transport'})
        self.assertEqual((doc['session_id'], doc['accepted'], doc['transport']), ('s1', True, 'http_fallback'))
        status, body, _ = self.poll('s1', token)
        self.assertEqual([(a['id'], a['payload']['bytes']) for a in body['actions']], [(doc['id'], '-n ü')])

    def test_send_token_from_file(self):
        token = self.register('s1')
        os.makedirs(os.path.join(self.xdg, 'beach-manager'))
        with open(os.path.join(self.xdg, 'beach-manager', 'operator-token'), 'w') as f:
            f.write(self.op + '\n')
        doc = self.ctl_json('send', 's1', 'x', token=False)
        self.assertTrue(doc['accepted'])
        status, body, _ = self.poll('s1', token)
        self.assertEqual([a['id'] for a in body['actions']], [doc['id']])

    def test_send_errors(self):
        self.register('s1')
        line = self.ctl_error(1, 'send', 'nope', 'x')
        self.assertRegex(line, r'^beachctl: .*nope.* \(HTTP 404 not_found\)$')
        line = self.ctl_error(1, '--token', 'not-the-token-at-all', 'send', 's1', 'x')
        self.assertRegex(line, r'\(HTTP 401 unauthorized\)$')
        line = self.ctl_error(1, 'send', 's1', 'x', token=False)
        self.assertIn('no operator token', line)
        line = self.ctl_error(1, '--url', 'http://127.0.0.1:1', 'send', 's1', 'x')
        self.assertIn('cannot reach beach-manager at http://127.0.0.1:1', line)
        self.ctl_error(2, 'send', 's1')
        self.ctl_error(2, '--url', 'ftp://example.com', 'send', 's1', 'x')
        self.ctl_error(2, '--token', '', 'send', 's1', 'x')
        self.assertEqual(self.pending('s1', self.register('s1'))['pending'], 0)

    # -- lease -------------------------------------------------------------

    def test_lease(self):
        self.register('s1')
        out = self.ctl('lease', 's1')
        self.assertEqual(out.splitlines()[0], 'Lease on s1')
        controller = self.field(out, 'Controller token')
        self.assertRegex(self.field(out, 'Expires'), r'^%s \(in (29|30) s\)$' % HMS)
        # The lease works as a controller token.
        status, body, _ = self.post_actions('s1', controller, ['l-1'])
        self.assertEqual(status, 200, body)

        now = beachtest.now_ms()
        doc = self.ctl_json('lease', 's1', '--ttl-ms', '5000')
        self.assertEqual(set(doc), {'session_id', 'controller_token', 'expires_at_ms', 'ttl_ms'})
        self.assertEqual((doc['session_id'], doc['ttl_ms']), ('s1', 5000))
        self.assertAlmostEqual(doc['expires_at_ms'], now + 5000, delta=2000)
        status, body, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(len(body['leases']), 2)

        self.assertIn('(HTTP 404 not_found)', self.ctl_error(1, 'lease', 'nope'))
        self.ctl_error(2, 'lease', 's1', '--ttl-ms', '0')
        self.ctl_error(2, 'status', 's1', '--ttl-ms', '5000')

    # -- handshake ---------------------------------------------------------

    def test_handshake(self):
        reg = self.register_full('s1')
        out = self.ctl('handshake', 's1')
        self.assertEqual(out.splitlines()[0], 'Handshake on s1')
        self.assertEqual(self.field(out, 'Kind'), 'refresh')
        self.assertEqual(self.field(out, 'Handshake id'), reg['handshake_id'])
        self.assertRegex(self.field(out, 'Controller token'), r'^s1:')
        self.assertRegex(self.field(out, 'Lease expires'), r'^%s \(in \d+ s\)$' % HMS)
        self.assertEqual(self.field(out, 'Transport'), 'http_fallback')

        # fast_path mode with no link: a new handshake id for the host.
        reg = self.register_full('f1', mode='fast_path')
        doc = self.ctl_json('handshake', 'f1', '--ttl-ms', '10000')
        self.assertEqual(doc['session_id'], 'f1')
        self.assertEqual(doc['handshake_kind'], 'renegotiate')
        self.assertNotEqual(doc['handshake_id'], reg['handshake_id'])
        self.assertEqual(doc['transport'], 'pending')
        self.assertEqual(doc['manager_url'], self.url)
        self.assertIn('controller_token', doc)
        self.assertIn('lease_expires_at_ms', doc)
        self.assertEqual(self.ctl_json('status', 'f1')['handshake_id'], doc['handshake_id'])

        self.assertIn('(HTTP 404 not_found)', self.ctl_error(1, 'handshake', 'nope'))

    # -- no bus, no manager, bad arguments ---------------------------------

    def test_no_bus(self):
        env = self.env(DBUS_SESSION_BUS_ADDRESS=NO_BUS)
        for args in (['status'], ['status', 's1'], ['sessions'], ['watch'], ['metrics'],
                     ['set-mode', 's1', 'fast_path'], ['--json', 'status']):
            line = self.ctl_error(1, *args, env=env)
            self.assertTrue(line.startswith('beachctl: cannot reach beach-manager on the session bus: '),
                            '%s: %s' % (args, line))

    def test_no_manager_on_the_bus(self):
        other = PrivateBus()
        self.addCleanup(other.close)
        env = self.env(DBUS_SESSION_BUS_ADDRESS=other.address)
        line = self.ctl_error(1, 'status', env=env)
        self.assertEqual(line, 'beachctl: cannot reach beach-manager on the session bus: nothing owns '
                               'sh.beach.Manager1 (is beach-manager running?)')
        self.ctl_error(1, 'metrics', env=env)
        # HTTP commands fall back to the default URL, where nothing listens
        # in this test.
        line = self.ctl_error(1, 'lease', 's1', env=env)
        if 'cannot reach' in line:  # else something else answers on 8080 here
            self.assertIn('http://127.0.0.1:8080', line)

    def test_usage(self):
        for args in ([], ['bogus'], ['--bogus', 'status'], ['status', 'a', 'b'], ['sessions', 'x'],
                     ['watch', 'x'], ['metrics', 'x'], ['lease'], ['handshake'], ['send', 's1']):
            p = self.run_ctl(*args)
            self.assertEqual(p.returncode, 2, '%s: %r' % (args, p.stderr))
            self.assertEqual(p.stdout, '')
            self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
        out = self.ctl('--help')
        for command in ('status', 'sessions', 'watch', 'metrics', 'set-mode', 'send', 'lease',
                        'handshake', '--json', '--system-bus', '--url', '--token', '--ttl-ms'):
            self.assertIn(command, out)
        self.assertRegex(self.ctl('--version'), r'^beachctl \d+\.\d+\.\d+\n$')

    # -- bash completion ---------------------------------------------------

    def complete(self, *words):
        script = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE="${COMP_WORDS[*]}"; '
                  'COMP_POINT=${#COMP_LINE}; _beachctl; printf "%%s\\n" "${COMPREPLY[@]}"'
                  % (COMPLETION, ' '.join("'%s'" % w for w in (BEACHCTL,) + words), len(words)))
        p = subprocess.run(['bash', '--norc', '--noprofile', '-c', script], env=self.env(),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(l for l in p.stdout.splitlines() if l)

    def test_completion(self):
        self.register('c1')
        self.register('c2')
        self.assertEqual(self.complete('s'), ['send', 'sessions', 'set-mode', 'status'])
        self.assertEqual(self.complete('--json', 'st'), ['status'])
        self.assertEqual(self.complete('status', ''), ['c1', 'c2'])
        self.assertEqual(self.complete('set-mode', 'c1', ''), ['fast_path', 'http_fallback'])
        self.assertIn('--ttl-ms', self.complete('lease', 'c1', '--'))


if __name__ == '__main__':
    if DBUS_DAEMON is None:
        print('SKIP: dbus-daemon is not installed')
        sys.exit(77)  # meson's skip
    beachtest.main()
