#!/usr/bin/python3
"""aggregate: bench/results/raw-*/ -> latest.json, PNG plots, a summary table.

scripts/bench runs every bench program several times and leaves, per run,
NAME.I.json (its stdout: one JSON object), NAME.I.err (its stderr) and
NAME.I.time (`/usr/bin/time -v`) in one raw directory; warm-up runs are
NAME.warmup.*. This reads them, takes for every figure the median, min and
max over the runs, pairs each figure with its baseline (measured in the
same invocation where the program does both sides: the ratio is then taken
per run and its median reported; otherwise the ratio of the medians, and
the row says so), writes OUT/latest.json and a timestamped copy, draws PNG
plots with gnuplot into OUT, and prints the table.

    /usr/bin/python3 bench/aggregate.py --raw DIR --out DIR [--quick]
        [--started EPOCH_SECS]

Standard library only. SPDX-License-Identifier: LGPL-2.1-or-later
"""

import argparse
import glob
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

# -- reading the runs ------------------------------------------------------


def parse_time_v(path):
    """The whole-process figures of one `/usr/bin/time -v` report."""
    out = {}
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return out
    m = re.search(r'User time \(seconds\): ([\d.]+)', text)
    if m:
        out['user_s'] = float(m.group(1))
    m = re.search(r'System time \(seconds\): ([\d.]+)', text)
    if m:
        out['sys_s'] = float(m.group(1))
    m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', text)
    if m:
        out['max_rss_kb'] = int(m.group(1))
    m = re.search(r'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)', text)
    if m:
        secs = 0.0
        for part in m.group(1).split(':'):
            secs = secs * 60 + float(part)
        out['wall_s'] = secs
    m = re.search(r'Exit status: (\d+)', text)
    if m:
        out['exit_status'] = int(m.group(1))
    if 'user_s' in out and 'sys_s' in out:
        out['cpu_s'] = round(out['user_s'] + out['sys_s'], 2)
    return out


def load_runs(raw, name):
    """[(json or None, time -v dict, error text)] for NAME.1, NAME.2, ..."""
    runs = []
    paths = sorted(glob.glob(os.path.join(raw, '%s.[0-9]*.json' % glob.escape(name))),
                   key=lambda p: int(p.rsplit('.', 2)[1]))
    for p in paths:
        base = p[:-len('.json')]
        obj, err = None, ''
        try:
            with open(p) as f:
                text = f.read().strip()
            # one JSON object, maybe indented; else its last line that is one
            obj = json.loads(text) if text.startswith('{') and text.endswith('}') else None
            if obj is None:
                for line in reversed(text.splitlines()):
                    line = line.strip()
                    if line.startswith('{'):
                        obj = json.loads(line)
                        break
        except (OSError, ValueError) as e:
            err = 'unreadable output: %s' % e
        if obj is None and not err:
            try:
                with open(base + '.err') as f:
                    tail = f.read().strip().splitlines()[-5:]
            except OSError:
                tail = []
            err = 'no JSON output; stderr ends: %s' % ' | '.join(tail)
        runs.append((obj, parse_time_v(base + '.time'), err))
    return runs


def get(obj, path):
    for key in path.split('.'):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj if isinstance(obj, (int, float)) and not isinstance(obj, bool) else None


