#!/usr/bin/python3
"""bench-cluster: several managers on one Redis (issue #14), timed.

Runs a real redis-server (unix socket), 1, 2 and 3 beach-manager processes
on it, and real hosts (tests/harness-peer, BeachHarness) spread over them:
session i's host links to manager i mod N. Two figures:

  - aggregate throughput: controller threads POST batches of actions to
    random managers (so most calls are forwarded to the owner's inbox) for
    a fixed time; the figure is actions applied by the hosts per second,
    from the first POST until the last action is applied. Every action is
    checked applied exactly once, and no action may enter a fallback queue
    (the links stay healthy).
  - forwarding overhead: with 2 managers, one action at a time, POST ->
    answer and POST -> applied by the host, sent to the owner directly
    and to the other manager (forwarded through Redis).

The daemons, Redis, the hosts and the controllers all share this machine's
cores: the throughput figures say how the forwarding costs add up, not how
N machines would scale.

Prints one JSON object.

    BEACH_MANAGER=build/src/manager/beach-manager \\
    BEACH_HARNESS_PEER=build/tests/harness-peer \\
    GST_REGISTRY=build/gst-registry.bin \\
        /usr/bin/python3 bench/bench-cluster.py [--seconds 5] [--samples 300]

SPDX-License-Identifier: LGPL-2.1-or-later
"""

import argparse
import collections
import json
import os
import random
import secrets
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'e2e'))

import beachtest  # noqa: E402
import test_harness as th  # noqa: E402
from redisfixture import RedisServer  # noqa: E402

SESSIONS = 6
BATCH = 20
CONTROLLERS = 4


def fail(msg):
    raise SystemExit('bench-cluster: ' + msg)


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail('timed out waiting for %s' % what)
        time.sleep(0.005)


def pct(samples, p):
    s = sorted(samples)
    return round(s[min(len(s) - 1, int(p / 100.0 * len(s)))], 3)


def summary(samples):
    return {'p50': pct(samples, 50), 'p99': pct(samples, 99), 'mean': round(statistics.mean(samples), 3),
            'n': len(samples)}


class Host(th.Harness):
    def __init__(self, d, session_id, token, name):
        argv = [th.PEER, '--url', 'http://%s:%d' % (d.host, d.port), '--session-id', session_id,
                '--private-beach-id', 'pb', '--token', token]
        beachtest.PeerProcess.__init__(self, argv, name, 'bench-cluster-')

    def applied(self):
        with self.cond:
            return [(t, l[7:]) for t, l in self.lines if l.startswith('ACTION ')]


class Cluster:
    def __init__(self, n):
        self.redis = RedisServer()
        self.redis.start()
        self.token = secrets.token_hex(16)
        self.managers = []
        self.hosts = {}
        for i in range(n):
            d = beachtest.Daemon({'cluster': {'instance_id': 'm%d' % i}}, operator_token=self.token,
                                 name='m%d' % i, args=['--queue', 'redis', '--redis-url', self.redis.url])
            d.start()
            d.wait_ready(20.0)
            self.managers.append(d)

    def req(self, d, method, path, body=None, token=None):
        return d.req(method, path, token or self.token, body)

    def add_session(self, sid, home):
        status, body, _ = self.req(self.managers[0], 'POST', '/sessions/register',
                                   {'session_id': sid, 'private_beach_id': 'pb', 'harness_type': 'terminal_shim',
                                    'capabilities': ['terminal_write'], 'version': '1.0.0'})
        if status != 200:
            fail('register: %s %s' % (status, body))
        h = Host(home, sid, body['session_token'], 'host-' + sid)
        h.wait_line('LINK healthy', 60.0)
        wait_until(lambda: (self.redis.call('GET', 'beach:{pb:%s}:owner' % sid) or '').startswith(
            home.name + ' '), 20.0, 'owner of ' + sid)
        status, body, _ = self.req(home, 'POST', '/sessions/%s/controller/lease' % sid, {'ttl_ms': 600000})
        if status != 200:
            fail('lease: %s %s' % (status, body))
        self.hosts[sid] = (h, body['controller_token'])
        return h

    def post(self, d, sid, ids):
        lease = self.hosts[sid][1]
        status, out, _ = d.req('POST', '/sessions/%s/actions' % sid, lease,
                               {'controller_token': lease,
                                'actions': [beachtest.BeachTestCase.action(i) for i in ids]})
        if status != 200 or out.get('transport') != 'fast_path':
            fail('POST on %s: %s %s' % (d.name, status, out))
        return out

    def counter(self, name):
        total = 0
        for d in self.managers:
            status, text, _ = d.req('GET', '/metrics')
            series = beachtest.parse_metrics(text)[0]
            total += sum(v for (n, _), v in series.items() if n == name)
        return total

    def close(self):
        for h, _ in self.hosts.values():
            h.stop()
            h.cleanup()
        for d in self.managers:
            d.stop()
            d.cleanup()
        self.redis.cleanup()


