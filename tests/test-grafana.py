#!/usr/bin/python3
# test-grafana.py: the Grafana board uses only what the daemon exports.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#     BEACH_MANAGER=build/src/manager/beach-manager \
#         /usr/bin/python3 tests/test-grafana.py data/grafana/beach-manager.json
#
# Starts the real daemon (tests/e2e/beachtest.py), reads the metric families
# from the "# TYPE" lines of a live /metrics, then parses every PromQL
# expression of the board (panel targets, nested panels of collapsed rows,
# templating queries) and checks that each metric it names is exported
# (histograms: the _bucket, _sum and _count series of a histogram family) and
# each label it names in {...}, by (...), without (...), on (...),
# ignoring (...) and group_left/right (...) exists on what it applies to.
# With redis-server installed a second daemon on Redis shows the Redis-only
# family (redis_available); without, expressions naming it are skipped.
# Also: the JSON, schemaVersion, the datasource input, unique panel ids and
# the panels issue #10 asks for. Prints TAP.

import json
import os
import re
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'e2e'))

import beachtest  # noqa: E402
from redisfixture import REDIS_SERVER, RedisServer  # noqa: E402

DEFAULT_BOARD = os.path.join(os.path.dirname(HERE), 'data', 'grafana', 'beach-manager.json')

# -- the label sets of WIRE.md "Metrics"; checked against the live daemon:
# its families must be exactly these, and every live series must carry
# exactly these labels (histogram buckets: plus le).
SESSION = ('private_beach_id', 'session_id')
LABELS = {
    'session_transport': SESSION + ('transport',),
    'fastpath_link_healthy': SESSION,
    'fastpath_heartbeat_rtt_seconds': SESSION,
    'fastpath_actions_sent_total': SESSION,
    'fastpath_acks_received_total': SESSION,
    'fastpath_state_received_total': SESSION,
    'fastpath_failovers_total': SESSION + ('reason',),
    'actions_enqueued_total': SESSION,
    'actions_delivered_total': SESSION,
    'actions_acked_total': SESSION + ('status',),
    'actions_queue_depth': SESSION,
    'actions_queue_pending': SESSION,
    'actions_dead_lettered_total': SESSION + ('reason',),
    'redis_pending_reclaimed_total': SESSION,
    'action_latency_seconds': SESSION,
    'harness_fastpath_state': SESSION + ('state',),
    'controller_actions_dropped_total': ('reason',),
    'handshakes_total': ('kind',),
    'transport_transitions_total': ('from', 'to', 'reason'),
    'http_requests_total': ('route', 'code'),
    'actions_ack_unknown_total': (),
    'redis_available': (),
    'cluster_instances': (),
    'cluster_owned_sessions': (),
    'cluster_actions_forwarded_total': (),
    'cluster_inbox_actions_total': (),
    'cluster_actions_reclaimed_total': (),
    'events_subscribers': (),
    'events_dropped_subscribers_total': (),
}
# WIRE.md "Details": absent with the memory queue.
REDIS_ONLY = {'redis_available', 'cluster_instances', 'cluster_owned_sessions',
              'cluster_actions_forwarded_total', 'cluster_inbox_actions_total',
              'cluster_actions_reclaimed_total'}

# The panels of issue #10: (topic, title pattern, metrics the panel must
# use, quantiles its histogram_quantile calls must cover).
TOPICS = [
    ('sessions by transport', r'sessions by transport', {'session_transport'}, None),
    ('link health', r'link health', {'fastpath_link_healthy'}, None),
    ('heartbeat RTT quantiles', r'heartbeat rtt',
     {'fastpath_heartbeat_rtt_seconds_bucket'}, {0.5, 0.9, 0.99}),
    ('fallback queue depth and pending', r'queue depth',
     {'actions_queue_depth', 'actions_queue_pending'}, None),
    ('reclaimed, dead-lettered and dropped by reason', r'reclaimed.*dead-lettered.*dropped',
     {'redis_pending_reclaimed_total', 'actions_dead_lettered_total',
      'controller_actions_dropped_total'}, None),
    ('action latency p50/p90/p99', r'action latency',
     {'action_latency_seconds_bucket'}, {0.5, 0.9, 0.99}),
    ('handshakes by kind', r'handshakes by kind', {'handshakes_total'}, None),
    ('transport transitions by reason', r'transport transitions', {'transport_transitions_total'},
     None),
]


