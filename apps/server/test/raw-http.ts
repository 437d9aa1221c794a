/**
 * HTTP/1.1 over a raw TCP socket (node:net), so tests can send what `fetch` would normalise
 * away: percent-encoded paths, absolute-form targets, dot segments, any Host header, several
 * requests on one kept-alive connection.
 */
import { connect, type Socket } from 'node:net';

/** One parsed response. */
export interface RawResponse {
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A request as raw parts: the request line's target goes out exactly as given. */
export interface RawRequest {
  readonly method: string;
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

function serialise(req: RawRequest, host: string): string {
  const headers: Record<string, string> = { host, ...req.headers };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `${req.method} ${req.target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${req.body ?? ''}`;
}

/** Parses as many complete responses as `buf` holds (Content-Length or chunked bodies). */
function parseResponses(buf: Buffer): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  for (;;) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    let at = end + 4;
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at);
        if (lineEnd < 0) return { responses, rest: buf };
        const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
        if (buf.length < lineEnd + 2 + size + 2) return { responses, rest: buf };
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (buf.length < at + length) break;
      body = buf.subarray(at, at + length);
      at += length;
    }
    responses.push({ status, headers, body: body.toString('utf8') });
    buf = buf.subarray(at);
  }
  return { responses, rest: buf };
}

/** A kept-alive connection: send requests one after another and read each answer. */
export class RawConnection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly ready: RawResponse[] = [];
  private waiter?: () => void;
  private ended = false;

  private constructor(
    private readonly socket: Socket,
    private readonly host: string,
  ) {
    socket.on('data', (d: Buffer) => {
      const parsed = parseResponses(Buffer.concat([this.buf, d]));
      this.buf = parsed.rest;
      this.ready.push(...parsed.responses);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** Opens a connection to `baseUrl` (`http://host:port`). */
  static async open(baseUrl: string): Promise<RawConnection> {
    const u = new URL(baseUrl);
    const socket = connect(Number(u.port), u.hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawConnection(socket, u.host);
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.ended;
  }

  /** Sends a request (Host defaults to the server's address) and resolves with its answer, or undefined when the server hung up first. */
  async send(req: RawRequest): Promise<RawResponse | undefined> {
    this.socket.write(serialise(req, this.host));
    while (this.ready.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.waiter = resolve));
    return this.ready.shift();
  }

  /** Writes raw bytes (a partial request, say). */
  write(data: string): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One request on its own connection. */
export async function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const conn = await RawConnection.open(baseUrl);
  try {
    const res = await conn.send(req);
    if (!res) throw new Error(`no answer to ${req.method} ${req.target}`);
    return res;
  } finally {
    conn.close();
  }
}
