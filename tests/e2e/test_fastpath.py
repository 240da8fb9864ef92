#!/usr/bin/python3
"""End-to-end tests of the fast path (WebRTC data channels) against the real
daemon, driven through build/tests/fastpath-peer, a harness-side peer that
offers a link over the HTTP signalling routes and reports on stdout (LINK,
HEALTH, ACTION, PING, OK, CLOSED lines; commands `silent`, `ack on|off`,
`close` on stdin). The contract is /work/shared/design/WIRE.md ("Fast-path
signalling", "Fast path", "Routing", "Details").

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    BEACH_FASTPATH_PEER=$PWD/build/tests/fastpath-peer \
    GST_REGISTRY=$PWD/build/gst-registry.bin \
        /usr/bin/python3 tests/e2e/test_fastpath.py -v

Sessions are registered without `transport_mode` (fast_path, the default).
"""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
from beachtest import BeachTestCase, metric_value, parse_metrics  # noqa: E402
from redisfixture import REDIS_SERVER, RedisServer  # noqa: E402

PEER = os.environ.get('BEACH_FASTPATH_PEER') or os.path.join(
    beachtest.SOURCE_ROOT, 'build', 'tests', 'fastpath-peer')

# The first webrtcbin use builds the GStreamer registry (~4 s) unless
# GST_REGISTRY points at a built one.
FIRST_HANDSHAKE_TIMEOUT = 20.0
HANDSHAKE_TIMEOUT = 10.0
DETECTION_BOUND = 4.5        # frozen peer -> fast_path_ready false
ACK_TIMEOUT = 2.0            # WIRE: in-flight not acked within 2 s is demoted
GRACEFUL_CLOSE_BOUND = 1.0
SIGTERM_CLOSE_BOUND = 2.0

_first_handshake = [True]


def ids_of(actions):
    return [a['id'] for a in actions]


def wait_until(predicate, timeout, what, interval=0.02):
    """Deadline loop: returns predicate()'s first true value."""
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


class Peer(beachtest.PeerProcess):
    """One fastpath-peer process (tests/fastpath-peer.c)."""

    def __init__(self, daemon, session_id, token, no_ack=False, name='peer'):
        if not os.access(PEER, os.X_OK):
            raise RuntimeError('fastpath-peer not found at %s (set BEACH_FASTPATH_PEER)' % PEER)
        argv = [PEER, '--url', 'http://%s:%d' % (daemon.host, daemon.port),
                '--session-id', session_id, '--token', token]
        if no_ack:
            argv.append('--no-ack')
        super().__init__(argv, name, 'fastpath-peer-')


