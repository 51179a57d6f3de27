/** Named errors of strategies; the API maps them to HTTP in api/errors.ts */
export class StrategyValidationError extends Error {
  override name = 'StrategyValidationError'
  constructor (message: string, readonly field: string) { super(message) }
}

export class StrategyNotFoundError extends Error {
  override name = 'StrategyNotFoundError'
}

export class StrategyConflictError extends Error {
  override name = 'StrategyConflictError'
}
