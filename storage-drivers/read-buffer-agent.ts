// HTTP(S) agents whose sockets read into one reusable buffer each, for clients that download large
// response bodies (the S3 driver's GetObject client).
//
// Why: by default every socket read allocates a fresh 64 KiB buffer, and Node's HTTP parser then
// copies each body slice into another new buffer. Streaming a blob thus allocates about twice its
// size in off-heap memory, and V8 answers that external-memory growth with major (mark-sweep) garbage
// collections over the whole heap: most of the CPU time of a streamed blob GET went there. Reading
// into one buffer per socket removes the first allocation, and larger reads (up to the buffer's size)
// mean fewer, larger body chunks downstream.
//
// Contract and why it is safe: each read is handed to the socket's 'data' listeners synchronously as a
// view of the socket's buffer, which the next read overwrites. The HTTP client's only 'data' listener
// is its parser, which copies body bytes into new buffers (those are what the response stream
// yields) and saves header strings before returning, so nothing it hands on refers to the buffer.
// Any other consumer of these sockets' 'data' events must copy what it keeps. Flow control is
// unchanged: socket.pause() and resume() stop and restart reading (Node's `onread` option).
// Memory: one buffer per open socket (bounded by the agent's maxSockets).
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Socket } from 'node:net';

/** Bytes each socket reads at most at once, and the size of its buffer. */
export const READ_BUFFER_BYTES = 256 * 1024;

type CreateConnection = (options: object, callback?: unknown) => Socket;

/** Overrides `agent.createConnection` so that every new socket reads into its own buffer. */
function useReadBuffers<A extends HttpAgent>(agent: A): A {
  const target = agent as unknown as { createConnection: CreateConnection };
  const create = target.createConnection.bind(agent);
  target.createConnection = (options, callback) => {
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const onread = {
      buffer,
      callback: (bytes: number) => void socket.emit('data', buffer.subarray(0, bytes)),
    };
    const socket = create({ ...options, onread }, callback);
    return socket;
  };
  return agent;
}

/** A keep-alive http.Agent whose sockets read into one reusable buffer each. */
export function createReadBufferHttpAgent(options: AgentOptions = {}): HttpAgent {
  return useReadBuffers(new HttpAgent({ keepAlive: true, ...options }));
}

/** A keep-alive https.Agent whose sockets read into one reusable buffer each. */
export function createReadBufferHttpsAgent(options: HttpsAgentOptions = {}): HttpsAgent {
  return useReadBuffers(new HttpsAgent({ keepAlive: true, ...options }));
}
