#!/usr/bin/gjs
// host.js: a tiny Private Beach host on the Beach typelib (GJS).
//
// It attaches one session to a manager, writes every terminal_write
// action's bytes to stdout, and acks it; any other action type is refused.
//
//   GI_TYPELIB_PATH=build/src/libbeach LD_LIBRARY_PATH=build/src/libbeach \
//       gjs examples/host.js http://127.0.0.1:8080 SESSION BEACH TOKEN
//
// SPDX-License-Identifier: LGPL-2.1-or-later

imports.gi.versions.Beach = '1.0';
const {Beach, Gio, GLib} = imports.gi;
const System = imports.system;

if (ARGV.length !== 4) {
    printerr('usage: host.js URL SESSION_ID PRIVATE_BEACH_ID TOKEN');
    System.exit(2);
}
const [url, sessionId, beachId, token] = ARGV;
const loop = new GLib.MainLoop(null, false);
let status = 0;
const stdout = new Gio.UnixOutputStream({fd: 1, close_fd: false});
const encoder = new TextEncoder();

const harness = new Beach.Harness({
    url, session_id: sessionId, private_beach_id: beachId, token,
    harness_type: Beach.HarnessType.TERMINAL_SHIM,
    capabilities: ['terminal_write'],
});

harness.connect('action-received', (h, action) => {
    if (action.get_action_type() === 'terminal_write') {
        // The bytes, verbatim (print() would add a newline).
        stdout.write_all(encoder.encode(action.get_terminal_bytes()), null);
        stdout.flush(null);
        h.ack(action, Beach.AckStatus.OK, null, null);
    } else {
        h.ack(action, Beach.AckStatus.REJECTED, 'unsupported_action',
            'this host only knows terminal_write');
    }
});
harness.connect('terminated', (h, error) => {
    printerr(`host.js: ${error.message}`);
    status = 1;
    loop.quit();
});
harness.connect('notify::link-health', h => {
    printerr(`host.js: fast path ${Beach.link_health_to_string(h.get_link_health())}`);
});

const stop = () => {
    harness.stop_async(null, (h, res) => {
        h.stop_finish(res);
        loop.quit();
    });
    return GLib.SOURCE_REMOVE;
};
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, stop);
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 2, stop);

harness.start_async(null, (h, res) => {
    try {
        h.start_finish(res);
        printerr(`host.js: attached as ${h.get_session_id()}`);
    } catch (e) {
        printerr(`host.js: ${e.message}`);
        status = 1;
        loop.quit();
    }
});
loop.run();
System.exit(status);
