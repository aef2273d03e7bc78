// The reusable-read-buffer agents and the S3 driver's read path over them, against local servers (no
// Ceph): bytes and headers survive buffer reuse, an early abort releases the upstream connection, and
// an upstream cut mid-body makes the consumer's stream fail instead of ending short.
import { createHash, randomBytes } from 'node:crypto';
import { get, type IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { READ_BUFFER_BYTES, createReadBufferHttpAgent } from './read-buffer-agent.js';
import { createS3Driver } from './s3.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface RawServer {
  url: string;
  /** Resolves when a connection to the server closes. */
  closed: Promise<void>;
  close(): Promise<void>;
}

const servers: RawServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A TCP server that answers each HTTP request (one read each) with `answer(socket)`. */
async function rawServer(answer: (socket: Socket) => Promise<void> | void): Promise<RawServer> {
  const sockets = new Set<Socket>();
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', onClosed);
    socket.on('error', () => {});
    socket.on('data', () => void answer(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const handle: RawServer = {
    url: `http://127.0.0.1:${port}`,
    closed,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

function write(socket: Socket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}

function request(url: string, agent: ReturnType<typeof createReadBufferHttpAgent>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, { agent }, resolve).on('error', reject));
}

describe('createReadBufferHttpAgent', () => {
  it('delivers headers split across reads and bodies held across buffer reuse intact', async () => {
    const body = randomBytes(8 * MiB + 123);
    const server = await rawServer(async (socket) => {
      const head =
        `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Long: ${'a'.repeat(3000)}\r\n` +
        `ETag: "e"\r\n\r\n`;
      for (let i = 0; i < head.length; i += 700) {
        await write(socket, head.slice(i, i + 700));
        await sleep(5);
      }
      for (let i = 0; i < body.length; i += 3 * MiB) await write(socket, body.subarray(i, i + 3 * MiB));
    });
    const agent = createReadBufferHttpAgent();
    try {
      for (let round = 0; round < 2; round++) {
        const response = await request(server.url, agent);
        expect(response.headers['x-long']).toBe('a'.repeat(3000));
        expect(response.headers.etag).toBe('"e"');
        const chunks: Buffer[] = [];
        for await (const chunk of response) chunks.push(chunk as Buffer);
        expect(Math.max(...chunks.map((chunk) => chunk.length))).toBeLessThanOrEqual(READ_BUFFER_BYTES);
        expect(sha256(Buffer.concat(chunks))).toBe(sha256(body));
      }
    } finally {
      agent.destroy();
    }
  });

  it('closes the upstream connection when the consumer destroys the response early', async () => {
    const server = await rawServer(async (socket) => {
      await write(socket, `HTTP/1.1 200 OK\r\nContent-Length: ${64 * MiB}\r\n\r\n`);
      await write(socket, randomBytes(MiB));
    });
    const agent = createReadBufferHttpAgent();
    try {
      const response = await request(server.url, agent);
      for await (const _chunk of response) break; // destroys the response
      await server.closed;
    } finally {
      agent.destroy();
    }
  });
});

describe('S3 driver reads (fake endpoint)', () => {
  /** A fake S3 endpoint answering every GET with `length` bytes declared, `sent` of them sent. */
  async function fakeS3(length: number, sent: number, then: 'cut' | 'stall') {
    return rawServer(async (socket) => {
      await write(
        socket,
        `HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      await write(socket, randomBytes(sent));
      if (then === 'cut') socket.destroy();
    });
  }

  const driverFor = (url: string) =>
    createS3Driver({
      bucket: 'b',
      endpoint: url,
      forcePathStyle: true,
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      maxAttempts: 1,
    });

  it('fails the stream when the upstream connection is cut mid-body', async () => {
    const server = await fakeS3(4 * MiB, MiB, 'cut');
    const driver = driverFor(server.url);
    try {
      const stream = await driver.read('blob');
      let received = 0;
      await expect(
        (async () => {
          for await (const chunk of stream) received += (chunk as Buffer).length;
        })(),
      ).rejects.toThrow();
      expect(received).toBeLessThan(4 * MiB);
    } finally {
      await driver.close?.();
    }
  });

  it('closes the upstream connection when the read is aborted', async () => {
    const server = await fakeS3(64 * MiB, MiB, 'stall');
    const driver = driverFor(server.url);
    try {
      const controller = new AbortController();
      const stream = await driver.read('blob', { signal: controller.signal });
      const failed = new Promise((resolve) => stream.once('error', resolve));
      stream.once('data', () => controller.abort());
      await failed;
      await server.closed;
    } finally {
      await driver.close?.();
    }
  });
});
