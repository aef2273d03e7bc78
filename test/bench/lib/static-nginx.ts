// The ceiling of a blob GET on this machine: nginx serving the same file from the page cache with
// sendfile(2) (the kernel copies file pages into the socket; nothing passes through user space), to
// the same client. The blob GET metric measures it beside each registry, so a ratio to Distribution
// can be read against what the client and loopback can take at all.
//
// Contract: startStaticNginx() resolves once nginx answers; stop() ends it (by its PID) and removes its
// directory (test/support/nginx.ts). nginx runs in the foreground as one process (master_process off).
import { basename, dirname, join } from 'node:path';
import { startNginx } from '../../support/nginx.js';

export interface StaticNginx {
  /** URL of the served file. */
  fileUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startStaticNginx(file: string): Promise<StaticNginx> {
  const temp = (dir: string, name: string) => `${name}_temp_path ${join(dir, name)};`;
  const nginx = await startNginx(
    (dir, port) => `
daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => temp(dir, name)).join('\n  ')}
  server {
    listen 127.0.0.1:${port};
    location = /v2/ { return 200; }
    location /files/ { alias ${dirname(file)}/; }
  }
}
`,
  );
  return { fileUrl: `${nginx.url}/files/${basename(file)}`, pid: nginx.pid, stop: nginx.stop };
}
