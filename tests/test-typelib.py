#!/usr/bin/python3
# test-typelib.py: libbeach through GObject introspection
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run by meson with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the
# build tree. Prints TAP; exits 77 (skip) under a sanitizer, whose runtime
# cannot be preloaded into the Python interpreter.

import http.server
import json
import os
import socket
import sys
import threading

if os.environ.get("BEACH_SANITIZED") == "1":
    print("skipped under ASan")
    sys.exit(77)

import gi

gi.require_version("Beach", "1.0")
from gi.repository import Beach, GLib  # noqa: E402

ACTION = (
    '{"id":"act-1","action_type":"terminal_write","payload":{"bytes":"ls -l\\n"},'
    '"expires_at":{"secs_since_epoch":1700000000,"nanos_since_epoch":5000000}}'
)
ACK = (
    '{"id":"act-1","status":"rejected","applied_at":1700000000123,"latency_ms":7,'
    '"error_code":"busy","error_message":"try later"}'
)

results = []


def check(name, fn):
    try:
        fn()
        results.append((True, name, None))
    except Exception as e:  # report every failure, keep going
        results.append((False, name, repr(e)))


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def action_getters():
    a = Beach.Action.new_from_string(ACTION)
    expect(a.get_id() == "act-1", "id")
    expect(a.get_action_type() == "terminal_write", "action_type")
    expect(a.get_terminal_bytes() == "ls -l\n", "terminal bytes")
    expect(a.get_expires_at_ms() == 1700000000005, "expires_at_ms")
    expect(a.is_expired(1700000000006), "is_expired")


def action_round_trip():
    a = Beach.Action.new_from_string(ACTION)
    text = a.to_string()
    b = Beach.Action.new_from_string(text)
    expect(b.get_id() == a.get_id(), "id")
    expect(b.get_expires_at_ms() == a.get_expires_at_ms(), "expires_at")
    expect(b.get_payload_size() == a.get_payload_size(), "payload size")
    expect(b.to_string() == text, "identical text")


def malformed_raises(text, code, field):
    def run():
        try:
            Beach.Action.new_from_string(text)
        except GLib.Error as e:
            expect(e.domain == "beach-error-quark", "domain %s" % e.domain)
            expect(e.code == int(code), "code %d, wanted %d" % (e.code, int(code)))
            expect(field in e.message, "message %r names %s" % (e.message, field))
            return
        raise AssertionError("no GLib.Error raised")

    return run


def ack_round_trip():
    a = Beach.ActionAck.new_from_string(ACK)
    expect(a.get_id() == "act-1", "id")
    expect(a.get_status() == Beach.AckStatus.REJECTED, "status")
    expect(a.get_applied_at_ms() == 1700000000123, "applied_at")
    expect(a.get_latency_ms() == 7, "latency")
    expect(a.get_error_code() == "busy", "error_code")
    text = a.to_string()
    expect('"applied_at":{"secs_since_epoch":1700000000,"nanos_since_epoch":123000000}' in text,
           "timestamp form")
    b = Beach.ActionAck.new_from_string(text)
    expect(b.get_error_message() == "try later", "error_message")
    expect(b.to_string() == text, "identical text")
    c = Beach.ActionAck.new("act-2", Beach.AckStatus.OK, 5, -1, None, None)
    expect(c.get_latency_ms() == -1 and c.get_error_code() is None, "constructor")


def start_harness(h, timeout_s=20):
    """Runs start_async to its end on a main loop; returns the GLib.Error or None."""
    loop = GLib.MainLoop()
    out = {}

    def done(harness, res):
        try:
            harness.start_finish(res)
            out["error"] = None
        except GLib.Error as e:
            out["error"] = e
        loop.quit()

    def too_long():
        out.setdefault("timeout", True)
        loop.quit()
        return False

    h.start_async(None, done)
    tid = GLib.timeout_add_seconds(timeout_s, too_long)
    loop.run()
    if "error" not in out:
        raise AssertionError("start did not finish within %d s" % timeout_s)
    GLib.source_remove(tid)
    return out["error"]


def expect_invalid(h, naming):
    e = start_harness(h)
    expect(e is not None, "start failed")
    expect(e.domain == "beach-error-quark" and e.code == int(Beach.Error.INVALID_FIELD),
           "INVALID_FIELD, got %s %d" % (e.domain, e.code))
    expect(naming in e.message, "message %r names %r" % (e.message, naming))


