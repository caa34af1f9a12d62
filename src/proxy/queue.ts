// A FIFO of waiting items with O(1) push, shift and removal of an arbitrary item (a client that
// gives up while queued). Intrusive doubly-linked list: no array shifting, no per-item wrapper.

export interface Queueable {
  queuePrev: Queueable | null;
  queueNext: Queueable | null;
  queuedIn: WaitQueue<Queueable> | null;
}

export class WaitQueue<T extends Queueable> {
  private head: T | null = null;
  private tail: T | null = null;
  length = 0;
  max = 0;

  push(item: T): void {
    item.queuePrev = this.tail;
    item.queueNext = null;
    item.queuedIn = this as WaitQueue<Queueable>;
    if (this.tail) this.tail.queueNext = item;
    else this.head = item;
    this.tail = item;
    this.length++;
    if (this.length > this.max) this.max = this.length;
  }

  peek(): T | null {
    return this.head;
  }

  shift(): T | null {
    const item = this.head;
    if (item) this.remove(item);
    return item;
  }

  remove(item: T): void {
    if (item.queuedIn !== (this as WaitQueue<Queueable>)) return;
    if (item.queuePrev) item.queuePrev.queueNext = item.queueNext;
    else this.head = item.queueNext as T | null;
    if (item.queueNext) item.queueNext.queuePrev = item.queuePrev;
    else this.tail = item.queuePrev as T | null;
    item.queuePrev = item.queueNext = null;
    item.queuedIn = null;
    this.length--;
  }
}
