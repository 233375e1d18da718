// Endpoint choice inside one cluster: round_robin, least_request (two random choices) and
// ring_hash / maglev (consistent hashing on a header, a cookie or the client address).

import type { IRLoadBalancer } from '../ir/types.js';

export interface BalancedEndpoint {
  /** "address:port", stable across DNS refreshes for the same address. */
  readonly key: string;
  /** Requests in flight on this endpoint. */
  active: number;
  /** Passive ejection: not picked before this time (ms since epoch). */
  ejectedUntil: number;
  /** Held out by active health checks (upstream-pool's endpoints; absent elsewhere). */
  unhealthy?: boolean;
}

export interface Balancer<E extends BalancedEndpoint> {
  pick(endpoints: readonly E[], hashKey: string | undefined, now: number): E | undefined;
}

function usable(e: BalancedEndpoint, now: number): boolean {
  return e.ejectedUntil <= now && e.unhealthy !== true;
}

/** FNV-1a, 32 bit: cheap, good enough spread for a hash ring. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche so that similar keys ("a#1", "a#2") land far apart
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

class RoundRobin<E extends BalancedEndpoint> implements Balancer<E> {
  private next = 0;
  pick(eps: readonly E[], _k: string | undefined, now: number): E | undefined {
    const n = eps.length;
    if (n === 0) return undefined;
    for (let i = 0; i < n; i++) {
      const e = eps[(this.next + i) % n] as E;
      if (usable(e, now)) {
        this.next = (this.next + i + 1) % n;
        return e;
      }
    }
    // every endpoint ejected: keep serving from all of them rather than failing everything (panic mode)
    this.next = (this.next + 1) % n;
    return eps[this.next % n];
  }
}

class LeastRequest<E extends BalancedEndpoint> implements Balancer<E> {
  constructor(private readonly random: () => number) {}
  pick(eps: readonly E[], _k: string | undefined, now: number): E | undefined {
    const n = eps.length;
    if (n <= 1) return eps[0];
    const a = eps[Math.floor(this.random() * n)] as E;
    let b = eps[Math.floor(this.random() * n)] as E;
    if (b === a) b = eps[(eps.indexOf(a) + 1) % n] as E;
    const ua = usable(a, now);
    const ub = usable(b, now);
    if (ua !== ub) return ua ? a : b;
    return b.active < a.active ? b : a;
  }
}

const VNODES = 64;

class RingHash<E extends BalancedEndpoint> implements Balancer<E> {
  private ring: { hashes: Uint32Array; owners: number[] } | undefined;
  private ringFor: readonly E[] | undefined;
  constructor(private readonly random: () => number) {}

  private build(eps: readonly E[]): { hashes: Uint32Array; owners: number[] } {
    const points: [number, number][] = [];
    eps.forEach((e, idx) => {
      for (let v = 0; v < VNODES; v++) points.push([fnv1a(`${e.key}#${v}`), idx]);
    });
    points.sort((x, y) => x[0] - y[0]);
    return { hashes: Uint32Array.from(points.map((p) => p[0])), owners: points.map((p) => p[1]) };
  }

  pick(eps: readonly E[], hashKey: string | undefined, now: number): E | undefined {
    const n = eps.length;
    if (n === 0) return undefined;
    if (hashKey === undefined) return eps[Math.floor(this.random() * n)];
    if (this.ringFor !== eps) {
      this.ring = this.build(eps);
      this.ringFor = eps;
    }
    const ring = this.ring as { hashes: Uint32Array; owners: number[] };
    const h = fnv1a(hashKey);
    let lo = 0;
    let hi = ring.hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ring.hashes[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    // walk clockwise past ejected endpoints so that only their share of keys moves
    for (let i = 0; i < ring.owners.length; i++) {
      const e = eps[ring.owners[(lo + i) % ring.owners.length] as number] as E;
      if (usable(e, now)) return e;
    }
    return eps[ring.owners[lo % ring.owners.length] as number];
  }
}

export function makeBalancer<E extends BalancedEndpoint>(lb: IRLoadBalancer, random: () => number): Balancer<E> {
  switch (lb.policy) {
    case 'least_request':
      return new LeastRequest<E>(random);
    case 'ring_hash':
    case 'maglev':
      return new RingHash<E>(random);
    default:
      return new RoundRobin<E>();
  }
}

/** The value a hashing balancer hashes for this request, or undefined (→ any endpoint). */
export function hashKeyFor(lb: IRLoadBalancer, header: (name: string) => string | undefined, clientAddress: string): string | undefined {
  const h = lb.hash;
  if (h === undefined || (lb.policy !== 'ring_hash' && lb.policy !== 'maglev')) return undefined;
  if ('header' in h) return header(h.header.toLowerCase());
  if ('sourceIp' in h) return clientAddress;
  const cookies = header('cookie');
  if (cookies === undefined) return undefined;
  const want = h.cookie.name;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === want) return part.slice(eq + 1).trim();
  }
  return undefined;
}
