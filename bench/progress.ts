/**
 * A progress bar on stderr, drawn only when stderr is a terminal, so that
 * piped or captured output holds the summary alone.
 */

/** progressRedrawMs is how often the bar is redrawn. */
export const progressRedrawMs = 200;

const barWidth = 40;

/** ProgressSource reports how far a phase is: `done` of `target` (a count or milliseconds). */
export interface ProgressSource {
  readonly label: string;
  readonly target: number;
  readonly unit: "requests" | "ms";
  done(): number;
  /** completed is the number of requests finished so far (for the rate). */
  completed(): number;
}

/** ProgressBar redraws one line on stderr until stopped. */
export class ProgressBar {
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly startedMs = performance.now();

  constructor(
    private readonly source: ProgressSource,
    enabled: boolean,
  ) {
    if (!enabled || !process.stderr.isTTY) return;
    this.timer = setInterval(() => this.draw(), progressRedrawMs);
    this.timer.unref();
  }

  /** stop draws the final state and ends the line. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.draw();
    process.stderr.write("\n");
  }

  private draw(): void {
    const { label, target, unit } = this.source;
    const done = Math.min(this.source.done(), target);
    const fraction = target === 0 ? 1 : done / target;
    const filled = Math.round(fraction * barWidth);
    const elapsedSec = (performance.now() - this.startedMs) / 1000;
    const rate = elapsedSec > 0 ? this.source.completed() / elapsedSec : 0;
    const count = unit === "requests" ? `${done}/${target}` : `${(done / 1000).toFixed(0)}s/${(target / 1000).toFixed(0)}s`;
    const bar = "=".repeat(filled) + (filled < barWidth ? ">" : "") + " ".repeat(Math.max(0, barWidth - filled - 1));
    process.stderr.write(`\r${label} ${count} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${rate.toFixed(0)}/s ${elapsedSec.toFixed(1)}s\x1b[K`);
  }
}
