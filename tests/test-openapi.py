#!/usr/bin/python3
"""data/openapi.yaml against the daemon that it describes.

1. The routes: the (method, path) pairs of the document equal the daemon's
   `beach-manager --list-routes` (its real route table), both ways.
2. The document: every schema is valid against the JSON Schema 2020-12
   metaschema, every `$ref` resolves, every operation has an operationId,
   responses, a security requirement and `x-beach-token-kinds`, and declares
   its path parameters.
3. A real daemon: for every operation, success samples whose request bodies
   and query parameters validate against the operation's schemas and whose
   answers validate against the schema of the status they got (which must
   be documented for the operation); failing samples whose answers validate
   against the error envelope; every token kind the operation does not list
   gets 403 and no token 401; every kind it lists is used by a success
   sample. The WebRTC offer is a real one, made by a webrtcbin in this
   process (GStreamer through gi). The event streams are checked for their
   content type and their first event against `ServerSentEvent`.

    BEACH_MANAGER=$PWD/build/src/manager/beach-manager \\
    GST_REGISTRY=$PWD/build/gst-registry.bin \\
        /usr/bin/python3 tests/test-openapi.py [SPEC.yaml] -v

Debian packages: python3-yaml, python3-jsonschema (4.10: RefResolver),
python3-gi and gir1.2-gst-plugins-bad-1.0 (GstWebRTC).
"""

import os
import queue
import re
import subprocess
import sys
import time
import unittest
import urllib.parse
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'e2e'))

import beachtest  # noqa: E402
import jsonschema  # noqa: E402
import yaml  # noqa: E402
from jsonschema import Draft202012Validator, RefResolver  # noqa: E402

SPEC_PATH = os.path.join(beachtest.SOURCE_ROOT, 'data', 'openapi.yaml')
if len(sys.argv) > 1 and sys.argv[1].endswith(('.yaml', '.yml')):
    SPEC_PATH = sys.argv.pop(1)

METHODS = ('get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace')
TOKEN_KINDS = ('operator', 'session', 'lease')
# GET /healthz and /metrics have no failing request: they answer 200
# whenever the daemon runs (a wrong method is 405, which is not an
# operation of the document).
NO_FAILING_SAMPLE = {('GET', '/healthz'), ('GET', '/metrics')}
SSE_TIMEOUT = 10.0
OFFER_TIMEOUT = 30.0  # the first webrtcbin use may build the registry


def load_spec(path=SPEC_PATH):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def to_colon(path):
    """/sessions/{id}/x -> /sessions/:id/x (the daemon's pattern syntax)."""
    return re.sub(r'\{([^}/]+)\}', r':\1', path)


def spec_routes(doc):
    """{(METHOD, pattern): operation}"""
    out = {}
    for path, item in (doc.get('paths') or {}).items():
        for m in METHODS:
            if m in item:
                out[(m.upper(), to_colon(path))] = item[m]
    return out


def resolve_pointer(doc, ref):
    if not ref.startswith('#/'):
        raise KeyError('only local references are used here: %r' % ref)
    node = doc
    for part in ref[2:].split('/'):
        part = part.replace('~1', '/').replace('~0', '~')
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def deref(doc, node):
    seen = 0
    while isinstance(node, dict) and '$ref' in node:
        node = resolve_pointer(doc, node['$ref'])
        seen += 1
        if seen > 20:
            raise KeyError('reference loop')
    return node


