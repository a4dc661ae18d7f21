/**
 * Progress bars with elapsed time and ETA (cli-progress) on a terminal; on a
 * pipe or CI log, one line when each task finishes instead of redraws.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Set the amount done (of `total`), with an optional short status (e.g. the loss). */
  update(done: number, status?: string): void;
  /** Finish: the bar is completed and a summary line printed. */
  stop(summary?: string): void;
}

export function progress(label: string, total: number, enabled = true): Progress {
  const started = performance.now();
  const tty = enabled && process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: `${label.padEnd(22)} {bar} {value}/{total} | {duration_formatted} elapsed | ETA {eta_formatted} {status}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0, { status: '' });
  let stopped = false;
  return {
    update(done, status = '') {
      bar?.update(Math.min(done, total), { status });
    },
    stop(summary = '') {
      if (stopped) return;
      stopped = true;
      bar?.update(total);
      bar?.stop();
      if (enabled) process.stderr.write(`${label.padEnd(22)} done in ${((performance.now() - started) / 1000).toFixed(2)} s${summary ? ` ${summary}` : ''}\n`);
    },
  };
}
