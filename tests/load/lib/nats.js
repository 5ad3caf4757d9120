// A small NATS client over WebSocket for k6 (stock k6: `k6/experimental/websockets`, no
// extension). It speaks the NATS client protocol as text: reads INFO, sends CONNECT, answers
// PING with PONG, SUB/PUB/HPUB, and parses MSG/HMSG. `request()` publishes with a reply inbox
// (one wildcard subscription per connection) and resolves with the reply: for a subject a
// JetStream stream captures, that reply is the publish ack ({"stream": …, "seq": …}).
//
// Bytes on the wire are kept as a "binary string" (one char per byte, 0–255), so NATS byte
// counts are string lengths; payloads are UTF-8 encoded on the way out and decoded on demand.

import { WebSocket } from 'k6/experimental/websockets';

const CRLF = '\r\n';

/** UTF-8 encodes a JS string into a binary string. */
export function utf8Encode(s) {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out += s[i];
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x800) {
      out += String.fromCharCode(0xc0 | (c >> 6), 0x80 | (c & 63));
    } else if (c < 0x10000) {
      out += String.fromCharCode(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    } else {
      out += String.fromCharCode(
        0xf0 | (c >> 18),
        0x80 | ((c >> 12) & 63),
        0x80 | ((c >> 6) & 63),
        0x80 | (c & 63),
      );
    }
  }
  return out;
}

/** Decodes a binary string holding UTF-8 into a JS string. */
export function utf8Decode(b) {
  let out = '';
  for (let i = 0; i < b.length; ) {
    const c = b.charCodeAt(i);
    let cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if (c < 0xe0) {
      cp = ((c & 31) << 6) | (b.charCodeAt(i + 1) & 63);
      i += 2;
    } else if (c < 0xf0) {
      cp = ((c & 15) << 12) | ((b.charCodeAt(i + 1) & 63) << 6) | (b.charCodeAt(i + 2) & 63);
      i += 3;
    } else {
      cp =
        ((c & 7) << 18) |
        ((b.charCodeAt(i + 1) & 63) << 12) |
        ((b.charCodeAt(i + 2) & 63) << 6) |
        (b.charCodeAt(i + 3) & 63);
      i += 4;
    }
    out += String.fromCodePoint(cp);
  }
  return out;
}

function bytesToBinary(buf) {
  const u = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < u.length; i += 4096) {
    s += String.fromCharCode.apply(null, u.subarray(i, Math.min(u.length, i + 4096)));
  }
  return s;
}

function binaryToBuffer(s) {
  const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i) & 0xff;
  return u.buffer;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** A JS string as a binary string: itself when it is ASCII (the usual case, and cheap). */
function encodeText(s) {
  return NON_ASCII.test(s) ? utf8Encode(s) : s;
}

/**
 * A payload for the wire: a binary string (from a JS string, UTF-8 encoded, or an object as
 * JSON), or an ArrayBuffer as is (a Uint8Array is taken as its bytes).
 */
function toWire(payload) {
  if (payload === undefined || payload === null) return '';
  if (typeof payload === 'string') return encodeText(payload);
  if (payload instanceof ArrayBuffer) return payload;
  if (payload instanceof Uint8Array) {
    return payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength
      ? payload.buffer
      : payload.slice().buffer;
  }
  return encodeText(JSON.stringify(payload));
}

let connectionCounter = 0;

