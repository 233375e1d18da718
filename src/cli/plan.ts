// `portico plan --base PATH_OR_REF... --head PATH_OR_REF... [--source NAME=PATH_OR_URL@REF]...`: compile
// two states offline and print the effective change. Exit 0 no change, 3 changes, 1 new errors in head, 2 usage.

import { formatPlanJSON, formatPlanMarkdown, formatPlanText } from '../review/plan-format.js';
import { plan, PLAN_EXIT } from '../review/plan-engine.js';
import { planStates, parseSourceOption, PlanStateError, withScratch, type SideSpec } from '../review/plan-states.js';
import { resolve } from 'node:path';
import { validateSourceName } from '../sources/source-spec.js';
import { readSecretsDirectory, secretsInputs } from '../controller/secrets-directory.js';
import { HelpRequested, oneOf, unknownOption, UsageError, withUsage } from './args.js';
import { CommandError, EXIT_USAGE } from './command-errors.js';
import { ambassadorNamespaceArg, mustExist } from './offline-args.js';

export const USAGE = `usage: portico plan [SHARED...] --base PATH_OR_REF... --head PATH_OR_REF... [options]

  PATH_OR_REF        a folder or file on disk, or a revision of --repo (REF or REF:SUBDIR, e.g. main:config):
                     together, the central state
  --source NAME=PATH_OR_URL@REF[:SUBDIR]
                     a team source at a pinned revision; before --base/--head it belongs to both sides,
                     after --base or --head to that side (head replaces base's source of the same name)
  --pin NAME=REF     a team source the central state declares, read at REF (e.g. refs/pull/12/merge)
                     instead of its branch; sides as for --source
  --local NAME=DIR   a declared team source read from a folder (both sides)
  --repo DIR         repository for REF items (default: the current directory)
  --secrets DIR      the secrets directory serve is given (both sides; nothing read from it is printed)
  --format text|markdown|json   (default text)
  --ambassador-id ID
  --ambassador-namespace NS   the namespace serve runs in (default $AMBASSADOR_NAMESPACE, else "default")

  Team sources the central state declares and that are not given are fetched at their branch, as serve
  would. The base is taken as served; the head is decided as serve would on receiving it (claims,
  conflicts, signatures, force-pushes). Exit 0 no change, 3 changes, 1 serve would refuse a head
  revision, 2 usage error or a state that cannot be read.`;

interface Parsed {
  readonly base: SideSpec;
  readonly head: SideSpec;
  readonly localTeams: Record<string, string>;
  readonly repo: string;
  readonly secrets?: string;
  readonly format: 'text' | 'markdown' | 'json';
  readonly ambassadorId: string;
  readonly ambassadorNamespace?: string;
}

