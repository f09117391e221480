// The shape of every `--json` document, as zod types. The printers build their documents as these
// types; `npm run schemas` writes them as JSON Schemas to schemas/ (z.toJSONSchema), and a test
// checks the committed files match and that real outputs validate against them. A change of
// shape that drops or renames a field needs a new schema version (ptesim.run/2, ...).
import { z } from "zod";
import { PROPERTIES } from "../sim/oracle.js";
import { BugsJson } from "./bugs-command.js";

const counters = z
  .record(z.string(), z.number())
  .describe("event counts by counter name (see src/machine/ledger.ts); absent counters are 0");

const violation = z.object({
  property: z.enum(PROPERTIES),
  addr: z.number().describe("page address, or -1"),
  cpu: z.number().describe("CPU whose action revealed it, or -1 for end-of-run checks"),
  step: z.number(),
  message: z.string(),
  rule: z.string().optional().describe("transaction-contract: the rule broken"),
});

const traceEvent = z.object({
  step: z.number(),
  cpu: z.number(),
  actor: z.enum(["kernel", "mmu", "user", "fault", "init"]),
  what: z.string(),
  addr: z.number(),
  before: z.string().optional().describe("the PTE before, for PTE-changing events"),
  after: z.string().optional(),
  note: z.string().optional(),
  beforeHex: z.string().optional().describe("the PTE before, as the real 64-bit value in hex"),
  afterHex: z.string().optional(),
  tlb: z
    .array(z.string().nullable())
    .optional()
    .describe("every CPU's TLB entry for the page after this step (index: CPU; null: none)"),
  locks: z.array(z.string()).optional().describe("locks held after this step that matter for the page"),
  path: z.array(z.string()).optional().describe("the call frames on this CPU, outermost first"),
  target: z.number().optional().describe("for a TLB flush: the CPU whose TLB is flushed"),
});

const machine = z
  .object({
    arch: z.string(),
    cpus: z.number(),
    pteBits: z.array(z.object({ bit: z.number(), name: z.string(), title: z.string() })),
  })
  .describe("the simulated machine: architecture, CPUs and the PTE layout by bit (for viewers)");

const syscall = z.object({
  call: z.string(),
  addr: z.number(),
  pages: z.number(),
  prot: z.string().optional(),
  ret: z.number(),
  errno: z.string().optional(),
  ptesChanged: z.number(),
  cpu: z.number().optional().describe("the CPU that made the call (absent: CPU 0)"),
});

const sweep = z.object({
  seeds: z.number().describe("seeds run"),
  firstSeed: z.number(),
  failingSeeds: z.number(),
  byProperty: z.record(z.string(), z.number()).describe("seeds violating each property"),
  firstFailure: z.number().nullable().describe("the first failing seed"),
  firstByProperty: z
    .record(z.string(), z.number())
    .describe("the first seed whose first violation is each property"),
  interrupted: z.boolean().describe("stopped early by SIGINT: `seeds` counts those done"),
});

export const RunJson = z
  .object({
    schema: z.literal("ptesim.run/1"),
    scenario: z.string(),
    file: z.string().nullable(),
    backend: z.string(),
    seed: z.number().int().min(0).max(0xffffffff),
    verdict: z.enum(["ok", "violated"]),
    violations: z.array(violation),
    syscalls: z.array(syscall),
    stats: z.object({
      steps: z.number(),
      kernelSteps: z.number(),
      userSteps: z.number(),
      reads: z.number(),
      writes: z.number(),
      faults: z.number(),
      segv: z.number(),
    }),
    counters,
    sweep: sweep.nullable(),
    timeline: z.array(traceEvent),
    reproduce: z.string().describe("the command line that reproduces this run"),
    machine,
  })
  .meta({ title: "ptesim run --json", description: "One simulated run (or a sweep's first failure)" });

const checkBase = {
  schema: z.literal("ptesim.check/1"),
  scenario: z.string(),
  file: z.string().nullable(),
  backend: z.string(),
  mode: z
    .enum(["reduced", "por", "exhaustive"])
    .describe("por: reduced plus sleep-set partial-order reduction"),
  executions: z.number(),
  completeExecutions: z.number(),
  states: z.number(),
  transitions: z.number(),
  distinctFinalStates: z.number().describe("distinct states at the end of complete executions"),
  elapsedMs: z.number(),
  storage: z.enum(["fingerprint", "exact"]).describe("how visited states are stored"),
  storeBytes: z.number().describe("memory held by the visited-state store"),
  collisionProbability: z
    .number()
    .describe("fingerprint storage: the chance that a hash collision hid a state (0 when exact)"),
  machine,
};

export const CheckJson = z
  .discriminatedUnion("verdict", [
    z.object({ ...checkBase, verdict: z.literal("verified") }),
    z.object({
      ...checkBase,
      verdict: z.literal("incomplete"),
      reason: z.enum(["max-executions", "max-seconds", "max-memory", "max-steps", "interrupted"]),
    }),
    z.object({
      ...checkBase,
      verdict: z.literal("violated"),
      property: z.enum(PROPERTIES),
      rule: z.string().nullable(),
      message: z.string(),
      addr: z.number(),
      replay: z.string().describe("replay token: ptesim run ... --replay TOKEN"),
      reproduce: z.string().nullable(),
      timeline: z.array(traceEvent),
    }),
  ])
  .meta({ title: "ptesim check --json", description: "The checker's verdict and figures" });

const costsRow = z.object({
  backend: z.string(),
  pages: z.number(),
  ptes: z.number(),
  counters,
  cycles: z.number(),
  cyclesPerPte: z.number(),
});

