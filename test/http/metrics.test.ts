// GET /metrics after a push and a pull: request counts by route template, method and status, latency
// histogram buckets, bytes in and out, uploads in flight, storage and metadata operations, token and
// denial counters; never a repository name, digest or upload id in the text. Also the separate
// listener (metrics.listen) and metrics.enabled: false.
import { randomBytes } from 'node:crypto';
import { Agent, get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type RunningBerth } from '../support/berth.js';
import { clientFor, digestOf, expectOciError, openRequest, waitFor } from '../support/http.js';
import { getManifest, pushLayers, randomishBlob, startMirrorRig, type MirrorRig } from '../support/mirror.js';
import { freePort } from '../support/processes.js';
import { parsePrometheus, samplesOf, valueOf, type Sample } from '../support/prometheus.js';

const DURATION = 'berth_http_request_duration_seconds';
const MANIFEST_ROUTE = '/v2/*name/manifests/:reference';
const BLOB_ROUTE = '/v2/*name/blobs/:digest';
const UPLOADS_ROUTE = '/v2/*name/blobs/uploads{/}';
const UPLOAD_ROUTE = '/v2/*name/blobs/uploads/:uuid';
const OCTET = { 'Content-Type': 'application/octet-stream' };

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await clientFor(url)('GET', '/metrics');
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: res.text, samples: parsePrometheus(res.text) };
}

const requests = (samples: Sample[], route: string, method: string, status: string) =>
  valueOf(samples, `${DURATION}_count`, { route, method, status });

