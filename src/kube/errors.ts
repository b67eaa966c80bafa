// Reading HTTP status codes out of the errors client-node 1.x throws: ApiException has `code`,
// Watch errors have `statusCode`, network errors have neither.

export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; statusCode?: unknown; body?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export const isConflict = (error: unknown) => httpStatusOf(error) === 409;
export const isNotFound = (error: unknown) => httpStatusOf(error) === 404;
export const isGone = (error: unknown) => httpStatusOf(error) === 410;

/** A short, log-friendly description: status code and the API server's message when there is one. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = httpStatusOf(error);
  const body = (error as { body?: unknown }).body;
  let serverMessage: string | undefined;
  if (typeof body === 'string') {
    try {
      serverMessage = (JSON.parse(body) as { message?: string }).message;
    } catch {
      serverMessage = body.slice(0, 300);
    }
  } else if (body && typeof body === 'object') {
    serverMessage = (body as { message?: string }).message;
  }
  const cause = (error as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? `: ${cause.message}` : '';
  if (status !== undefined) return `HTTP ${status}: ${serverMessage ?? error.message.split('\n')[0]}`;
  return `${error.message}${causeText}`;
}
