/**
 * The layers of src/ and the rule that keeps them (ARCHITECTURE.md "Layers"), checked by
 * `npm run lint`. Type-only imports count: a cycle or an upward import through types is
 * still a dependency a reader must hold in mind.
 *
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycle",
      severity: "error",
      comment: "No import cycles, type-only ones included.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-adapter-below",
      severity: "error",
      comment:
        "users/, stats/ and cli/ are built on the data layer (record/), never on the express-session adapter.",
      from: { path: "^src/(users|stats|cli)/" },
      to: { path: "^src/express/" },
    },
    {
      name: "data-layer-stands-alone",
      severity: "error",
      comment:
        "record/ (the data layer) imports only the plumbing (redis/) and the shared files at the top of src/.",
      from: { path: "^src/record/" },
      to: {
        path: "^src/(express|users|stats|cli|observability)/|^src/(index|instance|rels-session|default-instance|cli|opentelemetry)[.]ts$",
      },
    },
    {
      name: "plumbing-imports-nothing-above",
      severity: "error",
      comment: "redis/ is the plumbing: nothing of the data layer, the adapters or the composition root.",
      from: { path: "^src/redis/" },
      to: {
        path: "^src/(record|users|express|stats|cli)/|^src/(index|instance|rels-session|default-instance|cli|opentelemetry)[.]ts$",
      },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
