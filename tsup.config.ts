import { defineConfig } from "tsup";

export default defineConfig([
  {
    // opentelemetry: the metrics bridge, the only entry that imports @opentelemetry/api.
    entry: { index: "src/index.ts", opentelemetry: "src/opentelemetry.ts" },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    // import.meta.url (msgpackr's lazy require) in the CJS build.
    shims: true,
    target: "node20",
  },
  {
    // The CLI is its own entry: index.ts never imports it.
    entry: { cli: "src/cli.ts" },
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
  },
]);
