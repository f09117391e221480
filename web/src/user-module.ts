// A user's backend module in the playground's worker: loaded from its text (a Blob URL), checked
// and guarded by the same code as the CLI's (src/backends/user-module.ts). The guard catches
// throws, bad values and retry loops that call primitives (a step budget); a loop that never
// calls one is stopped from outside, by the page: the worker tells it which operation it enters
// (`alive` messages), and the page ends the worker when they stop (playground-main.ts).
import { type BackendModule, UserModuleError, userBackendFromModule } from "../../src/index.js";

/** How the page refers to the module: as the CLI's `--backend ./FILE` would. */
export function moduleSpec(file: string): string {
  return `./${file}`;
}

/** `blob:...:L:C` in a message or stack, as `FILE:L:C`; the first such position. */
function locate(text: string, url: string, file: string): { text: string; at: string | null } {
  let at: string | null = null;
  const out = text.split(url).join(file);
  const m = new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:(\\d+):(\\d+)`).exec(out);
  if (m) at = `${file}:${m[1]}:${m[2]}`;
  return { text: out, at };
}

/** Load the module's text and turn its export into a guarded backend; errors are the user's. */
export async function loadUserBackend(
  m: { file: string; text: string },
  onEnter: (op: string) => void,
): Promise<BackendModule> {
  const spec = moduleSpec(m.file);
  const url = URL.createObjectURL(new Blob([m.text], { type: "text/javascript" }));
  let mod: Record<string, unknown>;
  onEnter("load");
  try {
    mod = (await import(/* @vite-ignore */ url)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error;
    const msg = String(err?.message ?? e);
    if (/resolve module specifier|dynamically imported module/i.test(msg) && /\bimport\b/.test(m.text))
      throw new UserModuleError(
        `${spec}: the playground loads one self-contained module, and this one imports another (${locate(msg, url, m.file).text}); inline what it imports, or use the command line`,
      );
    const where = locate(String(err?.stack ?? ""), url, m.file).at;
    throw new UserModuleError(
      `${where ?? spec}: the module does not load: ${err?.name ?? "Error"}: ${locate(msg, url, m.file).text}`,
    );
  } finally {
    URL.revokeObjectURL(url);
  }
  const seen = new Set<string>();
  let last = 0;
  return userBackendFromModule(mod, spec, {
    watch: {
      // The first call of each operation, then at most one message each 100 ms: cheap, and the
      // page learns the operation a module hangs in when it hangs in its first call of it.
      enter(_module, op) {
        const now = performance.now();
        if (!seen.has(op) || now - last >= 100) {
          seen.add(op);
          last = now;
          onEnter(op);
        }
      },
      leave() {},
    },
  });
}
