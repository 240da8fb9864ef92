#!/usr/bin/python3
# test-typelib.py: libbeach through GObject introspection
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run by meson with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the
# build tree. Prints TAP; exits 77 (skip) under a sanitizer, whose runtime
# cannot be preloaded into the Python interpreter.

import os
import sys

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

print("1..%d" % len(results))
for i, (ok, name, err) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    if err:
        print("# " + err)
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
