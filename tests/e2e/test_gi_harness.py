#!/usr/bin/python3
"""BeachHarness through GObject introspection, against the real daemon:
an in-process Python harness (`from gi.repository import Beach`) receives
an action through its signal and acks it; then examples/host.py and
examples/host.js run as they would for a user. GJS missing: that test is
skipped with the reason. Under ASan the whole file is skipped (exit 77): the
sanitizer runtime cannot be loaded into the interpreter.

    GI_TYPELIB_PATH=build/src/libbeach LD_LIBRARY_PATH=build/src/libbeach \
    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
        /usr/bin/python3 tests/e2e/test_gi_harness.py -v
"""

import os
import shutil
import subprocess
import sys
import time
import unittest

if os.environ.get('BEACH_SANITIZED') == '1':
    print('skipped under ASan: the sanitizer runtime cannot be loaded into python3')
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

gi.require_version('Beach', '1.0')
from gi.repository import Beach, GLib  # noqa: E402

import beachtest  # noqa: E402
from beachtest import BeachTestCase  # noqa: E402

EXAMPLES = os.path.join(beachtest.SOURCE_ROOT, 'examples')
GJS = shutil.which('gjs')


def iterate_until(predicate, timeout, what):
    """Runs the default main context until predicate() is true."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))
        ctx.iteration(False) or time.sleep(0.005)


class GiHarnessTests(BeachTestCase):

    def url(self):
        return 'http://%s:%d' % (self.d.host, self.d.port)

    def wait_settled(self, session_id, token, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            p = self.pending(session_id, token)
            if p['pending'] == 0 and p['in_flight'] == 0:
                return p
            if time.monotonic() >= deadline:
                raise AssertionError('%s not settled: %s' % (session_id, p))
            time.sleep(0.02)

    def test_1_python_harness_receives_and_acks(self):
        h = Beach.Harness.new(self.url(), 'py1', 'pb', self.op)
        self.addCleanup(self._stop, h)
        got, done = [], []
        h.connect('action-received', lambda harness, action: got.append(action))
        h.start_async(None, lambda harness, res: done.append(harness.start_finish(res)))
        iterate_until(lambda: done, 10.0, 'start')
        self.assertEqual(done, [True])
        token = h.get_session_token()
        self.assertTrue(token and token != self.op)
        self.assertIsInstance(h.get_hints(), Beach.TransportHints)
        lease = self.lease('py1')
        status, out, _ = self.post_actions('py1', lease, ['g1'], fallback='allow')
        self.assertEqual(status, 200, out)
        iterate_until(lambda: got, 20.0, 'action-received')
        action = got[0]
        self.assertIsInstance(action, Beach.Action)
        self.assertEqual((action.get_id(), action.get_terminal_bytes()), ('g1', 'x'))
        self.assertTrue(h.ack(action, Beach.AckStatus.OK, None, None))
        # A second ack of the same action is refused with a GLib.Error.
        with self.assertRaises(GLib.Error) as cm:
            h.ack(action, Beach.AckStatus.OK, None, None)
        self.assertEqual(cm.exception.code, Beach.Error.CONFLICT)
        iterate_until(lambda: self.pending('py1', token)['pending'] == 0
                      and self.pending('py1', token)['in_flight'] == 0, 10.0, 'the ack to land')
        self.assertEqual(len(got), 1)

    def _stop(self, h):
        done = []
        h.stop_async(None, lambda harness, res: done.append(harness.stop_finish(res)))
        iterate_until(lambda: done, 10.0, 'stop')

    def _run_example(self, argv, session_id):
        env = dict(os.environ)
        proc = subprocess.Popen(argv + [self.url(), session_id, 'pb', self.op],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 10.0
            while True:
                status, body, _ = self.req('GET', '/sessions/%s' % session_id, self.op)
                if status == 200:
                    break
                if proc.poll() is not None:
                    self.fail('the example exited: %s' % proc.stderr.read().decode())
                self.assertLess(time.monotonic(), deadline, 'the example never registered')
                time.sleep(0.05)
            lease = self.lease(session_id)
            status, out, _ = self.post_actions(
                session_id, lease,
                [self.action('e1', 'hello from the controller\n'),
                 self.action('e2', 'x', action_type='launch_rocket', payload={})],
                fallback='allow')
            self.assertEqual(status, 200, out)
            deadline = time.monotonic() + 20.0
            while True:
                status, info, _ = self.req('GET', '/sessions/%s' % session_id, self.op)
                if info['pending'] == 0 and info['in_flight'] == 0:
                    break
                self.assertLess(time.monotonic(), deadline, 'not acked: %s' % info)
                time.sleep(0.05)
            proc.terminate()
            out, err = proc.communicate(timeout=10.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err.decode())
        self.assertEqual(out.decode(), 'hello from the controller\n')
        return err.decode()

    def test_2_example_host_py(self):
        self._run_example(['/usr/bin/python3', os.path.join(EXAMPLES, 'host.py')], 'ex-py')

    @unittest.skipIf(GJS is None, 'gjs is not installed')
    def test_3_example_host_js(self):
        self._run_example([GJS, os.path.join(EXAMPLES, 'host.js')], 'ex-js')


@unittest.skipIf(shutil.which('dbus-daemon') is None, 'dbus-daemon is not installed')
class GiManagerClientTests(BeachTestCase):
    """Beach.ManagerClient (libbeach's wrapper of the generated proxy)
    against the daemon on a private bus."""

    START = False

    def setUp(self):
        super().setUp()
        self.bus = subprocess.Popen(['dbus-daemon', '--session', '--nofork', '--print-address=1'],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (self.bus.terminate(), self.bus.wait(5)))
        address = self.bus.stdout.readline().decode().strip()
        # The process's session bus is this one (read at first use).
        os.environ['DBUS_SESSION_BUS_ADDRESS'] = address
        self.d = self.start_daemon(env={'DBUS_SESSION_BUS_ADDRESS': address})
        self.op = self.d.operator_token

    def test_4_manager_client(self):
        from gi.repository import Gio
        client, changes = [], []

        def connect():
            Beach.ManagerClient.new(Gio.BusType.SESSION, None,
                                    lambda src, res: client.append(Beach.ManagerClient.new_finish(res)))
        deadline = time.monotonic() + 10.0
        while not client:
            # The daemon owns the name a moment after it listens.
            try:
                connect()
                iterate_until(lambda: client, 5.0, 'the client')
            except GLib.Error:
                client.clear()
                self.assertLess(time.monotonic(), deadline, 'no manager on the bus')
                time.sleep(0.1)
        c = client[0]
        self.assertEqual((c.get_http_address(), c.get_queue_backend(), c.get_session_count()),
                         ('http://%s:%d' % (self.d.host, self.d.port), 'memory', 0))
        c.connect('transport-changed', lambda c_, *args: changes.append(args))
        self.register('mc.1')
        iterate_until(lambda: c.get_session_count() == 1, 5.0, 'SessionCount 1')
        done = []
        c.set_transport_mode('mc.1', 'fast_path', None, lambda src, res: done.append(src.set_transport_mode_finish(res)))
        iterate_until(lambda: done, 5.0, 'set_transport_mode')
        iterate_until(lambda: ('mc.1', 'http_fallback', 'pending', 'mode_changed') in changes, 5.0,
                      'transport-changed')
        failed = []

        def on_bad(src, res):
            try:
                src.set_transport_mode_finish(res)
            except GLib.Error as e:
                failed.append(e)
        c.set_transport_mode('nope', 'fast_path', None, on_bad)
        iterate_until(lambda: failed, 5.0, 'the error')
        self.assertTrue(failed[0].matches(Beach.error_quark(), Beach.Error.NOT_FOUND), failed[0])
        metrics = []
        c.get_metrics(None, lambda src, res: metrics.append(src.get_metrics_finish(res).unpack()))
        iterate_until(lambda: metrics, 5.0, 'metrics')
        key = 'session_transport{private_beach_id="pb",session_id="mc.1",transport="pending"}'
        self.assertEqual(metrics[0][key], 1.0)


if __name__ == '__main__':
    beachtest.main()
