#!/usr/bin/python3
"""Interop test of the fast path: npm `node-datachannel` (libdatachannel) as
the harness peer against the real daemon over the HTTP signalling routes
(WIRE.md "Fast-path signalling", "Fast path"). The peer is
tests/interop/peer.mjs; it prints LINK, OPEN, ACTION, PING, CLOSED lines.

node-datachannel is installed on first use with `npm install` in
tests/interop (a prebuilt binary from the npm registry). When node, npm or
the package is missing and cannot be installed, the test is skipped with
the reason, never silently.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    GST_REGISTRY=$PWD/build/gst-registry.bin \
        /usr/bin/python3 tests/e2e/test_interop.py -v
"""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
from beachtest import BeachTestCase, metric_value, parse_metrics  # noqa: E402

INTEROP_DIR = os.path.join(beachtest.SOURCE_ROOT, 'tests', 'interop')
PEER_SCRIPT = os.path.join(INTEROP_DIR, 'peer.mjs')
MODULE_DIR = os.path.join(INTEROP_DIR, 'node_modules', 'node-datachannel')

NPM_INSTALL_TIMEOUT = 120.0
READY_TIMEOUT = 20.0         # first webrtcbin use may build the GStreamer registry
DETECTION_BOUND = 4.5        # killed peer -> fast_path_ready false
N_ACTIONS = 20

_setup_problem = []          # [reason or None], computed once per process


def wait_until(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        value = predicate()
        if value:
            return value
        last = value
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1f s waiting for %s (last: %r)'
                                 % (timeout, what, last))
        time.sleep(interval)


def _tail(text, n=2000):
    text = (text or '').strip()
    return text[-n:] if len(text) > n else text


