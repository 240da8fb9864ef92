#!/usr/bin/python3
"""End-to-end tests of the Redis queue backend against the real daemon.

Every test starts its own redis-server (unix socket only, in a temp dir, see
redisfixture.py) and one or two daemons on it (`--queue redis --redis-url
unix://…`) sharing one operator token (BEACH_MANAGER_TOKEN); session tokens
come from the deployment secret in Redis. The contract is
/work/shared/design/WIRE.md ("HTTP API", "Redis keys", "Details").

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager python3 tests/e2e/test_redis.py -v

Skipped (exit status 77 for meson) when redis-server is not installed.
"""

import collections
import os
import secrets
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from beachtest import BeachTestCase, metric_value, parse_metrics  # noqa: E402
from redisfixture import REDIS_SERVER, RedisServer  # noqa: E402

SKIP_REASON = 'redis-server is not installed (apt install redis-server): Redis e2e tests skipped'
READY_TIMEOUT = 15.0  # the client's reconnect backoff goes up to 5 s


def ids_of(actions):
    return [a['id'] for a in actions]


def wait_until(predicate, timeout, what, interval=0.02):
    """Deadline loop: returns predicate()'s first true value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))
        time.sleep(interval)


@unittest.skipIf(REDIS_SERVER is None, SKIP_REASON)
class RedisTestCase(BeachTestCase):
    """A redis-server per test; self.manager() starts a daemon on it."""

    START = False
    APPENDONLY = False
    CONFIG = None

    def setUp(self):
        super().setUp()
        self.token = secrets.token_hex(16)
        self.redis = RedisServer(appendonly=self.APPENDONLY)
        # Cleanups run after tearDown, so the daemons stop before Redis does.
        self.addCleanup(self.redis.cleanup)
        self.redis.start()

    def failure_logs(self):
        redis = getattr(self, 'redis', None)
        return super().failure_logs() + ([('redis log tail', redis.log_tail())] if redis else [])

    def manager(self, name, config=None):
        d = self.start_daemon(config if config is not None else self.CONFIG,
                              operator_token=self.token, name=name,
                              args=['--queue', 'redis', '--redis-url', self.redis.url])
        d.wait_ready(READY_TIMEOUT)
        return d

    def session(self, d, name):
        status, body, _ = self.req('GET', '/sessions/%s' % name, self.token, daemon=d)
        return status, body

    def wait_readyz(self, d, code, timeout=READY_TIMEOUT):
        t0 = time.monotonic()
        wait_until(lambda: self.req('GET', '/readyz', daemon=d)[0] == code, timeout,
                   '%s /readyz %d' % (d.name, code))
        return time.monotonic() - t0


class RestartTests(RedisTestCase):

    # 1. The queue, sessions, leases and the token secret live in Redis.
    def test_1_restart_survival(self):
        a = self.manager('A')
        token = self.register('s1', daemon=a)
        lease = self.lease('s1', ttl_ms=60000, daemon=a)
        status, out, _ = self.post_actions('s1', lease, ['a1', 'a2', 'a3'], daemon=a)
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['a1', 'a2', 'a3'])

        self.assertEqual(a.stop(), 0, 'A: exit status after SIGTERM')
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:s1}:actions'), 3)

        # A new instance with a fresh XDG dir: tokens come from beach:secret.
        b = self.manager('B')
        status, polled, _ = self.poll('s1', token, wait_ms=2000, daemon=b)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['a1', 'a2', 'a3'])
        self.assertEqual(polled['pending'], 3)

        status, out, _ = self.post_actions('s1', lease, ['a4', 'a5'], daemon=b)
        self.assertEqual(status, 200, 'the lease granted by A, used on B: %s' % (out,))
        self.assertEqual(out['accepted_ids'], ['a4', 'a5'])
        status, polled, _ = self.poll('s1', token, wait_ms=2000, daemon=b)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['a4', 'a5'])
        self.assertEqual(self.pending('s1', token, daemon=b)['pending'], 5)

        status, out, _ = self.ack('s1', token, ['a1', 'a2', 'a3', 'a4', 'a5'], daemon=b)
        self.assertEqual((status, out), (200, {'acknowledged': 5}))
        self.assertEqual(self.pending('s1', token, daemon=b)['pending'], 0)
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:s1}:actions'), 0)

        status, body, _ = self.req('GET', '/sessions', self.token, daemon=b)
        self.assertEqual(status, 200, body)
        self.assertIn('s1', [s['session_id'] for s in body['sessions']])

        # The same instance restarted with its XDG dir kept: still the same.
        self.assertEqual(b.restart(), 0, 'B: exit status after SIGTERM')
        b.wait_ready(READY_TIMEOUT)
        status, out, _ = self.post_actions('s1', lease, ['a6'], daemon=b)
        self.assertEqual(status, 200, out)
        status, polled, _ = self.poll('s1', token, wait_ms=2000, daemon=b)
        self.assertEqual((status, ids_of(polled['actions'])), (200, ['a6']), polled)
        self.assertEqual(self.ack('s1', token, ['a6'], daemon=b)[:2], (200, {'acknowledged': 1}))
        status, sess = self.session(b, 's1')
        self.assertEqual(status, 200, sess)
        self.assertEqual(sess['pending'], 0)


class RedisKillTests(RedisTestCase):
    APPENDONLY = True

    # 2. Redis SIGKILLed and restarted (AOF) while a controller and a host
    # run; nothing accepted is lost.
    def test_2_redis_killed_under_traffic(self):
        d = self.manager('A')
        token = self.register('s2', daemon=d)
        lease = self.lease('s2', ttl_ms=60000, daemon=d)

        lock = threading.Lock()
        accepted, applied = [], []
        counts = collections.Counter()
        odd = []  # unexpected answers, for the report
        stop_ctl, stop_host = threading.Event(), threading.Event()

        def controller():
            i = 0
            while not stop_ctl.is_set():
                i += 1
                aid = 'c%05d' % i
                try:
                    status, out, _ = self.post_actions('s2', lease, [aid], fallback='allow',
                                                       daemon=d)
                except OSError as e:
                    with lock:
                        counts['post_error'] += 1
                        odd.append(('post', aid, repr(e)))
                    continue
                with lock:
                    if status == 200 and out.get('accepted_ids') == [aid]:
                        accepted.append(aid)
                    elif status == 503:
                        counts['post_503'] += 1
                        if not isinstance(out, dict) or out.get('error') != 'unavailable':
                            odd.append(('post', aid, status, out))
                    else:
                        counts['post_%s' % status] += 1
                        odd.append(('post', aid, status, out))
                stop_ctl.wait(0.004)  # pacing: ~200 actions/s at most

        def host():
            unacked = []
            while not stop_host.is_set():
                if unacked:
                    try:
                        status, out, _ = self.ack('s2', token, unacked, daemon=d)
                    except OSError:
                        status = None
                    if status == 200:
                        unacked = []
                    else:
                        with lock:
                            counts['ack_%s' % status] += 1
                        stop_host.wait(0.05)  # back off while Redis is away
                        continue
                try:
                    status, out, _ = self.poll('s2', token, wait_ms=500, max=64, daemon=d)
                except OSError as e:
                    with lock:
                        counts['poll_error'] += 1
                        odd.append(('poll', repr(e)))
                    stop_host.wait(0.05)
                    continue
                if status == 200:
                    got = ids_of(out['actions'])
                    with lock:
                        applied.extend(got)
                    unacked.extend(got)
                else:
                    with lock:
                        if status == 503:
                            counts['poll_503'] += 1
                            if not isinstance(out, dict) or out.get('error') != 'unavailable':
                                odd.append(('poll', status, out))
                        else:
                            counts['poll_%s' % status] += 1
                            odd.append(('poll', status, out))
                    stop_host.wait(0.05)

        threads = [threading.Thread(target=controller, daemon=True, name='controller'),
                   threading.Thread(target=host, daemon=True, name='host')]
        for t in threads:
            t.start()
        self.addCleanup(stop_ctl.set)
        self.addCleanup(stop_host.set)

        def n(lst):
            with lock:
                return len(lst)

        timing = {}

        def report():
            with lock:
                acc, app, cnt = list(accepted), list(applied), dict(counts)
            dups = sorted(i for i, c in collections.Counter(app).items() if c > 1)
            unaccepted = sorted(set(app) - set(acc))
            missing = sorted(set(acc) - set(app))
            sys.stderr.write(
                '\nredis kill: accepted %d, applied %d (distinct %d), duplicates %d %s, '
                'applied but not accepted (ambiguous 503s) %d %s, missing %d %s, '
                'POST 503 %d, poll 503 %d, ack 503 %d, other %s; %s; odd answers: %s\n'
                % (len(acc), len(app), len(set(app)), len(dups), dups[:20],
                   len(unaccepted), unaccepted[:20], len(missing), missing[:20],
                   cnt.get('post_503', 0), cnt.get('poll_503', 0), cnt.get('ack_503', 0),
                   {k: v for k, v in cnt.items() if k not in ('post_503', 'poll_503', 'ack_503')},
                   ', '.join('%s %.2f s' % kv for kv in timing.items()), odd[:10]))
            return missing

        try:
            wait_until(lambda: n(accepted) >= 30 and n(applied) >= 20, 15, 'traffic to start')

            t_kill = time.monotonic()
            self.redis.kill()
            timing['readyz 503 after'] = self.wait_readyz(d, 503, timeout=10)
            wait_until(lambda: counts['post_503'] + counts['poll_503'] >= 1, 10,
                       'a 503 on a POST or a poll')
            # Keep Redis away long enough for both sides to see the outage and
            # for the reconnect backoff to grow (bounded, not required).
            try:
                wait_until(lambda: counts['post_503'] >= 150
                           and counts['poll_503'] + counts['ack_503'] >= 5, 4,
                           'a sustained outage')
            except AssertionError:
                pass
            at_restart = (n(accepted), n(applied))
            timing['outage'] = time.monotonic() - t_kill

            self.redis.start()
            t_up = time.monotonic()
            timing['ready again after restart'] = self.wait_readyz(d, 200)
            wait_until(lambda: n(accepted) >= at_restart[0] + 30
                       and n(applied) >= at_restart[1] + 30,
                       15, 'traffic to resume after the Redis restart')
            timing['traffic resumed within'] = time.monotonic() - t_up

            stop_ctl.set()
            threads[0].join(15)
            self.assertFalse(threads[0].is_alive(), 'controller thread stuck')
            with lock:
                accepted_set = set(accepted)

            def drained():
                with lock:
                    missing = accepted_set - set(applied)
                if missing:
                    return False
                return self.pending('s2', token, daemon=d)['pending'] == 0

            t_drain = time.monotonic()
            wait_until(drained, 20, 'every accepted id applied and pending 0', interval=0.1)
            timing['drain'] = time.monotonic() - t_drain
        finally:
            stop_ctl.set()
            stop_host.set()
            for t in threads:
                t.join(15)
            missing = report()

        self.assertEqual(missing, [], 'accepted ids lost')
        self.assertGreaterEqual(counts['post_503'] + counts['poll_503'], 1)
        self.assertEqual(len(accepted), len(accepted_set), 'an id accepted twice')
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:s2}:actions'), 0)

    # 7. With Redis down: 503 for everything that needs it, never made-up
    # numbers; /healthz stays 200; all recovers without a daemon restart.
    def test_7_unavailable_while_redis_down(self):
        d = self.manager('A')
        token = self.register('s7', daemon=d)
        lease = self.lease('s7', ttl_ms=60000, daemon=d)
        status, out, _ = self.post_actions('s7', lease, ['q1'], daemon=d)
        self.assertEqual(status, 200, out)
        self.assertEqual(self.pending('s7', token, daemon=d)['pending'], 1)

        self.redis.kill()
        self.wait_readyz(d, 503, timeout=10)
        self.assertError(self.req('GET', '/readyz', daemon=d), 503, 'unavailable')
        self.assertEqual(self.req('GET', '/healthz', daemon=d)[:2], (200, {'status': 'ok'}))

        p = '/sessions/s7'
        checks = [
            ('register new', 'POST', '/sessions/register', self.token, self.registration('s7b')),
            ('re-register', 'POST', '/sessions/register', self.token, self.registration('s7')),
            ('lease grant', 'POST', p + '/controller/lease', self.token, {'ttl_ms': 60000}),
            ('lease renew', 'POST', p + '/controller/lease', lease, {'controller_token': lease}),
            ('poll', 'GET', p + '/actions/poll', token, None),
            ('poll wait_ms=500', 'GET', p + '/actions/poll?wait_ms=500', token, None),
            ('pending', 'GET', p + '/actions/pending', token, None),
            ('ack', 'POST', p + '/actions/ack', token,
             [{'id': 'q1', 'status': 'ok', 'applied_at': int(time.time() * 1000)}]),
            ('enqueue', 'POST', p + '/actions', lease,
             {'controller_token': lease, 'fallback': 'allow',
              'actions': [self.action('q2')]}),
        ]
        failures = []
        for name, method, path, tok, body in checks:
            resp = self.req(method, path, tok, body, daemon=d)
            if resp[0] != 503 or not isinstance(resp[1], dict) or resp[1].get('error') != 'unavailable':
                failures.append('%s %s %s: expected 503 unavailable, got %s %r'
                                % (name, method, path, resp[0], resp[1]))
        status, sess = self.session(d, 's7')
        sys.stderr.write('\nredis down: GET /sessions/s7 -> %s %r\n' % (status, sess))
        series, _, _ = parse_metrics(self.metrics(daemon=d))
        if metric_value(series, 'redis_available') != 0:
            failures.append('redis_available: expected 0, got %r'
                            % metric_value(series, 'redis_available'))
        self.assertEqual(self.req('GET', '/healthz', daemon=d)[0], 200)

        # Recovery, same daemon.
        self.redis.start()
        up = self.wait_readyz(d, 200)
        sys.stderr.write('redis restarted: /readyz 200 after %.2f s\n' % up)
        status, polled, _ = self.poll('s7', token, wait_ms=2000, daemon=d)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['q1'])
        self.assertEqual(self.pending('s7', token, daemon=d)['pending'], 1)
        self.assertEqual(self.ack('s7', token, ['q1'], daemon=d)[:2], (200, {'acknowledged': 1}))
        self.assertEqual(self.pending('s7', token, daemon=d)['pending'], 0)
        self.register('s7b', daemon=d)
        lease2 = self.lease('s7', ttl_ms=60000, daemon=d)
        status, out, _ = self.post_actions('s7', lease2, ['q3'], daemon=d)
        self.assertEqual(status, 200, out)
        status, out, _ = self.post_actions('s7', lease, ['q4'], daemon=d)
        self.assertEqual(status, 200, 'the lease from before the outage: %s' % (out,))
        self.assertEqual(self.pending('s7', token, daemon=d)['pending'], 2)
        series, _, _ = parse_metrics(self.metrics(daemon=d))
        self.assertEqual(metric_value(series, 'redis_available'), 1)
        self.assertEqual(failures, [])


class TwoManagerTests(RedisTestCase):

    # 3. Two instances on one Redis are one deployment.
    def test_3_two_managers(self):
        a = self.manager('A')
        b = self.manager('B')
        token = self.register('s3', daemon=a)
        lease = self.lease('s3', ttl_ms=60000, daemon=b)

        status, out, _ = self.post_actions('s3', lease, ['x1', 'x2'], daemon=a)
        self.assertEqual(status, 200, out)
        status, polled, _ = self.poll('s3', token, wait_ms=2000, daemon=b)
        self.assertEqual((status, ids_of(polled['actions'])), (200, ['x1', 'x2']), polled)
        self.assertEqual(self.ack('s3', token, ['x1', 'x2'], daemon=b)[:2],
                         (200, {'acknowledged': 2}))

        # A parked poll on A is woken by B's enqueue (pub/sub), not a timer.
        parked = self.poll_async('s3', token, 10000, daemon=a)
        parked.sent.wait(5)
        self.barrier(daemon=a)
        self.assertFalse(parked.is_done(), 'the poll on A answered before anything was queued: %r'
                         % (parked.result,))
        status, out, _ = self.post_actions('s3', lease, ['y1'], daemon=b)
        posted = time.perf_counter()
        self.assertEqual(status, 200, out)
        status, polled, _ = parked.wait(12)
        latency = parked.done_at - posted
        sys.stderr.write('\ncross-instance wake-up: %.1f ms after B answered the POST\n'
                         % (latency * 1000))
        self.assertEqual((status, ids_of(polled['actions'])), (200, ['y1']), polled)
        self.assertLess(latency, 1.0, 'parked poll on A woken by B\'s enqueue')

        # Both agree on pending while y1 is delivered but unacked.
        sa, sess_a = self.session(a, 's3')
        sb, sess_b = self.session(b, 's3')
        self.assertEqual((sa, sb), (200, 200), (sess_a, sess_b))
        self.assertEqual((sess_a['pending'], sess_b['pending']), (1, 1))

        # An ack on B settles what A delivered.
        self.assertEqual(self.ack('s3', token, ['y1'], daemon=b)[:2], (200, {'acknowledged': 1}))
        self.assertEqual(self.pending('s3', token, daemon=a)['pending'], 0)
        self.assertEqual(self.pending('s3', token, daemon=b)['pending'], 0)
        sa, sess_a = self.session(a, 's3')
        sb, sess_b = self.session(b, 's3')
        self.assertEqual((sa, sb), (200, 200), (sess_a, sess_b))
        self.assertEqual((sess_a['pending'], sess_b['pending']), (0, 0))
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:s3}:actions'), 0)


class ReclaimTests(RedisTestCase):
    CONFIG = '[queue]\nreclaim_ms=500\n'

    # 4. A poller that dies holding entries: they are delivered again.
    def test_4_redelivery_after_dead_poller(self):
        a = self.manager('A')
        b = self.manager('B')
        token = self.register('s4', daemon=a)
        lease = self.lease('s4', ttl_ms=60000, daemon=a)
        status, out, _ = self.post_actions('s4', lease, ['r1', 'r2', 'r3'], daemon=a)
        self.assertEqual(status, 200, out)

        status, polled, _ = self.poll('s4', token, daemon=a)
        delivered = time.perf_counter()
        self.assertEqual((status, ids_of(polled['actions'])), (200, ['r1', 'r2', 'r3']), polled)
        # ... and the host dies without acking.

        # The same instance: a parked poll is woken when the entries come due.
        parked = self.poll_async('s4', token, 5000, daemon=a)
        status, polled, _ = parked.wait(15)
        elapsed = parked.done_at - delivered
        sys.stderr.write('\nredelivery on A: %.0f ms after the first delivery\n' % (elapsed * 1000))
        self.assertEqual((status, ids_of(polled['actions'])), (200, ['r1', 'r2', 'r3']), polled)
        self.assertGreaterEqual(elapsed, 0.45, 'redelivered before reclaim_ms')
        self.assertLess(elapsed, 3.0, 'parked poll not woken when the entries came due')

        # Dies again; this time the other instance redelivers.
        delivered = parked.done_at
        deadline = time.monotonic() + 10
        polls = 0
        while True:
            status, polled, _ = self.poll('s4', token, wait_ms=1000, daemon=b)
            polls += 1
            self.assertEqual(status, 200, polled)
            if polled['actions'] or time.monotonic() >= deadline:
                break
        elapsed = time.perf_counter() - delivered
        sys.stderr.write('redelivery on B: %.0f ms after the second delivery, %d poll(s)\n'
                         % (elapsed * 1000, polls))
        self.assertEqual(ids_of(polled['actions']), ['r1', 'r2', 'r3'])
        self.assertGreaterEqual(elapsed, 0.45, 'redelivered before reclaim_ms')

        self.assertEqual(self.ack('s4', token, ['r1', 'r2', 'r3'], daemon=b)[:2],
                         (200, {'acknowledged': 3}))
        self.assertEqual(self.pending('s4', token, daemon=a)['pending'], 0)
        self.assertEqual(self.pending('s4', token, daemon=b)['pending'], 0)
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:s4}:actions'), 0)


class CapTests(RedisTestCase):
    CONFIG = '[queue]\ncap=20\n'

    # 5. The cap holds across instances (checked inside the Lua script).
    def test_5_cap_race_between_managers(self):
        a = self.manager('A')
        b = self.manager('B')
        token = self.register('s5', daemon=a)
        lease = self.lease('s5', ttl_ms=60000, daemon=a)
        results = []
        lock = threading.Lock()
        start = threading.Barrier(2)

        def run(d, prefix):
            start.wait(10)
            for i in range(20):
                aid = '%s%02d' % (prefix, i)
                status, out, _ = self.post_actions('s5', lease, [aid], daemon=d)
                with lock:
                    results.append((aid, status, out))

        threads = [threading.Thread(target=run, args=(a, 'A'), daemon=True),
                   threading.Thread(target=run, args=(b, 'B'), daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive())

        ok = [aid for aid, status, _ in results if status == 200]
        refused = [(aid, status, out) for aid, status, out in results if status != 200]
        sys.stderr.write('\ncap race: accepted %d (A %d, B %d), refused %d\n'
                         % (len(ok), sum(1 for i in ok if i[0] == 'A'),
                            sum(1 for i in ok if i[0] == 'B'), len(refused)))
        self.assertEqual(len(ok), 20, 'accepted: %s' % ok)
        for aid, status, out in refused:
            self.assertEqual(status, 429, '%s: %r' % (aid, out))
            self.assertEqual(out.get('error'), 'too_many_requests', out)
            self.assertEqual(out.get('error_code'), 'queue_full', out)
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:s5}:actions'), 20)
        self.assertEqual(self.pending('s5', token, daemon=b)['pending'], 20)


class SweeperTests(RedisTestCase):
    CONFIG = '[sessions]\nidle_expiry_secs=2\n'

    # 6. Idle sessions are swept: dead letters first, then every key goes.
    def test_6_sweeper(self):
        d = self.manager('A')
        events = self.subscribe('/events', self.token, daemon=d)
        token = self.register('s6', daemon=d)
        lease = self.lease('s6', daemon=d)
        status, out, _ = self.post_actions('s6', lease, ['e1', 'e2'], daemon=d)
        self.assertEqual(status, 200, out)
        self.assertEqual(self.pending('s6', token, daemon=d)['pending'], 2)
        last_activity = time.monotonic()
        self.assertTrue(self.redis.call('KEYS', 'beach:{pb:s6}:*'))

        # Operator reads are no activity.
        wait_until(lambda: self.session(d, 's6')[0] == 404, 12,
                   'GET /sessions/s6 to answer 404', interval=0.1)
        gone = time.monotonic() - last_activity
        sys.stderr.write('\nsweeper: session gone %.2f s after its last activity\n' % gone)
        self.assertLess(gone, 8.0)

        dead = {}
        while len(dead) < 2:
            ev = events.wait_for(lambda e: e['event'] == 'dead_letter'
                                 and e['data'].get('session_id') == 's6',
                                 timeout=5, what='dead_letter events for s6')
            dead[ev['data']['id']] = ev['data']['reason']
        self.assertEqual(dead, {'e1': 'session_expired', 'e2': 'session_expired'})

        def no_keys():
            return not self.redis.call('KEYS', 'beach:{pb:s6}:*')
        try:
            wait_until(no_keys, 3, 'the keys of s6 to go')
        except AssertionError:
            self.fail('keys left after the sweep: %s' % self.redis.call('KEYS', 'beach:{pb:s6}:*'))
        self.assertEqual(self.redis.call('HEXISTS', 'beach:session-index', 's6'), 0)
        self.assertIsNone(self.redis.call('ZSCORE', 'beach:activity', 's6'),
                          'beach:activity still scores s6')
        # The deleted session's own token now gets 404 (terminal for a harness).
        status, body, _ = self.req('GET', '/sessions/s6/actions/pending', token, daemon=d)
        self.assertEqual(status, 404, body)


def main():
    if REDIS_SERVER is None:
        sys.stderr.write(SKIP_REASON + '\n')
        sys.exit(77)  # meson: skipped
    unittest.main(verbosity=2)


if __name__ == '__main__':
    main()
