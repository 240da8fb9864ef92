#!/usr/bin/python3
"""End-to-end tests of BeachHarness (libbeach) against the real daemon,
driven through build/tests/harness-peer: a harness that reports on stdout
(STARTED, LINK, POLLING, TRANSPORT, HANDSHAKE, URL, ACTION, STATS lines) and
takes commands on stdin (`ack on|off|held`, `freeze`, `drop`, `refresh`,
`stats`, `stop`). Every ACTION line is one application of an action, so a
double apply shows as a repeated id.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    BEACH_HARNESS_PEER=$PWD/build/tests/harness-peer \
    GST_REGISTRY=$PWD/build/gst-registry.bin \
        /usr/bin/python3 tests/e2e/test_harness.py -v

The contract: WIRE.md "Fast path", "Routing" and the seed's poll gating
(pause only on a healthy link, `pending == 0` and `transport == fast_path`).
"""

import collections
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
import test_fastpath as tf  # noqa: E402  (a module: its tests are not collected here)
from beachtest import metric_value, parse_metrics  # noqa: E402
from redisfixture import REDIS_SERVER, RedisServer  # noqa: E402

PEER = os.environ.get('BEACH_HARNESS_PEER') or os.path.join(
    beachtest.SOURCE_ROOT, 'build', 'tests', 'harness-peer')

RESUME_BOUND = 4.5        # link killed -> the poller runs again (3 x 1.5 s)
HEALTHY_TIMEOUT = 20.0     # the first webrtcbin use may build the registry
POLL_ROUTE = '/sessions/:id/actions/poll'


def url_of(daemon):
    return 'http://%s:%d' % (daemon.host, daemon.port)


def dead_url():
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return 'http://127.0.0.1:%d' % port


class Harness(beachtest.PeerProcess):
    """One harness-peer process."""

    def __init__(self, daemon, session_id, token, pb='pb', journal=None, no_ack=False,
                 health_interval_ms=None, name='harness', urls=None):
        """urls: the managers in failover order, instead of daemon's URL."""
        if not os.access(PEER, os.X_OK):
            raise RuntimeError('harness-peer not found at %s (set BEACH_HARNESS_PEER)' % PEER)
        url = ','.join(urls) if urls else url_of(daemon)
        argv = [PEER, '--url', url,
                '--session-id', session_id, '--private-beach-id', pb, '--token', token]
        if journal:
            argv += ['--journal', journal]
        if no_ack:
            argv.append('--no-ack')
        if health_interval_ms is not None:
            argv += ['--health-interval-ms', str(health_interval_ms)]
        super().__init__(argv, name, 'harness-peer-')

    def started(self, timeout=10.0):
        _, line = self.expect('STARTED ', timeout, start=0)
        return line.split(' ', 1)[1]

    def wait_line(self, line, timeout):
        return self.expect(lambda l: l == line, timeout, what=repr(line))

    def last(self, prefix):
        with self.cond:
            for _, l in reversed(self.lines):
                if l.startswith(prefix):
                    return l
        return None

    def stats(self):
        self.send('stats')
        _, line = self.expect('STATS ', 5.0)
        return dict(kv.split('=', 1) for kv in line.split()[1:])

    def paused(self):
        line = self.last('POLLING ')
        return line is not None and line.startswith('POLLING 0 ')


class HarnessTestCase(tf.FastPathTestCase):

    def harness(self, session_id, token, **kw):
        h = Harness(self.d, session_id, token, name=kw.pop('name', 'harness%d' % len(self._peers)),
                    **kw)
        self._peers.append(h)
        self._closers.append(h.stop)
        return h

    def healthy_and_paused(self, h, session_id, token):
        """The link is up and the poller paused; returns the session token."""
        h.wait_line('LINK healthy', HEALTHY_TIMEOUT)
        tf.wait_until(lambda: h.paused(), 10.0, '%s: POLLING 0' % h.name)
        line = h.last('POLLING ')
        self.assertEqual(line.split()[2:], ['0', 'fast_path'],
                         'paused only with pending 0 and transport fast_path: %s' % line)
        pend = self.pending(session_id, token)
        self.assertEqual((pend['pending'], pend['transport'], pend['fast_path_ready']),
                         (0, 'fast_path', True), pend)

    def route_requests(self, route):
        series = parse_metrics(self.metrics())[0]
        return sum(v for (name, labels), v in series.items()
                   if name == 'http_requests_total' and ('route', route) in labels)

    def poll_requests(self):
        series = parse_metrics(self.metrics())[0]
        return sum(v for (name, labels), v in series.items()
                   if name == 'http_requests_total' and ('route', POLL_ROUTE) in labels)

    def settled(self, session_id, token, timeout=10.0):
        def done():
            p = self.pending(session_id, token)
            return p if p['pending'] == 0 and p['in_flight'] == 0 else None
        return tf.wait_until(done, timeout, '%s: pending and in_flight 0' % session_id)

    def dead_letters(self, session_id):
        status, body, _ = self.req('GET', '/sessions/%s/dead-letters' % session_id, self.op)
        self.assertEqual(status, 200, body)
        return body['entries']

    def assert_applied_once(self, h, ids):
        counts = collections.Counter(h.actions())
        missing = [i for i in ids if counts[i] == 0]
        twice = sorted(i for i, n in counts.items() if n > 1)
        self.assertEqual(missing, [], 'accepted but never applied')
        self.assertEqual(twice, [], 'applied twice')


