// Summarises a V8 heap snapshot (.heapsnapshot) for the memory note: bytes by node type, the largest
// constructors, the loaded scripts by package, and the objects retaining the most (dominator tree).
//
//   node bench/heap-summary.js FILE.heapsnapshot [--top 25]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const topIdx = process.argv.indexOf('--top');
const TOP = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 25;
if (!file) {
  console.error('usage: node bench/heap-summary.js FILE.heapsnapshot [--top N]');
  process.exit(2);
}

const snap = JSON.parse(readFileSync(file, 'utf8'));
const meta = snap.snapshot.meta;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const nodeTypes = meta.node_fields.indexOf('type');
const typeNames = meta.node_types[nodeTypes];
const edgeTypeNames = meta.edge_types[meta.edge_fields.indexOf('type')];
const fType = nodeTypes;
const fName = meta.node_fields.indexOf('name');
const fSelf = meta.node_fields.indexOf('self_size');
const fEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const { nodes, edges, strings } = snap;
const n = nodes.length / NF;

const firstEdge = new Uint32Array(n + 1);
for (let i = 0, e = 0; i < n; i++) {
  firstEdge[i] = e;
  e += nodes[i * NF + fEdges] * EF;
}
firstEdge[n] = edges.length;

const typeOf = (i) => typeNames[nodes[i * NF + fType]];
const nameOf = (i) => strings[nodes[i * NF + fName]];
const selfOf = (i) => nodes[i * NF + fSelf];
const MiB = (b) => (b / 1048576).toFixed(2);

let total = 0;
const byType = new Map();
const byCtor = new Map();
for (let i = 0; i < n; i++) {
  const s = selfOf(i);
  total += s;
  const t = typeOf(i);
  byType.set(t, (byType.get(t) ?? 0) + s);
  const key = t === 'object' || t === 'closure' || t === 'native' ? `${t} ${nameOf(i)}` : `(${t})`;
  const c = byCtor.get(key) ?? { size: 0, count: 0 };
  c.size += s;
  c.count++;
  byCtor.set(key, c);
}
console.log(`${file}: ${n} nodes, ${MiB(total)} MiB of self sizes`);
console.log('\nby node type (MiB):');
for (const [t, s] of [...byType].sort((a, b) => b[1] - a[1])) console.log(`  ${t.padEnd(18)} ${MiB(s)}`);
console.log(`\nlargest ${TOP} groups by self size:`);
for (const [k, c] of [...byCtor].sort((a, b) => b[1].size - a[1].size).slice(0, TOP)) console.log(`  ${MiB(c.size).padStart(7)} MiB  ${String(c.count).padStart(7)}×  ${k.slice(0, 90)}`);

// Scripts: V8 "Script" objects name their source URL; their source strings show what each package costs.
const pkgOf = (url) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const d = /dist\/(src\/[^/]+)/.exec(url);
  if (d) return `portico ${d[1]}`;
  if (url.startsWith('node:')) return 'node: (built-in)';
  return url.length ? url.slice(0, 60) : '(no name)';
};
const scripts = new Map();
for (let i = 0; i < n; i++) {
  // A module's Script is a code node named by its URL, with its source string behind a 'source' edge.
  if (typeOf(i) !== 'code' || !/^(file:|node:|\/)/.test(nameOf(i))) continue;
  let src = -1;
  for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
    if (edgeTypeNames[edges[e + eType]] === 'internal' && strings[edges[e + eName]] === 'source') src = selfOf(edges[e + eTo] / NF);
  }
  if (src < 0) continue;
  const p = pkgOf(nameOf(i));
  const s = scripts.get(p) ?? { count: 0, src: 0 };
  s.count++;
  s.src += src;
  scripts.set(p, s);
}
console.log('\nscripts by package (count, MiB of source strings):');
for (const [p, s] of [...scripts].sort((a, b) => b[1].src - a[1].src).slice(0, TOP * 2)) console.log(`  ${String(s.count).padStart(5)}  ${MiB(s.src).padStart(6)}  ${p}`);