# -- TAP ---------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.results = []  # (ok, description, diagnostics, directive)

    def check(self, ok, desc, diag=None, directive=None):
        self.results.append((bool(ok), desc, diag, directive))
        return ok

    def skip(self, desc, reason):
        self.results.append((True, desc, None, 'SKIP ' + reason))

    def emit(self):
        print('1..%d' % len(self.results))
        failed = 0
        for n, (ok, desc, diag, directive) in enumerate(self.results, 1):
            line = '%s %d - %s' % ('ok' if ok else 'not ok', n, desc.replace('#', '\\#'))
            if directive:
                line += ' # ' + directive
            print(line)
            if diag and not ok:
                for d in (diag if isinstance(diag, list) else [diag]):
                    for dl in str(d).splitlines():
                        print('#   ' + dl)
            if not ok:
                failed += 1
        sys.stdout.flush()
        return failed


# -- PromQL ------------------------------------------------------------------

AGGREGATIONS = {'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count',
                'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio'}
# Aggregations whose output keeps the input series' labels.
KEEPS_LABELS = {'topk', 'bottomk', 'limitk', 'limit_ratio'}
RANGE_FUNCTIONS = {
    'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'predict_linear', 'resets',
    'changes', 'holt_winters', 'double_exponential_smoothing', 'absent_over_time',
    'present_over_time', 'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time',
    'count_over_time', 'quantile_over_time', 'stddev_over_time', 'stdvar_over_time',
    'last_over_time', 'mad_over_time',
}
SCALAR_FUNCTIONS = {'time', 'scalar', 'pi', 'minute', 'hour', 'day_of_month', 'day_of_week',
                    'day_of_year', 'days_in_month', 'month', 'year'}
OTHER_FUNCTIONS = {
    'abs', 'absent', 'ceil', 'clamp', 'clamp_max', 'clamp_min', 'exp', 'floor',
    'histogram_quantile', 'histogram_count', 'histogram_sum', 'histogram_fraction',
    'histogram_avg', 'histogram_stddev', 'histogram_stdvar', 'label_join', 'label_replace',
    'ln', 'log2', 'log10', 'round', 'sgn', 'sort', 'sort_desc', 'sort_by_label',
    'sort_by_label_desc', 'sqrt', 'timestamp', 'vector', 'acos', 'acosh', 'asin', 'asinh',
    'atan', 'atanh', 'cos', 'cosh', 'sin', 'sinh', 'tan', 'tanh', 'deg', 'rad',
}
FUNCTIONS = RANGE_FUNCTIONS | SCALAR_FUNCTIONS | OTHER_FUNCTIONS
KEYWORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and',
            'or', 'unless', 'offset', 'atan2', 'inf', 'nan', 'start', 'end'}
BINARY_PRECEDENCE = {
    'or': 1, 'and': 2, 'unless': 2,
    '==': 3, '!=': 3, '<=': 3, '<': 3, '>=': 3, '>': 3,
    '+': 4, '-': 4, '*': 5, '/': 5, '%': 5, 'atan2': 5, '^': 6,
}
COMPARISONS = {'==', '!=', '<=', '<', '>=', '>'}

DURATION = r'(?:\d+(?:ms|[smhdwy]))+'
VARIABLE = r'\$(?:\w+|\{[^}]+\})|\[\[\w+(?::\w+)?\]\]'
RANGE_BODY = re.compile(r'^\s*(?:%s|%s)?\s*(?::\s*(?:%s|%s)?\s*)?$'
                        % (DURATION, VARIABLE, DURATION, VARIABLE))
TOKEN = re.compile(r'''
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>%s)
  | (?P<range>\[[^\]]*\])
  | (?P<dur>%s(?![\w.]))
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][\w:]*)
  | (?P<op>==|!=|<=|>=|=~|!~|[-+*/%%^=<>(){},@])
''' % (VARIABLE, DURATION), re.X | re.S)


