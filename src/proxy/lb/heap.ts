// An indexed binary min-heap of server slots, ordered by (key, insertion order).
//
// It stands in for HAProxy's eb32 trees: eb32_first() is the smallest key and, among equal keys,
// the node inserted first (ebtrees keep duplicates in insertion order). Slots are 0..n-1 (the
// server's position in the backend); every operation is O(log n) and allocation-free.

export class SlotHeap {
  private readonly heap: Int32Array;
  private readonly pos: Int32Array;
  private readonly keys: Float64Array;
  private readonly seqs: Float64Array;
  private readonly aux: Int32Array;
  private count = 0;
  private seq = 0;

  constructor(capacity: number) {
    const n = Math.max(1, capacity);
    this.heap = new Int32Array(n);
    this.pos = new Int32Array(n).fill(-1);
    this.keys = new Float64Array(n);
    this.seqs = new Float64Array(n);
    this.aux = new Int32Array(n);
  }

  get size(): number {
    return this.count;
  }

  has(slot: number): boolean {
    return this.pos[slot]! >= 0;
  }

  key(slot: number): number {
    return this.keys[slot]!;
  }

  /** The smallest slot, or -1 when empty. */
  first(): number {
    return this.count > 0 ? this.heap[0]! : -1;
  }

  /** Insert (after any slot with an equal key). The slot must not be in the heap. */
  insert(slot: number, key: number): void {
    if (this.pos[slot]! >= 0) this.remove(slot);
    this.keys[slot] = key;
    this.seqs[slot] = ++this.seq;
    const i = this.count++;
    this.heap[i] = slot;
    this.pos[slot] = i;
    this.up(i);
  }

  /** Remove a slot; no-op when it is not in the heap (like eb32_delete on a detached node). */
  remove(slot: number): void {
    const i = this.pos[slot]!;
    if (i < 0) return;
    this.pos[slot] = -1;
    const last = --this.count;
    if (i === last) return;
    const moved = this.heap[last]!;
    this.heap[i] = moved;
    this.pos[moved] = i;
    if (!this.down(i)) this.up(i);
  }

  clear(): void {
    for (let i = 0; i < this.count; i++) this.pos[this.heap[i]!] = -1;
    this.count = 0;
  }

  /** The first slot in (key, insertion) order for which `accept` is true, or -1. Visits slots in
   *  order and stops at the first accepted one: O(k log n) for k rejected slots. */
  findFirst(accept: (slot: number) => boolean): number {
    if (this.count === 0) return -1;
    // Best-first walk of the heap: `aux` is a min-heap of heap positions.
    const aux = this.aux;
    let n = 0;
    aux[n++] = 0;
    while (n > 0) {
      const p = aux[0]!;
      // pop
      const tail = aux[--n]!;
      if (n > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= n) break;
          const r = l + 1;
          const c = r < n && this.lessPos(aux[r]!, aux[l]!) ? r : l;
          if (!this.lessPos(aux[c]!, tail)) break;
          aux[i] = aux[c]!;
          i = c;
        }
        aux[i] = tail;
      }
      const slot = this.heap[p]!;
      if (accept(slot)) return slot;
      const l = 2 * p + 1;
      if (l < this.count) n = this.auxPush(n, l);
      if (l + 1 < this.count) n = this.auxPush(n, l + 1);
    }
    return -1;
  }

  private auxPush(n: number, p: number): number {
    const aux = this.aux;
    let i = n;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.lessPos(p, aux[parent]!)) break;
      aux[i] = aux[parent]!;
      i = parent;
    }
    aux[i] = p;
    return n + 1;
  }

  private lessPos(a: number, b: number): boolean {
    return this.less(this.heap[a]!, this.heap[b]!);
  }

  private less(a: number, b: number): boolean {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka < kb || (ka === kb && this.seqs[a]! < this.seqs[b]!);
  }

  private up(i: number): void {
    const heap = this.heap;
    const slot = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = heap[parent]!;
      if (!this.less(slot, ps)) break;
      heap[i] = ps;
      this.pos[ps] = i;
      i = parent;
    }
    heap[i] = slot;
    this.pos[slot] = i;
  }

  private down(i: number): boolean {
    const heap = this.heap;
    const start = i;
    const slot = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.count) break;
      const r = l + 1;
      const c = r < this.count && this.less(heap[r]!, heap[l]!) ? r : l;
      const cs = heap[c]!;
      if (!this.less(cs, slot)) break;
      heap[i] = cs;
      this.pos[cs] = i;
      i = c;
    }
    heap[i] = slot;
    this.pos[slot] = i;
    return i !== start;
  }
}
