import type { KeyedState } from '../../src/index.js';

/** The changes epoch `epoch` makes to the crash test's state: the same in the writer and in the test. */
export function applyEpoch(state: Pick<KeyedState<string>, 'put' | 'delete'>, epoch: number): void {
  for (let i = 0; i < 200; i++) state.put(`k${(epoch * 7919 + i * 13) % 5000}`, `${epoch}:${i}`);
  state.delete(`k${(epoch * 31) % 5000}`);
}

/** The state after epochs 1..epoch. */
export function stateAt(epoch: number): Map<string, string> {
  const m = new Map<string, string>();
  const s = { put: (k: string, v: string) => void m.set(k, v), delete: (k: string) => void m.delete(k) };
  for (let e = 1; e <= epoch; e++) applyEpoch(s, e);
  return m;
}
