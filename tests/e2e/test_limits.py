#!/usr/bin/python3
"""Hostile and oversized input: each gets a clear 4xx with the JSON error
envelope, or a measured, bounded use of memory and descriptors, and the
daemon keeps serving another client (a health check and an action
round-trip on another session) during and after each.

Numbers (VmRSS, fds, latencies) are printed. Under ASan (BEACH_SANITIZED=1)
counts are smaller and bounds looser.

    BEACH_MANAGER=build/src/manager/beach-manager python3 tests/e2e/test_limits.py -v
"""

import json
import os
import resource
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
from beachtest import BeachTestCase, now_ms  # noqa: E402

SANITIZED = os.environ.get('BEACH_SANITIZED') == '1'
SLOW = 3 if SANITIZED else 1
MiB = 1024 * 1024
BODY_LIMIT = 1024 * 1024          # WIRE.md default, [limits] body_bytes
REQUEST_TIMEOUT_SECS = 2          # [http] request_timeout_secs in these tests
# A round-trip on an idle daemon takes milliseconds; this is 3x and more
# what a loaded two-core machine needs.
SERVE_BOUND = 5.0 * SLOW


def proc_status_kib(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise AssertionError('no %s in /proc/%d/status' % (field, pid))


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def raise_own_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need and (hard == resource.RLIM_INFINITY or hard >= need):
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class LimitsCase(BeachTestCase):
    CONFIG = {'http': {'request_timeout_secs': REQUEST_TIMEOUT_SECS}}
    # ASan keeps freed memory in quarantine (256 MiB by default): VmRSS
    # would count every dropped body chunk.
    ENV = {'ASAN_OPTIONS': os.environ.get('ASAN_OPTIONS', '') + ':quarantine_size_mb=16'} \
        if SANITIZED else None

    def setUp(self):
        super().setUp()
        self.pid = self.d.proc.pid
        self.ok_token = self.register('ok')
        self.ok_lease = self.lease('ok', ttl_ms=3600000)
        self.seq = 0

    def rss_mib(self):
        return proc_status_kib(self.pid, 'VmRSS') / 1024.0

    def fds(self):
        return fd_count(self.pid)

    def assert_serving(self, what):
        """Another client is served: /healthz, then an action posted, polled
        and acked on session "ok". Returns the seconds it took."""
        t0 = time.monotonic()
        status, body, _ = self.req('GET', '/healthz', timeout=SERVE_BOUND)
        self.assertEqual(status, 200, '%s: /healthz %s' % (what, body))
        self.seq += 1
        aid = 'ok-%d' % self.seq
        status, body, _ = self.post_actions('ok', self.ok_lease, [self.action(aid, 'ping\n')])
        self.assertEqual(status, 200, '%s: actions %s' % (what, body))
        status, polled, _ = self.poll('ok', self.ok_token, wait_ms=2000)
        self.assertEqual(status, 200, '%s: poll %s' % (what, polled))
        self.assertEqual([a['id'] for a in polled['actions']], [aid], what)
        self.assertEqual(self.ack('ok', self.ok_token, [aid])[:2], (200, {'acknowledged': 1}),
                         what)
        took = time.monotonic() - t0
        self.assertLess(took, SERVE_BOUND, '%s: the round-trip took %.2f s' % (what, took))
        return took

    def raw_socket(self, timeout=10):
        return socket.create_connection((self.d.host, self.d.port), timeout=timeout)

    def read_response(self, sock):
        """Status and parsed body of the answer on SOCK, then EOF expected."""
        import http.client
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        raw = resp.read()
        return resp.status, json.loads(raw.decode('utf-8')), resp


class BodyLimitTests(LimitsCase):
    # Bodies of many MiB must arrive within the request timeout whatever the
    # machine's load: the default (30 s) here.
    CONFIG = None

    def test_body_just_over_the_limit_is_413(self):
        pad = BODY_LIMIT - len(json.dumps(self.registration('s1')))
        at_limit = json.dumps(self.registration('s1')) + ' ' * pad
        self.assertEqual(len(at_limit), BODY_LIMIT)
        status, body, _ = self.req('POST', '/sessions/register', self.op, at_limit)
        self.assertEqual(status, 200, 'a body of exactly the limit: %s' % body)
        over = at_limit + ' '
        for path, token in (('/sessions/register', self.op),
                            ('/sessions/ok/actions', self.ok_lease),
                            ('/sessions/ok/state', self.ok_token),
                            ('/nope', None)):
            with self.subTest(path=path):
                self.assertError(self.req('POST', path, token, over), 413, 'payload_too_large')
        # With "Expect: 100-continue" a declared 10 GiB body is refused
        # before it is sent, and the connection closed.
        sock = self.raw_socket()
        self._closers.append(sock.close)
        t0 = time.monotonic()
        sock.sendall(b'POST /sessions/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '
                     + self.op.encode() + b'\r\nContent-Length: 10737418240\r\n'
                     b'Expect: 100-continue\r\n\r\n')
        status, body, resp = self.read_response(sock)
        self.assertEqual((status, body['error']), (413, 'payload_too_large'), body)
        self.assertEqual(resp.getheader('Connection'), 'close')
        self.assertIn('10737418240', body['message'])
        self.assertEqual(sock.recv(1), b'', 'the connection stayed open after 413')
        print('\n413 for a declared 10 GiB body in %.3f s' % (time.monotonic() - t0))
        self.assert_serving('after oversize bodies')

    def _stream_body(self, header, total, encode):
        """Sends a body of TOTAL bytes after HEADER, checking others are
        served meanwhile; returns (status, body, VmRSS growth in MiB)."""
        rss0 = self.rss_mib()
        sock = self.raw_socket(timeout=30)
        self._closers.append(sock.close)
        sock.sendall(header)
        piece = b' ' * (64 * 1024)
        sent, served, next_check = 0, [], 8 * MiB
        t0 = time.monotonic()
        while sent < total:
            sock.sendall(encode(piece))
            sent += len(piece)
            if sent >= next_check:
                served.append(self.assert_serving('during a body at %d MiB' % (sent // MiB)))
                next_check += 16 * MiB
        rss1 = self.rss_mib()
        sock.sendall(encode(b''))
        status, body, _ = self.read_response(sock)
        print('\n%d MiB body in %.1f s: VmRSS %.1f -> %.1f MiB; others served in %s s'
              % (total // MiB, time.monotonic() - t0, rss0, rss1,
                 ', '.join('%.3f' % x for x in served)))
        return status, body, rss1 - rss0

    def test_huge_declared_body_is_413_in_bounded_memory(self):
        # Without "Expect", soup reads the body before answering: it must be
        # dropped as it comes (it used to be kept: +2x the body in VmRSS).
        total = (24 if SANITIZED else 48) * MiB
        header = (b'POST /sessions/ok/state HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '
                  + self.ok_token.encode() + b'\r\nContent-Length: %d\r\n\r\n' % total)
        status, body, grew = self._stream_body(header, total, lambda p: p)
        self.assertEqual((status, body['error']), (413, 'payload_too_large'), body)
        self.assertLess(grew, 16 * SLOW, 'VmRSS grew with the body')
        self.assert_serving('after a huge declared body')

    def test_huge_chunked_body_is_413_in_bounded_memory(self):
        # No declared length: counted as it arrives (it used to be kept
        # whole, however large).
        total = (24 if SANITIZED else 64) * MiB
        header = (b'POST /sessions/ok/state HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '
                  + self.ok_token.encode() + b'\r\nTransfer-Encoding: chunked\r\n\r\n')
        status, body, grew = self._stream_body(
            header, total, lambda p: b'%x\r\n' % len(p) + p + b'\r\n')
        self.assertEqual((status, body['error']), (413, 'payload_too_large'), body)
        self.assertLess(grew, 16 * SLOW, 'VmRSS grew with the body')
        self.assert_serving('after a huge chunked body')


class ActionsPerCallTests(LimitsCase):

    def test_10000_actions_refused_whole(self):
        # WIRE.md: "1..256 actions per call"; outside the range: 400.
        actions = [{'id': 'b%d' % i, 'action_type': 'terminal_write', 'payload': {'bytes': 'x'}}
                   for i in range(10000)]
        body = {'controller_token': self.ok_lease, 'actions': actions}
        self.assertLess(len(json.dumps(body)), BODY_LIMIT, 'the body check would answer first')
        # Parsing 10,000 actions takes ASan's slow unwinder (one per malloc)
        # some 12 s; without sanitizers it is milliseconds.
        t0 = time.monotonic()
        self.assertError(self.req('POST', '/sessions/ok/actions', self.ok_lease, body,
                                  timeout=beachtest.HTTP_TIMEOUT * (6 if SANITIZED else 1)),
                         400, 'bad_request', field='actions')
        print('\n10,000 actions refused in %.3f s' % (time.monotonic() - t0))
        self.assertError(self.post_actions('ok', self.ok_lease, actions[:257]), 400,
                         'bad_request', field='actions')
        self.assertEqual(self.pending('ok', self.ok_token)['pending'], 0, 'refused, not whole')
        # 256 are accepted, and every one is delivered.
        status, out, _ = self.post_actions('ok', self.ok_lease, actions[:256])
        self.assertEqual(status, 200, out)
        self.assertEqual(len(out['accepted_ids']), 256)
        status, polled, _ = self.poll('ok', self.ok_token, max=256)
        self.assertEqual([a['id'] for a in polled['actions']], [a['id'] for a in actions[:256]])
        self.assertEqual(self.ack('ok', self.ok_token, out['accepted_ids'])[:2],
                         (200, {'acknowledged': 256}))
        self.assert_serving('after 10,000 actions')


class MalformedInputTests(LimitsCase):

    def test_deep_nesting_is_400_not_a_crash(self):
        deep = b'[' * 100000
        deep_obj = b'{"a":' * 50000 + b'1' + b'}' * 50000
        cases = [
            ('POST', '/sessions/register', self.op, deep),
            ('POST', '/sessions/register', self.op, deep_obj),
            ('POST', '/sessions/ok/actions', self.ok_lease, deep),
            ('POST', '/sessions/ok/actions/ack', self.ok_token, deep),
            ('POST', '/sessions/ok/state', self.ok_token,
             b'{"sequence":1,"emitted_at":1,"payload":{"x":' + deep + b'}}'),
            ('POST', '/sessions/ok/health', self.ok_token, deep_obj),
        ]
        for method, path, token, body in cases:
            with self.subTest(path=path, size=len(body)):
                resp = self.req(method, path, token, body)
                self.assertError(resp, 400, 'bad_request')
                self.assertIn('deeper than', resp[1]['message'])
        self.assertTrue(self.d.running(), 'the daemon died')
        # Nesting a real payload needs stays fine.
        payload = {'x': json.loads('[' * 100 + ']' * 100)}
        status, body, _ = self.req('POST', '/sessions/ok/state', self.ok_token,
                                   {'sequence': 1, 'emitted_at': now_ms(), 'payload': payload})
        self.assertEqual(status, 200, body)
        self.assert_serving('after deep nesting')

    def test_invalid_utf8(self):
        op, t = self.op, self.ok_token
        # In JSON text, raw or as an escape json-glib 1.6 would turn into
        # non-UTF-8 bytes (a lone surrogate) or cut short (\u0000).
        bodies = [
            ('raw 0xff in a string', b'{"sequence":1,"emitted_at":1,"payload":{"x":"\xff\xfe"}}'),
            ('raw 0xc3 (truncated)', b'{"sequence":1,"emitted_at":1,"payload":{"x":"\xc3"}}'),
            ('overlong NUL', b'{"sequence":1,"emitted_at":1,"payload":{"x":"\xc0\x80"}}'),
            ('lone high surrogate', b'{"sequence":1,"emitted_at":1,"payload":{"x":"\\ud800x"}}'),
            ('lone low surrogate', b'{"sequence":1,"emitted_at":1,"payload":{"x":"\\udc00"}}'),
            ('escaped NUL', b'{"sequence":1,"emitted_at":1,"payload":{"x":"a\\u0000b"}}'),
            ('invalid key', b'{"sequence":1,"emitted_at":1,"payload":{"\\ud800x":1}}'),
        ]
        for name, body in bodies:
            with self.subTest(name):
                self.assertError(self.req('POST', '/sessions/ok/state', t, body), 400,
                                 'bad_request', msg=name)
        lease = self.ok_lease
        act = ('{"controller_token":"%s","actions":[{"id":"u1","action_type":"terminal_write",'
               '"payload":{"bytes":"\\ud800x"}}]}' % lease).encode()
        self.assertError(self.req('POST', '/sessions/ok/actions', lease, act), 400, 'bad_request')
        self.assertEqual(self.pending('ok', t)['pending'], 0, 'a non-UTF-8 action was queued')
        # A surrogate pair is fine and arrives as the character.
        act = act.replace(b'\\ud800x', b'\\ud83d\\ude00')
        self.assertEqual(self.req('POST', '/sessions/ok/actions', lease, act)[0], 200)
        status, polled, _ = self.poll('ok', t)
        self.assertEqual(polled['actions'][0]['payload']['bytes'], '\U0001F600')
        self.ack('ok', t, ['u1'])

        # In the query and the headers: the check order decides (a token
        # that is not UTF-8 is an unknown token; a path id is 404).
        raw = [
            ('wait_ms=%FF', b'GET /sessions/ok/actions/poll?wait_ms=%FF', t, 400),
            ('raw 0xff in the query', b'GET /sessions/ok/actions/poll?max=\xff', t, 400),
            ('since=%FF', b'GET /sessions/ok/dead-letters?since=%C3', op, 400),
            ('access_token=%FF', b'GET /sessions?access_token=%FF%FE', None, 401),
            ('bearer 0xff', b'GET /sessions', '\udcff\udcfe', 401),
            ('path id %FF', b'GET /sessions/%FF', op, 404),
            ('raw 0xff in the path', b'GET /sessions/\xff\xfe', op, 404),
        ]
        for name, line, token, want in raw:
            with self.subTest(name):
                req = line + b' HTTP/1.1\r\nHost: x\r\n'
                if token is not None:
                    req += b'Authorization: Bearer ' + token.encode('utf-8', 'surrogateescape') \
                        + b'\r\n'
                req += b'X-Other: \xff\xfe\r\n\r\n'
                status, body, _ = self.d.raw_request(req)
                self.assertEqual(status, want, '%s: %r' % (name, body))
                self.assertIsInstance(body, dict, name)
                self.assertEqual(body.get('error'), beachtest.ERROR_KINDS[want], name)
                # The message is valid UTF-8 (it may name the bad input).
                json.dumps(body, ensure_ascii=False).encode('utf-8')
        self.assert_serving('after invalid UTF-8')


class SlowClientTests(LimitsCase):

    def _open_partial(self, n):
        socks = []
        half_header = b'GET /sessions/ok/actions/pending HTTP/1.1\r\nHost: x\r\nX-Slow: '
        half_body = (b'POST /sessions/ok/state HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '
                     + self.ok_token.encode() + b'\r\nContent-Length: 1000\r\n\r\n{"sequence":')
        for i in range(n):
            s = self.raw_socket()
            self._closers.append(s.close)
            s.sendall(half_header if i % 2 == 0 else half_body)
            socks.append(s)
        return socks

    def test_slowloris_bounded_and_timed_out(self):
        n = 100 if SANITIZED else 200
        limit = raise_own_fd_limit(4 * n)
        self.assertGreater(limit, 2 * n, 'ulimit -n too low for this test')
        self.assert_serving('before')
        fds0, rss0 = self.fds(), self.rss_mib()
        t0 = time.monotonic()
        socks = self._open_partial(n)
        self.barrier()
        fds1, rss1 = self.fds(), self.rss_mib()
        took = self.assert_serving('with %d partial requests open' % n)
        # Every connection is closed by the daemon once the request timeout
        # has passed (EOF or reset on our side), none answered.
        deadline = t0 + REQUEST_TIMEOUT_SECS * 3 + 5 * SLOW
        closed = 0
        for s in socks:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = s.recv(100)
                self.assertEqual(data, b'', 'a partial request was answered: %r' % data)
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail('%d of %d partial requests still open %.1f s after the %d s request '
                          'timeout' % (n - closed, n, deadline - t0, REQUEST_TIMEOUT_SECS))
            closed += 1
        closed_at = time.monotonic() - t0
        for s in socks:
            s.close()
        self.barrier()
        fds2 = self.fds()
        print('\n%d partial requests: daemon fds %d -> %d -> %d, VmRSS %.1f -> %.1f MiB; '
              'others served in %.3f s; all closed by the daemon after %.1f s (timeout %d s)'
              % (n, fds0, fds1, fds2, rss0, rss1, took, closed_at, REQUEST_TIMEOUT_SECS))
        self.assertGreaterEqual(closed_at, REQUEST_TIMEOUT_SECS - 1, 'closed before the timeout')
        self.assertLessEqual(fds1 - fds0, n + 10, 'more than one fd per connection')
        self.assertLess(rss1 - rss0, 32 * SLOW, 'VmRSS grew by more than 32 MiB')
        self.assertLess(fds2 - fds0, 10, 'fds of timed-out connections were not freed')
        self.assert_serving('after')

    def test_slow_body_after_headers_is_cut_too(self):
        # Headers in time, then a body trickled byte by byte: the timeout
        # counts from the connect, so trickling does not keep it open.
        s = self.raw_socket()
        self._closers.append(s.close)
        s.sendall(b'POST /sessions/ok/state HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '
                  + self.ok_token.encode() + b'\r\nContent-Length: 100000\r\n\r\n')
        t0 = time.monotonic()
        deadline = t0 + REQUEST_TIMEOUT_SECS * 3 + 5 * SLOW
        s.settimeout(0.2)
        while True:
            self.assertLess(time.monotonic(), deadline, 'the trickling client was never cut')
            try:
                s.sendall(b' ')
                data = s.recv(100)
                self.assertEqual(data, b'')
                break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        print('\ntrickled body cut after %.1f s' % (time.monotonic() - t0))
        self.assert_serving('after a trickled body')


class ParkedPollFloodTests(LimitsCase):
    CONFIG = None  # parked polls are not partial requests

    def test_parked_poll_flood(self):
        n = 200 if SANITIZED else 500
        wait_ms = 8000 * SLOW
        raise_own_fd_limit(4 * n)
        sessions = ['f%d' % i for i in range(10)]
        tokens = {s: self.register(s) for s in sessions}
        self.assert_serving('before')
        fds0, rss0 = self.fds(), self.rss_mib()
        socks = []
        # Half on one session, half across ten.
        for i in range(n):
            sid = sessions[0] if i < n // 2 else sessions[i % len(sessions)]
            s = self.raw_socket(timeout=40)
            self._closers.append(s.close)
            s.sendall(('GET /sessions/%s/actions/poll?wait_ms=%d&max=1 HTTP/1.1\r\nHost: x\r\n'
                       'Authorization: Bearer %s\r\n\r\n' % (sid, wait_ms, tokens[sid])).encode())
            socks.append((sid, s))
        t_parked = time.monotonic()
        self.barrier()
        fds1, rss1 = self.fds(), self.rss_mib()
        took = self.assert_serving('with %d parked polls' % n)
        # An action on the crowded session is delivered to exactly one of
        # its parked polls, promptly.
        t0 = time.monotonic()
        status, out, _ = self.post_actions(sessions[0], self.lease(sessions[0]),
                                           [self.action('flood-1')])
        self.assertEqual(status, 200, out)
        got = None
        import select
        crowd = [s for sid, s in socks if sid == sessions[0]]
        while got is None:
            left = t0 + SERVE_BOUND - time.monotonic()
            self.assertGreater(left, 0, 'no parked poll was answered with the action')
            ready, _, _ = select.select(crowd, [], [], left)
            for s in ready:
                s.settimeout(SERVE_BOUND)
                status, body, _ = self.read_response(s)
                self.assertEqual(status, 200, body)
                if body['actions']:
                    got = body
                    crowd.remove(s)
                    break
        woke = time.monotonic() - t0
        self.assertEqual([a['id'] for a in got['actions']], ['flood-1'])
        # Clients going away: a parked poll does not notice (soup does not
        # watch a paused message's socket); its connection is freed when
        # its wait_ms ends, so the cost is bounded by [limits] max_wait_ms.
        closed_at = time.monotonic()
        for sid, s in socks:
            s.close()
        deadline = t_parked + wait_ms / 1000.0 + 10 * SLOW
        while self.fds() - fds0 > 10:
            self.assertLess(time.monotonic(), deadline,
                            'fds of closed parked polls not freed: %d -> %d'
                            % (fds0, self.fds()))
            self.barrier()
            time.sleep(0.1)  # a measurement loop; the deadline bounds it
        freed = time.monotonic() - closed_at
        fds2 = self.fds()
        print('\n%d parked polls: daemon fds %d -> %d -> %d, VmRSS %.1f -> %.1f MiB '
              '(%.1f KiB each); others served in %.3f s; action delivered in %.3f s; '
              'closed ones freed %.1f s after the close (wait_ms %d)'
              % (n, fds0, fds1, fds2, rss0, rss1, (rss1 - rss0) * 1024 / n, took, woke,
                 freed, wait_ms))
        self.assertLessEqual(fds1 - fds0, n + 10)
        self.assertLess(rss1 - rss0, 64 * SLOW, 'VmRSS grew by more than 64 MiB')
        self.assert_serving('after')


class StartupTests(BeachTestCase):
    START = False

    def test_sigterm_right_after_listening_exits_cleanly(self):
        # The "listening on" line used to be printed before the SIGTERM
        # handler was installed: a test (or systemd) stopping the daemon at
        # once killed it (status -15) instead of a clean exit 0.
        for i in range(10):
            d = self.start_daemon(name='quick%d' % i)
            d.signal(signal.SIGTERM)
            rc = d.wait(beachtest.STOP_TIMEOUT)
            d.returncode = rc
            self.assertEqual(rc, 0, 'run %d: exit status %s after an immediate SIGTERM' % (i, rc))


if __name__ == '__main__':
    unittest.main()