class FastPathTestCase(BeachTestCase):

    def setUp(self):
        self._peers = []
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
                    with p.cond:
                        tail = [l for _, l in p.lines[-40:]]
                    sys.stderr.write('\n----- %s (%s) stdout tail -----\n%s\n'
                                     '----- %s stderr -----\n%s----- end -----\n'
                                     % (p.name, self.id(), '\n'.join(tail), p.name,
                                        p.stderr_text()))
                p.cleanup()

    # -- helpers -----------------------------------------------------------

    def register_fp(self, session_id, daemon=None):
        """Registers without transport_mode (fast_path); returns the whole answer."""
        return self.register_full(session_id, mode=None, daemon=daemon)

    def peer(self, session_id, token, daemon=None, no_ack=False, name=None):
        p = Peer(daemon or self.d, session_id, token, no_ack=no_ack,
                 name=name or 'peer%d' % len(self._peers))
        self._peers.append(p)
        # Closers run in tearDown before the daemons are stopped.
        self._closers.append(p.stop)
        return p

    def handshake(self, peer, session_id, token, daemon=None):
        """Waits for HEALTH healthy on the peer, then for fast_path_ready on
        the daemon. Returns the seconds from the peer's start to its
        HEALTH healthy line."""
        timeout = FIRST_HANDSHAKE_TIMEOUT if _first_handshake[0] else HANDSHAKE_TIMEOUT
        t, _ = peer.expect(lambda l: l == 'HEALTH healthy', timeout, what='HEALTH healthy')
        _first_handshake[0] = False
        wait_until(lambda: self.pending(session_id, token, daemon=daemon)['fast_path_ready'],
                   5.0, '%s: fast_path_ready true on the daemon' % session_id)
        return t - peer.started_at

    def session(self, session_id, daemon=None):
        d = daemon or self.d
        status, body, _ = self.req('GET', '/sessions/%s' % session_id, d.operator_token,
                                   daemon=d)
        self.assertEqual(status, 200, body)
        return body

    def series(self, daemon=None):
        return parse_metrics(self.metrics(daemon))[0]

    def smetric(self, series, name, session_id, pb='pb', **labels):
        return metric_value(series, name, private_beach_id=pb, session_id=session_id, **labels)

    def post_ok(self, session_id, lease, actions, fallback=None, daemon=None):
        status, out, _ = self.post_actions(session_id, lease, actions, fallback=fallback,
                                           daemon=daemon)
        self.assertEqual(status, 200, out)
        return out

    def poll_n(self, session_id, token, n, timeout=5.0, daemon=None):
        """Polls (parked) until n actions were delivered; returns their ids."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('%s: polled %d actions within %.1f s, expected %d: %s'
                                     % (session_id, len(got), timeout, n, got))
            status, body, _ = self.poll(session_id, token, wait_ms=int(min(left, 2.0) * 1000),
                                        daemon=daemon)
            self.assertEqual(status, 200, body)
            got.extend(ids_of(body['actions']))
        return got

    def ack_ok(self, session_id, token, ids, daemon=None):
        for i in range(0, len(ids), 256):
            status, body, _ = self.ack(session_id, token, ids[i:i + 256], daemon=daemon)
            self.assertEqual(status, 200, body)


class HandshakeTests(FastPathTestCase):

    # 1. Handshake to healthy.
    def test_1_handshake_to_healthy(self):
        reg = self.register_fp('s1')
        token, hid = reg['session_token'], reg['handshake_id']
        self.assertIsNotNone(reg['transport_hints'].get('fast_path_webrtc'))
        p = self.peer('s1', token)
        took = self.handshake(p, 's1', token)
        print('\n  handshake (peer start -> HEALTH healthy): %.3f s' % took, file=sys.stderr)

        pend = self.pending('s1', token)
        self.assertIs(pend['fast_path_ready'], True, pend)
        self.assertEqual(pend['transport'], 'fast_path', pend)
        self.assertEqual(pend['transport_mode'], 'fast_path', pend)
        self.assertEqual(pend['pending'], 0, pend)
        self.assertEqual(pend['handshake_id'], hid, pend)

        info = wait_until(lambda: (lambda s: s if isinstance(s.get('heartbeat_rtt_us'), int)
                                   else None)(self.session('s1')),
                          5.0, 's1: heartbeat_rtt_us a number')
        self.assertEqual(info['link_generation'], 1, info)
        self.assertEqual(info['transport'], 'fast_path', info)
        self.assertEqual(info['transport_reason'], 'link_healthy', info)
        self.assertIs(info['fast_path_ready'], True, info)
        self.assertGreater(info['heartbeat_rtt_us'], 0, info)
        self.assertLess(info['heartbeat_rtt_us'], 1500000, info)
        print('  heartbeat_rtt_us: %d' % info['heartbeat_rtt_us'], file=sys.stderr)

        s = self.series()
        self.assertEqual(self.smetric(s, 'fastpath_link_healthy', 's1'), 1.0)
        self.assertEqual(self.smetric(s, 'session_transport', 's1', transport='fast_path'), 1.0)
        for other in ('http_fallback', 'pending'):
            self.assertIn(self.smetric(s, 'session_transport', 's1', transport=other),
                          (None, 0.0), other)
        rtt_count = self.smetric(s, 'fastpath_heartbeat_rtt_seconds_count', 's1')
        self.assertIsNotNone(rtt_count, 'fastpath_heartbeat_rtt_seconds has a series')
        self.assertGreater(rtt_count, 0)

        p.expect(lambda l: l == 'PING fast_path 0 %s' % hid, 5.0, start=0,
                 what='PING fast_path 0 %s' % hid)


class ThroughputTests(FastPathTestCase):

    N_CALLS = 10
    PER_CALL = 100

    def run_thousand(self, daemon, xlen=None):
        """1,000 actions over a healthy link. xlen(): the stream's length,
        sampled on a thread during the run. Returns the max sampled."""
        reg = self.register_fp('s1', daemon=daemon)
        token = reg['session_token']
        p = self.peer('s1', token, daemon=daemon)
        self.handshake(p, 's1', token, daemon=daemon)
        lease = self.lease('s1', ttl_ms=120000, daemon=daemon)

        samples = []
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                samples.append(xlen())
                stop.wait(0.002)

        thread = None
        if xlen is not None:
            thread = threading.Thread(target=sampler, daemon=True, name='xlen-sampler')
            thread.start()
        expected = []
        t0 = time.monotonic()
        try:
            for c in range(self.N_CALLS):
                ids = ['a%04d' % (c * self.PER_CALL + i) for i in range(self.PER_CALL)]
                out = self.post_ok('s1', lease, ids, daemon=daemon)
                self.assertEqual(out['accepted_ids'], ids)
                self.assertEqual(out['duplicate_ids'], [])
                self.assertEqual(out['transport'], 'fast_path', 'call %d: %s' % (c, out))
                expected.extend(ids)
            got = p.wait_actions(len(expected), 30.0)
            took = time.monotonic() - t0
            wait_until(lambda: (lambda b: b['pending'] == 0 and b['in_flight'] == 0)(
                self.pending('s1', token, daemon=daemon)), 10.0, 'pending 0, in_flight 0')
        finally:
            stop.set()
            if thread is not None:
                thread.join(5.0)
        print('\n  1,000 actions delivered on the link in %.3f s' % took, file=sys.stderr)
        self.assertEqual(len(got), len(expected), 'ACTION lines')
        self.assertEqual(len(set(got)), len(got), 'every action exactly once')
        self.assertEqual(got, expected, 'ACTION lines in send order')
        pend = self.pending('s1', token, daemon=daemon)
        self.assertEqual(pend['pending'], 0, pend)
        self.assertEqual(pend['transport'], 'fast_path', pend)

        def acked():
            s = self.series(daemon)
            return s if self.smetric(s, 'fastpath_acks_received_total', 's1') == 1000 else None

        try:
            s = wait_until(acked, 5.0, 'fastpath_acks_received_total 1000')
        except AssertionError:
            s = self.series(daemon)
        self.assertEqual(self.smetric(s, 'fastpath_actions_sent_total', 's1'), 1000.0)
        self.assertEqual(self.smetric(s, 'fastpath_acks_received_total', 's1'), 1000.0)
        self.assertIn(self.smetric(s, 'actions_enqueued_total', 's1'), (None, 0.0),
                      'actions_enqueued_total: zero queue writes')
        self.assertEqual(self.session('s1', daemon)['link_generation'], 1)
        if xlen is not None:
            samples.append(xlen())
            print('  XLEN sampled %d times during the run, max %d'
                  % (len(samples), max(samples)), file=sys.stderr)
            self.assertEqual(max(samples), 0, 'XLEN never > 0 during the run')
            self.assertEqual(samples[-1], 0, 'XLEN at the end')
        return samples

    # 2. 1,000 actions over the healthy link, memory queue.
    def test_2_thousand_actions_memory(self):
        self.run_thousand(self.d)

    # 2. The same with Redis: zero XADD (the stream never grows).
    @unittest.skipIf(REDIS_SERVER is None, 'redis-server is not installed')
    def test_2_thousand_actions_redis(self):
        redis = RedisServer()
        self.addCleanup(redis.cleanup)  # after tearDown: the daemon stops first
        redis.start()
        d = self.start_daemon(name='redis-daemon',
                              args=['--queue', 'redis', '--redis-url', redis.url])
        d.wait_ready(15.0)
        client = redis.client()
        self.addCleanup(client.close)
        key = 'beach:{pb:s1}:actions'
        self.run_thousand(d, xlen=lambda: client.call('XLEN', key))
        self.assertEqual(redis.call('XLEN', key), 0)
        wait_until(lambda: redis.call('HLEN', 'beach:{pb:s1}:inflight') == 0, 5.0,
                   'HLEN beach:{pb:s1}:inflight == 0 (HDEL on ack)')


class FailoverTests(FastPathTestCase):

    # 3. A frozen peer: detection, demotion in order, the ledger.
    def test_3_frozen_peer(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        p = self.peer('s1', token)
        self.handshake(p, 's1', token)
        lease = self.lease('s1', ttl_ms=60000)
        p.command('ack off')
        t_silent = p.command('silent')
        ids = ['f1', 'f2', 'f3', 'f4', 'f5']
        out = self.post_ok('s1', lease, ids)
        self.assertEqual(out['accepted_ids'], ids)
        self.assertEqual(out['transport'], 'fast_path',
                         'the link is still healthy when the POST arrives: %s' % out)

        wait_until(lambda: not self.pending('s1', token)['fast_path_ready'],
                   DETECTION_BOUND + 5.0, 'fast_path_ready false')
        detected = time.monotonic() - t_silent
        print('\n  frozen link detected %.3f s after `silent`' % detected, file=sys.stderr)
        self.assertLessEqual(detected, DETECTION_BOUND,
                             'fast_path_ready false within %.1f s of silent' % DETECTION_BOUND)

        polled = self.poll_n('s1', token, len(ids))
        self.assertEqual(polled, ids, 'the demoted actions, in order')
        info = self.session('s1')
        self.assertEqual(info['transport'], 'http_fallback', info)
        self.assertEqual(info['transport_reason'], 'heartbeat_timeout', info)
        self.assertIs(info['fast_path_ready'], False, info)
        s = self.series()
        self.assertEqual(self.smetric(s, 'fastpath_failovers_total', 's1',
                                      reason='heartbeat_timeout'), 1.0)
        self.assertEqual(self.smetric(s, 'fastpath_link_healthy', 's1'), 0.0)

        self.ack_ok('s1', token, polled)
        wait_until(lambda: self.session('s1')['transport'] == 'pending', 5.0,
                   'transport pending after the acks')
        pend = self.pending('s1', token)
        self.assertEqual(pend['pending'], 0, pend)
        self.assertEqual(pend['in_flight'], 0, pend)

        # Ledger: on the link and acked there (never, acks are off), or
        # delivered by poll and acked over HTTP.
        on_link = p.actions()
        link_acked = set()  # ack off: nothing was acked on the link
        delivered = set(polled) | link_acked
        losses = [i for i in ids if i not in delivered]
        dups = [i for i in ids if i in on_link and i in polled]
        print('  ledger: %d accepted, %d seen on the link (unacked), %d polled, '
              '%d duplicates (link then poll), %d losses'
              % (len(ids), len(on_link), len(polled), len(dups), len(losses)), file=sys.stderr)
        self.assertEqual(losses, [])

    # 3b. With Redis, a manager that dies (SIGKILL) with actions in flight
    # loses none: the in-flight hash re-queues them, in order, at the next
    # manager's start.
    @unittest.skipIf(REDIS_SERVER is None, 'redis-server is not installed')
    def test_3b_crash_with_actions_in_flight_redis(self):
        redis = RedisServer()
        self.addCleanup(redis.cleanup)
        redis.start()
        args = ['--queue', 'redis', '--redis-url', redis.url]
        a = self.start_daemon(name='redis-a', args=args)
        a.wait_ready(15.0)
        reg = self.register_fp('s1', daemon=a)
        token = reg['session_token']
        p = self.peer('s1', token, daemon=a, no_ack=True)
        self.handshake(p, 's1', token, daemon=a)
        lease = self.lease('s1', ttl_ms=60000, daemon=a)
        ids = ['k1', 'k2', 'k3']
        out = self.post_ok('s1', lease, ids, daemon=a)
        self.assertEqual(out['transport'], 'fast_path', out)
        p.wait_actions(3, 5.0)
        wait_until(lambda: redis.call('HLEN', 'beach:{pb:s1}:inflight') == 3, 5.0,
                   'three in-flight records in Redis')
        a.proc.kill()
        a.returncode = a.proc.wait(5)
        p.stop()

        b = self.start_daemon(name='redis-b', args=args)
        b.wait_ready(15.0)
        polled = self.poll_n('s1', token, 3, timeout=10.0, daemon=b)
        self.assertEqual(polled, ids, 'the in-flight actions of the dead manager, in order')
        wait_until(lambda: redis.call('HLEN', 'beach:{pb:s1}:inflight') == 0, 5.0,
                   'the in-flight hash is gone after recovery')
        self.ack_ok('s1', token, polled, daemon=b)
        wait_until(lambda: self.pending('s1', token, daemon=b)['pending'] == 0, 5.0,
                   'pending 0 after the acks')

    # 4. Acks off, peer alive: the 2 s ack deadline demotes to the queue.
    def test_4_ack_timeout(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        p = self.peer('s1', token)
        self.handshake(p, 's1', token)
        lease = self.lease('s1', ttl_ms=60000)
        p.command('ack off')
        ids = ['t1', 't2', 't3']
        t0 = time.monotonic()
        out = self.post_ok('s1', lease, ids)
        self.assertEqual(out['transport'], 'fast_path', out)
        self.assertEqual(p.wait_actions(3, 5.0), ids)

        def moved():
            pend = self.pending('s1', token)
            return pend if pend['pending'] == 3 and pend['in_flight'] == 0 else None

        pend = wait_until(moved, ACK_TIMEOUT + 3.0, 'the 3 actions moved to the queue')
        took = time.monotonic() - t0
        print('\n  ack timeout: moved to the queue %.3f s after the POST' % took,
              file=sys.stderr)
        self.assertLessEqual(took, ACK_TIMEOUT + 2.0)
        self.assertEqual(pend['transport'], 'http_fallback', pend)
        info = self.session('s1')
        self.assertEqual(info['transport_reason'], 'ack_timeout', info)
        self.assertEqual(self.poll_n('s1', token, 3), ids, 'poll order')
        s = self.series()
        self.assertEqual(self.smetric(s, 'fastpath_failovers_total', 's1',
                                      reason='ack_timeout'), 1.0)

        # The link is still healthy: once the queue is empty it carries
        # traffic again.
        self.ack_ok('s1', token, ids)
        wait_until(lambda: self.pending('s1', token)['transport'] == 'fast_path', 5.0,
                   'transport fast_path after the queue emptied')

    # 5. Make-before-break under traffic, with a host polling meanwhile.
    def test_5_make_before_break(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        a = self.peer('s1', token, name='peerA')
        self.handshake(a, 's1', token)
        lease = self.lease('s1', ttl_ms=120000)

        accepted, transports, refused, errors = [], {}, [], []
        polled = []
        stop_traffic = threading.Event()
        stop_polling = threading.Event()

        def controller():
            n = 0
            try:
                while not stop_traffic.is_set():
                    n += 1
                    aid = 'm%05d' % n
                    status, out, _ = self.post_actions('s1', lease, [aid], fallback='allow')
                    if status == 200:
                        if out.get('accepted_ids') != [aid] or \
                                out.get('transport') not in ('fast_path', 'http_fallback'):
                            errors.append((aid, out))
                        accepted.append(aid)
                        transports[out.get('transport')] = transports.get(out.get('transport'), 0) + 1
                    elif status == 412 and isinstance(out, dict) and \
                            out.get('error_code') == 'fast_path_not_ready':
                        refused.append(aid)
                    else:
                        errors.append((aid, status, out))
                        return
            except Exception as e:
                errors.append(('controller', repr(e)))

        def poller():
            try:
                while not stop_polling.is_set():
                    status, body, _ = self.poll('s1', token, wait_ms=200)
                    if status != 200:
                        errors.append(('poll', status, body))
                        return
                    got = ids_of(body['actions'])
                    if got:
                        polled.extend(got)
                        st, b, _ = self.ack('s1', token, got)
                        if st != 200:
                            errors.append(('ack', st, b))
                            return
            except Exception as e:
                errors.append(('poller', repr(e)))

        threads = [threading.Thread(target=controller, daemon=True, name='controller'),
                   threading.Thread(target=poller, daemon=True, name='poller')]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(a.actions()) >= 20 or errors, 10.0,
                       'traffic on the first link')
            b = self.peer('s1', token, name='peerB')
            self.handshake(b, 's1', token)
            wait_until(lambda: self.session('s1')['link_generation'] == 2, 5.0,
                       'link_generation 2')
            t_b = time.monotonic()
            # The first link is closed once the second is primary.
            wait_until(lambda: a.has_line(lambda l: l in ('HEALTH closed', 'CLOSED'))
                       or a.proc.poll() is not None, 10.0,
                       'the first peer sees its link close (HEALTH closed or exit)')
            b_healthy = b.expect(lambda l: l == 'HEALTH healthy', 0, start=0)[0]
            if a.has_line(lambda l: l == 'HEALTH closed'):
                a_closed = a.expect(lambda l: l == 'HEALTH closed', 0, start=0)[0]
                print('\n  first peer saw HEALTH closed %.3f s after the second saw HEALTH healthy'
                      % (a_closed - b_healthy), file=sys.stderr)
            # Traffic for ~2 s more, and some of it on the second link.
            wait_until(lambda: (time.monotonic() - t_b >= 2.0 and len(b.actions()) > 0)
                       or errors, 10.0, 'traffic on the second link for 2 s')
        finally:
            stop_traffic.set()
            threads[0].join(10.0)
        try:
            self.assertEqual(errors, [])
            wait_until(lambda: (lambda p: p['pending'] == 0 and p['in_flight'] == 0)(
                self.pending('s1', token)), 15.0, 'everything settled (pending 0, in_flight 0)')
        finally:
            stop_polling.set()
            threads[1].join(10.0)
        self.assertEqual(errors, [])

        on_a, on_b = a.actions(), b.actions()
        seen = {}
        for i in on_a + on_b + polled:
            seen[i] = seen.get(i, 0) + 1
        losses = [i for i in accepted if i not in seen]
        dups = sorted(i for i, c in seen.items() if c > 1)
        unknown = sorted(set(seen) - set(accepted))
        print('  %d accepted (%s), %d refused; received: %d on link A, %d on link B, '
              '%d polled; %d duplicates, %d losses'
              % (len(accepted), ', '.join('%s %d' % kv for kv in sorted(transports.items())),
                 len(refused), len(on_a), len(on_b), len(polled), len(dups), len(losses)),
              file=sys.stderr)
        self.assertEqual(refused, [], 'fallback allow: nothing refused')
        self.assertEqual(losses, [], 'losses')
        self.assertEqual(dups, [], 'duplicates (id -> count: %s)'
                         % {i: (on_a.count(i), on_b.count(i), polled.count(i)) for i in dups[:20]})
        self.assertEqual(unknown, [])
        self.assertEqual(self.session('s1')['link_generation'], 2)

    # 6. The queue is not empty: new actions queue behind the old ones.
    def test_6_order_behind_queue(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        lease = self.lease('s1', ttl_ms=60000)
        old = ['o1', 'o2', 'o3']
        out = self.post_ok('s1', lease, old, fallback='allow')
        self.assertEqual(out['transport'], 'http_fallback', out)
        self.assertEqual(self.pending('s1', token)['pending'], 3)

        p = self.peer('s1', token)
        self.handshake(p, 's1', token)
        pend = self.pending('s1', token)
        self.assertIs(pend['fast_path_ready'], True, pend)
        self.assertEqual(pend['transport'], 'http_fallback', pend)
        self.assertEqual(pend['pending'], 3, pend)

        new = ['n1', 'n2', 'n3']
        out = self.post_ok('s1', lease, new)
        self.assertEqual(out['accepted_ids'], new)
        self.assertEqual(out['transport'], 'http_fallback',
                         'queued behind the old entries: %s' % out)
        pend = self.pending('s1', token)
        self.assertEqual(pend['pending'], 6, pend)
        self.assertEqual(pend['transport'], 'http_fallback', pend)

        polled = self.poll_n('s1', token, 6)
        self.assertEqual(polled, old + new, 'old then new')
        self.assertEqual(p.actions(), [], 'nothing went on the link')
        self.ack_ok('s1', token, polled)
        wait_until(lambda: (lambda b: b['pending'] == 0 and b['transport'] == 'fast_path')(
            self.pending('s1', token)), 5.0, 'pending 0 and transport fast_path')

        out = self.post_ok('s1', lease, ['after'])
        self.assertEqual(out['transport'], 'fast_path', out)
        self.assertEqual(p.wait_actions(1, 5.0), ['after'])
        wait_until(lambda: self.pending('s1', token)['in_flight'] == 0, 5.0, 'acked on the link')
        self.assertEqual(self.pending('s1', token)['pending'], 0)


# A data-channel offer in the current dialect (never connected: it serves
# the cases decided before or without a link).
OFFER_SDP = '\r\n'.join([
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:Zq3x',
    'a=ice-pwd:mbPr6uTdWnZ4q0kX1sYv8a2c',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 ' + ':'.join(['AB'] * 32),
    'a=setup:actpass',
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    ''])


class RefusalTests(FastPathTestCase):

    # 7. 412 without a link; signalling errors.
    def test_7_refusals(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        lease = self.lease('s1', ttl_ms=60000)

        self.assertError(self.post_actions('s1', lease, ['r1']), 412,
                         error_code='fast_path_not_ready', msg='no link, no fallback')
        self.assertEqual(self.pending('s1', token)['pending'], 0)
        out = self.post_ok('s1', lease, ['q1'], fallback='allow')
        self.assertEqual(out['transport'], 'http_fallback', out)
        self.assertError(self.post_actions('s1', lease, ['r2'], fallback='never'), 412,
                         error_code='fast_path_not_ready', msg='fallback never, queue non-empty')
        self.assertEqual(self.pending('s1', token)['pending'], 1)

        # An http_fallback-mode session takes no offer.
        htoken = self.register('h1', mode='http_fallback')
        self.assertError(self.req('POST', '/fastpath/sessions/h1/webrtc/offer', htoken,
                                  {'sdp': OFFER_SDP, 'type': 'offer'}), 409,
                         error_code='http_fallback_mode', msg='offer, http_fallback mode')

        # No link: no candidates to read.
        self.assertError(self.req('GET', '/fastpath/sessions/s1/webrtc/ice', token), 404,
                         msg='ICE GET without a link')

        offer = '/fastpath/sessions/s1/webrtc/offer'
        self.assertError(self.req('POST', offer, token, {'type': 'offer'}), 400,
                         msg='offer without sdp')
        self.assertError(self.req('POST', offer, token, {'sdp': OFFER_SDP, 'type': 'answer'}),
                         400, msg='type answer')
        self.assertError(self.req('POST', offer, token, {'sdp': 'garbage', 'type': 'offer'}),
                         400, msg='garbage SDP')
        self.assertError(self.req('POST', offer, token, 'not json'), 400, msg='not JSON')
        self.assertEqual(self.session('s1')['link_generation'], 0)
        self.assertIs(self.pending('s1', token)['fast_path_ready'], False)


class CloseTests(FastPathTestCase):

    # 8. Graceful close by the peer.
    def test_8_graceful_close(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        p = self.peer('s1', token)
        self.handshake(p, 's1', token)
        t0 = time.monotonic()
        p.send('close')

        def closed():
            info = self.session('s1')
            return info if not info['fast_path_ready'] and info['transport'] != 'fast_path' \
                else None

        info = wait_until(closed, GRACEFUL_CLOSE_BOUND + 4.0, 'the daemon sees the close',
                          interval=0.005)
        took = time.monotonic() - t0
        print('\n  graceful close seen by the daemon after %.3f s' % took, file=sys.stderr)
        self.assertLessEqual(took, GRACEFUL_CLOSE_BOUND)
        self.assertEqual(info['transport_reason'], 'channel_closed', info)
        self.assertEqual(info['transport'], 'pending', info)
        self.assertIsNone(info['heartbeat_rtt_us'], info)
        p.expect(lambda l: l == 'CLOSED', 5.0, start=0, what='CLOSED')
        self.assertEqual(p.wait_exit(5.0), 0, 'peer exit status after close')

    # 9. SIGTERM with a live link.
    def test_9_sigterm_with_live_link(self):
        reg = self.register_fp('s1')
        token = reg['session_token']
        p = self.peer('s1', token)
        self.handshake(p, 's1', token)
        mark = len(p.lines)
        t0 = time.monotonic()
        self.d.signal()
        t, line = p.expect(lambda l: l in ('HEALTH closed', 'HEALTH unhealthy', 'CLOSED'),
                           SIGTERM_CLOSE_BOUND + 5.0, start=mark, what='link close')
        took = t - t0
        print('\n  SIGTERM: peer saw %r after %.3f s' % (line, took), file=sys.stderr)
        self.assertLessEqual(took, SIGTERM_CLOSE_BOUND)
        rc = self.d.wait(beachtest.STOP_TIMEOUT)
        self.d.returncode = rc
        self.assertEqual(rc, 0, 'daemon exit status after SIGTERM with a live link')


if __name__ == '__main__':
    beachtest.main()
