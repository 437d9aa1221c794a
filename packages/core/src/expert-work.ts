/**
 * A count of the expert computations a backend dispatched: a test hook (`Backend.expertWork`)
 * that shows an expert with no routed rows costs nothing. A backend records at the point where
 * it hands an expert's rows to a kernel (a kernel launch, a graph run, a GEMM call), with the
 * row count it passes, so a backend that ran every expert and masked would record the unrouted
 * experts too, and a sparsity test fails.
 */

/** Launches and rows per expert (indices within the prepared group), since the last reset. */
export class ExpertWorkCounter {
  private readonly launchCount = new Map<number, number>();
  private readonly rowCount = new Map<number, number>();

  /** Records one dispatch of expert `expert`'s FFN over `rows` rows (0 rows still counts: a dispatched kernel costs). */
  record(expert: number, rows: number): void {
    this.launchCount.set(expert, (this.launchCount.get(expert) ?? 0) + 1);
    this.rowCount.set(expert, (this.rowCount.get(expert) ?? 0) + rows);
  }

  /** How many times expert `expert` was dispatched. */
  launchesOf(expert: number): number {
    return this.launchCount.get(expert) ?? 0;
  }

  /** Rows expert `expert` computed, over all its dispatches. */
  rowsOf(expert: number): number {
    return this.rowCount.get(expert) ?? 0;
  }

  /** The experts dispatched at least once, ascending. */
  launched(): number[] {
    return [...this.launchCount.keys()].sort((a, b) => a - b);
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.launchCount.clear();
    this.rowCount.clear();
  }
}
