#!/usr/bin/python3
"""End-to-end tests of the beach-manager HTTP API against the real daemon.

The contract is /work/shared/design/WIRE.md (its "Details" section wins over
the prose). Every test starts its own daemon (see beachtest.py).

    BEACH_MANAGER=build/src/manager/beach-manager python3 tests/e2e/test_http_api.py -v
"""

import json
import os
import signal
import stat
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
from beachtest import BeachTestCase, metric_value, now_ms, parse_metrics  # noqa: E402

SESSION_FIELDS = (
    'session_id', 'private_beach_id', 'harness_type', 'transport_mode', 'transport',
    'transport_reason', 'fast_path_ready', 'handshake_id', 'link_generation', 'pending',
    'in_flight', 'heartbeat_rtt_us', 'leases', 'last_health', 'registered_at_ms',
)

PER_SESSION_FAMILIES = {
    'session_transport': 'gauge',
    'fastpath_link_healthy': 'gauge',
    'fastpath_heartbeat_rtt_seconds': 'histogram',
    'fastpath_actions_sent_total': 'counter',
    'fastpath_acks_received_total': 'counter',
    'fastpath_state_received_total': 'counter',
    'fastpath_failovers_total': 'counter',
    'actions_enqueued_total': 'counter',
    'actions_delivered_total': 'counter',
    'actions_acked_total': 'counter',
    'actions_queue_depth': 'gauge',
    'actions_queue_pending': 'gauge',
    'actions_dead_lettered_total': 'counter',
    'redis_pending_reclaimed_total': 'counter',
    'action_latency_seconds': 'histogram',
    'harness_fastpath_state': 'gauge',
}
GLOBAL_FAMILIES = {
    'controller_actions_dropped_total': 'counter',
    'handshakes_total': 'counter',
    'transport_transitions_total': 'counter',
    'http_requests_total': 'counter',
    'actions_ack_unknown_total': 'counter',
    'events_subscribers': 'gauge',
    'events_dropped_subscribers_total': 'counter',
}
HISTOGRAM_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 0.5, 1, 2.5]


def ids_of(actions):
    return [a['id'] for a in actions]


class FlowTests(BeachTestCase):

    # 1
    def test_01_full_flow(self):
        self.assertEqual(self.req('GET', '/healthz')[:2], (200, {'status': 'ok'}))
        self.assertEqual(self.req('GET', '/readyz')[:2], (200, {'status': 'ready'}))

        reg = self.register_full('s1')
        for key in ('harness_id', 'session_token', 'handshake_id', 'lease_ttl_ms',
                    'transport_hints', 'controller_token'):
            self.assertIn(key, reg)
        self.assertIsNone(reg['controller_token'])
        self.assertEqual(reg['lease_ttl_ms'], 30000)
        hints = reg['transport_hints']
        self.assertEqual(hints['actions_poll'], {'path': '/sessions/s1/actions/poll'})
        self.assertEqual(hints['actions_ack'], {'path': '/sessions/s1/actions/ack'})
        self.assertEqual(hints['actions_pending'], {'path': '/sessions/s1/actions/pending'})
        self.assertEqual(hints['state_post'], {'path': '/sessions/s1/state'})
        self.assertEqual(hints['health_post'], {'path': '/sessions/s1/health'})
        self.assertIsNone(hints['fast_path_webrtc'])
        token = reg['session_token']
        self.assertNotIn('=', token)  # base64url without padding

        status, lease, _ = self.req('POST', '/sessions/s1/controller/lease', self.op, {})
        self.assertEqual(status, 200, lease)
        self.assertEqual(lease['ttl_ms'], 30000)
        self.assertAlmostEqual(lease['expires_at_ms'], now_ms() + 30000, delta=5000)
        ctl = lease['controller_token']

        sent = [self.action('a1', 'ls\n'), self.action('a2', 'pwd\n'),
                self.action('a3', 'é ✓\n')]
        status, out, _ = self.post_actions('s1', ctl, sent)
        self.assertEqual(status, 200, out)
        self.assertEqual(out, {'accepted': True, 'accepted_ids': ['a1', 'a2', 'a3'],
                               'duplicate_ids': [], 'transport': 'http_fallback'})

        status, polled, _ = self.poll('s1', token, wait_ms=1000)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['a1', 'a2', 'a3'])
        for got, want in zip(polled['actions'], sent):
            self.assertEqual(got['action_type'], 'terminal_write')
            self.assertEqual(got['payload'], want['payload'])
        self.assertEqual(polled['transport'], 'http_fallback')
        self.assertIs(polled['fast_path_ready'], False)
        self.assertEqual(polled['handshake_id'], reg['handshake_id'])
        self.assertEqual(polled['pending'], 3)

        # delivered but unacked entries are still pending
        p = self.pending('s1', token)
        self.assertEqual(p['pending'], 3)

        status, out, _ = self.ack('s1', token, ['a1', 'a2', 'a3'])
        self.assertEqual((status, out), (200, {'acknowledged': 3}))
        # acking again: unknown now, counted and ignored
        status, out, _ = self.ack('s1', token, ['a1', 'nope'])
        self.assertEqual((status, out), (200, {'acknowledged': 0}))

        p = self.pending('s1', token)
        self.assertEqual(p, {'pending': 0, 'in_flight': 0, 'fast_path_ready': False,
                             'transport': 'http_fallback', 'transport_mode': 'http_fallback',
                             'handshake_id': reg['handshake_id']})

        health = {'queue_depth': 0, 'cpu_load': 0.5, 'degraded': False, 'warnings': ['w']}
        status, out, _ = self.req('POST', '/sessions/s1/health', token, health)
        self.assertEqual((status, out), (200, {'ok': True}))

        status, sess, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(status, 200, sess)
        for key in SESSION_FIELDS:
            self.assertIn(key, sess)
        self.assertEqual(sess['session_id'], 's1')
        self.assertEqual(sess['private_beach_id'], 'pb')
        self.assertEqual(sess['harness_type'], 'terminal_shim')
        self.assertEqual(sess['transport_mode'], 'http_fallback')
        self.assertEqual(sess['transport'], 'http_fallback')
        self.assertIsInstance(sess['transport_reason'], str)
        self.assertIs(sess['fast_path_ready'], False)
        self.assertEqual(sess['handshake_id'], reg['handshake_id'])
        self.assertEqual(sess['pending'], 0)
        self.assertEqual(sess['in_flight'], 0)
        self.assertIsNone(sess['heartbeat_rtt_us'])
        self.assertEqual(len(sess['leases']), 1, sess['leases'])
        self.assertEqual(sess['leases'][0]['expires_at_ms'], lease['expires_at_ms'])
        self.assertIn('reason', sess['leases'][0])
        self.assertIsNone(sess['leases'][0]['reason'])
        self.assertEqual(sess['last_health']['degraded'], False)
        self.assertEqual(sess['last_health']['warnings'], ['w'])
        self.assertIn('received_at_ms', sess['last_health'])
        self.assertAlmostEqual(sess['registered_at_ms'], now_ms(), delta=60000)

        status, listing, _ = self.req('GET', '/sessions', self.op)
        self.assertEqual(status, 200, listing)
        self.assertEqual([s['session_id'] for s in listing['sessions']], ['s1'])
        for body in (listing, sess):
            text = json.dumps(body)
            for secret in (token, ctl, self.op):
                self.assertNotIn(secret, text)

    # 2
    def test_02_wake_up_latency(self):
        token = self.register('s1')
        ctl = self.lease('s1')
        parked = self.poll_async('s1', token, wait_ms=5000)
        self.assertTrue(parked.sent.wait(5))
        self.barrier()
        self.assertFalse(parked.is_done(), 'the poll answered before any action was posted')
        post_started = time.perf_counter()
        status, out, _ = self.post_actions('s1', ctl, ['w1'])
        posted_at = time.perf_counter()
        self.assertEqual(status, 200, out)
        status, polled, _ = parked.wait(5)
        latency_ms = (parked.done_at - posted_at) * 1000
        # negative: the poll's answer arrived before the POST's own answer
        print('\nwake-up latency: %.2f ms after the POST completed (%.2f ms after it started)'
              % (latency_ms, (parked.done_at - post_started) * 1000), file=sys.stderr)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['w1'])
        self.assertLess(latency_ms, 50.0, 'parked poll woke %.1f ms after the POST' % latency_ms)

    # 3
    def test_03_poll_timeout(self):
        token = self.register('s1')
        t0 = time.perf_counter()
        status, polled, _ = self.poll('s1', token, wait_ms=300)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        self.assertEqual(status, 200, polled)
        self.assertEqual(polled['actions'], [])
        self.assertEqual(polled['pending'], 0)
        self.assertGreaterEqual(elapsed_ms, 300)
        self.assertLess(elapsed_ms, 1000)
        # without wait_ms the poll answers at once
        t0 = time.perf_counter()
        status, polled, _ = self.poll('s1', token)
        self.assertEqual((status, polled['actions']), (200, []))
        self.assertLess((time.perf_counter() - t0) * 1000, 250)


