// A fake forge for tests (the public hosts cannot be reached here): one local HTTP server that
// implements the commit-status endpoints of GitHub, GitLab and Gitea as their API documentation
// describes them (paths, credential headers, states, field names and limits), and a webhook receiver.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ForgeStatus {
  readonly forge: 'github' | 'gitlab' | 'gitea';
  /** owner/name, or the GitLab project path. */
  readonly repository: string;
  readonly sha: string;
  /** As the forge names it: GitHub and Gitea success/failure/error; GitLab success/failed. */
  readonly state: string;
  /** GitHub's and Gitea's `context`, GitLab's `name`. */
  readonly context: string;
  readonly description: string;
}

export interface FakeForge {
  /** API roots: github `http://…`, gitlab `http://…/api/v4`, gitea `http://…/api/v1`. */
  readonly api: { readonly github: string; readonly gitlab: string; readonly gitea: string };
  readonly statuses: ForgeStatus[];
  /** Requests refused, with the status the fake answered. */
  readonly refused: { path: string; status: number; why: string }[];
  /** The next n requests get this status (a forge having a bad minute). */
  failNext(n: number, status: number): void;
  /** Requests are held unanswered until release() (a forge that hangs). */
  hold(): void;
  release(): void;
  waitFor(pred: (s: readonly ForgeStatus[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const STATES = {
  github: ['error', 'failure', 'pending', 'success'],
  gitea: ['pending', 'success', 'error', 'failure', 'warning'],
  gitlab: ['pending', 'running', 'success', 'failed', 'canceled', 'skipped'],
} as const;

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** `token` is the only credential the fake accepts; `repositories` the only repositories it has. */
export async function startFakeForge(token: string, repositories: readonly string[]): Promise<FakeForge> {
  const statuses: ForgeStatus[] = [];
  const refused: { path: string; status: number; why: string }[] = [];
  const waiters = new Set<() => void>();
  let failures = 0;
  let failStatus = 503;
  let held: (() => void)[] | undefined;

  const route = (method: string, path: string, headers: http.IncomingHttpHeaders): { forge: ForgeStatus['forge']; repository: string; sha: string; authorized: boolean } | undefined => {
    if (method !== 'POST') return undefined;
    let m = /^\/repos\/([^/]+)\/([^/]+)\/statuses\/([^/]+)$/.exec(path);
    if (m) return { forge: 'github', repository: `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`, sha: m[3]!, authorized: headers.authorization === `Bearer ${token}` };
    m = /^\/api\/v1\/repos\/([^/]+)\/([^/]+)\/statuses\/([^/]+)$/.exec(path);
    if (m) return { forge: 'gitea', repository: `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`, sha: m[3]!, authorized: headers.authorization === `token ${token}` };
    m = /^\/api\/v4\/projects\/([^/]+)\/statuses\/([^/]+)$/.exec(path);
    if (m) return { forge: 'gitlab', repository: decodeURIComponent(m[1]!), sha: m[2]!, authorized: headers['private-token'] === token };
    return undefined;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (): void => {
        const path = (req.url ?? '').split('?')[0]!;
        const refuse = (status: number, why: string): void => {
          refused.push({ path, status, why });
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message: why }));
        };
        if (failures > 0) {
          failures--;
          refuse(failStatus, 'failing on purpose');
          return;
        }
        const r = route(req.method ?? '', path, req.headers);
        if (r === undefined) return refuse(404, 'Not Found');
        if (!r.authorized) return refuse(401, 'Bad credentials');
        if (!repositories.includes(r.repository)) return refuse(404, `no repository ${r.repository}`);
        if (!SHA.test(r.sha)) return refuse(422, `not a commit id: ${r.sha}`);
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return refuse(400, 'Problems parsing JSON');
        }
        const state = String(body.state ?? '');
        if (!(STATES[r.forge] as readonly string[]).includes(state)) return refuse(422, `state ${state} is not one of ${STATES[r.forge].join(', ')}`);
        const context = r.forge === 'gitlab' ? body.name : body.context;
        if (typeof context !== 'string' || context === '') return refuse(422, 'context is missing');
        const description = String(body.description ?? '');
        if (r.forge !== 'gitlab' && description.length > 140) return refuse(422, 'description is too long (maximum is 140 characters)');
        statuses.push({ forge: r.forge, repository: r.repository, sha: r.sha, state, context, description });
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: statuses.length, state, context }));
        for (const w of [...waiters]) w();
      };
      if (held) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    api: { github: origin, gitlab: `${origin}/api/v4`, gitea: `${origin}/api/v1` },
    statuses,
    refused,
    failNext(n, status) {
      failures = n;
      failStatus = status;
    },
    hold() {
      held = [];
    },
    release() {
      const waiting = held ?? [];
      held = undefined;
      for (const a of waiting) a();
    },
    waitFor: (pred, what, timeoutMs = 20_000) => waitUntil(waiters, () => pred(statuses), () => `the fake forge did not get ${what}; it has ${JSON.stringify(statuses)}, refused ${JSON.stringify(refused)}`, timeoutMs),
    close: () => new Promise<void>((resolve) => {
      held = undefined;
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface WebhookReceiver {
  readonly url: string;
  readonly messages: { text: string; portico: Record<string, unknown> }[];
  waitFor(pred: (m: readonly { text: string; portico: Record<string, unknown> }[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Takes JSON POSTs as a Slack incoming webhook does: `text` required, 200 "ok". */
export async function startWebhookReceiver(path = '/services/T000/B000/secret-part'): Promise<WebhookReceiver> {
  const messages: { text: string; portico: Record<string, unknown> }[] = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== path || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(404).end('no_service');
        return;
      }
      try {
        const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text?: unknown; portico?: Record<string, unknown> };
        if (typeof m.text !== 'string' || m.text === '') throw new Error('no text');
        messages.push({ text: m.text, portico: m.portico ?? {} });
      } catch {
        res.writeHead(400).end('invalid_payload');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    messages,
    waitFor: (pred, what, timeoutMs = 20_000) => waitUntil(waiters, () => pred(messages), () => `the webhook did not get ${what}; it has ${JSON.stringify(messages.map((m) => m.text))}`, timeoutMs),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function waitUntil(waiters: Set<() => void>, ok: () => boolean, failure: () => string, timeoutMs: number): Promise<void> {
  if (ok()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!ok()) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(failure()));
    }, timeoutMs);
    waiters.add(check);
  });
}