def harness_urls():
    h = Beach.Harness.new_for_urls(["http://127.0.0.1:1/", "https://b.example:8443//"], "s1", "pb", "tok")
    expect(list(h.get_urls()) == ["http://127.0.0.1:1", "https://b.example:8443"],
           "get_urls %r" % (h.get_urls(),))
    expect(list(h.props.urls) == ["http://127.0.0.1:1", "https://b.example:8443"], "props.urls")
    expect(h.props.url == "http://127.0.0.1:1", "props.url %r" % h.props.url)
    expect(h.get_url() == "http://127.0.0.1:1", "get_url")
    one = Beach.Harness.new("http://a.example:8080/", "s1", "pb", "tok")
    expect(list(one.get_urls()) == ["http://a.example:8080"], "url alone is a list of one")
    expect(one.props.url == "http://a.example:8080", "url alone")


def harness_bad_urls():
    expect_invalid(Beach.Harness.new_for_urls(["http://127.0.0.1:1", "ftp://bad.example"], "s1", "pb", "t"),
                   "ftp://bad.example")
    expect_invalid(Beach.Harness.new("not a url", "s1", "pb", "t"), "not a url")
    expect_invalid(Beach.Harness.new_for_urls([], "s1", "pb", "t"), "No manager URL")
    expect_invalid(Beach.Harness(url="http://a.example", urls=["http://b.example"], session_id="s1",
                                 private_beach_id="pb", token="t"), "not both")


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Answer(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's status and an error envelope."""

    def do_POST(self):
        self.server.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind = {401: "unauthorized", 404: "not_found", 409: "conflict", 412: "precondition_failed",
                429: "too_many_requests", 503: "unavailable"}.get(self.server.status, "bad_gateway")
        body = json.dumps({"error": kind, "message": "test answer"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def answering(status):
    srv = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    srv.status = status
    srv.requests = 0
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


def attempt(first_url, second):
    """Starts a harness on [first_url, second]; returns (error, url notifications)."""
    b = "http://127.0.0.1:%d" % second.server_port
    h = Beach.Harness.new_for_urls([first_url, b], "s1", "pb", "t")
    seen = []
    h.connect("notify::url", lambda h, _: seen.append(h.props.url))
    return start_harness(h), seen


def harness_failover_transport():
    # Nothing listens on the first: the start moves on to the second (which
    # refuses the token), notifying url once.
    second = answering(401)
    try:
        e, seen = attempt("http://127.0.0.1:%d" % dead_port(), second)
        b = "http://127.0.0.1:%d" % second.server_port
        expect(seen == [b], "url notified once, to the second: %r" % seen)
        expect(second.requests == 1, "the second got the registration")
        expect(e is not None and e.code == int(Beach.Error.UNAUTHORIZED), "the second's 401: %r" % e)
    finally:
        second.shutdown()
        second.server_close()


def harness_failover_http(status, moves):
    def run():
        first, second = answering(status), answering(401)
        try:
            e, seen = attempt("http://127.0.0.1:%d" % first.server_port, second)
            expect(first.requests == 1, "the first got the registration")
            expect(e is not None, "start failed")
            if moves:
                expect(len(seen) == 1 and second.requests == 1, "moved to the second: %r" % seen)
                expect(e.code == int(Beach.Error.UNAUTHORIZED), "the second's 401: %s" % e.message)
            else:
                expect(seen == [] and second.requests == 0, "stayed on the first: %r" % seen)
                expect("HTTP %d" % status in e.message, "the first's answer: %s" % e.message)
        finally:
            for srv in (first, second):
                srv.shutdown()
                srv.server_close()
    return run


check("action getters", action_getters)
check("action round trip", action_round_trip)
check("malformed JSON raises MALFORMED",
      malformed_raises("{", Beach.Error.MALFORMED, "JSON"))
check("missing id raises MISSING_FIELD",
      malformed_raises('{"action_type":"x","payload":{}}', Beach.Error.MISSING_FIELD, "id"))
check("bad action_type raises INVALID_FIELD",
      malformed_raises('{"id":"a","action_type":"X","payload":{}}',
                       Beach.Error.INVALID_FIELD, "action_type"))
check("ack round trip", ack_round_trip)
check("harness urls: new_for_urls, get_urls, props.url", harness_urls)
check("harness urls: a bad or missing URL fails start, named", harness_bad_urls)
check("harness failover: the first manager unreachable", harness_failover_transport)
for code in (502, 503, 504):
    check("harness failover: HTTP %d moves on" % code, harness_failover_http(code, True))
for code in (401, 404, 409, 412, 429):
    check("harness failover: HTTP %d stays" % code, harness_failover_http(code, False))

print("1..%d" % len(results))
for i, (ok, name, err) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if err:
        print("# " + err)
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
