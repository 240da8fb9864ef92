#!/usr/bin/python3
"""The metric audit against the real daemon (issue #10): after traffic on
both paths, a live /metrics passes `promtool check metrics`, every family
of WIRE.md "Metrics" is there, and the values say what happened.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \
    BEACH_HARNESS_PEER=$PWD/build/tests/harness-peer \
    GST_REGISTRY=$PWD/build/gst-registry.bin \
        /usr/bin/python3 tests/e2e/test_metrics.py -v
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import beachtest  # noqa: E402
import test_fastpath as tf  # noqa: E402
import test_harness as th  # noqa: E402
from beachtest import metric_value, parse_metrics  # noqa: E402
from redisfixture import REDIS_SERVER, RedisServer  # noqa: E402

PROMTOOL = shutil.which('promtool')

# WIRE.md "Metrics": every family, and its type.
FAMILIES = {
    'session_transport': 'gauge', 'fastpath_link_healthy': 'gauge',
    'fastpath_heartbeat_rtt_seconds': 'histogram', 'fastpath_actions_sent_total': 'counter',
    'fastpath_acks_received_total': 'counter', 'fastpath_state_received_total': 'counter',
    'fastpath_failovers_total': 'counter', 'actions_enqueued_total': 'counter',
    'actions_delivered_total': 'counter', 'actions_acked_total': 'counter',
    'actions_queue_depth': 'gauge', 'actions_queue_pending': 'gauge',
    'actions_dead_lettered_total': 'counter', 'redis_pending_reclaimed_total': 'counter',
    'action_latency_seconds': 'histogram', 'harness_fastpath_state': 'gauge',
    'controller_actions_dropped_total': 'counter', 'handshakes_total': 'counter',
    'transport_transitions_total': 'counter', 'http_requests_total': 'counter',
    'actions_ack_unknown_total': 'counter', 'events_subscribers': 'gauge',
    'events_dropped_subscribers_total': 'counter',
}


class MetricsTests(th.HarnessTestCase):

    def promtool(self, text):
        p = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, 'promtool: %s%s' % (p.stdout.decode(), p.stderr.decode()))

    def sm(self, series, name, sid, **labels):
        return metric_value(series, name, private_beach_id='pb', session_id=sid, **labels)

    @unittest.skipIf(PROMTOOL is None, 'promtool is not installed (Debian package prometheus)')
    def test_1_both_paths_then_a_frozen_link(self):
        # The fast path: 100 actions on a healthy link.
        h = self.harness('m1', self.op, health_interval_ms=200)
        token = h.started()
        self.healthy_and_paused(h, 'm1', token)
        lease = self.lease('m1', ttl_ms=120000)
        for i in range(0, 100, 50):
            out = self.post_ok('m1', lease, ['f%03d' % j for j in range(i, i + 50)])
            self.assertEqual(out['transport'], 'fast_path', out)
        self.settled('m1', token)
        events = self.subscribe('/events', self.op)
        self.assertIsNotNone(events)
        # The fallback: an http_fallback session polled and acked.
        ftoken = self.register('m2')
        flease = self.lease('m2')
        status, out, _ = self.post_actions('m2', flease, ['q1', 'q2', 'q3'])
        self.assertEqual(status, 200, out)
        polled = self.poll_n('m2', ftoken, 3)
        self.ack_ok('m2', ftoken, polled[:2])
        self.ack('m2', ftoken, polled[2:], status='rejected')
        status, out, _ = self.post_actions('m1', 'm1:not-a-lease', ['z1'])
        self.assertIn(status, (401, 409), out)
        tf.wait_until(lambda: self.sm(parse_metrics(self.metrics())[0], 'harness_fastpath_state', 'm1',
                                      state='healthy') == 1.0, 5.0, 'the harness reports healthy')

        text = self.metrics()
        self.promtool(text)
        series, helps, types = parse_metrics(text)
        for name, kind in FAMILIES.items():
            self.assertEqual(types.get(name), kind, name)
            self.assertIn(name, helps, name)
        self.assertEqual(self.sm(series, 'fastpath_actions_sent_total', 'm1'), 100.0)
        self.assertIn(self.sm(series, 'actions_enqueued_total', 'm1'), (None, 0.0),
                      'no fallback write for the fast-path session')
        self.assertEqual(self.sm(series, 'fastpath_acks_received_total', 'm1'), 100.0)
        self.assertEqual(self.sm(series, 'fastpath_link_healthy', 'm1'), 1.0)
        self.assertEqual(self.sm(series, 'session_transport', 'm1', transport='fast_path'), 1.0)
        self.assertEqual(self.sm(series, 'harness_fastpath_state', 'm1', state='unhealthy'), 0.0)
        self.assertEqual(self.sm(series, 'action_latency_seconds_count', 'm1'), 100.0)
        self.assertEqual(self.sm(series, 'actions_acked_total', 'm1', status='ok'), 100.0)
        self.assertGreater(self.sm(series, 'fastpath_heartbeat_rtt_seconds_count', 'm1') or 0, 0)
        self.assertEqual(self.sm(series, 'actions_enqueued_total', 'm2'), 3.0)
        self.assertEqual(self.sm(series, 'actions_delivered_total', 'm2'), 3.0)
        self.assertEqual(self.sm(series, 'actions_acked_total', 'm2', status='ok'), 2.0)
        self.assertEqual(self.sm(series, 'actions_acked_total', 'm2', status='rejected'), 1.0)
        self.assertEqual(self.sm(series, 'actions_queue_depth', 'm2'), 0.0)
        self.assertEqual(self.sm(series, 'session_transport', 'm2', transport='http_fallback'), 1.0)
        self.assertEqual(metric_value(series, 'events_subscribers'), 1.0)
        self.assertIsNone(metric_value(series, 'redis_available'), 'absent with the memory queue')

        # A frozen link: its in-flight actions are demoted (held, unacked,
        # so the queue keeps them and the transport stays http_fallback).
        h.command('ack off')
        h.command('freeze')
        out = self.post_ok('m1', lease, ['g1', 'g2'], fallback='allow')
        self.assertEqual(out['transport'], 'fast_path', out)
        tf.wait_until(lambda: self.session('m1')['transport'] == 'http_fallback', 5.0, 'demoted')
        text = self.metrics()
        self.promtool(text)
        series = parse_metrics(text)[0]
        self.assertEqual(self.sm(series, 'fastpath_failovers_total', 'm1', reason='heartbeat_timeout'), 1.0)
        self.assertEqual(self.sm(series, 'session_transport', 'm1', transport='http_fallback'), 1.0)
        self.assertEqual(self.sm(series, 'session_transport', 'm1', transport='fast_path'), 0.0)
        self.assertEqual(self.sm(series, 'fastpath_link_healthy', 'm1'), 0.0)
        self.assertGreaterEqual(metric_value(series, 'transport_transitions_total', **{
            'from': 'fast_path', 'to': 'http_fallback', 'reason': 'heartbeat_timeout'}) or 0, 1.0)

    # 100 link flaps: every transition reaches the metrics, but the log
    # stays bounded (5 lines per session and message kind a minute, then a
    # count of what was suppressed).
    def test_3_log_soak(self):
        flaps = 30 if os.environ.get('BEACH_SANITIZED') == '1' else 100
        h = self.harness('soak', self.op)
        token = h.started()
        self.healthy_and_paused(h, 'soak', token)
        base = len([l for l in self.d.stderr_text().splitlines() if 'session soak' in l])
        for i in range(flaps):
            h.command('drop')
            h.expect(lambda l: l == 'LINK healthy', 20.0, what='LINK healthy after drop %d' % i)
        tf.wait_until(lambda: self.session('soak')['fast_path_ready'], 10.0, 'the last link serves')
        series = parse_metrics(self.metrics())[0]
        transitions = sum(v for (name, labels), v in series.items()
                          if name == 'transport_transitions_total')
        self.assertGreaterEqual(transitions, 2 * flaps, 'each flap is two transitions')
        lines = [l for l in self.d.stderr_text().splitlines() if 'session soak' in l][base:]
        print('\n  %d flaps, %d transitions, %d log lines for the session'
              % (flaps, transitions, len(lines)), file=sys.stderr)
        self.assertLessEqual(len(lines), 60, '\n'.join(lines[-20:]))

    # With Redis, redis_available says whether it answers.
    @unittest.skipIf(REDIS_SERVER is None or PROMTOOL is None, 'redis-server or promtool missing')
    def test_2_redis_available(self):
        redis = RedisServer()
        self.addCleanup(redis.cleanup)
        redis.start()
        d = self.start_daemon(name='redis', args=['--queue', 'redis', '--redis-url', redis.url])
        d.wait_ready(15.0)
        text = self.metrics(daemon=d)
        self.promtool(text)
        self.assertEqual(metric_value(parse_metrics(text)[0], 'redis_available'), 1.0)
        redis.stop()
        tf.wait_until(lambda: metric_value(parse_metrics(self.metrics(daemon=d))[0],
                                           'redis_available') == 0.0, 10.0, 'redis_available 0')


if __name__ == '__main__':
    beachtest.main()