class CapTests(BeachTestCase):
    CONFIG = {'queue': {'cap': 5, 'reclaim_ms': 300, 'max_deliveries': 2}}

    # 4
    def test_04_queue_cap_429(self):
        token = self.register('s1')
        ctl = self.lease('s1')
        status, out, _ = self.post_actions('s1', ctl, ['c1', 'c2', 'c3', 'c4'])
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['c1', 'c2', 'c3', 'c4'])

        # 3 more with 4 queued: refused whole, nothing of it queued
        body = self.assertError(self.post_actions('s1', ctl, ['x1', 'x2', 'x3']), 429,
                                'too_many_requests', 'queue_full')
        self.assertIn('5', body['message'], 'the 429 message names the bound')
        self.assertEqual(self.pending('s1', token)['pending'], 4)

        # duplicates do not count toward the cap
        status, out, _ = self.post_actions('s1', ctl, ['c1', 'c2', 'c5'])
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['c5'])
        self.assertEqual(out['duplicate_ids'], ['c1', 'c2'])
        self.assertEqual(self.pending('s1', token)['pending'], 5)

        # at the cap: a new id is 429; only duplicates is 200
        self.assertError(self.post_actions('s1', ctl, ['c6']), 429, 'too_many_requests',
                         'queue_full')
        self.assertError(self.post_actions('s1', ctl, ['c1', 'c6']), 429,
                         'too_many_requests', 'queue_full')
        status, out, _ = self.post_actions('s1', ctl, ['c3', 'c4'])
        self.assertEqual(status, 200, out)
        self.assertEqual((out['accepted_ids'], out['duplicate_ids']), ([], ['c3', 'c4']))

        status, polled, _ = self.poll('s1', token, max=256)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['c1', 'c2', 'c3', 'c4', 'c5'])
        self.assertEqual(self.pending('s1', token)['pending'], 5)

        # the 429s were counted as drops
        series, _, _ = parse_metrics(self.metrics())
        self.assertEqual(metric_value(series, 'controller_actions_dropped_total',
                                      reason='queue_full'), 3 + 1 + 2)

        # after acks there is room again
        self.assertEqual(self.ack('s1', token, ['c1', 'c2'])[:2], (200, {'acknowledged': 2}))
        status, out, _ = self.post_actions('s1', ctl, ['c6', 'c7'])
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['c6', 'c7'])

    # 7
    def test_07_dead_letter_after_max_deliveries(self):
        token = self.register('s1')
        ctl = self.lease('s1')
        events = self.subscribe('/events', self.op)
        t_start = now_ms()
        status, out, _ = self.post_actions('s1', ctl, ['x1', 'y1'])
        self.assertEqual(status, 200, out)

        status, polled, _ = self.poll('s1', token)
        self.assertEqual(ids_of(polled['actions']), ['x1', 'y1'])  # delivery 1
        self.assertEqual(self.ack('s1', token, ['y1'])[:2], (200, {'acknowledged': 1}))

        t0 = time.perf_counter()
        status, polled, _ = self.poll('s1', token, wait_ms=5000)  # woken by the redelivery
        waited = time.perf_counter() - t0
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['x1'])  # delivery 2
        self.assertLess(waited, 4.0, 'the redelivery must wake the parked poll')

        # the 2nd delivery goes unacked past reclaim_ms: dead-lettered, never a 3rd
        ev = events.wait_for(lambda e: e['event'] == 'dead_letter', timeout=5,
                             what='dead_letter event')
        self.assertEqual(ev['data'], {'session_id': 's1', 'id': 'x1',
                                      'reason': 'max_deliveries'})
        status, polled, _ = self.poll('s1', token, wait_ms=600)
        self.assertEqual(status, 200, polled)
        self.assertEqual(polled['actions'], [], 'a 3rd delivery')
        self.assertEqual(polled['pending'], 0)
        self.assertEqual(self.pending('s1', token)['pending'], 0)

        status, dead, _ = self.req('GET', '/sessions/s1/dead-letters', self.op)
        self.assertEqual(status, 200, dead)
        self.assertEqual(len(dead['entries']), 1, dead)
        entry = dead['entries'][0]
        self.assertEqual(entry['id'], 'x1')
        self.assertEqual(entry['reason'], 'max_deliveries')
        self.assertEqual(entry['action']['id'], 'x1')
        self.assertEqual(entry['action']['payload'], {'bytes': 'x'})
        self.assertGreaterEqual(entry['at_ms'], t_start)
        at = entry['at_ms']

        # since is inclusive epoch ms; lease bearers may read too
        status, dead, _ = self.req('GET', '/sessions/s1/dead-letters?since=%d' % at, ctl)
        self.assertEqual((status, ids_of(dead['entries'])), (200, ['x1']))
        status, dead, _ = self.req('GET', '/sessions/s1/dead-letters?since=%d' % (at + 1), self.op)
        self.assertEqual((status, dead), (200, {'entries': []}))
        status, dead, _ = self.req('GET', '/sessions/s1/dead-letters?since=0', self.op)
        self.assertEqual((status, ids_of(dead['entries'])), (200, ['x1']))

        series, _, _ = parse_metrics(self.metrics())
        labels = dict(private_beach_id='pb', session_id='s1')
        self.assertEqual(metric_value(series, 'actions_dead_lettered_total',
                                      reason='max_deliveries', **labels), 1)
        self.assertEqual(metric_value(series, 'actions_delivered_total', **labels), 3)
        self.assertGreaterEqual(metric_value(series, 'redis_pending_reclaimed_total', **labels), 1)