def walk(node, path=''):
    """Yields (json-pointer-ish path, dict) for every dict in node."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, '%s/%s' % (path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, '%s/%d' % (path, i))


def schemas_of(doc):
    """Yields (where, schema) for every schema object the document holds
    at the top of a schema position (nested ones are checked with it)."""
    for name, schema in (doc.get('components', {}).get('schemas') or {}).items():
        yield '#/components/schemas/' + name, schema
    for where, node in walk(doc.get('paths', {}), '#/paths'):
        if 'schema' in node and isinstance(node['schema'], dict):
            yield where + '/schema', node['schema']
        if 'x-beach-event-schema' in node:
            yield where + '/x-beach-event-schema', node['x-beach-event-schema']
    for kind in ('responses', 'parameters'):
        for where, node in walk(doc.get('components', {}).get(kind, {}),
                                '#/components/' + kind):
            if 'schema' in node and isinstance(node['schema'], dict):
                yield where + '/schema', node['schema']


def media_params(ctype):
    parts = [p.strip().lower().replace(' ', '') for p in (ctype or '').split(';')]
    return parts[0], frozenset(p for p in parts[1:] if p)


class Spec:
    """The document, with validation against its schemas."""

    def __init__(self, doc):
        self.doc = doc
        self.routes = spec_routes(doc)
        self.resolver = RefResolver.from_schema(doc)

    def errors(self, schema, instance):
        v = Draft202012Validator(schema, resolver=self.resolver)
        return sorted((e.message + ' at ' + '/'.join(str(p) for p in e.absolute_path))
                      for e in v.iter_errors(instance))

    def op(self, method, pattern):
        return self.routes[(method, pattern)]

    def request_schema(self, op):
        body = deref(self.doc, op.get('requestBody'))
        if body is None:
            return None
        return body['content']['application/json']['schema']

    def response(self, op, status):
        r = op.get('responses', {}).get(str(status))
        return deref(self.doc, r) if r is not None else None

    def query_param(self, op, name):
        for p in op.get('parameters', []):
            p = deref(self.doc, p)
            if p['in'] == 'query' and p['name'] == name:
                return p
        return None

    def error_schema(self):
        return {'$ref': '#/components/schemas/Error'}


# -- 1 and 2: the document and the route table ---------------------------------

class DocumentTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.doc = load_spec()
        cls.spec = Spec(cls.doc)

    def test_1_routes_match_the_daemon(self):
        p = subprocess.run([beachtest.BINARY, '--list-routes'], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, 'beach-manager --list-routes: %s' % p.stderr)
        self.assertNotIn('listening on', p.stdout, '--list-routes must not listen')
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        daemon = set()
        for line in lines:
            m = re.fullmatch(r'(GET|POST|PUT|PATCH|DELETE) (/\S*)', line)
            self.assertIsNotNone(m, '--list-routes line is not "METHOD PATTERN": %r' % line)
            self.assertNotIn((m[1], m[2]), daemon, 'route listed twice: %s' % line)
            daemon.add((m[1], m[2]))
        self.assertGreater(len(daemon), 3, 'too few routes: %s' % lines)
        documented = set(self.spec.routes)
        problems = ['served by the daemon but missing from %s: %s %s'
                    % (os.path.basename(SPEC_PATH), m, p) for m, p in sorted(daemon - documented)]
        problems += ['in %s but not served by the daemon: %s %s'
                     % (os.path.basename(SPEC_PATH), m, p) for m, p in sorted(documented - daemon)]
        self.assertFalse(problems, '\n'.join(problems))

    def test_2_schemas_are_valid_2020_12(self):
        self.assertTrue(str(self.doc.get('openapi', '')).startswith('3.1'),
                        'not OpenAPI 3.1: %r' % self.doc.get('openapi'))
        self.assertEqual(self.doc.get('jsonSchemaDialect'),
                         'https://json-schema.org/draft/2020-12/schema')
        n = 0
        problems = []
        for where, schema in schemas_of(self.doc):
            n += 1
            try:
                Draft202012Validator.check_schema(schema)
            except jsonschema.exceptions.SchemaError as e:
                problems.append('%s: %s' % (where, e.message))
        self.assertGreater(n, 40)
        self.assertFalse(problems, '\n'.join(problems))

    def test_3_every_ref_resolves(self):
        problems = []
        n = 0
        for where, node in walk(self.doc, '#'):
            ref = node.get('$ref')
            if ref is None:
                continue
            n += 1
            try:
                resolve_pointer(self.doc, ref)
            except (KeyError, IndexError, ValueError, TypeError) as e:
                problems.append('%s: $ref %r does not resolve (%s)' % (where, ref, e))
        self.assertGreater(n, 50)
        self.assertFalse(problems, '\n'.join(problems))

    def test_4_operations_are_complete(self):
        schemes = set(self.doc['components']['securitySchemes'])
        self.assertIn('bearer', schemes)
        self.assertEqual(self.doc['components']['securitySchemes']['bearer'].get('scheme'), 'bearer')
        ids = set()
        problems = []
        for (method, pattern), op in sorted(self.spec.routes.items()):
            name = '%s %s' % (method, pattern)
            oid = op.get('operationId')
            if not oid or oid in ids:
                problems.append('%s: operationId missing or repeated: %r' % (name, oid))
            ids.add(oid)
            if not op.get('responses'):
                problems.append('%s: no responses' % name)
            kinds = op.get('x-beach-token-kinds')
            if not isinstance(kinds, list) or not set(kinds) <= set(TOKEN_KINDS):
                problems.append('%s: x-beach-token-kinds %r' % (name, kinds))
                continue
            security = op.get('security')
            if security is None:
                problems.append('%s: no security requirement' % name)
            elif kinds and not security:
                problems.append('%s: takes tokens %s but security is empty' % (name, kinds))
            elif not kinds and security:
                problems.append('%s: no token kinds but security %r' % (name, security))
            for req in security or []:
                for s in req:
                    if s not in schemes:
                        problems.append('%s: unknown security scheme %s' % (name, s))
            for code, resp in op.get('responses', {}).items():
                resp = deref(self.doc, resp)
                if int(code) >= 400:
                    schema = resp.get('content', {}).get('application/json', {}).get('schema')
                    if schema is None or 'Error' not in repr(schema):
                        problems.append('%s: %s is not the error envelope' % (name, code))
                if kinds and '401' not in op['responses']:
                    problems.append('%s: takes a token but documents no 401' % name)
            # Path parameters: declared on the path item or the operation.
            path = [p for p in self.doc['paths'] if to_colon(p) == pattern][0]
            declared = {deref(self.doc, p)['name'] for p in
                        self.doc['paths'][path].get('parameters', []) + op.get('parameters', [])
                        if deref(self.doc, p)['in'] == 'path'}
            wanted = set(re.findall(r'\{([^}/]+)\}', path))
            if declared != wanted:
                problems.append('%s: path parameters %s, declared %s' % (name, wanted, declared))
        self.assertFalse(problems, '\n'.join(problems))

    def test_5_error_envelope_rejects_what_it_must(self):
        err = self.spec.error_schema()
        self.assertEqual(self.spec.errors(err, {'error': 'not_found', 'message': 'x'}), [])
        for bad in ({'error': 'not_found'}, {'message': 'x'},
                    {'error': 'nope', 'message': 'x'},
                    {'error': 'conflict', 'message': 'x', 'error_code': 'nope'},
                    {'error': 'conflict', 'message': 'x', 'extra': 1}):
            self.assertTrue(self.spec.errors(err, bad), 'the Error schema accepts %r' % bad)


# -- 3: against a real daemon -------------------------------------------------------

class OfferingPeer:
    """A webrtcbin that offers the three data channels (the harness side of
    WIRE.md "Fast-path signalling"), in this process."""

    def __init__(self):
        warnings.filterwarnings('ignore', category=ImportWarning)  # gi's importer
        import gi
        gi.require_version('Gst', '1.0')
        gi.require_version('GstWebRTC', '1.0')
        gi.require_version('GstSdp', '1.0')
        from gi.repository import Gst, GstSdp, GstWebRTC
        self.Gst, self.GstSdp, self.GstWebRTC = Gst, GstSdp, GstWebRTC
        Gst.init(None)
        self.candidates = queue.Queue()
        self.pipe = Gst.Pipeline.new('offerer')
        self.wb = Gst.ElementFactory.make('webrtcbin', 'offerer')
        if self.wb is None:
            raise RuntimeError('no webrtcbin element (gstreamer1.0-plugins-bad)')
        self.pipe.add(self.wb)
        # As libbeach does: no SSDP multicast, no TCP candidates.
        ice = self.wb.get_property('ice-agent')
        if ice is not None and hasattr(ice.props, 'ice_tcp'):
            ice.set_property('ice-tcp', False)
        agent = ice.get_property('agent') if ice is not None and hasattr(ice.props, 'agent') else None
        if agent is not None and hasattr(agent.props, 'upnp'):
            agent.set_property('upnp', False)
        self.wb.connect('on-ice-candidate',
                        lambda _el, mline, cand: self.candidates.put((mline, cand)))
        self.pipe.set_state(Gst.State.PLAYING)
        self.channels = [self.wb.emit('create-data-channel', label, None)
                         for label in ('mgr-actions', 'mgr-acks', 'mgr-state')]
        # The promise and its reply are kept while the description is used:
        # the reply owns it (a freed reply crashes pygobject).
        self._offer_promise = Gst.Promise.new()
        self.wb.emit('create-offer', None, self._offer_promise)
        if self._offer_promise.wait() != Gst.PromiseResult.REPLIED:
            raise RuntimeError('create-offer: no reply')
        self._offer_reply = self._offer_promise.get_reply()
        offer = self._offer_reply.get_value('offer')
        if offer is None:
            raise RuntimeError('create-offer: %s' % self._offer_reply.to_string())
        self.offer_sdp = offer.sdp.as_text()
        self.mid = re.search(r'^a=mid:(\S+)', self.offer_sdp, re.M)[1]
        p = Gst.Promise.new()
        self.wb.emit('set-local-description', offer, p)
        p.wait()

    def candidate(self, timeout):
        """(mline, candidate) gathered by this webrtcbin, or None."""
        try:
            return self.candidates.get(timeout=timeout)
        except queue.Empty:
            return None

    def parse_answer(self, sdp):
        """The answer parsed as SDP: the number of m= sections and their media."""
        res, msg = self.GstSdp.SDPMessage.new_from_text(sdp)
        if res != self.GstSdp.SDPResult.OK:
            raise AssertionError('the answer is not SDP (%s): %r' % (res, sdp))
        return [msg.get_media(i).get_media() for i in range(msg.medias_len())]

    def close(self):
        self.pipe.set_state(self.Gst.State.NULL)


class LiveTest(beachtest.BeachTestCase):
    """One daemon (memory queue); every operation of the document is called."""

    @classmethod
    def setUpClass(cls):
        cls.spec = Spec(load_spec())

    def setUp(self):
        super().setUp()
        self.used = {}      # (method, pattern) -> {'ok': set(kinds), 'error': n}
        self.exempt = {}    # (method, pattern) -> why it has no failing sample
        self.tokens = {}    # kind -> token, for the session the matrix runs on

    # -- calling and checking ------------------------------------------------

    def note(self, key, status, kind):
        u = self.used.setdefault(key, {'ok': set(), 'error': 0})
        if status < 400:
            u['ok'].add(kind)
        else:
            u['error'] += 1

    def call(self, method, pattern, sid=None, token=None, kind=None, body=None, query=None,
             expect=200, body_valid=None, query_valid=None, raw_body=None, via_query=False):
        """Sends one request to the route and checks it against the document.

        body_valid / query_valid: whether the request body / query must
        validate against the operation's schemas (default: when expect is
        a success). The answer must have a documented status, the
        documented content type, and validate against its schema."""
        key = (method, pattern)
        self.assertIn(key, self.spec.routes, 'no operation for %s %s' % key)
        op = self.spec.op(method, pattern)
        name = '%s %s (%s)' % (method, pattern, kind or 'no token')
        success = expect < 400
        if body_valid is None:
            body_valid = success
        if query_valid is None:
            query_valid = success

        if body is not None:
            schema = self.spec.request_schema(op)
            self.assertIsNotNone(schema, '%s: sent a body but no requestBody is documented' % name)
            errs = self.spec.errors(schema, body)
            if body_valid:
                self.assertEqual(errs, [], '%s: sample body %r does not validate' % (name, body))
            else:
                self.assertTrue(errs, '%s: the requestBody schema accepts %r, which the daemon '
                                'refuses' % (name, body))
        query = dict(query or {})
        bad_query = []
        for qname, value in query.items():
            param = self.spec.query_param(op, qname)
            self.assertIsNotNone(param, '%s: query parameter %s is not documented' % (name, qname))
            schema = deref(self.spec.doc, param['schema'])
            inst = int(value) if schema.get('type') == 'integer' and re.fullmatch(r'\d+', str(value)) \
                else value
            bad_query += self.spec.errors(param['schema'], inst)
        if query_valid:
            self.assertEqual(bad_query, [], '%s: sample query %r does not validate' % (name, query))
        elif query:
            self.assertTrue(bad_query, '%s: the parameter schemas accept %r, which the daemon '
                            'refuses' % (name, query))
        if via_query:
            query['access_token'] = token
        path = pattern.replace(':id', urllib.parse.quote(sid or '', safe=''))
        if query:
            path += '?' + urllib.parse.urlencode(query)
        status, out, headers = self.req(method, path, None if via_query else token,
                                        raw_body if raw_body is not None else body)
        self.assertEqual(status, expect, '%s: %s' % (name, out))
        self.check_response(op, name, status, out, headers)
        self.note(key, status, kind)
        return out

    def check_response(self, op, name, status, out, headers):
        resp = self.spec.response(op, status)
        self.assertIsNotNone(resp, '%s: answered %d, which the document does not list (%s)'
                             % (name, status, sorted(op['responses'])))
        content = resp.get('content', {})
        ctype, params = media_params(headers.get('Content-Type'))
        documented = {media_params(k): v for k, v in content.items()}
        match = [v for (t, p), v in documented.items() if t == ctype and p <= params]
        self.assertTrue(match, '%s: Content-Type %r, documented %s'
                        % (name, headers.get('Content-Type'), sorted(content)))
        media = match[0]
        if ctype == 'application/json':
            errs = self.spec.errors(media['schema'], out)
            self.assertEqual(errs, [], '%s: %d answer %r does not validate' % (name, status, out))
        else:
            self.assertIsInstance(out, str, name)
        if status >= 400:
            errs = self.spec.errors(self.spec.error_schema(), out)
            self.assertEqual(errs, [], '%s: %r is not the error envelope' % (name, out))
            self.assertEqual(out['error'], beachtest.ERROR_KINDS[status], name)

    def stream(self, pattern, sid, token, kind, trigger):
        """GET on an event route: 200, text/event-stream, and the first
        event validates against the documented event schema."""
        key = ('GET', pattern)
        op = self.spec.op(*key)
        name = 'GET %s (%s)' % (pattern, kind)
        path = pattern.replace(':id', urllib.parse.quote(sid or '', safe=''))
        s = self.subscribe(path, token)
        resp = self.spec.response(op, s.status)
        self.assertIsNotNone(resp, name)
        ctype, _ = media_params(s.headers.get('Content-Type'))
        self.assertEqual(ctype, 'text/event-stream', name)
        media = resp['content'].get(ctype)
        self.assertIsNotNone(media, '%s: text/event-stream is not documented' % name)
        trigger()
        ev = s.next_event(SSE_TIMEOUT)
        self.assertIsNotNone(ev, '%s: no event within %.0f s' % (name, SSE_TIMEOUT))
        errs = self.spec.errors(media['x-beach-event-schema'], ev)
        self.assertEqual(errs, [], '%s: first event %r does not validate' % (name, ev))
        self.note(key, s.status, kind)
        s.close()
        return ev

    # -- the run -------------------------------------------------------------

    def test_every_operation(self):
        now = beachtest.now_ms()
        far = {'secs_since_epoch': now // 1000 + 3600, 'nanos_since_epoch': 5000000}

        # health
        self.call('GET', '/healthz')
        self.call('GET', '/readyz')
        self.call('GET', '/metrics')
        self.readyz_unavailable()

        # sessions: S (http_fallback) carries the queue, F (fast_path) the
        # offer, D is deleted.
        reg = self.registration('oa-s', location_hint='lab', metadata={'k': 'v'})
        out = self.call('POST', '/sessions/register', token=self.op, kind='operator', body=reg)
        s_tok = out['session_token']
        self.call('POST', '/sessions/register', token=s_tok, kind='session', body=reg)
        f_tok = self.call('POST', '/sessions/register', token=self.op, kind='operator',
                          body=self.registration('oa-f', mode=None))['session_token']
        self.call('POST', '/sessions/register', token=self.op, kind='operator',
                  body=self.registration('oa-d', mode='fast_path'))
        self.call('POST', '/sessions/register', token=self.op, kind='operator',
                  body={k: v for k, v in reg.items() if k != 'version'}, expect=400)
        self.call('POST', '/sessions/register', token=self.op, kind='operator',
                  body=self.registration('oa-s', pb='other'), expect=409, body_valid=True)

        self.call('GET', '/sessions', token=self.op, kind='operator')
        self.call('GET', '/sessions/:id', 'oa-s', self.op, 'operator')
        self.call('GET', '/sessions/:id', 'no-such', self.op, 'operator', expect=404)

        # leases and handshake
        lease = self.call('POST', '/sessions/:id/controller/lease', 'oa-s', self.op, 'operator',
                          body={'ttl_ms': 60000, 'reason': 'openapi'})['controller_token']
        self.call('POST', '/sessions/:id/controller/lease', 'oa-s', lease, 'lease', body={})
        self.call('POST', '/sessions/:id/controller/lease', 'oa-s', self.op, 'operator',
                  body={'ttl_ms': 5}, expect=400)
        hs = self.call('POST', '/sessions/:id/controller-handshake', 'oa-s', self.op, 'operator',
                       body={'reason': 'openapi-hs', 'passcode': None})
        lease2 = hs['controller_token']
        self.call('POST', '/sessions/:id/controller-handshake', 'oa-s', lease, 'lease',
                  body={'controller_token': lease})
        self.call('POST', '/sessions/:id/controller-handshake', 'oa-s', self.op, 'operator',
                  body={'ttl_ms': 'soon'}, expect=400)
        self.call('POST', '/sessions/:id/controller-handshake/renew', 'oa-s', lease, 'lease',
                  body={'ttl_ms': 60000})
        self.call('POST', '/sessions/:id/controller-handshake/renew', 'oa-s', lease, 'lease',
                  body={'controller_token': lease2}, expect=403, body_valid=True)
        self.tokens = {'operator': self.op, 'session': s_tok, 'lease': lease}

        # actions
        actions = [
            self.action('oa-1', 'echo hi\n', expires_at=far),
            {'id': 'oa:2', 'action_type': 'custom_thing', 'payload': {'n': 1},
             'expires_at': now + 3600 * 1000},
        ]
        self.call('POST', '/sessions/:id/actions', 'oa-s', lease, 'lease',
                  body={'controller_token': lease, 'actions': actions, 'fallback': 'allow'})
        self.call('POST', '/sessions/:id/actions', 'oa-s', lease, 'lease',
                  body={'controller_token': lease, 'actions': []}, expect=400)
        self.call('POST', '/sessions/:id/actions', 'oa-s', lease, 'lease',
                  body={'actions': [self.action('oa-big', 'x' * (70 * 1024))]}, expect=413,
                  body_valid=True)
        polled = self.call('GET', '/sessions/:id/actions/poll', 'oa-s', s_tok, 'session',
                           query={'wait_ms': 0, 'max': 10})
        self.assertEqual([a['id'] for a in polled['actions']], ['oa-1', 'oa:2'])
        self.call('GET', '/sessions/:id/actions/poll', 'oa-s', s_tok, 'session',
                  query={'wait_ms': 99999}, expect=400)
        self.call('GET', '/sessions/:id/actions/pending', 'oa-s', s_tok, 'session',
                  via_query=True)
        acks = [{'id': 'oa-1', 'status': 'ok', 'applied_at': beachtest.now_ms(), 'latency_ms': 2},
                {'id': 'oa:2', 'status': 'rejected', 'applied_at': far, 'error_code': 'nope',
                 'error_message': 'refused by the test'}]
        got = self.call('POST', '/sessions/:id/actions/ack', 'oa-s', s_tok, 'session', body=acks)
        self.assertEqual(got['acknowledged'], 2)
        self.call('POST', '/sessions/:id/actions/ack', 'oa-s', s_tok, 'session',
                  body={'id': 'oa-1'}, expect=400)

        # state, health, dead letters
        diff = {'sequence': 1, 'emitted_at': beachtest.now_ms(), 'payload': {'rows': 2}}
        self.call('POST', '/sessions/:id/state', 'oa-s', s_tok, 'session', body=diff)
        self.call('POST', '/sessions/:id/state', 'oa-s', s_tok, 'session',
                  body={'sequence': 2, 'emitted_at': far}, expect=400)
        self.call('GET', '/sessions/:id/state', 'oa-s', self.op, 'operator')
        self.call('GET', '/sessions/:id/state', 'oa-s', lease, 'lease')
        self.call('GET', '/sessions/:id/state', 'no-such', self.op, 'operator', expect=404)
        health = {'queue_depth': 0, 'cpu_load': 0.25, 'memory_bytes': 1 << 20, 'degraded': False,
                  'warnings': ['w'], 'fast_path': {'state': 'disabled', 'attempts': 0,
                                                   'last_error': None}}
        self.call('POST', '/sessions/:id/health', 'oa-s', s_tok, 'session', body=health)
        self.call('POST', '/sessions/:id/health', 'oa-s', s_tok, 'session',
                  body=dict(health, queue_depth=-1), expect=400)
        session = self.call('GET', '/sessions/:id', 'oa-s', self.op, 'operator')
        self.assertIsNotNone(session['last_health'])
        self.call('GET', '/sessions/:id/dead-letters', 'oa-s', self.op, 'operator',
                  query={'since': 0})
        self.call('GET', '/sessions/:id/dead-letters', 'oa-s', lease, 'lease')
        self.call('GET', '/sessions/:id/dead-letters', 'oa-s', lease, 'lease',
                  query={'since': 'yesterday'}, expect=400)

        # events: each stream's first event comes from a state post
        seq = [10]

        def post_state():
            seq[0] += 1
            self.call('POST', '/sessions/:id/state', 'oa-s', s_tok, 'session',
                      body={'sequence': seq[0], 'emitted_at': far, 'payload': [1]})

        self.stream('/events', None, self.op, 'operator', post_state)
        self.stream('/sessions/:id/events', 'oa-s', self.op, 'operator', post_state)
        self.stream('/sessions/:id/events', 'oa-s', lease, 'lease', post_state)

        # fast path
        self.fast_path(f_tok, s_tok)
        f_lease = self.call('POST', '/sessions/:id/controller/lease', 'oa-f', self.op, 'operator',
                            body={'reason': 'openapi-412'})['controller_token']
        self.call('POST', '/sessions/:id/actions', 'oa-f', f_lease, 'lease',
                  body={'actions': [self.action('oa-3')], 'fallback': 'never'}, expect=412,
                  body_valid=True)

        # token kinds: every kind an operation does not list is 403, no
        # token is 401 (run while the lease is live)
        self.token_matrix()

        # releases and deletion
        self.call('DELETE', '/sessions/:id/controller/lease', 'oa-s', self.op, 'operator',
                  body={}, expect=400, body_valid=True)
        self.call('DELETE', '/sessions/:id/controller/lease', 'oa-s', self.op, 'operator',
                  body={'controller_token': lease2})
        self.call('DELETE', '/sessions/:id/controller/lease', 'oa-s', self.op, 'operator',
                  body={'controller_token': lease2}, expect=409, body_valid=True)
        self.call('DELETE', '/sessions/:id/controller/lease', 'oa-s', lease, 'lease')
        # a released lease reads nothing
        self.call('GET', '/sessions/:id/state', 'oa-s', lease, 'lease', expect=409)
        s = beachtest.SSEStream(self.d, '/sessions/oa-s/events', lease)
        self.assertEqual(s.status, 409, getattr(s, 'body', None))
        self.check_response(self.spec.op('GET', '/sessions/:id/events'),
                            'GET /sessions/:id/events (dead lease)', s.status, s.body, s.headers)
        self.note(('GET', '/sessions/:id/events'), s.status, 'lease')
        self.call('DELETE', '/sessions/:id', 'oa-d', self.op, 'operator')
        self.call('DELETE', '/sessions/:id', 'oa-d', self.op, 'operator', expect=404)

        self.check_coverage()

    def readyz_unavailable(self):
        """/readyz is 503 while the queue backend does not answer: a daemon
        on a Redis socket that does not exist."""
        missing = os.path.join(self.d.tmp, 'no-redis.sock')
        try:
            d = self.start_daemon(args=['--queue', 'redis', '--redis-url', 'unix://' + missing],
                                  name='no-redis')
        except AssertionError as e:
            if 'no Redis support' in str(e):
                self.exempt[('GET', '/readyz')] = 'this build has no Redis backend'
                return
            raise
        op = self.spec.op('GET', '/readyz')
        status, out, headers = self.req('GET', '/readyz', daemon=d)
        self.assertEqual(status, 503, out)
        self.check_response(op, 'GET /readyz (no Redis)', status, out, headers)
        self.note(('GET', '/readyz'), status, None)
        self.assertEqual(d.stop(), 0, d.stderr_text())

    def fast_path(self, f_tok, s_tok):
        """A real offer from a webrtcbin in this process."""
        peer = OfferingPeer()
        self._closers.append(peer.close)
        offer = {'sdp': peer.offer_sdp, 'type': 'offer', 'handshake_id': None}
        t = time.monotonic()
        answer = self.call('POST', '/fastpath/sessions/:id/webrtc/offer', 'oa-f', f_tok, 'session',
                           body=offer)
        self.assertLess(time.monotonic() - t, OFFER_TIMEOUT)
        self.assertEqual(peer.parse_answer(answer['sdp']), ['application'])
        link = answer['link_id']
        got = peer.candidate(10.0)
        mline, cand = got if got is not None else (0, 'candidate:1 1 UDP 2122252543 127.0.0.1 9 typ host')
        self.call('POST', '/fastpath/sessions/:id/webrtc/ice', 'oa-f', f_tok, 'session',
                  body={'candidate': cand, 'sdp_mid': peer.mid, 'sdp_mline_index': mline,
                        'link_id': link})
        self.call('POST', '/fastpath/sessions/:id/webrtc/ice', 'oa-f', f_tok, 'session',
                  body={'candidate': '', 'link_id': link})
        # The manager's candidates name the offer's section by its a=mid.
        deadline = time.monotonic() + OFFER_TIMEOUT
        while True:
            ice = self.call('GET', '/fastpath/sessions/:id/webrtc/ice', 'oa-f', f_tok, 'session',
                            query={'link_id': link, 'since': 0})
            if ice['candidates'] or ice['complete'] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertTrue(ice['candidates'], 'the manager gathered no candidate: %r' % ice)
        for c in ice['candidates']:
            self.assertEqual((c['sdp_mid'], c['sdp_mline_index']), (peer.mid, 0), c)
        # failing: not an offer; an http_fallback session; no link; bad since
        self.call('POST', '/fastpath/sessions/:id/webrtc/offer', 'oa-f', f_tok, 'session',
                  body={'sdp': peer.offer_sdp, 'type': 'answer'}, expect=400)
        self.call('POST', '/fastpath/sessions/:id/webrtc/offer', 'oa-s', s_tok, 'session',
                  body=offer, expect=409, body_valid=True)
        self.call('POST', '/fastpath/sessions/:id/webrtc/ice', 'oa-s', s_tok, 'session',
                  body={'candidate': cand}, expect=404, body_valid=True)
        self.call('POST', '/fastpath/sessions/:id/webrtc/ice', 'oa-f', f_tok, 'session',
                  body={'sdp_mid': peer.mid}, expect=400)
        self.call('GET', '/fastpath/sessions/:id/webrtc/ice', 'oa-f', f_tok, 'session',
                  query={'since': 'x'}, expect=400)
        self.call('GET', '/fastpath/sessions/:id/webrtc/ice', 'oa-s', s_tok, 'session',
                  expect=404)

    def token_matrix(self):
        for (method, pattern), op in sorted(self.spec.routes.items()):
            kinds = op['x-beach-token-kinds']
            if not kinds:
                continue
            sid = 'oa-s' if ':id' in pattern else None
            self.call(method, pattern, sid, None, None, expect=401)
            for kind in TOKEN_KINDS:
                if kind not in kinds:
                    self.call(method, pattern, sid, self.tokens[kind], kind, expect=403)

    def check_coverage(self):
        problems = []
        for key, op in sorted(self.spec.routes.items()):
            name = '%s %s' % key
            u = self.used.get(key, {'ok': set(), 'error': 0})
            kinds = set(op['x-beach-token-kinds']) or {None}
            if u['ok'] != kinds:
                problems.append('%s: success samples used token kinds %s, the document lists %s'
                                % (name, sorted(str(k or 'no token') for k in u['ok']),
                                   sorted(str(k or 'no token') for k in kinds)))
            if u['error'] == 0 and key not in NO_FAILING_SAMPLE and key not in self.exempt:
                problems.append('%s: no failing sample' % name)
        self.assertFalse(problems, '\n'.join(problems))
        if self.exempt:
            sys.stderr.write('no failing sample: %s\n' % self.exempt)


if __name__ == '__main__':
    unittest.main()