// Dominator tree (Cooper, Harvey & Kennedy, iterative) over the graph without weak edges, from node 0.
const order = new Int32Array(n).fill(-1);
const post = new Uint32Array(n);
let count = 0;
{
  const stack = [0];
  const edgeAt = new Uint32Array(n);
  const seen = new Uint8Array(n);
  seen[0] = 1;
  edgeAt[0] = firstEdge[0];
  while (stack.length) {
    const v = stack[stack.length - 1];
    let pushed = false;
    while (edgeAt[v] < firstEdge[v + 1]) {
      const e = edgeAt[v];
      edgeAt[v] += EF;
      if (edgeTypeNames[edges[e + eType]] === 'weak') continue;
      const to = edges[e + eTo] / NF;
      if (!seen[to]) {
        seen[to] = 1;
        edgeAt[to] = firstEdge[to];
        stack.push(to);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      stack.pop();
      order[v] = count;
      post[count++] = v;
    }
  }
}
// Predecessors of reachable nodes.
const predCount = new Uint32Array(n + 1);
for (let v = 0; v < n; v++) {
  if (order[v] < 0) continue;
  for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) {
    if (edgeTypeNames[edges[e + eType]] === 'weak') continue;
    const to = edges[e + eTo] / NF;
    if (order[to] >= 0) predCount[to + 1]++;
  }
}
for (let i = 0; i < n; i++) predCount[i + 1] += predCount[i];
const preds = new Uint32Array(predCount[n]);
const fill = predCount.slice(0, n);
for (let v = 0; v < n; v++) {
  if (order[v] < 0) continue;
  for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) {
    if (edgeTypeNames[edges[e + eType]] === 'weak') continue;
    const to = edges[e + eTo] / NF;
    if (order[to] >= 0) preds[fill[to]++] = v;
  }
}
const idom = new Int32Array(n).fill(-1);
idom[0] = 0;
const intersect = (a, b) => {
  while (a !== b) {
    while (order[a] < order[b]) a = idom[a];
    while (order[b] < order[a]) b = idom[b];
  }
  return a;
};
for (let changed = true; changed;) {
  changed = false;
  for (let k = count - 1; k >= 0; k--) {
    const v = post[k];
    if (v === 0) continue;
    let d = -1;
    for (let p = predCount[v]; p < predCount[v + 1]; p++) {
      const u = preds[p];
      if (idom[u] < 0) continue;
      d = d < 0 ? u : intersect(u, d);
    }
    if (d >= 0 && idom[v] !== d) {
      idom[v] = d;
      changed = true;
    }
  }
}
const retained = new Float64Array(n);
for (let k = 0; k < count; k++) {
  const v = post[k];
  retained[v] += selfOf(v);
  if (v !== 0 && idom[v] >= 0) retained[idom[v]] += retained[v];
}
// The largest retainers below the synthetic roots: objects whose dominator is a root or a (system) node.
const cands = [];
for (let k = 0; k < count; k++) {
  const v = post[k];
  const t = typeOf(v);
  if (t === 'synthetic' || v === 0) continue;
  const d = idom[v];
  if (typeOf(d) === 'synthetic' || d === 0) cands.push(v);
}
console.log(`\nlargest ${TOP} retainers directly under the GC roots (retained MiB):`);
for (const v of cands.sort((a, b) => retained[b] - retained[a]).slice(0, TOP)) {
  console.log(`  ${MiB(retained[v]).padStart(7)}  ${typeOf(v)} ${nameOf(v).slice(0, 100).replace(/\s+/g, ' ')}`);
}
// And one level below the largest: what inside it holds the bytes.
const children = new Map();
for (let k = 0; k < count; k++) {
  const v = post[k];
  if (v === 0) continue;
  const d = idom[v];
  if (!children.has(d)) children.set(d, []);
  children.get(d).push(v);
}
const big = cands.sort((a, b) => retained[b] - retained[a]).slice(0, 3);
for (const b of big) {
  console.log(`\ninside ${typeOf(b)} ${nameOf(b).slice(0, 60)} (${MiB(retained[b])} MiB), two levels:`);
  const kids = (children.get(b) ?? []).sort((x, y) => retained[y] - retained[x]).slice(0, 8);
  for (const c of kids) {
    console.log(`  ${MiB(retained[c]).padStart(7)}  ${typeOf(c)} ${nameOf(c).slice(0, 90).replace(/\s+/g, ' ')}`);
    for (const g of (children.get(c) ?? []).sort((x, y) => retained[y] - retained[x]).slice(0, 4)) {
      console.log(`      ${MiB(retained[g]).padStart(7)}  ${typeOf(g)} ${nameOf(g).slice(0, 80).replace(/\s+/g, ' ')}`);
    }
  }
}
