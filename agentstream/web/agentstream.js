/**
 * agentstream.js: a small browser client for agentstream. A plain ES module with no dependencies
 * and no build step: copy it into your app or import it from the app's own `/api/ui/agentstream.js`.
 *
 * Start a run and stream it with EventSource (resumes by itself with Last-Event-ID):
 *
 *   import { AgentStreamClient } from "./agentstream.js";
 *   const client = new AgentStreamClient({ baseUrl: "https://<app>.azurewebsites.net/api" });
 *   const run = await client.startRun({ message: "What is the weather in Paris?" });
 *   const stream = client.streamRun(run, {
 *     onEvent(event, id) { if (event.type === "TEXT_MESSAGE_CONTENT") output.append(event.delta); },
 *     onStatus(state) { indicator.dataset.state = state; },  // connecting | open | reconnecting | closed
 *     onEnd() { console.log("run over"); },
 *     onError(error) { console.error(error); },                // gap, 404, 410 cursor_expired, ...
 *   });
 *   // stream.close() stops reading; the run goes on. client.cancel(run.thread_id, run.run_id) stops it.
 *
 * With headers (e.g. `Authorization: Bearer <token>`), stream with fetch instead: EventSource cannot
 * send headers. Pass `transport: "fetch"`:
 *
 *   const client = new AgentStreamClient({ baseUrl: "/api", token: accessToken });
 *   const stream = client.streamRun(run, { transport: "fetch", onEvent, onStatus, onEnd, onError });
 *
 * Servers with stream tokens: the start response's `stream_token` (or the `streamToken` option) goes
 * with every stream request, as `Authorization: Bearer` with fetch and as `?access_token=` with
 * EventSource, which cannot send headers.
 *
 * Both transports keep the same promise: each event id reaches `onEvent` exactly once and in order,
 * across any number of reconnects. A repeated id is skipped; a skipped id is a `StreamGapError`.
 * To resume after a page reload, keep the last id you handled and pass it as `after`.
 */

export const TERMINAL_TYPES = new Set(["RUN_FINISHED", "RUN_ERROR"]);

