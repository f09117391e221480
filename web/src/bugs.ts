// The real-bug zoo's page (`ptesim bugs --html`): the `ptesim.bugs/1` document's entries, each
// with its provenance and both verdicts, and, for a buggy variant found VIOLATED, its
// counterexample (the embedded `ptesim.check/1` document) in the counterexample viewer.
// The selected entry and step are in the address (#bug=NAME&step=N): a link shows the same.
import { copyButton, h } from "./dom.js";
import type { BugsDoc, BugVariantDoc, CheckDoc } from "./types.js";
import { noHandle, renderCounterexample, type ViewerHandle } from "./viewer.js";

const STATUS_TEXT: Record<string, string> = {
  behaves: "behaves",
  misbehaves: "MISBEHAVES",
  "not-modelled": "not modelled yet",
};

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

function variantVerdict(v: BugVariantDoc | null): string {
  if (v === null) return "—";
  return v.verdict === "violated" ? `VIOLATED ${v.property ?? ""}`.trim() : v.verdict.toUpperCase();
}

/** The address's `#bug=NAME&step=N`, parsed. */
export function parseHash(hash: string): { bug?: string; step?: number } {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const step = Number(p.get("step"));
  return {
    ...(p.get("bug") ? { bug: p.get("bug")! } : {}),
    ...(p.has("step") && Number.isInteger(step) && step >= 0 ? { step } : {}),
  };
}

function link(where: string): Node {
  return /^https?:\/\//.test(where)
    ? h("a", { href: where, rel: "noreferrer" }, where)
    : h("code", {}, where);
}

function variantBlock(which: "buggy" | "fixed", v: BugVariantDoc | null): HTMLElement {
  if (v === null)
    return h("div", { class: "variant" }, h("h4", {}, `${which} variant`), h("p", {}, "not run"));
  const ok = which === "buggy" ? v.verdict === "violated" : v.verdict === "verified";
  return h(
    "div",
    { class: "variant", "data-testid": `variant-${which}` },
    h(
      "h4",
      {},
      `${which === "buggy" ? "Buggy" : "Fixed"} variant: `,
      h(
        "span",
        {
          class: `verdict verdict-${v.verdict}`,
          "data-testid": `verdict-${which}`,
        },
        variantVerdict(v),
      ),
      h("span", { class: "muted" }, ok ? " as history says" : " (not what history says)"),
    ),
    h(
      "dl",
      { class: "facts" },
      ...(
        [
          ["backend", v.backend],
          ["scenario", v.scenario],
          ["states", v.states.toLocaleString("en")],
          ["executions", v.executions.toLocaleString("en")],
          ["time", seconds(v.elapsedMs)],
          ...(v.rule ? [["rule", v.rule]] : []),
        ] as [string, string][]
      ).map(([k, val]) => h("div", {}, h("dt", {}, k), h("dd", {}, val))),
    ),
    v.reproduce
      ? h(
          "div",
          { class: "repro" },
          h("span", { class: "repro-label" }, "replay"),
          h("code", { "data-testid": `reproduce-${which}` }, v.reproduce),
          copyButton(v.reproduce),
        )
      : null,
  );
}

