// peer.mjs: a harness-side fast-path peer built on node-datachannel
// (libdatachannel), for the interop test against the real beach-manager.
//
// Offers a link over the HTTP signalling routes (WIRE.md "Fast-path
// signalling"), creating the three channels before the offer with the WIRE
// options, and reports on stdout, one line each:
//   LINK <link_id>     the answer arrived
//   OPEN               all three channels are open
//   ACTION <id>        an action arrived (acked on mgr-acks)
//   PING <transport> <pending> <handshake_id>
//   CLOSED             a channel or the connection closed
// It answers every ping with a pong (payload unchanged) and sends its own
// ping on mgr-acks every 400 ms (WIRE: after 500 ms of silence). EOF on
// stdin, SIGTERM or SIGINT: close and exit 0.
//
// usage: node peer.mjs --url URL --session-id S --token SESSION_TOKEN
//                      [--bind ADDRESS] (default 127.0.0.1; "" for any)
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import process from 'node:process';
import nodeDataChannel from 'node-datachannel';

const { PeerConnection } = nodeDataChannel;

function parseArgs(argv) {
  const out = { bind: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : a;
    const take = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === '--url') out.url = take().replace(/\/+$/, '');
    else if (key === '--session-id') out.sessionId = take();
    else if (key === '--token') out.token = take();
    else if (key === '--bind') out.bind = take();
    else {
      process.stderr.write(`peer.mjs: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!out.url || !out.sessionId || !out.token) {
    process.stderr.write('peer.mjs: --url, --session-id and --token are required\n');
    process.exit(2);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const say = (line) => process.stdout.write(line + '\n');
const log = (line) => process.stderr.write(`peer.mjs: ${line}\n`);

async function http(method, path, body) {
  const res = await fetch(args.url + path, {
    method,
    headers: {
      Authorization: `Bearer ${args.token}`,
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}

const config = { iceServers: [] };
if (args.bind) config.bindAddress = args.bind;
const pc = new PeerConnection('beach-interop', config);

let closing = false;
let pingTimer = null;
let pingSeq = 0;
let linkId = null;

function shutdown(status) {
  if (closing) return;
  closing = true;
  if (pingTimer) clearInterval(pingTimer);
  for (const dc of Object.values(channels)) {
    try { dc.close(); } catch { /* already closed */ }
  }
  try { pc.close(); } catch { /* already closed */ }
  // Give the close a moment on the wire, then leave.
  setTimeout(() => {
    try { nodeDataChannel.cleanup(); } catch { /* ignore */ }
    process.exit(status);
  }, 200);
}

function send(label, type, payload) {
  const dc = channels[label];
  if (!dc || !dc.isOpen()) return false;
  try {
    return dc.sendMessage(JSON.stringify({ type, payload }));
  } catch (e) {
    log(`send ${type} on ${label}: ${e.message}`);
    return false;
  }
}

// The channels, before the offer (WIRE "Fast path").
const channels = {
  'mgr-actions': pc.createDataChannel('mgr-actions', {}),
  'mgr-acks': pc.createDataChannel('mgr-acks', {}),
  'mgr-state': pc.createDataChannel('mgr-state', { unordered: true, maxRetransmits: 0 }),
};

const opened = new Set();
for (const [label, dc] of Object.entries(channels)) {
  dc.onOpen(() => {
    opened.add(label);
    if (opened.size === 3) {
      say('OPEN');
      send('mgr-acks', 'ping', { seq: pingSeq++, sent_us: Date.now() * 1000 });
      pingTimer = setInterval(() => {
        send('mgr-acks', 'ping', { seq: pingSeq++, sent_us: Date.now() * 1000 });
      }, 400);
    }
  });
  dc.onClosed(() => {
    if (!closing) {
      say('CLOSED');
      log(`channel ${label} closed`);
    }
  });
  dc.onError((err) => log(`channel ${label}: ${err}`));
  dc.onMessage((msg) => onMessage(label, msg));
}

function onMessage(label, msg) {
  if (typeof msg !== 'string') msg = Buffer.from(msg).toString('utf8');
  let frame;
  try {
    frame = JSON.parse(msg);
  } catch (e) {
    log(`bad frame on ${label}: ${e.message}`);
    return;
  }
  const { type, payload } = frame || {};
  if (type === 'action') {
    const id = payload && payload.id;
    say(`ACTION ${id}`);
    if (!send('mgr-acks', 'ack', { id, status: 'ok', applied_at: Date.now() }))
      log(`ack ${id}: not sent`);
  } else if (type === 'ping') {
    const p = payload || {};
    say(`PING ${p.transport ?? '?'} ${p.pending ?? -1} ${p.handshake_id ?? '?'}`);
    send('mgr-acks', 'pong', payload);
  } else if (type === 'pong') {
    // the manager's answer to our ping: proof of life, nothing to do
  } else {
    log(`ignored frame type ${type} on ${label}`);
  }
}

pc.onStateChange((state) => {
  log(`connection state ${state}`);
  if ((state === 'failed' || state === 'closed') && !closing) say('CLOSED');
});

function waitForGathering(timeoutMs) {
  return new Promise((resolve) => {
    const start = Date.now();
    const tick = () => {
      if (pc.gatheringState() === 'complete' || Date.now() - start >= timeoutMs) resolve();
      else setTimeout(tick, 20);
    };
    tick();
  });
}

function addRemote(candidate, mid) {
  if (!candidate) return;
  const text = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
  try {
    pc.addRemoteCandidate(text, mid || '0');
  } catch (e) {
    log(`remote candidate ${text}: ${e.message}`);
  }
}

async function pollIce() {
  let since = 0;
  const deadline = Date.now() + 10000;
  while (!closing && Date.now() < deadline) {
    let out;
    try {
      out = await http('GET', `/fastpath/sessions/${encodeURIComponent(args.sessionId)}` +
        `/webrtc/ice?link_id=${encodeURIComponent(linkId)}&since=${since}`);
    } catch (e) {
      log(`ice poll: ${e.message}`);
      return;
    }
    for (const c of out.candidates || []) addRemote(c.candidate, c.sdp_mid);
    if (typeof out.next === 'number') since = out.next;
    if (out.complete) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  // createDataChannel set the local offer (auto-negotiation); wait for the
  // candidates so that the offer carries them inline (no trickle needed).
  await waitForGathering(5000);
  const desc = pc.localDescription();
  if (!desc || !desc.sdp) throw new Error('no local description');
  const mid = (desc.sdp.match(/^a=mid:(\S+)/m) || [])[1] || '0';
  const answer = await http('POST', `/fastpath/sessions/${encodeURIComponent(args.sessionId)}/webrtc/offer`,
    { sdp: desc.sdp, type: 'offer' });
  linkId = answer.link_id;
  say(`LINK ${linkId}`);
  pc.setRemoteDescription(answer.sdp, 'answer');
  // Candidates gathered after the offer went out (none, normally).
  pc.onLocalCandidate((candidate, cmid) => {
    http('POST', `/fastpath/sessions/${encodeURIComponent(args.sessionId)}/webrtc/ice`,
      { candidate, sdp_mid: cmid || mid, sdp_mline_index: 0, link_id: linkId })
      .catch((e) => log(`ice post: ${e.message}`));
  });
  await pollIce();
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

main().catch((e) => {
  log(e.message);
  shutdown(1);
});
