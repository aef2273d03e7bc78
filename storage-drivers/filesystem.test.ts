import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDriverConformance } from './conformance.js';
import { createFilesystemDriver } from './filesystem.js';

describeDriverConformance('filesystem', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-driver-'));
  return {
    driver: createFilesystemDriver({ root }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
