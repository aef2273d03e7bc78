#!/usr/bin/env node
import { main } from './cli/program.js';

// libuv's pool (4 threads by default) runs every file write, fsync and read; concurrent pushes
// each fsync their blobs, so give it more room unless the operator chose. Read by libuv when the
// pool first starts, which is after this line: nothing does file I/O at import time.
process.env.UV_THREADPOOL_SIZE ??= '16';

await main(process.argv);
