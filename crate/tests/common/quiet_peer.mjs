// A quiet Lightning peer for the browser transport test (crate/tests/web_transport.rs, #14
// item 13), written apart from LDK: a BOLT 8 responder that waits for the initiator's `init`,
// answers with an `init` carrying the same features, and then sends nothing at all (no ping,
// no pong). Each connection is closed after HOLD_MS, as a peer that gives up would.
//
// Usage: node quiet_peer.mjs. Listens on a free loopback port and prints one JSON line,
// {"node_id": ..., "port": ...}; exits when its stdin closes. Test code only: the secp256k1
// arithmetic is plain BigInt (not constant time) and the static key is fixed.
import crypto from 'node:crypto';
import net from 'node:net';

const HOLD_MS = 15000;
const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const G = [
  0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
  0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
];

const mod = (a) => ((a % P) + P) % P;
function inv(a) {
  let [t, nt, r, nr] = [0n, 1n, P, mod(a)];
  while (nr) {
    const q = r / nr;
    [t, nt] = [nt, t - q * nt];
    [r, nr] = [nr, r - q * nr];
  }
  return mod(t);
}
function add(p, q) {
  if (!p) return q;
  if (!q) return p;
  if (p[0] === q[0] && mod(p[1] + q[1]) === 0n) return null;
  const l = p[0] === q[0]
    ? mod(3n * p[0] * p[0] * inv(2n * p[1]))
    : mod((q[1] - p[1]) * inv(q[0] - p[0]));
  const x = mod(l * l - p[0] - q[0]);
  return [x, mod(l * (p[0] - x) - p[1])];
}
function mul(k, p) {
  let r = null;
  for (; k; k >>= 1n, p = add(p, p)) if (k & 1n) r = add(r, p);
  return r;
}
function pow(b, e) {
  let r = 1n;
  for (b = mod(b); e; e >>= 1n, b = mod(b * b)) if (e & 1n) r = mod(r * b);
  return r;
}
const toBig = (b) => BigInt('0x' + Buffer.from(b).toString('hex'));
const serialize = (p) =>
  Buffer.concat([Buffer.from([p[1] & 1n ? 3 : 2]), Buffer.from(p[0].toString(16).padStart(64, '0'), 'hex')]);
function parse(b) {
  const x = toBig(b.subarray(1));
  let y = pow(x * x * x + 7n, (P + 1n) / 4n);
  if ((y & 1n) !== BigInt(b[0] & 1)) y = P - y;
  return [x, y];
}

const sha256 = (...b) => crypto.createHash('sha256').update(Buffer.concat(b)).digest();
const hmac = (k, ...b) => crypto.createHmac('sha256', k).update(Buffer.concat(b)).digest();
function hkdf(salt, ikm) {
  const prk = hmac(salt, ikm);
  const t1 = hmac(prk, Buffer.from([1]));
  return [t1, hmac(prk, t1, Buffer.from([2]))];
}
const ecdh = (k, pub) => sha256(serialize(mul(k, parse(pub))));
function nonce(n) {
  const b = Buffer.alloc(12);
  b.writeBigUInt64LE(BigInt(n), 4);
  return b;
}
function encrypt(k, n, ad, plain) {
  const c = crypto.createCipheriv('chacha20-poly1305', k, nonce(n), { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: plain.length });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}
function decrypt(k, n, ad, sealed) {
  const d = crypto.createDecipheriv('chacha20-poly1305', k, nonce(n), { authTagLength: 16 });
  d.setAAD(ad, { plaintextLength: sealed.length - 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}

const staticKey = toBig(sha256(Buffer.from('wasm-ln quiet peer')));
const staticPub = serialize(mul(staticKey, G));
const none = Buffer.alloc(0);

function serve(sock) {
  sock.setNoDelay(true);
  const timer = setTimeout(() => sock.destroy(), HOLD_MS);
  sock.on('close', () => clearTimeout(timer));
  sock.on('error', () => {});
  let h = sha256(Buffer.from('Noise_XK_secp256k1_ChaChaPoly_SHA256'));
  let ck = h;
  h = sha256(sha256(h, Buffer.from('lightning')), staticPub);
  let state = 'act1', input = none, e, tempK2, sendKey, recvKey, sendN = 0, recvN = 0, length = null;
  const take = (n) => {
    const b = input.subarray(0, n);
    input = input.subarray(n);
    return b;
  };
  const send = (msg) => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    sock.write(Buffer.concat([encrypt(sendKey, sendN, none, len), encrypt(sendKey, sendN + 1, none, msg)]));
    sendN += 2;
  };
  sock.on('data', (data) => {
    input = Buffer.concat([input, data]);
    try {
      for (;;) {
        if (state === 'act1') {
          if (input.length < 50) return;
          const act = take(50);
          const re = act.subarray(1, 34);
          h = sha256(h, re);
          let tempK1;
          [ck, tempK1] = hkdf(ck, ecdh(staticKey, re));
          decrypt(tempK1, 0, h, act.subarray(34));
          h = sha256(h, act.subarray(34));
          e = toBig(crypto.randomBytes(32)) % N;
          const ePub = serialize(mul(e, G));
          h = sha256(h, ePub);
          [ck, tempK2] = hkdf(ck, ecdh(e, re));
          const c = encrypt(tempK2, 0, h, none);
          h = sha256(h, c);
          sock.write(Buffer.concat([Buffer.from([0]), ePub, c]));
          state = 'act3';
        } else if (state === 'act3') {
          if (input.length < 66) return;
          const act = take(66);
          const c = act.subarray(1, 50);
          const rs = decrypt(tempK2, 1, h, c);
          h = sha256(h, c);
          let tempK3;
          [ck, tempK3] = hkdf(ck, ecdh(e, rs));
          decrypt(tempK3, 0, h, act.subarray(50));
          [recvKey, sendKey] = hkdf(ck, none);
          state = 'messages';
        } else if (length === null) {
          if (input.length < 18) return;
          length = decrypt(recvKey, recvN++, none, take(18)).readUInt16BE(0);
        } else {
          if (input.length < length + 16) return;
          const msg = decrypt(recvKey, recvN++, none, take(length + 16));
          length = null;
          if (msg.readUInt16BE(0) === 16) {
            // init: type, global features, features; answered with the same features.
            const global = msg.readUInt16BE(2);
            const features = msg.readUInt16BE(4 + global);
            send(msg.subarray(0, 6 + global + features));
          }
        }
      }
    } catch {
      sock.destroy();
    }
  });
}

const server = net.createServer(serve);
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ node_id: staticPub.toString('hex'), port: server.address().port }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
