// The shape of every `--json` document, as zod types. The printers build their documents as these
// types; `npm run schemas` writes them as JSON Schemas to schemas/ (z.toJSONSchema), and a test
// checks the committed files match and that real outputs validate against them. A change of
// shape that drops or renames a field needs a new schema version (ptesim.run/2, ...).
import { z } from "zod";
import { ProbeLineSchema } from "../calibrate/calibrate.js";
import { PROPERTIES } from "../sim/oracle.js";
import { POPULATE_POLICIES } from "../strace/replay.js";
import { ERROR_CODES, type ErrorCode } from "./errors.js";

const counters = z
  .record(z.string(), z.number())
  .describe("event counts by counter name (see src/machine/ledger.ts); absent counters are 0");

const violation = z.object({
  property: z.enum(PROPERTIES),
  addr: z.number().describe("page address, or -1"),
  cpu: z.number().describe("CPU whose action revealed it, or -1 for end-of-run checks"),
  step: z.number(),
  message: z.string(),
  rule: z
    .string()
    .optional()
    .describe(
      "transaction-contract: the rule broken; data-loss found by reclaim: stale-writeback or discarded-written",
    ),
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
  advice: z.string().optional().describe("madvise: dontneed or free"),
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
  symmetry: z
    .enum(["values", "none"])
    .describe(
      "values: states differing only in which write's value sits where were one state (the final-state count too); none: concrete values",
    ),
  storeBytes: z.number().describe("memory held by the visited-state store"),
  collisionProbability: z
    .number()
    .describe("fingerprint storage: the chance that a hash collision hid a state (0 when exact)"),
  machine,
  litmus: z
    .object({
      test: z
        .string()
        .describe("herd's test name (catalogue/aarch64-VMSA), or linux:... for a kernel-level one"),
      quantifier: z.enum(["exists", "forall"]),
      condition: z.string(),
      verdict: z
        .enum(["allowed", "forbidden", "required"])
        .nullable()
        .describe("the litmus verdict this check reached (null when incomplete)"),
      herd: z
        .enum(["allowed", "forbidden", "required"])
        .nullable()
        .describe("herd's verdict (tests/kinds.txt)"),
      expected: z.enum(["allowed", "forbidden", "required"]).describe("the verdict the scenario expects"),
    })
    .optional()
    .describe("a litmus scenario (arm64): its condition and verdicts"),
};

export const CheckJson = z
  .discriminatedUnion("verdict", [
    z.object({ ...checkBase, verdict: z.literal("verified") }),
    z.object({
      ...checkBase,
      verdict: z.literal("incomplete"),
      reason: z.enum([
        "max-executions",
        "max-seconds",
        "max-memory",
        "max-steps",
        "interrupted",
        "missing-shards",
      ]),
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
  pages: z.number().int().describe("pages of the populated region mprotect'ed"),
  ptes: z.number().int().describe("PTEs the mprotect changed"),
  counters,
  cycles: z.number().describe("the mprotect's cost under the cycle table"),
  cyclesPerPte: z.number(),
});

const weights = z
  .record(z.string(), z.number())
  .describe("cycles per event, by counter name (see src/machine/ledger.ts)");
const weightSources = z
  .record(z.string(), z.string())
  .describe("where each weight comes from (default, measured, fitted, or the --costs file)");

const clock = z
  .object({
    cyclesPerNs: z.number().describe("cycles per nanosecond used to turn times into cycles"),
    hz: z.number(),
    method: z.string().describe("how the rate was found (TSC against CLOCK_MONOTONIC, or /proc/cpuinfo)"),
  })
  .describe("the clock turning the kernel's nanoseconds into cycles");

const costsTable = {
  costs: weights.describe("the cycle table used: cycles per event, by counter name"),
  backends: z.array(z.string()).describe("the backends compared, in column order"),
  pages: z.array(z.number().int()).describe("the region sizes, in pages"),
  rows: z.array(costsRow).describe("one mprotect(PROT_READ) per backend and size (missing when interrupted)"),
  batch: z
    .object({
      backend: z.string(),
      pages: z.number().int(),
      rows: z.array(
        z.object({
          batch: z.number().int().describe("PTE updates per multicall"),
          counters,
          cycles: z.number(),
          cyclesPerPte: z.number(),
        }),
      ),
    })
    .describe("the cost by multicall batch size"),
  legacyOverSeed: z
    .object({ pages: z.number().int(), ratio: z.number() })
    .nullable()
    .describe("xen-legacy / xen cycles per PTE at the largest size (null when either is missing)"),
};

const comparisonRow = z.object({
  pages: z.number().int(),
  direction: z.enum(["ro", "rw"]).describe("ro: mprotect(PROT_READ) of the populated range; rw: back"),
  modelCyclesPerPte: z.number(),
  kernelCyclesPerPte: z.number().nullable().describe("null when the kernel was not measured"),
  kernelNsPerPte: z.number().nullable(),
  ratio: z.number().nullable().describe("model / kernel (null without a kernel figure)"),
  spread: z
    .number()
    .nullable()
    .describe("the kernel's calls: interquartile range over the figure compared (null: not measured)"),
});

const opRow = z.object({
  op: z
    .enum(["munmap", "fault-read", "fault-write", "fault-wp"])
    .describe("munmap of populated pages; first read, first write, write after read of an untouched page"),
  pages: z.number().int().describe("pages unmapped, or faulted in (one fault each)"),
  modelCycles: z.number().describe("the model, cycles per PTE (munmap) or per fault"),
  kernelCycles: z.number().nullable(),
  kernelNs: z.number().nullable(),
  ratio: z.number().nullable().describe("model / kernel"),
  spread: z.number().nullable().describe("interquartile range over the figure compared (null: not measured)"),
});

const hostRecord = z
  .object({
    hostname: z.string().optional(),
    kernel: z.string().optional(),
    cpu: z.string().optional(),
    cpus: z.number().optional(),
    cpuMHz: z.number().optional().describe("/proc/cpuinfo's MHz"),
    clockHz: z.number().optional().describe("the measured TSC rate"),
    bootId: z.string().optional().describe("/proc/sys/kernel/random/boot_id"),
    date: z.string().optional(),
  })
  .describe("a machine as a cost table records it");
export const Arm64CostsJson = z
  .object({
    schema: z.literal("ptesim.bench-costs-arm64/1"),
    arch: z.literal("arm64"),
    costsFile: z.string().nullable().describe("the --costs file whose weights override ARM64_COSTS, or null"),
    ignored: z
      .array(z.string())
      .describe(
        "counters the --costs file sets that the arm64 model does not charge (x86, Xen, kernel work)",
      ),
    backends: z.array(z.string()),
    pages: z.array(z.number().int()),
    weights: z
      .record(z.string(), z.object({ cycles: z.number(), source: z.string() }))
      .describe(
        "cycles per ledger event and where the figure comes from: ARM64_COSTS (all assumptions today) or the --costs file",
      ),
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
  .object({
    schema: z.literal("ptesim.bench-costs/1"),
    costsFile: z.string().nullable().describe("the --costs file, if any"),
    ...costsTable,
    sources: weightSources,
    native: z
      .object({
        clock: clock.nullable().describe("null when the kernel was not measured"),
        statistic: z.enum(["best", "median"]).describe("which call of each size is compared"),
        kernelNote: z.string().nullable().describe("why the real kernel was not measured, if it was not"),
        rows: z.array(comparisonRow),
        worst: z
          .number()
          .nullable()
          .describe("largest |model/kernel - 1| over the rows with a kernel figure"),
        ops: z.array(opRow).describe("munmap per PTE and the page faults per fault (empty: not measured)"),
        sched: z
          .object({ policy: z.string(), cpu: z.number(), pinned: z.boolean(), why: z.string() })
          .nullable()
          .describe("how the probes ran: SCHED_FIFO pinned ('fifo') or the normal class ('other', why)"),
        loadAverage: z.string().nullable().describe("1-minute load average before and after measuring"),
      })
      .describe("the native model beside the real kernel"),
    host: z
      .object({
        table: hostRecord
          .nullable()
          .describe("the host the --costs table was calibrated on (null: none recorded)"),
        here: hostRecord,
        differs: z.array(z.string()).describe("what differs between the two"),
        sameBoot: z.boolean().nullable().describe("same boot id (null: the table records none)"),
      })
      .nullable()
      .describe("the --costs table's host against this one (null without --costs)"),
    interrupted: z.boolean().describe("stopped by Ctrl-C: the rows are those measured before"),
  })
  .meta({
    title: "ptesim bench costs --json",
    description: "mprotect cost per PTE on each backend, and the native model beside the real kernel",
  });

const nsFigure = z.number().describe("nanoseconds");

type ProbeLineType = (typeof ProbeLineSchema.options)[number];

/** One kind of probes.c's output line, as calibrate reads it (reported as it is). */
function probeLine<K extends string>(kind: K): Extract<ProbeLineType, { shape: { kind: z.ZodLiteral<K> } }> {
  return ProbeLineSchema.options.find((o) => o.shape.kind.value === kind) as Extract<
    ProbeLineType,
    { shape: { kind: z.ZodLiteral<K> } }
  >;
}
const COLD_LINE = probeLine("cold");
const SHOOTDOWN_LINE = probeLine("shootdown");

export const CalibrateJson = z
  .object({
    schema: z.literal("ptesim.calibrate/1"),
    date: z.string().describe("when it was measured (ISO 8601)"),
    host: z
      .object({
        hostname: z.string(),
        kernel: z.string(),
        cpu: z.string(),
        cpus: z.number().int(),
        loadAverage: z.string().optional().describe("the 1-minute load average before and after the probes"),
      })
      .describe("the machine measured"),
    clock,
    statistic: z.enum(["best", "median"]).describe("which call of each size was fitted"),
    costs: weights.describe("the full cost table: every counter, cycles per event"),
    sources: weightSources,
    calibrated: z.array(z.string()).describe("the counters this calibration measured or fitted"),
    fit: z
      .object({
        weights: weights.describe("the fitted weights"),
        rows: z.array(
          z.object({
            label: z.string().describe("the call, e.g. 'mprotect ro 64'"),
            measured: z.number().describe("the kernel's cycles"),
            model: z.number().describe("the model's cycles with the fitted weights"),
            ratio: z.number().describe("model / measured"),
          }),
        ),
        rmsRelativeError: z.number(),
        maxRelativeError: z.number(),
      })
      .describe("the least-squares fit over the mprotect sweep"),
    sweep: z.array(
      z.object({
        pages: z.number().int(),
        offset: z.number().int().describe("the region's offset in its 2 MiB page-table page, bytes"),
        reps: z.number().int(),
        kernelRoNs: nsFigure.describe("the kernel, ns per mprotect(PROT_READ) call"),
        kernelRwNs: nsFigure.describe("the kernel, ns per call back to PROT_READ|PROT_WRITE"),
        roCounts: counters.describe("the model's events for the PROT_READ call"),
        rwCounts: counters.describe("the model's events for the call back"),
      }),
    ),
    probes: z
      .object({
        getppidNs: nsFigure,
        mprotectLen0Ns: nsFigure,
        nochangeNs: nsFigure.describe("an mprotect that changes nothing"),
        fault: z.object({ writeNs: nsFigure, readNs: nsFigure, wpNs: nsFigure }).describe("per page"),
        shootdown: SHOOTDOWN_LINE.extend({
          alone_ro_ns: SHOOTDOWN_LINE.shape.alone_ro_ns.describe("one-page mprotect(PROT_READ) alone, ns"),
          alone_rw_ns: SHOOTDOWN_LINE.shape.alone_rw_ns.describe("and back to read-write, ns"),
          remote_ro_ns: SHOOTDOWN_LINE.shape.remote_ro_ns.describe(
            "the same while a reader runs on remote_cpu, ns",
          ),
          remote_rw_ns: SHOOTDOWN_LINE.shape.remote_rw_ns.describe("and back, with the reader, ns"),
          kept: SHOOTDOWN_LINE.shape.kept.describe("calls with the reader running throughout"),
        }).describe("a one-page mprotect alone and with a reader on another CPU (probes.c's line)"),
        munmap: z.array(
          z.object({
            pages: z.number().int(),
            medianNs: nsFigure,
            minNs: nsFigure,
            kernelNs: nsFigure.describe(
              "the figure compared: the lower of the best call and the CPU-time median",
            ),
          }),
        ),
        sched: z
          .object({ policy: z.string(), cpu: z.number(), pinned: z.boolean(), why: z.string() })
          .nullable()
          .describe("how the probes ran: SCHED_FIFO pinned ('fifo') or the normal class ('other', why)"),
        cold: z
          .array(
            z.object({
              pages: z.number().int(),
              evictBytes: z.number().describe("bytes read to evict the caches before each cold call"),
              extraRoNs: nsFigure.describe("cold - warm, ns per mprotect(PROT_READ) call"),
              extraRwNs: nsFigure.describe("cold - warm, ns per call back"),
              lines: z.number().int().describe("metadata lines the call touches (the model's count)"),
              probe: COLD_LINE.describe("probes.c's cold line, as measured"),
            }),
          )
          .describe("warm against cold mprotect: what evicting the caches adds"),
        coldCyclesPerLine: z
          .number()
          .nullable()
          .describe("what one metadata line costs from memory by the cold probe, cycles (null: undecided)"),
      })
      .describe("the other probes of the real kernel"),
    notes: z.array(z.string()).describe("weights clamped or left at their default, and why"),
    out: z.string().nullable().describe("the cost table file written (--out), if any"),
  })
  .meta({
    title: "ptesim calibrate --json",
    description: "This machine's kernel measured and the native cost weights fitted to it",
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

const lineRef = z.number().int().min(1).describe("line of the log");
const malformed = z.object({ line: lineRef, reason: z.string(), text: z.string() });

const replaySpace = z.object({
  id: z.number().int(),
  origin: z.enum(["first", "exec", "fork"]).describe("how the address space began"),
  parent: z.number().int().nullable().describe("fork: the space it is a copy of"),
  pids: z.array(z.number().int()).describe("threads that ran in it"),
  firstLine: z.number().int(),
  lastLine: z.number().int(),
  startBrk: z.number().nullable(),
  brk: z.number(),
  implied: z
    .array(
      z.object({
        start: z.number(),
        end: z.number(),
        line: z.number().int(),
        kind: z.enum(["pre-existing", "stack"]),
      }),
    )
    .describe("memory the replay inferred to exist before the recording started"),
  vmas: z.number().int().describe("VMAs at the end"),
  mapCheck: z
    .array(z.string())
    .describe("differences between the final VMA list and the map the recorded outcomes imply ([]: agrees)"),
  maps: z.array(z.string()).optional().describe("--maps: the final VMA list, /proc/PID/maps lines"),
});

const replayBackend = z.object({
  backend: z.string(),
  correct: z.boolean().describe("false for the backends broken on purpose"),
  syscalls: z.record(z.string(), z.number()).describe("replayed calls by name"),
  ptesMprotect: z.number().int().describe("PTEs changed by mprotect"),
  ptesMoved: z.number().int().describe("PTEs moved by mremap"),
  pagesTouched: z.number().int().describe("pages accessed by the populate policy"),
  pagesSkipped: z.number().int().describe("pages the per-call limit left unpopulated"),
  faults: z.number().int(),
  populated: z.number().int().describe("pages Linux's populate faulted in (MAP_POPULATE, mlock)"),
  counters,
  cycles: z.number(),
  divergences: z
    .array(
      z.object({
        line: lineRef,
        pid: z.number().int(),
        call: z.string().describe("the call as recorded"),
        expected: z.string().describe("the recorded outcome: an address, 0, or -ERRNO"),
        got: z.string().describe("the model's outcome"),
        note: z.string().optional(),
      }),
    )
    .describe("the first divergences; divergenceCount counts them all"),
  divergenceCount: z.number().int(),
  spaces: z.array(replaySpace).describe("address spaces in detail (the first, and any that differ)"),
  spacesAgreeing: z.number().int(),
  spacesDiffering: z.number().int(),
  aborted: z.string().nullable().describe("why the replay stopped early on this backend, or null"),
});

export const ReplayJson = z
  .object({
    schema: z.literal("ptesim.replay/2"),
    file: z.string().describe("the log, or - for standard input"),
    verdict: z.enum(["match", "diverged"]).describe("diverged: an outcome differs (exit 1)"),
    populate: z.enum(POPULATE_POLICIES).describe("which pages the replay accessed"),
    faultsReplayed: z.number().int().describe("page-fault lines of the log replayed as accesses"),
    populateChosen: z.boolean().describe("the policy was given with --populate"),
    lines: z.number().int().describe("lines read"),
    calls: z.record(z.string(), z.number()).describe("calls in the log by name, replayed or not"),
    unknown: z.record(z.string(), z.number()).describe("calls skipped (not modelled), by name"),
    malformed: z.array(malformed).describe("the first lines that do not read as strace output"),
    malformedCount: z.number().int(),
    incomplete: z
      .array(z.object({ line: lineRef, pid: z.number().int(), name: z.string() }))
      .describe("the first calls without a result in the log (not replayed)"),
    incompleteCount: z.number().int(),
    truncated: malformed.nullable().describe("the last line, if the log ends inside it"),
    spaceCount: z.number().int().describe("address spaces in the recording"),
    peakLiveSpaces: z.number().int(),
    processTracking: z.boolean().describe("fork and exec followed from recorded process calls"),
    fdTracking: z.boolean().describe("file descriptors followed from recorded open/dup/close calls"),
    mmapMinAddr: z.number().int().describe("vm.mmap_min_addr the replay ended with"),
    notes: z.array(z.string()).describe("how threads were attributed to address spaces where it was a guess"),
    notesOmitted: z.number().int(),
    interrupted: z
      .object({ line: z.number().int().describe("the last line replayed") })
      .nullable()
      .describe("stopped by Ctrl-C: the figures cover the log up to that line"),
    backends: z.array(replayBackend),
  })
  .meta({
    title: "ptesim replay --json",
    description: "A recorded program's memory syscalls replayed on each backend",
  });

/** `ptesim check --shards N --json`: tokens of disjoint subtrees to check separately. */
export const ShardsJson = z
  .object({
    schema: z.literal("ptesim.shards/1"),
    mode: z.enum(["reduced", "por", "exhaustive"]),
    depth: z.number().int().describe("decisions fixed by each token"),
    head: z
      .enum(["verified", "violated", "incomplete"])
      .describe("the verdict of the executions that end above the shards"),
    headExecutions: z.number().int(),
    shards: z.array(z.string()).describe("tokens for ptesim check --shard TOKEN"),
  })
  .meta({ title: "ptesim check --shards --json", description: "Shard tokens for a split check" });

export const ViewJson = z
  .object({
    schema: z.literal("ptesim.view/1"),
    url: z.string().describe("where the playground is served (printed once it listens)"),
  })
  .meta({ title: "ptesim view --json", description: "The playground's address (port 0: the one chosen)" });

const location = {
  file: z.string().optional(),
  line: z.number().int().min(1).optional(),
  col: z.number().int().min(1).optional(),
};

export const ErrorJson = z
  .object({
    schema: z.literal("ptesim.error/1"),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).describe(
      Object.entries(ERROR_CODES)
        .map(([c, m]) => `${c}: ${m}`)
        .join("; "),
    ),
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

const VariantJson = z.object({
  backend: z.string(),
  scenario: z.string().describe("the scenario file checked"),
  verdict: z.enum(["verified", "violated", "incomplete"]),
  property: z.string().nullable().describe("violated: the property found"),
  rule: z.string().nullable().describe("transaction-contract: the rule found"),
  states: z.number().int(),
  executions: z.number().int(),
  elapsedMs: z.number().int(),
  reproduce: z.string().nullable().describe("violated: the command that replays the counterexample"),
});

/** The shape of `ptesim bugs --json` (documented in scenarios/bugs/README.md). */
export const BugsJson = z
  .object({
    schema: z.literal("ptesim.bugs/1"),
    dir: z.string().describe("the catalogue directory"),
    summary: z.object({
      entries: z.number().int(),
      runnable: z.number().int(),
      behave: z.number().int().describe("buggy variant VIOLATED with the entry's property, fix VERIFIED"),
      misbehave: z.number().int(),
      notModelled: z.number().int().describe("listed, not run, not counted as passes"),
      unchecked: z.number().int().describe("runnable entries Ctrl-C kept from being checked (not judged)"),
    }),
    interrupted: z.boolean().describe("stopped by Ctrl-C: the entries listed are those finished"),
    bugs: z.array(
      z.object({
        name: z.string(),
        title: z.string(),
        year: z.number().int().nullable(),
        history: z.enum(["shipped", "counterfactual", "protocol-mutant", "unconfirmed"]),
        arch: z.string(),
        system: z.string(),
        property: z.string(),
        rule: z.string().nullable(),
        fix: z.object({
          repo: z.string(),
          commit: z.string().nullable(),
          title: z.string().nullable(),
          author: z.string().nullable().optional(),
          date: z.string().nullable().optional(),
        }),
        provenance: z
          .object({
            historyNote: z.string().nullable().describe("how sure the history is, and why"),
            fixes: z
              .object({ commit: z.string().nullable(), title: z.string().nullable() })
              .nullable()
              .describe("the commit that introduced the bug, when known"),
            related: z.array(
              z.object({ repo: z.string(), commit: z.string().nullable(), title: z.string() }),
            ),
            verified: z
              .record(z.string(), z.boolean())
              .describe("for each fact given: whether it was checked against a source"),
            sources: z.array(z.object({ where: z.string(), what: z.string() })),
            explanation: z.string().describe("the race, in a few sentences"),
            restated: z.string().describe("how the model expresses the bug"),
            needs: z.array(z.string()).describe("model capabilities the entry needs"),
          })
          .optional()
          .describe("the catalogue entry's provenance (added within ptesim.bugs/1)"),
        status: z.enum(["behaves", "misbehaves", "not-modelled"]),
        missing: z.array(z.string()).describe("not-modelled: unmet needs and missing variants"),
        problems: z.array(z.string()).describe("misbehaves: why"),
        buggy: VariantJson.nullable(),
        fixed: VariantJson.nullable(),
      }),
    ),
  })
  .meta({
    title: "ptesim bugs --json",
    description: "The real-bug zoo: each entry's buggy and fixed variants checked",
  });

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
  "calibrate.schema.json": CalibrateJson,
  "shards.schema.json": ShardsJson,
  "view.schema.json": ViewJson,
} as const;

/** The JSON Schema text committed as schemas/NAME (stable: the generator and the test share it). */
export function jsonSchemaText(name: keyof typeof OUTPUT_SCHEMAS): string {
  return `${JSON.stringify(z.toJSONSchema(OUTPUT_SCHEMAS[name]), null, 2)}\n`;
}
