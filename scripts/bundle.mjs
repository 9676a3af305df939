#!/usr/bin/env node
// `npm run build`, after tsc: turns dist/cli.js into one file holding the start-up path (cli,
// server, tools) and the MCP SDK, so `initialize` is answered without resolving and compiling
// a few hundred separate modules (bench figure 6: about 3.5× a bare node start unbundled on a
// loaded 2-core box, about 2.7× bundled).
//
// Every other module of ours (the session, init, demo, report, errors, version, ...) stays the
// file tsc wrote and is imported by its path, and so does zod: each module exists once in the
// process, whichever path loads it (ProtocolRefusal is one class for the session and the tools;
// zod is loaded once for the tools' schemas and the session's config). The bundled files sit in
// dist/ or do not use import.meta (checked below), so their file paths resolve as before.
//
// Without esbuild (an install without dev dependencies) dist/ stays as tsc wrote it: it works,
// it starts slower.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const DIST = fileURLToPath(new URL("../dist/", import.meta.url)).replace(/\/$/, "");
const ENTRY = path.join(DIST, "cli.js");
/** dist files that go into the bundle: the start-up path */
const bundled = (abs) => abs === ENTRY || abs === path.join(DIST, "server.js") || abs.startsWith(path.join(DIST, "tools") + path.sep);
/** packages that go into the bundle; every other one is imported from node_modules */
const BUNDLED_PACKAGES = ["@modelcontextprotocol/sdk"];

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  process.stderr.write("bundle: esbuild is not installed; dist/ stays as tsc wrote it (the server starts slower)\n");
  process.exit(0);
}

const ownModules = {
  name: "own-modules",
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const abs = path.resolve(args.resolveDir, args.path);
      if (!abs.startsWith(DIST + path.sep)) return undefined;
      if (bundled(abs)) {
        if (path.dirname(abs) !== DIST && /import\.meta/.test(fs.readFileSync(abs, "utf8")))
          throw new Error(`${path.relative(DIST, abs)} uses import.meta but would be bundled into dist/cli.js: its paths would change. Leave it out of the bundle (scripts/bundle.mjs).`);
        return undefined;
      }
      // imported by its path relative to dist/cli.js, where the bundle is written
      return { path: "./" + path.relative(DIST, abs).split(path.sep).join("/"), external: true };
    });
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("node:") || BUNDLED_PACKAGES.some((p) => args.path === p || args.path.startsWith(p + "/"))) return undefined;
      // a dependency of a bundled package (ajv, zod-to-json-schema, ...) is bundled with it; zod, which our own modules import too, is not
      if (args.importer.includes(`${path.sep}node_modules${path.sep}`) && !/^zod(\/|$)/.test(args.path)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [ENTRY],
  outfile: ENTRY,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  // bundled CommonJS (ajv) may call require() on node built-ins
  banner: { js: 'import { createRequire as __bundleRequire } from "node:module";\nconst require = __bundleRequire(import.meta.url);' },
  plugins: [ownModules],
});
const inputs = Object.keys(result.metafile.inputs);
process.stderr.write(`bundle: dist/cli.js holds ${inputs.filter((f) => f.includes("node_modules")).length} package modules and ${inputs.filter((f) => !f.includes("node_modules")).length} of ours\n`);