function randomToken() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e12).toString(36)}`;
}

/** One received message. `data` is the payload as a binary string. */
export class NatsMsg {
  constructor(subject, sid, reply, headerBlock, data) {
    this.subject = subject;
    this.sid = sid;
    this.reply = reply;
    this.headerBlock = headerBlock; // "NATS/1.0 [status]\r\nK: V\r\n…" or ''
    this.data = data;
  }

  /** The status of a header-only message ("503" for no responders), or ''. */
  get status() {
    const m = /^NATS\/1\.0 ?(\d{3})?/.exec(this.headerBlock);
    return m && m[1] ? m[1] : '';
  }

  header(name) {
    const lines = this.headerBlock.split(CRLF);
    const want = name.toLowerCase();
    for (let i = 1; i < lines.length; i++) {
      const at = lines[i].indexOf(':');
      if (at > 0 && lines[i].slice(0, at).trim().toLowerCase() === want) {
        return lines[i].slice(at + 1).trim();
      }
    }
    return undefined;
  }

  text() {
    return utf8Decode(this.data);
  }

  json() {
    return JSON.parse(this.text());
  }
}

export class NatsWs {
  constructor(url, { name = 'k6', onError } = {}) {
    this.url = url;
    this.name = `${name}-${++connectionCounter}`;
    this.onError = onError || ((e) => console.warn(`nats ${this.name}: ${e}`));
    this.buf = '';
    this.subs = new Map();
    this.nextSid = 1;
    this.pongWaiters = [];
    this.inbox = `_INBOX.${randomToken()}`;
    this.inboxSid = 0;
    this.requests = new Map();
    this.nextReq = 1;
    this.closed = false;
    this.info = null;
  }

  /** Opens the socket, waits for INFO, sends CONNECT and a PING, resolves on its PONG. */
  connect(timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e) => {
        if (!settled) {
          settled = true;
          reject(new Error(`nats connect ${this.url}: ${e}`));
        }
      };
      const timer = setTimeout(() => fail('timed out'), timeoutMs);
      const ws = new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onmessage = (e) => {
        const chunk = typeof e.data === 'string' ? utf8Encode(e.data) : bytesToBinary(e.data);
        this.buf += chunk;
        try {
          this.drain((info) => {
            this.info = info;
            const connect = {
              verbose: false,
              pedantic: false,
              headers: true,
              no_responders: true,
              protocol: 1,
              name: this.name,
              lang: 'k6-js',
              version: '0.1.0',
            };
            this.write(`CONNECT ${JSON.stringify(connect)}${CRLF}`);
            this.ping().then(() => {
              clearTimeout(timer);
              if (!settled) {
                settled = true;
                resolve(info);
              }
            });
          });
        } catch (err) {
          this.onError(`protocol: ${err}`);
          fail(err);
        }
      };
      ws.onerror = (e) => {
        const msg = e && e.error ? e.error : 'socket error';
        if (!settled) fail(msg);
        else if (!this.closed) this.onError(msg);
      };
      ws.onclose = () => {
        this.closed = true;
        clearTimeout(timer);
        fail('closed');
        for (const [, r] of this.requests) r.reject(new Error('connection closed'));
        this.requests.clear();
      };
    });
  }

  /**
   * Sends protocol bytes. goja is slow at filling typed arrays, so ASCII (all of the protocol and
   * JSON payloads) goes as a text frame — the server reads every frame's payload as one byte
   * stream, whatever its type — and only other bytes are converted into a binary frame.
   */
  write(binary) {
    if (this.closed) throw new Error('nats connection closed');
    this.ws.send(NON_ASCII.test(binary) ? binaryToBuffer(binary) : binary);
  }

  /** Sends bytes held in an ArrayBuffer as a binary frame (no conversion). */
  writeBuffer(buf) {
    if (this.closed) throw new Error('nats connection closed');
    this.ws.send(buf);
  }

  /** Resolves when the server has answered a PING (everything sent before was processed). */
  ping() {
    return new Promise((resolve) => {
      this.pongWaiters.push(resolve);
      this.write(`PING${CRLF}`);
    });
  }

  subscribe(subject, handler, queue) {
    const sid = this.nextSid++;
    this.subs.set(sid, handler);
    this.write(`SUB ${subject}${queue ? ` ${queue}` : ''} ${sid}${CRLF}`);
    return sid;
  }

  unsubscribe(sid) {
    this.subs.delete(sid);
    this.write(`UNSUB ${sid}${CRLF}`);
  }

  /**
   * PUB, or HPUB when headers are given ({name: value}). The payload is a JS string (sent as
   * UTF-8), a Uint8Array/ArrayBuffer (sent as is) or an object (sent as JSON).
   */
  publish(subject, payload, { reply, headers } = {}) {
    const data = toWire(payload);
    const size = typeof data === 'string' ? data.length : data.byteLength;
    const r = reply ? ` ${reply}` : '';
    let head;
    if (headers && Object.keys(headers).length > 0) {
      let h = `NATS/1.0${CRLF}`;
      for (const k of Object.keys(headers)) h += `${k}: ${headers[k]}${CRLF}`;
      h = encodeText(h + CRLF);
      head = `HPUB ${subject}${r} ${h.length} ${h.length + size}${CRLF}${h}`;
    } else {
      head = `PUB ${subject}${r} ${size}${CRLF}`;
    }
    if (typeof data === 'string') {
      this.write(`${head}${data}${CRLF}`);
    } else {
      // One protocol message in three frames: the server parses the frames' bytes as a stream.
      this.write(head);
      this.writeBuffer(data);
      this.write(CRLF);
    }
  }

  /**
   * Publishes with a reply subject from this connection's inbox and resolves with the first
   * reply (a NatsMsg); rejects on timeout or when no one answers (status 503).
   */
  request(subject, payload, { headers, timeoutMs = 5000 } = {}) {
    if (!this.inboxSid) {
      this.inboxSid = this.subscribe(`${this.inbox}.*`, (msg) => {
        const token = msg.subject.slice(this.inbox.length + 1);
        const r = this.requests.get(token);
        if (!r) return;
        this.requests.delete(token);
        clearTimeout(r.timer);
        if (msg.status === '503') r.reject(new Error(`no responders on ${r.subject}`));
        else r.resolve(msg);
      });
    }
    return new Promise((resolve, reject) => {
      const token = String(this.nextReq++);
      const timer = setTimeout(() => {
        if (this.requests.delete(token)) reject(new Error(`request on ${subject} timed out`));
      }, timeoutMs);
      this.requests.set(token, { resolve, reject, timer, subject });
      try {
        this.publish(subject, payload, { reply: `${this.inbox}.${token}`, headers });
      } catch (e) {
        this.requests.delete(token);
        clearTimeout(timer);
        reject(e);
      }
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const [, r] of this.requests) {
      clearTimeout(r.timer);
      r.reject(new Error('connection closed'));
    }
    this.requests.clear();
    try {
      this.ws.close();
    } catch (e) {
      // already closing
    }
  }

  /** Parses every complete protocol message in the buffer. */
  drain(onInfo) {
    for (;;) {
      const eol = this.buf.indexOf(CRLF);
      if (eol < 0) return;
      const line = this.buf.slice(0, eol);
      const sp = line.indexOf(' ');
      const op = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      if (op === 'MSG' || op === 'HMSG') {
        const args = line.slice(sp + 1).split(' ').filter((a) => a !== '');
        const headered = op === 'HMSG';
        const total = Number(args[args.length - 1]);
        const hdrLen = headered ? Number(args[args.length - 2]) : 0;
        const fixed = headered ? 4 : 3; // subject sid [reply] [hdr] total
        const reply = args.length > fixed ? args[2] : '';
        const start = eol + 2;
        if (this.buf.length < start + total + 2) return; // wait for the rest
        const block = this.buf.slice(start, start + total);
        this.buf = this.buf.slice(start + total + 2);
        const msg = new NatsMsg(args[0], Number(args[1]), reply, block.slice(0, hdrLen), block.slice(hdrLen));
        const handler = this.subs.get(msg.sid);
        if (handler) {
          try {
            handler(msg);
          } catch (e) {
            this.onError(`handler for ${msg.subject}: ${e}`);
          }
        }
        continue;
      }
      this.buf = this.buf.slice(eol + 2);
      if (op === 'PING') {
        this.write(`PONG${CRLF}`);
      } else if (op === 'PONG') {
        const w = this.pongWaiters.shift();
        if (w) w();
      } else if (op === 'INFO') {
        const info = JSON.parse(line.slice(sp + 1));
        if (onInfo && !this.info) onInfo(info);
      } else if (op === '-ERR') {
        this.onError(`server error: ${line.slice(sp + 1)}`);
      } else if (op === '+OK' || op === '') {
        // verbose is off; nothing to do
      } else {
        this.onError(`unexpected protocol line: ${line.slice(0, 80)}`);
      }
    }
  }
}

/** Sleeps `ms` on the event loop (lets socket events run meanwhile). */
export function sleepMs(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * MessagePack of a flat object whose values are non-negative integers, strings or booleans, as
 * `rmp_serde::to_vec_named` writes a struct (a map with string keys). Enough for a job.
 */
export function msgpackFlat(obj, wide = []) {
  return msgpackTemplate(obj, wide).buffer;
}

/**
 * Like msgpackFlat, with the fields named in `wide` always written as uint64 (0xcf + 8 bytes),
 * so that they can be changed in place: returns {buffer, set(field, value)}. Filling a fresh
 * buffer per message costs goja far more than the publish itself; patching 8 bytes does not.
 */
export function msgpackTemplate(obj, wide = []) {
  const offsets = {};
  const keys = Object.keys(obj);
  let out = '';
  const byte = (b) => {
    out += String.fromCharCode(b & 0xff);
  };
  const str = (s) => {
    const b = utf8Encode(s);
    if (b.length < 32) byte(0xa0 | b.length);
    else if (b.length < 256) {
      byte(0xd9);
      byte(b.length);
    } else {
      byte(0xda);
      byte(b.length >> 8);
      byte(b.length);
    }
    out += b;
  };
  const uint = (n, forceWide) => {
    if (!Number.isInteger(n) || n < 0) throw new Error(`msgpackFlat: ${n} is not a non-negative integer`);
    if (forceWide) {
      byte(0xcf);
      for (let i = 0; i < 8; i++) byte(0);
    } else if (n < 128) byte(n);
    else if (n < 0x100) {
      byte(0xcc);
      byte(n);
    } else if (n < 0x10000) {
      byte(0xcd);
      byte(n >> 8);
      byte(n);
    } else if (n < 0x100000000) {
      byte(0xce);
      byte(n >>> 24);
      byte(n >>> 16);
      byte(n >>> 8);
      byte(n);
    } else {
      const hi = Math.floor(n / 0x100000000);
      const lo = n % 0x100000000;
      byte(0xcf);
      byte(hi >>> 24);
      byte(hi >>> 16);
      byte(hi >>> 8);
      byte(hi);
      byte(lo >>> 24);
      byte(lo >>> 16);
      byte(lo >>> 8);
      byte(lo);
    }
  };
  if (keys.length >= 16) throw new Error('msgpackFlat: at most 15 fields');
  byte(0x80 | keys.length);
  for (const k of keys) {
    str(k);
    const v = obj[k];
    if (typeof v === 'string') str(v);
    else if (typeof v === 'boolean') byte(v ? 0xc3 : 0xc2);
    else if (wide.indexOf(k) >= 0) {
      offsets[k] = out.length + 1;
      uint(v, true);
    } else uint(v);
  }
  const buffer = binaryToBuffer(out);
  const view = new Uint8Array(buffer);
  const set = (k, n) => {
    const at = offsets[k];
    if (at === undefined) throw new Error(`msgpackTemplate: ${k} is not a wide field`);
    let hi = Math.floor(n / 0x100000000);
    let lo = n % 0x100000000;
    for (let i = 3; i >= 0; i--) {
      view[at + i] = hi & 0xff;
      hi = Math.floor(hi / 256);
      view[at + 4 + i] = lo & 0xff;
      lo = Math.floor(lo / 256);
    }
  };
  for (const k of wide) set(k, obj[k]);
  return { buffer, set };
}
