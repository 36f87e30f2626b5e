/**
 * Whether a process with this pid runs on this machine (it may belong to
 * another user: signal 0 then fails with EPERM, which still means it runs).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
