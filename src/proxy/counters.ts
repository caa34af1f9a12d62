// Counters that the stats page, CSV and metrics read. Sessions and checks only ever increment
// them; nothing here knows about sockets.

/** Sessions per second over the last second, as HAProxy's "rate" columns (a 1 s sliding window). */
export class RateCounter {
  private current = 0;
  private previous = 0;
  private windowStart = 0;
  max = 0;
  /** Multi-process primary (workers.ts): the workers' summed rate replaces the local window. */
  ext: number | null = null;

  hit(now: number): void {
    this.roll(now);
    this.current++;
    const rate = this.read(now);
    if (rate > this.max) this.max = rate;
  }

  read(now: number): number {
    if (this.ext !== null) return this.ext;
    this.roll(now);
    const elapsed = (now - this.windowStart) / 1000;
    return Math.round(this.previous * (1 - elapsed) + this.current);
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < 1000) return;
    this.previous = elapsed < 2000 ? this.current : 0;
    this.current = 0;
    this.windowStart = now - (elapsed % 1000);
  }
}

export class TrafficCounters {
  /** Sessions now open. */
  cur = 0;
  max = 0;
  total = 0;
  /** Bytes from clients (HAProxy's bin) and to clients (bout), counted as they flow. */
  bytesIn = 0;
  bytesOut = 0;
  readonly rate = new RateCounter();

  sessionStarted(now: number): void {
    this.cur++;
    this.total++;
    if (this.cur > this.max) this.max = this.cur;
    this.rate.hit(now);
  }

  sessionEnded(): void {
    this.cur--;
  }
}
