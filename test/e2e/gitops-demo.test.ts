// `portico demo` as a user runs it: it prints where to curl and which repository to edit; a commit
// goes live, a commit outside the team's claim is refused and narrated, and Ctrl-C cleans up.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import http from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../sources/git-fixture.js';
import { pollUntil } from '../support/wait-until.js';

const BIN = join(process.cwd(), 'bin', 'portico.js');

function curl(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    req.setTimeout(3000, () => req.destroy());
    req.on('error', () => resolve(''));
  });
}

/** The demo's output is checked again as soon as it prints; the gateway (another process) is polled. */
function until(what: string, fn: () => boolean | Promise<boolean>, printed: EventEmitter): Promise<boolean> {
  return pollUntil(what, async () => fn(), { timeoutMs: 60_000, wake: [printed, 'data'] });
}

describe('portico demo', () => {
  let proc: ChildProcess | undefined;
  after(() => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  });

  it('serves the example repositories, applies a commit, refuses a bad one, and stops cleanly on Ctrl-C', async () => {
    let out = '';
    proc = spawn(process.execPath, [BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc!.once('exit', (c) => resolve(c)));
    await until('the demo instructions', () => out.includes('Ctrl-C stops'), proc.stdout!);
    const gateway = /gateway +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const shopDir = /cd (\S+team-shop)/.exec(out)![1]!;
    const [, v1, v2] = /change +service: (\S+) +to +service: (\S+)/.exec(out)!;
    const tmp = join(shopDir, '..');

    assert.match(await curl(`${gateway}/shop/cart`), /^shop-v1: GET/);
    assert.match(await curl(`${gateway}/search/?q=boots`), /^search: GET/);
    assert.match(await curl(`${gateway}/`), /^welcome: GET/);
    // The page address the demo prints leads to the diagnostics page.
    const page = /page +(http:\/\/127\.0\.0\.1:\d+\/) /.exec(out)![1]!;
    const home = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(page, { agent: false }, (res) => { res.resume(); resolve(res); }).on('error', reject));
    assert.equal(home.statusCode, 302);
    assert.match(await curl(new URL(home.headers.location!, page).href), /<title>Portico diagnostics<\/title>/);

    // Step 2 of the instructions: switch the shop to v2 and commit.
    const file = join(shopDir, 'deploy', 'shop.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(`service: ${v1}`, `service: ${v2}`));
    git(shopDir, ['commit', '-qam', 'shop: switch to v2']);
    await until('shop-v2 to go live', async () => (await curl(`${gateway}/shop/cart`)).startsWith('shop-v2'), proc.stdout!);
    await until('the live line', () => out.includes('[live]     shop'), proc.stdout!);

    // Step 3: a commit outside the claim is refused; shop and search keep serving.
    writeFileSync(file, readFileSync(file, 'utf8').replace('prefix: /shop/', 'prefix: /search/'));
    git(shopDir, ['commit', '-qam', 'shop: take over /search/']);
    await until('the refusal', () => out.includes('[refused]  shop'), proc.stdout!);
    assert.match(out, /deploy\/shop\.yaml:\d+:\d+: prefix '\/search\/' is outside its claim/);
    assert.match(await curl(`${gateway}/shop/cart`), /^shop-v2/);
    assert.match(await curl(`${gateway}/search/x`), /^search: GET/);

    proc.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /demo stopped; temp folder removed/);
    assert.equal(existsSync(tmp), false);
  });
});
