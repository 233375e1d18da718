// Commit statuses on the forge that hosts a source: the request GitHub, GitLab or Gitea takes to mark
// a commit success or failure under one context, and the repository a source's git URL names there.

export type ForgeKind = 'github' | 'gitlab' | 'gitea';
export const FORGE_KINDS: readonly ForgeKind[] = ['github', 'gitlab', 'gitea'];

export type CommitState = 'success' | 'failure' | 'error';

/** One HTTP request, ready to send (the token is added by the sender, never kept here). */
export interface ForgeRequest {
  readonly url: string;
  readonly body: string;
  /** Headers besides the credential. */
  readonly headers: Readonly<Record<string, string>>;
  /** How the token is sent: the header's name and the value's prefix. */
  readonly auth: { readonly header: string; readonly prefix: string };
}

/** GitHub and Gitea cut descriptions at 140 characters; GitLab at 255. One limit for all. */
export const DESCRIPTION_LIMIT = 140;

/**
 * The repository path a git URL names on its forge: `owner/name` (GitHub, Gitea), or the whole
 * project path with its groups (GitLab). https://, ssh://, scp-like (git@host:owner/name) and
 * local paths; a trailing ".git" and slashes are left out. Undefined when the URL has no path.
 */
export function repositoryPath(url: string, kind: ForgeKind): string | undefined {
  let path: string;
  const scp = /^[^/@:]+@[^/:]+:(.+)$/.exec(url);
  if (scp) path = scp[1]!;
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    try {
      path = decodeURIComponent(new URL(url).pathname);
    } catch {
      return undefined;
    }
  } else path = url;
  const parts = path.replace(/\.git\/?$/, '').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length < 2) return undefined;
  return kind === 'gitlab' ? parts.join('/') : parts.slice(-2).join('/');
}

export function statusRequest(kind: ForgeKind, api: string, repository: string, sha: string, s: { state: CommitState; context: string; description: string; targetUrl?: string }): ForgeRequest {
  const base = api.replace(/\/+$/, '');
  const description = s.description.length > DESCRIPTION_LIMIT ? `${s.description.slice(0, DESCRIPTION_LIMIT - 1)}…` : s.description;
  const json = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'portico' };
  switch (kind) {
    case 'github':
      return {
        url: `${base}/repos/${repoSegments(repository)}/statuses/${sha}`,
        body: JSON.stringify({ state: s.state, context: s.context, description, ...(s.targetUrl ? { target_url: s.targetUrl } : {}) }),
        headers: { ...json, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
        auth: { header: 'authorization', prefix: 'Bearer ' },
      };
    case 'gitea':
      return {
        url: `${base}/repos/${repoSegments(repository)}/statuses/${sha}`,
        body: JSON.stringify({ state: s.state, context: s.context, description, ...(s.targetUrl ? { target_url: s.targetUrl } : {}) }),
        headers: json,
        auth: { header: 'authorization', prefix: 'token ' },
      };
    case 'gitlab':
      // GitLab names the context `name` and has no "error" state: both refusals are "failed".
      return {
        url: `${base}/projects/${encodeURIComponent(repository)}/statuses/${sha}`,
        body: JSON.stringify({ state: s.state === 'success' ? 'success' : 'failed', name: s.context, description, ...(s.targetUrl ? { target_url: s.targetUrl } : {}) }),
        headers: json,
        auth: { header: 'private-token', prefix: '' },
      };
  }
}

function repoSegments(repository: string): string {
  return repository.split('/').map(encodeURIComponent).join('/');
}