def throughput(n, seconds):
    c = Cluster(n)
    try:
        for i in range(SESSIONS):
            c.add_session('t%d' % i, c.managers[i % n])
        sids = sorted(c.hosts)
        stop = threading.Event()
        sent = collections.defaultdict(list)
        lock = threading.Lock()

        def controller(idx):
            rng = random.Random(idx)
            k = 0
            while not stop.is_set():
                sid = rng.choice(sids)
                ids = ['c%d-%d-%d' % (idx, k, j) for j in range(BATCH)]
                k += 1
                c.post(rng.choice(c.managers), sid, ids)
                with lock:
                    sent[sid].extend(ids)

        t0 = time.monotonic()
        threads = [threading.Thread(target=controller, args=(i,), daemon=True) for i in range(CONTROLLERS)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(30.0)
        total = sum(len(v) for v in sent.values())
        last = 0.0
        for sid, ids in sent.items():
            h = c.hosts[sid][0]
            wait_until(lambda: len(h.applied()) >= len(ids), 60.0, '%s applied' % sid)
            applied = h.applied()
            got = [i for _, i in applied]
            if sorted(got) != sorted(ids):
                fail('%s: applied %d (%d distinct) of %d' % (sid, len(got), len(set(got)), len(ids)))
            last = max(last, max(t for t, _ in applied))
        enqueued = c.counter('actions_enqueued_total')
        forwarded = c.counter('cluster_actions_forwarded_total')
        if enqueued:
            fail('%d actions went into a fallback queue with healthy links' % enqueued)
        return {'instances': n, 'actions': total, 'seconds': round(last - t0, 2),
                'actions_per_s': round(total / (last - t0)), 'forwarded': int(forwarded)}
    finally:
        c.close()


def overhead(samples):
    c = Cluster(2)
    try:
        h = c.add_session('o0', c.managers[0])
        out = {}
        for label, d in (('direct', c.managers[0]), ('forwarded', c.managers[1])):
            answer, applied = [], []
            for k in range(samples):
                aid = '%s-%d' % (label, k)
                before = len(h.lines)
                t0 = time.monotonic()
                c.post(d, 'o0', [aid])
                t1 = time.monotonic()
                t2, _ = wait_until(lambda: next(((t, l) for t, l in h.lines[before:] if l == 'ACTION ' + aid), None),
                                   10.0, 'action %s' % aid)
                answer.append((t1 - t0) * 1000)
                applied.append((t2 - t0) * 1000)
            out[label] = {'answer_ms': summary(answer), 'applied_ms': summary(applied)}
        out['extra_applied_p50_ms'] = round(out['forwarded']['applied_ms']['p50'] - out['direct']['applied_ms']['p50'], 3)
        return out
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=5.0)
    ap.add_argument('--samples', type=int, default=300)
    ap.add_argument('--instances', default='1,2,3')
    args = ap.parse_args()
    runs = [throughput(int(n), args.seconds) for n in args.instances.split(',')]
    base = runs[0]['actions_per_s']
    for r in runs:
        r['vs_first'] = round(r['actions_per_s'] / base, 2)
    result = {'throughput': {'i%d' % r['instances']: r for r in runs}, 'overhead': overhead(args.samples)}
    print(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
