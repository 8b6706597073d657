import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** V8's gc(), exposed at run time (vitest's workers do not start with --expose-gc): for tests of what stays reachable. */
export function exposedGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
