import fs from "node:fs";
import path from "node:path";
import { openPlainFile } from "./paths.js";

/**
 * The one way the server replaces a file: written whole to a temporary file, then renamed over
 * the target, so a reader (or a server killed halfway) never sees half a file. The rename also
 * replaces a symlink at the target instead of writing through it.
 */
export interface AtomicWriteOptions {
  /**
   * Where the temporary file is made (default: beside the target). Files in the work tree use the
   * server's state dir, so a concurrent `git status` never counts a temporary file.
   */
  tmpDir?: string;
  /** file mode of the new file; `"keep"` copies the mode of the file it replaces */
  mode?: number | "keep";
}

export function writeAtomically(file: string, data: string | Buffer, opts: AtomicWriteOptions = {}): void {
  try {
    writeVia(opts.tmpDir ?? path.dirname(file), file, data, opts.mode);
  } catch (e) {
    // A linked worktree's git dir can be on another filesystem than its work tree.
    if (opts.tmpDir === undefined || (e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    writeVia(path.dirname(file), file, data, opts.mode);
  }
}

function writeVia(dir: string, file: string, data: string | Buffer, mode: AtomicWriteOptions["mode"]): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.autoresearch-tmp`);
  // Never through a link or file planted at the temporary name: created fresh, or refused.
  fs.rmSync(tmp, { force: true });
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  try {
    const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    if (mode === "keep") {
      try {
        fs.chmodSync(tmp, fs.statSync(file).mode);
      } catch {
        /* a new file keeps the default mode */
      }
    } else if (mode !== undefined) fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeJson(file: string, value: unknown): void {
  writeAtomically(file, JSON.stringify(value, null, 2));
}

/**
 * A state file's JSON value, or null when it is missing or not JSON. A FIFO or a link planted in
 * its place must neither block the server nor lead it elsewhere.
 */
export function readJson<T>(file: string): T | null {
  try {
    const fd = openPlainFile(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      return JSON.parse(fs.readFileSync(fd, "utf8")) as T;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