class PromQLError(Exception):
    pass


def tokenize(text):
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None:
            raise PromQLError('cannot read %r at offset %d' % (text[pos:pos + 20], pos))
        pos = m.end()
        kind = m.lastgroup
        if kind == 'ws':
            continue
        value = m.group(kind)
        if kind == 'range' and not RANGE_BODY.match(value[1:-1]):
            raise PromQLError('bad range or subquery %s' % value)
        out.append((kind, value))
    out.append(('eof', ''))
    return out


class Value:
    """What an expression evaluates to: kind is vector, matrix, scalar or
    string; labels is the set of label names its series may carry, or None
    when unknown (an unexported metric: no further label errors)."""

    def __init__(self, kind, labels=frozenset(), what=''):
        self.kind = kind
        self.labels = None if labels is None else frozenset(labels)
        self.what = what
        self.number = None    # a number literal's value, a string literal's text
        self.selector = False  # a bare vector selector, the only thing a range applies to


class Checker:
    """A recursive-descent reader of the PromQL subset dashboards use. It
    records the metrics named, the problems found and the quantiles given to
    histogram_quantile."""

    def __init__(self, families, skip_families=()):
        self.families = families          # name → (type, labels)
        self.skip_families = set(skip_families)
        self.metrics = []
        self.errors = []
        self.skipped = set()
        self.quantiles = set()

    # -- metric names --------------------------------------------------------

    def resolve(self, name):
        """The label set of a series name, or None after recording why not."""
        self.metrics.append(name)
        if name in self.families:
            ftype, labels = self.families[name]
            if ftype == 'histogram':
                self.errors.append('%s is a histogram: use %s_bucket, _sum or _count'
                                   % (name, name))
                return None
            return set(labels)
        for suffix in ('_bucket', '_sum', '_count'):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and base in self.families \
                    and self.families[base][0] == 'histogram':
                labels = set(self.families[base][1])
                if suffix == '_bucket':
                    labels.add('le')
                return labels
        if name in self.skip_families:
            self.skipped.add(name)
            return None
        self.errors.append('metric %s is not exported by the daemon' % name)
        return None

    def need_labels(self, names, value, where):
        if value.labels is None:
            return
        for n in names:
            if n not in value.labels:
                self.errors.append('%s: label %s is not on %s (labels: %s)'
                                   % (where, n, value.what or 'its input',
                                      ', '.join(sorted(value.labels)) or 'none'))

    # -- parsing ---------------------------------------------------------------

    def check(self, text):
        self.toks = tokenize(text)
        self.pos = 0
        value = self.expr(0)
        if self.peek()[0] != 'eof':
            raise PromQLError('unexpected %r after the expression' % self.peek()[1])
        return value

    def peek(self, k=0):
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def take(self, kind=None, value=None):
        tok = self.peek()
        if (kind is not None and tok[0] != kind) or (value is not None and tok[1] != value):
            raise PromQLError('expected %s, got %r' % (value or kind, tok[1] or 'the end'))
        self.pos += 1
        return tok

    def at(self, kind, value=None):
        tok = self.peek()
        return tok[0] == kind and (value is None or tok[1] == value)

    def label_list(self):
        self.take('op', '(')
        names = []
        while not self.at('op', ')'):
            names.append(self.take('ident')[1])
            if not self.at('op', ')'):
                self.take('op', ',')
        self.take('op', ')')
        return names

    def binary_op(self):
        tok = self.peek()
        if tok[0] == 'op' and tok[1] in BINARY_PRECEDENCE:
            return tok[1]
        if tok[0] == 'ident' and tok[1].lower() in ('and', 'or', 'unless', 'atan2'):
            return tok[1].lower()
        return None

    def expr(self, min_prec):
        left = self.unary()
        while True:
            op = self.binary_op()
            if op is None or BINARY_PRECEDENCE[op] < min_prec:
                return left
            self.pos += 1
            prec = BINARY_PRECEDENCE[op]
            bool_mod = False
            if self.at('ident', 'bool'):
                self.pos += 1
                bool_mod = True
                if op not in COMPARISONS:
                    raise PromQLError('bool after %s' % op)
            on = ignoring = None
            group = extra = None
            if self.at('ident', 'on'):
                self.pos += 1
                on = self.label_list()
            elif self.at('ident', 'ignoring'):
                self.pos += 1
                ignoring = self.label_list()
            if self.at('ident', 'group_left') or self.at('ident', 'group_right'):
                group = self.take('ident')[1]
                extra = self.label_list() if self.at('op', '(') else []
            right = self.expr(prec if op == '^' else prec + 1)
            left = self.binary(op, left, right, on, ignoring, group, extra, bool_mod)

    def binary(self, op, left, right, on, ignoring, group, extra, bool_mod):
        if left.kind not in ('vector', 'scalar') or right.kind not in ('vector', 'scalar'):
            raise PromQLError('operator %s on a %s and a %s' % (op, left.kind, right.kind))
        if left.kind == 'scalar' and right.kind == 'scalar':
            return Value('scalar', what='a number')
        if left.kind == 'scalar' or right.kind == 'scalar':
            if op in ('and', 'or', 'unless'):
                raise PromQLError('%s needs vectors on both sides' % op)
            return right if left.kind == 'scalar' else left
        if on:
            self.need_labels(on, left, 'on (...)')
            self.need_labels(on, right, 'on (...)')
        if ignoring and left.labels is not None and right.labels is not None:
            # ignoring a label one side lacks is fine; neither side, a typo
            self.need_labels(ignoring, Value('vector', left.labels | right.labels,
                                             '%s or %s' % (left.what, right.what)),
                             'ignoring (...)')
        if group == 'group_left':
            self.need_labels(extra, right, 'group_left (...)')
        elif group == 'group_right':
            self.need_labels(extra, left, 'group_right (...)')
        what = '%s %s %s' % (left.what, op, right.what)
        if left.labels is None or right.labels is None:
            return Value('vector', None, what)
        if op == 'or':
            return Value('vector', left.labels | right.labels, what)
        if op in ('and', 'unless'):
            return Value('vector', left.labels, what)
        if group == 'group_left':
            return Value('vector', left.labels | set(extra), what)
        if group == 'group_right':
            return Value('vector', right.labels | set(extra), what)
        if on is not None:
            return Value('vector', set(on), what)
        if ignoring is not None:
            return Value('vector', left.labels - set(ignoring), what)
        return Value('vector', left.labels, what)

    def unary(self):
        if self.at('op', '-') or self.at('op', '+'):
            self.pos += 1
            return self.unary()
        return self.postfix(self.primary())

    def postfix(self, value):
        while True:
            if self.at('range'):
                body = self.take('range')[1]
                if ':' in body:  # subquery
                    if value.kind != 'vector':
                        raise PromQLError('subquery of a %s' % value.kind)
                elif value.kind != 'vector' or not value.selector:
                    raise PromQLError('range %s on something other than a selector' % body)
                value = Value('matrix', value.labels, value.what)
            elif self.at('ident', 'offset'):
                self.pos += 1
                if self.at('op', '-'):
                    self.pos += 1
                if not (self.at('dur') or self.at('var')):
                    raise PromQLError('offset needs a duration')
                self.pos += 1
            elif self.at('op', '@'):
                self.pos += 1
                if self.at('ident', 'start') or self.at('ident', 'end'):
                    self.pos += 1
                    self.take('op', '(')
                    self.take('op', ')')
                else:
                    self.take('num')
            else:
                return value

    def primary(self):
        kind, text = self.peek()
        if kind == 'op' and text == '(':
            self.pos += 1
            value = self.expr(0)
            self.take('op', ')')
            return self.plain(value)
        if kind == 'num':
            self.pos += 1
            value = Value('scalar', what=text)
            value.number = float(int(text, 16)) if text.lower().startswith('0x') else float(text)
            return self.plain(value)
        if kind == 'var':
            self.pos += 1
            return self.plain(Value('scalar', what=text))
        if kind == 'str':
            self.pos += 1
            value = Value('string', what=text)
            value.number = text
            return self.plain(value)
        if kind == 'op' and text == '{':
            return self.selector(None)
        if kind != 'ident':
            raise PromQLError('unexpected %r' % (text or 'end'))
        low = text.lower()
        if low in ('inf', 'nan'):
            self.pos += 1
            return self.plain(Value('scalar', what=text))
        if low in AGGREGATIONS and (self.peek(1)[1] == '(' or self.peek(1)[1] in ('by', 'without')):
            return self.aggregation()
        if self.peek(1) == ('op', '('):
            if text not in FUNCTIONS:
                raise PromQLError('unknown function %s()' % text)
            return self.function()
        if low in KEYWORDS:
            raise PromQLError('keyword %s where an expression was expected' % text)
        return self.selector(text)

    @staticmethod
    def plain(value):
        value.selector = False
        return value

    def selector(self, name):
        if name is not None:
            self.pos += 1
        matchers = []
        if self.at('op', '{'):
            self.pos += 1
            while not self.at('op', '}'):
                label = self.take('ident')[1]
                op = self.take('op')[1]
                if op not in ('=', '!=', '=~', '!~'):
                    raise PromQLError('bad matcher operator %s' % op)
                matchers.append((label, op, self.take('str')[1]))
                if not self.at('op', '}'):
                    self.take('op', ',')
            self.take('op', '}')
        if name is None:
            names = [m[2][1:-1] for m in matchers if m[0] == '__name__' and m[1] == '=']
            if not names:
                raise PromQLError('a selector without a metric name')
            name = names[0]
        labels = self.resolve(name)
        value = Value('vector', labels, name)
        self.need_labels([m[0] for m in matchers if m[0] != '__name__'], value,
                         '%s{...}' % name)
        value.selector = True
        return value

    def grouping(self):
        word = self.take('ident')[1]
        return word, self.label_list()

    def aggregation(self):
        op = self.take('ident')[1].lower()
        grouping = None
        if self.at('ident', 'by') or self.at('ident', 'without'):
            grouping = self.grouping()
        args = self.arguments()
        if grouping is None and (self.at('ident', 'by') or self.at('ident', 'without')):
            grouping = self.grouping()
        want = 2 if op in ('count_values', 'bottomk', 'topk', 'quantile', 'limitk',
                           'limit_ratio') else 1
        if len(args) != want:
            raise PromQLError('%s takes %d argument(s), got %d' % (op, want, len(args)))
        vec = args[-1]
        if vec.kind != 'vector':
            raise PromQLError('%s over a %s' % (op, vec.kind))
        what = '%s(%s)' % (op, vec.what)
        if grouping is not None:
            self.need_labels(grouping[1], vec, '%s %s (...)' % (op, grouping[0]))
        if op in KEEPS_LABELS:
            return self.plain(Value('vector', vec.labels, what))
        if grouping is None:
            labels = set()
        elif grouping[0] == 'by':
            labels = set(grouping[1])
        else:
            labels = None if vec.labels is None else vec.labels - set(grouping[1])
        if op == 'count_values' and labels is not None:
            labels = set(labels) | {str(args[0].number)[1:-1]}
        return self.plain(Value('vector', labels, what))

    def arguments(self):
        self.take('op', '(')
        args = []
        while not self.at('op', ')'):
            args.append(self.expr(0))
            if not self.at('op', ')'):
                self.take('op', ',')
        self.take('op', ')')
        return args

    def function(self):
        name = self.take('ident')[1]
        args = self.arguments()
        if name in SCALAR_FUNCTIONS:
            return self.plain(Value('scalar', what='%s()' % name))
        if name in RANGE_FUNCTIONS:
            mats = [a for a in args if a.kind == 'matrix']
            if len(mats) != 1:
                raise PromQLError('%s() needs one range vector, like %s(x[5m])' % (name, name))
            return self.plain(Value('vector', mats[0].labels, '%s(%s)' % (name, mats[0].what)))
        if any(a.kind == 'matrix' for a in args):
            raise PromQLError('%s() given a range vector' % name)
        vecs = [a for a in args if a.kind == 'vector']
        if name == 'vector':
            return self.plain(Value('vector', set(), 'vector()'))
        if not vecs:
            raise PromQLError('%s() needs an instant vector' % name)
        vec = vecs[0]
        what = '%s(%s)' % (name, vec.what)
        labels = vec.labels
        if name == 'histogram_quantile':
            if args[0].kind == 'scalar' and args[0].number is not None:
                self.quantiles.add(args[0].number)
            if labels is not None and 'le' not in labels:
                self.errors.append('histogram_quantile over %s, which has no le label'
                                   % vec.what)
            labels = None if labels is None else labels - {'le'}
        elif name in ('label_replace', 'label_join'):
            strs = [a.number[1:-1] for a in args if a.kind == 'string']
            if not strs:
                raise PromQLError('%s() without label names' % name)
            dst = strs[0]
            # label_replace(v, dst, replacement, src, regex), label_join(v, dst, sep, src...)
            sources = strs[2:3] if name == 'label_replace' else strs[2:]
            self.need_labels([s for s in sources if s], vec, '%s()' % name)
            labels = None if labels is None else labels | {dst}
        elif name == 'absent':
            labels = set()
        return self.plain(Value('vector', labels, what))


