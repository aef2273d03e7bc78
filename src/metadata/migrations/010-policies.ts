// namespace rules (src/policies): immutable tags, quotas, retention. Written with issue 11.
export const up = `
`;
