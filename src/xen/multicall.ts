// The guest's per-CPU multicall buffers (Linux arch/x86/xen/multicalls.c). Pure.
//
// Each CPU has room for `batch` multicall entries (MC_BATCH, 32) and `argBytes` bytes of
// argument space (MC_ARGS = MC_BATCH * 16 = 512). Adding an entry flushes the buffer first when
// the entries or the argument space would overflow. xen_extend_mmu_update appends a request to
// the previous entry when that entry is an mmu_update (coalescing), so a run of PTE updates
// fills the argument space: 512 / 16 = 32 requests per HYPERVISOR_multicall.
//
// Two rule sets:
//   "2008"    Linux 2.6.26 (the seed's kernel): the argument space may be filled exactly
//             (`argidx + size > MC_ARGS` flushes) and every flush is a HYPERVISOR_multicall.
//   "current" today's Linux: the test is `argidx + size >= MC_ARGS` (31 mmu_updates per
//             batch) and a batch of one entry bypasses the multicall and is issued directly.
import {
  __HYPERVISOR_mmu_update,
  __HYPERVISOR_mmuext_op,
  type Hypervisor,
  MMU_UPDATE_BYTES,
  type MmuextOp,
  type MmuUpdate,
  type MulticallEntry,
  XenError,
} from "./hypervisor.js";

export type MulticallRules = "2008" | "current";

export interface MulticallConfig {
  /** Entries per CPU (MC_BATCH). */
  batch: number;
  /** Argument bytes per CPU (MC_ARGS). */
  argBytes: number;
  /** Append consecutive mmu_update requests to one entry (xen_mc_extend_args). */
  coalesce: boolean;
  rules: MulticallRules;
}

class McBuffer {
  mcidx = 0;
  argidx = 0;
  nreq = 0;
  readonly entries: MulticallEntry[] = [];
  readonly reqs: MmuUpdate[] = [];
  readonly ext: MmuextOp[] = [];
}

export class MulticallBuffers {
  private readonly bufs: McBuffer[] = [];
  /** Per CPU: 1 while its buffer is being issued (flush), for the checker's keys. */
  private readonly issuing: Uint8Array;
  /** Batches issued (for tests and reports): by HYPERVISOR_multicall or as a single direct call. */
  flushes = 0;

  constructor(
    private readonly hv: Hypervisor,
    ncpus: number,
    readonly cfg: MulticallConfig,
  ) {
    if (!Number.isInteger(cfg.batch) || cfg.batch < 1) throw new RangeError("batch must be an integer >= 1");
    if (!Number.isInteger(cfg.argBytes) || cfg.argBytes < MMU_UPDATE_BYTES)
      throw new RangeError(`argBytes must be an integer >= ${MMU_UPDATE_BYTES}`);
    for (let i = 0; i < ncpus; i++) this.bufs.push(new McBuffer());
    this.issuing = new Uint8Array(ncpus);
  }

  /**
   * Everything queued on every CPU, canonically (for the checker's state keys): the entries
   * below mcidx and the requests below nreq only. Slots past them are left over from batches
   * already issued and are overwritten before they are used again (entry, pushReq), so they
   * are not part of the state. While a buffer is being issued, what the hypervisor has done
   * is dead too: of the entries before the one it is at only the result is read again (flush
   * checks it), and the requests before the one it is at are never read again. Written out by
   * hand: it is computed at every new state, and serialising the objects (where each entry
   * refers to the whole request array) cost an eighth of a Xen check's time.
   */
  stateKey(): string {
    let s = "";
    for (let cpu = 0; cpu < this.bufs.length; cpu++) {
      const b = this.bufs[cpu];
      const done = this.doneEntries(cpu);
      s += `${b.mcidx},${b.argidx},${b.nreq}:`;
      for (let i = 0; i < b.mcidx; i++) {
        const e = b.entries[i];
        if (i < done) {
          s += `d${e.op},${e.result}/`;
          continue;
        }
        s += `${e.op},${e.start},${e.count},${e.result}`;
        const x = e.ext;
        s += x === null ? "/" : `,${x.cmd},${x.linearAddr},${x.vcpumask.join(".")}/`;
      }
      const live = this.firstLiveRequest(cpu);
      s += `:${live}:`;
      for (let i = live; i < b.nreq; i++) s += `${b.reqs[i].ptr},${b.reqs[i].val};`;
      s += "|";
    }
    return s;
  }

  /**
   * The same as numbers (the checker's key buffer): per CPU mcidx, argidx, nreq, the entries
   * done and the first live request (see stateKey), then each entry (done: op and result;
   * live: op, start, count, result, and 0, or 1 and the mmuext op with its vCPU count and mask),
   * then each live request (ptr, val). The counts come first, so the layout is fixed.
   */
  stateKeyInto(out: { push(v: number): void }): void {
    for (let cpu = 0; cpu < this.bufs.length; cpu++) {
      const b = this.bufs[cpu];
      const done = this.doneEntries(cpu);
      const live = this.firstLiveRequest(cpu);
      out.push(b.mcidx);
      out.push(b.argidx);
      out.push(b.nreq);
      out.push(done);
      out.push(live);
      for (let i = 0; i < b.mcidx; i++) {
        const e = b.entries[i];
        out.push(e.op);
        if (i < done) {
          out.push(e.result);
          continue;
        }
        out.push(e.start);
        out.push(e.count);
        out.push(e.result);
        const x = e.ext;
        if (x === null) out.push(0);
        else {
          out.push(1);
          out.push(x.cmd);
          out.push(x.linearAddr);
          out.push(x.vcpumask.length);
          for (const c of x.vcpumask) out.push(c);
        }
      }
      for (let i = live; i < b.nreq; i++) {
        out.push(b.reqs[i].ptr);
        out.push(b.reqs[i].val);
      }
    }
  }

