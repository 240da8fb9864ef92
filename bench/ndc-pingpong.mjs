// ndc-pingpong.mjs: a second WebRTC stack as a floor for the fast path
//
// Two node-datachannel (libdatachannel) peers in this process, signalled
// in memory over 127.0.0.1, with the fast path's two ordered, reliable
// channels (mgr-actions, mgr-acks). The offerer plays the manager's part:
// it sends `action` frames ({"type":"action","payload":{id, action_type,
// payload:{"bytes":"xxx…"}}}, the action payload PAYLOAD bytes long like
// bench-fastpath's) on mgr-actions; the answerer plays the harness: it
// parses each frame and answers an `ack` frame on mgr-acks.
//
//  - latency: one action at a time, from just before the frame is built
//    until its ack is back (round trip), and until the answerer has it
//    (one way; both ends share this process' clock);
//  - throughput: frames as fast as the channel takes them (held back while
//    more than 1 MiB is buffered) until the answerer has parsed them all.
//
// Unlike BeachFastPathLink, libdatachannel sends a 16 KiB message whole
// (the fast path splits anything over 14,336 bytes into base64 chunks).
// Prints one JSON object on stdout.
//
// usage: node bench/ndc-pingpong.mjs [--payload-bytes N] [-n N]
//                                    [--throughput-count N] [--quick]
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WARMUP = 50;
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 * 1024;

