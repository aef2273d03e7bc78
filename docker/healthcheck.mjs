// The image's HEALTHCHECK (and the compose files'): GET /healthz, or the path given as the first
// argument (/readyz), on the address Berth listens on, found the way `berth serve` finds it: defaults,
// the file named by BERTH_CONFIG, then BERTH_* variables. A `--listen` flag given to `serve` is not seen:
// set BERTH_SERVER_LISTEN or server.listen instead. A wildcard address (0.0.0.0, [::]) is asked on
// loopback, over HTTPS when server.tls.cert is set (the certificate is not verified: it is this
// container's own server). Exit status 0 for a 200 answer, 1 otherwise, as Docker expects.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadConfig } from '../dist/src/config/load.js';

const path = process.argv[2] ?? '/healthz';
const LOOPBACK = { '': '127.0.0.1', '0.0.0.0': '127.0.0.1', '[::]': '[::1]' };
const TIMEOUT_MS = 5_000;

function get(url) {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

try {
  const { listen, tls } = loadConfig({ file: process.env.BERTH_CONFIG }).server;
  const colon = listen.lastIndexOf(':');
  const host = LOOPBACK[listen.slice(0, colon)] ?? listen.slice(0, colon);
  const url = new URL(`${tls?.cert ? 'https' : 'http'}://${host}:${listen.slice(colon + 1)}${path}`);
  const { status, body } = await get(url);
  if (status !== 200) {
    console.error(`${url}: ${status} ${body}`);
    process.exit(1);
  }
} catch (err) {
  console.error(`health check failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