def label_values_query(query):
    """(selector or None, label) of a templating label_values() query, or
    None for another kind of query (then it is PromQL, or query_result())."""
    m = re.match(r'^\s*label_values\s*\((.*)\)\s*$', query, re.S)
    if not m:
        return None
    body = m.group(1)
    if ',' not in body:
        return None, body.strip()
    sel, _, label = body.rpartition(',')
    return sel.strip(), label.strip()


# -- the board -----------------------------------------------------------------

def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get('panels'))


def expressions(board):
    """(where, kind, text, panel) for every PromQL text in the board."""
    out = []
    for p in walk_panels(board.get('panels')):
        for t in p.get('targets') or []:
            if 'expr' in t:
                out.append(('panel %s "%s" target %s' % (p.get('id'), p.get('title'),
                                                        t.get('refId')), 'expr', t['expr'], p))
    for v in (board.get('templating') or {}).get('list') or []:
        if v.get('type') != 'query':
            continue
        q = v.get('query')
        if isinstance(q, dict):
            q = q.get('query')
        if q:
            out.append(('variable $%s' % v.get('name'), 'variable', q, None))
    return out


def datasource_refs(board):
    """(where, datasource value) of every datasource reference but the
    built-in annotation's."""
    refs = []
    for p in walk_panels(board.get('panels')):
        if 'datasource' in p:
            refs.append(('panel %s' % p.get('id'), p['datasource']))
        for t in p.get('targets') or []:
            refs.append(('panel %s target %s' % (p.get('id'), t.get('refId')),
                         t.get('datasource', p.get('datasource'))))
    for v in (board.get('templating') or {}).get('list') or []:
        if v.get('type') == 'query':
            refs.append(('variable $%s' % v.get('name'), v.get('datasource')))
    return refs


