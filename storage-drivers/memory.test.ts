import { describeDriverConformance } from './conformance.js';
import { createMemoryDriver } from './memory.js';

describeDriverConformance('memory', async () => ({ driver: createMemoryDriver() }));
