// `portico crds`: prints the CustomResourceDefinitions of the kinds Portico reads from a cluster
// (Emissary's getambassador.io/v3alpha1 kinds and Portico's own), generated from the loader's schemas.

import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { KINDS, type Kind } from '../api/resource.js';
import { closestName } from '../load/closest-name.js';
import { CLUSTER_KINDS, customResourceDefinition } from '../kubernetes/crds.js';
import { oneOf, parse, UsageError, withUsage } from './args.js';

export const USAGE = `usage: portico crds [--kind KIND]... [--format yaml|json] [--output FILE]

Prints the CustomResourceDefinitions (apiextensions.k8s.io/v1) of Emissary's getambassador.io/v3alpha1
kinds that Portico implements (Mapping, Host, Listener, TLSContext, TCPMapping, Module, AuthService,
Filter, FilterPolicy, RateLimitService, RateLimit, TracingService) and of Portico's
own portico.dev/v1alpha1 kinds (Resolver, Source), each with a status subresource. Install them with
  portico crds | kubectl apply --server-side -f -
(see docs/kubernetes.md, "Install"; they replace Emissary's CRDs of the same names).

  --kind KIND        only this kind (repeatable)
  --format yaml|json yaml (default: documents separated by ---) or json (a v1 List)
  --output FILE      write to FILE instead of standard output`;

export async function run(argv: string[]): Promise<number> {
  return withUsage('crds', USAGE, async () => {
    const { values, positionals } = parse(argv, { kind: { type: 'string', multiple: true }, format: { type: 'string' }, output: { type: 'string' } }, USAGE);
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const format = oneOf(values.format, ['yaml', 'json'] as const, 'yaml', '--format');
    const names = CLUSTER_KINDS.map((k) => k.kind as string);
    for (const k of values.kind ?? []) {
      if (!names.includes(k)) {
        const guess = closestName(k, names);
        const why = (KINDS as readonly string[]).includes(k) ? ' (a core Kubernetes kind: it needs no CRD)' : '';
        throw new UsageError(`--kind '${k}' is not a kind with a CRD${why}${guess && !why ? ` (did you mean '${guess}'?)` : ''}; kinds: ${names.join(', ')}`);
      }
    }
    const wanted = new Set<Kind>((values.kind ?? names) as Kind[]);
    const crds = CLUSTER_KINDS.filter((k) => wanted.has(k.kind)).map(customResourceDefinition);
    const text = format === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }, null, 2) + '\n' : crds.map((c) => `---\n${stringify(c, { aliasDuplicateObjects: false, lineWidth: 0 })}`).join('');
    if (values.output !== undefined) {
      if (values.output === '') throw new UsageError('--output needs a file');
      writeFileSync(values.output, text);
    } else process.stdout.write(text);
    return 0;
  });
}
