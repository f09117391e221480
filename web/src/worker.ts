// The playground's Web Worker: runs `run` and `check` with the same pure core as the CLI
// (src/index.ts) and answers with the CLI's JSON documents.
import { encodeReplay, replayStamp } from "../../src/check/replay.js";
import {
  BackendError,
  type BackendModule,
  check,
  checkDocument,
  getBackend,
  loadScenarioText,
  ReplayError,
  replayRun,
  reproduceLine,
  runDocument,
  runScenario,
  UserModuleError,
} from "../../src/index.js";
import { archOf, backendIdentityOf } from "../../src/sim/documents.js";
import type { Job, Reply } from "./protocol.js";
import { loadUserBackend, moduleSpec } from "./user-module.js";

const post = (r: Reply) => (self as unknown as Worker).postMessage(r);

self.onmessage = async (ev: MessageEvent<Job>) => {
  const job = ev.data;
  const t0 = performance.now();
  try {
    const loaded = loadScenarioText(job.text, job.file);
    if (!loaded.ok) return post({ type: "invalid", errors: loaded.errors });
    let backend: BackendModule | undefined;
    if (job.module !== null) backend = await loadUserBackend(job.module, (op) => post({ type: "alive", op }));
    else backend = getBackend(job.backend);
    if (backend === undefined) return post({ type: "failed", message: `unknown backend "${job.backend}"` });
    // As `--backend` says it, and the identity replay tokens are stamped with (as the CLI does).
    const backendArg = job.module === null ? backend.name : moduleSpec(job.module.file);
    const identity = backendIdentityOf(job.module === null ? "builtin" : "module", backend.name);
    const scenario = {
      ...loaded.scenario,
      backend: backend.name,
      ...(job.seed === null ? {} : { seed: job.seed }),
    };
    if (backend.optionsSchema !== undefined && backend.name !== loaded.scenario.backend) {
      const r = backend.optionsSchema.safeParse(scenario.backendOptions);
      if (!r.success)
        return post({
          type: "failed",
          message: `the scenario's backendOptions do not suit backend "${backend.name}"`,
        });
      scenario.backendOptions = r.data as Record<string, unknown>;
    }
    if (job.kind === "run") {
      const token = job.replay ?? undefined;
      const result =
        token === undefined
          ? runScenario(scenario, backend)
          : replayRun(scenario, backend, token, replayStamp(scenario, identity));
      const doc = runDocument(result, {
        file: job.file,
        cpus: scenario.cpus,
        arch: archOf(scenario),
        reproduce: reproduceLine(job.file, backendArg, scenario.seed, token),
        sweep: null,
      });
      return post({ type: "done", doc, ms: performance.now() - t0 });
    }
    if (scenario.programs === undefined)
      return post({
        type: "failed",
        message: `${job.file}: the checker needs explicit \`programs:\` (one list of accesses per user CPU, e.g. ["w buf:0", "r buf:1"])`,
      });
    const result = check(scenario, backend, {
      mode: job.mode,
      maxSeconds: job.maxSeconds,
      now: () => performance.now(),
      progressEveryMs: 250,
      onProgress: (p) => post({ type: "progress", ...p }),
    });
    // The token stamped as the CLI stamps it, so that the reproduce command works as printed.
    if (result.verdict === "violated")
      result.counterexample.replay = encodeReplay(
        result.counterexample.choices,
        replayStamp(scenario, identity),
      );
    const doc = checkDocument(result, {
      scenario: scenario.name,
      file: job.file,
      backend: backend.name,
      mode: job.mode,
      cpus: scenario.cpus,
      arch: archOf(scenario),
      reproduce:
        result.verdict === "violated"
          ? reproduceLine(job.file, backendArg, scenario.seed, result.counterexample.replay)
          : null,
    });
    post({ type: "done", doc, ms: performance.now() - t0 });
  } catch (e) {
    // A user module's mistake is the user's (the CLI's exit 2), not a failure of the playground.
    const user =
      e instanceof BackendError || e instanceof UserModuleError
        ? "module"
        : e instanceof ReplayError
          ? "token"
          : undefined;
    post({ type: "failed", message: (e as Error).message ?? String(e), ...(user ? { user } : {}) });
  }
};