class GatingTests(HarnessTestCase):

    # A harness registers with the operator token and gets its own token;
    # 1,000 actions then arrive on the link while the poller stays paused:
    # the manager's poll counter does not move and nothing is queued.
    def test_1_thousand_on_the_fast_path_poller_paused(self):
        h = self.harness('h1', self.op)
        token = h.started()
        self.assertNotEqual(token, self.op)
        self.healthy_and_paused(h, 'h1', token)
        polls_before = self.poll_requests()
        harness_polls = int(h.stats()['polls'])
        lease = self.lease('h1', ttl_ms=120000)
        ids = ['a%04d' % i for i in range(1000)]
        for i in range(0, len(ids), 100):
            out = self.post_ok('h1', lease, ids[i:i + 100])
            self.assertEqual(out['transport'], 'fast_path', out)
        tf.wait_until(lambda: len(h.actions()) >= len(ids), 30.0, '1,000 ACTION lines')
        self.settled('h1', token)
        self.assert_applied_once(h, ids)
        s = parse_metrics(self.metrics())[0]
        self.assertEqual(metric_value(s, 'fastpath_actions_sent_total', private_beach_id='pb',
                                      session_id='h1'), 1000.0)
        enq = metric_value(s, 'actions_enqueued_total', private_beach_id='pb', session_id='h1')
        self.assertIn(enq, (None, 0.0), 'nothing went through the fallback queue')
        self.assertEqual(self.poll_requests(), polls_before, 'no poll while paused')
        self.assertEqual(int(h.stats()['polls']), harness_polls)
        self.assertTrue(h.paused())

    # Re-registering with unchanged hints and handshake id opens no link.
    def test_2_unchanged_hints_no_reconnect(self):
        h = self.harness('h2', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'h2', token)
        before = h.stats()
        generation = self.session('h2')['link_generation']
        h.command('refresh')
        h.expect('REFRESHED', 10.0)
        self.barrier()
        time.sleep(0.5)  # give a wrong reconnect the time to show (no event marks "none")
        after = h.stats()
        self.assertEqual((after['attempts'], after['opened']), (before['attempts'], before['opened']))
        self.assertEqual(self.session('h2')['link_generation'], generation)
        self.assertEqual(after['link'], 'healthy')

    # The link goes silent (a frozen host network). The manager demotes the
    # in-flight actions; its pings tell the harness, whose poller resumes
    # within the bound and drains them: no loss, no double apply. Once the
    # manager drops the dead link the harness offers a new one, and the
    # poller pauses again only after pending is back to 0.
    def test_3_link_killed_poller_resumes_and_drains(self):
        h = self.harness('h3', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'h3', token)
        lease = self.lease('h3', ttl_ms=120000)
        h.command('ack off')
        h.command('freeze')
        t_freeze = time.monotonic()
        ids = ['k%02d' % i for i in range(20)]
        out = self.post_ok('h3', lease, ids, fallback='allow')
        self.assertEqual(out['transport'], 'fast_path', out)
        tf.wait_until(lambda: len(h.actions()) >= len(ids), 5.0, '20 ACTION lines on the link')
        t_resumed, line = h.expect(lambda l: l.startswith('POLLING 1 '), RESUME_BOUND + 5.0,
                                   what='POLLING 1')
        resumed = t_resumed - t_freeze
        print('\n  poller resumed %.3f s after the link froze' % resumed, file=sys.stderr)
        self.assertLessEqual(resumed, RESUME_BOUND)
        # The demoted actions reach the harness again by poll; the held ones
        # are acked now, over HTTP (the manager no longer uses the link).
        h.command('ack held')
        h.command('ack on')
        more = ['m%02d' % i for i in range(10)]
        out = self.post_ok('h3', lease, more, fallback='allow')
        self.assertEqual(out['transport'], 'http_fallback', out)
        self.settled('h3', token, timeout=15.0)
        self.assert_applied_once(h, ids + more)
        self.assertEqual(self.dead_letters('h3'), [])
        # The manager closes the silent link (unhealthy 10 s); a new one
        # comes up and the poller pauses only with pending 0.
        h.expect(lambda l: l.startswith('POLLING 0 '), 30.0, what='POLLING 0 after the new link')
        line = h.last('POLLING ')
        self.assertEqual(line.split()[2:], ['0', 'fast_path'], line)
        self.assertGreaterEqual(int(h.stats()['opened']), 2)
        self.assertEqual(self.pending('h3', token)['pending'], 0)

    # A link dropped while actions stream: whatever was on the link and not
    # acked comes back by poll and is answered from the window, not applied
    # again; the harness reconnects by itself.
    def test_4_link_dropped_under_load(self):
        h = self.harness('h4', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'h4', token)
        lease = self.lease('h4', ttl_ms=120000)
        ids = ['d%03d' % i for i in range(300)]
        stop = threading.Event()

        def controller():
            for i in range(0, len(ids), 10):
                self.post_ok('h4', lease, ids[i:i + 10], fallback='allow')
                time.sleep(0.01)
            stop.set()
        t = threading.Thread(target=controller)
        t.start()
        tf.wait_until(lambda: len(h.actions()) >= 50, 10.0, '50 actions before the drop')
        h.command('drop')
        t.join(30.0)
        self.assertTrue(stop.is_set())
        self.settled('h4', token, timeout=20.0)
        self.assert_applied_once(h, ids)
        self.assertEqual(self.dead_letters('h4'), [])
        h.expect(lambda l: l.startswith('POLLING 0 '), 20.0, what='POLLING 0 after reconnecting')
        self.assertGreaterEqual(int(h.stats()['opened']), 2)