describe('/metrics after a push and a pull', () => {
  let berth: RunningBerth;
  const suffix = randomBytes(4).toString('hex');
  const repo = `metrics-probe/app-${suffix}`;
  const layer = randomBytes(300_000);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', suffix }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digestOf(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length },
      ],
    }),
  );
  const uploadIds: string[] = [];
  let before: Sample[];
  let after: { text: string; samples: Sample[] };

  beforeAll(async () => {
    berth = await startBerth();
    const api = clientFor(berth.url);
    before = (await scrape(berth.url)).samples;

    // Push: the config monolithically (POST, PUT), the layer streamed (POST, chunked PATCH, PUT).
    const start = async () => {
      const res = await api('POST', `/v2/${repo}/blobs/uploads/`);
      expect(res.status).toBe(202);
      const location = String(res.headers.location);
      uploadIds.push(location.split('/').pop() ?? '');
      return location;
    };
    const configPut = await api('PUT', `${await start()}?digest=${digestOf(config)}`, {
      headers: OCTET,
      body: config,
    });
    expect(configPut.status).toBe(201);
    const layerUpload = await start();
    const patch = await api('PATCH', layerUpload, { headers: OCTET, body: layer, chunked: true });
    expect(patch.status).toBe(202);
    const patched = String(patch.headers.location);
    const layerPut = await api(
      'PUT',
      `${patched}${patched.includes('?') ? '&' : '?'}digest=${digestOf(layer)}`,
    );
    expect(layerPut.status).toBe(201);
    const manifestPut = await api('PUT', `/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    expect(manifestPut.status).toBe(201);

    // Pull.
    expect((await api('HEAD', `/v2/${repo}/manifests/v1`)).status).toBe(200);
    expect((await api('GET', `/v2/${repo}/manifests/v1`)).status).toBe(200);
    expect((await api('GET', `/v2/${repo}/blobs/${digestOf(config)}`)).status).toBe(200);
    const pulled = await api('GET', `/v2/${repo}/blobs/${digestOf(layer)}`);
    expect(pulled.body.equals(layer)).toBe(true);
    // Two misses: a blob the repository lacks, and a path no route takes.
    expect((await api('GET', `/v2/${repo}/blobs/${digestOf('absent')}`)).status).toBe(404);
    expect((await api('GET', `/nowhere/${repo}`)).status).toBe(404);

    after = await scrape(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('counts requests by route template, method and status', () => {
    const moved = (route: string, method: string, status: string) =>
      requests(after.samples, route, method, status) - requests(before, route, method, status);
    expect(moved(UPLOADS_ROUTE, 'POST', '202')).toBe(2);
    expect(moved(UPLOAD_ROUTE, 'PATCH', '202')).toBe(1);
    expect(moved(UPLOAD_ROUTE, 'PUT', '201')).toBe(2);
    expect(moved(MANIFEST_ROUTE, 'PUT', '201')).toBe(1);
    expect(moved(MANIFEST_ROUTE, 'HEAD', '200')).toBe(1);
    expect(moved(MANIFEST_ROUTE, 'GET', '200')).toBe(1);
    expect(moved(BLOB_ROUTE, 'GET', '200')).toBe(2);
    expect(moved(BLOB_ROUTE, 'GET', '404')).toBe(1);
    expect(moved('unmatched', 'GET', '404')).toBe(1);
    // The scrape before this one was counted too.
    expect(requests(after.samples, '/metrics', 'GET', '200')).toBeGreaterThanOrEqual(1);
  });

  it('has latency histogram buckets from milliseconds to minutes, cumulative up to +Inf', () => {
    const labels = { route: BLOB_ROUTE, method: 'GET', status: '200' };
    const buckets = samplesOf(after.samples, `${DURATION}_bucket`, labels);
    const bounds = buckets.map((b) => b.labels.le);
    expect(bounds).toEqual(expect.arrayContaining(['0.005', '0.1', '1', '60', '600', '+Inf']));
    const values = buckets.map((b) => b.value);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(2);
    expect(valueOf(after.samples, `${DURATION}_sum`, labels)).toBeGreaterThan(0);
  });

  it('counts bytes in and out at least as large as the blobs that crossed', () => {
    const bytes = (name: string, route: string, method: string) =>
      valueOf(after.samples, name, { route, method }) - valueOf(before, name, { route, method });
    // A chunked PATCH has no Content-Length: the bytes are counted as they arrive.
    expect(bytes('berth_http_request_bytes_total', UPLOAD_ROUTE, 'PATCH')).toBeGreaterThanOrEqual(
      layer.length,
    );
    expect(bytes('berth_http_request_bytes_total', MANIFEST_ROUTE, 'PUT')).toBeGreaterThanOrEqual(
      manifest.length,
    );
    expect(bytes('berth_http_response_bytes_total', BLOB_ROUTE, 'GET')).toBeGreaterThanOrEqual(
      layer.length + config.length,
    );
    expect(bytes('berth_http_response_bytes_total', MANIFEST_ROUTE, 'GET')).toBeGreaterThanOrEqual(
      manifest.length,
    );
  });

  it('measures storage and metadata operations', () => {
    const count = (prefix: string, operation: string) =>
      valueOf(after.samples, `${prefix}_operation_duration_seconds_count`, { operation }) -
      valueOf(before, `${prefix}_operation_duration_seconds_count`, { operation });
    expect(count('berth_storage', 'append')).toBeGreaterThanOrEqual(1);
    expect(count('berth_storage', 'read')).toBeGreaterThanOrEqual(2);
    expect(count('berth_metadata', 'putManifest')).toBe(1);
    expect(count('berth_metadata', 'linkBlob')).toBeGreaterThanOrEqual(2);
    expect(valueOf(after.samples, 'berth_storage_operation_errors_total')).toBe(0);
    expect(valueOf(after.samples, 'berth_metadata_operation_errors_total')).toBe(0);
  });

  it('exports process metrics under their usual names', () => {
    expect(samplesOf(after.samples, 'process_cpu_seconds_total')).toHaveLength(1);
    expect(samplesOf(after.samples, 'nodejs_heap_size_used_bytes')).toHaveLength(1);
  });

  it('never shows a repository name, digest or upload id', () => {
    for (const secret of [
      'metrics-probe',
      suffix,
      digestOf(config).slice(7),
      digestOf(layer).slice(7),
      digestOf(manifest).slice(7),
      digestOf('absent').slice(7),
      'nowhere',
      ...uploadIds,
    ]) {
      expect(secret.length).toBeGreaterThan(4);
      expect(after.text).not.toContain(secret);
    }
  });

  it('shows an upload in flight while its PATCH streams, until it ends or is cut off', async () => {
    const api = clientFor(berth.url);
    const inFlight = async () => valueOf((await scrape(berth.url)).samples, 'berth_uploads_in_flight');
    expect(await inFlight()).toBe(0);
    const started = await api('POST', `/v2/${repo}/blobs/uploads/`);
    const { req, response } = openRequest(berth.url, 'PATCH', String(started.headers.location), OCTET);
    req.write(randomBytes(1000));
    await waitFor('the PATCH to be in flight', async () => (await inFlight()) === 1);
    req.end(randomBytes(1000));
    expect((await response).status).toBe(202);
    await waitFor('the PATCH to be done', async () => (await inFlight()) === 0);

    const other = await api('POST', `/v2/${repo}/blobs/uploads/`);
    const cut = openRequest(berth.url, 'PATCH', String(other.headers.location), OCTET);
    cut.req.write(randomBytes(1000));
    await waitFor('the second PATCH to be in flight', async () => (await inFlight()) === 1);
    cut.req.destroy();
    await waitFor('the cut PATCH to be gone', async () => (await inFlight()) === 0);
  });

  it("counts each request's own bytes on a keep-alive connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const start = (await scrape(berth.url)).samples;
      const path = `/v2/${repo}/blobs/${digestOf(layer)}`;
      for (let i = 0; i < 3; i++) {
        const { req, response } = openRequest(berth.url, 'GET', path, {}, { agent });
        req.end();
        expect((await response).body.length).toBe(layer.length);
      }
      const end = (await scrape(berth.url)).samples;
      const moved = (name: string) =>
        valueOf(end, name, { route: BLOB_ROUTE, method: 'GET' }) -
        valueOf(start, name, { route: BLOB_ROUTE, method: 'GET' });
      // The body and a few hundred bytes of headers per response; a request is its head only.
      expect(moved('berth_http_response_bytes_total')).toBeGreaterThanOrEqual(3 * layer.length);
      expect(moved('berth_http_response_bytes_total')).toBeLessThan(3 * (layer.length + 1000));
      expect(moved('berth_http_request_bytes_total')).toBeGreaterThan(3 * 50);
      expect(moved('berth_http_request_bytes_total')).toBeLessThan(3 * 1000);
    } finally {
      agent.destroy();
    }
  });

  it('counts a download the client cut off as status 499', async () => {
    const big = randomBytes(16 * 1024 * 1024);
    const api = clientFor(berth.url);
    const put = await api('POST', `/v2/${repo}/blobs/uploads/?digest=${digestOf(big)}`, {
      headers: OCTET,
      body: big,
    });
    expect(put.status).toBe(201);
    await new Promise<void>((resolve, reject) => {
      const req = get(`${berth.url}/v2/${repo}/blobs/${digestOf(big)}`, (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    await waitFor('the cut download to be counted', async () => {
      const { samples } = await scrape(berth.url);
      return requests(samples, BLOB_ROUTE, 'GET', '499') === 1;
    });
  });
});

describe('/metrics in token mode', () => {
  let berth: RunningBerth;
  const password = 'metrics-admin-password';
  beforeAll(async () => {
    berth = await startBerth({ auth: { mode: 'token' } }, { adminPassword: password });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('counts tokens issued and refused, and denials by status and reason', async () => {
    const api = clientFor(berth.url);
    const basic = (user: string, secret: string) =>
      `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
    expect((await api('GET', '/v2/')).status).toBe(401);
    expect((await api('GET', '/v2/', { headers: { Authorization: 'Bearer not-a-jwt' } })).status).toBe(401);
    expect((await api('GET', '/auth/token?service=berth')).status).toBe(200);
    const login = await api('GET', '/auth/token?service=berth', {
      headers: { Authorization: basic('admin', password) },
    });
    expect(login.status).toBe(200);
    const refused = await api('GET', '/auth/token?service=berth', {
      headers: { Authorization: basic('admin', 'wrong-password') },
    });
    expect(refused.status).toBe(401);

    const { text, samples } = await scrape(berth.url);
    const tokens = (grant: string, outcome: string) =>
      valueOf(samples, 'berth_token_requests_total', { grant, outcome });
    expect(tokens('anonymous', 'issued')).toBe(1);
    expect(tokens('password', 'issued')).toBe(1);
    expect(tokens('password', 'unauthorized')).toBe(1);
    const denials = (status: string, reason: string) =>
      valueOf(samples, 'berth_auth_denials_total', { status, reason });
    expect(denials('401', 'credentials_required')).toBe(1);
    expect(denials('401', 'invalid_token')).toBe(1);
    expect(requests(samples, '/auth/token', 'GET', '401')).toBe(1);
    for (const secret of [password, 'wrong-password', 'not-a-jwt']) expect(text).not.toContain(secret);
  });
});

