// TLS clients for tests that look at which certificate a listener serves: one handshake, or one
// HTTPS GET on a fresh connection to an echo upstream behind the gateway.

import https from 'node:https';
import tls from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Echoed } from './echo-upstream.js';

export interface Handshake {
  /** SHA-256 fingerprint of the certificate served; absent when the handshake failed. */
  readonly cert?: string;
  readonly error?: string;
}

/** A handshake with 127.0.0.1:port naming `servername` (verified against `ca`), or with no name (not verified). */
export function handshake(port: number, servername: string | null, ca?: string): Promise<Handshake> {
  return new Promise((resolve) => {
    const s = tls.connect(servername !== null ? { host: '127.0.0.1', port, servername, ...(ca ? { ca } : {}) } : { host: '127.0.0.1', port, rejectUnauthorized: false });
    s.setTimeout(10_000, () => s.destroy(new Error('timed out')));
    s.once('secureConnect', () => {
      resolve({ cert: s.getPeerCertificate().fingerprint256 });
      s.end();
    });
    s.once('error', (err) => resolve({ error: err.message }));
  });
}

export interface EchoAnswer {
  /** 0 when no response came (the error says why). */
  readonly status: number;
  readonly cert: string;
  readonly echoed?: Echoed;
  /** The connection it came on (with a keep-alive agent, the same one for several requests). */
  readonly socket?: TLSSocket;
  readonly error?: string;
}

/** GET https://servername:port/path on 127.0.0.1, Host servername; the echo upstream's answer. A fresh connection unless `agent` keeps one. */
export function httpsEcho(port: number, path: string, servername: string, ca: string, agent: https.Agent | false = false): Promise<EchoAnswer> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path, servername, ca, agent, headers: { host: servername } }, (res) => {
      const socket = res.socket as TLSSocket;
      const cert = socket.getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let echoed: Echoed | undefined;
        try {
          echoed = JSON.parse(Buffer.concat(chunks).toString()) as Echoed;
        } catch {}
        resolve({ status: res.statusCode ?? 0, cert, socket, ...(echoed ? { echoed } : {}) });
      });
      // Cut short after its head: no answer, with the reason.
      res.on('error', (err) => resolve({ status: 0, cert: '', error: err.message }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ status: 0, cert: '', error: err.message }));
  });
}
