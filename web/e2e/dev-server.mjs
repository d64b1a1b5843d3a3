#!/usr/bin/env node
// A stand-in for yoi-server's browser API, for developing the console without
// the C++ build: in-memory workers on one runtime, an echo engine that streams
// in chunks, the event log with cursors, and the WS frames of wire.hpp. It is
// NOT the product and proves nothing about yoi-server; the e2e test runs
// against the real binary and uses this only when E2E_SERVER=dev is set.
//
//   node e2e/dev-server.mjs [--listen 127.0.0.1:0] [--web-dir dist] [--token T] [--chunk-delay-ms 40] [--no-ws]
//
// Prints "yoi-server listening on http://HOST:PORT" like the real server.

import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const [host, port] = opt("listen", "127.0.0.1:0").split(":");
const webDir = resolve(opt("web-dir", "dist"));
const token = opt("token", process.env.FAKE_TOKEN || "");
const chunkDelay = Number(opt("chunk-delay-ms", "40"));
const noWs = args.includes("--no-ws"); // refuse the WS route: exercises the console's polling fallback

const epoch = randomBytes(6).toString("hex");
const RID = "local";
const runtime = {
  runtime_id: RID,
  display_name: "Local (embedded)",
  kind: "embedded",
  status: "ready",
  epoch,
  version: "dev",
  store: "memory",
  capabilities: ["workers.create", "workers.list", "workers.detail", "workers.input", "workers.cancel", "workers.stop", "workers.transcript", "workers.events.ws", "workers.delete"],
  profiles: ["runtime_default"],
};
const workers = new Map(); // wid -> { w, log: [], transcript: [], inflight, timer, subs: Set }
let nextId = 1;

const cursorOf = (wid, seq) => Buffer.from(`${epoch}|${wid}|${seq}`).toString("base64url");
function parseCursor(wid, c) {
  const [e, w, s] = Buffer.from(c, "base64url").toString().split("|");
  if (w !== wid || !/^\d+$/.test(s ?? "")) return { error: "cursor_invalid" };
  if (e !== epoch) return { error: "cursor_unknown" };
  return { seq: Number(s) };
}

function detail(x) {
  return { ...x.w, last_seq: x.log.length, transcript_total: x.transcript.length };
}
function append(x, ev) {
  const seq = x.log.length + 1;
  const e = { ...ev, seq, time: Date.now() };
  x.log.push(e);
  x.w.updated_at = Date.now();
  const frame = JSON.stringify({ type: "event", cursor: cursorOf(x.w.worker_id, seq), seq, runtime_id: RID, worker_id: x.w.worker_id, event: e });
  for (const s of x.subs) s.send(frame);
  return e;
}
function setStatus(x, status) {
  const previous = x.w.status;
  x.w.status = status;
  append(x, { type: "status", status, previous });
}
function finishRun(x, result) {
  clearTimeout(x.timer);
  const run = x.inflight;
  x.inflight = null;
  delete x.w.current_run_id;
  const e = append(x, { type: "run_finished", run_id: run.run_id, result });
  if (result === "completed" || run.text) {
    x.transcript.push({ index: x.transcript.length, seq: e.seq, role: "assistant", content: run.text, run_id: run.run_id, result, time: Date.now() });
  }
  setStatus(x, "idle");
}

const err = (res, status, code, message) => json(res, status, { error: { code, message } });
function json(res, status, body) {
  const b = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(b) });
  res.end(b);
}
async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const t = Buffer.concat(chunks).toString();
  return t ? JSON.parse(t) : {};
}
const ID = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,119}$/;

