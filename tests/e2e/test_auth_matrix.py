#!/usr/bin/python3
"""The authentication matrix: every route of the daemon × every kind of token.

Each cell of MATRIX is the HTTP status WIRE.md ("Tokens" table, check order
401 → 403 → 404 → body → 409/412/429/503, and the "Details" list) gives for
that request. Every request carries a valid body for its route, so only
authentication decides; where authentication passes, the cell is the
route's success status or its documented next check. The whole matrix runs
once with `Authorization: Bearer` and once with `?access_token=`, and every
mismatching cell is reported at once.

    BEACH_MANAGER=build/src/manager/beach-manager python3 tests/e2e/test_auth_matrix.py -v
"""

import http.client
import itertools
import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from beachtest import ERROR_KINDS, BeachTestCase, now_ms  # noqa: E402

# The path session of every row is s1 (registered in http_fallback mode);
# s2 is "another session".
#   none      no token at all
#   operator  the operator token
#   own_sess  s1's session token         other_sess  s2's session token
#   own_lease a live lease on s1         other_lease a live lease on s2
#   expired   a lease on s1 past its TTL garbage     a well-formed unknown token
COLUMNS = ('none', 'operator', 'own_sess', 'other_sess', 'own_lease', 'other_lease',
           'expired', 'garbage')

# Why the cells that are neither plain "✓" (200) nor plain "wrong kind" (403):
# - register with another session's token: the body names s1, the token is
#   s2's → 403 (WIRE.md Details: "403 if the body's session_id is not the
#   token's"). With a garbage token the body proves nothing → 401
#   (docs/wire-notes.md).
# - expired lease on a lease route: the token is known, so 401 and 403 pass;
#   a dead lease is 409 missing_lease (after 404 and the body checks).
# - offer on an http_fallback session: 409 http_fallback_mode, the route's
#   documented next check (a real SDP offer needs a WebRTC peer).
# - ICE on a session with no link: 404, "no link" (WIRE.md is silent;
#   docs/wire-notes.md).
# - the public routes answer 200 whatever the token, garbage included.
MATRIX = {
    #                                              none  oper  own_s oth_s own_l oth_l expir garb
    'POST /sessions/register':                    (401,  200,  200,  403,  403,  403,  403,  401),
    'GET /sessions':                              (401,  200,  403,  403,  403,  403,  403,  401),
    'GET /sessions/:id':                          (401,  200,  403,  403,  403,  403,  403,  401),
    'POST /sessions/:id/controller/lease':        (401,  200,  403,  403,  200,  403,  409,  401),
    'DELETE /sessions/:id/controller/lease':      (401,  200,  403,  403,  200,  403,  409,  401),
    'POST /sessions/:id/controller-handshake':    (401,  200,  403,  403,  200,  403,  409,  401),
    'POST /sessions/:id/controller-handshake/renew': (401, 403, 403, 403,  200,  403,  409,  401),
    'POST /sessions/:id/actions':                 (401,  403,  403,  403,  200,  403,  409,  401),
    'GET /sessions/:id/actions/poll':             (401,  403,  200,  403,  403,  403,  403,  401),
    'GET /sessions/:id/actions/pending':          (401,  403,  200,  403,  403,  403,  403,  401),
    'POST /sessions/:id/actions/ack':             (401,  403,  200,  403,  403,  403,  403,  401),
    'POST /sessions/:id/state':                   (401,  403,  200,  403,  403,  403,  403,  401),
    'GET /sessions/:id/state':                    (401,  200,  403,  403,  200,  403,  409,  401),
    'POST /sessions/:id/health':                  (401,  403,  200,  403,  403,  403,  403,  401),
    'GET /sessions/:id/events':                   (401,  200,  403,  403,  200,  403,  409,  401),
    'GET /sessions/:id/dead-letters':             (401,  200,  403,  403,  200,  403,  409,  401),
    'GET /events':                                (401,  200,  403,  403,  403,  403,  403,  401),
    'POST /fastpath/sessions/:id/webrtc/offer':   (401,  403,  409,  403,  403,  403,  403,  401),
    'POST /fastpath/sessions/:id/webrtc/ice':     (401,  403,  404,  403,  403,  403,  403,  401),
    'GET /fastpath/sessions/:id/webrtc/ice':      (401,  403,  404,  403,  403,  403,  403,  401),
    'GET /healthz':                               (200,  200,  200,  200,  200,  200,  200,  200),
    'GET /readyz':                                (200,  200,  200,  200,  200,  200,  200,  200),
    'GET /metrics':                               (200,  200,  200,  200,  200,  200,  200,  200),
    # Last: the operator's cell deletes s1 (see LAST_CELL).
    'DELETE /sessions/:id':                       (401,  200,  403,  403,  403,  403,  403,  401),
}
# error_code of the cells that are not 200/401/403.
ERROR_CODES = {409: ('missing_lease', 'http_fallback_mode'), 404: (None,)}
LAST_CELL = ('DELETE /sessions/:id', 'operator')