def agg(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {'median': round(statistics.median(values), 4), 'min': round(min(values), 4),
            'max': round(max(values), 4), 'n': len(values)}


def numeric_leaves(obj, prefix=''):
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(numeric_leaves(v, prefix + k + '.'))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = obj
    return out


# -- the figures -----------------------------------------------------------

# (id, group, label, unit, (bench, path), (bench, path) or None, baseline label)
# A baseline in the same bench is paired run by run.
FIGURES = [
    # fast path, 200 B
    ('fp200_ack_p50', 'fast path 200 B', 'fast path POST->ack p50', 'ms',
     ('fastpath-200', 'manager.ack_p50_ms'), ('fastpath-200', 'raw_pair.p50_ms'), 'raw webrtcbin pair RTT'),
    ('fp200_ack_p99', 'fast path 200 B', 'fast path POST->ack p99', 'ms',
     ('fastpath-200', 'manager.ack_p99_ms'), ('fastpath-200', 'raw_pair.p99_ms'), 'raw webrtcbin pair RTT'),
    ('fp200_ack_p999', 'fast path 200 B', 'fast path POST->ack p99.9', 'ms',
     ('fastpath-200', 'manager.ack_p999_ms'), ('fastpath-200', 'raw_pair.p999_ms'), 'raw webrtcbin pair RTT'),
    ('fp200_deliver_p50', 'fast path 200 B', 'fast path POST->applied p50', 'ms',
     ('fastpath-200', 'manager.deliver_p50_ms'), ('fastpath-200', 'raw_pair.deliver_p50_ms'),
     'raw webrtcbin one way'),
    ('fp200_deliver_p99', 'fast path 200 B', 'fast path POST->applied p99', 'ms',
     ('fastpath-200', 'manager.deliver_p99_ms'), ('fastpath-200', 'raw_pair.deliver_p99_ms'),
     'raw webrtcbin one way'),
    ('fp200_deliver_p999', 'fast path 200 B', 'fast path POST->applied p99.9', 'ms',
     ('fastpath-200', 'manager.deliver_p999_ms'), ('fastpath-200', 'raw_pair.deliver_p999_ms'),
     'raw webrtcbin one way'),
    ('fp200_ack_p50_ndc', 'fast path 200 B', 'fast path POST->ack p50', 'ms',
     ('fastpath-200', 'manager.ack_p50_ms'), ('ndc-200', 'round_trip.p50_ms'), 'node-datachannel RTT'),
    ('fp200_ack_p99_ndc', 'fast path 200 B', 'fast path POST->ack p99', 'ms',
     ('fastpath-200', 'manager.ack_p99_ms'), ('ndc-200', 'round_trip.p99_ms'), 'node-datachannel RTT'),
    ('fp200_ack_p999_ndc', 'fast path 200 B', 'fast path POST->ack p99.9', 'ms',
     ('fastpath-200', 'manager.ack_p999_ms'), ('ndc-200', 'round_trip.p999_ms'), 'node-datachannel RTT'),
    ('fp200_tput', 'fast path 200 B', 'fast path throughput (batched POSTs)', 'actions/s',
     ('fastpath-200', 'manager.actions_per_s'), ('fastpath-200', 'raw_pair.frames_per_s'), 'raw webrtcbin pair'),
    ('fp200_tput_ndc', 'fast path 200 B', 'fast path throughput (batched POSTs)', 'actions/s',
     ('fastpath-200', 'manager.actions_per_s'), ('ndc-200', 'frames_per_s'), 'node-datachannel'),
    # fast path, 16 KiB
    ('fp16k_ack_p50', 'fast path 16 KiB', 'fast path POST->ack p50', 'ms',
     ('fastpath-16k', 'manager.ack_p50_ms'), ('fastpath-16k', 'raw_pair.p50_ms'), 'raw webrtcbin pair RTT'),
    ('fp16k_ack_p99', 'fast path 16 KiB', 'fast path POST->ack p99', 'ms',
     ('fastpath-16k', 'manager.ack_p99_ms'), ('fastpath-16k', 'raw_pair.p99_ms'), 'raw webrtcbin pair RTT'),
    ('fp16k_ack_p50_ndc', 'fast path 16 KiB', 'fast path POST->ack p50', 'ms',
     ('fastpath-16k', 'manager.ack_p50_ms'), ('ndc-16k', 'round_trip.p50_ms'), 'node-datachannel RTT'),
    ('fp16k_tput', 'fast path 16 KiB', 'fast path throughput (batched POSTs)', 'actions/s',
     ('fastpath-16k', 'manager.actions_per_s'), ('fastpath-16k', 'raw_pair.frames_per_s'), 'raw webrtcbin pair'),
    ('fp16k_tput_ndc', 'fast path 16 KiB', 'fast path throughput (batched POSTs)', 'actions/s',
     ('fastpath-16k', 'manager.actions_per_s'), ('ndc-16k', 'frames_per_s'), 'node-datachannel'),
    # fallback
    ('fb_mem_p50', 'fallback', 'long-poll memory p50', 'ms',
     ('redis', 'memory.p50_ms'), ('redis', 'raw_hiredis.p50_ms'), 'raw hiredis loop'),
    ('fb_mem_p99', 'fallback', 'long-poll memory p99', 'ms',
     ('redis', 'memory.p99_ms'), ('redis', 'raw_hiredis.p99_ms'), 'raw hiredis loop'),
    ('fb_mem_p999', 'fallback', 'long-poll memory p99.9', 'ms',
     ('redis', 'memory.p999_ms'), ('redis', 'raw_hiredis.p999_ms'), 'raw hiredis loop'),
    ('fb_redis_p50', 'fallback', 'long-poll Redis p50', 'ms',
     ('redis', 'redis.p50_ms'), ('redis', 'raw_hiredis.p50_ms'), 'raw hiredis loop'),
    ('fb_redis_p99', 'fallback', 'long-poll Redis p99', 'ms',
     ('redis', 'redis.p99_ms'), ('redis', 'raw_hiredis.p99_ms'), 'raw hiredis loop'),
    ('fb_redis_p999', 'fallback', 'long-poll Redis p99.9', 'ms',
     ('redis', 'redis.p999_ms'), ('redis', 'raw_hiredis.p999_ms'), 'raw hiredis loop'),
    ('fb_redis_tput', 'fallback', 'long-poll Redis throughput', 'actions/s',
     ('redis', 'redis.throughput_per_s'), ('redis', 'raw_hiredis.throughput_per_s'), 'raw hiredis loop'),
    ('fb_lp_p50_vs50', 'fallback', 'long-poll memory p50', 'ms',
     ('poll-long', 'p50_ms'), ('poll-50ms', 'p50_ms'), '50 ms polling (old)'),
    ('fb_lp_p99_vs50', 'fallback', 'long-poll memory p99', 'ms',
     ('poll-long', 'p99_ms'), ('poll-50ms', 'p99_ms'), '50 ms polling (old)'),
    ('fb_lp_p999_vs50', 'fallback', 'long-poll memory p99.9', 'ms',
     ('poll-long', 'p999_ms'), ('poll-50ms', 'p999_ms'), '50 ms polling (old)'),
    # failover
    ('fo_drop', 'failover', 'failover, link closed (median of cycles)', 'ms',
     ('failover', 'drop.failover_ms.median'), None, ''),
    ('fo_freeze', 'failover', 'failover, link silent (median of cycles)', 'ms',
     ('failover', 'freeze.failover_ms.median'), ('failover', '=1500'), 'heartbeat timeout'),
    ('fo_detect', 'failover', 'silent link detected by the manager', 'ms',
     ('fastpath-200', 'detection_ms.median'), ('fastpath-200', '=1500'), 'heartbeat timeout'),
    ('fo_reconnect', 'failover', 'reconnect, link closed -> healthy', 'ms',
     ('failover', 'drop.reconnect_ms.median'), None, ''),
    ('fo_recovery_drop', 'failover', 'recovery, link back -> poller paused', 'ms',
     ('failover', 'drop.recovery_ms.median'), None, ''),
    ('fo_recovery_freeze', 'failover', 'recovery after a silent link', 'ms',
     ('failover', 'freeze.recovery_ms.median'), None, ''),
    ('fo_losses', 'failover', 'failover cycles: lost + duplicated actions', 'actions',
     ('failover', '+losses+duplicates'), None, ''),
    # scale-out (several managers on one Redis; they share this machine's cores)
    ('cl_tput1', 'scale-out', 'aggregate throughput, 1 manager', 'actions/s',
     ('cluster', 'throughput.i1.actions_per_s'), None, ''),
    ('cl_tput2', 'scale-out', 'aggregate throughput, 2 managers', 'actions/s',
     ('cluster', 'throughput.i2.actions_per_s'), ('cluster', 'throughput.i1.actions_per_s'), '1 manager'),
    ('cl_tput3', 'scale-out', 'aggregate throughput, 3 managers', 'actions/s',
     ('cluster', 'throughput.i3.actions_per_s'), ('cluster', 'throughput.i1.actions_per_s'), '1 manager'),
    ('cl_fwd_answer_p50', 'scale-out', 'POST answered, via a non-owner, p50', 'ms',
     ('cluster', 'overhead.forwarded.answer_ms.p50'), ('cluster', 'overhead.direct.answer_ms.p50'),
     'direct to the owner'),
    ('cl_fwd_applied_p50', 'scale-out', 'POST -> applied by the host, via a non-owner, p50', 'ms',
     ('cluster', 'overhead.forwarded.applied_ms.p50'), ('cluster', 'overhead.direct.applied_ms.p50'),
     'direct to the owner'),
    ('cl_fwd_applied_p99', 'scale-out', 'POST -> applied by the host, via a non-owner, p99', 'ms',
     ('cluster', 'overhead.forwarded.applied_ms.p99'), ('cluster', 'overhead.direct.applied_ms.p99'),
     'direct to the owner'),
    # renewal
    ('rn_count', 'renewal', 'renewals under load (1000 actions/s)', 'handshakes',
     ('handshake', 'renewal_under_load.handshake_latency.n'), None, ''),
    ('rn_flaps', 'renewal', 'renewal flaps (transitions+resumes+ids+gens)', 'count',
     ('handshake', '+renewal_under_load.flaps.transport_transitions+renewal_under_load.flaps.poller_resumes'
      '+renewal_under_load.flaps.handshake_ids+renewal_under_load.flaps.link_generation_changes'), None, ''),
    ('rn_losses', 'renewal', 'renewal losses', 'actions', ('handshake', 'renewal_under_load.losses'), None, ''),
    ('rn_dups', 'renewal', 'renewal duplicates', 'actions', ('handshake', 'renewal_under_load.duplicates'),
     None, ''),
    ('rn_hs_p50', 'renewal', 'handshake under load p50', 'ms',
     ('handshake', 'renewal_under_load.handshake_latency.p50_ms'), None, ''),
    ('rn_hs_p99', 'renewal', 'handshake under load p99', 'ms',
     ('handshake', 'renewal_under_load.handshake_latency.p99_ms'), None, ''),
    # whole process
    ('wp_daemon_rss', 'process', 'daemon peak RSS (fast path 200 B run)', 'KiB',
     ('fastpath-200', 'manager.daemon_peak_rss_kb'), None, ''),
    ('wp_daemon_cpu_fp', 'process', 'daemon CPU per fast-path action', 'us',
     ('fastpath-200', 'manager.cpu_us_per_action.daemon'), None, ''),
    ('wp_daemon_cpu_mem', 'process', 'daemon CPU per fallback action, memory', 'us',
     ('redis', 'memory.cpu_us_per_action.daemon'), None, ''),
    ('wp_daemon_cpu_redis', 'process', 'daemon+redis CPU per fallback action', 'us',
     ('redis', '+redis.cpu_us_per_action.daemon+redis.cpu_us_per_action.redis'), ('redis',
                                                                                   'raw_hiredis.cpu_us_per_action.redis'),
     'redis CPU, raw hiredis loop'),
]


def value(obj, path):
    if obj is None:
        return None
    if path.startswith('='):
        return float(path[1:])
    if path.startswith('+'):
        parts = [get(obj, p) for p in path[1:].split('+')]
        return None if any(p is None for p in parts) else sum(parts)
    return get(obj, path)


def inner_summary(runs, bench, path):
    """With one run and PATH naming the median of a {median, min, max, n}
    the program computed itself (over cycles), that summary."""
    rs = [o for o, _, _ in runs.get(bench, []) if o is not None]
    if len(rs) != 1 or not path.endswith('.median'):
        return None
    obj = rs[0]
    for key in path[:-len('.median')].split('.'):
        obj = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(obj, dict) and all(isinstance(obj.get(k), (int, float)) for k in ('median', 'min', 'max')):
        return {'median': obj['median'], 'min': obj['min'], 'max': obj['max'], 'n': obj.get('n', 1),
                'over': 'cycles of one run'}
    return None


def figure_row(fid, group, label, unit, ours, base, base_label, runs):
    ob, op = ours
    ov = [value(o, op) for o, _, _ in runs.get(ob, [])]
    row = {'id': fid, 'group': group, 'figure': label, 'unit': unit,
           'ours': inner_summary(runs, ob, op) or agg(ov), 'runs': len([v for v in ov if v is not None])}
    if base is None:
        return row
    bb, bp = base
    bv = [value(o, bp) for o, _, _ in runs.get(bb, [])]
    row['baseline_name'] = base_label
    row['baseline'] = agg(bv)
    if bb == ob and not bp.startswith('='):
        ratios = [a / b for a, b in zip(ov, bv) if a is not None and b]
        row['ratio'] = agg(ratios)
        row['ratio_kind'] = 'per run, both sides in the same invocation'
    elif row['ours'] and row['baseline'] and row['baseline']['median']:
        row['ratio'] = {'median': round(row['ours']['median'] / row['baseline']['median'], 4)}
        row['ratio_kind'] = ('ours against a fixed goal' if bp.startswith('=') else
                             'of the medians, the baseline in a separate process in the same suite run')
    return row


def scale_rows(scale):
    """Table rows from bench-scale's JSON (its largest N), when present."""
    rows = []

    def row(fid, label, unit, v):
        if isinstance(v, dict) and isinstance(v.get('median'), (int, float)):
            a = {'median': v['median'], 'min': v.get('min', v['median']), 'max': v.get('max', v['median']),
                 'n': 2, 'over': 'samples of one run'}
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            a = {'median': v, 'min': v, 'max': v, 'n': 1}
        else:
            return
        rows.append({'id': fid, 'group': 'scale', 'figure': label, 'unit': unit, 'ours': a, 'runs': 1})

    links = [e for e in (scale.get('links') or []) if isinstance(e, dict) and isinstance(e.get('n'), int)]
    if links:
        e = max(links, key=lambda e: e['n'])
        n = e['n']
        row('sc_up', '%d links: all healthy after' % n, 's', e.get('up_secs'))
        row('sc_healthy', '%d links: healthy (daemon view)' % n, 'count', e.get('healthy_daemon_view'))
        row('sc_rss', '%d links: daemon RSS' % n, 'KiB', e.get('rss_kib'))
        row('sc_rss_link', '%d links: daemon RSS per link' % n, 'KiB', (e.get('per_link') or {}).get('rss_kib'))
        row('sc_threads', '%d links: daemon threads' % n, 'count', e.get('threads'))
        row('sc_cpu', '%d links: idle daemon CPU' % n, '% core', e.get('idle_cpu_pct'))
        row('sc_rtt50', '%d links: heartbeat RTT p50' % n, 'ms', e.get('rtt_p50_ms'))
        row('sc_rtt99', '%d links: heartbeat RTT p99' % n, 'ms', e.get('rtt_p99_ms'))
    r = scale.get('redis')
    if isinstance(r, dict):
        s = r.get('sessions', '?')
        row('sc_redis_rate', 'Redis, %s sessions: delivered (asked %s/s)' % (s, r.get('target_actions_per_s', '?')),
            'actions/s', r.get('delivered_per_s'))
        row('sc_redis_p50', 'Redis, %s sessions: latency p50' % s, 'ms', r.get('latency_p50_ms'))
        row('sc_redis_p99', 'Redis, %s sessions: latency p99' % s, 'ms', r.get('latency_p99_ms'))
        row('sc_redis_rss', 'Redis, %s sessions: daemon RSS' % s, 'KiB', r.get('daemon_rss_kib'))
    for fid, lim in (('sc_up', [e.get('limit_hit') for e in links]),
                     ('sc_redis_rate', [r.get('limit_hit')] if isinstance(r, dict) else [])):
        lim = [str(x) for x in lim if x]
        for row_ in rows:
            if row_['id'] == fid and lim:
                row_['note'] = 'limit hit: ' + '; '.join(lim)
    return rows


# -- plots -----------------------------------------------------------------

def gp_escape(s):
    return s.replace('"', '\\"')


def bar_plot(out, name, title, ylabel, groups, series, logscale=False):
    """groups: x labels; series: [(label, [(median, min, max) or None per group])]."""
    if not shutil.which('gnuplot'):
        return None
    dat = os.path.join(out, name + '.dat')
    with open(dat, 'w') as f:
        for gi, g in enumerate(groups):
            cols = ['"%s"' % gp_escape(g)]
            for _, vals in series:
                v = vals[gi]
                cols += ['%g %g %g' % v if v else 'NaN NaN NaN']
            f.write(' '.join(cols) + '\n')
    png = os.path.join(out, name + '.png')
    plots = []
    for si, (label, _) in enumerate(series):
        c = 2 + 3 * si
        plots.append('"%s" using %d:%d:%d:xtic(1) title "%s"' % (dat, c, c + 1, c + 2, gp_escape(label)))
    script = '\n'.join([
        'set terminal pngcairo size 1000,560 noenhanced font ",10"' if has_cairo() else
        'set terminal png size 1000,560 noenhanced',
        'set output "%s"' % png,
        'set title "%s"' % gp_escape(title),
        'set ylabel "%s"' % gp_escape(ylabel),
        'set style data histogram',
        'set style histogram errorbars gap 1 lw 1',
        'set style fill solid 0.7 border -1',
        'set boxwidth 0.9',
        'set key top left',
        'set grid ytics',
        'set xtics nomirror',
        'set yrange [%s:*]' % ('0.01' if logscale else '0'),
        'set logscale y' if logscale else 'unset logscale y',
        'plot ' + ', '.join(plots),
    ]) + '\n'
    gp = os.path.join(out, name + '.gp')
    with open(gp, 'w') as f:
        f.write(script)
    r = subprocess.run(['gnuplot', gp], capture_output=True, text=True)
    if r.returncode != 0:
        print('aggregate: gnuplot %s: %s' % (name, r.stderr.strip()), file=sys.stderr)
        return None
    return png


_cairo = None


def has_cairo():
    global _cairo
    if _cairo is None:
        r = subprocess.run(['gnuplot', '-e', 'set terminal'], capture_output=True, text=True)
        _cairo = 'pngcairo' in (r.stdout + r.stderr)
    return _cairo


def triple(runs, bench, path):
    a = agg([value(o, path) for o, _, _ in runs.get(bench, [])])
    return (a['median'], a['min'], a['max']) if a else None


def plots(out, runs, scale):
    made = []
    pcts = [('p50', 'p50'), ('p99', 'p99'), ('p99.9', 'p999')]
    for size, fp, ndc in (('200 B', 'fastpath-200', 'ndc-200'), ('16 KiB', 'fastpath-16k', 'ndc-16k')):
        tag = 'latency-200b' if size == '200 B' else 'latency-16k'
        series = [
            ('fast path POST->ack (manager)', [triple(runs, fp, 'manager.ack_%s_ms' % k) for _, k in pcts]),
            ('fast path POST->applied (manager)',
             [triple(runs, fp, 'manager.deliver_%s_ms' % k) for _, k in pcts]),
            ('raw webrtcbin pair RTT (floor)', [triple(runs, fp, 'raw_pair.%s_ms' % k) for _, k in pcts]),
            ('node-datachannel RTT', [triple(runs, ndc, 'round_trip.%s_ms' % k) for _, k in pcts]),
        ]
        p = bar_plot(out, tag, 'Fast-path action latency, %s payload (median of runs, bars min..max)' % size,
                     'ms (log)', [g for g, _ in pcts], series, logscale=True)
        if p:
            made.append(p)
    series = [
        ('fast path (manager, batched POSTs)', [triple(runs, 'fastpath-200', 'manager.actions_per_s'),
                                                triple(runs, 'fastpath-16k', 'manager.actions_per_s')]),
        ('raw webrtcbin pair', [triple(runs, 'fastpath-200', 'raw_pair.frames_per_s'),
                                triple(runs, 'fastpath-16k', 'raw_pair.frames_per_s')]),
        ('node-datachannel', [triple(runs, 'ndc-200', 'frames_per_s'), triple(runs, 'ndc-16k', 'frames_per_s')]),
    ]
    p = bar_plot(out, 'throughput', 'Fast-path throughput (median of runs, bars min..max)', 'actions/s (log)',
                 ['200 B', '16 KiB'], series, logscale=True)
    if p:
        made.append(p)
    series = [
        ('long-poll, memory', [triple(runs, 'redis', 'memory.%s_ms' % k) for _, k in pcts]),
        ('long-poll, Redis', [triple(runs, 'redis', 'redis.%s_ms' % k) for _, k in pcts]),
        ('raw hiredis XADD/XREADGROUP/XACK', [triple(runs, 'redis', 'raw_hiredis.%s_ms' % k) for _, k in pcts]),
        ('50 ms polling (old design), memory', [triple(runs, 'poll-50ms', '%s_ms' % k) for _, k in pcts]),
    ]
    p = bar_plot(out, 'fallback', 'Fallback delivery latency, POST until the host has it', 'ms (log)',
                 [g for g, _ in pcts], series, logscale=True)
    if p:
        made.append(p)
    series = [
        ('link closed (drop)', [triple(runs, 'failover', 'drop.%s.median' % k)
                                for k in ('failover_ms', 'poller_resumed_ms', 'reconnect_ms', 'recovery_ms')]),
        ('link silent (freeze)', [triple(runs, 'failover', 'freeze.%s.median' % k)
                                  for k in ('failover_ms', 'poller_resumed_ms', 'reconnect_ms', 'recovery_ms')]),
    ]
    p = bar_plot(out, 'failover', 'Failover and recovery (median over cycles)', 'ms',
                 ['failover', 'poller resumed', 'reconnect', 'recovery'], series)
    if p:
        made.append(p)
    p = scale_plot(out, scale)
    if p:
        made.append(p)
    return made


def scale_series(scale):
    """[(metric, [(N, value)])] from whatever arrays of per-N objects the
    scale bench printed: any list of objects that carry an integer N-like
    key ("n", "sessions", "links", "N") and numeric fields."""
    found = []

    def walk(obj, prefix):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, prefix + k + '.')
        elif isinstance(obj, list) and obj and all(isinstance(e, dict) for e in obj):
            key = next((k for k in ('n', 'N', 'sessions', 'links', 'hosts', 'count') if k in obj[0]), None)
            if key is None:
                return
            metrics = {}
            for e in obj:
                if not isinstance(e.get(key), (int, float)):
                    continue
                for mk, mv in numeric_leaves(e).items():
                    if mk != key:
                        metrics.setdefault(mk, []).append((e[key], mv))
            for mk, pts in metrics.items():
                found.append(('%s%s (vs %s)' % (prefix, mk, key), sorted(pts)))
    walk(scale, '')
    return found


