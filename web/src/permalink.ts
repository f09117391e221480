// The playground's state in its address (#s=...&b=...): a link that opens the same scenario,
// backend (or module), seed and exploration, and with a replay token (r=) replays that
// interleaving at once. Texts are base64url of their UTF-8: no server keeps anything.

export interface PlaygroundState {
  scenario: string;
  backend: string;
  seed: number | null;
  mode: string;
  replay: string | null;
  module: { file: string; text: string } | null;
}

function b64(text: string): string {
  let bin = "";
  for (const byte of new TextEncoder().encode(text)) bin += String.fromCharCode(byte);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64(s: string): string {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export function encodeState(st: PlaygroundState): string {
  const p = new URLSearchParams();
  p.set("s", b64(st.scenario));
  p.set("b", st.backend);
  if (st.seed !== null) p.set("seed", String(st.seed));
  p.set("mode", st.mode);
  if (st.replay !== null) p.set("r", st.replay);
  if (st.module !== null) {
    p.set("mf", st.module.file);
    p.set("m", b64(st.module.text));
  }
  return `#${p.toString()}`;
}

/** The state a hash names, null if it names none; a damaged one is an Error saying what. */
export function decodeState(hash: string): PlaygroundState | null {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const s = p.get("s");
  if (s === null) return null;
  const text = (what: string, v: string) => {
    try {
      return unb64(v);
    } catch {
      throw new Error(`this link's ${what} is damaged (not base64url of UTF-8 text): was it cut short?`);
    }
  };
  const seed = p.get("seed");
  const m = p.get("m");
  return {
    scenario: text("scenario", s),
    backend: p.get("b") ?? "naive",
    seed: seed === null || !/^\d+$/.test(seed) ? null : Number(seed),
    mode: p.get("mode") ?? "reduced",
    replay: p.get("r"),
    module: m === null ? null : { file: p.get("mf") ?? "my-backend.mjs", text: text("module", m) },
  };
}
