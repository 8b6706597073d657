/** Redis answered WRONGTYPE: a key of another type stands where we expected ours. */
export function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("WRONGTYPE");
}

/** For `.catch`: a key of another type is as good as no key; every other error stands. */
export function nullOnWrongType(error: unknown): null {
  if (isWrongType(error)) return null;
  throw error;
}