STATE_OK = {'sequence': 1, 'emitted_at': 1700000000000, 'payload': {'cols': 80}}
HEALTH_OK = {'queue_depth': 0, 'degraded': False, 'warnings': []}
# Well-formed enough for the offer route's body checks.
OFFER_SDP = ('v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'
             'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n'
             'a=sctp-port:5000\r\n')


class Fixtures:
    """Sessions s1 (the path's) and s2, their tokens, leases, an expired lease."""

    def __init__(self, case):
        self.case = case
        self.d = case.d
        self.seq = itertools.count(1)
        self.t1 = case.register('s1')
        self.t2 = case.register('s2')
        self.l2 = case.lease('s2')
        self.l1 = case.lease('s1')
        status, short, _ = self.d.req('POST', '/sessions/s1/controller/lease', case.op,
                                      {'ttl_ms': 1000, 'reason': 'short'})
        case.assertEqual(status, 200, short)
        self.expired = short['controller_token']
        self._wait_expired(short['expires_at_ms'])

    def _wait_expired(self, expires_at_ms):
        # The daemon's clock decides: poll the lease itself (a read never
        # extends it), parking on a long-poll of s1 between tries.
        deadline = time.monotonic() + 10
        while True:
            status, body, _ = self.d.req('GET', '/sessions/s1/state', self.expired)
            if status == 409:
                return
            self.case.assertEqual(status, 200, body)
            self.case.assertLess(time.monotonic(), deadline, 'the 1 s lease never expired')
            wait = min(2000, max(20, expires_at_ms + 30 - now_ms()))
            status, body, _ = self.case.poll('s1', self.t1, wait_ms=wait)
            self.case.assertEqual((status, body.get('actions')), (200, []))

    def token(self, kind):
        return {
            'none': None, 'operator': self.case.op, 'own_sess': self.t1,
            'other_sess': self.t2, 'own_lease': self.l1, 'other_lease': self.l2,
            'expired': self.expired, 'garbage': 'Zm9vYmFyYmF6cXV4' * 3,
        }[kind]

    def refresh_own_lease(self):
        self.l1 = self.case.lease('s1')

    def body(self, route, kind, token):
        """A valid body for ROUTE as sent with TOKEN (None: no body)."""
        if route == 'POST /sessions/register':
            return self.case.registration('s1')
        if route == 'POST /sessions/:id/controller/lease':
            return {'ttl_ms': 30000}
        if route == 'DELETE /sessions/:id/controller/lease':
            # A lease bearer names itself; the operator names a lease of s1
            # made for this request.
            if kind in ('own_lease', 'other_lease', 'expired'):
                return {'controller_token': token}
            return {'controller_token': self.case.lease('s1')}
        if route in ('POST /sessions/:id/controller-handshake',
                     'POST /sessions/:id/controller-handshake/renew'):
            return {}
        if route == 'POST /sessions/:id/actions':
            body = {'actions': [self.case.action('m%d' % next(self.seq), 'echo\n')]}
            if kind in ('own_lease', 'other_lease', 'expired'):
                body['controller_token'] = token
            return body
        if route == 'POST /sessions/:id/actions/ack':
            return [{'id': 'unknown-%d' % next(self.seq), 'status': 'ok',
                     'applied_at': now_ms()}]
        if route == 'POST /sessions/:id/state':
            return dict(STATE_OK, sequence=next(self.seq))
        if route == 'POST /sessions/:id/health':
            return HEALTH_OK
        if route == 'POST /fastpath/sessions/:id/webrtc/offer':
            return {'sdp': OFFER_SDP, 'type': 'offer'}
        if route == 'POST /fastpath/sessions/:id/webrtc/ice':
            return {'candidate': 'candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host',
                    'sdp_mid': '0', 'sdp_mline_index': 0}
        return None


