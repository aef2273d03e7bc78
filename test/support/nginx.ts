// A real load balancer for tests: nginx (Debian's nginx-light) in front of several registries on
// loopback, round robin, configured as a user would put it in front of Berth replicas: bodies streamed
// both ways (no request or response buffering, no size limit) and the client's Host passed on, so
// Location headers and token realms point at the balancer.
//
// Contract: startLoadBalancer() resolves once nginx answers; stop() ends it (by its PID) and removes
// its directory. nginx runs in the foreground as one process (master_process off), so no worker
// changes user and nothing outlives the test.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnManaged, waitForRegistry } from './processes.js';
import { which } from './tools.js';

export interface LoadBalancer {
  url: string;
  host: string;
  output(): string;
  stop(): Promise<void>;
}

function configFor(dir: string, port: number, upstreams: readonly string[]): string {
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  return `
daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${temp('client_body')}
  ${temp('proxy')}
  ${temp('fastcgi')}
  ${temp('uwsgi')}
  ${temp('scgi')}
  upstream berth {
${upstreams.map((host) => `    server ${host};`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    location / {
      proxy_pass http://berth;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }
  }
}
`;
}

/** nginx on a free loopback port, balancing round robin over `upstreams` (host:port each). */
export async function startLoadBalancer(upstreams: readonly string[]): Promise<LoadBalancer> {
  const { url, host, output, stop } = await startNginx((dir, port) => configFor(dir, port, upstreams));
  return { url, host, output, stop };
}

/**
 * nginx on a free loopback port with the configuration `render` writes for its own directory and that
 * port; resolves once `/v2/` answers 200 or 401 there.
 */
export async function startNginx(
  render: (dir: string, port: number) => string,
): Promise<LoadBalancer & { pid: number }> {
  const nginx = which('nginx');
  if (!nginx) throw new Error('nginx is not installed (apt-get install -y nginx-light)');
  const dir = await mkdtemp(join(tmpdir(), 'berth-nginx-'));
  const port = await freePort();
  const config = join(dir, 'nginx.conf');
  await writeFile(config, render(dir, port));
  const proc = spawnManaged(nginx, ['-p', dir, '-c', config, '-e', join(dir, 'error.log')]);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForRegistry(url, proc);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, host: `127.0.0.1:${port}`, pid: proc.pid, output: proc.output, stop };
}
