// garbage collection: see the SQLite migration 009-gc.ts.
export const up = `
`;
