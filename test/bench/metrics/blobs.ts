// Large-blob metrics: monolithic upload, chunked upload, and GET of one blob of options.blobBytes.
import { createReadStream } from 'node:fs';
import type { RegistryProcess } from '../../support/processes.js';
import { run, which } from '../../support/tools.js';
import type { BenchContext, RandomBlob } from '../lib/context.js';
import { makeSmallImage, pushSmallImage, RegistryClient, type HttpResponse } from '../lib/http.js';
import { MB, type Metric, type RowDef } from '../lib/metric.js';
import { MiB, type BenchOptions } from '../lib/options.js';
import { cpuSeconds, watchRss } from '../lib/proc.js';
import { startStaticNginx, type StaticNginx } from '../lib/static-nginx.js';

const READ_CHUNK = MiB;
/** The peak RSS target during a large upload, < 150 MiB, in this table's MB (10^6 bytes). */
const PEAK_GOAL_MB = Math.floor(((150 * MiB) / MB) * 100) / 100;
const GiB = 1024 * MiB;

function cpuRow(key: string, what: string): RowDef {
  return { key, label: `Server CPU time per GiB, ${what}`, unit: 's', better: 'lower' };
}

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * MiB ? `${bytes / (1024 * MiB)} GiB` : `${bytes / MiB} MiB`;
}

/** One small push, so that both servers have served a request before the timed one (JIT, pools). */
export async function warmUp(client: RegistryClient): Promise<void> {
  await pushSmallImage(client, 'bench/warmup', 'latest', makeSmallImage('warmup'));
}

async function checkBlob(client: RegistryClient, repo: string, blob: RandomBlob): Promise<void> {
  const res = await client.request('HEAD', `/v2/${repo}/blobs/${blob.digest}`, { expect: [200] });
  if (res.headers['content-length'] !== String(blob.size)) {
    throw new Error(
      `HEAD ${repo}@${blob.digest}: Content-Length ${res.headers['content-length']}, want ${blob.size}`,
    );
  }
}

function uploadMonolithic(client: RegistryClient, repo: string, blob: RandomBlob): Promise<HttpResponse> {
  return client.uploadBlob(repo, blob.digest, blob.size, () =>
    createReadStream(blob.path, { highWaterMark: READ_CHUNK }),
  );
}