class AuthTests(BeachTestCase):

    def _two_sessions(self):
        t1 = self.register('s1')
        t2 = self.register('s2')
        return t1, t2, self.lease('s1'), self.lease('s2')

    # 5: 401 → 403 → 404 → 400 → 409/412, one group per method
    def test_05a_check_order_401(self):
        t1, t2, l1, l2 = self._two_sessions()
        poll1 = '/sessions/s1/actions/poll'
        self.assertError(self.req('GET', poll1), 401, 'unauthorized')
        self.assertError(self.req('GET', poll1, 'not-a-token-at-all'), 401, 'unauthorized')
        self.assertError(self.req('GET', '/sessions'), 401, 'unauthorized')
        self.assertError(self.req('GET', '/events', 'x' * 32), 401, 'unauthorized')
        # 401 comes before 404 and before the body checks
        self.assertError(self.req('GET', '/sessions/nosuch/actions/poll'), 401, 'unauthorized')
        self.assertError(self.req('GET', '/sessions/a%20b/actions/poll'), 401, 'unauthorized')
        self.assertError(self.req('POST', '/sessions/s1/actions', 'x' * 32, b'{oops'), 401,
                         'unauthorized')
        # ?access_token= works like the header
        status, body, _ = self.req('GET', '/sessions?access_token=' + self.op)
        self.assertEqual(status, 200, body)
        status, body, _ = self.req('GET', poll1 + '?access_token=' + t1)
        self.assertEqual(status, 200, body)

    def test_05b_check_order_403(self):
        t1, t2, l1, l2 = self._two_sessions()
        poll1 = '/sessions/s1/actions/poll'
        # a session token used on another session's route
        self.assertError(self.req('GET', poll1, t2), 403, 'forbidden')
        self.assertError(self.req('POST', '/sessions/s1/actions/ack', t2, []), 403, 'forbidden')
        # a lease of session A used on session B
        self.assertError(self.post_actions('s2', l1, ['a1'], controller_token=None), 403,
                         'forbidden')
        self.assertError(self.req('GET', '/sessions/s2/state', l1), 403, 'forbidden')
        self.assertError(self.req('POST', '/sessions/s2/controller/lease', l1, {}), 403,
                         'forbidden')
        # tokens of the wrong kind
        self.assertError(self.post_actions('s1', self.op, ['a1'], controller_token=None), 403,
                         'forbidden')
        self.assertError(self.post_actions('s1', t1, ['a1'], controller_token=None), 403,
                         'forbidden')
        self.assertError(self.req('GET', '/sessions', t1), 403, 'forbidden')
        self.assertError(self.req('GET', '/sessions/s1', t1), 403, 'forbidden')
        self.assertError(self.req('DELETE', '/sessions/s1', l1), 403, 'forbidden')
        self.assertError(self.req('GET', '/sessions', l1), 403, 'forbidden')
        self.assertError(self.req('GET', poll1, l1), 403, 'forbidden')
        self.assertError(self.req('GET', poll1, self.op), 403, 'forbidden')
        self.assertError(self.req('POST', '/sessions/s1/state', l1, STATE_OK), 403, 'forbidden')
        self.assertError(self.req('GET', '/sessions/s1/state', t1), 403, 'forbidden')
        self.assertError(self.req('GET', '/events', t1), 403, 'forbidden')
        self.assertError(self.req('GET', '/events', l1), 403, 'forbidden')
        # 403 comes before 404 and before the body checks
        self.assertError(self.req('GET', '/sessions/nosuch/actions/poll', t1), 403, 'forbidden')
        self.assertError(self.req('POST', '/sessions/s1/actions', self.op, b'{oops'), 403,
                         'forbidden')
        # a lease bearer naming another lease in its body
        self.assertError(self.post_actions('s1', l1, ['a1'], controller_token=l2), 403,
                         'forbidden')
        # nothing was queued by any of it
        self.assertEqual(self.pending('s1', t1)['pending'], 0)
        self.assertEqual(self.pending('s2', t2)['pending'], 0)

    def test_05c_check_order_404(self):
        self._two_sessions()
        self.assertError(self.req('GET', '/sessions/nosuch', self.op), 404, 'not_found')
        self.assertError(self.req('DELETE', '/sessions/nosuch', self.op), 404, 'not_found')
        self.assertError(self.req('POST', '/sessions/nosuch/controller/lease', self.op, {}),
                         404, 'not_found')
        self.assertError(self.req('GET', '/sessions/nosuch/dead-letters', self.op), 404,
                         'not_found')
        # a path id that breaks the identifier pattern
        self.assertError(self.req('GET', '/sessions/a%20b', self.op), 404, 'not_found')
        self.assertError(self.req('GET', '/sessions/' + 'x' * 129, self.op), 404, 'not_found')
        self.assertError(self.req('POST', '/sessions/a%2Fb/controller/lease', self.op, {}),
                         404, 'not_found')
        # 404 comes before the body checks
        self.assertError(self.req('POST', '/sessions/nosuch/controller/lease', self.op,
                                  b'{not json'), 404, 'not_found')
        self.assertError(self.req('POST', '/sessions/nosuch/controller/lease', self.op,
                                  {'ttl_ms': 1}), 404, 'not_found')

    def test_05d_expired_lease_409(self):
        t1, t2, l1, l2 = self._two_sessions()
        status, short, _ = self.req('POST', '/sessions/s1/controller/lease', self.op,
                                    {'ttl_ms': 1000, 'reason': 'short'})
        self.assertEqual(status, 200, short)
        self.assertEqual(short['ttl_ms'], 1000)
        lexp = short['controller_token']
        self.assertEqual(self.post_actions('s1', lexp, ['e0'])[0], 200)  # live at first
        # let it expire: the clock is a long-poll on the daemon, not a sleep
        status, polled, _ = self.poll('s1', t1, max=1)
        self.assertEqual(ids_of(polled['actions']), ['e0'])
        self.assertEqual(self.ack('s1', t1, ['e0'])[:2], (200, {'acknowledged': 1}))
        deadline = time.monotonic() + 5
        while now_ms() <= short['expires_at_ms'] + 20:
            self.assertLess(time.monotonic(), deadline, 'the lease never expired')
            wait = min(2000, max(1, short['expires_at_ms'] + 50 - now_ms()))
            status, polled, _ = self.poll('s1', t1, wait_ms=wait)
            self.assertEqual((status, polled['actions']), (200, []))

        self.assertError(self.post_actions('s1', lexp, ['e1']), 409, 'conflict', 'missing_lease')
        # body checks come before 409
        self.assertError(self.req('POST', '/sessions/s1/actions', lexp, {'actions': 'nope'}),
                         400, 'bad_request', field='actions')
        self.assertError(self.req('POST', '/sessions/s1/actions', lexp, b'{oops'), 400,
                         'bad_request')
        # renewing it is 409, by itself or named by the operator
        self.assertError(self.req('POST', '/sessions/s1/controller/lease', lexp, {}), 409,
                         'conflict', 'missing_lease')
        self.assertError(self.req('POST', '/sessions/s1/controller/lease', self.op,
                                  {'controller_token': lexp}), 409, 'conflict', 'missing_lease')
        # and it stayed dead
        self.assertError(self.post_actions('s1', lexp, ['e1']), 409, 'conflict', 'missing_lease')
        # the other lease is untouched
        self.assertEqual(self.post_actions('s1', l1, ['e2'])[0], 200)
        # no read revives or extends an expired lease: reads are 409 too
        with self.subTest('GET /state with an expired lease'):
            self.assertError(self.req('GET', '/sessions/s1/state', lexp), 409, 'conflict',
                             'missing_lease')
        with self.subTest('GET /dead-letters with an expired lease'):
            self.assertError(self.req('GET', '/sessions/s1/dead-letters', lexp), 409,
                             'conflict', 'missing_lease')

    def test_05e_released_lease_409(self):
        t1, t2, l1, l2 = self._two_sessions()
        lrel = self.lease('s1')
        status, out, _ = self.req('DELETE', '/sessions/s1/controller/lease', lrel)
        self.assertEqual((status, out), (200, {'released': True}))
        self.assertError(self.post_actions('s1', lrel, ['e2']), 409, 'conflict', 'missing_lease')
        self.assertError(self.req('DELETE', '/sessions/s1/controller/lease', lrel, {}), 409,
                         'conflict', 'missing_lease')
        self.assertError(self.req('POST', '/sessions/s1/controller/lease', lrel, {}), 409,
                         'conflict', 'missing_lease')
        # the operator releases a lease by naming it
        lop = self.lease('s1')
        status, out, _ = self.req('DELETE', '/sessions/s1/controller/lease', self.op,
                                  {'controller_token': lop})
        self.assertEqual((status, out), (200, {'released': True}))
        self.assertError(self.post_actions('s1', lop, ['e3']), 409, 'conflict', 'missing_lease')
        # the other leases are untouched; the session lists only live ones
        status, out, _ = self.post_actions('s1', l1, ['e4'])
        self.assertEqual(status, 200, out)
        status, sess, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(len(sess['leases']), 1, sess['leases'])
        with self.subTest('GET /dead-letters with a released lease'):
            self.assertError(self.req('GET', '/sessions/s1/dead-letters', lrel), 409,
                             'conflict', 'missing_lease')
        with self.subTest('GET /sessions/:id/events with a released lease'):
            stream = beachtest.SSEStream(self.d, '/sessions/s1/events', lrel)
            self._closers.append(stream.close)
            self.assertEqual(stream.status, 409, 'an event stream was opened for a dead lease')
            self.assertEqual(stream.body.get('error_code'), 'missing_lease', stream.body)

    def test_05f_fast_path_not_ready_412(self):
        t1, t2, l1, l2 = self._two_sessions()
        self.register('fp1', mode=None)  # transport_mode omitted: fast_path
        self.register('fp2', mode='fast_path')
        lfp1 = self.lease('fp1')
        lfp2 = self.lease('fp2')
        self.assertError(self.post_actions('fp1', lfp1, ['f1']), 412, 'precondition_failed',
                         'fast_path_not_ready')
        self.assertError(self.post_actions('fp2', lfp2, ['f1']), 412, 'precondition_failed',
                         'fast_path_not_ready')
        self.assertError(self.post_actions('fp1', lfp1, ['f1'], fallback='never'), 412,
                         'precondition_failed', 'fast_path_not_ready')
        status, out, _ = self.post_actions('fp1', lfp1, ['f1', 'f2'], fallback='allow')
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['f1', 'f2'])
        self.assertEqual(out['transport'], 'http_fallback')
        # "never" forbids queueing whatever the mode, even behind a queue
        self.assertError(self.post_actions('fp1', lfp1, ['f3'], fallback='never'), 412,
                         'precondition_failed', 'fast_path_not_ready')
        self.assertError(self.post_actions('s1', l1, ['f3'], fallback='never'), 412,
                         'precondition_failed', 'fast_path_not_ready')
        # body checks come before 412
        self.assertError(self.req('POST', '/sessions/fp2/actions', lfp2,
                                  {'actions': [{'id': 'bad id', 'action_type': 'x',
                                                'payload': {}}]}),
                         400, 'bad_request', field='id')
        tfp1 = self.register('fp1', mode=None)
        p = self.pending('fp1', tfp1)
        self.assertEqual((p['pending'], p['transport'], p['transport_mode']),
                         (2, 'http_fallback', 'fast_path'))
        tfp2 = self.register('fp2', mode='fast_path')
        p = self.pending('fp2', tfp2)
        self.assertEqual((p['pending'], p['transport'], p['transport_mode']),
                         (0, 'pending', 'fast_path'))
        series, _, _ = parse_metrics(self.metrics())
        self.assertEqual(metric_value(series, 'controller_actions_dropped_total',
                                      reason='fast_path_not_ready'), 1 + 1 + 1 + 1 + 1)

    # 15
    def test_15_reregister_with_session_token(self):
        reg = self.register_full('s1', metadata={'v': 1})
        token = reg['session_token']
        ctl = self.lease('s1')
        status, out, _ = self.post_actions('s1', ctl, ['r1'])
        self.assertEqual(status, 200, out)

        again = self.register_full('s1', token=token, metadata={'v': 2}, version='2.0.0',
                                   harness_type='custom')
        self.assertEqual(again['session_token'], token)
        self.assertEqual(again['handshake_id'], reg['handshake_id'])
        self.assertEqual(again['harness_id'], reg['harness_id'])
        # leases and the queue survive
        status, out, _ = self.post_actions('s1', ctl, ['r2'])
        self.assertEqual(status, 200, out)
        status, polled, _ = self.poll('s1', token)
        self.assertEqual(ids_of(polled['actions']), ['r1', 'r2'])
        status, sess, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(status, 200, sess)
        self.assertEqual(len(sess['leases']), 1)
        self.assertEqual(sess['handshake_id'], reg['handshake_id'])
        self.assertEqual(sess['harness_type'], 'terminal_shim')  # stays as first registered
        # the operator may re-register too; still the same handshake id
        again = self.register_full('s1')
        self.assertEqual(again['handshake_id'], reg['handshake_id'])

        # a session token for an unregistered session id: 403 (body parsed first)
        self.assertError(self.req('POST', '/sessions/register', token,
                                  self.registration('s9')), 403, 'forbidden')
        self.assertError(self.req('POST', '/sessions/register', token, b'{oops'), 400,
                         'bad_request')
        self.assertError(self.req('POST', '/sessions/register', token,
                                  {'session_id': 's9'}), 400, 'bad_request')
        # another registered session's id
        self.register('s2')
        self.assertError(self.req('POST', '/sessions/register', token,
                                  self.registration('s2')), 403, 'forbidden')
        # the own token of a deleted session
        t3 = self.register('s3')
        self.assertEqual(self.req('DELETE', '/sessions/s3', self.op)[:2],
                         (200, {'deleted': True}))
        self.assertError(self.req('POST', '/sessions/register', t3,
                                  self.registration('s3')), 403, 'forbidden')
        # a token that is nobody's: 401
        self.assertError(self.req('POST', '/sessions/register', 'y' * 43,
                                  self.registration('s1')), 401, 'unauthorized')
        # a lease cannot register
        self.assertError(self.req('POST', '/sessions/register', ctl,
                                  self.registration('s1')), 403, 'forbidden')