SCALE_METRICS = [('up_secs', 'links all healthy after, s'), ('rss_kib', 'daemon RSS, KiB'),
                 ('per_link.rss_kib', 'daemon RSS per link, KiB'), ('threads', 'daemon threads'),
                 ('fds', 'daemon fds'), ('idle_cpu_pct', 'idle daemon CPU, % of a core'),
                 ('rtt_p50_ms', 'heartbeat RTT p50, ms'), ('rtt_p99_ms', 'heartbeat RTT p99, ms')]


def scale_plot(out, scale):
    if not scale or not shutil.which('gnuplot'):
        return None
    links = [e for e in (scale.get('links') or []) if isinstance(e, dict) and isinstance(e.get('n'), (int, float))]
    series = []
    for key, label in SCALE_METRICS:
        pts = []
        for e in links:
            v = e
            for k in key.split('.'):
                v = v.get(k) if isinstance(v, dict) else None
            if isinstance(v, dict) and isinstance(v.get('median'), (int, float)):
                pts.append((e['n'], v['median'], v.get('min', v['median']), v.get('max', v['median'])))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                pts.append((e['n'], v, v, v))
        if pts:
            series.append((label + ' (vs N links)', sorted(pts)))
    if not series:
        # an unknown layout: whatever per-N arrays it has
        series = [(n, [(x, y, y, y) for x, y in pts]) for n, pts in scale_series(scale) if len(pts) >= 2][:12]
    if not series:
        return None
    png = os.path.join(out, 'scale.png')
    cols = 3 if len(series) > 4 else 2
    rows = (len(series) + cols - 1) // cols
    lines = ['set terminal %s size %d,%d noenhanced' % ('pngcairo' if has_cairo() else 'png', 420 * cols,
                                                       300 * rows),
             'set output "%s"' % png, 'set multiplot layout %d,%d title "bench-scale"' % (rows, cols),
             'set grid', 'unset key']
    for i, (name, pts) in enumerate(series):
        dat = os.path.join(out, 'scale-%d.dat' % i)
        with open(dat, 'w') as f:
            for x, y, lo, hi in pts:
                f.write('%g %g %g %g\n' % (x, y, lo, hi))
        lines += ['set title "%s"' % gp_escape(name), 'set xrange [0:*]', 'set yrange [0:*]',
                  'plot "%s" using 1:2:3:4 with yerrorlines pt 7' % dat]
    lines.append('unset multiplot')
    gp = os.path.join(out, 'scale.gp')
    with open(gp, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    r = subprocess.run(['gnuplot', gp], capture_output=True, text=True)
    if r.returncode != 0:
        print('aggregate: gnuplot scale: %s' % r.stderr.strip(), file=sys.stderr)
        return None
    return png


# -- the machine -----------------------------------------------------------

def machine():
    m = {'nproc': os.cpu_count(), 'kernel': platform.release(), 'arch': platform.machine()}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    m['cpu'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open('/etc/debian_version') as f:
            m['debian'] = f.read().strip()
    except OSError:
        pass
    try:
        with open('/proc/meminfo') as f:
            m['mem_total_kb'] = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        m['loadavg_at_end'] = open('/proc/loadavg').read().split()[:3]
    except OSError:
        pass
    return m


# -- the table -------------------------------------------------------------

def fmt(v, unit):
    if v is None:
        return '-'
    if unit in ('actions/s', 'KiB') and v >= 100:
        return '%.0f' % v
    if unit in ('count', 'actions', 'handshakes'):
        return '%g' % v
    return '%.3g' % v if v < 100 else '%.0f' % v


def cell(a, unit):
    if not a:
        return '-'
    s = fmt(a['median'], unit)
    if a.get('n', 1) > 1 and a['min'] != a['max']:
        s += ' [%s..%s]' % (fmt(a['min'], unit), fmt(a['max'], unit))
    return s


def table(rows):
    head = ('figure', 'unit', 'ours: median [min..max]', 'baseline', 'baseline: median', 'ratio')
    lines = []
    group = None
    body = []
    for r in rows:
        if r['group'] != group:
            group = r['group']
            body.append(None)
        ratio = r.get('ratio')
        rs = '-' if not ratio else ('x%.2f' % ratio['median'] if ratio['median'] < 100 else 'x%.0f' % ratio['median'])
        if ratio and r.get('ratio_kind', '').startswith('of the medians'):
            rs += '*'
        body.append((r['figure'], r['unit'], cell(r.get('ours'), r['unit']), r.get('baseline_name', ''),
                     cell(r.get('baseline'), r['unit']) if 'baseline' in r else '', rs))
    widths = [max(len(head[i]), *(len(b[i]) for b in body if b)) for i in range(len(head))]
    sep = '-+-'.join('-' * w for w in widths)
    lines.append(' | '.join(h.ljust(w) for h, w in zip(head, widths)))
    for b in body:
        if b is None:
            lines.append(sep)
        else:
            lines.append(' | '.join(c.ljust(w) for c, w in zip(b, widths)))
    return '\n'.join(lines)


# -- main ------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--raw', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--started', type=float, help='epoch seconds scripts/bench started at')
    args = ap.parse_args()

    names = sorted({os.path.basename(p).split('.')[0] for p in glob.glob(os.path.join(args.raw, '*.json'))
                    if '.warmup.' not in p})
    runs = {n: load_runs(args.raw, n) for n in names}
    doc = {
        'suite': 'scripts/bench' + (' --quick' if args.quick else ''),
        'quick': args.quick,
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'machine': machine(),
        'note': ('Every figure is the median over the runs with min and max; "n" is the number of runs '
                 '(the failover figures are medians over cycles of one run). Ratio = ours / baseline: above 1 '
                 'is slower for latencies, below 1 is slower for throughput. Each bench program sends '
                 'warm-up actions before the measured ones, and one discarded warm-up invocation of the C '
                 'programs precedes the runs. p99.9 is the largest sample when a run has fewer than 1000.'),
        'benches': {},
        'skipped': {},
    }
    try:
        rev = subprocess.run(['git', '-C', os.path.dirname(os.path.abspath(__file__)), 'rev-parse', 'HEAD'],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', os.path.dirname(os.path.abspath(__file__)), 'status', '--porcelain',
                                '--untracked-files=no'], capture_output=True, text=True).stdout.strip()
        doc['git'] = rev + ('+dirty' if dirty else '')
    except OSError:
        pass
    skipped_path = os.path.join(args.raw, 'skipped.txt')
    if os.path.exists(skipped_path):
        with open(skipped_path) as f:
            for line in f:
                if ':' in line:
                    k, v = line.split(':', 1)
                    doc['skipped'][k.strip()] = v.strip()
    scale = None
    for name, rs in runs.items():
        objs = [o for o, _, _ in rs if o is not None]
        errors = [e for o, _, e in rs if o is None]
        skip = next((o['skipped'] for o in objs if 'skipped' in o), None)
        if skip:
            doc['skipped'][name] = skip
            continue
        leaves = {}
        for o in objs:
            for k, v in numeric_leaves(o).items():
                leaves.setdefault(k, []).append(v)
        entry = {'runs': len(rs), 'ok_runs': len(objs),
                 'figures': {k: agg(v) for k, v in sorted(leaves.items())},
                 'whole_process': {k: agg([t.get(k) for _, t, _ in rs])
                                   for k in ('wall_s', 'cpu_s', 'max_rss_kb')},
                 'last_run': objs[-1] if objs else None}
        if errors:
            entry['errors'] = errors
        doc['benches'][name] = entry
        if name == 'scale' and objs:
            scale = objs[-1]
    if scale is not None:
        doc['scale'] = scale
    doc['figures'] = [figure_row(*f, runs=runs) for f in FIGURES]
    doc['figures'] = [r for r in doc['figures'] if r['ours'] is not None]
    if scale is not None:
        doc['figures'] += scale_rows(scale)
    if args.started:
        doc['suite_secs_until_aggregation'] = round(time.time() - args.started, 1)

    os.makedirs(args.out, exist_ok=True)
    doc['plots'] = [os.path.basename(p) for p in plots(args.out, runs, scale)]
    text = json.dumps(doc, indent=1, sort_keys=False)
    latest = os.path.join(args.out, 'latest.json')
    with open(latest, 'w') as f:
        f.write(text + '\n')
    stamped = os.path.join(args.out, 'results-%s%s.json' % (time.strftime('%Y%m%d-%H%M%S'),
                                                            '-quick' if args.quick else ''))
    shutil.copyfile(latest, stamped)

    m = doc['machine']
    print('\nbeach-manager benchmarks%s, %s: %s, %s CPUs, Linux %s, Debian %s' % (
        ' (--quick)' if args.quick else '', doc['date'], m.get('cpu', '?'), m.get('nproc'), m.get('kernel'),
        m.get('debian', '?')))
    print(table(doc['figures']))
    print('ratio = ours / baseline (median of the per-run ratios; * = ratio of the medians, other process)')
    for r in doc['figures']:
        if r.get('note'):
            print('note, %s: %s' % (r['figure'], r['note']))
    for k, v in doc['skipped'].items():
        print('skipped %s: %s' % (k, v))
    for name, e in doc['benches'].items():
        if e.get('errors'):
            print('FAILED runs of %s: %d of %d: %s' % (name, len(e['errors']), e['runs'], e['errors'][0]))
    print('whole process (median wall s / CPU s / peak RSS KiB of the largest process in the tree):')
    for name, e in doc['benches'].items():
        wp = e['whole_process']
        print('  %-14s %s' % (name, ' / '.join(fmt(wp[k]['median'], 'x') if wp.get(k) else '-'
                                               for k in ('wall_s', 'cpu_s', 'max_rss_kb'))))
    print('wrote %s, %s' % (latest, os.path.basename(stamped)))
    if doc['plots']:
        print('plots: %s' % ', '.join(os.path.join(args.out, p) for p in doc['plots']))
    failed = any(e.get('errors') for e in doc['benches'].values())
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