async function uploadChunked(
  client: RegistryClient,
  repo: string,
  blob: RandomBlob,
  chunk: number,
): Promise<HttpResponse> {
  let location = await client.startUpload(repo);
  for (let offset = 0; offset < blob.size; offset += chunk) {
    const end = Math.min(offset + chunk, blob.size) - 1;
    const res = await client.request('PATCH', location, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${end}`,
        'content-length': String(end - offset + 1),
      },
      body: () => createReadStream(blob.path, { start: offset, end, highWaterMark: READ_CHUNK }),
      expect: [202],
    });
    location = client.location(res, `PATCH ${offset}-${end}`);
  }
  location.searchParams.set('digest', blob.digest);
  return client.request('PUT', location, { expect: [201] });
}

async function timedUpload(
  ctx: BenchContext,
  server: RegistryProcess,
  mode: 'monolithic' | 'chunked',
): Promise<{ mbps: number; rss: number; cpu: number; tailMs: number }> {
  const blob = await ctx.randomBlob();
  await ctx.flushDisk();
  const client = new RegistryClient(server.url, 4);
  try {
    await warmUp(client);
    const repo = `bench/upload-${mode}`;
    const rss = watchRss(server.pid);
    const cpuBefore = cpuSeconds(server.pid);
    const start = performance.now();
    const upload =
      mode === 'monolithic'
        ? uploadMonolithic(client, repo, blob)
        : uploadChunked(client, repo, blob, ctx.options.chunkBytes);
    const outcome = await upload.then(
      (res) => ({ res }),
      (err: unknown) => ({ err }),
    );
    const seconds = (performance.now() - start) / 1000;
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    const peak = rss.stop();
    if ('err' in outcome) throw outcome.err;
    await checkBlob(client, repo, blob);
    // For the monolithic PUT: from the last body byte to the 201 (verify, flush, publish); for the
    // chunked upload: the closing PUT without body.
    const last = outcome.res;
    const tailMs = last.respondedAt - (Number.isNaN(last.bodySentAt) ? last.respondedAt : last.bodySentAt);
    return { mbps: blob.size / MB / seconds, rss: peak.peak / MB, cpu: cpu / (blob.size / GiB), tailMs };
  } finally {
    client.close();
  }
}

export function uploadMetric(options: BenchOptions): Metric {
  const size = sizeLabel(options.blobBytes);
  return {
    id: 'upload',
    title: `${size} monolithic upload`,
    rows: [
      {
        key: 'upload.mbps',
        label: `${size} monolithic upload (POST, then PUT ?digest= streaming the file)`,
        unit: 'MB/s',
        better: 'higher',
        goal: { kind: 'ratio-at-least', value: 2 },
      },
      {
        key: 'upload.rss',
        label: `Peak server RSS during the ${size} monolithic upload`,
        unit: 'MB',
        better: 'lower',
        goal: { kind: 'berth-below', value: PEAK_GOAL_MB },
      },
      cpuRow('upload.cpu', 'monolithic upload (all threads, user + system)'),
      {
        key: 'upload.tail',
        label: 'Monolithic upload: time from the last body byte sent to the 201 (verify, flush, publish)',
        unit: 'ms',
        better: 'lower',
      },
    ],
    async round(ctx, server) {
      const { mbps, rss, cpu, tailMs } = await timedUpload(ctx, server, 'monolithic');
      return { 'upload.mbps': mbps, 'upload.rss': rss, 'upload.cpu': cpu, 'upload.tail': tailMs };
    },
  };
}

export function chunkedMetric(options: BenchOptions): Metric {
  const size = sizeLabel(options.blobBytes);
  const chunk = sizeLabel(options.chunkBytes);
  return {
    id: 'chunked',
    title: `${size} chunked upload`,
    rows: [
      {
        key: 'chunked.mbps',
        label: `${size} upload in ${chunk} chunks (PATCH + Content-Range, then PUT ?digest=)`,
        unit: 'MB/s',
        better: 'higher',
        goal: { kind: 'ratio-at-least', value: 2 },
      },
      {
        key: 'chunked.rss',
        label: `Peak server RSS during the chunked upload`,
        unit: 'MB',
        better: 'lower',
        goal: { kind: 'berth-below', value: PEAK_GOAL_MB },
      },
      cpuRow('chunked.cpu', 'chunked upload'),
    ],
    async round(ctx, server) {
      const { mbps, rss, cpu } = await timedUpload(ctx, server, 'chunked');
      return { 'chunked.mbps': mbps, 'chunked.rss': rss, 'chunked.cpu': cpu };
    },
  };
}

async function getWithCurl(url: string): Promise<{ bytes: number; seconds: number; status: number }> {
  const format = '%{http_code} %{size_download} %{time_total}';
  const res = await run('curl', ['-sS', '-o', '/dev/null', '-w', format, url], { timeoutMs: 600_000 });
  if (res.code !== 0) throw new Error(`curl ${url} exited ${res.code}: ${res.stderr}`);
  const [status, bytes, seconds] = res.stdout.trim().split(' ').map(Number);
  return { status: status ?? 0, bytes: bytes ?? 0, seconds: seconds ?? Number.NaN };
}

async function getWithNode(
  client: RegistryClient,
  url: string,
): Promise<{ bytes: number; seconds: number; status: number }> {
  const start = performance.now();
  const res = await client.request('GET', url, { discardBody: true });
  return { bytes: res.bytes, seconds: (performance.now() - start) / 1000, status: res.status };
}
export function getMetric(options: BenchOptions): Metric {
  const size = sizeLabel(options.blobBytes);
  // nginx on the same file (lib/static-nginx.ts), measured in every round right after the registry: the
  // most this client takes over loopback on this machine. Absent without nginx (noted in the table).
  let ceiling: StaticNginx | undefined;
  let ceilingMissing: string | undefined;
  const fetchBlob = (url: string) =>
    options.getClient === 'curl'
      ? getWithCurl(url)
      : (async () => {
          const client = new RegistryClient(new URL(url).origin, 1);
          try {
            return await getWithNode(client, url);
          } finally {
            client.close();
          }
        })();
  return {
    id: 'get',
    title: `${size} blob GET`,
    rows: [
      {
        key: 'get.mbps',
        label: `${size} blob GET, streamed to /dev/null (${options.getClient})`,
        unit: 'MB/s',
        better: 'higher',
        goal: { kind: 'ratio-at-least', value: 1.2 },
      },
      cpuRow('get.cpu', 'blob GET'),
      {
        key: 'get.ceiling',
        label: `Reference: nginx sending the same file with sendfile, same client, same round`,
        unit: 'MB/s',
        better: 'higher',
      },
      {
        key: 'get.share',
        label: 'Blob GET throughput as a share of that reference',
        unit: '%',
        better: 'higher',
      },
    ],
    async setup(ctx) {
      if (!which('nginx')) {
        ceilingMissing = 'nginx is not installed: no reference row';
        return;
      }
      ceiling = await startStaticNginx((await ctx.randomBlob()).path);
    },
    async teardown() {
      await ceiling?.stop();
    },
    notes: () => (ceilingMissing ? [ceilingMissing] : []),
    async round(ctx, server) {
      const blob = await ctx.randomBlob();
      const client = new RegistryClient(server.url, 4);
      try {
        await warmUp(client);
        const repo = 'bench/get';
        await uploadMonolithic(client, repo, blob);
        await checkBlob(client, repo, blob);
        await ctx.flushDisk();
        const url = `${server.url}/v2/${repo}/blobs/${blob.digest}`;
        const cpuBefore = cpuSeconds(server.pid);
        const got = await fetchBlob(url);
        const cpu = cpuSeconds(server.pid) - cpuBefore;
        if (got.status !== 200) throw new Error(`GET ${url} answered ${got.status}`);
        if (got.bytes !== blob.size) {
          throw new Error(`GET ${url} returned ${got.bytes} bytes, want ${blob.size}`);
        }
        const mbps = blob.size / MB / got.seconds;
        const values: Record<string, number> = { 'get.mbps': mbps, 'get.cpu': cpu / (blob.size / GiB) };
        if (ceiling) {
          const reference = await fetchBlob(ceiling.fileUrl);
          if (reference.status !== 200 || reference.bytes !== blob.size) {
            throw new Error(`nginx answered ${reference.status} with ${reference.bytes} bytes`);
          }
          values['get.ceiling'] = blob.size / MB / reference.seconds;
          values['get.share'] = (100 * mbps) / values['get.ceiling'];
        }
        return values;
      } finally {
        client.close();
      }
    },
  };
}
