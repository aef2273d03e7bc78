// HTTP metrics, as one Koa middleware placed first: every answer is counted, errors included.
// - Labels are the route TEMPLATE that @koa/router matched (`/v2/*name/blobs/:digest`), the method and
//   the status; never the path, so repository names, digests and upload ids never become labels.
// - Duration runs from the request reaching Koa to the response's last byte handed to the socket
//   (a streamed blob body is timed to its end), read on the response's 'close'.
// - Bytes are what the connection carried for the request: the socket's bytesRead/bytesWritten since the
//   previous request on it ended, so headers and chunked framing count, streamed bodies of unknown
//   length count exactly, and on HTTPS it is the decrypted stream. Content-Length would miss chunked
//   uploads and cut-off transfers. With HTTP/1.1 pipelining (which registry clients do not use) bytes
//   may be credited to a neighbouring request on the same connection; the totals stay exact.
import type { Socket } from 'node:net';
import type { Context, Middleware } from 'koa';
import { Gauge, type Registry } from 'prom-client';
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './fast-metrics.js';

/** Seconds: manifests take milliseconds, blob transfers up to many minutes. */
export const HTTP_DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

/** Requests that no route matched (404, 405): one label value, whatever the path. */
export const UNMATCHED_ROUTE = 'unmatched';
/** Any method outside this set is labelled `other`, so odd methods cannot grow the label set. */
const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);
/** The upload routes of src/http/routes.ts (`…/blobs/uploads{/}` and `…/blobs/uploads/:uuid`). */
const UPLOAD_ROUTE_PREFIX = '/v2/*name/blobs/uploads';
const UPLOAD_METHODS = new Set(['POST', 'PATCH', 'PUT']);
/** nginx's "client closed request": the connection closed before the response was complete. */
const ABORTED_STATUS = 499;

const routeOf = (ctx: Context): string => {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  return typeof matched === 'string' ? matched : UNMATCHED_ROUTE;
};

const isUpload = (ctx: Context) => routeOf(ctx).startsWith(UPLOAD_ROUTE_PREFIX);

interface SocketMark {
  read: number;
  written: number;
}

/** The series one kind of answer (route, method, status) updates. */
interface AnswerSeries {
  duration: HistogramSeries;
  bytesIn: CounterSeries;
  bytesOut: CounterSeries;
}

export function createHttpMetrics(registry: Registry): Middleware {
  const duration = new FastHistogram(registry, {
    name: 'berth_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status, until the last byte of the response (_count is the number of requests; status 499: the client went away first)',
    labelNames: ['route', 'method', 'status'],
    buckets: HTTP_DURATION_BUCKETS,
  });
  const bytesIn = new FastCounter(registry, {
    name: 'berth_http_request_bytes_total',
    help: 'Bytes received from clients (request line, headers and body as sent) by route template and method',
    labelNames: ['route', 'method'],
  });
  const bytesOut = new FastCounter(registry, {
    name: 'berth_http_response_bytes_total',
    help: 'Bytes sent to clients (status line, headers and body) by route template and method',
    labelNames: ['route', 'method'],
  });
  // route -> method -> status -> series: lookups by strings V8 has already hashed (the route table's
  // templates, node's method names) and by number, with no key built per request.
  const answers = new Map<string, Map<string, Map<number, AnswerSeries>>>();
  const seriesOf = (route: string, method: string, status: number): AnswerSeries => {
    let byMethod = answers.get(route);
    if (!byMethod) answers.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let found = byStatus.get(status);
    if (!found) {
      found = {
        duration: duration.series(route, method, String(status)),
        bytesIn: bytesIn.series(route, method),
        bytesOut: bytesOut.series(route, method),
      };
      byStatus.set(status, found);
    }
    return found;
  };
  const inFlight = new Set<Context>();
  new Gauge({
    name: 'berth_uploads_in_flight',
    help: 'Blob upload requests (POST, PATCH, PUT on the upload routes) being served now',
    registers: [registry],
    collect() {
      let uploads = 0;
      for (const ctx of inFlight) if (isUpload(ctx)) uploads += 1;
      this.set(uploads);
    },
  });
  // Where the previous request on each keep-alive connection ended.
  const marks = new WeakMap<Socket, SocketMark>();

  return (ctx, next) => {
    const started = performance.now();
    const { req, res } = ctx;
    const socket = req.socket;
    const method = METHODS.has(req.method ?? '') ? (req.method as string) : 'other';
    // Only these methods upload: GETs, the hot path, skip the set.
    const mayUpload = UPLOAD_METHODS.has(method);
    if (mayUpload) inFlight.add(ctx);
    // 'close' comes once per response, finished or cut off.
    res.on('close', () => {
      if (mayUpload) inFlight.delete(ctx);
      const status = res.writableFinished ? res.statusCode : ABORTED_STATUS;
      const series = seriesOf(routeOf(ctx), method, status);
      series.duration.observe((performance.now() - started) / 1000);
      const mark = marks.get(socket);
      const read = socket.bytesRead;
      const written = socket.bytesWritten;
      series.bytesIn.inc(read - (mark?.read ?? 0));
      series.bytesOut.inc(written - (mark?.written ?? 0));
      if (mark) {
        mark.read = read;
        mark.written = written;
      } else {
        marks.set(socket, { read, written });
      }
    });
    return next();
  };
}
