import type { Repo, StatusEntry } from "../git.js";

/** The single-file rule: nothing but the editable file may differ from the session base. */

export const isDependencyManifest = (p: string) => /(^|\/)(pyproject\.toml|uv\.lock|requirements[^/]*\.txt|setup\.py|setup\.cfg|Pipfile(\.lock)?|environment\.ya?ml|poetry\.lock)$/.test(p);

export interface TreeViolation {
  path: string;
  what: string;
}

/**
 * Tracked or untracked changes outside the editable file: relative to the session base (committed
 * behind the server's back) and in the work tree (edited behind its back). Ignored files do not count.
 */
export async function treeViolations(repo: Repo, base: string, head: string, editable: string, status?: StatusEntry[]): Promise<TreeViolation[]> {
  const out: TreeViolation[] = [];
  for (const p of await repo.changedBetween(base, head)) if (p !== editable) out.push({ path: p, what: "committed since the session started" });
  for (const e of status ?? (await repo.status())) {
    if (e.path === editable) continue;
    out.push({ path: e.path, what: e.untracked ? "untracked file" : "changed in the work tree" });
  }
  return dedupe(out);
}

function dedupe(v: TreeViolation[]): TreeViolation[] {
  const seen = new Set<string>();
  return v.filter((x) => (seen.has(x.path + x.what) ? false : (seen.add(x.path + x.what), true)));
}