class QueueTests(BeachTestCase):

    # 6
    def test_06_duplicates(self):
        token = self.register('s1')
        ctl = self.lease('s1')
        status, out, _ = self.post_actions('s1', ctl, ['d1', 'd2'])
        self.assertEqual((status, out['accepted_ids'], out['duplicate_ids']),
                         (200, ['d1', 'd2'], []))
        status, out, _ = self.post_actions('s1', ctl, ['d1', 'd3'])
        self.assertEqual((status, out['accepted_ids'], out['duplicate_ids']),
                         (200, ['d3'], ['d1']))
        status, out, _ = self.post_actions('s1', ctl, ['d4', 'd4'])
        self.assertEqual((status, out['accepted_ids'], out['duplicate_ids']),
                         (200, ['d4'], ['d4']))
        status, out, _ = self.post_actions('s1', ctl, ['d2', 'd1'])
        self.assertEqual(status, 200, out)
        self.assertEqual(out, {'accepted': True, 'accepted_ids': [], 'duplicate_ids': ['d2', 'd1'],
                               'transport': 'http_fallback'})
        self.assertEqual(self.pending('s1', token)['pending'], 4)

        status, polled, _ = self.poll('s1', token)
        self.assertEqual(ids_of(polled['actions']), ['d1', 'd2', 'd3', 'd4'])
        # in flight is still outstanding
        status, out, _ = self.post_actions('s1', ctl, ['d1'])
        self.assertEqual((status, out['accepted_ids'], out['duplicate_ids']), (200, [], ['d1']))
        self.assertEqual(self.ack('s1', token, ['d1', 'd2', 'd3', 'd4'])[:2],
                         (200, {'acknowledged': 4}))
        # settled: the id may be sent again
        status, out, _ = self.post_actions('s1', ctl, ['d1'])
        self.assertEqual((status, out['accepted_ids'], out['duplicate_ids']), (200, ['d1'], []))
        status, polled, _ = self.poll('s1', token)
        self.assertEqual(ids_of(polled['actions']), ['d1'])
        series, _, _ = parse_metrics(self.metrics())
        self.assertEqual(metric_value(series, 'actions_enqueued_total', private_beach_id='pb',
                                      session_id='s1'), 5)

    # 8
    def test_08_expiry(self):
        token = self.register('s1')
        timer_token = self.register('clock')
        ctl = self.lease('s1')
        events = self.subscribe('/events', self.op)
        past = now_ms() - 1000
        status, out, _ = self.post_actions('s1', ctl, [
            self.action('e1', expires_at=past),
            self.action('e2', expires_at={'secs_since_epoch': past // 1000,
                                          'nanos_since_epoch': 0}),
        ])
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['e1', 'e2'])
        soon = now_ms() + 400
        status, out, _ = self.post_actions('s1', ctl, [self.action('e3', expires_at=soon),
                                                       self.action('live')])
        self.assertEqual(status, 200, out)
        self.assertEqual(out['accepted_ids'], ['e3', 'live'])

        # let e3 expire without polling s1: another session's long-poll is the clock
        deadline = time.monotonic() + 5
        while now_ms() <= soon + 50:
            self.assertLess(time.monotonic(), deadline)
            status, polled, _ = self.poll('clock', timer_token,
                                          wait_ms=max(1, soon + 100 - now_ms()))
            self.assertEqual((status, polled['actions']), (200, []))

        status, polled, _ = self.poll('s1', token, wait_ms=200)
        self.assertEqual(status, 200, polled)
        self.assertEqual(ids_of(polled['actions']), ['live'])
        self.assertEqual(self.ack('s1', token, ['live'])[:2], (200, {'acknowledged': 1}))
        self.assertEqual(self.pending('s1', token)['pending'], 0)

        settled = {}
        for _ in range(4):
            ev = events.wait_for(lambda e: e['event'] == 'action_settled', timeout=5,
                                 what='action_settled')
            settled[ev['data']['id']] = ev['data']['status']
        self.assertEqual(settled, {'e1': 'expired', 'e2': 'expired', 'e3': 'expired',
                                   'live': 'ok'})
        series, _, _ = parse_metrics(self.metrics())
        labels = dict(private_beach_id='pb', session_id='s1')
        self.assertEqual(metric_value(series, 'actions_acked_total', status='expired',
                                      **labels), 3)
        self.assertEqual(metric_value(series, 'actions_acked_total', status='ok', **labels), 1)
        self.assertEqual(metric_value(series, 'actions_delivered_total', **labels), 1)

    # 9
    def test_09_delete_with_parked_polls(self):
        token = self.register('s1')
        ctl = self.lease('s1')
        all_events = self.subscribe('/events', self.op)
        own_events = self.subscribe('/sessions/s1/events', ctl)
        status, out, _ = self.post_actions('s1', ctl, ['q1', 'q2', 'q3'])
        self.assertEqual(status, 200, out)
        status, polled, _ = self.poll('s1', token, max=2)
        self.assertEqual(ids_of(polled['actions']), ['q1', 'q2'])  # in flight; q3 queued
        status, polled, _ = self.poll('s1', token, max=1)
        self.assertEqual(ids_of(polled['actions']), ['q3'])
        # now every entry is in flight and nothing is due: new polls park
        polls = [self.poll_async('s1', token, wait_ms=20000) for _ in range(2)]
        for p in polls:
            self.assertTrue(p.sent.wait(5))
        self.barrier()
        for p in polls:
            self.assertFalse(p.is_done(), 'a poll answered before DELETE: %s' % (p.result,))

        status, out, _ = self.req('DELETE', '/sessions/s1', self.op)
        self.assertEqual((status, out), (200, {'deleted': True}))
        answers = [p.wait(5) for p in polls]
        for answer in answers:
            with self.subTest('parked poll answered after DELETE'):
                self.assertError(answer, 404, 'not_found')

        reasons = {}
        for _ in range(3):
            ev = all_events.wait_for(lambda e: e['event'] == 'dead_letter', timeout=5,
                                     what='dead_letter event')
            self.assertEqual(ev['data']['session_id'], 's1')
            reasons[ev['data']['id']] = ev['data']['reason']
        self.assertEqual(reasons, {'q1': 'session_deleted', 'q2': 'session_deleted',
                                   'q3': 'session_deleted'})
        ev = own_events.wait_for(lambda e: e['event'] == 'transport' and
                                 e['data'].get('reason') == 'session_deleted',
                                 timeout=5, what='last transport event')
        self.assertEqual(ev['data']['session_id'], 's1')
        self.assertTrue(own_events.wait_closed(5), 'the session stream did not close')

        # the session's own token now gets 404: the harness stops
        self.assertError(self.poll('s1', token), 404, 'not_found')
        self.assertError(self.req('GET', '/sessions/s1/actions/pending', token), 404,
                         'not_found')
        self.assertError(self.req('GET', '/sessions/s1', self.op), 404, 'not_found')
        # its leases are gone with it: unknown tokens
        self.assertError(self.post_actions('s1', ctl, ['q4']), 401, 'unauthorized')
        status, listing, _ = self.req('GET', '/sessions', self.op)
        self.assertEqual((status, listing), (200, {'sessions': []}))
        # re-registering starts from nothing
        token2 = self.register('s1')
        self.assertEqual(token2, token)
        self.assertEqual(self.pending('s1', token2)['pending'], 0)
        status, dead, _ = self.req('GET', '/sessions/s1/dead-letters', self.op)
        self.assertEqual((status, dead), (200, {'entries': []}))


