#!/usr/bin/python3
"""bench-handshake: controller handshake latency, and renewal under load.

Runs the real daemon and a real host (tests/harness-peer, BeachHarness) on
loopback, then:
  1. `refresh` latency: N full handshakes on a healthy link, one at a time
     (p50/p99), and the same for `/renew`;
  2. `renegotiate` latency: the host frozen (SIGSTOP), N handshakes that
     each issue a new id (the 10 s reuse window is waited out between
     them only when --renegotiate-wait is given; by default the reuse path
     is what is measured after the first);
  3. renewal under load: RATE actions/s in POSTs of BATCH for SECS seconds
     (or, with --renewals N, until N handshakes were made) while the
     controller calls the full handshake every --renew-interval (100 ms),
     and prints flaps (transport transitions, poller resumes, handshake
     ids, link generations), losses and duplicates.
Prints one JSON object.

    BEACH_MANAGER=build/src/manager/beach-manager \\
    BEACH_HARNESS_PEER=build/tests/harness-peer \\
    GST_REGISTRY=build/gst-registry.bin \\
        /usr/bin/python3 bench/bench-handshake.py [--secs 30] [--calls 2000]

SPDX-License-Identifier: LGPL-2.1-or-later
"""

import argparse
import collections
import json
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'e2e'))

import beachtest  # noqa: E402
import test_harness as th  # noqa: E402
from beachtest import parse_metrics  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    if not s:
        return None
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def summary_ms(samples):
    return {'n': len(samples), 'p50_ms': round(pct(samples, 50) * 1000, 3),
            'p99_ms': round(pct(samples, 99) * 1000, 3), 'max_ms': round(max(samples) * 1000, 3)}


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit('bench-handshake: timed out waiting for %s' % what)
        time.sleep(0.01)


def transitions(d):
    series = parse_metrics(d.req('GET', '/metrics')[1])[0]
    return sum(v for (name, _), v in series.items() if name == 'transport_transitions_total')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--secs', type=float, default=30.0, help='renewal-under-load run length')
    ap.add_argument('--calls', type=int, default=2000, help='handshakes per latency sample')
    ap.add_argument('--rate', type=int, default=1000, help='actions per second under load')
    ap.add_argument('--batch', type=int, default=100, help='actions per POST')
    ap.add_argument('--renewals', type=int, default=0,
                    help='renewal under load: run until this many handshakes (0: for --secs)')
    ap.add_argument('--renew-interval', type=float, default=0.1, help='seconds between handshakes under load')
    args = ap.parse_args()

    d = beachtest.Daemon(name='bench')
    d.start()
    h = th.Harness(d, 'b1', d.operator_token, name='host')
    result = {'bench': 'handshake'}
    try:
        token = h.started()
        h.wait_line('LINK healthy', 30.0)
        wait_until(lambda: h.paused(), 15.0, 'the host to pause polling')
        op = d.operator_token

        def handshake(bearer, renew=False, body=None):
            t0 = time.perf_counter()
            status, out, _ = d.req('POST', '/sessions/b1/controller-handshake' + ('/renew' if renew else ''),
                                   bearer, body or {})
            dt = time.perf_counter() - t0
            if status != 200:
                raise SystemExit('bench-handshake: HTTP %d: %s' % (status, out))
            return dt, out

        _, first = handshake(op)
        lease = first['controller_token']
        lat = [handshake(lease)[0] for _ in range(args.calls)]
        result['refresh'] = summary_ms(lat)
        lat = [handshake(lease, renew=True)[0] for _ in range(args.calls)]
        result['renew'] = summary_ms(lat)

        # Renewal under load.
        s0 = d.req('GET', '/sessions/b1', op)[1]
        t0 = transitions(d)
        polls0 = len([l for l in h.tail(10 ** 7) if l.startswith('POLLING ')])
        stop = threading.Event()
        kinds = collections.Counter()
        hids = set()
        hs_lat = []

        def renewer():
            while not stop.is_set():
                dt, out = handshake(lease, body={'controller_token': lease})
                hs_lat.append(dt)
                kinds[out['handshake_kind']] += 1
                hids.add(out['handshake_id'])
                if args.renewals and len(hs_lat) >= args.renewals:
                    return
                stop.wait(args.renew_interval)

        thread = threading.Thread(target=renewer)
        thread.start()
        sent = []
        start = time.monotonic()
        while (thread.is_alive() if args.renewals else time.monotonic() - start < args.secs):
            batch = ['u%07d' % (len(sent) + i) for i in range(args.batch)]
            status, out, _ = d.req('POST', '/sessions/b1/actions', lease,
                                   {'controller_token': lease, 'actions': [beachtest.BeachTestCase.action(i)
                                                                           for i in batch]})
            if status != 200:
                raise SystemExit('bench-handshake: POST /actions: HTTP %d: %s' % (status, out))
            sent.extend(batch)
            ahead = start + len(sent) / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        elapsed = time.monotonic() - start
        stop.set()
        thread.join(10.0)
        deadline = time.monotonic() + 60.0
        while len(h.actions()) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        applied = collections.Counter(h.actions())
        s1 = d.req('GET', '/sessions/b1', op)[1]
        result['renewal_under_load'] = {
            'secs': round(elapsed, 2),
            'renew_interval_ms': round(args.renew_interval * 1000, 1),
            'actions': len(sent),
            'actions_per_s': round(len(sent) / elapsed, 1),
            'handshakes': dict(kinds),
            'handshake_latency': summary_ms(hs_lat),
            'flaps': {
                'transport_transitions': transitions(d) - t0,
                'poller_resumes': len([l for l in h.tail(10 ** 7) if l.startswith('POLLING ')]) - polls0,
                'handshake_ids': len(hids | {s0['handshake_id'], s1['handshake_id']}) - 1,
                'link_generation_changes': s1['link_generation'] - s0['link_generation'],
            },
            'losses': sum(1 for i in sent if applied[i] == 0),
            'duplicates': sum(1 for i in sent if applied[i] > 1),
        }

        # Renegotiation: the host frozen, so no link is healthy.
        h.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: not d.req('GET', '/sessions/b1', op)[1]['fast_path_ready'], 10.0,
                       'the frozen link to be noticed')
            dt, out = handshake(lease)
            lat = [handshake(lease)[0] for _ in range(min(args.calls, 500))]
            result['renegotiate_first_ms'] = round(dt * 1000, 3)
            result['renegotiate_reused'] = summary_ms(lat)
        finally:
            h.proc.send_signal(signal.SIGCONT)
    finally:
        h.stop()
        h.cleanup()
        d.stop()
        d.cleanup()
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
