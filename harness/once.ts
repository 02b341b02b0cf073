// One promise per key while it is good: concurrent callers share the work, and a failure is forgotten so
// the next caller tries again (a provisioning error must not stick for the rest of the process).

export class OncePerKey<V> {
  readonly #promises = new Map<string, Promise<V>>();

  get(key: string, start: () => Promise<V>): Promise<V> {
    let p = this.#promises.get(key);
    if (!p) {
      p = start();
      this.#promises.set(key, p);
      p.catch(() => this.#promises.delete(key));
    }
    return p;
  }

  /** The keys started and not failed (so far). */
  keys(): string[] {
    return [...this.#promises.keys()];
  }
}
