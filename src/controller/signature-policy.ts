// Git facts a candidate revision is judged on: does it descend from the served commit (or from the
// anchor the central repository vouches for), and are the commits its policy covers signed.

import { verifyCommits, MAX_VERIFIED_COMMITS, type VerifyPolicy } from '../sources/commit-signatures.js';
import type { GitSource } from '../sources/git-source.js';
import type { FactRequest, RevisionFacts } from './reconcile.js';

/**
 * Gathers the facts for one request. Which commits are checked:
 * - head mode: the candidate only (a signed merge vouches for its parents), or none when it is the anchor;
 * - strict mode: every commit reachable from the candidate but from neither the served commit (when it
 *   is an ancestor) nor the anchor (when it is one), so one unsigned commit is not checked forever once
 *   the central repository moves the anchor past it.
 * A force-push accepted with `accept-with-strict` is checked in strict mode.
 */
export async function gatherFacts(git: GitSource, req: FactRequest, verifyDir: string): Promise<RevisionFacts> {
  const { decl, revision, served } = req;
  try {
    let rewritten = false;
    let servedIsAncestor = false;
    if (served !== undefined && served !== revision) {
      const anc = await git.isAncestor(served, revision);
      // A cache that lost the served commit (a restart with a fresh cache) cannot tell: not a rewrite.
      rewritten = anc === false;
      servedIsAncestor = anc === true;
    }
    let anchorIsAncestor = false;
    if (decl.anchor !== undefined && (await git.hasCommit(decl.anchor))) {
      anchorIsAncestor = (await git.isAncestor(decl.anchor, revision)) === true;
    }
    let anchored = false;
    if (rewritten && anchorIsAncestor && served !== undefined) {
      // An anchor the served commit already stands on was used up by an earlier rewrite.
      anchored = (await git.isAncestor(decl.anchor!, served)) !== true;
    }
    let verify: VerifyPolicy | undefined = decl.verify;
    if (verify && rewritten && !anchored && decl.onForcePush === 'accept-with-strict') verify = { ...verify, mode: 'strict' };
    if (!verify) return { rewritten, anchored };
    let commits: string[];
    if (verify.mode === 'head') {
      commits = decl.anchor === revision ? [] : [revision];
    } else {
      const excluded: string[] = [];
      if (servedIsAncestor && served !== undefined) excluded.push(served);
      if (anchorIsAncestor && decl.anchor !== undefined) excluded.push(decl.anchor);
      commits = await git.commitsSince(excluded, revision, MAX_VERIFIED_COMMITS);
    }
    const signature = await verifyCommits(git, commits, verify, verifyDir);
    return { rewritten, anchored, signature };
  } catch (err) {
    return { rewritten: false, anchored: false, error: (err as Error).message };
  }
}