class ReportTests(HarnessTestCase):

    # Health heartbeats carry the harness's own view of its link; after the
    # link is dropped and rebuilt they count the second attempt.
    def test_9_health_reports_the_link(self):
        h = self.harness('r1', self.op, health_interval_ms=200)
        token = h.started()
        self.healthy_and_paused(h, 'r1', token)

        def health(pred):
            def get():
                lh = self.session('r1').get('last_health')
                return lh if lh and pred(lh.get('fast_path') or {}) else None
            return get
        lh = tf.wait_until(health(lambda fp: fp.get('state') == 'healthy'), 5.0, 'a healthy report')
        self.assertEqual(lh['fast_path']['attempts'], 1, lh)
        self.assertEqual(lh['queue_depth'], 0, lh)
        self.assertIs(lh['degraded'], False, lh)
        h.command('drop')
        lh = tf.wait_until(health(lambda fp: fp.get('state') == 'healthy' and fp.get('attempts') == 2),
                           10.0, 'a healthy report after the second link')
        self.assertNotIn('last_error', lh['fast_path'], 'no error reported while healthy: %s' % lh)

    # State takes the link when it fits one frame, HTTP when it does not
    # (mgr-state is never chunked); both arrive.
    def test_10_state_on_the_link_or_over_http(self):
        h = self.harness('r2', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'r2', token)
        route = '/sessions/:id/state'
        before = self.route_requests(route)
        gets = [0]
        h.command('state 100')

        def latest_len():
            gets[0] += 1
            status, body, _ = self.req('GET', '/sessions/r2/state', self.op)
            self.assertEqual(status, 200, body)
            return len(body['payload']['fill']) if body else 0
        tf.wait_until(lambda: latest_len() == 100, 5.0, 'the small state')
        # The route's requests are our GETs only: the state took the link.
        self.assertEqual(self.route_requests(route) - before, gets[0])
        h.command('state 20000')
        tf.wait_until(lambda: latest_len() == 20000, 5.0, 'the large state')
        # One more than our GETs: the harness POSTed the large one.
        self.assertEqual(self.route_requests(route) - before, gets[0] + 1)