def _acks(n, status='ok'):
    return [{'id': 'k%d' % i, 'status': status, 'applied_at': 1700000000000}
            for i in range(n)]


def _reg(**changes):
    body = {'session_id': 'new1', 'private_beach_id': 'pb', 'harness_type': 'terminal_shim',
            'capabilities': ['terminal_write'], 'version': '1'}
    for k, v in changes.items():
        if v is _DROP:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def _acts(*actions, **extra):
    body = {'actions': list(actions)}
    body.update(extra)
    return body


def _act(**changes):
    a = {'id': 'm1', 'action_type': 'terminal_write', 'payload': {'bytes': 'x'}}
    for k, v in changes.items():
        if v is _DROP:
            a.pop(k, None)
        else:
            a[k] = v
    return a


_DROP = object()
STATE_OK = {'sequence': 1, 'emitted_at': 1700000000000, 'payload': {}}
HEALTH_OK = {'queue_depth': 0, 'degraded': False, 'warnings': []}

# (name, method, path, auth, body, status, field named in the message)
# auth: 'op', 'session', 'lease' or None; path: {s} is the session id.
MALFORMED = [
    ('register invalid JSON', 'POST', '/sessions/register', 'op', b'{"session_id": ', 400, None),
    ('register invalid UTF-8', 'POST', '/sessions/register', 'op', b'{"session_id":"\xff\xfe"}', 400, None),
    ('register empty body', 'POST', '/sessions/register', 'op', b'', 400, None),
    ('register non-object body', 'POST', '/sessions/register', 'op', [1, 2], 400, None),
    ('register missing session_id', 'POST', '/sessions/register', 'op', _reg(session_id=_DROP), 400, 'session_id'),
    ('register bad session_id', 'POST', '/sessions/register', 'op', _reg(session_id='a b'), 400, 'session_id'),
    ('register long session_id', 'POST', '/sessions/register', 'op', _reg(session_id='x' * 129), 400, 'session_id'),
    ('register missing private_beach_id', 'POST', '/sessions/register', 'op', _reg(private_beach_id=_DROP), 400, 'private_beach_id'),
    ('register bad harness_type', 'POST', '/sessions/register', 'op', _reg(harness_type='spaceship'), 400, 'harness_type'),
    ('register capabilities not array', 'POST', '/sessions/register', 'op', _reg(capabilities='terminal_write'), 400, 'capabilities'),
    ('register capabilities not strings', 'POST', '/sessions/register', 'op', _reg(capabilities=[1]), 400, 'capabilities'),
    ('register missing version', 'POST', '/sessions/register', 'op', _reg(version=_DROP), 400, 'version'),
    ('register bad transport_mode', 'POST', '/sessions/register', 'op', _reg(transport_mode='carrier_pigeon'), 400, 'transport_mode'),
    ('actions empty body', 'POST', '/sessions/{s}/actions', 'lease', b'', 400, None),
    ('actions non-object body', 'POST', '/sessions/{s}/actions', 'lease', [_act()], 400, None),
    ('actions missing', 'POST', '/sessions/{s}/actions', 'lease', {'fallback': 'allow'}, 400, 'actions'),
    ('actions not array', 'POST', '/sessions/{s}/actions', 'lease', {'actions': {'id': 'm1'}}, 400, 'actions'),
    ('actions empty', 'POST', '/sessions/{s}/actions', 'lease', _acts(), 400, 'actions'),
    ('actions 257', 'POST', '/sessions/{s}/actions', 'lease', _acts(*[_act(id='m%d' % i) for i in range(257)]), 400, 'actions'),
    ('action bad id', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(id='no spaces!')), 400, 'id'),
    ('action missing id', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(id=_DROP)), 400, 'id'),
    ('action bad action_type', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(action_type='Terminal-Write')), 400, 'action_type'),
    ('action missing action_type', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(action_type=_DROP)), 400, 'action_type'),
    ('action payload not object', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(payload='ls')), 400, 'payload'),
    ('action payload missing', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(action_type='noop', payload=_DROP)), 400, 'payload'),
    ('terminal_write without bytes', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(payload={'text': 'ls'})), 400, 'bytes'),
    ('terminal_write bytes not string', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(payload={'bytes': 5})), 400, 'bytes'),
    ('action bad expires_at', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(expires_at='tomorrow')), 400, 'expires_at'),
    ('action payload over 64 KiB', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(payload={'bytes': 'x' * (64 * 1024)})), 413, None),
    ('body over 1 MiB', 'POST', '/sessions/{s}/actions', 'lease', b'{"pad":"' + b'x' * (1024 * 1024) + b'"}', 413, None),
    ('fallback sometimes', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(), fallback='sometimes'), 400, 'fallback'),
    ('controller_token not string', 'POST', '/sessions/{s}/actions', 'lease', _acts(_act(), controller_token=12), 400, 'controller_token'),
    ('poll wait_ms=30001', 'GET', '/sessions/{s}/actions/poll?wait_ms=30001', 'session', None, 400, 'wait_ms'),
    ('poll wait_ms=-1', 'GET', '/sessions/{s}/actions/poll?wait_ms=-1', 'session', None, 400, 'wait_ms'),
    ('poll wait_ms=abc', 'GET', '/sessions/{s}/actions/poll?wait_ms=abc', 'session', None, 400, 'wait_ms'),
    ('poll wait_ms=1.5', 'GET', '/sessions/{s}/actions/poll?wait_ms=1.5', 'session', None, 400, 'wait_ms'),
    ('poll max=0', 'GET', '/sessions/{s}/actions/poll?max=0', 'session', None, 400, 'max'),
    ('poll max=257', 'GET', '/sessions/{s}/actions/poll?max=257', 'session', None, 400, 'max'),
    ('ack body object', 'POST', '/sessions/{s}/actions/ack', 'session', {'id': 'k1', 'status': 'ok', 'applied_at': 1}, 400, None),
    ('ack invalid JSON', 'POST', '/sessions/{s}/actions/ack', 'session', b'[{', 400, None),
    ('ack bad status', 'POST', '/sessions/{s}/actions/ack', 'session', [{'id': 'k1', 'status': 'done', 'applied_at': 1}], 400, 'status'),
    ('ack missing applied_at', 'POST', '/sessions/{s}/actions/ack', 'session', [{'id': 'k1', 'status': 'ok'}], 400, 'applied_at'),
    ('ack missing id', 'POST', '/sessions/{s}/actions/ack', 'session', [{'status': 'ok', 'applied_at': 1}], 400, 'id'),
    ('ack one bad of two', 'POST', '/sessions/{s}/actions/ack', 'session', _acks(1) + [{'id': 'k9', 'status': 'ok', 'applied_at': 'noon'}], 400, 'applied_at'),
    ('ack 257 entries', 'POST', '/sessions/{s}/actions/ack', 'session', _acks(257), 400, None),
    ('lease ttl_ms=999', 'POST', '/sessions/{s}/controller/lease', 'op', {'ttl_ms': 999}, 400, 'ttl_ms'),
    ('lease ttl_ms=86400001', 'POST', '/sessions/{s}/controller/lease', 'op', {'ttl_ms': 86400001}, 400, 'ttl_ms'),
    ('lease ttl_ms string', 'POST', '/sessions/{s}/controller/lease', 'op', {'ttl_ms': '5000'}, 400, 'ttl_ms'),
    ('lease body not object', 'POST', '/sessions/{s}/controller/lease', 'op', [1], 400, None),
    ('lease release without controller_token', 'DELETE', '/sessions/{s}/controller/lease', 'op', {}, 400, 'controller_token'),
    ('state missing sequence', 'POST', '/sessions/{s}/state', 'session', {'emitted_at': 1700000000000, 'payload': {}}, 400, 'sequence'),
    ('state sequence not number', 'POST', '/sessions/{s}/state', 'session', dict(STATE_OK, sequence='one'), 400, 'sequence'),
    ('health missing degraded', 'POST', '/sessions/{s}/health', 'session', {'queue_depth': 0, 'warnings': []}, 400, 'degraded'),
    ('health warnings not array', 'POST', '/sessions/{s}/health', 'session', dict(HEALTH_OK, warnings='w'), 400, 'warnings'),
    ('health bad fast_path state', 'POST', '/sessions/{s}/health', 'session', dict(HEALTH_OK, fast_path={'state': 'weird', 'attempts': 0}), 400, 'state'),
    ('dead-letters since=abc', 'GET', '/sessions/{s}/dead-letters?since=abc', 'op', None, 400, 'since'),
    ('unknown route', 'GET', '/nope', None, None, 404, None),
    ('unknown sub-route', 'GET', '/sessions/{s}/nope', 'op', None, 404, None),
    ('wrong method on register', 'PUT', '/sessions/register', 'op', _reg(), 405, None),
    ('wrong method on actions', 'GET', '/sessions/{s}/actions', 'lease', None, 405, None),
    ('wrong method on poll', 'POST', '/sessions/{s}/actions/poll', 'session', {}, 405, None),
    ('wrong method on metrics', 'POST', '/metrics', None, b'', 405, None),
    ('register under another beach', 'POST', '/sessions/register', 'op', _reg(session_id='s1', private_beach_id='pb2'), 409, None),
]


