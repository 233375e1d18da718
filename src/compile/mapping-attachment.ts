// Host → Mapping attachment, Emissary's rules (irhost.py matches_httpgroup): a Mapping attaches to a
// Host when its hostname glob meets the Host's, or when the Host's mappingSelector selects its
// labels; when both exist, both must hold. And, when a Mapping attaches nowhere, why not — in terms a
// team can act on: which Hosts' selectors left it out, and which labels they require.

import type { MappingPlan } from './mappings.js';
import { selectorMatches, type HostPlan, type Selector } from './listeners-hosts.js';
import { globsIntersect } from './hostname-globs.js';
import { cmpStr } from './context.js';

type Labels = Readonly<Record<string, string>>;

export function attaches(m: MappingPlan, labels: Labels, h: HostPlan): boolean {
  const hostOk = m.hostname !== undefined && globsIntersect(m.hostname, h.hostname);
  if (h.mappingSelector) return selectorMatches(h.mappingSelector, labels) && (m.hostname === undefined || hostOk);
  return hostOk;
}

/**
 * The labels a Host's mappingSelector reads for Mappings of a canary group. Emissary matches the
 * group as one, with the labels of all its Mappings merged (irhttpmappinggroup.py finalize; a shadow
 * adds none), so every member of a group attaches where the group does: a canary's weight never
 * turns into all of a Host's traffic because its partner lacks a label. Merged within one source
 * only, so that one team's labels never take another team's Mapping to a Host; and not when members
 * give one label different values (Emissary keeps whichever comes last, for the whole group): each
 * Mapping's own labels decide then. Only the plans whose group gives them other labels than their
 * own are in the map.
 */
export function groupLabels(plans: readonly MappingPlan[]): Map<MappingPlan, Labels> {
  const groups = new Map<string, MappingPlan[]>();
  for (const m of plans) {
    // Emissary's group id: the match, the host (an :authority match) and the precedence.
    const key = `${m.resource.origin.source ?? ''}\u0000${m.hostGroupKey}\u0000${m.authority ? JSON.stringify(m.authority) : ''}`;
    const g = groups.get(key);
    if (g) g.push(m);
    else groups.set(key, [m]);
  }
  const out = new Map<MappingPlan, Labels>();
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const merged = Object.create(null) as Record<string, string>;
    let contributors = 0;
    let conflict = false;
    for (const m of g) {
      if (m.shadow) continue;
      contributors++;
      const own = m.resource.labels;
      for (const k in own) {
        if (merged[k] !== undefined && merged[k] !== own[k]) conflict = true;
        merged[k] = own[k]!;
      }
    }
    if (contributors === 0 || conflict) continue;
    for (const m of g) if (!sameLabels(merged, m.resource.labels)) out.set(m, merged);
  }
  return out;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/** How many Hosts a reason names before it says "and N more". */
const NAMED_HOSTS = 5;

function hostName(h: HostPlan): string {
  return h.resource ? `Host ${h.resource.namespace}/${h.resource.name} (${h.hostname})` : `the default Host (${h.hostname})`;
}

function hostKey(h: HostPlan): string {
  return h.resource ? `${h.resource.namespace}/${h.resource.name}` : '';
}

function listHosts(hosts: readonly HostPlan[], each: (h: HostPlan) => string): string {
  const sorted = hosts.slice().sort((a, b) => cmpStr(hostKey(a), hostKey(b)));
  const named = sorted.slice(0, NAMED_HOSTS).map(each);
  if (sorted.length > NAMED_HOSTS) named.push(`and ${sorted.length - NAMED_HOSTS} more`);
  return named.join('; ');
}

function labelsText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? 'none' : keys.map((k) => `${k}=${labels[k]}`).join(', ');
}

