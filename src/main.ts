#!/usr/bin/env node
import { main } from './cli/program.js';

// libuv's thread pool (file I/O, scrypt) keeps Node's default of 4 threads unless UV_THREADPOOL_SIZE
// is set in the environment before Node starts: an ES module entry point loads through that pool, so
// setting it here would be too late.
await main(process.argv);
