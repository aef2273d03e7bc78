// namespace rules: see the SQLite migration 010-policies.ts.
export const up = `
`;
