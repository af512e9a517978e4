/**
 * EventQueue is a binary min-heap of events ordered by (time, insertion order),
 * so events at the same time run in the order they were scheduled: the
 * simulation is a deterministic function of its seed.
 */
export class EventQueue<E> {
  private readonly times: number[] = [];
  private readonly seqs: number[] = [];
  private readonly items: E[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(time: number, item: E): void {
    const times = this.times;
    const seqs = this.seqs;
    const items = this.items;
    const seq = this.seq++;
    let i = items.length;
    times.push(time);
    seqs.push(seq);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent] as number;
      if (pt < time || (pt === time && (seqs[parent] as number) < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent] as number;
      items[i] = items[parent] as E;
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    items[i] = item;
  }

  /** peekTime is the time of the next event, or Infinity when empty. */
  peekTime(): number {
    return this.times.length === 0 ? Infinity : (this.times[0] as number);
  }

  /** pop removes and returns the earliest event; the queue must not be empty. */
  pop(): E {
    const times = this.times;
    const seqs = this.seqs;
    const items = this.items;
    const top = items[0] as E;
    const lastTime = times.pop() as number;
    const lastSeq = seqs.pop() as number;
    const lastItem = items.pop() as E;
    const n = items.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n) {
        const lt = times[left] as number;
        const rt = times[right] as number;
        if (rt < lt || (rt === lt && (seqs[right] as number) < (seqs[left] as number))) child = right;
      }
      const ct = times[child] as number;
      if (lastTime < ct || (lastTime === ct && lastSeq < (seqs[child] as number))) break;
      times[i] = ct;
      seqs[i] = seqs[child] as number;
      items[i] = items[child] as E;
      i = child;
    }
    times[i] = lastTime;
    seqs[i] = lastSeq;
    items[i] = lastItem;
    return top;
  }
}