class MalformedTests(BeachTestCase):

    # 10
    def test_10_malformed_battery(self):
        self.assertGreaterEqual(len(MALFORMED), 30)
        tokens = {'op': self.op, 'session': self.register('s1'), 'lease': self.lease('s1'),
                  None: None}
        for name, method, path, auth, body, status, field in MALFORMED:
            with self.subTest(name):
                resp = self.req(method, path.format(s='s1'), tokens[auth], body)
                self.assertGreaterEqual(resp[0], 400)
                self.assertLess(resp[0], 500)
                self.assertError(resp, status, field=field, msg=name)
        # nothing of those calls was queued or registered
        self.assertEqual(self.pending('s1', tokens['session'])['pending'], 0)
        status, listing, _ = self.req('GET', '/sessions', self.op)
        self.assertEqual([s['session_id'] for s in listing['sessions']], ['s1'])
        status, sess, _ = self.req('GET', '/sessions/s1', self.op)
        self.assertEqual(sess['private_beach_id'], 'pb')
        self.assertEqual(len(sess['leases']), 1)
        # error_code is left out when there is none
        _, body, _ = self.req('GET', '/nope')
        self.assertEqual(body['error'], 'not_found')
        self.assertNotIn('error_code', body)
        _, body, _ = self.req('PUT', '/sessions/register', self.op, _reg())
        self.assertEqual(body['error'], 'method_not_allowed')
        _, body, _ = self.req('POST', '/sessions/register', self.op,
                              _reg(session_id='s1', private_beach_id='pb2'))
        self.assertEqual(body['error'], 'conflict')
        # the daemon is still fine
        self.assertEqual(self.req('GET', '/healthz')[:2], (200, {'status': 'ok'}))


