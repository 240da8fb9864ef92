#!/usr/bin/python3
"""bench-failover: fast path -> HTTP fallback and back, timed.

Runs the real daemon and a real host (tests/harness-peer, BeachHarness) on
loopback. Each cycle starts with the link healthy and the host's poller
paused, then kills the link one of two ways:
  - freeze: the host's link goes silent (it sends nothing, as a hung host
    would); the manager notices after its heartbeat timeout (1.5 s);
  - drop: the host closes the link gracefully; the manager sees it at once.
While the link is down a controller POSTs one action every 10 ms with
"fallback":"allow". Per cycle:
  - failover_ms: link death until the host has the first action the
    manager routed to the fallback (the first POST answered
    "transport":"http_fallback"), i.e. delivered by the host's poller;
  - demoted_ms: link death until the first POST answered http_fallback;
  - poller_resumed_ms: link death until the host's poller runs again;
  - reconnect_ms: from the drop (after a freeze the host is told to
    `drop` the frozen link once failover was seen, rather than waiting 10 s
    for the manager to close it) until the host's new link is healthy;
  - recovery_ms: the link back (the host reports it healthy again) until
    the poller pauses (POLLING 0). The harness pauses on a ping that says
    pending 0, so this is 0 or about one ping interval (1 s).
Every action is checked applied exactly once at the end. The 10 ms POST
interval bounds the resolution of failover_ms and demoted_ms.
Prints one JSON object with each figure's median, min and max over the
cycles, and the samples.

    BEACH_MANAGER=build/src/manager/beach-manager \\
    BEACH_HARNESS_PEER=build/tests/harness-peer \\
    GST_REGISTRY=build/gst-registry.bin \\
        /usr/bin/python3 bench/bench-failover.py [--cycles 5]

SPDX-License-Identifier: LGPL-2.1-or-later
"""

import argparse
import collections
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'e2e'))

import beachtest  # noqa: E402
import test_harness as th  # noqa: E402

POST_EVERY = 0.010
SID = 'fo'


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise SystemExit('bench-failover: timed out waiting for %s' % what)
        time.sleep(0.005)


def line_after(h, start, pred):
    """(time, line) of the first stdout line from index start matching."""
    with h.cond:
        for t, line in h.lines[start:]:
            if pred(line):
                return t, line
    return None


def summary(samples):
    if not samples:
        return None
    return {'median': round(statistics.median(samples), 1), 'min': round(min(samples), 1),
            'max': round(max(samples), 1), 'n': len(samples)}


class Controller(threading.Thread):
    """POSTs one action every POST_EVERY s with fallback allowed."""

    def __init__(self, d, lease, prefix):
        super().__init__(daemon=True)
        self.d, self.lease, self.prefix = d, lease, prefix
        self.stop = threading.Event()
        self.posts = []          # (id, answered at, transport)
        self.lock = threading.Lock()

    def run(self):
        i = 0
        nxt = time.monotonic()
        while not self.stop.is_set():
            aid = '%s%04d' % (self.prefix, i)
            i += 1
            status, out, _ = self.d.req('POST', '/sessions/%s/actions' % SID, self.lease,
                                        {'controller_token': self.lease, 'fallback': 'allow',
                                         'actions': [beachtest.BeachTestCase.action(aid)]})
            if status != 200:
                raise SystemExit('bench-failover: POST: HTTP %d: %s' % (status, out))
            with self.lock:
                self.posts.append((aid, time.monotonic(), out.get('transport')))
            nxt += POST_EVERY
            left = nxt - time.monotonic()
            if left > 0:
                self.stop.wait(left)
            else:
                nxt = time.monotonic()

    def first_fallback(self):
        with self.lock:
            for aid, t, transport in self.posts:
                if transport == 'http_fallback':
                    return aid, t
        return None


def cycle(d, h, lease, how, n, verbose):
    wait_until(lambda: h.paused() and h.last('LINK ') == 'LINK healthy', 30.0,
               'the link healthy and the poller paused')
    start = len(h.lines)
    c = Controller(d, lease, '%s%d-' % (how[0], n))
    t_kill = time.monotonic()
    h.send(how)
    c.start()
    aid, t_demoted = wait_until(c.first_fallback, 15.0, 'a POST answered http_fallback')
    t_first, _ = wait_until(lambda: line_after(h, start, lambda l: l == 'ACTION ' + aid), 15.0,
                            'the first fallback action at the host')
    c.stop.set()
    c.join(10.0)
    resumed = line_after(h, start, lambda l: l.startswith('POLLING 1 '))
    t_drop = t_kill
    if how == 'freeze':
        # bring it back without waiting for the manager to close the silent
        # link (10 s unhealthy): the host closes it, then reconnects
        t_drop = time.monotonic()
        h.send('drop')
    t_back, _ = wait_until(lambda: line_after(h, start, lambda l: l == 'LINK healthy'), 30.0,
                           'the link healthy again')
    back_at = [i for i, (t, l) in enumerate(h.lines[start:]) if t == t_back and l == 'LINK healthy'][0]
    t_paused, _ = wait_until(lambda: line_after(h, start + back_at, lambda l: l.startswith('POLLING 0 ')), 30.0,
                             'the poller paused again')
    r = {'failover_ms': (t_first - t_kill) * 1000, 'demoted_ms': (t_demoted - t_kill) * 1000,
         'poller_resumed_ms': (resumed[0] - t_kill) * 1000 if resumed else None,
         'reconnect_ms': (t_back - t_drop) * 1000, 'recovery_ms': (t_paused - t_back) * 1000,
         'posted': len(c.posts)}
    if verbose:
        print('bench-failover: %s %d: %s' % (how, n, r), file=sys.stderr)
    return r, [p[0] for p in c.posts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cycles', type=int, default=5, help='cycles per way of killing the link')
    ap.add_argument('--verbose', '-v', action='store_true')
    args = ap.parse_args()

    d = beachtest.Daemon(name='bench')
    d.start()
    h = th.Harness(d, SID, d.operator_token, name='host')
    result = {'bench': 'failover', 'cycles': args.cycles, 'post_interval_ms': POST_EVERY * 1000}
    t0 = time.monotonic()
    try:
        h.started()
        h.wait_line('LINK healthy', 30.0)
        status, out, _ = d.req('POST', '/sessions/%s/controller/lease' % SID, d.operator_token,
                               {'ttl_ms': 3600 * 1000})
        if status != 200:
            raise SystemExit('bench-failover: lease: HTTP %d: %s' % (status, out))
        lease = out['controller_token']
        sent = []
        for how in ('drop', 'freeze'):
            rows = []
            for i in range(args.cycles):
                r, ids = cycle(d, h, lease, how, i, args.verbose)
                rows.append(r)
                sent.extend(ids)
            result[how] = {k: summary([r[k] for r in rows if r[k] is not None])
                           for k in ('failover_ms', 'demoted_ms', 'poller_resumed_ms', 'reconnect_ms', 'recovery_ms')}
            result[how]['samples'] = {k: [round(r[k], 1) if r[k] is not None else None for r in rows]
                                      for k in ('failover_ms', 'recovery_ms')}
        wait_until(lambda: len(h.actions()) >= len(sent), 30.0, 'every action at the host')
        applied = collections.Counter(h.actions())
        result['actions'] = len(sent)
        result['losses'] = sum(1 for i in sent if applied[i] == 0)
        result['duplicates'] = sum(1 for i in sent if applied[i] > 1)
    finally:
        h.stop()
        h.cleanup()
        d.stop()
        d.cleanup()
    result['wall_secs'] = round(time.monotonic() - t0, 1)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
