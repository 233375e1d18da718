// Real external authorization services for tests, HTTP (Emissary's proto http) and gRPC (Envoy's
// ext_authz v3 with @grpc/grpc-js): each answers what a check asks for in its x-want-* headers and
// records every check it receives.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface HttpCheck {
  readonly method: string;
  readonly url: string;
  /** [name, value] as received. */
  readonly headers: [string, string][];
  readonly body: Buffer;
}

export interface HttpAuthServer {
  readonly name: string;
  readonly port: number;
  readonly checks: HttpCheck[];
  /** Checks waiting for release() (sent with x-want-hold). */
  held(): number;
  /** Resolves once `n` checks are held. */
  whenHeld(n: number): Promise<void>;
  /** Checks whose connection closed before they were answered (the gateway gave up on them). */
  abandoned(): number;
  whenAbandoned(n: number): Promise<void>;
  release(): void;
  close(): Promise<void>;
}

/** The value of a header (case-insensitive) in a recorded check; several joined by ", ". */
export function checkHeader(c: HttpCheck, name: string): string | undefined {
  const vals = c.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return vals.length === 0 ? undefined : vals.join(', ');
}

/**
 * Answers each check as asked: `x-want-status` (default 200), `x-want-headers` (JSON object of
 * answer headers; an array value sends the field several times), `x-want-hold` (wait for
 * release()), `x-want-hang` (never answer). The body says who answered and with what.
 */
export async function startHttpAuth(name: string, tls?: { key: string; cert: string }): Promise<HttpAuthServer> {
  const checks: HttpCheck[] = [];
  let holding: (() => void)[] = [];
  let heldWaiters: { n: number; resolve: () => void }[] = [];
  let abandoned = 0;
  let abandonWaiters: { n: number; resolve: () => void }[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    res.on('close', () => {
      if (res.writableFinished) return;
      abandoned++;
      abandonWaiters = abandonWaiters.filter((w) => (abandoned >= w.n ? (w.resolve(), false) : true));
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string]);
      const check: HttpCheck = { method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks) };
      checks.push(check);
      const answer = (): void => {
        const status = Number(checkHeader(check, 'x-want-status') ?? '200');
        const extra = JSON.parse(checkHeader(check, 'x-want-headers') ?? '{}') as Record<string, string | string[]>;
        const body = `${name} says ${status}`;
        res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...extra });
        res.end(body);
      };
      if (checkHeader(check, 'x-want-hang') !== undefined) return;
      if (checkHeader(check, 'x-want-hold') !== undefined) {
        holding.push(answer);
        heldWaiters = heldWaiters.filter((w) => (holding.length >= w.n ? (w.resolve(), false) : true));
        return;
      }
      answer();
    });
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    checks,
    held: () => holding.length,
    whenHeld: (n) => new Promise((resolve) => {
      if (holding.length >= n) resolve();
      else heldWaiters.push({ n, resolve });
    }),
    abandoned: () => abandoned,
    whenAbandoned: (n) => new Promise((resolve) => {
      if (abandoned >= n) resolve();
      else abandonWaiters.push({ n, resolve });
    }),
    release: () => {
      const h = holding;
      holding = [];
      for (const f of h) f();
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface GrpcCheck {
  readonly source: string;
  readonly sourcePort: number;
  readonly path: string;
  readonly method: string;
  readonly host: string;
  readonly scheme: string;
  readonly id: string;
  readonly size: number;
  readonly protocol: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly contextExtensions: Record<string, string>;
}

export interface GrpcAuthServer {
  readonly port: number;
  readonly checks: GrpcCheck[];
  close(): Promise<void>;
}

const EXT_AUTHZ_PROTO = join(process.cwd(), 'test', 'testdata', 'ext-authz', 'external_auth.proto');

interface CheckRequestMessage {
  attributes?: {
    source?: { address?: { socket_address?: { address?: string; port_value?: number } } };
    request?: { http?: { id?: string; method?: string; headers?: Record<string, string>; path?: string; host?: string; scheme?: string; size?: string | number; protocol?: string; body?: string } };
    context_extensions?: Record<string, string>;
  };
}

/**
 * A gRPC ext_authz server (envoy.service.auth.v3.Authorization/Check, @grpc/grpc-js). Each check is
 * answered as its request headers ask: `x-want-answer` (a CheckResponse as JSON; default OK with
 * nothing to change), `x-want-grpc-error` (fail the call with that gRPC status code), `x-want-hang`.
 */
export async function startGrpcAuth(): Promise<GrpcAuthServer> {
  const def = protoLoader.loadSync(EXT_AUTHZ_PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } } };
  const checks: GrpcCheck[] = [];
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<CheckRequestMessage, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const a = call.request.attributes ?? {};
      const http = a.request?.http ?? {};
      const headers = http.headers ?? {};
      checks.push({
        source: a.source?.address?.socket_address?.address ?? '',
        sourcePort: a.source?.address?.socket_address?.port_value ?? 0,
        path: http.path ?? '', method: http.method ?? '', host: http.host ?? '', scheme: http.scheme ?? '', id: http.id ?? '',
        size: Number(http.size ?? 0), protocol: http.protocol ?? '', headers, body: http.body ?? '', contextExtensions: a.context_extensions ?? {},
      });
      if (headers['x-want-hang'] !== undefined) return;
      const error = headers['x-want-grpc-error'];
      if (error !== undefined) {
        cb({ code: Number(error), details: 'the auth server failed on purpose' } as grpc.ServiceError, null);
        return;
      }
      cb(null, JSON.parse(headers['x-want-answer'] ?? '{"status":{"code":0}}'));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    checks,
    close: () => new Promise<void>((resolve) => {
      server.forceShutdown();
      resolve();
    }),
  };
}