class LifecycleTests(BeachTestCase):

    # 11
    def test_11_sigterm_with_parked_polls(self):
        token = self.register('s1')
        events = self.subscribe('/events', self.op)
        polls = [self.poll_async('s1', token, wait_ms=20000) for _ in range(2)]
        for p in polls:
            self.assertTrue(p.sent.wait(5))
        self.barrier()
        for p in polls:
            self.assertFalse(p.is_done(), 'a poll answered before SIGTERM: %s' % (p.result,))
        t0 = time.monotonic()
        self.d.signal(signal.SIGTERM)
        for p in polls:
            status, body, _ = p.wait(5)
            self.assertEqual(status, 200, body)
            self.assertEqual(body['actions'], [])
        self.assertTrue(events.wait_closed(5), 'the event stream did not end')
        rc = self.d.wait(max(0.1, 5 - (time.monotonic() - t0)))
        self.assertEqual(rc, 0, 'exit status after SIGTERM (None: still running after 5 s)')
        self.d.returncode = rc

    def test_connections_do_not_leak_fds(self):
        # libsoup 3.2.x keeps every idle keep-alive connection a client
        # closes (CLOSE_WAIT, fd never freed); the daemon answers with
        # "Connection: close" so there is none. Clients here keep their
        # connection open, then close it, as browsers and SoupSession do.
        import http.client
        fd_dir = '/proc/%d/fd' % self.d.proc.pid
        before = len(os.listdir(fd_dir))
        for _ in range(300):
            conn = http.client.HTTPConnection(self.d.host, self.d.port, timeout=5)
            conn.request('GET', '/healthz', headers={'Connection': 'keep-alive'})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader('Connection'), 'close')
            conn.close()
        self.barrier()
        after = len(os.listdir(fd_dir))
        print('daemon fds: %d before, %d after 300 connections' % (before, after))
        self.assertLess(after - before, 20, 'the daemon keeps closed connections open')

    def test_operator_token_file(self):
        d = self.start_daemon(operator_token=None)
        path = os.path.join(d.xdg, 'beach-manager', 'operator-token')
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        secret = os.path.join(d.xdg, 'beach-manager', 'session-secret')
        self.assertEqual(stat.S_IMODE(os.stat(secret).st_mode), 0o600)
        self.assertEqual(d.req('GET', '/sessions', d.operator_token)[:2],
                         (200, {'sessions': []}))
        # the env token of the default daemon is not this one's
        self.assertEqual(d.req('GET', '/sessions', self.op)[0], 401)
        # session tokens survive a restart (the secret is kept)
        t1 = self.register('s1', daemon=d)
        self.assertEqual(d.stop(), 0)
        d2 = Daemon_restart(self, d)
        self.assertEqual(d2.operator_token, d.operator_token)
        self.assertEqual(self.register('s1', daemon=d2), t1)


def Daemon_restart(test, old):
    """A new daemon on the same XDG_CONFIG_HOME."""
    d = beachtest.Daemon(None, {'XDG_CONFIG_HOME': old.xdg}, operator_token=None,
                         name='daemon-restarted')
    d.xdg = old.xdg
    test._daemons.append(d)
    return d.start()


class MetricsTests(BeachTestCase):

    # 12
    def test_12_metrics(self):
        series, helps, types = parse_metrics(self.metrics())
        for name, kind in list(PER_SESSION_FAMILIES.items()) + list(GLOBAL_FAMILIES.items()):
            self.assertIn(name, helps, 'HELP for %s before traffic' % name)
            self.assertEqual(types.get(name), kind, 'TYPE for %s' % name)
        self.assertNotIn('redis_available', helps, 'absent with the memory queue')
        self.assertNotIn('redis_available', types)

        token = self.register('s1')
        ctl = self.lease('s1')
        self.assertEqual(self.post_actions('s1', ctl, ['m1', 'm2', 'm3'])[0], 200)
        status, polled, _ = self.poll('s1', token, wait_ms=1000)
        self.assertEqual(ids_of(polled['actions']), ['m1', 'm2', 'm3'])
        self.assertEqual(self.ack('s1', token, ['m1', 'm2'])[:2], (200, {'acknowledged': 2}))
        self.assertEqual(self.ack('s1', token, ['m3'], status='rejected')[:2],
                         (200, {'acknowledged': 1}))
        self.assertEqual(self.ack('s1', token, ['ghost'])[:2], (200, {'acknowledged': 0}))
        self.req('GET', '/nope')

        text = self.metrics()
        series, helps, types = parse_metrics(text)
        labels = dict(private_beach_id='pb', session_id='s1')
        self.assertIn('actions_enqueued_total{private_beach_id="pb",session_id="s1"} 3', text)
        self.assertEqual(metric_value(series, 'actions_enqueued_total', **labels), 3)
        self.assertEqual(metric_value(series, 'actions_delivered_total', **labels), 3)
        self.assertEqual(metric_value(series, 'actions_acked_total', status='ok', **labels), 2)
        self.assertEqual(metric_value(series, 'actions_acked_total', status='rejected',
                                      **labels), 1)
        self.assertEqual(metric_value(series, 'actions_queue_depth', **labels), 0)
        self.assertEqual(metric_value(series, 'actions_queue_pending', **labels), 0)
        self.assertEqual(metric_value(series, 'session_transport', transport='http_fallback',
                                      **labels), 1)
        for other in ('fast_path', 'pending'):
            self.assertEqual(metric_value(series, 'session_transport', transport=other,
                                          **labels), 0)
        self.assertGreaterEqual(metric_value(series, 'http_requests_total',
                                             route='/sessions/:id/actions/poll', code='200'), 1)
        self.assertEqual(metric_value(series, 'http_requests_total',
                                      route='/sessions/:id/actions', code='200'), 1)
        self.assertEqual(metric_value(series, 'http_requests_total', route='unmatched',
                                      code='404'), 1)
        self.assertEqual(metric_value(series, 'actions_ack_unknown_total'), 1)
        self.assertEqual(metric_value(series, 'action_latency_seconds_count', **labels), 3)
        les = sorted(float(dict(k[1])['le']) for k in series
                     if k[0] == 'action_latency_seconds_bucket' and
                     dict(k[1]).get('session_id') == 's1')
        self.assertEqual(les, [float(b) for b in HISTOGRAM_BOUNDS] + [float('inf')])

        status, out, _ = self.req('DELETE', '/sessions/s1', self.op)
        self.assertEqual(status, 200, out)
        series, _, _ = parse_metrics(self.metrics())
        left = [k for k in series if dict(k[1]).get('session_id') == 's1']
        self.assertEqual(left, [], "a deleted session's series remain")


