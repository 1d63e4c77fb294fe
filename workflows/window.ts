/**
 * The sliding window every met workflow runs its activities through: at most `width` items in
 * flight, each lane taking the next item as soon as its previous one finishes, items started in
 * order. `more()` is asked before each start (an execution's budget: units per execution,
 * continue-as-new suggested, a fatal error), so the window drains instead of starting new work.
 * Deterministic: lanes start in index order and take items in a fixed order, so replay sees the
 * same commands. Returns how many items were started.
 */
export async function slidingWindow<T>(
  items: readonly T[],
  width: number,
  run: (item: T, index: number) => Promise<void>,
  more: () => boolean = () => true,
): Promise<number> {
  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length && more()) {
      const index = next++;
      await run(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return next;
}