def send(daemon, method, path, token, body, how):
    """One request; the token in the header or the query. Returns (status,
    parsed body or None for an event stream, raw bytes)."""
    headers = {}
    if token is not None:
        if how == 'header':
            headers['Authorization'] = 'Bearer ' + token
        else:
            sep = '&' if '?' in path else '?'
            path += sep + urllib.parse.urlencode({'access_token': token})
    data = None
    if body is not None:
        data = json.dumps(body).encode('utf-8')
        headers['Content-Type'] = 'application/json'
    conn = http.client.HTTPConnection(daemon.host, daemon.port, timeout=10)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        if resp.status == 200 and 'text/event-stream' in (resp.getheader('Content-Type') or ''):
            return resp.status, None, b''  # a live stream: the status is the answer
        raw = resp.read()
        try:
            parsed = json.loads(raw.decode('utf-8'))
        except ValueError:
            parsed = raw.decode('utf-8', 'replace')
        return resp.status, parsed, raw
    finally:
        conn.close()


class AuthMatrixTests(BeachTestCase):

    def test_matrix_is_complete(self):
        """The table names every route the daemon serves, each with 8 cells."""
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), 'src', 'manager', 'beach-http-api.c')
        with open(src) as f:
            text = f.read()
        table = text[text.index('routes[] = {'):]
        table = table[:table.index('};')]
        import re
        routes = {'%s %s' % m for m in re.findall(r'\{ "([A-Z]+)", "([^"]+)"', table)}
        self.assertGreaterEqual(len(routes), 20)
        public = {'GET /healthz', 'GET /readyz', 'GET /metrics'}
        self.assertEqual(set(MATRIX), routes | public,
                         'MATRIX and routes[] in beach-http-api.c differ')
        for route, cells in MATRIX.items():
            self.assertEqual(len(cells), len(COLUMNS), route)

    def _run_matrix(self, how):
        fx = Fixtures(self)
        cells = [(route, col) for route in MATRIX for col in COLUMNS]
        cells.remove(LAST_CELL)
        cells.append(LAST_CELL)
        mismatches = []
        for route, col in cells:
            want = MATRIX[route][COLUMNS.index(col)]
            method, pattern = route.split(' ', 1)
            path = pattern.replace(':id', 's1')
            token = fx.token(col)
            body = fx.body(route, col, token)
            status, parsed, raw = send(self.d, method, path, token, body, how)
            problem = None
            if status != want:
                problem = 'got %d' % status
            elif status >= 400:
                # The JSON error envelope, of the status's kind.
                if not isinstance(parsed, dict) or parsed.get('error') != ERROR_KINDS[status] \
                        or not parsed.get('message'):
                    problem = 'not a %s envelope' % ERROR_KINDS[status]
                elif status in ERROR_CODES and parsed.get('error_code') not in ERROR_CODES[status]:
                    problem = 'error_code %r' % parsed.get('error_code')
            if problem is not None:
                mismatches.append('  %-50s %-12s want %d, %s: %s'
                                  % (route, col, want, problem, raw[:160]))
            if (route, col) == ('DELETE /sessions/:id/controller/lease', 'own_lease') \
                    and status == 200:
                fx.refresh_own_lease()
        self.assertFalse(mismatches, '\n%d of %d cells differ from MATRIX (token in the %s):\n%s'
                         % (len(mismatches), len(cells), how, '\n'.join(mismatches)))
        print('\nauth matrix (token in the %s): %d cells checked' % (how, len(cells)))
        # The daemon is still fine, and s1 is gone (the last cell).
        self.assertEqual(self.req('GET', '/healthz')[0], 200)
        self.assertEqual(self.req('GET', '/sessions/s1', self.op)[0], 404)

    def test_matrix_bearer_header(self):
        self._run_matrix('header')

    def test_matrix_access_token_query(self):
        self._run_matrix('query')

    def test_header_wins_over_query(self):
        fx_t1 = self.register('s1')
        path = '/sessions/s1/actions/pending?access_token=' + fx_t1
        # A bearer header is the token, whatever the query says.
        status, body, _ = self.req('GET', path, 'Zm9vYmFyYmF6cXV4' * 3)
        self.assertEqual(status, 401, body)
        status, body, _ = self.req('GET', path, self.op)
        self.assertEqual(status, 403, body)
        # The scheme is case-insensitive (RFC 9110 11.1).
        status, body, _ = self.req('GET', '/sessions/s1/actions/pending',
                                   headers={'Authorization': 'bearer ' + fx_t1})
        self.assertEqual(status, 200, body)
        # Another scheme is no token at all.
        status, body, _ = self.req('GET', '/sessions/s1/actions/pending',
                                   headers={'Authorization': 'Basic ' + fx_t1})
        self.assertEqual(status, 401, body)