describe('/metrics of a pull-through mirror', () => {
  let rig: MirrorRig;
  beforeAll(async () => {
    rig = await startMirrorRig();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('counts hits, misses and bytes by upstream name', async () => {
    const layer = randomishBlob(200_000, 'metrics-mirror');
    const pushed = await pushLayers(rig.upstream.url, 'mirrored/tool', 'v1', [layer]);
    const api = clientFor(rig.mirror.url);
    const pull = async () => {
      expect((await getManifest(rig.mirror.url, 'up/mirrored/tool', 'v1')).status).toBe(200);
      const blob = await api('GET', `/v2/up/mirrored/tool/blobs/${digestOf(layer)}`);
      expect(blob.body.equals(layer)).toBe(true);
    };
    let scraped = await scrape(rig.mirror.url);
    const count = (result: string) =>
      valueOf(scraped.samples, 'berth_mirror_requests_total', { upstream: 'up', result });
    const bytes = (source: string) =>
      valueOf(scraped.samples, 'berth_mirror_bytes_total', { upstream: 'up', source });

    await pull(); // misses: both fetched upstream
    // A blob fetched upstream is counted once verified and published, just after it was served.
    await waitFor('the filled blob to be counted', async () => {
      scraped = await scrape(rig.mirror.url);
      return bytes('upstream') >= layer.length;
    });
    expect(count('miss')).toBe(2);
    expect(count('hit')).toBe(0);

    await pull(); // hits: both from the cache
    scraped = await scrape(rig.mirror.url);
    expect(count('hit')).toBe(2);
    expect(bytes('cache')).toBeGreaterThanOrEqual(layer.length);
    for (const secret of ['mirrored', 'tool', pushed.digest.slice(7), digestOf(layer).slice(7)]) {
      expect(scraped.text).not.toContain(secret);
    }
  });
});

describe('/metrics on its own listener (metrics.listen)', () => {
  let berth: RunningBerth;
  let metricsUrl: string;
  beforeAll(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}`;
    berth = await startBerth({ metrics: { listen: `127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('serves /metrics there, nothing else, and the main port answers 404 for it', async () => {
    expect((await clientFor(berth.url)('GET', '/v2/')).status).toBe(200);
    const { samples } = await scrape(metricsUrl);
    expect(requests(samples, '/v2/', 'GET', '200')).toBe(1);
    expect((await clientFor(metricsUrl)('HEAD', '/metrics')).status).toBe(200);
    expect((await clientFor(metricsUrl)('GET', '/v2/')).status).toBe(404);
    expect((await clientFor(metricsUrl)('POST', '/metrics')).status).toBe(404);
    expectOciError(await clientFor(berth.url)('GET', '/metrics'), 404, 'UNSUPPORTED');
  });

  it('stops listening when Berth stops', async () => {
    await berth.stop();
    await expect(clientFor(metricsUrl)('GET', '/metrics')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('metrics.enabled: false', () => {
  let berth: RunningBerth;
  beforeAll(async () => {
    berth = await startBerth({ metrics: { enabled: false } });
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('answers 404 for /metrics', async () => {
    expectOciError(await clientFor(berth.url)('GET', '/metrics'), 404, 'UNSUPPORTED');
  });
});
