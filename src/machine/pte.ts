// Transitional: x86-64's PTE format lives in src/arch/x86/pte.ts (the arch layer, see
// docs/ARCH.md); this re-export keeps existing imports working until they are moved.
export * from "../arch/x86/pte.js";
