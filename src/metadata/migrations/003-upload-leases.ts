// Upload sessions are written by one request at a time (src/registry/uploads.ts): the holder of a
// live lease (a random id per request, until a time in ms) is the only one that may append to,
// complete, cancel or purge the session. Kept in the database so that processes sharing it exclude
// each other too.
export const up = `
ALTER TABLE uploads ADD COLUMN lease_holder TEXT;
ALTER TABLE uploads ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
`;
