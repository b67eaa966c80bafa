// Every timer of the local service goes through here, so close() and reset() leave no handle
// behind. Timers are unref'd: they never keep a process alive on their own.
export class Timers {
  private readonly live = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.live.delete(t);
      fn();
    }, ms);
    t.unref();
    this.live.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.live.delete(t);
  }

  /** A promise resolved after `ms` (resolved at once by clear()). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.live.delete(t);
        this.sleepers.delete(resolve);
        resolve();
      }, ms);
      t.unref();
      this.live.add(t);
      this.sleepers.add(resolve);
    });
  }

  private readonly sleepers = new Set<() => void>();

  clear(): void {
    for (const t of this.live) clearTimeout(t);
    this.live.clear();
    for (const r of this.sleepers) r();
    this.sleepers.clear();
  }
}
