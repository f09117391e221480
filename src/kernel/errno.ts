// Linux errno values (asm-generic/errno-base.h). Syscalls in the simulated kernel return
// -errno on failure, as the real ones do at the syscall boundary.
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENFILE = 23;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;

const NAMES: Record<number, string> = {
  [EPERM]: "EPERM",
  [ENOENT]: "ENOENT",
  [EINTR]: "EINTR",
  [EBADF]: "EBADF",
  [EAGAIN]: "EAGAIN",
  [ENOMEM]: "ENOMEM",
  [EACCES]: "EACCES",
  [EFAULT]: "EFAULT",
  [EEXIST]: "EEXIST",
  [ENODEV]: "ENODEV",
  [EINVAL]: "EINVAL",
  [ENFILE]: "ENFILE",
  [EOVERFLOW]: "EOVERFLOW",
  [EOPNOTSUPP]: "EOPNOTSUPP",
};

/** "ENOMEM" for 12 (or -12); "E<n>" for numbers this table does not name. */
export function errnoName(e: number): string {
  const n = Math.abs(e);
  return NAMES[n] ?? `E${n}`;
}

/** The errno for a name such as "ENOMEM", or undefined. */
export function errnoFromName(name: string): number | undefined {
  for (const [k, v] of Object.entries(NAMES)) if (v === name) return Number(k);
  return undefined;
}