# -- the daemon ------------------------------------------------------------------

def traffic(d):
    """A little of everything, so that the series carry labels to compare
    with LABELS: two sessions, actions queued, delivered and acked, one
    refused call, a health post and a handshake."""
    op = d.operator_token

    def call(method, path, token, body=None, want=200):
        status, out, _ = d.req(method, path, token, body)
        if status != want:
            raise AssertionError('%s %s: %s %r' % (method, path, status, out))
        return out

    reg = {'session_id': 's1', 'private_beach_id': 'pb', 'harness_type': 'terminal_shim',
           'capabilities': ['terminal_write'], 'version': '1.0.0',
           'transport_mode': 'http_fallback'}
    tok = call('POST', '/sessions/register', op, reg)['session_token']
    call('POST', '/sessions/register', op, dict(reg, session_id='s2', transport_mode='fast_path'))
    lease = call('POST', '/sessions/s1/controller/lease', op, {})['controller_token']
    lease2 = call('POST', '/sessions/s2/controller/lease', op, {})['controller_token']

    def action(i):
        return {'id': i, 'action_type': 'terminal_write', 'payload': {'bytes': 'x'}}
    call('POST', '/sessions/s1/actions', lease,
         {'controller_token': lease, 'actions': [action('a1'), action('a2')]})
    call('POST', '/sessions/s2/actions', lease2,
         {'controller_token': lease2, 'actions': [action('b1')]}, want=412)
    call('GET', '/sessions/s1/actions/poll', tok)
    call('POST', '/sessions/s1/actions/ack', tok,
         [{'id': 'a1', 'status': 'ok', 'applied_at': beachtest.now_ms(), 'latency_ms': 1}])
    call('POST', '/sessions/s1/health', tok,
         {'queue_depth': 0, 'degraded': False, 'warnings': [],
          'fast_path': {'state': 'connecting', 'attempts': 0}})
    call('POST', '/sessions/s1/controller-handshake', lease, {})


