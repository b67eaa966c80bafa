// A FIFO per group (a namespace), served round-robin: one item of each group with items in
// turn. Both the AWS token bucket (rate-limiter.ts) and the controllers' work queue use it, so a
// namespace with a thousand waiting calls or keys delays another namespace's next one by at
// most one turn per busy namespace, instead of by the thousand. Within a group, strictly FIFO.
// With one group waiting it is a plain FIFO: an uncontended budget goes to whoever needs it.

export class FairQueue<T> {
  /** Groups with items, in turn order: the first is served next. Map order is insertion order. */
  private readonly groups = new Map<string, { items: T[]; head: number }>();
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(group: string, item: T): void {
    let queue = this.groups.get(group);
    if (!queue) {
      // A group that had nothing waiting joins the end of the turn.
      queue = { items: [], head: 0 };
      this.groups.set(group, queue);
    }
    queue.items.push(item);
    this.count++;
  }

  /** The next item: the oldest of the group whose turn it is; that group then goes last. */
  shift(): T | undefined {
    const next = this.groups.entries().next();
    if (next.done) return undefined;
    const [group, queue] = next.value;
    const item = queue.items[queue.head] as T;
    queue.head++;
    this.count--;
    this.groups.delete(group);
    if (queue.head < queue.items.length) {
      if (queue.head > 1024 && queue.head * 2 > queue.items.length) {
        queue.items = queue.items.slice(queue.head);
        queue.head = 0;
      }
      this.groups.set(group, queue);
    }
    return item;
  }

  /** Drops every item. */
  clear(): void {
    this.groups.clear();
    this.count = 0;
  }
}