  /** The entries of `cpu`'s buffer the hypervisor has finished (0 unless it is being issued). */
  private doneEntries(cpu: number): number {
    if (this.issuing[cpu] === 0) return 0;
    const e = this.hv.entryAt(cpu);
    return Math.max(e, 0);
  }

  /** The first request of `cpu`'s buffer the hypervisor may still read. */
  private firstLiveRequest(cpu: number): number {
    if (this.issuing[cpu] === 0) return 0;
    const b = this.bufs[cpu];
    const r = this.hv.requestAt(cpu);
    if (r >= 0) return r;
    const e = this.doneEntries(cpu);
    return e < b.mcidx ? b.entries[e].start : b.nreq;
  }

  /** Whether an update of the entry at machine address `maddr` is queued, not yet issued, on any CPU. */
  queuesUpdate(maddr: number): boolean {
    for (let cpu = 0; cpu < this.bufs.length; cpu++) {
      const b = this.bufs[cpu];
      for (let i = this.firstLiveRequest(cpu); i < b.nreq; i++) {
        const ptr = b.reqs[i].ptr;
        if (ptr - (ptr % 8) === maddr) return true;
      }
    }
    return false;
  }

  /** Would an argument area of `end` bytes overflow the buffer? */
  private full(end: number): boolean {
    return this.cfg.rules === "2008" ? end > this.cfg.argBytes : end >= this.cfg.argBytes;
  }

  /**
   * __xen_mc_entry(size): a fresh entry, flushing first if the entries or the argument space
   * would overflow. An argument block larger than the whole area (only with a tiny argBytes) is
   * accepted alone in an empty buffer, where Linux would BUG.
   */
  private entry(cpu: number, op: number, size: number): MulticallEntry {
    const b = this.bufs[cpu];
    let a = Math.ceil(b.argidx / 8) * 8;
    if (b.mcidx > 0 && (b.mcidx >= this.cfg.batch || this.full(a + size))) {
      this.flush(cpu);
      a = 0;
    }
    if (b.entries.length === b.mcidx)
      b.entries.push({ op: 0, reqs: b.reqs, start: 0, count: 0, ext: null, result: 0 });
    const e = b.entries[b.mcidx++];
    e.op = op;
    e.start = b.nreq;
    e.count = 0;
    e.ext = null;
    e.result = 0;
    b.argidx = a + size;
    return e;
  }

  private pushReq(b: McBuffer, ptr: number, val: number): void {
    if (b.reqs.length === b.nreq) b.reqs.push({ ptr: 0, val: 0 as MmuUpdate["val"] });
    const r = b.reqs[b.nreq++];
    r.ptr = ptr;
    r.val = val as MmuUpdate["val"];
  }

  /** xen_extend_mmu_update: queue one request, appended to the previous mmu_update entry if possible. */
  extendMmuUpdate(cpu: number, ptr: number, val: number): void {
    const b = this.bufs[cpu];
    if (this.cfg.coalesce && b.mcidx > 0) {
      const last = b.entries[b.mcidx - 1];
      if (last.op === __HYPERVISOR_mmu_update && !this.full(b.argidx + MMU_UPDATE_BYTES)) {
        b.argidx += MMU_UPDATE_BYTES;
        this.pushReq(b, ptr, val);
        last.count++;
        return;
      }
    }
    const e = this.entry(cpu, __HYPERVISOR_mmu_update, MMU_UPDATE_BYTES);
    this.pushReq(b, ptr, val);
    e.count = 1;
  }

  /** xen_mc_entry + MULTI_mmuext_op with one operation of `bytes` argument bytes. */
  addMmuext(cpu: number, op: MmuextOp, bytes: number): void {
    const e = this.entry(cpu, __HYPERVISOR_mmuext_op, bytes);
    e.ext = op;
  }

  /** Entries queued on `cpu`. */
  pendingEntries(cpu: number): number {
    return this.bufs[cpu].mcidx;
  }

  /** mmu_update requests queued on `cpu`. */
  pendingUpdates(cpu: number): number {
    return this.bufs[cpu].nreq;
  }

  /** xen_mc_flush: issue everything queued on `cpu`. Throws XenError if an entry failed. */
  flush(cpu: number): void {
    const b = this.bufs[cpu];
    const n = b.mcidx;
    if (n === 0) return;
    this.flushes++;
    const hv = this.hv;
    let failed: MulticallEntry | null = null;
    this.issuing[cpu] = 1;
    try {
      if (n === 1 && this.cfg.rules === "current") {
        // Singleton multicall: bypass the multicall machinery and make the call directly.
        const e = b.entries[0];
        e.result =
          e.op === __HYPERVISOR_mmu_update
            ? hv.mmu_update(e.reqs, e.start, e.count)
            : hv.mmuext_op(e.ext === null ? [] : [e.ext]);
        if (e.result < 0) failed = e;
      } else {
        hv.multicall(b.entries, n);
        for (let i = 0; i < n && failed === null; i++) if (b.entries[i].result < 0) failed = b.entries[i];
      }
    } finally {
      this.issuing[cpu] = 0;
    }
    b.mcidx = 0;
    b.argidx = 0;
    b.nreq = 0;
    if (failed !== null)
      throw new XenError(
        failed.op === __HYPERVISOR_mmu_update ? "mmu_update" : "mmuext_op",
        -failed.result,
        `a batched call failed on CPU${cpu} (Linux: WARN in xen_mc_flush)`,
      );
  }
}
