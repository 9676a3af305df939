import fs from "node:fs";
import { isUtf8 } from "node:buffer";
import path from "node:path";
import { refuse } from "../errors.js";
import { writeAtomically } from "../files.js";
import { dependencyPolicy, installCommandHits, newImports, type DependencyPolicy } from "../guards/dependencies.js";
import { SourceChecker, type SourceReport } from "../guards/source.js";
import { applyEdits, contentHash, PatchError, unifiedDiff, type Edit } from "../patch.js";
import { printable, resolveInside, resolveRegularFile } from "../paths.js";
import type { Workspace } from "../workspace.js";
import { treeViolations } from "../guards/tree.js";
import type { SessionInfo } from "./history.js";
import { violationRefusal } from "./messages.js";

/** The editable file: reading it (whole, a range, or a diff since a known version), editing it, checking its source. */

/** read_train's answer: the file or a range of it, or (with sinceHash) nothing or a diff. */
export interface ReadResult {
  file: string;
  content: string;
  startLine: number;
  endLine: number;
  totalLines: number;
  hash: string;
  truncated: boolean;
  readonly: boolean;
  unchanged?: boolean;
  diffSince?: string;
  sinceUnknown?: boolean;
}

/** Answers stay under what clients show whole (opencode cuts at 50 KB). */
const MAX_READ_CHARS = 40_000;

/**
 * Versions of the editable file this server has shown or written, by hash, for read_train's
 * sinceHash. Kept in memory and under .git/autoresearch/versions/ (so a restarted server still
 * knows what the agent read), both bounded: a 2 MB train.py must not pile up 64 copies.
 */
export class Versions {
  private readonly texts = new Map<string, string>();
  private dir: string | null = null;

  /** Where versions are kept on disk (the session's state dir). */
  attach(dir: string): void {
    this.dir = dir;
  }

  remember(text: string): string {
    const hash = contentHash(Buffer.from(text, "utf8"));
    this.texts.delete(hash);
    this.texts.set(hash, text);
    let chars = 0;
    for (const t of this.texts.values()) chars += t.length;
    while (this.texts.size > 1 && (this.texts.size > MAX_VERSIONS || chars > MAX_VERSION_CHARS)) {
      const oldest = this.texts.keys().next().value!;
      chars -= this.texts.get(oldest)!.length;
      this.texts.delete(oldest);
    }
    this.save(hash, text);
    return hash;
  }

  get(hash: string): string | undefined {
    const known = this.texts.get(hash);
    if (known !== undefined || !this.dir || !/^[0-9a-f]{16}$/.test(hash)) return known;
    try {
      const text = fs.readFileSync(path.join(this.dir, hash), "utf8");
      return contentHash(Buffer.from(text, "utf8")) === hash ? text : undefined;
    } catch {
      return undefined;
    }
  }

  /** The hash of the file's bytes, remembering the text when it is UTF-8. */
  rememberFile(buf: Buffer): string {
    return isUtf8(buf) ? this.remember(buf.toString("utf8")) : contentHash(buf);
  }

  private save(hash: string, text: string): void {
    if (!this.dir) return;
    try {
      const file = path.join(this.dir, hash);
      if (fs.existsSync(file)) return fs.utimesSync(file, new Date(), new Date());
      writeAtomically(file, text);
      const kept = fs.readdirSync(this.dir).map((f) => ({ f, t: fs.statSync(path.join(this.dir!, f)).mtimeMs })).sort((a, b) => b.t - a.t);
      let chars = 0;
      kept.forEach((k, i) => {
        chars += fs.statSync(path.join(this.dir!, k.f)).size;
        if (i >= MAX_VERSIONS || (i > 0 && chars > MAX_VERSION_CHARS)) fs.rmSync(path.join(this.dir!, k.f), { force: true });
      });
    } catch {
      /* a convenience: without it the agent gets the whole file */
    }
  }
}

const MAX_VERSIONS = 64;
const MAX_VERSION_CHARS = 8_000_000;

/** The files read_train may show: the editable one, the read-only ones, and the readable ones that exist. */
export function readableFiles(ws: Workspace): string[] {
  const extra = ws.config.readable.filter((r) => {
    try {
      return fs.statSync(resolveInside(ws.root, r, "readable file")).isFile();
    } catch {
      return false;
    }
  });
  return [...new Set([ws.config.editable, ...ws.config.readonly, ...extra])];
}