export function parsePlanArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Parsed {
  const shared = { items: [] as string[], sources: new Map<string, string>(), pins: new Map<string, string>() };
  const base = { items: [] as string[], sources: new Map<string, string>(), pins: new Map<string, string>() };
  const head = { items: [] as string[], sources: new Map<string, string>(), pins: new Map<string, string>() };
  const localTeams: Record<string, string> = {};
  let current = shared;
  let sawBase = false;
  let sawHead = false;
  let repo = '.';
  let secrets: string | undefined;
  let format: string | undefined;
  let ambassadorId = 'default';
  let namespaceArg: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--base':
      case '--head':
        current = flag === '--base' ? base : head;
        if (flag === '--base') sawBase = true;
        else sawHead = true;
        if (inline !== undefined) current.items.push(inline);
        break;
      case '--source': {
        let s;
        try {
          s = parseSourceOption(value());
        } catch (err) {
          if (err instanceof PlanStateError) throw new UsageError(err.message);
          throw err;
        }
        if (current.sources.has(s.name)) throw new UsageError(`--source ${s.name} is given twice for the same side`);
        current.sources.set(s.name, s.value);
        break;
      }
      case '--pin': {
        const v = value();
        const eq = v.indexOf('=');
        const name = v.slice(0, Math.max(0, eq));
        if (eq <= 0 || validateSourceName(name) !== undefined || eq === v.length - 1) throw new UsageError(`--pin '${v}': expected NAME=REF`);
        current.pins.set(name, v.slice(eq + 1));
        break;
      }
      case '--local': {
        const v = value();
        const eq = v.indexOf('=');
        const name = v.slice(0, Math.max(0, eq));
        if (eq <= 0 || validateSourceName(name) !== undefined || eq === v.length - 1) throw new UsageError(`--local '${v}': expected NAME=DIR`);
        localTeams[name] = resolve(v.slice(eq + 1));
        break;
      }
      case '--repo':
        repo = value();
        break;
      case '--secrets':
        secrets = value();
        break;
      case '--format':
        format = value();
        break;
      case '--ambassador-id':
        ambassadorId = value();
        break;
      case '--ambassador-namespace':
        namespaceArg = value();
        break;
      case '--help':
      case '-h':
        throw new HelpRequested(USAGE);
      default:
        if (raw.startsWith('-') && raw !== '-') {
          throw new UsageError(unknownOption(flag, ['base', 'head', 'source', 'pin', 'local', 'repo', 'secrets', 'format', 'ambassador-id', 'ambassador-namespace']));
        }
        current.items.push(raw);
    }
  }
  if (!sawBase && !sawHead) throw new UsageError(`give --base and/or --head`);
  const baseItems = [...shared.items, ...base.items];
  const headItems = [...shared.items, ...(head.items.length > 0 ? head.items : base.items)];
  const baseSources = new Map([...shared.sources, ...base.sources]);
  const headSources = new Map([...baseSources, ...head.sources]);
  const basePins = new Map([...shared.pins, ...base.pins]);
  const headPins = new Map([...basePins, ...head.pins]);
  if (headItems.length === 0 && headSources.size === 0) throw new UsageError(`the head side is empty: give --head PATH_OR_REF or --source`);
  const ambassadorNamespace = ambassadorNamespaceArg(namespaceArg, env);
  return {
    base: { items: baseItems, sources: baseSources, pins: basePins },
    head: { items: headItems, sources: headSources, pins: headPins },
    localTeams,
    repo,
    ...(secrets !== undefined ? { secrets } : {}),
    format: oneOf(format, ['text', 'markdown', 'json'] as const, 'text', '--format'),
    ambassadorId,
    ...(ambassadorNamespace !== undefined ? { ambassadorNamespace } : {}),
  };
}

export async function run(argv: string[]): Promise<number> {
  return withUsage('plan', USAGE, async () => {
    const args = parsePlanArgs(argv);
    // A --local folder that cannot be read is a side that cannot be read.
    for (const [team, dir] of Object.entries(args.localTeams)) await mustExist(dir, `--local ${team}=${dir}`, 'PORTICO_ERR_PLAN_STATE', EXIT_USAGE);
    let compileInputs: ReturnType<typeof secretsInputs> | undefined;
    if (args.secrets !== undefined) {
      compileInputs = secretsInputs(await readSecretsDirectory(resolve(args.secrets)));
    }
    let result;
    try {
      result = await withScratch(async (cacheDir) => {
        const opts = { repo: args.repo, ambassadorId: args.ambassadorId, ...(args.ambassadorNamespace !== undefined ? { ambassadorNamespace: args.ambassadorNamespace } : {}), cacheDir, ...(Object.keys(args.localTeams).length > 0 ? { localTeams: args.localTeams } : {}), ...(compileInputs ? { compileInputs } : {}) };
        const states = await planStates(args.base, args.head, opts);
        const refusals = states.refusals.map((d) => ({ source: d.source, revision: d.revision, reason: d.reason ?? 'Refused', message: d.message ?? '', ...(d.remedy ? { remedy: d.remedy } : {}) }));
        return plan(states.base, states.head, states.notes, refusals);
      });
    } catch (err) {
      // A state that cannot be read is plan's usage-level failure (exit 2), with its code.
      if (err instanceof PlanStateError) throw new CommandError(err.code, err.message, EXIT_USAGE);
      throw err;
    }
    const text = args.format === 'json' ? formatPlanJSON(result) : args.format === 'markdown' ? formatPlanMarkdown(result) : formatPlanText(result);
    process.stdout.write(text);
    return PLAN_EXIT[result.verdict];
  });
}