class EventsTests(BeachTestCase):

    # 13
    def test_13_sse(self):
        token = self.register('s1')
        self.register('s2', mode=None)  # fast_path mode, no link
        ctl = self.lease('s1')
        ctl2 = self.lease('s2')
        everything = self.subscribe('/events', self.op)
        own = self.subscribe('/sessions/s1/events', ctl)
        for s in (everything, own):
            self.assertIn('text/event-stream', s.headers.get('Content-Type', ''))
        series, _, _ = parse_metrics(self.metrics())
        self.assertEqual(metric_value(series, 'events_subscribers'), 2)

        self.assertEqual(self.post_actions('s1', ctl, ['v1', 'v2', 'v3'])[0], 200)
        status, polled, _ = self.poll('s1', token)
        self.assertEqual(ids_of(polled['actions']), ['v1', 'v2', 'v3'])
        self.assertEqual(self.ack('s1', token, ['v1', 'v2'])[:2], (200, {'acknowledged': 2}))
        body = [{'id': 'v3', 'status': 'rejected', 'applied_at': now_ms(),
                 'error_code': 'E_NOPE', 'error_message': 'no'}]
        self.assertEqual(self.req('POST', '/sessions/s1/actions/ack', token, body)[:2],
                         (200, {'acknowledged': 1}))

        for stream in (everything, own):
            settled = []
            for _ in range(3):
                ev = stream.wait_for(lambda e: e['event'] in ('action_settled', 'queue_empty'),
                                     what='action_settled')
                self.assertEqual(ev['event'], 'action_settled', 'queue_empty before the last ack')
                settled.append(ev['data'])
            for d in settled:
                self.assertEqual(d['session_id'], 's1')
                self.assertEqual(d['via'], 'fallback')
            self.assertEqual([(d['id'], d['status']) for d in settled],
                             [('v1', 'ok'), ('v2', 'ok'), ('v3', 'rejected')])
            self.assertEqual(settled[2]['error_code'], 'E_NOPE')
            ev = stream.wait_for(lambda e: e['event'] == 'queue_empty', what='queue_empty')
            self.assertEqual(ev['data'], {'session_id': 's1'})

        # a refused call: dropped, with reason and count
        self.assertError(self.post_actions('s2', ctl2, ['z1', 'z2']), 412,
                         'precondition_failed', 'fast_path_not_ready')
        ev = everything.wait_for(lambda e: e['event'] == 'dropped', what='dropped')
        self.assertEqual(ev['data'], {'session_id': 's2', 'reason': 'fast_path_not_ready',
                                      'count': 2})

        state = {'sequence': 42, 'emitted_at': now_ms(), 'payload': {'screen': 'hi'}}
        self.assertEqual(self.req('POST', '/sessions/s1/state', token, state)[:2],
                         (200, {'ok': True}))
        for stream in (everything, own):
            ev = stream.wait_for(lambda e: e['event'] == 'state', what='state')
            self.assertEqual(ev['data'], {'session_id': 's1', 'sequence': 42})
        status, got, _ = self.req('GET', '/sessions/s1/state', ctl)
        self.assertEqual(status, 200, got)
        self.assertEqual(got['sequence'], 42)
        self.assertEqual(got['payload'], {'screen': 'hi'})
        self.assertEqual(set(got['emitted_at']), {'secs_since_epoch', 'nanos_since_epoch'})
        status, got, _ = self.req('GET', '/sessions/s2/state', self.op)
        self.assertEqual((status, got), (200, None))

        # the session's stream sees only its session; ids increase per stream
        self.assertTrue(all(e['data'].get('session_id') == 's1' for e in own.seen), own.seen)
        for stream in (everything, own):
            ids = [e.get('id') for e in stream.seen]
            self.assertTrue(all(isinstance(i, int) for i in ids), ids)
            self.assertEqual(ids, sorted(set(ids)), 'ids must increase: %s' % ids)


class CorsTests(BeachTestCase):
    START = False

    def preflight(self, d, origin, path='/sessions/s1/controller/lease'):
        return d.req('OPTIONS', path, headers={
            'Origin': origin, 'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'authorization, content-type'})

    # 14
    def test_14_cors(self):
        d = self.start_daemon(env={'BEACH_CORS_ORIGINS': 'https://tile.example'})
        status, _, h = self.preflight(d, 'https://tile.example')
        self.assertEqual(status, 204)
        self.assertEqual(h.get('Access-Control-Allow-Origin'), 'https://tile.example')
        methods = {m.strip() for m in h.get('Access-Control-Allow-Methods', '').split(',')}
        self.assertEqual(methods, {'GET', 'POST', 'DELETE'})
        allowed = {x.strip().lower() for x in h.get('Access-Control-Allow-Headers', '').split(',')}
        self.assertEqual(allowed, {'authorization', 'content-type'})
        self.assertEqual(h.get('Access-Control-Max-Age'), '600')
        self.assertIsNone(h.get('Access-Control-Allow-Credentials'))
        self.assertIsNone(h.get('Access-Control-Expose-Headers'))

        status, _, h = self.preflight(d, 'https://evil.example')
        self.assertEqual(status, 204)
        for name in ('Access-Control-Allow-Origin', 'Access-Control-Allow-Methods',
                     'Access-Control-Allow-Headers', 'Access-Control-Max-Age'):
            self.assertIsNone(h.get(name), name)

        # actual requests: the header for a listed origin only; unaffected otherwise
        status, body, h = d.req('GET', '/healthz', headers={'Origin': 'https://tile.example'})
        self.assertEqual((status, h.get('Access-Control-Allow-Origin')),
                         (200, 'https://tile.example'))
        status, body, h = d.req('GET', '/sessions', d.operator_token,
                                headers={'Origin': 'https://evil.example'})
        self.assertEqual((status, body), (200, {'sessions': []}))
        self.assertIsNone(h.get('Access-Control-Allow-Origin'))
        status, body, h = d.req('GET', '/sessions', None, headers={'Origin': 'https://tile.example'})
        self.assertEqual(status, 401)
        self.assertEqual(h.get('Access-Control-Allow-Origin'), 'https://tile.example')

        star = self.start_daemon(env={'BEACH_CORS_ORIGINS': '*'})
        status, _, h = self.preflight(star, 'https://anything.example')
        self.assertEqual(status, 204)
        self.assertEqual(h.get('Access-Control-Allow-Origin'), '*')
        self.assertIn('Origin', h.get('Vary', ''))
        self.assertEqual(h.get('Access-Control-Max-Age'), '600')
        status, _, h = star.req('GET', '/healthz', headers={'Origin': 'https://x.example'})
        self.assertEqual((status, h.get('Access-Control-Allow-Origin')), (200, '*'))
        self.assertIn('Origin', h.get('Vary', ''))

        # no origins configured: no CORS headers at all
        plain = self.start_daemon()
        status, _, h = self.preflight(plain, 'https://tile.example')
        self.assertEqual(status, 204)
        self.assertIsNone(h.get('Access-Control-Allow-Origin'))


if __name__ == '__main__':
    beachtest.main()