export function readSessionFile(ws: Workspace, versions: Versions, args: { file?: string; startLine?: number; endLine?: number; sinceHash?: string }): ReadResult {
  const name = args.file ?? ws.config.editable;
  const allowed = readableFiles(ws);
  if (!allowed.includes(name))
    refuse("not_allowed", `"${printable(name)}" is not a file of the session; only ${allowed.join(", ")} can be read.`, `Pass file: "${ws.config.editable}" or one of the read-only files.`);
  if (args.sinceHash !== undefined && (name !== ws.config.editable || args.startLine !== undefined || args.endLine !== undefined))
    refuse("bad_range", `sinceHash works on ${ws.config.editable} as a whole, not with a line range or another file.`, "Drop sinceHash, or drop startLine/endLine/file.");
  const abs = resolveRegularFile(ws.root, name, name === ws.config.editable ? "editable file" : "read-only file");
  const buf = fs.readFileSync(abs);
  const text = buf.toString("utf8");
  // Lines keep their own terminators, so a whole read is the file byte for byte (a final
  // newline, CRLF) and writing it back as `content` changes nothing.
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [""];
  const total = lines.length;
  if (name === ws.config.editable && isUtf8(buf)) {
    const hash = versions.remember(text);
    if (args.sinceHash !== undefined && args.sinceHash === hash)
      return { file: name, content: "", startLine: 1, endLine: total, totalLines: total, hash, truncated: false, readonly: false, unchanged: true };
    const old = args.sinceHash !== undefined ? versions.get(args.sinceHash) : undefined;
    if (old !== undefined) {
      const d = unifiedDiff(name, old, text);
      return { file: name, content: d.diff, startLine: 1, endLine: total, totalLines: total, hash, truncated: d.truncated, readonly: false, diffSince: args.sinceHash };
    }
  }
  const start = Math.max(1, args.startLine ?? 1);
  let end = Math.min(total, args.endLine ?? total);
  if (args.startLine !== undefined && start > total) refuse("bad_range", `startLine ${start} is past the end (${total} lines).`, `Use a startLine between 1 and ${total}.`);
  if (end < start) refuse("bad_range", `endLine ${end} is before startLine ${start}.`, "Give endLine ≥ startLine.");
  let content = lines.slice(start - 1, end).join("");
  let truncated = false;
  if (content.length > MAX_READ_CHARS) {
    let acc = 0;
    let i = start - 1;
    for (; i < end && acc + lines[i].length <= MAX_READ_CHARS; i++) acc += lines[i].length;
    end = Math.max(start, i);
    content = lines.slice(start - 1, end).join("");
    truncated = true;
  }
  return { file: name, content, startLine: start, endLine: end, totalLines: total, hash: contentHash(buf), truncated, readonly: name !== ws.config.editable, ...(args.sinceHash !== undefined ? { sinceUnknown: true } : {}) };
}

export interface PreparedEdit {
  abs: string;
  before: string;
  after: string;
  matches: string[];
}

/** The new text of the editable file for apply_patch's arguments; refuses what cannot apply. */
export function prepareEdit(ws: Workspace, args: { edits?: Edit[]; content?: string; expectedHash?: string }): PreparedEdit {
  const hasEdits = (args.edits?.length ?? 0) > 0;
  if (hasEdits === (args.content !== undefined))
    refuse("bad_patch", hasEdits ? 'Give either "edits" or "content", not both.' : 'Nothing to apply: give "edits" (a list of {old, new}) or "content".', "Retry with one of them.");
  const abs = resolveRegularFile(ws.root, ws.config.editable, "editable file");
  const beforeBuf = fs.readFileSync(abs);
  const before = beforeBuf.toString("utf8");
  // Bytes that are not UTF-8 would be rewritten as U+FFFD: refuse rather than change them.
  if (hasEdits && !isUtf8(beforeBuf))
    refuse("not_utf8", `${ws.config.editable} is not valid UTF-8, so an edit would change bytes outside it.`, 'Convert the file to UTF-8, or pass the whole new text as "content".');
  const hash = contentHash(beforeBuf);
  if (args.expectedHash && args.expectedHash !== hash)
    refuse("stale", `${ws.config.editable} changed since you read it (hash ${hash}, you expected ${printable(args.expectedHash, 20)}).`, "Call read_train again and redo the edit on the current text.");
  let after: string;
  let matches: string[] = [];
  if (hasEdits) {
    try {
      ({ text: after, matches } = applyEdits(before, args.edits!));
    } catch (e) {
      if (e instanceof PatchError) refuse("patch_failed", `Patch not applied (${ws.config.editable} unchanged): ${e.message}`, e.hint);
      throw e;
    }
  } else {
    if (args.content!.includes("\0")) refuse("patch_failed", "content contains a NUL byte; nothing was written.", "Remove NUL bytes.");
    after = args.content!;
  }
  if (after === before) refuse("no_change", `The patch leaves ${ws.config.editable} as it is.`, "Give an edit that changes something.");
  return { abs, before, after, matches };
}

