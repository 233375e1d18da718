// The signals `portico serve` answers: SIGTERM and SIGINT stop it (the first drains, a later one closes
// every connection at once), SIGHUP re-reads its configuration. They are caught from the moment the
// command is known, before serve's modules load (that takes most of a second on a busy host): a pod
// told to stop right after it started would otherwise die of the default action (exit 143) with
// whatever it had bound. A stop that comes while serve starts is kept here; start-up ends at its next
// step, the graceful way (serve-process.ts).
//
// What can happen:
// - a stop signal before serve looks: `requested` says which, `whenStopped` has resolved;
// - the first stop signal: `whenStopped` resolves with it;
// - a later stop signal: each `onForce` handler runs;
// - SIGHUP: the `onReread` handler runs; before serve set one (while it starts), nothing happens, as
//   the configuration is being read anyway.
// This module imports nothing: main.ts loads it with the command line.

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** The part of `process` this needs (a test can hand in an emitter). */
export interface SignalTarget {
  on(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): unknown;
}

export class StopSignals {
  private first: StopSignal | undefined;
  private stops = 0;
  private readonly forceHandlers: ((signal: StopSignal) => void)[] = [];
  private reread: (() => void) | undefined;
  private resolveStopped: (signal: StopSignal) => void = () => {};
  /** Resolves with the first stop signal. */
  readonly whenStopped = new Promise<StopSignal>((resolve) => (this.resolveStopped = resolve));

  private readonly onStopSignal = (signal: NodeJS.Signals): void => {
    const stop: StopSignal = signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
    this.stops++;
    if (this.stops === 1) {
      this.first = stop;
      this.resolveStopped(stop);
      return;
    }
    for (const h of this.forceHandlers) h(stop);
  };

  private readonly onHangup = (): void => this.reread?.();

  constructor(private readonly target: SignalTarget = process) {
    target.on('SIGTERM', this.onStopSignal);
    target.on('SIGINT', this.onStopSignal);
    target.on('SIGHUP', this.onHangup);
  }

  /** The first stop signal received, if one came. */
  get requested(): StopSignal | undefined {
    return this.first;
  }

  /** Runs on every stop signal after the first. */
  onForce(handler: (signal: StopSignal) => void): void {
    this.forceHandlers.push(handler);
  }

  /** What SIGHUP does from now on. */
  onReread(handler: () => void): void {
    this.reread = handler;
  }

  /** Lets go of the signals (the default actions apply again). */
  close(): void {
    this.target.off('SIGTERM', this.onStopSignal);
    this.target.off('SIGINT', this.onStopSignal);
    this.target.off('SIGHUP', this.onHangup);
  }
}
