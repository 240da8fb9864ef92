#!/usr/bin/python3
"""host.py: a tiny Private Beach host on the Beach typelib.

It attaches one session to a manager, writes every terminal_write action's
bytes to stdout, and acks it; any other action type is refused. Everything
else (registration, the fast path, HTTP polling when needed, dedupe) is
BeachHarness's job.

    GI_TYPELIB_PATH=build/src/libbeach LD_LIBRARY_PATH=build/src/libbeach \\
        /usr/bin/python3 examples/host.py http://127.0.0.1:8080 SESSION BEACH TOKEN

TOKEN is an operator token (the host registers the session) or the
session's own token.

SPDX-License-Identifier: LGPL-2.1-or-later
"""

import signal
import sys

import gi

gi.require_version('Beach', '1.0')
from gi.repository import Beach, GLib  # noqa: E402


def main(argv):
    if len(argv) != 5:
        print('usage: host.py URL SESSION_ID PRIVATE_BEACH_ID TOKEN', file=sys.stderr)
        return 2
    url, session_id, beach_id, token = argv[1:]
    loop = GLib.MainLoop()
    status = [0]
    harness = Beach.Harness(url=url, session_id=session_id, private_beach_id=beach_id,
                            token=token, harness_type=Beach.HarnessType.TERMINAL_SHIM,
                            capabilities=['terminal_write'])

    def on_action(harness, action):
        if action.get_action_type() == 'terminal_write':
            sys.stdout.write(action.get_terminal_bytes())
            sys.stdout.flush()
            harness.ack(action, Beach.AckStatus.OK, None, None)
        else:
            harness.ack(action, Beach.AckStatus.REJECTED, 'unsupported_action',
                        'this host only knows terminal_write')

    def on_link(harness, pspec):
        print('host.py: fast path %s' % harness.get_link_health().value_nick, file=sys.stderr)

    def on_terminated(harness, error):
        print('host.py: %s' % error.message, file=sys.stderr)
        status[0] = 1
        loop.quit()

    def on_started(harness, result):
        try:
            harness.start_finish(result)
        except GLib.Error as e:
            print('host.py: %s' % e.message, file=sys.stderr)
            status[0] = 1
            loop.quit()
            return
        print('host.py: attached as %s' % harness.get_session_id(), file=sys.stderr)

    def on_signal():
        harness.stop_async(None, lambda h, r: (h.stop_finish(r), loop.quit()))
        return GLib.SOURCE_REMOVE

    harness.connect('action-received', on_action)
    harness.connect('notify::link-health', on_link)
    harness.connect('terminated', on_terminated)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, on_signal)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_signal)
    harness.start_async(None, on_started)
    loop.run()
    return status[0]


if __name__ == '__main__':
    sys.exit(main(sys.argv))