def scrape(d):
    status, text, headers = d.req('GET', '/metrics')
    if status != 200:
        raise AssertionError('GET /metrics: %s %r' % (status, text))
    return text


def base_family(name, types):
    for suffix in ('_bucket', '_sum', '_count'):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == 'histogram':
            return base, suffix
    return name, ''


def live_metrics(tap):
    """(types, series) of a memory-queue daemon after traffic(), and the
    types of a Redis-backed daemon (None without redis-server)."""
    d = beachtest.Daemon(name='daemon')
    try:
        d.start()
        before = scrape(d)
        _, helps, types0 = beachtest.parse_metrics(before)
        tap.check(types0 and set(types0) == helps,
                  'a fresh daemon prints HELP and TYPE for each family (%d families)' % len(types0),
                  'HELP without TYPE or the other way: %s' % sorted(set(types0) ^ helps))
        traffic(d)
        series, _, types = beachtest.parse_metrics(scrape(d))
    except BaseException:
        sys.stderr.write('daemon stderr:\n%s\n' % d.stderr_text())
        raise
    finally:
        d.stop()
        d.cleanup()

    redis_types = None
    if REDIS_SERVER is not None:
        r = RedisServer()
        rd = None
        try:
            r.start()
            rd = beachtest.Daemon(name='redis-daemon',
                                  args=['--queue', 'redis', '--redis-url', r.url])
            rd.start()
            rd.wait_ready()
            _, _, redis_types = beachtest.parse_metrics(scrape(rd))
        except BaseException:
            if rd is not None:
                sys.stderr.write('redis daemon stderr:\n%s\n' % rd.stderr_text())
            raise
        finally:
            if rd is not None:
                rd.stop()
                rd.cleanup()
            r.cleanup()
    return types, series, redis_types


