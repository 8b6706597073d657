import { defineConfig } from "tsup";

// No source maps: the JS is not minified, so a stack trace already points at readable code,
// and the maps were two thirds of the package (issue 20: 525 kB packed before). The build
// script empties dist/ first: the two configs run side by side, so neither may clean.
export default defineConfig([
  {
    // ESM: the library, the metrics bridge (the only entry that imports @opentelemetry/api)
    // and the CLI, which shares the library's chunks instead of carrying a copy of it.
    // src/cli.ts starts with its own `#!/usr/bin/env node`, which esbuild keeps.
    entry: { index: "src/index.ts", opentelemetry: "src/opentelemetry.ts", cli: "src/cli.ts" },
    format: ["esm"],
    // The CLI has no types to publish: index.ts never imports it.
    dts: { entry: { index: "src/index.ts", opentelemetry: "src/opentelemetry.ts" } },
    target: "node20",
  },
  {
    entry: { index: "src/index.ts", opentelemetry: "src/opentelemetry.ts" },
    format: ["cjs"],
    dts: true,
    // import.meta.url (msgpackr's lazy require) in the CJS build.
    shims: true,
    target: "node20",
  },
]);