def ensure_node_datachannel():
    """None when node and node-datachannel are usable, else the reason."""
    if _setup_problem:
        return _setup_problem[0]
    reason = None
    node = shutil.which('node')
    if node is None:
        reason = 'node is not on PATH'
    elif not os.path.isdir(MODULE_DIR):
        npm = shutil.which('npm')
        if npm is None:
            reason = 'npm is not on PATH'
        else:
            sys.stderr.write('\n  installing node-datachannel: npm install in %s\n' % INTEROP_DIR)
            try:
                r = subprocess.run([npm, 'install', '--no-audit', '--no-fund'], cwd=INTEROP_DIR,
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=NPM_INSTALL_TIMEOUT)
                if r.returncode != 0:
                    reason = 'npm install exited %d: %s' % (r.returncode,
                                                            _tail(r.stderr or r.stdout))
                elif not os.path.isdir(MODULE_DIR):
                    reason = 'npm install succeeded but %s is missing' % MODULE_DIR
            except subprocess.TimeoutExpired:
                reason = 'npm install took more than %.0f s' % NPM_INSTALL_TIMEOUT
            except OSError as e:
                reason = 'npm install failed: %s' % e
    if reason is None:
        # The package is there; does its native binary load?
        try:
            r = subprocess.run([node, '--input-type=module', '-e',
                                "import ndc from 'node-datachannel';"
                                "console.log(ndc.getLibraryVersion());"],
                               cwd=INTEROP_DIR, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                reason = 'node-datachannel does not load: %s' % _tail(r.stderr)
            else:
                sys.stderr.write('\n  node %s, libdatachannel %s\n'
                                 % (subprocess.run([node, '--version'], capture_output=True,
                                                   text=True).stdout.strip(),
                                    r.stdout.strip()))
        except (subprocess.TimeoutExpired, OSError) as e:
            reason = 'node-datachannel does not load: %s' % e
    _setup_problem.append(reason)
    return reason


class NodePeer(beachtest.PeerProcess):
    """One `node peer.mjs` process (tests/interop/peer.mjs)."""

    def __init__(self, daemon, session_id, token, name='node-peer'):
        argv = [shutil.which('node'), PEER_SCRIPT,
                '--url', 'http://%s:%d' % (daemon.host, daemon.port),
                '--session-id', session_id, '--token', token]
        super().__init__(argv, name, 'interop-peer-', cwd=INTEROP_DIR)


class NodeDataChannelInterop(BeachTestCase):

    def setUp(self):
        self._peers = []
        reason = ensure_node_datachannel()
        if reason is not None:
            msg = 'node-datachannel could not be installed: %s' % reason
            sys.stderr.write('\n  SKIP: %s\n' % msg)
            self.skipTest(msg)
        super().setUp()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            for p in getattr(self, '_peers', []):
                if failed:
                    sys.stderr.write('\n----- %s (%s) stdout tail -----\n%s\n'
                                     '----- %s stderr -----\n%s----- end -----\n'
                                     % (p.name, self.id(), '\n'.join(p.tail()), p.name,
                                        p.stderr_text()))
                p.cleanup()

    def peer(self, session_id, token):
        p = NodePeer(self.d, session_id, token, name='node-peer%d' % len(self._peers))
        self._peers.append(p)
        self._closers.append(p.stop)
        return p

    def series(self):
        return parse_metrics(self.metrics())[0]

    def smetric(self, series, name, session_id, pb='pb'):
        return metric_value(series, name, private_beach_id=pb, session_id=session_id)

    def test_node_datachannel_peer(self):
        reg = self.register_full('s1', mode=None)   # fast_path, the default
        token = reg['session_token']
        lease = self.lease('s1')
        p = self.peer('s1', token)

        started = time.monotonic()
        t_open, _ = p.expect(lambda l: l == 'OPEN', READY_TIMEOUT, what='OPEN')

        def ready():
            pend = self.pending('s1', token)
            return pend if pend['fast_path_ready'] is True \
                and pend['transport'] == 'fast_path' else None
        pend = wait_until(ready, max(0.5, READY_TIMEOUT - (time.monotonic() - started)),
                          's1: fast_path_ready true and transport fast_path')
        print('\n  peer start -> OPEN: %.3f s; -> fast_path_ready: %.3f s'
              % (t_open - p.started_at, time.monotonic() - p.started_at), file=sys.stderr)
        self.assertEqual(pend['pending'], 0, pend)

        ids = ['a%02d' % i for i in range(N_ACTIONS)]
        status, out, _ = self.post_actions('s1', lease, ids)
        self.assertEqual(status, 200, out)
        got = p.wait_actions(N_ACTIONS, 5.0)
        self.assertEqual(got, ids, 'ACTION lines in order')

        wait_until(lambda: self.pending('s1', token)['pending'] == 0, 5.0, 's1: pending 0')

        def acked():
            s = self.series()
            return s if self.smetric(s, 'fastpath_acks_received_total', 's1') == N_ACTIONS \
                else None
        s = wait_until(acked, 5.0, 'fastpath_acks_received_total %d' % N_ACTIONS)
        self.assertEqual(self.smetric(s, 'fastpath_acks_received_total', 's1'), float(N_ACTIONS))
        self.assertIn(self.smetric(s, 'actions_enqueued_total', 's1'), (None, 0.0),
                      'actions_enqueued_total: zero queue writes')
        self.assertIs(self.pending('s1', token)['fast_path_ready'], True)

        # A killed peer: no close on the wire; the deadline timer catches it.
        killed_at = time.monotonic()
        p.kill()
        wait_until(lambda: not self.pending('s1', token)['fast_path_ready'],
                   DETECTION_BOUND + 5.0, 's1: fast_path_ready false')
        took = time.monotonic() - killed_at
        print('  SIGKILL -> fast_path_ready false: %.3f s' % took, file=sys.stderr)
        self.assertLessEqual(took, DETECTION_BOUND,
                             'fast_path_ready false within %.1f s of SIGKILL' % DETECTION_BOUND)


if __name__ == '__main__':
    # Exit 77 (meson's SKIP) when every test was skipped, so that a missing
    # node-datachannel shows as SKIP in `meson test`, not as OK.
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if r.testsRun and len(r.skipped) == r.testsRun and r.wasSuccessful():
        sys.exit(77)
    sys.exit(0 if r.wasSuccessful() else 1)
