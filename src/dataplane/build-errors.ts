// Program faults found while turning an IR into a runtime (an IR that compile should never have
// produced). They carry stable PORTICO_ERR_* codes and name the route, so apply can report them.

export type RuntimeBuildCode = 'PORTICO_ERR_IR_REGEX' | 'PORTICO_ERR_IR_ROUTE';

export class RuntimeBuildError extends Error {
  readonly code: RuntimeBuildCode;
  constructor(code: RuntimeBuildCode, message: string) {
    super(message);
    this.name = 'RuntimeBuildError';
    this.code = code;
  }
}

/** Build a regex object from the IR; a pattern the engine refuses becomes a coded error. */
export function compileRegex<T>(source: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    throw new RuntimeBuildError('PORTICO_ERR_IR_REGEX', `invalid regular expression ${JSON.stringify(source)}: ${(err as Error).message}`);
  }
}