class CrossSessionTests(BeachTestCase):

    def test_no_token_reaches_another_sessions_data(self):
        fx = Fixtures(self)
        marker = 'S2-SECRET-7f3a'
        # s2 holds state, queued actions and a harness health report.
        status, body, _ = self.req('POST', '/sessions/s2/state', fx.t2,
                                   {'sequence': 1, 'emitted_at': now_ms(),
                                    'payload': {'screen': marker}})
        self.assertEqual(status, 200, body)
        status, body, _ = self.post_actions('s2', fx.l2, [self.action(marker + '-a1', marker)])
        self.assertEqual(status, 200, body)
        status, body, _ = self.req('POST', '/sessions/s2/health', fx.t2,
                                   dict(HEALTH_OK, warnings=[marker]))
        self.assertEqual(status, 200, body)
        # The operator sees it: the marker is really there to leak.
        status, body, _ = self.req('GET', '/sessions/s2/state', self.op)
        self.assertIn(marker, json.dumps(body))

        secrets_of_s2 = (marker, fx.t2, fx.l2)
        reads = ['/sessions/s2/state', '/sessions/s2/events', '/sessions/s2/dead-letters',
                 '/sessions/s2/actions/poll', '/sessions/s2/actions/pending',
                 '/sessions/s2', '/fastpath/sessions/s2/webrtc/ice']
        tokens = {'s1 lease': fx.l1, 's1 expired lease': fx.expired, 's1 session token': fx.t1}
        for (tname, token), path, how in itertools.product(tokens.items(), reads,
                                                           ('header', 'query')):
            with self.subTest(token=tname, path=path, how=how):
                status, parsed, raw = send(self.d, 'GET', path, token, None, how)
                self.assertEqual(status, 403, raw)
                self.assertEqual(parsed.get('error'), 'forbidden', raw)
                for secret in secrets_of_s2:
                    self.assertNotIn(secret.encode(), raw)
        # Writes with s1's credentials change nothing on s2.
        for path, token, body in (
                ('/sessions/s2/state', fx.t1, dict(STATE_OK, payload={'screen': 'x'})),
                ('/sessions/s2/actions/ack', fx.t1,
                 [{'id': marker + '-a1', 'status': 'ok', 'applied_at': now_ms()}]),
                ('/sessions/s2/actions', fx.l1,
                 {'controller_token': fx.l1, 'actions': [self.action('x1')]}),
                ('/sessions/s2/controller/lease', fx.l1, {}),
                ('/sessions/s2/controller-handshake', fx.l1, {}),
        ):
            with self.subTest(write=path):
                status, parsed, raw = send(self.d, 'POST', path, token, body, 'header')
                self.assertEqual(status, 403, raw)
        status, body, _ = self.req('GET', '/sessions/s2/state', self.op)
        self.assertIn(marker, json.dumps(body))
        status, polled, _ = self.poll('s2', fx.t2)
        self.assertEqual([a['id'] for a in polled['actions']], [marker + '-a1'])
        status, sess, _ = self.req('GET', '/sessions/s2', self.op)
        self.assertEqual(len(sess['leases']), 1, sess['leases'])

        # s1's own reads with its lease carry nothing of s2's.
        for path in ('/sessions/s1/state', '/sessions/s1/dead-letters'):
            status, parsed, raw = send(self.d, 'GET', path, fx.l1, None, 'header')
            self.assertEqual(status, 200, raw)
            for secret in secrets_of_s2:
                self.assertNotIn(secret.encode(), raw)
        # No token ever appears in a listing, nor in the metrics.
        for path, token in (('/sessions', self.op), ('/sessions/s1', self.op),
                            ('/sessions/s2', self.op), ('/metrics', None)):
            status, parsed, raw = send(self.d, 'GET', path, token, None, 'header')
            self.assertEqual(status, 200, raw)
            for secret in (fx.t1, fx.t2, fx.l1, fx.l2, fx.expired):
                self.assertNotIn(secret.encode(), raw, path)


if __name__ == '__main__':
    unittest.main()