class JournalTests(HarnessTestCase):

    def _applied_then_killed(self, sid, journal):
        """Actions applied and acked into a link that has gone silent (the
        acks never arrive), then the host dies (SIGKILL). Returns (token,
        ids)."""
        h = self.harness(sid, self.op, journal=journal, name=sid + '-first')
        token = h.started()
        self.healthy_and_paused(h, sid, token)
        lease = self.lease(sid, ttl_ms=120000)
        # Held acks, released only once the link is frozen: they go into a
        # link the manager no longer hears (it still counts as healthy for
        # 1.5 s), whatever the machine's speed.
        h.command('ack off')
        ids = ['j%02d' % i for i in range(5)]
        out = self.post_ok(sid, lease, ids)
        self.assertEqual(out['transport'], 'fast_path', out)
        tf.wait_until(lambda: len(h.actions()) >= len(ids), 5.0, 'ACTION lines')
        h.command('freeze')
        h.command('ack held')
        h.kill()
        return token, ids

    # With the journal, a restarted host answers the redelivered actions
    # from it: none is applied again, all are settled.
    def test_5_restart_with_journal_does_not_reapply(self):
        tmp = tempfile.mkdtemp(prefix='beach-journal-')
        self.addCleanup(lambda: __import__('shutil').rmtree(tmp, ignore_errors=True))
        journal = os.path.join(tmp, 'state', 'applied.journal')
        token, ids = self._applied_then_killed('j1', journal)
        h2 = self.harness('j1', token, journal=journal, name='j1-second')
        self.assertEqual(h2.started(), token)
        self.settled('j1', token, timeout=20.0)
        self.assertEqual(h2.actions(), [], 'nothing applied again')
        self.assertEqual(self.dead_letters('j1'), [])

    # The control: without the journal the same sequence applies them again
    # (the test above would see that).
    def test_6_restart_without_journal_reapplies(self):
        token, ids = self._applied_then_killed('j2', None)
        h2 = self.harness('j2', token, name='j2-second')
        h2.started()
        self.settled('j2', token, timeout=20.0)
        self.assertEqual(sorted(h2.actions()), sorted(ids))


class LifecycleTests(HarnessTestCase):

    # A 404 on its own session stops the harness for good.
    def test_7_session_deleted_is_terminal(self):
        h = self.harness('t1', self.op)
        h.started()
        h.wait_line('LINK healthy', HEALTHY_TIMEOUT)
        status, body, _ = self.req('DELETE', '/sessions/t1', self.op)
        self.assertEqual(status, 200, body)
        _, line = h.expect('TERMINATED ', 15.0)
        self.assertIn('404', line)
        self.assertEqual(h.wait_exit(5.0), 3)

    # A graceful stop closes the link channels first: the manager sees it
    # at once, not after a heartbeat timeout.
    def test_8_graceful_stop(self):
        h = self.harness('t2', self.op)
        token = h.started()
        self.healthy_and_paused(h, 't2', token)
        t0 = time.monotonic()
        h.send('stop')
        h.expect('STOPPED', 5.0)
        self.assertEqual(h.wait_exit(5.0), 0)
        tf.wait_until(lambda: not self.pending('t2', token)['fast_path_ready'], 1.0,
                      'fast_path_ready false within 1 s of the stop')
        print('\n  link closed %.3f s after stop' % (time.monotonic() - t0), file=sys.stderr)
        self.assertEqual(self.session('t2')['transport_reason'], 'channel_closed')