async function api(req, res, path, q) {
  if (token && req.headers.authorization !== `Bearer ${token}`) return err(res, 401, "unauthorized", "This server requires an access token.");
  if (path === "/api/runtimes" && req.method === "GET") return json(res, 200, { runtimes: [{ ...runtime, workers: counts() }] });
  if (path === "/api/workers" && req.method === "GET") return json(res, 200, { workers: [...workers.values()].map(detail), runtimes: [{ runtime_id: RID, ok: true }] });
  const m = path.match(/^\/api\/runtimes\/([^/]+)(?:\/workers(?:\/([^/]+)(?:\/(\w+))?)?)?$/);
  if (!m) return err(res, 404, "not_found", "No such route.");
  const rid = decodeURIComponent(m[1]);
  if (rid !== RID) return err(res, 404, "runtime_not_found", `No runtime ${rid}.`);
  const wid = m[2] && decodeURIComponent(m[2]);
  const op = m[3];
  if (!path.includes("/workers")) return json(res, 200, { ...runtime, workers: counts() });
  if (!wid) {
    if (req.method === "GET") return json(res, 200, { workers: [...workers.values()].map(detail) });
    let b;
    try {
      b = await body(req);
    } catch {
      return err(res, 400, "invalid_request", "Body is not JSON.");
    }
    const id = b.worker_id ?? `w-${nextId++}`;
    if (!ID.test(id)) return err(res, 400, "invalid_id", "worker_id must be 1-120 of [A-Za-z0-9_:-], starting with a letter or digit.");
    if (workers.has(id)) return err(res, 409, "worker_exists", `Worker ${id} exists.`);
    const now = Date.now();
    const w = { runtime_id: RID, worker_id: id, display_name: b.display_name ?? "", status: "idle", intent: b.intent ?? { kind: "assistant" }, profile: b.profile ?? "runtime_default", created_at: now, updated_at: now };
    const x = { w, log: [], transcript: [], inflight: null, timer: null, subs: new Set(), runs: 0, cmids: new Map() };
    workers.set(id, x);
    append(x, { type: "worker_created", worker: { ...w } });
    return json(res, 201, detail(x));
  }
  const x = workers.get(wid);
  if (!x) return err(res, 404, "worker_not_found", `No worker ${wid} on ${rid}.`);
  if (!op && req.method === "GET") return json(res, 200, detail(x));
  if (!op && req.method === "DELETE") {
    if (x.w.status !== "stopped") return err(res, 409, "worker_not_stopped", `Worker ${wid} is ${x.w.status}; stop it before deleting it.`);
    workers.delete(wid);
    res.writeHead(204);
    return res.end();
  }
  if (op === "events" && req.method === "GET") {
    let from = 0;
    const after = q.get("after");
    if (after) {
      const p = parseCursor(wid, after);
      if (p.error) return err(res, p.error === "cursor_invalid" ? 400 : 410, p.error, "The cursor cannot be used.");
      if (p.seq > x.log.length) return err(res, 410, "cursor_unknown", "The cursor is from the future.");
      from = p.seq;
    }
    const limit = Math.min(1000, Number(q.get("limit") ?? 100));
    const evs = x.log.slice(from, from + limit);
    const last = evs.length ? evs[evs.length - 1].seq : from;
    return json(res, 200, {
      events: evs.map((e) => ({ cursor: cursorOf(wid, e.seq), seq: e.seq, event: e })),
      cursor: cursorOf(wid, last),
      last_seq: x.log.length,
    });
  }
  if (op === "transcript") {
    const start = Number(q.get("start") ?? 0);
    const limit = Math.min(1000, Number(q.get("limit") ?? 100));
    return json(res, 200, { items: x.transcript.slice(start, start + limit), total: x.transcript.length });
  }
  if (req.method !== "POST") return err(res, 404, "not_found", "No such route.");
  const b = await body(req).catch(() => ({}));
  if (op === "input") {
    if (typeof b.content !== "string" || !b.content) return err(res, 400, "invalid_request", "content is required.");
    if (b.client_message_id && x.cmids.has(b.client_message_id)) return json(res, 200, { ...x.cmids.get(b.client_message_id), duplicate: true });
    if (x.w.status === "stopped") return err(res, 409, "worker_stopped", "The worker is stopped.");
    if (x.w.status === "running") return err(res, 409, "worker_busy", "A run is in flight.");
    const run_id = `run-${++x.runs}`;
    const acc = append(x, { type: "input_accepted", run_id, content: b.content, ...(b.client_message_id ? { client_message_id: b.client_message_id } : {}) });
    x.transcript.push({ index: x.transcript.length, seq: acc.seq, role: "user", content: b.content, run_id, time: Date.now() });
    setStatus(x, "running");
    x.w.current_run_id = run_id;
    append(x, { type: "run_started", run_id, profile: x.w.profile });
    x.inflight = { run_id, text: "" };
    const reply = `echo: ${b.content}`;
    let off = 0;
    const tick = () => {
      if (off >= reply.length) {
        append(x, { type: "text_done", run_id, text: reply });
        append(x, { type: "usage", run_id, input_tokens: b.content.length, output_tokens: reply.length });
        finishRun(x, "completed");
        return;
      }
      const delta = reply.slice(off, off + 8);
      off += 8;
      x.inflight.text += delta;
      append(x, { type: "text_delta", run_id, delta });
      x.timer = setTimeout(tick, chunkDelay);
    };
    x.timer = setTimeout(tick, chunkDelay);
    const r = { accepted: true, run_id, seq: acc.seq, client_message_id: b.client_message_id, duplicate: false };
    if (b.client_message_id) x.cmids.set(b.client_message_id, r);
    return json(res, 202, r);
  }
  if (op === "cancel") {
    if (!x.inflight) return json(res, 200, { cancelled: false, status: x.w.status });
    const run_id = x.inflight.run_id;
    finishRun(x, "cancelled");
    return json(res, 200, { cancelled: true, run_id, status: x.w.status });
  }
  if (op === "stop") {
    if (x.w.status !== "stopped") {
      if (x.inflight) finishRun(x, "cancelled");
      setStatus(x, "stopped");
      append(x, { type: "worker_stopped", reason: b.reason });
      for (const s of x.subs) s.send(JSON.stringify({ type: "diagnostic", code: "worker_stopped", message: "The worker is stopped.", action: "fatal" }));
    }
    return json(res, 200, detail(x));
  }
  return err(res, 404, "not_found", "No such route.");
}

