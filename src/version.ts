import fs from "node:fs";

/** The package version, read once from package.json; a module of its own so the CLI can print it without loading the server. */
export const VERSION = (JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
