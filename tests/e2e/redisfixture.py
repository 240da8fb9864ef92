"""redisfixture: a private redis-server for end-to-end tests, and a tiny RESP
client for assertions. Standard library only.

    r = RedisServer(appendonly=True).start()   # unix socket only (--port 0);
                                               # AOF with appendfsync always
    r.url                                      # unix:///TMP/redis.sock
    with r.client() as c:
        c.call('XLEN', 'beach:{pb:s1}:actions')
    r.kill()      # SIGKILL
    r.start()     # same socket and dir (the AOF, if any, is replayed)
    r.stop()      # SIGTERM, then SIGKILL

REDIS_SERVER is redis-server on $PATH (or $REDIS_SERVER); None if absent.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = os.environ.get('REDIS_SERVER') or shutil.which('redis-server')

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class RedisError(Exception):
    """An error reply (-ERR ...)."""


def _pdeathsig():
    # A crashed test must not leave servers behind.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class RespClient:
    """A blocking RESP2 client on a unix socket. call() returns str for
    simple/bulk strings (None for nil), int, list, or raises RedisError."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.rfile = self.sock.makefile('rb')

    def close(self):
        try:
            self.rfile.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _encode(args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            if not isinstance(a, (bytes, bytearray)):
                a = str(a).encode('utf-8')
            out.append(b'$%d\r\n%s\r\n' % (len(a), a))
        return b''.join(out)

    def _read(self):
        line = self.rfile.readline()
        if not line.endswith(b'\r\n'):
            raise ConnectionError('redis closed the connection')
        kind, rest = line[:1], line[1:-2]
        if kind == b'+':
            return rest.decode('utf-8', errors='replace')
        if kind == b'-':
            raise RedisError(rest.decode('utf-8', errors='replace'))
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2].decode('utf-8', errors='replace')
        if kind == b'*':
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError('bad RESP reply %r' % line)

    def call(self, *args):
        self.sock.sendall(self._encode(args))
        return self._read()

    # -- conveniences for assertions ----------------------------------------

    def hgetall(self, key):
        flat = self.call('HGETALL', key)
        return dict(zip(flat[0::2], flat[1::2]))

    def keys(self, pattern):
        """SCAN-based KEYS (sorted)."""
        cursor, found = '0', set()
        while True:
            cursor, batch = self.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
            found.update(batch)
            if cursor == '0':
                return sorted(found)


class RedisServer:
    """redis-server --port 0 --unixsocket DIR/redis.sock in a temp dir."""

    def __init__(self, appendonly=False, extra_args=None):
        if REDIS_SERVER is None:
            raise RuntimeError('redis-server is not installed')
        self.appendonly = appendonly
        self.extra_args = list(extra_args or [])
        self.dir = tempfile.mkdtemp(prefix='beach-e2e-redis-')
        self.socket_path = os.path.join(self.dir, 'redis.sock')
        self.log_path = os.path.join(self.dir, 'redis.log')
        self.url = 'unix://' + self.socket_path
        self.proc = None
        self.starts = 0

    def argv(self):
        return [REDIS_SERVER,
                '--port', '0',
                '--unixsocket', self.socket_path,
                '--unixsocketperm', '700',
                '--save', '',
                '--appendonly', 'yes' if self.appendonly else 'no',
                # everysec (the default) may postpone the AOF write() by up
                # to 2 s while a background fsync runs, and still answer
                # the client: a SIGKILL then loses acknowledged writes. The
                # tests kill Redis, so every write is on disk before the reply.
                '--appendfsync', 'always',
                '--dir', self.dir,
                '--logfile', self.log_path,
                '--daemonize', 'no'] + self.extra_args

    def start(self, timeout=READY_TIMEOUT):
        """Starts (or restarts, on the same socket and dir) and waits until
        PING answers PONG. Returns self."""
        if self.running():
            raise RuntimeError('redis-server already running')
        self.proc = subprocess.Popen(self.argv(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_pdeathsig)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.ping():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError('redis-server exited (status %s) during start-up:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError('redis-server did not answer PING within %.0f s:\n%s'
                                   % (timeout, self.log_tail()))
            time.sleep(0.01)

    def ping(self):
        try:
            with RespClient(self.socket_path, timeout=1.0) as c:
                return c.call('PING') == 'PONG'
        except (OSError, ConnectionError, RedisError):
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: no shutdown, no final save."""
        if self.running():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart_killed(self, timeout=READY_TIMEOUT):
        """SIGKILL then start on the same socket and dir."""
        self.kill()
        return self.start(timeout)

    def client(self, timeout=5.0):
        return RespClient(self.socket_path, timeout)

    def call(self, *args):
        """One command on a fresh connection."""
        with self.client() as c:
            return c.call(*args)

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, 'rb') as f:
                data = f.read()
            return data[-n:].decode('utf-8', errors='replace')
        except OSError:
            return '(no log)'

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
