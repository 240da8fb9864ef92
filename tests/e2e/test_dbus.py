#!/usr/bin/python3
"""The D-Bus control plane (WIRE.md "D-Bus") against the real daemon, on a
private session bus started per test (dbus-daemon). External tools
(gdbus, busctl) and a Python client over gi.repository.Gio (not libbeach,
so this also runs in the ASan pass) look at it.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    BEACH_HARNESS_PEER=$PWD/build/tests/harness-peer \
    GST_REGISTRY=$PWD/build/gst-registry.bin \
        /usr/bin/python3 tests/e2e/test_dbus.py -v
"""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

from gi.repository import Gio, GLib  # noqa: E402

import beachtest  # noqa: E402
import test_fastpath as tf  # noqa: E402
import test_harness as th  # noqa: E402
from beachtest import parse_metrics  # noqa: E402

DBUS_DAEMON = shutil.which('dbus-daemon')
NAME = 'sh.beach.Manager1'
PATH = '/sh/beach/Manager1'


class PrivateBus:
    def __init__(self):
        self.proc = subprocess.Popen([DBUS_DAEMON, '--session', '--nofork', '--print-address=1'],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError('dbus-daemon printed no address')
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def close(self):
        try:
            self.conn.close_sync(None)
        except GLib.Error:
            pass
        self.proc.terminate()
        self.proc.wait(5)


def pump(until, timeout, what):
    """Runs the default main context (signal delivery) until until()."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))
        ctx.iteration(False) or time.sleep(0.005)


@unittest.skipIf(DBUS_DAEMON is None, 'dbus-daemon is not installed')
class DbusTests(th.HarnessTestCase):

    START = False

    def setUp(self):
        super().setUp()
        self.bus = PrivateBus()
        self.addCleanup(self.bus.close)
        self.env = {'DBUS_SESSION_BUS_ADDRESS': self.bus.address}
        self.d = self.start_daemon(env=self.env)
        self.op = self.d.operator_token
        self.wait_owned()

    def wait_owned(self):
        def owned():
            r = self.bus.conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                        'org.freedesktop.DBus', 'NameHasOwner',
                                        GLib.Variant('(s)', (NAME,)), None,
                                        Gio.DBusCallFlags.NONE, -1, None)
            return r.unpack()[0]
        pump(owned, 10.0, 'the daemon to own %s' % NAME)

    def call(self, method, args=None, path=PATH, iface=NAME):
        return self.bus.conn.call_sync(NAME, path, iface, method, args, None,
                                       Gio.DBusCallFlags.NONE, 10000, None).unpack()

    def props(self, path, iface):
        return self.call('GetAll', GLib.Variant('(s)', (iface,)), path=path,
                         iface='org.freedesktop.DBus.Properties')[0]

    def session_path(self, sid):
        return '%s/sessions/%s' % (PATH, Gio.dbus_escape_object_path(sid))

    def tool(self, argv):
        env = dict(os.environ, **self.env)
        p = subprocess.run(argv, capture_output=True, timeout=30, env=env)
        self.assertEqual(p.returncode, 0, '%s: %s' % (argv, p.stderr.decode()))
        return p.stdout.decode()

    # gdbus and busctl, as external processes, see both interfaces.
    def test_1_introspection(self):
        self.register('i.1')
        out = self.tool(['gdbus', 'introspect', '--session', '--dest', NAME, '--object-path', PATH])
        for name in ('interface sh.beach.Manager1', 'org.freedesktop.DBus.ObjectManager',
                     'GetMetrics', 'SetTransportMode', 'DropSession', 'TransportChanged',
                     'readonly s HttpAddress', 'readonly u SessionCount'):
            self.assertIn(name, out)
        spath = self.session_path('i.1')
        self.assertEqual(spath, PATH + '/sessions/i_2e1')
        out = self.tool(['gdbus', 'introspect', '--session', '--dest', NAME, '--object-path', spath])
        self.assertIn('interface sh.beach.Session1', out)
        if shutil.which('busctl'):
            out = self.tool(['busctl', '--user', 'introspect', NAME, spath])
            for name in ('sh.beach.Session1', '.Transport ', '.LinkGeneration', '.HandshakeId'):
                self.assertIn(name, out)
            out = self.tool(['busctl', '--user', 'introspect', NAME, PATH])
            self.assertIn('sh.beach.Manager1', out)
        managed = self.call('GetManagedObjects', path=PATH,
                            iface='org.freedesktop.DBus.ObjectManager')[0]
        self.assertIn(spath, managed)
        self.assertEqual(managed[spath]['sh.beach.Session1']['Id'], 'i.1')

    # A Python client reads the properties; PropertiesChanged and
    # TransportChanged arrive when a link goes down and comes back.
    def test_2_link_down_and_back(self):
        seen_transport, seen_props = [], []
        self.bus.conn.signal_subscribe(NAME, NAME, 'TransportChanged', PATH, None,
                                       Gio.DBusSignalFlags.NONE,
                                       lambda *a: seen_transport.append(a[5].unpack()))
        self.bus.conn.signal_subscribe(NAME, 'org.freedesktop.DBus.Properties', 'PropertiesChanged',
                                       self.session_path('l1'), None, Gio.DBusSignalFlags.NONE,
                                       lambda *a: seen_props.append(a[5].unpack()))
        h = self.harness('l1', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'l1', token)
        pump(lambda: ('l1', 'pending', 'fast_path', 'link_healthy') in seen_transport, 5.0,
             'TransportChanged to fast_path')
        p = self.props(self.session_path('l1'), 'sh.beach.Session1')
        self.assertEqual((p['Id'], p['PrivateBeachId'], p['Transport'], p['TransportMode'],
                          p['FastPathReady'], p['LinkGeneration']),
                         ('l1', 'pb', 'fast_path', 'fast_path', True, 1))
        self.assertEqual(p['HandshakeId'], self.session('l1')['handshake_id'])
        m = self.props(PATH, NAME)
        self.assertEqual((m['SessionCount'], m['FastPathSessionCount'], m['QueueBackend'],
                          m['QueueBackendConnected']), (1, 1, 'memory', True))
        self.assertEqual(m['HttpAddress'], 'http://%s:%d' % (self.d.host, self.d.port))
        seen_props.clear()
        h.command('drop')
        pump(lambda: any(t[2] != 'fast_path' and t[3] == 'channel_closed' for t in seen_transport),
             5.0, 'TransportChanged away from fast_path (channel_closed)')
        pump(lambda: any(c[1].get('FastPathReady') is False for c in seen_props), 5.0,
             'PropertiesChanged FastPathReady false')
        pump(lambda: any(c[1].get('LinkGeneration') == 2 for c in seen_props), 20.0,
             'PropertiesChanged LinkGeneration 2 (the link is back)')
        pump(lambda: seen_transport[-1][2] == 'fast_path', 10.0, 'back on fast_path')

    # GetMetrics equals /metrics (on a quiet daemon: same keys, same values).
    def test_3_get_metrics(self):
        tok = self.register('g.1')
        lease = self.lease('g.1')
        status, out, _ = self.post_actions('g.1', lease, ['a1', 'a2'])
        self.assertEqual(status, 200, out)
        self.ack_ok('g.1', tok, self.poll_n('g.1', tok, 2))
        time.sleep(0.1)  # the last HTTP request's series are counted as it finishes
        over_dbus = self.call('GetMetrics')[0]
        text = self.metrics()
        series = parse_metrics(text)[0]
        in_text = {}
        for line in text.splitlines():
            if line and not line.startswith('#'):
                key, _, value = line.rpartition(' ')
                in_text[key] = float(value)
        # The GET /metrics itself is counted after it answered: ignore it.
        skip = {k for k in set(in_text) | set(over_dbus) if k.startswith('http_requests_total')}
        self.assertEqual({k: v for k, v in over_dbus.items() if k not in skip},
                         {k: v for k, v in in_text.items() if k not in skip})
        self.assertEqual(over_dbus['actions_enqueued_total{private_beach_id="pb",session_id="g.1"}'], 2.0)
        self.assertTrue(series)

    # SetTransportMode changes routing (WIRE.md step 1): with http_fallback
    # the next call queues although the link is healthy; back to fast_path
    # it takes the link again. Errors are registered D-Bus names.
    def test_4_set_transport_mode(self):
        h = self.harness('r1', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'r1', token)
        lease = self.lease('r1', ttl_ms=60000)
        self.call('SetTransportMode', GLib.Variant('(ss)', ('r1', 'http_fallback')))
        info = self.session('r1')
        self.assertEqual((info['transport_mode'], info['transport_reason']), ('http_fallback', 'mode_changed'))
        out = self.post_ok('r1', lease, ['m1'])
        self.assertEqual(out['transport'], 'http_fallback', out)
        self.settled('r1', token, timeout=10.0)
        self.call('SetTransportMode', GLib.Variant('(ss)', ('r1', 'fast_path')))
        tf.wait_until(lambda: self.session('r1')['transport'] == 'fast_path', 5.0, 'fast_path again')
        out = self.post_ok('r1', lease, ['m2'])
        self.assertEqual(out['transport'], 'fast_path', out)
        for args, name in ((('nope', 'fast_path'), 'sh.beach.Manager1.Error.NotFound'),
                           (('r1', 'bogus'), 'sh.beach.Manager1.Error.InvalidField')):
            with self.assertRaises(GLib.Error) as cm:
                self.call('SetTransportMode', GLib.Variant('(ss)', args))
            self.assertEqual(Gio.DBusError.get_remote_error(cm.exception), name)
        # DropSession deletes it like DELETE /sessions/:id.
        self.call('DropSession', GLib.Variant('(s)', ('r1',)))
        status, _, _ = self.req('GET', '/sessions/r1', self.op)
        self.assertEqual(status, 404)

    # A second manager on the same bus runs without the name; with
    # --require-dbus it exits 1. With no bus at all the daemon runs on.
    def test_5_second_manager_and_no_bus(self):
        b = self.start_daemon(env=self.env, name='second')
        self.assertEqual(self.req('GET', '/healthz', daemon=b)[0], 200)
        tf.wait_until(lambda: 'owned by another process' in b.stderr_text(), 5.0, 'the log line')
        lines = [l for l in b.stderr_text().splitlines() if 'D-Bus' in l]
        self.assertEqual(len(lines), 1, 'logged once: %s' % lines)
        c = beachtest.Daemon(env=self.env, name='required', args=['--require-dbus'])
        self.addCleanup(c.cleanup)
        c.start()
        self.assertEqual(c.wait(10.0), 1, c.stderr_text())
        self.assertIn('D-Bus is required', c.stderr_text())
        nobus = self.start_daemon(env={'DBUS_SESSION_BUS_ADDRESS': 'unix:path=/nonexistent/bus'},
                                  name='nobus')
        self.assertEqual(self.req('GET', '/healthz', daemon=nobus)[0], 200)
        tf.wait_until(lambda: 'running without D-Bus' in nobus.stderr_text(), 5.0, 'the log line')


if __name__ == '__main__':
    beachtest.main()