@unittest.skipIf(REDIS_SERVER is None, 'redis-server is not installed: failover tests skipped')
class FailoverTests(HarnessTestCase):
    """Two managers on one Redis; the harness is given both (issue #14)."""

    START = False
    FAILOVER_TIMEOUT = 20.0   # a broken poll, then the poll gate's backoff

    def setUp(self):
        super().setUp()
        self.op = secrets.token_hex(16)
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()

    def failure_logs(self):
        redis = getattr(self, 'redis', None)
        return super().failure_logs() + ([('redis log tail', redis.log_tail())] if redis else [])

    def manager(self, name):
        d = self.start_daemon(operator_token=self.op, name=name,
                              args=['--queue', 'redis', '--redis-url', self.redis.url])
        d.wait_ready(15.0)
        return d

    def failover_harness(self, session_id, token, urls, **kw):
        h = Harness(None, session_id, token, urls=urls, name=kw.pop('name', session_id), **kw)
        self._peers.append(h)
        self._closers.append(h.stop)
        return h

    def wait_settled(self, d, session_id, token, timeout=20.0):
        def done():
            p = self.pending(session_id, token, daemon=d)
            return p if p['pending'] == 0 and p['in_flight'] == 0 else None
        return tf.wait_until(done, timeout, '%s: pending and in_flight 0 on %s' % (session_id, d.name))

    def assert_failover_logged(self, h, dead, to):
        """One URL line (the harness moved once) and the rate-limited warning
        with the reason."""
        h.expect(lambda l: l == 'URL ' + to, self.FAILOVER_TIMEOUT, start=0, what='URL ' + to)
        self.assertEqual([l for l in h.tail(10000) if l.startswith('URL ')], ['URL ' + to])
        tf.wait_until(lambda: 'manager %s failed (' % dead in h.stderr_text(), 5.0,
                      'the failover warning in the harness log')
        warning = [l for l in h.stderr_text().splitlines() if 'manager %s failed (' % dead in l]
        self.assertEqual(len(warning), 1, warning)
        self.assertIn('moving to ' + to, warning[0])
        print('\n  %s' % warning[0].split('session ', 1)[-1], file=sys.stderr)

    # The harness attaches through manager A (the first URL) and its link
    # comes up there; actions go through A, the last ones applied with
    # their acks held. A is SIGKILLed: the harness moves to B (one URL line,
    # one warning with the reason), sends its held acks there, offers its
    # next link to B, and the actions posted to B arrive. Every id is
    # applied exactly once and B settles them all; nothing dead-letters.
    def test_11_manager_killed_harness_moves_on(self):
        a, b = self.manager('A'), self.manager('B')
        h = self.failover_harness('f1', self.op, [url_of(a), url_of(b)])
        token = h.started()
        h.wait_line('LINK healthy', HEALTHY_TIMEOUT)
        tf.wait_until(lambda: self.pending('f1', token, daemon=a)['fast_path_ready'], 10.0,
                      'fast_path_ready on A')
        self.assertFalse(h.has_line(lambda l: l.startswith('URL ')), 'no failover while A serves')
        lease = self.lease('f1', ttl_ms=120000, daemon=a)
        first = ['p%02d' % i for i in range(10)]
        self.post_ok('f1', lease, first, fallback='allow', daemon=a)
        h.wait_actions(len(first), 10.0)
        self.wait_settled(a, 'f1', token)
        h.command('ack off')
        held = ['q%02d' % i for i in range(10)]
        self.post_ok('f1', lease, held, fallback='allow', daemon=a)
        h.wait_actions(len(first) + len(held), 10.0)
        killed = len(h.tail(10000))
        a.kill()
        self.assert_failover_logged(h, url_of(a), url_of(b))
        h.command('ack held')
        h.command('ack on')
        # The next link is signalled through B.
        h.expect(lambda l: l == 'LINK healthy', 30.0, start=killed, what='LINK healthy through B')
        after = ['r%02d' % i for i in range(10)]
        out = self.post_ok('f1', lease, after, fallback='allow', daemon=b)
        self.assertEqual(out['accepted_ids'], after, out)
        h.wait_actions(len(first) + len(held) + len(after), 15.0)
        # Acks that went into A's dead link are lost with it; whatever B
        # redelivers is answered from the window, not applied again.
        self.wait_settled(b, 'f1', token, timeout=30.0)
        self.assert_applied_once(h, first + held + after)
        self.assertEqual(len(h.actions()), 30, h.actions())
        status, body, _ = self.req('GET', '/sessions/f1/dead-letters', self.op, daemon=b)
        self.assertEqual((status, body['entries']), (200, []), body)
        self.assertEqual([l for l in h.tail(10000) if l.startswith('URL ')], ['URL ' + url_of(b)],
                         'one failover, to B, and no other')

    # The first manager in the list is dead from the start: the harness
    # registers through the second, offers its link there (the fast path:
    # the offer and candidates go to the manager in use) and gets actions.
    def test_12_first_manager_dead_from_start(self):
        b = self.manager('B')
        dead = dead_url()
        h = self.failover_harness('f2', self.op, [dead, url_of(b)])
        token = h.started()
        self.assert_failover_logged(h, dead, url_of(b))
        h.wait_line('LINK healthy', HEALTHY_TIMEOUT)
        tf.wait_until(lambda: self.pending('f2', token, daemon=b)['fast_path_ready'], 10.0,
                      'fast_path_ready on B')
        lease = self.lease('f2', ttl_ms=120000, daemon=b)
        ids = ['s%02d' % i for i in range(20)]
        out = self.post_ok('f2', lease, ids, daemon=b)
        self.assertEqual(out['transport'], 'fast_path', out)
        h.wait_actions(len(ids), 10.0)
        self.wait_settled(b, 'f2', token)
        self.assert_applied_once(h, ids)


if __name__ == '__main__':
    beachtest.main()
