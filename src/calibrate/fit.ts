// Fitting the cost model's weights to measured times. Pure (no node: imports).
//
// The model: an operation that the simulation performs with event counts c_j (from the cost
// ledger) costs
//
//     cycles = sum over events j of  w_j * c_j
//
// Some weights are known beforehand (measured by a probe of their own, or assumptions); the others
// are fitted over a set of measured operations i (times y_i in cycles) by non-negative weighted
// least squares on the relative error:
//
//     minimise  sum_i ( (sum_{j unknown} w_j c_ij  -  (y_i - sum_{k known} w_k c_ik)) / y_i )^2
//     subject to  w_j >= 0
//
// Relative, because the sizes span 1 to 262,144 pages: an absolute fit would be decided by the
// largest calls alone and could miss the small ones by any factor. The solver is ml-fcnnls (fast
// combinatorial NNLS, on ml-matrix).
import { fcnnlsVector } from "ml-fcnnls";
import { Matrix } from "ml-matrix";
import type { CounterName } from "../machine/ledger.js";
import type { Counts } from "./sim-probes.js";

export interface Observation {
  /** What was measured, e.g. "mprotect ro 512". */
  label: string;
  /** The model's event counts for it. */
  counts: Counts;
  /** The measured cost, cycles. */
  cycles: number;
}

export interface FitResult {
  /** Fitted weights, cycles per event. */
  weights: Partial<Record<CounterName, number>>;
  /** Per observation: the model's prediction with the fitted and known weights, and model/measured. */
  rows: { label: string; measured: number; model: number; ratio: number }[];
  /** Root mean square of the relative errors (model/measured - 1). */
  rmsRelativeError: number;
  /** Largest |model/measured - 1|. */
  maxRelativeError: number;
}

/** Predicted cycles of `counts` under `weights` (events without a weight cost nothing). */
export function predict(counts: Counts, weights: Partial<Record<CounterName, number>>): number {
  let s = 0;
  for (const [k, v] of Object.entries(counts)) s += (v as number) * (weights[k as CounterName] ?? 0);
  return s;
}

/**
 * Fits `unknown` weights (non-negative) to the observations, the `known` weights held fixed.
 * Throws a RangeError when the observations cannot decide a weight (its event never occurs).
 */
export function fitWeights(
  observations: readonly Observation[],
  unknown: readonly CounterName[],
  known: Partial<Record<CounterName, number>>,
): FitResult {
  if (observations.length < unknown.length)
    throw new RangeError(`fit: ${unknown.length} weights need at least as many observations`);
  for (const u of unknown)
    if (known[u] !== undefined) throw new RangeError(`fit: "${u}" is both fitted and held`);
  for (const u of unknown)
    if (!observations.some((o) => (o.counts[u] ?? 0) > 0))
      throw new RangeError(`fit: no observation counts "${u}", so its weight cannot be fitted`);
  for (const o of observations)
    if (!(o.cycles > 0) || !Number.isFinite(o.cycles))
      throw new RangeError(`fit: "${o.label}" has no positive measured cost`);
  const X = observations.map((o) => unknown.map((u) => (o.counts[u] ?? 0) / o.cycles));
  const y = observations.map((o) => (o.cycles - predict(o.counts, known)) / o.cycles);
  const { K } = fcnnlsVector(new Matrix(X), y);
  const weights: Partial<Record<CounterName, number>> = {};
  unknown.forEach((u, j) => {
    weights[u] = Math.max(0, K.get(j, 0));
  });
  const all = { ...known, ...weights };
  const rows = observations.map((o) => {
    const model = predict(o.counts, all);
    return { label: o.label, measured: o.cycles, model, ratio: model / o.cycles };
  });
  const errs = rows.map((r) => r.ratio - 1);
  return {
    weights,
    rows,
    rmsRelativeError: Math.sqrt(errs.reduce((s, e) => s + e * e, 0) / Math.max(1, errs.length)),
    maxRelativeError: Math.max(0, ...errs.map(Math.abs)),
  };
}
