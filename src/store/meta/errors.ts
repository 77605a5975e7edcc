/** A unique-constraint violation, as SQLite ("UNIQUE constraint failed") or PostgreSQL ("duplicate key value … unique constraint") reports it. */
export const isUniqueViolation = (e: unknown): boolean => /UNIQUE|unique|duplicate key/.test(String((e as Error | undefined)?.message));
