#!/usr/bin/python3
"""Scale-out (issue #14): several beach-manager processes on one real
redis-server, hosts (tests/harness-peer, BeachHarness) spread over them,
controllers posting to random instances.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \\
    BEACH_HARNESS_PEER=$PWD/build/tests/harness-peer \\
    GST_REGISTRY=$PWD/build/gst-registry.bin \\
        /usr/bin/python3 tests/e2e/test_cluster.py -v

The contract (docs/scale-out.md, WIRE.md "Redis keys"): the manager holding
a session's healthy link owns it (beach:{P:S}:owner, 3 s TTL); any other
manager forwards the session's actions to the owner's inbox; nothing goes
into the fallback queues while the links are healthy; a dead owner's
inbox and in-flight actions go to the queues, the host moves to another
manager, and every accepted action is applied exactly once.
"""
import collections
import os
import random
import secrets
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beachtest  # noqa: E402
import test_fastpath as tf  # noqa: E402
import test_harness as th  # noqa: E402
from beachtest import metric_value, parse_metrics  # noqa: E402
from redisfixture import RedisServer  # noqa: E402

SLOW = 3.0 if os.environ.get('BEACH_SANITIZED') else 1.0
READY_TIMEOUT = 20.0 * SLOW
SETTLE_TIMEOUT = 30.0 * SLOW


class Host(th.Harness):
    """A harness-peer given several manager URLs (failover in that order)."""

    def __init__(self, daemons, session_id, token, journal, name):
        urls = ','.join('http://%s:%d' % (d.host, d.port) for d in daemons)
        argv = [th.PEER, '--url', urls, '--session-id', session_id, '--private-beach-id', 'pb',
                '--token', token, '--journal', journal]
        beachtest.PeerProcess.__init__(self, argv, name, 'harness-peer-')

    def applied(self):
        return [line.split(' ', 1)[1] for _, line in self.lines if line.startswith('ACTION ')]


