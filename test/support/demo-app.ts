import { randomUUID } from "node:crypto";
import type express from "express";
import { afterAll, beforeAll, inject } from "vitest";
import { createDemoApp } from "../../demo/app.js";
import { RelsSession } from "../../src/index.js";
import { deleteNamespace } from "./cleanup.js";

/**
 * The demo app for a test file: `RelsSession` configured on the suite's Redis under a fresh
 * namespace before the file's tests, closed and its keys removed after them.
 */
export function demoForThisFile(applicationName: string): { readonly app: express.Express } {
  const url = inject("redisUrl");
  const namespace = `t-demo-${randomUUID()}`;
  let app: express.Express | undefined;
  beforeAll(() => {
    RelsSession.configure({ applicationName, redisOptions: { url, namespace } });
    app = createDemoApp();
  });
  afterAll(async () => {
    await RelsSession.close();
    await deleteNamespace(url, namespace);
  });
  return {
    get app() {
      if (!app) throw new Error("demoForThisFile: the app exists once the file's beforeAll has run");
      return app;
    },
  };
}