/** The server answered 4xx/5xx; `code` and `message` come from its `{"error": {...}}` body. */
export class AgentStreamError extends Error {
  constructor(status, code, message, body = null) {
    super(`${status} ${code}: ${message}`);
    this.name = "AgentStreamError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The stream skipped event ids: events were lost and the view cannot be trusted. */
export class StreamGapError extends Error {
  constructor(expected, received) {
    super(`Event id ${received} arrived where ${expected} was expected.`);
    this.name = "StreamGapError";
    this.expected = expected;
    this.received = received;
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && typeof body.error === "object" ? body.error : {};
  const phrase = response.statusText || "HTTP error";
  return new AgentStreamError(response.status, error.code || phrase.toLowerCase().replace(/ /g, "_"), error.message || phrase, body);
}

/** Capped exponential backoff with full jitter, in milliseconds. */
export function backoffDelay(attempt, { initial = 250, maximum = 10000 } = {}) {
  return Math.random() * Math.min(maximum, initial * 2 ** Math.min(attempt, 30));
}

export class AgentStreamClient {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl="/api"] where the API lives (same origin by default)
   * @param {string} [options.token] sent as `Authorization: Bearer <token>` by fetch calls
   * @param {object} [options.headers] extra headers for fetch calls (e.g. `x-functions-key`)
   */
  constructor({ baseUrl = "/api", token = null, headers = {}, fetch: fetchImpl = null } = {}) {
    this.baseUrl = new URL(baseUrl.replace(/\/?$/, "/"), globalThis.location?.href).href;
    this.token = token;
    this.headers = headers;
    this.fetch = fetchImpl || globalThis.fetch.bind(globalThis);
  }

  url(path) {
    return new URL(path.replace(/^\//, ""), this.baseUrl).href;
  }

  _headers(extra = {}) {
    const headers = { ...this.headers, ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async _json(method, path, body) {
    const response = await this.fetch(this.url(path), {
      method,
      headers: this._headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  /**
   * Start a run: `{message}` or `{messages}`, optional `threadId` (continue a thread), `tools`
   * (tools the browser answers) and `state`. Resolves to `{thread_id, run_id, stream_url, ...}`.
   */
  /** Start a run; `resume` answers the thread's open interrupts (tool calls waiting for approval). */
  startRun({ message, messages, threadId, tools, state, resume } = {}) {
    const body = {};
    if (message !== undefined) body.message = message;
    if (messages !== undefined) body.messages = messages;
    if (threadId) body.thread_id = threadId;
    if (tools !== undefined) body.tools = tools;
    if (state !== undefined) body.state = state;
    if (resume !== undefined) body.resume = resume;
    return this._json("POST", "agent/run", body);
  }

  cancel(threadId, runId) {
    return this._json("POST", `agent/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}/cancel`);
  }

  thread(threadId) {
    return this._json("GET", `agent/threads/${encodeURIComponent(threadId)}`);
  }

  /**
   * Answer client-side tool calls of a waiting run: `results` is `[{toolCallId, content, error?}]`,
   * `content` a string or any JSON value. Resolves to `{accepted: [toolCallId, ...]}`.
   */
  sendToolResults(threadId, runId, results) {
    const path = `agent/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}/tool-results`;
    return this._json("POST", path, { results });
  }

  /**
   * Stream one run until its terminal event. `run` is the start response (or `{thread_id, run_id}`);
   * `after` resumes after an event id you already handled.
   */
  streamRun(run, { after = null, ...options } = {}) {
    const url = this.url(`agent/stream/${encodeURIComponent(run.thread_id)}?run_id=${encodeURIComponent(run.run_id)}`);
    const streamToken = options.streamToken ?? run.stream_token ?? null;
    return this.stream(url, { after, untilTerminal: true, ...options, streamToken });
  }

  /** Stream a thread after `after` (default: from its start) until it is idle; `follow: true` stays open. */
  streamThread(threadId, { after = 0, follow = false, ...options } = {}) {
    const url = this.url(`agent/stream/${encodeURIComponent(threadId)}${follow ? "?follow=1" : ""}`);
    return this.stream(url, { after, ...options });
  }

  /** The stream at `url`; `transport` is "eventsource" (default) or "fetch". */
  stream(url, { transport = "eventsource", ...options } = {}) {
    const Stream = transport === "fetch" ? FetchStream : EventSourceStream;
    return new Stream(this, url, options);
  }
}

const noop = () => {};

/** What both transports share: the exactly-once, in-order delivery of ids and the end of the stream. */
class BaseStream {
  constructor(client, url, options) {
    this.client = client;
    this.url = url;
    this.lastId = options.after ?? null;
    this.untilTerminal = options.untilTerminal ?? false;
    this.streamToken = options.streamToken ?? null;
    this.onEvent = options.onEvent || noop;
    this.onStatus = options.onStatus || noop;
    this.onEnd = options.onEnd || noop;
    this.onError = options.onError || ((error) => console.error(error));
    this.connections = 0;
    this.closed = false;
    this._expectRunStart = this.lastId === null;
  }

  close() {
    this.closed = true;
    this._stop();
    this.onStatus("closed");
  }

  _stop() {}

  _finish() {
    if (this.closed) return;
    this.close();
    this.onEnd();
  }

  _fail(error) {
    if (this.closed) return;
    this.closed = true;
    this._stop();
    this.onStatus("error");
    this.onError(error);
  }

  _urlAfter() {
    const url = new URL(this.url);
    if (this.lastId !== null) url.searchParams.set("after", String(this.lastId));
    return url;
  }

  /** Headers for fetching the stream: a stream token takes the place of the caller's bearer token. */
  _fetchHeaders() {
    const headers = this.client._headers({ Accept: "text/event-stream" });
    if (this.streamToken) headers.Authorization = `Bearer ${this.streamToken}`;
    return headers;
  }

  /** Returns false when the stream must stop (an error, or the run's terminal event). */
  _accept(rawId, data) {
    if (this.closed) return false;
    if (!/^\d+$/.test(rawId || "")) {
      this._fail(new Error(`An event arrived without a numeric id (${rawId}).`));
      return false;
    }
    const id = Number(rawId);
    if (this.lastId !== null) {
      if (id <= this.lastId) return true;
      if (id !== this.lastId + 1) {
        this._fail(new StreamGapError(this.lastId + 1, id));
        return false;
      }
    }
    let event;
    try {
      event = JSON.parse(data);
    } catch (error) {
      this._fail(new Error(`Event ${id} is not JSON: ${error.message}`));
      return false;
    }
    if (this._expectRunStart && event.type !== "RUN_STARTED") {
      this._fail(new Error(`A run's stream must begin with RUN_STARTED; event ${id} is ${event.type}.`));
      return false;
    }
    this._expectRunStart = false;
    this.lastId = id;
    this.onEvent(event, id);
    if (this.untilTerminal && TERMINAL_TYPES.has(event.type)) {
      this._finish();
      return false;
    }
    return true;
  }
}

/**
 * EventSource: the browser reconnects by itself after a drop or a planned close, sending
 * Last-Event-ID. When it gives up (the server answered 204, an error or not a stream), one fetch
 * of the same URL tells which: 204 ends the stream, 4xx is an error, anything else reopens it.
 */
class EventSourceStream extends BaseStream {
  constructor(client, url, options) {
    super(client, url, options);
    this._failures = 0;
    this._open();
  }

  _open() {
    if (this.closed) return;
    const url = this._urlAfter();
    if (this.streamToken) url.searchParams.set("access_token", this.streamToken);
    this.onStatus(this.connections ? "reconnecting" : "connecting");
    this.connections += 1;
    const source = new EventSource(url.href);
    this._source = source;
    source.onopen = () => {
      this._failures = 0;
      this.onStatus("open");
    };
    source.onmessage = (message) => {
      if (source === this._source) this._accept(message.lastEventId, message.data);
    };
    source.onerror = () => {
      if (this.closed || source !== this._source) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.connections += 1;
        this.onStatus("reconnecting");
        return;
      }
      source.close();
      this._probe();
    };
  }

  async _probe() {
    this._probeAbort = new AbortController();
    let response;
    try {
      response = await this.client.fetch(this._urlAfter().href, {
        headers: this._fetchHeaders(),
        signal: this._probeAbort.signal,
      });
    } catch {
      response = null;
    }
    if (this.closed) return;
    if (response && response.status === 204) return this._finish();
    if (response && response.status >= 400 && ![408, 429, 500, 502, 503, 504].includes(response.status)) {
      return this._fail(await errorFrom(response));
    }
    if (response && response.body) response.body.cancel().catch(noop);
    this.onStatus("reconnecting");
    const delay = backoffDelay(this._failures++);
    this._timer = setTimeout(() => this._open(), delay);
  }

  _stop() {
    clearTimeout(this._timer);
    this._probeAbort?.abort();
    this._source?.close();
  }
}

/** fetch: sends the client's headers (Authorization), parses SSE itself and reconnects with backoff. */
class FetchStream extends BaseStream {
  constructor(client, url, options) {
    super(client, url, options);
    this._abort = new AbortController();
    this._loop();
  }

  _stop() {
    this._abort.abort();
    clearTimeout(this._timer);
    this._wake?.();
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      this._wake = resolve;
      this._timer = setTimeout(resolve, ms);
    });
  }

  async _loop() {
    let failures = 0;
    while (!this.closed) {
      this.onStatus(this.connections ? "reconnecting" : "connecting");
      this.connections += 1;
      let response;
      try {
        response = await this.client.fetch(this._urlAfter().href, {
          headers: this._fetchHeaders(),
          signal: this._abort.signal,
          cache: "no-store",
        });
      } catch {
        if (this.closed) return;
        this.onStatus("reconnecting");
        await this._sleep(backoffDelay(failures++));
        continue;
      }
      if (response.status === 204) return this._finish();
      if ([408, 429, 500, 502, 503, 504].includes(response.status)) {
        const retryAfter = Number(response.headers.get("Retry-After")) * 1000 || 0;
        await this._sleep(Math.max(retryAfter, backoffDelay(failures++)));
        continue;
      }
      if (!response.ok) return this._fail(await errorFrom(response));
      this.onStatus("open");
      let progressed = false;
      try {
        for await (const frame of readFrames(response.body)) {
          const before = this.lastId;
          if (!this._accept(frame.id, frame.data)) return;
          if (this.lastId !== before) {
            progressed = true;
            failures = 0;
          }
        }
      } catch {
        if (this.closed) return;
      }
      if (this.closed) return;
      this.onStatus("reconnecting");
      // A planned close that moved us on is followed at once; anything else backs off.
      if (!progressed) await this._sleep(backoffDelay(failures++));
    }
  }
}

/** SSE frames `{id, data}` from a response body, per the WHATWG parsing rules (LF, CR or CRLF). */
export async function* readFrames(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let lastId = null;
  let hasData = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A trailing CR may be the first half of a CRLF: keep it for the next chunk.
      const cut = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(cut);
      for (const line of lines) {
        if (line === "") {
          if (hasData) yield { id: lastId, data: data.join("\n") };
          data = [];
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon === -1 ? line : line.slice(0, colon);
        let field = colon === -1 ? "" : line.slice(colon + 1);
        if (field.startsWith(" ")) field = field.slice(1);
        if (name === "data") {
          data.push(field);
          hasData = true;
        } else if (name === "id" && !field.includes("\0")) {
          lastId = field;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}
