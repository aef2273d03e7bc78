// Background jobs (the upload purge, later garbage collection) run in one process at a time: the
// holder of a live lease on the job's name (MetadataStore.leaseJob).
export const up = `
CREATE TABLE job_leases (
  name   TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  until  INTEGER NOT NULL
) WITHOUT ROWID;
`;
