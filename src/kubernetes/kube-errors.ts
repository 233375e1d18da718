// The Kubernetes client's errors, apart from the client: code that only tells them apart (the source
// driver, in every offline command) need not load the client's HTTP and TLS modules.

/** A kubeconfig that cannot be used, or no configuration at all: one line, with a stable code. */
export class KubeConfigError extends Error {
  readonly code = 'PORTICO_ERR_KUBECONFIG';
}

/** An answer of the API server other than 2xx, with its status and reason (e.g. 410 Expired). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
