// garbage collection (src/gc): review queues filled by triggers, digest guards and sweeps. Written with issue 11.
export const up = `
`;