class ClusterTests(th.HarnessTestCase):

    START = False
    N = 3

    def setUp(self):
        super().setUp()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.token = secrets.token_hex(16)
        self.managers = []
        for i in range(self.N):
            d = self.start_daemon({'cluster': {'instance_id': 'm%d' % i}},
                                  operator_token=self.token, name='manager-m%d' % i,
                                  args=['--queue', 'redis', '--redis-url', self.redis.url])
            d.wait_ready(READY_TIMEOUT)
            self.managers.append(d)
        self.d, self.op = self.managers[0], self.token
        self.tmp = self.managers[0].tmp

    def failure_logs(self):
        return super().failure_logs() + [('redis log tail', self.redis.log_tail())]

    # -- helpers ------------------------------------------------------------

    def host(self, session_id, token, order, name):
        journal = os.path.join(self.tmp, '%s.journal' % name)
        h = Host(order, session_id, token, journal, name)
        self._peers.append(h)
        self._closers.append(h.stop)
        return h

    def counter(self, d, name):
        series = parse_metrics(self.metrics(daemon=d))[0]
        return sum(v for (n, _), v in series.items() if n == name)

    def owner(self, session_id):
        return self.redis.call('GET', 'beach:{pb:%s}:owner' % session_id)

    def wait_owner(self, session_id, instance, timeout=READY_TIMEOUT):
        def owned():
            v = self.owner(session_id)
            return v if v is not None and v.split(' ')[0] == instance else None
        return tf.wait_until(owned, timeout, 'session %s owned by %s' % (session_id, instance))

    def post_until_accepted(self, session_id, lease, actions, fallback=None, deadline_s=None):
        """Posts to random instances until one accepts the whole call; 5xx,
        412 and connection errors are retried (the call was not accepted)."""
        deadline = time.monotonic() + (deadline_s or SETTLE_TIMEOUT)
        last = None
        while time.monotonic() < deadline:
            d = random.choice([m for m in self.managers if m.running()])
            try:
                status, body, _ = self.post_actions(session_id, lease, actions, fallback=fallback,
                                                    daemon=d)
            except OSError as e:
                last = e
                time.sleep(0.05)
                continue
            if status == 200:
                return d, body
            self.assertIn(status, (412, 429, 503), 'POST actions on %s: %s %s' % (d.name, status, body))
            last = (status, body)
            time.sleep(0.05)
        self.fail('actions never accepted: %r' % (last,))

    # -- tests ---------------------------------------------------------------

    def test_spread_hosts_random_controllers(self):
        """3 managers, 6 hosts spread over them, controllers posting to
        random instances: every action applied once, none queued."""
        sessions = ['sc%d' % i for i in range(6)]
        hosts, leases = {}, {}
        for i, sid in enumerate(sessions):
            home = self.managers[i % self.N]
            token = self.register(sid, mode=None, daemon=random.choice(self.managers))
            order = [home] + [m for m in self.managers if m is not home]
            hosts[sid] = (self.host(sid, token, order, 'host-%s' % sid), home, token)
        for sid, (h, home, token) in hosts.items():
            h.wait_line('LINK healthy', th.HEALTHY_TIMEOUT * SLOW)
            self.wait_owner(sid, home.name.split('-')[1])
            leases[sid] = self.lease(sid, daemon=random.choice(self.managers))

        # The true transport on every instance, owner or not.
        for sid, (h, home, token) in hosts.items():
            for m in self.managers:
                p = tf.wait_until(lambda: (lambda p: p if p['transport'] == 'fast_path' else None)(
                    self.pending(sid, token, daemon=m)), 10.0 * SLOW,
                    '%s: fast_path on %s' % (sid, m.name))
                self.assertEqual((p['pending'], p['fast_path_ready']), (0, True), (m.name, p))
                status, body, _ = self.req('GET', '/sessions/%s' % sid, self.op, daemon=m)
                self.assertEqual(status, 200, body)
                self.assertEqual(body['transport'], 'fast_path', (m.name, body))

        enqueued_before = sum(self.counter(m, 'actions_enqueued_total') for m in self.managers)
        sent = collections.defaultdict(list)
        errors = []

        def controller(idx):
            rng = random.Random(idx)
            try:
                for n in range(40):
                    sid = rng.choice(sessions)
                    ids = ['c%d-%d-%d' % (idx, n, k) for k in range(rng.randint(1, 3))]
                    d = rng.choice(self.managers)
                    status, body, _ = self.post_actions(sid, leases[sid], ids, daemon=d)
                    if status != 200:
                        errors.append((d.name, sid, status, body))
                        return
                    if body.get('transport') != 'fast_path' or sorted(body['accepted_ids']) != sorted(ids):
                        errors.append((d.name, sid, 'answer', body))
                    sent[sid].extend(ids)
            except Exception as e:  # noqa: BLE001
                errors.append(('controller %d' % idx, repr(e)))

        threads = [threading.Thread(target=controller, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120 * SLOW)
        self.assertEqual(errors, [])
        total = sum(len(v) for v in sent.values())
        self.assertEqual(total, len(set(i for v in sent.values() for i in v)))

        for sid, ids in sent.items():
            h = hosts[sid][0]
            tf.wait_until(lambda: set(ids) <= set(h.applied()), SETTLE_TIMEOUT,
                          '%s: all %d actions applied' % (sid, len(ids)))
        for sid, (h, _, token) in hosts.items():
            applied = h.applied()
            dup = [i for i, c in collections.Counter(applied).items() if c > 1]
            self.assertEqual(dup, [], '%s: applied twice' % sid)
            self.assertEqual(sorted(applied), sorted(sent[sid]), sid)
            self.settled(sid, token, timeout=SETTLE_TIMEOUT)

        enqueued = sum(self.counter(m, 'actions_enqueued_total') for m in self.managers)
        forwarded = sum(self.counter(m, 'cluster_actions_forwarded_total') for m in self.managers)
        taken = sum(self.counter(m, 'cluster_inbox_actions_total') for m in self.managers)
        self.assertEqual(enqueued - enqueued_before, 0, 'no action went into a fallback queue')
        self.assertGreater(forwarded, total / 3, 'most calls hit a non-owner and were forwarded')
        self.assertEqual(forwarded, taken, 'every forwarded action was taken from an inbox')
        for sid in sessions:
            self.assertEqual(self.redis.call('XLEN', 'beach:{pb:%s}:actions' % sid), 0, sid)
        for m in self.managers:
            self.assertEqual(self.redis.call('XLEN', 'beach:instance:%s:inbox' % m.name.split('-')[1]), 0)
        sys.stderr.write('\n  %d actions over %d sessions: %d forwarded, 0 queued, 0 applied twice\n'
                         % (total, len(sessions), forwarded))

    def test_owner_killed_host_moves_ledger_exact(self):
        """The owner is SIGKILLed under traffic: its host moves to another
        manager, the dead owner's inbox and in-flight actions reach the
        queue, and every accepted action is applied exactly once."""
        sid = 'kill1'
        a, b, c = self.managers
        token = self.register(sid, mode=None, daemon=b)
        h = self.host(sid, token, [a, b, c], 'host-kill')
        h.wait_line('LINK healthy', th.HEALTHY_TIMEOUT * SLOW)
        self.wait_owner(sid, 'm0')
        lease = self.lease(sid, ttl_ms=600000, daemon=c)

        accepted = []
        lock = threading.Lock()
        stop = threading.Event()
        errors = []

        def controller(idx):
            n = 0
            try:
                while not stop.is_set():
                    ids = ['k%d-%d' % (idx, n)]
                    n += 1
                    self.post_until_accepted(sid, lease, ids, fallback='allow')
                    with lock:
                        accepted.extend(ids)
                    time.sleep(0.01)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        # Controllers talk to b and c only: a is about to die.
        self.managers = [b, c]
        threads = [threading.Thread(target=controller, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        tf.wait_until(lambda: len(h.applied()) >= 50, SETTLE_TIMEOUT, 'traffic through the owner')
        a.kill()
        t_kill = time.monotonic()
        self.d = b
        # The host moves to another manager, which becomes the owner.
        moved = tf.wait_until(lambda: (lambda v: v if v and v.split(' ')[0] in ('m1', 'm2') else None)(
            self.owner(sid)), 30.0 * SLOW, 'a new owner')
        took = time.monotonic() - t_kill
        n_at_move = len(accepted)
        tf.wait_until(lambda: len(accepted) >= n_at_move + 50, SETTLE_TIMEOUT, 'traffic after the move')
        stop.set()
        for t in threads:
            t.join(60 * SLOW)
        self.assertEqual(errors, [])

        with lock:
            ids = list(accepted)
        tf.wait_until(lambda: set(ids) <= set(h.applied()), SETTLE_TIMEOUT * 2,
                      'every accepted action applied (%d)' % len(ids))
        applied = h.applied()
        dup = [i for i, n in collections.Counter(applied).items() if n > 1]
        self.assertEqual(dup, [], 'applied twice')
        self.assertEqual(sorted(set(applied) - set(ids)), [], 'applied but never accepted')
        self.settled(sid, token, timeout=SETTLE_TIMEOUT)
        # Both survivors saw the queue grow and drain (the ack that empties
        # a queue publishes a wake-up), so both report the link again.
        for m in (b, c):
            tf.wait_until(lambda: (lambda p: p if (p['pending'], p['transport']) == (0, 'fast_path') else None)(
                self.pending(sid, token, daemon=m)), 10.0 * SLOW, '%s: pending 0 on fast_path' % m.name)
        self.assertEqual(self.redis.call('XLEN', 'beach:instance:m0:inbox'), 0)
        self.assertEqual(self.redis.call('HLEN', 'beach:{pb:%s}:inflight' % sid), 0)
        # The dead instance was reclaimed and forgotten.
        tf.wait_until(lambda: not self.redis.call('SISMEMBER', 'beach:instances', 'm0'), 10.0 * SLOW,
                      'm0 forgotten')
        sys.stderr.write('\n  owner killed: new owner %s after %.1f s; %d accepted, %d applied, 0 lost, '
                         '0 applied twice\n' % (moved, took, len(ids), len(applied)))

    def test_graceful_stop_releases_ownership(self):
        """SIGTERM: the owner record goes at once (not after its TTL) and the
        instance leaves no inbox behind."""
        sid = 'stop1'
        a, b, c = self.managers
        token = self.register(sid, mode=None, daemon=a)
        h = self.host(sid, token, [a, b], 'host-stop')
        h.wait_line('LINK healthy', th.HEALTHY_TIMEOUT * SLOW)
        self.wait_owner(sid, 'm0')
        self.assertEqual(a.stop(timeout=10.0 * SLOW), 0)
        self.d = b
        v = self.owner(sid)
        self.assertTrue(v is None or not v.startswith('m0 '), v)
        # The host reconnects to b, which owns it now.
        self.wait_owner(sid, 'm1', timeout=30.0 * SLOW)
        lease = self.lease(sid, daemon=c)
        status, body, _ = self.post_actions(sid, lease, ['after-stop'], daemon=c)
        self.assertEqual(status, 200, body)
        self.assertEqual(body['transport'], 'fast_path', body)
        h.wait_actions(1, SETTLE_TIMEOUT)
        tf.wait_until(lambda: not self.redis.call('SISMEMBER', 'beach:instances', 'm0'), 10.0 * SLOW,
                      'm0 forgotten')

    def test_restart_same_instance_id_recovers_in_flight(self):
        """A manager restarted with the same [cluster] instance_id takes back
        to the queue the in-flight records its previous run left (the other
        managers see it alive, so they do not)."""
        sid = 'rs1'
        a = self.managers[0]
        token = self.register(sid, mode=None, daemon=a)
        h = self.host(sid, token, [a], 'host-restart')
        h.wait_line('LINK healthy', th.HEALTHY_TIMEOUT * SLOW)
        self.wait_owner(sid, 'm0')
        h.command('ack off')
        lease = self.lease(sid, daemon=a)
        ids = ['r%d' % i for i in range(5)]
        status, body, _ = self.post_actions(sid, lease, ids, daemon=a)
        self.assertEqual((status, body.get('transport')), (200, 'fast_path'), body)
        h.wait_actions(5, SETTLE_TIMEOUT)
        inflight = 'beach:{pb:%s}:inflight' % sid
        tf.wait_until(lambda: self.redis.call('HLEN', inflight) == 5, 5.0, 'five in-flight records')
        h.kill()
        a.kill()
        a.start()
        a.wait_ready(READY_TIMEOUT)
        tf.wait_until(lambda: self.redis.call('HLEN', inflight) == 0, 10.0 * SLOW,
                      'the records taken back by the restarted m0')
        self.assertEqual(self.redis.call('XLEN', 'beach:{pb:%s}:actions' % sid), 5)
        p = self.pending(sid, token, daemon=self.managers[1])
        self.assertEqual((p['pending'], p['transport']), (5, 'http_fallback'), p)


if __name__ == '__main__':
    beachtest.main()