function counts() {
  const c = { total: workers.size, idle: 0, running: 0, stopped: 0 };
  for (const x of workers.values()) c[x.w.status]++;
  return c;
}

const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png" };
async function serveStatic(res, path) {
  const rel = normalize(path === "/" ? "/index.html" : path).replace(/^(\.\.[/\\])+/, "");
  const file = join(webDir, rel);
  if (!file.startsWith(webDir)) return err(res, 404, "not_found", "No such file.");
  try {
    const data = await readFile(file);
    res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream" });
    res.end(data);
  } catch {
    err(res, 404, "not_found", "No such file.");
  }
}

// ---- minimal RFC 6455 server side: text frames out, close/ping in ----
function wsFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 255]) : (() => {
    const b = Buffer.alloc(10);
    b[0] = 0x80 | opcode;
    b[1] = 127;
    b.writeBigUInt64BE(BigInt(len), 2);
    return b;
  })();
  return Buffer.concat([head, payload]);
}

function upgrade(req, socket) {
  const url = new URL(req.url, "http://x");
  const m = url.pathname.match(/^\/api\/runtimes\/([^/]+)\/workers\/([^/]+)\/events\/ws$/);
  const reject = (status, text) => socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  if (!m || noWs) return reject(404, "Not Found");
  const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const tok = offered.find((p) => p.startsWith("yoi-token."))?.slice("yoi-token.".length);
  if (token && tok !== token) return reject(401, "Unauthorized");
  const x = workers.get(decodeURIComponent(m[2]));
  if (decodeURIComponent(m[1]) !== RID || !x) return reject(404, "Not Found");
  const accept = createHash("sha1").update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (offered.includes("yoi.v1") ? "Sec-WebSocket-Protocol: yoi.v1\r\n" : "") +
      "\r\n",
  );
  const sub = {
    send: (t) => socket.writable && socket.write(wsFrame(1, Buffer.from(t))),
  };
  const wid = x.w.worker_id;
  const cursor = url.searchParams.get("cursor");
  let from = null;
  if (cursor) {
    const p = parseCursor(wid, cursor);
    if (p.error) sub.send(JSON.stringify({ type: "diagnostic", code: p.error, message: "The cursor cannot be used.", action: "resync" }));
    else if (p.seq > x.log.length) sub.send(JSON.stringify({ type: "diagnostic", code: "cursor_unknown", message: "The cursor is from the future.", action: "resync" }));
    else from = p.seq;
  }
  if (from === null) {
    const seq = x.log.length;
    sub.send(
      JSON.stringify({
        type: "snapshot", cursor: cursorOf(wid, seq), seq, runtime_id: RID, worker_id: wid, worker: detail(x),
        transcript_tail: x.transcript.slice(-20), in_flight: x.inflight ? { ...x.inflight } : null,
      }),
    );
  } else {
    for (const e of x.log.slice(from)) sub.send(JSON.stringify({ type: "event", cursor: cursorOf(wid, e.seq), seq: e.seq, runtime_id: RID, worker_id: wid, event: e }));
  }
  if (x.w.status === "stopped") sub.send(JSON.stringify({ type: "diagnostic", code: "worker_stopped", message: "The worker is stopped.", action: "fatal" }));
  x.subs.add(sub);
  const hb = setInterval(() => sub.send(JSON.stringify({ type: "heartbeat", cursor: cursorOf(wid, x.log.length), seq: x.log.length })), 5000);
  const done = () => {
    clearInterval(hb);
    x.subs.delete(sub);
  };
  let buf = Buffer.alloc(0);
  socket.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2) {
      const op = buf[0] & 15;
      let len = buf[1] & 127;
      let off = 2;
      if (len === 126) (len = buf.readUInt16BE(2)), (off = 4);
      else if (len === 127) (len = Number(buf.readBigUInt64BE(2))), (off = 10);
      if (buf.length < off + 4 + len) break;
      const mask = buf.subarray(off, off + 4);
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len)).map((b, i) => b ^ mask[i % 4]);
      buf = buf.subarray(off + 4 + len);
      if (op === 8) {
        socket.end(wsFrame(8, Buffer.from([0x03, 0xe8])));
        done();
      } else if (op === 9) socket.write(wsFrame(10, payload));
      else if (op === 1 || op === 2) sub.send(JSON.stringify({ type: "diagnostic", code: "observation_only", message: "This stream takes no input.", action: "fatal" }));
    }
  });
  socket.on("close", done);
  socket.on("error", done);
}

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/healthz") return json(res, 200, { status: "ok" });
  if (url.pathname.startsWith("/api/")) {
    api(req, res, url.pathname, url.searchParams).catch((e) => err(res, 500, "internal", String(e.message)));
    return;
  }
  serveStatic(res, url.pathname);
});
server.on("upgrade", upgrade);
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`yoi-server listening on http://${a.address}:${a.port}`);
});
