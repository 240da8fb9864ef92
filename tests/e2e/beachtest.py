"""beachtest: a small fixture for end-to-end tests of the beach-manager daemon.

Standard library only. The daemon binary comes from $BEACH_MANAGER (meson sets
it); run by hand, it defaults to build/src/manager/beach-manager.

    class T(beachtest.BeachTestCase):
        def test_x(self):
            token = self.register('s1')
            status, body, headers = self.req('GET', '/sessions', self.op)

Every test starts its own daemon in setUp (override CONFIG / ENV on the class,
or call start_daemon() for more). tearDown stops each one with SIGTERM and
asserts it exits 0 within 5 s; when a test fails, the daemons' stderr is
printed.
"""

import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = os.environ.get('BEACH_MANAGER') or os.path.join(
    SOURCE_ROOT, 'build', 'src', 'manager', 'beach-manager')

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
HTTP_TIMEOUT = 10.0

ERROR_KINDS = {
    400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
    405: 'method_not_allowed', 409: 'conflict', 412: 'precondition_failed',
    413: 'payload_too_large', 429: 'too_many_requests', 500: 'internal_error',
    503: 'unavailable',
}


def now_ms():
    return int(time.time() * 1000)


def config_text(config):
    """A GKeyFile from {group: {key: value}} (or a string, used as is)."""
    if config is None:
        return ''
    if isinstance(config, str):
        return config
    lines = []
    for group, keys in config.items():
        lines.append('[%s]' % group)
        for key, value in keys.items():
            if isinstance(value, (list, tuple)):
                value = ';'.join(value) + ';'
            elif isinstance(value, bool):
                value = 'true' if value else 'false'
            lines.append('%s=%s' % (key, value))
        lines.append('')
    return '\n'.join(lines)


def _decode(raw, headers):
    ctype = headers.get('Content-Type', '') or ''
    text = raw.decode('utf-8', errors='replace')
    if 'json' in ctype or text[:1] in ('{', '[') or text == 'null':
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _encode_body(body, headers):
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode('utf-8')
    headers.setdefault('Content-Type', 'application/json')
    return json.dumps(body, separators=(',', ':')).encode('utf-8')