/**
 * apply_patch's checks in the order the agent is told about them: the work tree first (files
 * outside the editable one), then the edit itself, then its source; git status and Python's
 * check run side by side.
 */
export async function checkedEdit(ws: Workspace, info: SessionInfo, head: string, guard: SourceGuard, args: { edits?: Edit[]; content?: string; expectedHash?: string }) {
  const violations = settle(treeViolations(ws.repo, info.base, head, ws.config.editable));
  const treeFirst = async () => {
    const v = await violations;
    if ("error" in v) throw v.error;
    if (v.value.length) violationRefusal(v.value, ws.config.editable);
  };
  let edit: PreparedEdit;
  try {
    edit = prepareEdit(ws, args);
  } catch (e) {
    await treeFirst();
    throw e;
  }
  const checking = settle(guard.check(ws, info, edit.after));
  await treeFirst();
  const checked = await checking;
  if ("error" in checked) throw checked.error;
  return { edit, report: checked.value };
}

/** A promise's outcome as a value, so two checks can run side by side and be reported in order. */
function settle<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** Writes the edit over the editable file (beside it and renamed, keeping its mode). */
export function writeEdit(edit: PreparedEdit): void {
  writeAtomically(edit.abs, edit.after, { mode: "keep" });
}

/**
 * The source rules (syntax, no new dependency, no install command) on a candidate text: one
 * long-lived Python per server does the parsing; the dependency policy is read once per session.
 */
export class SourceGuard {
  private checker: SourceChecker | null = null;
  private policy: DependencyPolicy | null = null;

  /** A new session has another base: the policy is read again. */
  forgetPolicy(): void {
    this.policy = null;
  }

  async check(ws: Workspace, info: SessionInfo, source: string): Promise<SourceReport> {
    const name = path.basename(ws.config.editable);
    if (this.checker?.python !== ws.config.python) {
      this.checker?.close();
      this.checker = new SourceChecker(ws.config.python);
    }
    const report = await this.checker.inspect(source, name);
    if (ws.config.syntaxCheck && report.syntaxError) {
      const e = report.syntaxError;
      refuse("syntax_error", `${e.message}${e.line ? ` at line ${e.line}${e.col ? `:${e.col}` : ""}` : ""}${e.text ? `: ${e.text.trimEnd()}` : ""}. ${ws.config.editable} was left unchanged.`, "Fix the edit and apply it again.");
    }
    this.policy ??= await dependencyPolicy(ws.repo, info.base, ws.config.editable, ws.config.python);
    const policy = this.policy;
    const fresh = newImports(report.imports, policy);
    if (fresh.length)
      refuse("new_dependency", `New import${fresh.length > 1 ? "s" : ""} ${fresh.map((m) => `"${m}"`).join(", ")}: not in the standard library, the base version of ${ws.config.editable}, the project's own modules, or pyproject.toml.`, "No new dependencies: use only what is already available (stdlib or the packages the project declares).");
    const installs = installCommandHits(source);
    if (installs.length > policy.baseInstallHits) refuse("install_command", `The code runs a package install ("${installs[installs.length - 1]}").`, "No new dependencies: remove the install command.");
    if (report.computedImports > policy.baseComputedImports)
      refuse("new_dependency", "The code imports a module whose name is computed at run time (__import__/import_module).", "Import modules by name, from the standard library or the declared dependencies.");
    return report;
  }

  close(): void {
    this.checker?.close();
  }
}