# -- main ----------------------------------------------------------------------

def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_BOARD
    tap = Tap()
    try:
        run(tap, path)
    except Exception:
        tap.check(False, 'the test ran to the end', traceback.format_exc())
    sys.exit(1 if tap.emit() else 0)


def run(tap, path):
    # -- the file itself
    try:
        with open(path, encoding='utf-8') as f:
            board = json.load(f)
    except (OSError, ValueError) as e:
        tap.check(False, '%s is valid JSON' % os.path.basename(path), str(e))
        return
    tap.check(isinstance(board, dict), '%s is valid JSON' % os.path.basename(path))

    schema = board.get('schemaVersion')
    tap.check(isinstance(schema, int) and schema >= 36, 'schemaVersion %r is 36 or later' % schema)

    inputs = [i for i in board.get('__inputs') or []
              if i.get('type') == 'datasource' and i.get('pluginId') == 'prometheus']
    bad = []
    if len(inputs) != 1:
        bad.append('__inputs: want one Prometheus datasource input, got %d' % len(inputs))
    else:
        want = '${%s}' % inputs[0].get('name')
        for where, ds in datasource_refs(board):
            if not isinstance(ds, dict) or ds.get('type') != 'prometheus' or ds.get('uid') != want:
                bad.append('%s: datasource %r, want {"type": "prometheus", "uid": "%s"}'
                           % (where, ds, want))
    tap.check(not bad, 'one Prometheus datasource input, used by every panel, target and variable',
              bad)

    ids = [p.get('id') for p in walk_panels(board.get('panels'))]
    dups = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    missing = ids.count(None)
    tap.check(ids and not dups and not missing,
              'the %d panel ids (nested included) are unique' % len(ids),
              ['duplicated: %s' % dups] if dups else
              (['%d panel(s) without id' % missing] if missing else None))

    # -- the daemon
    types, series, redis_types = live_metrics(tap)
    exported = dict(types)
    skip_families = set()
    if redis_types is not None:
        tap.check(REDIS_ONLY <= set(redis_types),
                  'a Redis-backed daemon exports %s' % ', '.join(sorted(REDIS_ONLY)),
                  'missing: %s' % sorted(REDIS_ONLY - set(redis_types)))
        exported.update(redis_types)
    else:
        tap.skip('a Redis-backed daemon exports %s' % ', '.join(sorted(REDIS_ONLY)),
                 'redis-server is not installed')
        skip_families = set(REDIS_ONLY)

    table = set(LABELS) - (skip_families - set(exported))
    tap.check(set(exported) == table,
              'the label table here covers exactly the %d families the daemon exports'
              % len(exported),
              ['exported, not in LABELS: %s' % sorted(set(exported) - table),
               'in LABELS, not exported: %s' % sorted(table - set(exported))])

    wrong = []
    for (name, labelset), _ in sorted(series.items(), key=lambda kv: kv[0][0]):
        base, suffix = base_family(name, types)
        want = set(LABELS.get(base, ())) | ({'le'} if suffix == '_bucket' else set())
        got = {k for k, _ in labelset}
        if base not in LABELS or got != want:
            wrong.append('%s: labels %s, LABELS says %s' % (name, sorted(got), sorted(want)))
    tap.check(series and not wrong,
              'the %d live series carry exactly the labels of the table' % len(series),
              sorted(set(wrong))[:20])

    families = {name: (exported[name], LABELS.get(name, ())) for name in exported}

    # -- the panels issue #10 asks for
    all_panels = list(walk_panels(board.get('panels')))
    for topic, pattern, metrics, quantiles in TOPICS:
        found = [p for p in all_panels if re.search(pattern, p.get('title') or '', re.I)]
        problems = []
        if not found:
            problems.append('no panel title matches /%s/i' % pattern)
        else:
            used, qs = set(), set()
            for p in found:
                for t in p.get('targets') or []:
                    c = Checker(families, skip_families)
                    try:
                        c.check(t.get('expr', ''))
                    except PromQLError:
                        pass
                    used.update(c.metrics)
                    qs |= c.quantiles
            if not metrics <= used:
                problems.append('panel(s) %s do not query %s'
                                % ([p.get('title') for p in found], sorted(metrics - used)))
            if quantiles and not quantiles <= qs:
                problems.append('quantiles %s missing' % sorted(quantiles - qs))
        tap.check(not problems, 'panel: %s' % topic, problems)

    # -- every expression
    for where, kind, text, panel in expressions(board):
        c = Checker(families, skip_families)
        problems = []
        if kind == 'variable':
            lv = label_values_query(text)
            qr = re.match(r'^\s*query_result\s*\((.*)\)\s*$', text, re.S)
            try:
                if lv is not None:
                    sel, label = lv
                    if sel is None:
                        if not any(label in labels for _, labels in families.values()):
                            problems.append('no family has a label %s' % label)
                    else:
                        value = c.check(sel)
                        if value.kind != 'vector':
                            problems.append('label_values() of a %s' % value.kind)
                        c.need_labels([label], value, 'label_values(..., %s)' % label)
                elif qr is not None:
                    c.check(qr.group(1))
                else:
                    problems.append('not a label_values() or query_result() query')
            except PromQLError as e:
                problems.append('cannot parse: %s' % e)
        else:
            try:
                value = c.check(text)
                if value.kind not in ('vector', 'scalar'):
                    problems.append('evaluates to a %s, which a panel cannot draw' % value.kind)
            except PromQLError as e:
                problems.append('cannot parse: %s' % e)
        problems += c.errors
        if not c.metrics and not problems:
            problems.append('names no metric')
        desc = '%s: %s' % (where, ' '.join(text.split()))
        if problems:
            tap.check(False, desc, problems)
        elif c.skipped:
            tap.skip(desc, 'names %s, exported only with Redis (no redis-server here)'
                     % ', '.join(sorted(c.skipped)))
        else:
            tap.check(True, desc)


if __name__ == '__main__':
    main()
