// Transitional: x86-64's TLB lives in src/arch/x86/tlb.ts (the arch layer, see docs/ARCH.md);
// this re-export keeps existing imports working until they are moved.
export * from "../arch/x86/tlb.js";
