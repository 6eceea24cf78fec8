// Long loops over big trees in slices: after `budgetMs` of synchronous work the loop yields to the event
// loop (one macrotask), so progress output, timers and signals never wait longer than that.

export class Slicer {
  #last = performance.now();
  constructor(readonly budgetMs = 5) {}

  /** Whether this slice is used up: then `await slicer.pause()`. Cheap enough to ask on every item. */
  get due(): boolean {
    return performance.now() - this.#last >= this.budgetMs;
  }

  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#last = performance.now();
  }
}

/** `f` over `items` in order, yielding between slices. */
export async function eachSliced<T>(items: Iterable<T>, f: (item: T) => void, slicer = new Slicer()): Promise<void> {
  for (const item of items) {
    if (slicer.due) await slicer.pause();
    f(item);
  }
}
