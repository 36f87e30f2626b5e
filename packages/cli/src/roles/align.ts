/**
 * Aligned barriers among `parties` readers (the inputs of a processor, the
 * tables of the API role): a reader that reads the barrier of epoch E calls
 * `arrive(E)` and waits on the promise, so it reads nothing after the
 * barrier until E has arrived on every reader. The last arrival calls
 * `onAligned(E)` before anyone is released: at that moment everything
 * before the barrier on every reader has been handed on, and nothing after
 * it.
 */
export function alignBarriers(
  parties: number,
  onAligned: (epoch: bigint) => void,
): (epoch: bigint) => Promise<void> {
  const waiting = new Map<bigint, { arrived: number; release: () => void; released: Promise<void> }>();
  return (epoch) => {
    let a = waiting.get(epoch);
    if (a === undefined) {
      let release!: () => void;
      const released = new Promise<void>((r) => {
        release = r;
      });
      a = { arrived: 0, release, released };
      waiting.set(epoch, a);
    }
    a.arrived++;
    if (a.arrived >= parties) {
      waiting.delete(epoch);
      onAligned(epoch);
      a.release();
    }
    return a.released;
  };
}