/** Kubernetes' selector spelling of each requirement: `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. */
function requirements(sel: Selector): { text: string; expression: boolean; met: (labels: Labels) => boolean }[] {
  const out: { text: string; expression: boolean; met: (labels: Labels) => boolean }[] = [];
  for (const k of Object.keys(sel.matchLabels).sort()) {
    const v = sel.matchLabels[k];
    out.push({ text: `${k}=${v}`, expression: false, met: (l) => l[k] === v });
  }
  for (const e of sel.matchExpressions) {
    const single: Selector = { matchLabels: {}, matchExpressions: [e] };
    const text =
      e.operator === 'In' ? `${e.key} in (${e.values.join(',')})`
      : e.operator === 'NotIn' ? `${e.key} notin (${e.values.join(',')})`
      : e.operator === 'Exists' ? e.key
      : e.operator === 'DoesNotExist' ? `!${e.key}`
      : `${e.key} ${e.operator}`;
    out.push({ text, expression: true, met: (l) => selectorMatches(single, l) });
  }
  return out;
}

/**
 * "requires team=x, tier in (a,b)", with the requirements the labels miss when that is not all of
 * them, and a word when a missed one is an expression Emissary would have ignored.
 */
function selectorText(sel: Selector, labels: Labels): string {
  const reqs = requirements(sel);
  const unmet = reqs.filter((r) => !r.met(labels));
  const notes: string[] = [];
  if (unmet.length > 0 && unmet.length < reqs.length) notes.push(`unmet: ${unmet.map((r) => r.text).join(', ')}`);
  if (unmet.some((r) => r.expression)) notes.push('Emissary ignores matchExpressions, Portico does not');
  return `requires ${reqs.map((r) => r.text).join(', ')}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

export interface AttachmentScene {
  /** Hosts some Listener binds. */
  readonly bound: readonly HostPlan[];
  /** Valid Hosts no Listener binds (each has its HostNotAttached warning). */
  readonly unbound: readonly HostPlan[];
}

/**
 * Why a Mapping attaches to no Host, and the field to point at. `labels` are those the selectors
 * read (its canary group's, see groupLabels); `ownLabels` says whether they are the Mapping's own.
 */
export function notAttachedReason(m: MappingPlan, labels: Labels, ownLabels: boolean, scene: AttachmentScene): { message: string; field: string } {
  const hostnameOk = (h: HostPlan): boolean => m.hostname === undefined || globsIntersect(m.hostname, h.hostname);
  // Hosts that would take the Mapping but for their mappingSelector.
  const excluding = scene.bound.filter((h) => h.mappingSelector !== undefined && hostnameOk(h));
  const parts: string[] = [];
  let field: string;
  if (excluding.length > 0) {
    const whose = `(${ownLabels ? 'its labels' : "its canary group's labels"}: ${labelsText(labels)})`;
    const hosts = listHosts(excluding, (h) => `${hostName(h)} ${selectorText(h.mappingSelector!, labels)}`);
    parts.push(
      m.hostname === undefined
        ? `it has no hostname, so only a Host's mappingSelector can attach it, and ${excluding.length === 1 ? 'the only one' : 'every one'} leaves it out ${whose}: ${hosts}. Add the labels a Host requires, or set hostname`
        : `${excluding.length === 1 ? 'the Host' : 'every Host'} matching hostname '${m.hostname}' selects Mappings by label and leaves this one out ${whose}: ${hosts}. Add the labels a Host requires, or change hostname`,
    );
    field = 'metadata.labels';
  } else if (m.hostname === undefined) {
    const empty = scene.bound.filter((h) => h.emptyMappingSelector === true);
    parts.push(
      empty.length > 0
        ? `it has no hostname, and ${listHosts(empty, hostName)} ${empty.length === 1 ? 'has a mappingSelector' : 'have mappingSelectors'} without requirements, which select no Mapping, as in Emissary. Add hostname: "*", or give a Host's mappingSelector matchLabels this Mapping has`
        : 'it has no hostname (add hostname: "*" or a Host mappingSelector that selects it)',
    );
    field = 'spec';
  } else {
    parts.push(`no Host on any Listener matches hostname '${m.hostname}'`);
    field = 'spec.hostname';
  }
  const waiting = scene.unbound.filter((h) => attaches(m, labels, h));
  if (waiting.length > 0) parts.push(`${listHosts(waiting, hostName)} would attach it, but no Listener binds ${waiting.length === 1 ? 'that Host' : 'those Hosts'} (see HostNotAttached)`);
  return { message: `Mapping is not served: ${parts.join('. ')}`, field };
}