function parseArgs(argv) {
  const out = { payloadBytes: 200, n: 2000, tcount: 20000, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    const take = () => Number(eq > 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === '--payload-bytes') out.payloadBytes = take();
    else if (key === '-n' || key === '--count') out.n = take();
    else if (key === '--throughput-count') out.tcount = take();
    else if (key === '--quick') out.quick = true;
    else {
      process.stderr.write(`ndc-pingpong: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (out.quick) {
    out.n = Math.min(out.n, 300);
    out.tcount = Math.min(out.tcount, 3000);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));

let ndc;
let ndcVersion = '?';
try {
  // installed by `npm ci` in tests/interop (the interop test's peer)
  const require = createRequire(path.join(HERE, '..', 'tests', 'interop', 'package.json'));
  ndc = require('node-datachannel');
} catch (e) {
  process.stdout.write(JSON.stringify({ bench: 'ndc-pingpong', skipped: 'node-datachannel not installed' }) + '\n');
  process.exit(0);
}
try {
  const pkg = path.join(HERE, '..', 'tests', 'interop', 'node_modules', 'node-datachannel', 'package.json');
  ndcVersion = JSON.parse(readFileSync(pkg, 'utf8')).version;
} catch {
  // the version is only reported
}

const bytes = 'x'.repeat(Math.max(0, args.payloadBytes - '{"bytes":""}'.length));
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

function frame(id) {
  return JSON.stringify({ type: 'action', payload: { id, action_type: 'terminal_write', payload: { bytes } } });
}

function stats(samples) {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  const pct = (q) => s[Math.min(n - 1, Math.floor(n * q))] / 1000;
  const mean = s.reduce((a, b) => a + b, 0) / n / 1000;
  return { n, p50_ms: pct(0.5), p99_ms: pct(0.99), p999_ms: pct(0.999), max_ms: s[n - 1] / 1000, mean_ms: mean };
}

function connect() {
  return new Promise((resolve, reject) => {
    const config = { iceServers: [], bindAddress: '127.0.0.1' };
    const mgr = new ndc.PeerConnection('ndc-manager', config);
    const har = new ndc.PeerConnection('ndc-harness', config);
    const held = [];
    let answered = false;
    const timer = setTimeout(() => reject(new Error('the pair did not connect in 20 s')), 20000);

    mgr.onLocalDescription((sdp, type) => har.setRemoteDescription(sdp, type));
    har.onLocalDescription((sdp, type) => {
      mgr.setRemoteDescription(sdp, type);
      answered = true;
      for (const [c, mid] of held.splice(0)) mgr.addRemoteCandidate(c, mid);
    });
    mgr.onLocalCandidate((c, mid) => har.addRemoteCandidate(c, mid));
    har.onLocalCandidate((c, mid) => (answered ? mgr.addRemoteCandidate(c, mid) : held.push([c, mid])));

    const m = { actions: mgr.createDataChannel('mgr-actions', {}), acks: mgr.createDataChannel('mgr-acks', {}) };
    const h = {};
    let open = 0;
    const opened = () => {
      if (++open === 4) {
        clearTimeout(timer);
        resolve({ mgr, har, m, h });
      }
    };
    m.actions.onOpen(opened);
    m.acks.onOpen(opened);
    har.onDataChannel((dc) => {
      h[dc.getLabel() === 'mgr-actions' ? 'actions' : 'acks'] = dc;
      // a channel that arrives by onDataChannel is already open
      opened();
    });
  });
}

async function main() {
  const t0 = nowUs();
  const { mgr, har, m, h } = await connect();

  // -- latency ---------------------------------------------------------------
  const total = WARMUP + args.n;
  const sent = new Array(total).fill(0);
  const got = new Array(total).fill(0);
  const rtt = new Array(total).fill(0);
  let mode = 'latency';
  let tReceived = 0;
  let tDone = 0;
  let onTputDone = null;

  h.actions.onMessage((msg) => {
    const now = nowUs();
    const f = JSON.parse(typeof msg === 'string' ? msg : Buffer.from(msg).toString('utf8'));
    const id = f.payload.id;
    if (mode === 'latency') {
      got[Number(id.slice(1))] = now;
      h.acks.sendMessage(JSON.stringify({ type: 'ack', payload: { id, status: 'ok', applied_at: Date.now() } }));
    } else if (++tReceived === args.tcount) {
      tDone = now;
      onTputDone();
    }
  });

  await new Promise((resolve) => {
    let cur = 0;
    const send = () => {
      sent[cur] = nowUs();
      m.actions.sendMessage(frame('a' + cur));
    };
    m.acks.onMessage((msg) => {
      const f = JSON.parse(typeof msg === 'string' ? msg : Buffer.from(msg).toString('utf8'));
      if (f.type !== 'ack' || f.payload.id !== 'a' + cur) return;
      rtt[cur] = nowUs() - sent[cur];
      if (++cur < total) send();
      else resolve();
    });
    send();
  });
  const lat = stats(rtt.slice(WARMUP));
  const oneWay = stats(got.slice(WARMUP).map((g, i) => g - sent[WARMUP + i]));

  // -- throughput ------------------------------------------------------------
  mode = 'throughput';
  const done = new Promise((resolve) => {
    onTputDone = resolve;
  });
  m.actions.setBufferedAmountLowThreshold(LOW_WATER);
  const start = nowUs();
  let i = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (i < args.tcount && m.actions.bufferedAmount() < HIGH_WATER) {
        m.actions.sendMessage(frame('t' + i));
        i++;
      }
      if (i >= args.tcount) resolve();
    };
    m.actions.onBufferedAmountLow(pump);
    pump();
  });
  await done;
  const perS = args.tcount / ((tDone - start) / 1e6);

  for (const dc of [m.actions, m.acks, h.actions, h.acks]) dc.close();
  mgr.close();
  har.close();

  const out = {
    bench: 'ndc-pingpong',
    library: `node-datachannel ${ndcVersion}, libdatachannel ${ndc.getLibraryVersion ? ndc.getLibraryVersion() : '?'}`,
    node: process.version,
    payload_bytes: args.payloadBytes,
    latency_actions: args.n,
    throughput_actions: args.tcount,
    round_trip: lat,
    one_way: oneWay,
    frames_per_s: Math.round(perS),
    wall_secs: Math.round((nowUs() - t0) / 1e5) / 10,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  setTimeout(() => {
    ndc.cleanup();
    process.exit(0);
  }, 100);
}

main().catch((e) => {
  process.stderr.write(`ndc-pingpong: ${e.stack || e}\n`);
  process.exit(1);
});