export function renderBugs(
  root: HTMLElement,
  doc: BugsDoc,
  checks: Record<string, CheckDoc> = {},
  hashes = true,
): ViewerHandle {
  const s = doc.summary;
  const allBehave = s.misbehave === 0;
  root.append(
    h(
      "header",
      { class: "summary" },
      h(
        "div",
        { class: "headline" },
        h(
          "span",
          { class: `verdict verdict-${allBehave ? "verified" : "violated"}`, "data-testid": "verdict" },
          allBehave ? "ALL BEHAVE" : `${s.misbehave} MISBEHAVE`,
        ),
        h(
          "span",
          { class: "property" },
          `The real-bug zoo: ${s.behave} of ${s.runnable} runnable entries behave (buggy variant found, fix verified)`,
        ),
      ),
      h(
        "dl",
        { class: "facts" },
        ...(
          [
            ["catalogue", doc.dir],
            ["entries", String(s.entries)],
            ["runnable", String(s.runnable)],
            ["behave", String(s.behave)],
            ["misbehave", String(s.misbehave)],
            ["not modelled yet", `${s.notModelled} (listed, not counted as passes)`],
          ] as [string, string][]
        ).map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))),
      ),
    ),
  );

  const rowsBody = h("tbody", {});
  const table = h(
    "div",
    { class: "table-wrap bugs-table" },
    h(
      "table",
      { class: "data", "data-testid": "bugs-table" },
      h("caption", { class: "section-title" }, "Catalogue (choose an entry)"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["bug", "year", "arch", "property", "buggy", "fixed", "status"].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      rowsBody,
    ),
  );
  const entryHost = h("section", {
    class: "bug-entry",
    "data-testid": "bug-entry",
    "aria-live": "polite",
    tabindex: -1,
  });
  root.append(h("div", { class: "bugs-layout" }, table, entryHost));

  const buttons = new Map<string, HTMLButtonElement>();
  for (const b of doc.bugs) {
    const btn = h(
      "button",
      { type: "button", class: "link", "data-bug": b.name, onclick: () => select(b.name, undefined, true) },
      b.name,
    );
    buttons.set(b.name, btn);
    rowsBody.append(
      h(
        "tr",
        { class: `status-${b.status}`, "data-bug": b.name },
        h("th", { scope: "row" }, btn),
        h("td", {}, b.year === null ? "?" : String(b.year)),
        h("td", {}, b.arch),
        h("td", {}, b.property),
        h("td", {}, variantVerdict(b.buggy)),
        h("td", {}, variantVerdict(b.fixed)),
        h("td", { class: `status status-${b.status}` }, STATUS_TEXT[b.status] ?? b.status),
      ),
    );
  }

  let viewer: ViewerHandle = noHandle;
  let current: string | null = null;

  function setHash(name: string, step?: number): void {
    if (!hashes) return;
    const want = `#bug=${encodeURIComponent(name)}${step === undefined ? "" : `&step=${step}`}`;
    if (location.hash !== want) history.replaceState(null, "", want);
  }

  function select(name: string, step?: number, focus = false): void {
    const b = doc.bugs.find((x) => x.name === name);
    if (b === undefined) return;
    for (const [n, btn] of buttons) {
      if (n === name) btn.setAttribute("aria-current", "true");
      else btn.removeAttribute("aria-current");
      btn.closest("tr")?.classList.toggle("selected", n === name);
    }
    if (current !== name) {
      current = name;
      viewer.destroy();
      viewer = noHandle;
      entryHost.replaceChildren(...entry(b));
      const cx = checks[name];
      if (cx !== undefined) {
        const host = h("div", { class: "bug-cx", "data-testid": "bug-counterexample" });
        entryHost.append(h("h3", {}, "The buggy variant's counterexample"), host);
        viewer = renderCounterexample(host, cx, {
          ...(step === undefined ? {} : { initialStep: step }),
          onSelect: (i) => setHash(name, i),
        });
      } else setHash(name);
    } else if (step !== undefined) viewer.select(step);
    if (focus) entryHost.focus();
  }

  function entry(b: BugsDoc["bugs"][number]): Node[] {
    const p = b.provenance;
    const out: Node[] = [];
    out.push(
      h("h2", { "data-testid": "bug-title" }, b.title),
      h(
        "p",
        { class: "muted" },
        h("code", {}, b.name),
        ` · ${b.history} · ${b.year ?? "year unknown"} · ${b.arch} · ${b.system} · property `,
        h("strong", {}, b.property),
        b.rule ? ` (${b.rule})` : "",
        " · ",
        h("span", { class: `status status-${b.status}`, "data-testid": "bug-status" }, STATUS_TEXT[b.status]),
      ),
    );
    if (p?.explanation) out.push(h("p", { class: "explanation" }, p.explanation));
    if (b.problems.length > 0)
      out.push(
        h(
          "div",
          { class: "lost-note", role: "note" },
          h("strong", {}, "Misbehaves: "),
          h("ul", {}, ...b.problems.map((x) => h("li", {}, x))),
        ),
      );
    if (b.missing.length > 0)
      out.push(
        h(
          "p",
          { class: "note-box" },
          "Not modelled yet: needs ",
          b.missing.flatMap((m, i) => [i > 0 ? ", " : "", h("code", {}, m)]),
          ". Listed, not run, not counted as a pass.",
        ),
      );
    out.push(h("div", { class: "variants" }, variantBlock("buggy", b.buggy), variantBlock("fixed", b.fixed)));
    // Provenance.
    const prov: Node[] = [];
    const f = b.fix;
    prov.push(
      h(
        "dl",
        { class: "facts prov" },
        h(
          "div",
          {},
          h("dt", {}, "fixed by"),
          h(
            "dd",
            { "data-testid": "bug-fix" },
            `${f.repo} `,
            f.commit ? h("code", {}, f.commit.slice(0, 12)) : "(commit unknown)",
            f.title ? ` “${f.title}”` : "",
            f.author ? ` — ${f.author}` : "",
            f.date ? `, ${f.date}` : "",
          ),
        ),
        p?.fixes
          ? h(
              "div",
              {},
              h("dt", {}, "introduced by"),
              h(
                "dd",
                {},
                p.fixes.commit ? h("code", {}, p.fixes.commit.slice(0, 12)) : "(commit unknown)",
                p.fixes.title ? ` “${p.fixes.title}”` : "",
              ),
            )
          : null,
      ),
    );
    if (p !== undefined) {
      if (p.historyNote) prov.push(h("p", {}, h("strong", {}, "History: "), p.historyNote));
      if (p.related.length > 0)
        prov.push(
          h("h4", {}, "Related"),
          h(
            "ul",
            {},
            ...p.related.map((r) =>
              h("li", {}, `${r.repo} `, r.commit ? h("code", {}, r.commit.slice(0, 12)) : "", ` ${r.title}`),
            ),
          ),
        );
      prov.push(
        h("h4", {}, "Sources"),
        h(
          "ul",
          { "data-testid": "bug-sources" },
          ...p.sources.map((x) => h("li", {}, link(x.where), ": ", x.what)),
        ),
      );
      const facts = Object.entries(p.verified);
      if (facts.length > 0)
        prov.push(
          h("h4", {}, "Facts checked against a source"),
          h(
            "ul",
            { class: "checked-facts" },
            ...facts.map(([k, ok]) =>
              h(
                "li",
                { class: ok ? "fact-ok" : "fact-unverified" },
                ok ? "✓ " : "? ",
                h("code", {}, k),
                ok ? " checked" : " NOT verified",
              ),
            ),
          ),
        );
      prov.push(h("h4", {}, "How the model expresses it"), h("p", {}, p.restated));
      if (p.needs.length > 0)
        prov.push(
          h(
            "p",
            { class: "muted" },
            "Needs: ",
            p.needs.flatMap((n, i) => [i > 0 ? ", " : "", h("code", {}, n)]),
          ),
        );
    }
    out.push(h("details", { class: "provenance", open: true }, h("summary", {}, "Provenance"), ...prov));
    return out;
  }

  const fromHash = () => {
    const want = parseHash(location.hash);
    if (want.bug !== undefined && doc.bugs.some((b) => b.name === want.bug)) select(want.bug, want.step);
    else if (current === null) {
      // The first entry with a counterexample, else the first.
      const first = doc.bugs.find((b) => checks[b.name] !== undefined) ?? doc.bugs[0];
      if (first) select(first.name);
    }
  };
  if (hashes) window.addEventListener("hashchange", fromHash);
  if (doc.bugs.length > 0) fromHash();
  return {
    select: (i) => viewer.select(i),
    destroy: () => {
      viewer.destroy();
      if (hashes) window.removeEventListener("hashchange", fromHash);
    },
  };
}
