// Helpers shared by the checker's tests (not a test file itself). Pure: the tests read files.
import { getBackend } from "../backends/registry.js";
import type { BackendModule } from "../kernel/pvops.js";
import { loadScenarioText } from "../scenario/load.js";
import type { Scenario } from "../sim/scenario.js";

/** A scenario from its YAML text, or an error naming what is wrong with it. */
export function scenarioOf(text: string, file: string): Scenario {
  const r = loadScenarioText(text, file);
  if (!r.ok) throw new Error(`${file}: ${r.errors.map((e) => e.message).join("; ")}`);
  return r.scenario;
}

/** A built-in backend by name, or an error. */
export function backendNamed(name: string): BackendModule {
  const b = getBackend(name);
  if (b === undefined) throw new Error(`backend ${name} is not registered`);
  return b;
}
