// Background jobs (the upload purge, later garbage collection) run in one replica at a time: the
// holder of a live lease on the job's name (MetadataStore.leaseJob).
export const up = `
CREATE TABLE job_leases (
  name   TEXT COLLATE "C" PRIMARY KEY,
  holder TEXT NOT NULL,
  until  BIGINT NOT NULL
);
`;
