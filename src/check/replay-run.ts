// Run a scenario along a replay token's interleaving (`ptesim run --replay TOKEN`, and the
// playground's replay): pure, so the CLI and the browser follow a token with the same code.
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { BackendModule } from "../kernel/pvops.js";
import type { Scenario } from "../sim/scenario.js";
import { type RunResult, Simulation } from "../sim/simulation.js";
import { decodeReplay, ReplayDecider, ReplayMismatch, type ReplayStamp } from "./replay.js";

/** The token is malformed, belongs to another scenario or backend, or does not fit the run. */
export class ReplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplayError";
  }
}

/** `scenario` run on `backend` following `token`, which must carry `stamp`. */
export function replayRun(
  scenario: Scenario,
  backend: BackendModule,
  token: string,
  stamp: ReplayStamp,
): RunResult {
  const path = decodeReplay(token, stamp);
  if (typeof path === "string") throw new ReplayError(`bad replay token: ${path}`);
  const sim = new Simulation(scenario, backend);
  sim.populate();
  // The programs' own random choices as runScenario makes them.
  sim.setPrograms(xoroshiro128plus(scenario.seed ^ 0x5eed1e55));
  const decider = new ReplayDecider(path, true);
  let result: RunResult;
  try {
    result = sim.execute(decider);
  } catch (e) {
    if (e instanceof ReplayMismatch) throw new ReplayError(e.message);
    throw e;
  }
  if (!decider.exhausted)
    throw new ReplayError(
      "bad replay token: the run ended before the token did (trailing characters after the recorded decisions)",
    );
  return result;
}
