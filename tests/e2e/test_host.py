#!/usr/bin/python3
"""End-to-end tests of beach-host (src/host) against the real daemon.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    BEACH_HOST=$PWD/build/src/host/beach-host \
    GST_REGISTRY=$PWD/build/gst-registry.bin \
        /usr/bin/python3 tests/e2e/test_host.py -v

The host runs with --json-log; its log lines are parsed as JSON (which
tests that format too).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
import test_fastpath as tf  # noqa: E402
import test_harness as th  # noqa: E402

HOST = os.environ.get('BEACH_HOST') or os.path.join(
    beachtest.SOURCE_ROOT, 'build', 'src', 'host', 'beach-host')
SIGTERM_BOUND = 1.0   # the manager sees the link close (issue #7)
CONNECT_TIMEOUT = 2   # seconds, for the unanswered-manager test


class Host:
    """One beach-host process; its JSON log lines are collected."""

    def __init__(self, argv, env=None):
        self.logs = []
        self.raw = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([HOST, '--json-log'] + argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env or dict(os.environ))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b''):
            line = raw.decode('utf-8', errors='replace').rstrip('\n')
            with self.cond:
                self.raw.append(line)
                try:
                    self.logs.append(json.loads(line))
                except ValueError:
                    self.logs.append(None)
                self.cond.notify_all()

    def messages(self):
        with self.cond:
            return [e['message'] for e in self.logs if e]

    def wait_log(self, pred, timeout, what, start=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, e in enumerate(self.logs[start:], start):
                    if e and pred(e['message']):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError('beach-host: no %s log line within %.1f s; log: %s'
                                         % (what, timeout, self.raw[-20:]))
                self.cond.wait(left)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(5.0) is None:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(5.0)


@unittest.skipUnless(os.access(HOST, os.X_OK), 'beach-host not built at %s' % HOST)
class HostTests(th.HarnessTestCase):

    def setUp(self):
        super().setUp()
        self.state_home = tempfile.mkdtemp(prefix='beach-host-state-')
        self.addCleanup(shutil.rmtree, self.state_home, True)

    def host(self, sid, command, token=None, extra=None, url=None):
        env = dict(os.environ, XDG_STATE_HOME=self.state_home)
        argv = ['--manager', url or 'http://%s:%d' % (self.d.host, self.d.port),
                '--session-id', sid, '--private-beach-id', 'pb',
                '--token', token or self.op] + (extra or []) + ['--'] + command
        h = Host(argv, env)
        self._closers.append(h.stop)
        return h

    def attached(self, h, sid):
        """Waits for the link and the paused poller; returns the session token."""
        h.wait_log(lambda m: m == 'fast path ready; http poller paused', th.HEALTHY_TIMEOUT,
                   'poller paused')
        status, body, _ = self.req('POST', '/sessions/register', self.op,
                                   self.registration(sid, mode=None, harness_type='terminal_shim'))
        self.assertEqual(status, 200, body)
        return body['session_token']

    def state_lines(self, sid):
        status, body, _ = self.req('GET', '/sessions/%s/state' % sid, self.op)
        self.assertEqual(status, 200, body)
        return body['payload']['lines'] if body else []

    def run_actions(self, sid, lease, actions, fallback=None):
        return self.post_ok(sid, lease, actions, fallback=fallback)

    # `-- cat`: a terminal_write is typed in, acked ok, and the state shows
    # it; an unknown action type is acked `rejected`/`unsupported_action`.
    def test_1_cat(self):
        h = self.host('c1', ['cat'])
        token = self.attached(h, 'c1')
        events = self.subscribe('/sessions/c1/events', self.op)
        lease = self.lease('c1')
        self.run_actions('c1', lease, [self.action('w1', 'hello\n'),
                                       self.action('w2', 'x', action_type='launch_rocket',
                                                   payload={})])
        settled = {}
        while len(settled) < 2:
            ev = events.wait_for(lambda e: e['event'] == 'action_settled', 5.0, 'action_settled')
            settled[ev['data']['id']] = ev['data']
        self.assertEqual(settled['w1']['status'], 'ok')
        self.assertEqual((settled['w2']['status'], settled['w2']['error_code']),
                         ('rejected', 'unsupported_action'))
        tf.wait_until(lambda: 'hello' in self.state_lines('c1'), 3.0, 'hello in the state')
        status, body, _ = self.req('GET', '/sessions/c1/state', self.op)
        self.assertEqual((body['payload']['type'], body['payload']['rows'], body['payload']['cols']),
                         ('terminal_full', 24, 80))
        self.settled('c1', token)
        journal = os.path.join(self.state_home, 'beach-host', 'pb-c1.journal')
        with open(journal) as f:
            ids = [json.loads(line)['id'] for line in f if line.strip()]
        self.assertEqual(sorted(ids), ['w1', 'w2'], 'the journal is on by default')

    # `-- sh`: the shell runs what is typed.
    def test_2_sh(self):
        h = self.host('c2', ['sh'], extra=['--rows', '30', '--cols', '100'])
        self.attached(h, 'c2')
        lease = self.lease('c2')
        self.run_actions('c2', lease, [self.action('s1', 'echo $((6 * 7))\n')])
        tf.wait_until(lambda: '42' in self.state_lines('c2'), 3.0, '42 in the state')
        status, body, _ = self.req('GET', '/sessions/c2/state', self.op)
        self.assertEqual((body['payload']['rows'], body['payload']['cols']), (30, 100))

    # While paused the host never polls: the manager's poll counter is flat
    # across 300 actions on the link.
    def test_3_paused_host_does_not_poll(self):
        h = self.host('c3', ['cat'])
        token = self.attached(h, 'c3')
        polls = self.poll_requests()
        lease = self.lease('c3')
        for i in range(0, 300, 100):
            out = self.run_actions('c3', lease, ['p%03d' % j for j in range(i, i + 100)])
            self.assertEqual(out['transport'], 'fast_path', out)
        self.settled('c3', token)
        resumed = [m for m in h.messages() if m.startswith('http poller resumed')]
        if os.environ.get('BEACH_SANITIZED') == '1' and resumed:
            # Under ASan a starved link may really miss a heartbeat; then the
            # host polls, and says so. Never silently.
            self.assertGreater(self.poll_requests(), polls)
            return
        self.assertEqual(resumed, [])
        self.assertEqual(self.poll_requests(), polls)

    # SIGSTOP until the manager demotes the host; actions queue meanwhile.
    # After SIGCONT the host drains them and pauses again.
    def test_4_stopped_host_drains_and_pauses_again(self):
        h = self.host('c4', ['cat'])
        token = self.attached(h, 'c4')
        lease = self.lease('c4')
        h.proc.send_signal(signal.SIGSTOP)
        try:
            tf.wait_until(lambda: not self.session('c4')['fast_path_ready'], 5.0, 'demoted')
            out = self.run_actions('c4', lease, [self.action('q%d' % i, 'line %d\n' % i)
                                                 for i in range(5)], fallback='allow')
            self.assertEqual(out['transport'], 'http_fallback', out)
            mark = len(h.messages())
        finally:
            h.proc.send_signal(signal.SIGCONT)
        h.wait_log(lambda m: m.startswith('http poller resumed'), 10.0, 'poller resumed', start=mark)
        self.settled('c4', token, timeout=20.0)
        tf.wait_until(lambda: 'line 4' in self.state_lines('c4'), 5.0, 'the drained output')
        h.wait_log(lambda m: m == 'fast path ready; http poller paused', 30.0, 'paused again',
                   start=mark)
        self.assertEqual(self.dead_letters('c4'), [])

    # SIGTERM: the link closes gracefully and the manager sees it at once.
    def test_5_sigterm(self):
        h = self.host('c5', ['cat'])
        token = self.attached(h, 'c5')
        t0 = time.monotonic()
        h.proc.send_signal(signal.SIGTERM)
        tf.wait_until(lambda: not self.pending('c5', token)['fast_path_ready'], SIGTERM_BOUND,
                      'the manager sees the close', interval=0.005)
        print('\n  link closed %.3f s after SIGTERM' % (time.monotonic() - t0), file=sys.stderr)
        self.assertEqual(h.wait(5.0), 0)
        self.assertEqual(self.session('c5')['transport_reason'], 'channel_closed')

    # The command's exit ends the host, with the command's status.
    def test_6_command_exit_status(self):
        h = self.host('c6', ['sh'])
        token = self.attached(h, 'c6')
        lease = self.lease('c6')
        self.run_actions('c6', lease, [self.action('e1', 'exit 3\n')])
        self.assertEqual(h.wait(10.0), 3)
        tf.wait_until(lambda: not self.pending('c6', token)['fast_path_ready'], 2.0, 'closed')
        self.assertIn('the command exited with status 3', h.messages())

    # Bad arguments, a wrong token, no manager, a silent manager and a
    # missing command: one clear line each and a non-zero exit, in time.
    def test_7_errors(self):
        url = 'http://%s:%d' % (self.d.host, self.d.port)

        def run(argv, timeout=15.0):
            env = dict(os.environ, XDG_STATE_HOME=self.state_home)
            t0 = time.monotonic()
            p = subprocess.run([HOST] + argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, env=env)
            return p.returncode, p.stderr.decode(), time.monotonic() - t0

        base = ['--session-id', 'e1', '--private-beach-id', 'pb']
        cases = [
            (['--token', 'x', '--', 'cat'] + base, 2, '--manager'),
            (['--manager', 'ftp://x', '--token', 'x'] + base + ['--', 'cat'], 2, 'not an http(s) URL'),
            (['--manager', url, '--token', 'x', '--session-id', 'bad id!', '--private-beach-id', 'pb',
              '--', 'cat'], 2, '--session-id'),
            (['--manager', url, '--token', 'x'] + base, 2, 'no command'),
            (['--manager', url, '--token', 'x', '--rows', '0'] + base + ['--', 'cat'], 2, 'out of range'),
        ]
        for argv, code, text in cases:
            rc, err, _ = run(argv)
            self.assertEqual(rc, code, (argv, err))
            self.assertIn(text, err, argv)
            self.assertLessEqual(len(err.strip().splitlines()), 2, 'one error and a hint: %s' % err)
        rc, err, _ = run(['--manager', url, '--token', 'not-a-token'] + base + ['--', 'cat'])
        self.assertEqual(rc, 1, err)
        self.assertIn('refused the token', err)
        # Nothing listens there.
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        free = s.getsockname()[1]
        s.close()
        rc, err, took = run(['--manager', 'http://127.0.0.1:%d' % free, '--token', 'x'] + base
                            + ['--', 'cat'])
        self.assertEqual(rc, 1, err)
        self.assertIn('cannot attach to the manager', err)
        self.assertLess(took, 10.0)
        # Something listens and never answers.
        silent = socket.socket()
        silent.bind(('127.0.0.1', 0))
        silent.listen(1)
        self.addCleanup(silent.close)
        rc, err, took = run(['--manager', 'http://127.0.0.1:%d' % silent.getsockname()[1], '--token',
                             'x', '--connect-timeout', str(CONNECT_TIMEOUT)] + base + ['--', 'cat'])
        self.assertEqual(rc, 1, err)
        self.assertIn('no answer from the manager', err)
        self.assertLess(took, 3 * CONNECT_TIMEOUT)
        rc, err, _ = run(['--manager', url, '--token', self.op] + base
                         + ['--', 'no-such-command-beach'])
        self.assertEqual(rc, 127, err)
        self.assertIn('Command not found: no-such-command-beach', err)

    # --manager repeated and comma-separated: one list, in order. The first
    # is dead (nothing listens): the host attaches through the next and
    # logs the move; a bad or empty entry is refused like a bad URL.
    def test_8_manager_list(self):
        url = 'http://%s:%d' % (self.d.host, self.d.port)
        dead, other = th.dead_url(), th.dead_url()
        h = self.host('m1', ['cat'], url=dead + ',' + url, extra=['--manager', other])
        h.wait_log(lambda m: m == 'manager ' + url, 15.0, 'the failover line')
        h.wait_log(lambda m: m == 'attached to %s as session m1' % url, 15.0, 'attached to the second')
        self.attached(h, 'm1')
        lease = self.lease('m1')
        self.run_actions('m1', lease, [self.action('w1', 'hello\n')])
        tf.wait_until(lambda: 'hello' in self.state_lines('m1'), 5.0, 'the action typed in')
        self.assertEqual([m for m in h.messages() if m.startswith('manager http')], ['manager ' + url])
        base = ['--session-id', 'm2', '--private-beach-id', 'pb', '--token', 'x', '--', 'cat']
        for manager, text in ((url + ',', 'an empty URL'), (url + ',ftp://x', 'not an http(s) URL: ftp://x')):
            p = subprocess.run([HOST, '--manager', manager] + base, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=15.0)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(text, p.stderr.decode())


if __name__ == '__main__':
    beachtest.main()
