// Which revision a request gets during a canary: chosen once, when the request (stream, WebSocket,
// TCP connection) starts, and kept to its end. By turn, not at random: `share` requests in every
// hundred get the candidate, evenly spread, so the share holds exactly on little traffic, costs one
// addition per request, and a client that retries a failed request gets the other revision next.

export class RevisionSplit {
  private credit = 0;

  constructor(private shareValue: number) {}

  get share(): number {
    return this.shareValue;
  }

  set share(percent: number) {
    this.shareValue = Math.max(0, Math.min(100, percent));
  }

  /** True when this request goes to the candidate. */
  pick(): boolean {
    this.credit += this.shareValue;
    if (this.credit < 100) return false;
    this.credit -= 100;
    return true;
  }
}
