import fs from "node:fs";
import path from "node:path";
import { openWorkspace } from "../workspace.js";
import { readResults } from "../results.js";
import { readJson, writeAtomically } from "../files.js";
import { renderMarkdown } from "./markdown.js";
import { renderSvg } from "./svg.js";
import { summarizeNoise } from "../rules/noise.js";
import { Ledger } from "../session/ledger.js";

/**
 * `autoresearch-mcp report`: report.md and progress.svg from results.tsv (and git for commit
 * subjects). Read-only towards the session: it never touches results.tsv, the branch or the
 * editable file, and both outputs are git-excluded so they cannot break the single-file rule.
 */

export const REPORT_FILES = ["report.md", "progress.svg"] as const;

export async function writeReport(workspace: string): Promise<{ markdown: string; svg: string; rows: number }> {
  const ws = await openWorkspace(workspace);
  const { config, repo } = ws;
  let results: ReturnType<typeof readResults>;
  try {
    results = readResults(ws.resultsPath, config.metric.name);
  } catch (e) {
    throw new Error(`cannot read ${config.results} in ${ws.root}: ${(e as Error).message}`);
  }
  if (results.rows.length === 0) throw new Error(`no ${config.results} with rows in ${ws.root}: run a session first`);

  // Writing over a tracked report.md would change a second tracked file and break the
  // single-file rule for the rest of the session; excluding it would not help then.
  const head = await repo.headOid();
  for (const f of REPORT_FILES)
    if (head && (await repo.readFileAt(head, f)))
      throw new Error(`${f} is tracked in git in ${ws.root}; the report would modify it. Move or untrack it (git rm --cached ${f}) first.`);

  const session = readSession(ws.sessionPath);
  const branch = session?.branch ?? (await repo.currentBranch());
  const tag = session?.tag ?? (branch?.startsWith(config.branchPrefix) ? branch.slice(config.branchPrefix.length) : null);

  // Subjects only for kept commits (the trajectory is where they are shown), and a bounded number:
  // each lookup scans the object store, and a commit may be unknown (a reset dropped it, another
  // clone, or karpathy's literal "baseline").
  const subjects = new Map<string, string>();
  const kept = [...new Set(results.rows.filter((r) => r.status === "keep").map((r) => r.commit))].slice(-500);
  for (const c of kept) {
    const oid = await repo.expand(c);
    if (!oid) continue;
    const msg = await repo
      .readCommit(oid)
      .then((x) => x.message)
      .catch(() => null);
    const subject = msg?.split("\n")[0].trim();
    if (subject) subjects.set(c, tag && subject.startsWith(`${tag}: `) ? subject.slice(tag.length + 2) : subject);
  }

  // The noise-aware rule's numbers, from results.tsv and the run log as the server reads them.
  const base = session?.base ?? null;
  const noise =
    config.noise !== false && tag && base
      ? summarizeNoise(await new Ledger(ws).measured({ tag, base }, results.rows), config.metric.goal)
      : null;
  const info = { metric: config.metric.name, goal: config.metric.goal, tag, branch, noise };
  const markdown = renderMarkdown(results.rows, { ...info, problems: results.problems, subjects });
  const svg = renderSvg(results.rows, info);

  repo.ensureExcluded(REPORT_FILES.map((f) => `/${f}`));
  const mdPath = path.join(ws.root, "report.md");
  const svgPath = path.join(ws.root, "progress.svg");
  // Temporary files under .git/autoresearch/: a concurrent git status never counts one.
  writeAtomically(mdPath, markdown, { tmpDir: ws.stateDir });
  writeAtomically(svgPath, svg, { tmpDir: ws.stateDir });
  return { markdown: mdPath, svg: svgPath, rows: results.rows.length };
}

function readSession(file: string): { tag?: string; branch?: string; base?: string } | null {
  const j = readJson<Record<string, unknown>>(file);
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  return j && typeof j === "object" ? { tag: str(j.tag), branch: str(j.branch), base: str(j.base) } : null;
}