class Daemon:
    """One beach-manager process listening on 127.0.0.1:<ephemeral>."""

    def __init__(self, config=None, env=None, operator_token=True, name='daemon', args=None):
        """args: extra command-line arguments (e.g. ['--queue', 'redis',
        '--redis-url', URL]), appended after --listen and --config."""
        self.name = name
        self.args = list(args or [])
        self.tmp = tempfile.mkdtemp(prefix='beach-e2e-')
        self.xdg = os.path.join(self.tmp, 'xdg')
        os.mkdir(self.xdg)
        self.config_path = os.path.join(self.tmp, 'beach-manager.conf')
        with open(self.config_path, 'w') as f:
            f.write(config_text(config))
        self.stderr_path = os.path.join(self.tmp, 'stderr.log')
        self.stdout_lines = []
        self.env = dict(os.environ)
        self.env['XDG_CONFIG_HOME'] = self.xdg
        self.env.pop('BEACH_MANAGER_TOKEN', None)
        self.env.pop('BEACH_CORS_ORIGINS', None)
        self.env.setdefault('G_DEBUG', 'fatal-criticals')
        if operator_token is True:
            operator_token = secrets.token_hex(16)  # 32 characters
        if operator_token:
            self.env['BEACH_MANAGER_TOKEN'] = operator_token
        if env:
            self.env.update(env)
        self.operator_token = operator_token or None
        self.proc = None
        self.host = None
        self.port = None
        self.returncode = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if not os.access(BINARY, os.X_OK):
            raise RuntimeError('beach-manager binary not found at %s (set BEACH_MANAGER)' % BINARY)
        # Appended: a restarted daemon keeps the earlier runs' log.
        self._stderr = open(self.stderr_path, 'ab')
        self.returncode = None
        self.proc = subprocess.Popen(
            [BINARY, '--listen', '127.0.0.1:0', '--config', self.config_path] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            env=self.env, cwd=self.tmp)
        lines = queue.Queue()

        def drain():
            for raw in iter(self.proc.stdout.readline, b''):
                line = raw.decode('utf-8', errors='replace').rstrip('\n')
                self.stdout_lines.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, name='%s-stdout' % self.name, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError('%s: no "listening on" line within %.0f s\nstderr:\n%s'
                                     % (self.name, START_TIMEOUT, self.stderr_text()))
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
                raise AssertionError('%s exited (status %s) before listening\nstderr:\n%s'
                                     % (self.name, rc, self.stderr_text()))
            if line.startswith('listening on http://'):
                hostport = line[len('listening on http://'):].strip().rstrip('/')
                host, _, port = hostport.rpartition(':')
                self.host, self.port = host.strip('[]'), int(port)
                break
        if self.operator_token is None:
            path = os.path.join(self.xdg, 'beach-manager', 'operator-token')
            with open(path) as f:
                self.operator_token = f.read().strip()
        return self

    def restart(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then start again with the same XDG dir, config and
        arguments (a new port). Returns the exit status of the old process
        (None if it had to be killed)."""
        rc = self.stop(timeout)
        for f in (getattr(self, '_stderr', None), self.proc and self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except Exception:
                pass
        self.start()
        return rc

    def wait_ready(self, timeout=START_TIMEOUT):
        """Deadline loop on GET /readyz until 200 (a Redis-backed daemon
        answers 503 until it has read the token secret). Returns the
        seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        last = None
        while True:
            try:
                last = self.req('GET', '/readyz', timeout=2.0)[:2]
                if last[0] == 200:
                    return time.monotonic() - start
            except OSError as e:
                last = e
            if time.monotonic() >= deadline:
                raise AssertionError('%s: /readyz not 200 within %.0f s (last: %r)\nstderr:\n%s'
                                     % (self.name, timeout, last, self.stderr_text()))
            time.sleep(0.02)

    def signal(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM; returns the exit status, or None if it did not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.returncode = None
        return self.returncode

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''

    def cleanup(self):
        self.kill()
        for f in (getattr(self, '_stderr', None), self.proc and self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- HTTP ----------------------------------------------------------------

    def connection(self, timeout=HTTP_TIMEOUT):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def req(self, method, path, token=None, body=None, headers=None, timeout=HTTP_TIMEOUT):
        """One request on a fresh connection: (status, parsed JSON or text, headers)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs['Authorization'] = 'Bearer ' + token
        data = _encode_body(body, hdrs)
        conn = self.connection(timeout)
        try:
            try:
                conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered (e.g. 413) before reading the whole
                # body; the answer may still be readable.
                pass
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, _decode(raw, resp.headers), resp.headers
        finally:
            conn.close()

    def raw_request(self, data, timeout=HTTP_TIMEOUT):
        """Sends raw bytes, returns (status, parsed, headers) of the answer."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            raw = resp.read()
            return resp.status, _decode(raw, resp.headers), resp.headers
        finally:
            sock.close()


class AsyncRequest:
    """A request made on a thread (a parked poll, typically).

    sent is set once the request is written to the socket; result is
    (status, body, headers) or the exception; done_at is time.perf_counter()
    right after the whole answer was read."""

    def __init__(self, daemon, method, path, token=None, body=None, timeout=40.0):
        self.daemon = daemon
        self.sent = threading.Event()
        self.done = threading.Event()
        self.result = None
        self.error = None
        self.started_at = None
        self.done_at = None
        self._args = (method, path, token, body, timeout)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='async %s %s' % (method, path))
        self._thread.start()

    def _run(self):
        method, path, token, body, timeout = self._args
        hdrs = {}
        if token is not None:
            hdrs['Authorization'] = 'Bearer ' + token
        data = _encode_body(body, hdrs)
        conn = self.daemon.connection(timeout)
        try:
            self.started_at = time.perf_counter()
            conn.request(method, path, body=data, headers=hdrs)
            self.sent.set()
            resp = conn.getresponse()
            raw = resp.read()
            self.done_at = time.perf_counter()
            self.result = (resp.status, _decode(raw, resp.headers), resp.headers)
        except BaseException as e:  # reported by wait()
            self.done_at = time.perf_counter()
            self.error = e
        finally:
            self.sent.set()
            conn.close()
            self.done.set()

    def wait(self, timeout):
        """The result; fails clearly if none came within timeout."""
        if not self.done.wait(timeout):
            raise AssertionError('%s: no answer within %.1f s' % (self._thread.name, timeout))
        if self.error is not None:
            raise AssertionError('%s failed: %r' % (self._thread.name, self.error))
        return self.result

    def is_done(self):
        return self.done.is_set()


class SSEStream:
    """A Server-Sent Events subscription read on a thread.

    Events are dicts {'id': int|None, 'event': str, 'data': parsed JSON}."""

    def __init__(self, daemon, path, token, timeout=30.0):
        self.events = queue.Queue()
        self.seen = []
        self.closed = threading.Event()
        self.conn = daemon.connection(timeout)
        hdrs = {'Accept': 'text/event-stream'}
        if token is not None:
            hdrs['Authorization'] = 'Bearer ' + token
        self.conn.request('GET', path, headers=hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        if self.status != 200:
            self.body = _decode(self.resp.read(), self.resp.headers)
            self.conn.close()
            self.closed.set()
            return
        self._thread = threading.Thread(target=self._run, daemon=True, name='sse ' + path)
        self._thread.start()

    def _run(self):
        ev = {}
        data = []
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode('utf-8').rstrip('\r\n')
                if line == '':
                    if 'event' in ev or data:
                        ev.setdefault('event', 'message')
                        text = '\n'.join(data)
                        try:
                            ev['data'] = json.loads(text)
                        except ValueError:
                            ev['data'] = text
                        self.events.put(ev)
                    ev, data = {}, []
                elif line.startswith(':'):
                    continue
                else:
                    field, _, value = line.partition(':')
                    value = value[1:] if value.startswith(' ') else value
                    if field == 'data':
                        data.append(value)
                    elif field == 'id':
                        ev['id'] = int(value) if value.isdigit() else value
                    elif field == 'event':
                        ev['event'] = value
        except Exception:  # closed under us, or the stream was cut
            pass
        finally:
            self.closed.set()
            self.events.put(None)

    def next_event(self, timeout):
        """The next event, or None at the end of the stream or on timeout."""
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        if ev is None:
            self.events.put(None)  # stay at end of stream
            return None
        self.seen.append(ev)
        return ev

    def wait_for(self, predicate, timeout=5.0, what='event'):
        """Reads events until predicate(ev) holds; returns that event."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ev = self.next_event(left)
            if ev is None:
                if self.closed.is_set():
                    break
                continue
            if predicate(ev):
                return ev
        raise AssertionError('no %s within %.1f s; seen: %s' % (what, timeout, self.seen))

    def wait_closed(self, timeout):
        return self.closed.wait(timeout)

    def close(self):
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def parse_metrics(text):
    """Prometheus text → ({(name, frozenset(labels)): value}, help names, types)."""
    series, helps, types = {}, set(), {}
    for line in text.splitlines():
        if line.startswith('# HELP '):
            helps.add(line.split(' ', 3)[2])
            continue
        if line.startswith('# TYPE '):
            parts = line.split(' ')
            types[parts[2]] = parts[3] if len(parts) > 3 else ''
            continue
        if not line or line.startswith('#'):
            continue
        if '{' in line:
            name, rest = line.split('{', 1)
            labels_text, _, value = rest.rpartition('}')
            labels = {}
            i = 0
            while i < len(labels_text):
                eq = labels_text.index('=', i)
                key = labels_text[i:eq].strip(', ')
                j = eq + 2  # past ="
                val = []
                while labels_text[j] != '"':
                    if labels_text[j] == '\\':
                        j += 1
                    val.append(labels_text[j])
                    j += 1
                labels[key] = ''.join(val)
                i = j + 1
                while i < len(labels_text) and labels_text[i] in ', ':
                    i += 1
        else:
            name, value = line.split(' ', 1)
            labels = {}
        series[(name, frozenset(labels.items()))] = float(value.strip().split(' ')[0])
    return series, helps, types


def metric_value(series, name, **labels):
    return series.get((name, frozenset(labels.items())))


class PeerProcess:
    """A harness-side peer process for end-to-end tests: its stdout lines
    are read on a thread, stdin carries commands, EOF on stdin closes it
    gracefully. Subclasses give the command line."""

    def __init__(self, argv, name, log_prefix, cwd=None):
        self.name = name
        self.lines = []            # [(time.monotonic(), line)]
        self.cond = threading.Condition()
        self.eof = False
        self.pos = 0
        fd, self.stderr_path = tempfile.mkstemp(prefix=log_prefix, suffix='.log')
        self._stderr = os.fdopen(fd, 'wb')
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=dict(os.environ))
        self._thread = threading.Thread(target=self._drain, daemon=True, name=name + '-stdout')
        self._thread.start()

    def _drain(self):
        for raw in iter(self.proc.stdout.readline, b''):
            line = raw.decode('utf-8', errors='replace').rstrip('\n')
            with self.cond:
                self.lines.append((time.monotonic(), line))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def expect(self, match, timeout, start=None, what=None):
        """Waits for a line matching (a prefix string or a predicate), scanning
        from start (default: after the last line expect() returned). Returns
        (monotonic time it was read, line)."""
        pred = match if callable(match) else (lambda l: l.startswith(match))
        deadline = time.monotonic() + timeout
        i = self.pos if start is None else start
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    i += 1
                    if pred(line):
                        self.pos = i
                        return t, line
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof and i >= len(self.lines)):
                    tail = [l for _, l in self.lines[-15:]]
                    raise AssertionError('%s: no %s line within %.1f s (%s); last lines: %s'
                                         % (self.name, what or match, timeout,
                                            'exited %s' % self.proc.poll() if self.eof else
                                            'running', tail))
                self.cond.wait(left)

    def tail(self, n=40):
        with self.cond:
            return [l for _, l in self.lines[-n:]]

    def has_line(self, pred):
        with self.cond:
            return any(pred(l) for _, l in self.lines)

    def actions(self):
        with self.cond:
            return [l[len('ACTION '):] for _, l in self.lines if l.startswith('ACTION ')]

    def wait_actions(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [l for _, l in self.lines if l.startswith('ACTION ')]
                if len(got) >= n:
                    return [l[len('ACTION '):] for l in got]
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError('%s: %d ACTION lines within %.1f s, expected %d: %s'
                                         % (self.name, len(got), timeout, n, got))
                self.cond.wait(left)

    def send(self, cmd):
        self.proc.stdin.write((cmd + '\n').encode('utf-8'))
        self.proc.stdin.flush()

    def command(self, cmd, timeout=5.0):
        """Sends a command and waits for its OK line; returns the time it was sent."""
        t = time.monotonic()
        self.send(cmd)
        self.expect(lambda l: l == 'OK ' + cmd, timeout, what='OK ' + cmd)
        return t

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5.0)

    def stop(self):
        """EOF on stdin is a graceful close; killed if it takes too long."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            if self.wait_exit(5.0) is None:
                self.proc.kill()
                self.proc.wait(timeout=5.0)
        self._thread.join(5.0)
        for f in (self.proc.stdin, self.proc.stdout, self._stderr):
            try:
                f.close()
            except OSError:
                pass

    def stderr_text(self):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read().decode('utf-8', errors='replace')
        except OSError:
            return ''

    def cleanup(self):
        try:
            self.stop()
        finally:
            try:
                os.unlink(self.stderr_path)
            except OSError:
                pass


class BeachTestCase(unittest.TestCase):
    """Starts a daemon per test (self.d, operator token self.op)."""

    CONFIG = None
    ENV = None
    START = True

    def setUp(self):
        self._daemons = []
        self._closers = []
        if self.START:
            self.d = self.start_daemon(self.CONFIG, self.ENV)
            self.op = self.d.operator_token

    def start_daemon(self, config=None, env=None, operator_token=True, args=None, name=None):
        d = Daemon(config, env, operator_token, name=name or 'daemon%d' % len(self._daemons),
                   args=args)
        self._daemons.append(d)
        d.start()
        return d

    def tearDown(self):
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                pass
        for d in self._daemons:
            if d.proc is None or d.returncode is not None or d.proc.poll() is not None:
                continue
            rc = d.stop()
            self.assertEqual(rc, 0, '%s: expected exit status 0 within %.0f s of SIGTERM, got %s'
                             % (d.name, STOP_TIMEOUT, 'no exit' if rc is None else rc))

    def failure_logs(self):
        """(title, text) pairs printed when the test fails; subclasses add
        their own (a redis-server's log, say) to the daemons' stderr."""
        return [('%s stderr' % d.name, d.stderr_text()) for d in getattr(self, '_daemons', [])]

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > before:
                for title, text in self.failure_logs():
                    sys.stderr.write('\n----- %s (%s) -----\n%s\n----- end -----\n'
                                     % (title, self.id(), text.rstrip('\n')))
            for d in getattr(self, '_daemons', []):
                d.cleanup()

    # -- helpers -----------------------------------------------------------

    def req(self, method, path, token=None, body=None, headers=None, daemon=None,
            timeout=HTTP_TIMEOUT):
        return (daemon or self.d).req(method, path, token, body, headers, timeout)

    def registration(self, session_id, pb='pb', mode='http_fallback', **extra):
        body = {
            'session_id': session_id,
            'private_beach_id': pb,
            'harness_type': 'terminal_shim',
            'capabilities': ['terminal_write'],
            'version': '1.0.0',
        }
        if mode is not None:
            body['transport_mode'] = mode
        body.update(extra)
        return body

    def register_full(self, session_id, pb='pb', mode='http_fallback', daemon=None,
                      token=None, **extra):
        d = daemon or self.d
        status, body, _ = d.req('POST', '/sessions/register', token or d.operator_token,
                                self.registration(session_id, pb, mode, **extra))
        self.assertEqual(status, 200, 'register %s: %s' % (session_id, body))
        return body

    def register(self, session_id, pb='pb', mode='http_fallback', daemon=None, **extra):
        """Registers with the operator token; returns the session token."""
        return self.register_full(session_id, pb, mode, daemon, **extra)['session_token']

    def lease(self, session_id, ttl_ms=None, reason=None, daemon=None):
        """A controller lease granted to the operator; returns its token."""
        d = daemon or self.d
        body = {}
        if ttl_ms is not None:
            body['ttl_ms'] = ttl_ms
        if reason is not None:
            body['reason'] = reason
        status, out, _ = d.req('POST', '/sessions/%s/controller/lease' % session_id,
                               d.operator_token, body)
        self.assertEqual(status, 200, 'lease %s: %s' % (session_id, out))
        return out['controller_token']

    @staticmethod
    def action(action_id, text='x', action_type='terminal_write', **extra):
        a = {'id': action_id, 'action_type': action_type, 'payload': {'bytes': text}}
        a.update(extra)
        return a

    def post_actions(self, session_id, lease, actions, fallback=None, daemon=None,
                     controller_token=True):
        body = {'actions': [a if isinstance(a, dict) else self.action(a) for a in actions]}
        if controller_token is True:
            body['controller_token'] = lease
        elif controller_token is not None:
            body['controller_token'] = controller_token
        if fallback is not None:
            body['fallback'] = fallback
        return self.req('POST', '/sessions/%s/actions' % session_id, lease, body, daemon=daemon)

    def poll(self, session_id, token, wait_ms=None, max=None, daemon=None):
        q = {}
        if wait_ms is not None:
            q['wait_ms'] = wait_ms
        if max is not None:
            q['max'] = max
        path = '/sessions/%s/actions/poll' % session_id
        if q:
            path += '?' + urllib.parse.urlencode(q)
        return self.req('GET', path, token, daemon=daemon,
                        timeout=HTTP_TIMEOUT + (wait_ms or 0) / 1000.0)

    def poll_async(self, session_id, token, wait_ms, max=None, daemon=None):
        path = '/sessions/%s/actions/poll?wait_ms=%d' % (session_id, wait_ms)
        if max is not None:
            path += '&max=%d' % max
        return AsyncRequest(daemon or self.d, 'GET', path, token,
                            timeout=HTTP_TIMEOUT + wait_ms / 1000.0)

    def ack(self, session_id, token, ids, status='ok', daemon=None):
        body = [{'id': i, 'status': status, 'applied_at': now_ms(), 'latency_ms': 1}
                for i in ids]
        return self.req('POST', '/sessions/%s/actions/ack' % session_id, token, body,
                        daemon=daemon)

    def pending(self, session_id, token, daemon=None):
        status, body, _ = self.req('GET', '/sessions/%s/actions/pending' % session_id, token,
                                   daemon=daemon)
        self.assertEqual(status, 200, body)
        return body

    def barrier(self, daemon=None):
        """A round trip through the daemon's main loop: requests written
        before it have been read by the time it answers (a parked poll sent
        earlier is parked)."""
        for _ in range(2):
            status, _, _ = self.req('GET', '/healthz', daemon=daemon)
            self.assertEqual(status, 200)

    def subscribe(self, path, token, daemon=None):
        s = SSEStream(daemon or self.d, path, token)
        self._closers.append(s.close)
        self.assertEqual(s.status, 200, 'subscribe %s: %s' % (path, getattr(s, 'body', '')))
        return s

    def metrics(self, daemon=None):
        status, text, headers = self.req('GET', '/metrics', daemon=daemon)
        self.assertEqual(status, 200)
        self.assertIn('text/plain', headers.get('Content-Type', ''))
        return text

    def assertError(self, resp, status, kind=None, error_code=None, field=None, msg=None):
        """resp is (status, body, headers): a JSON error envelope."""
        got_status, body, headers = resp
        ctx = '%s; body %r' % (msg or '', body)
        self.assertEqual(got_status, status, 'status: ' + ctx)
        self.assertIsInstance(body, dict, 'error envelope: ' + ctx)
        self.assertIn('error', body, ctx)
        self.assertIn('message', body, ctx)
        self.assertIsInstance(body['message'], str, ctx)
        self.assertTrue(body['message'], ctx)
        self.assertEqual(body['error'], kind or ERROR_KINDS[status], 'error kind: ' + ctx)
        if error_code is not None:
            self.assertEqual(body.get('error_code'), error_code, 'error_code: ' + ctx)
        if field is not None:
            self.assertIn(field, body['message'], 'message names the field: ' + ctx)
        self.assertIn('application/json', headers.get('Content-Type', ''), ctx)
        return body


def main():
    unittest.main(verbosity=2)