const costsTable = {
  costs: z.record(z.string(), z.number()).describe("the cycle table used"),
  backends: z.array(z.string()),
  pages: z.array(z.number()),
  rows: z.array(costsRow),
  batch: z.object({
    backend: z.string(),
    pages: z.number(),
    rows: z.array(z.object({ batch: z.number(), counters, cycles: z.number(), cyclesPerPte: z.number() })),
  }),
  legacyOverSeed: z.object({ pages: z.number(), ratio: z.number() }).nullable(),
};

export const Arm64CostsJson = z
  .object({
    schema: z.literal("ptesim.bench-costs-arm64/1"),
    arch: z.literal("arm64"),
    weights: z
      .record(z.string(), z.object({ cycles: z.number(), source: z.string() }))
      .describe("ARM64_COSTS: cycles per event and where the figure comes from (all assumptions today)"),
    rows: z.array(
      z.object({
        backend: z.string(),
        pages: z.number(),
        ptes: z.number(),
        counts: z.record(z.string(), z.number()).describe("events of the mprotect alone"),
        cycles: z.number(),
        cyclesPerPte: z.number(),
      }),
    ),
  })
  .meta({
    title: "ptesim bench costs --arch arm64 --json",
    description: "mprotect cost per PTE on the arm64 backends",
  });

export const CostsJson = z
  .looseObject({
    schema: z.literal("ptesim.bench-costs/1"),
    costsFile: z.string().nullable().describe("the --costs file, if any"),
    ...costsTable,
    sources: z.record(z.string(), z.string()).describe("where each cycle weight comes from"),
    native: z
      .looseObject({ rows: z.array(z.looseObject({ pages: z.number() })) })
      .describe("the model beside the real kernel (native backend)"),
  })
  .meta({
    title: "ptesim bench costs --json",
    description: "mprotect cost per PTE on each backend, and the native model beside the real kernel",
  });

export const DemoJson = z
  .object({
    schema: z.literal("ptesim.demo/1"),
    scenario: z.string(),
    seeds: z.number(),
    rows: z.array(
      z.object({
        backend: z.string(),
        correct: z.boolean(),
        sweep,
        firstFailure: z
          .object({ seed: z.number(), violations: z.array(violation), reproduce: z.string() })
          .nullable()
          .describe("the headline failure: the first lost dirty bit when there is one"),
      }),
    ),
    costs: z.array(costsRow).describe("one mprotect over 512 populated pages per backend"),
  })
  .meta({ title: "ptesim demo --json", description: "Every backend over the same seeded interleavings" });

export const BackendsJson = z
  .object({
    schema: z.literal("ptesim.backends/1"),
    backends: z.array(
      z.object({
        name: z.string(),
        arch: z.enum(["x86-64", "arm64"]).meta({ description: "the architecture the backend runs on" }),
        description: z.string(),
        correct: z.boolean(),
      }),
    ),
  })
  .meta({ title: "ptesim backends --json", description: "The built-in backends" });

const replayBackend = z.looseObject({
  backend: z.string(),
  correct: z.boolean(),
  syscalls: z.record(z.string(), z.number()),
  ptesMprotect: z.number(),
  ptesMoved: z.number(),
  faults: z.number(),
  counters,
  cycles: z.number(),
  divergences: z.array(
    z.looseObject({
      line: z.number(),
      pid: z.number(),
      call: z.string(),
      expected: z.string(),
      got: z.string(),
      note: z.string().optional(),
    }),
  ),
  aborted: z.string().nullable(),
});

export const ReplayJson = z
  .looseObject({
    schema: z.literal("ptesim.replay/2"),
    file: z.string(),
    verdict: z.enum(["match", "diverged"]),
    populate: z.string(),
    lines: z.number(),
    calls: z.record(z.string(), z.number()),
    unknown: z.record(z.string(), z.number()),
    backends: z.array(replayBackend),
  })
  .meta({
    title: "ptesim replay --json",
    description: "A recorded program's memory syscalls replayed on each backend (more fields may appear)",
  });

const location = {
  file: z.string().optional(),
  line: z.number().int().min(1).optional(),
  col: z.number().int().min(1).optional(),
};

export const ErrorJson = z
  .object({
    schema: z.literal("ptesim.error/1"),
    code: z.enum([
      "usage",
      "scenario",
      "costs",
      "probe",
      "io",
      "backend",
      "replay",
      "output",
      "interrupted",
      "internal",
    ]),
    message: z.string(),
    ...location,
    errors: z
      .array(z.object({ ...location, message: z.string() }))
      .optional()
      .describe("every located problem (a scenario may have several); the first is also at the top"),
    details: z.array(z.string()).optional().describe("further lines of explanation"),
    exitCode: z.number().int(),
  })
  .meta({ title: "ptesim error (any command with --json)", description: "Why the command failed" });

/** Every document, by the file name it is published under in schemas/. */
export const OUTPUT_SCHEMAS = {
  "run.schema.json": RunJson,
  "check.schema.json": CheckJson,
  "replay.schema.json": ReplayJson,
  "bench-costs.schema.json": CostsJson,
  "bench-costs-arm64.schema.json": Arm64CostsJson,
  "demo.schema.json": DemoJson,
  "backends.schema.json": BackendsJson,
  "error.schema.json": ErrorJson,
  "bugs.schema.json": BugsJson,
} as const;

/** The JSON Schema text committed as schemas/NAME (stable: the generator and the test share it). */
export function jsonSchemaText(name: keyof typeof OUTPUT_SCHEMAS): string {
  return `${JSON.stringify(z.toJSONSchema(OUTPUT_SCHEMAS[name]), null, 2)}\n`;
}
