/**
 * The chat's state, built only by applying stream events in id order.
 *
 * Because the state is a pure function of the events up to `cursor`, saving it together with the
 * cursor and restoring both after a page reload, then applying the events after the cursor, gives
 * exactly the state an uninterrupted page would have: no text twice, none missing.
 */

export const STEP_DISCARDED = "agentstream.step_discarded";

export class Transcript {
  constructor(saved = null) {
    this.threadId = null;
    this.runId = null;
    this.streamToken = null;
    this.cursor = null;
    this.runState = "idle";
    this.error = null;
    this.usage = null;
    this.items = [];
    this.version = 0;
    if (saved) Object.assign(this, saved);
    this._byId = new Map(this.items.map((item) => [item.id, item]));
  }

  toJSON() {
    const { threadId, runId, streamToken, cursor, runState, error, usage, items, version } = this;
    return { threadId, runId, streamToken, cursor, runState, error, usage, items, version };
  }

  get running() {
    return this.runState === "running";
  }

  /** Tool calls that wait for a person's decision and have no result yet. */
  get awaitingApproval() {
    return this.items.filter((item) => item.kind === "tool" && item.interrupt && item.result === null);
  }

  item(id) {
    return this._byId.get(id);
  }

  _add(item) {
    const existing = this._byId.get(item.id);
    if (existing) return existing;
    const added = { version: 0, ...item };
    this.items.push(added);
    this._byId.set(added.id, added);
    return added;
  }

  _touch(item) {
    if (item) item.version += 1;
    this.version += 1;
  }

  /** Apply one event; `id` is its id in the thread's log. */
  apply(event, id) {
    this.cursor = id;
    let item = null;
    switch (event.type) {
      case "RUN_STARTED":
        this.threadId = event.threadId;
        this.runId = event.runId;
        this.runState = "running";
        this.error = null;
        this.usage = null;
        break;
      case "TEXT_MESSAGE_START":
        item = this._add({ id: event.messageId, kind: event.role === "user" ? "user" : "assistant", text: "", done: false });
        break;
      case "TEXT_MESSAGE_CONTENT":
      case "REASONING_MESSAGE_CONTENT":
        item = this.item(event.messageId);
        if (item) item.text += event.delta;
        break;
      case "TEXT_MESSAGE_END":
      case "REASONING_MESSAGE_END":
        item = this.item(event.messageId);
        if (item) item.done = true;
        break;
      case "REASONING_MESSAGE_START":
        item = this._add({ id: event.messageId, kind: "reasoning", text: "", done: false });
        break;
      case "TOOL_CALL_START":
        item = this._add({ id: event.toolCallId, kind: "tool", name: event.toolCallName, args: "", result: null, done: false });
        break;
      case "TOOL_CALL_ARGS":
        item = this.item(event.toolCallId);
        if (item) item.args += event.delta;
        break;
      case "TOOL_CALL_END":
        item = this.item(event.toolCallId);
        if (item) item.done = true;
        break;
      case "TOOL_CALL_RESULT":
        item = this.item(event.toolCallId);
        if (item) item.result = typeof event.content === "string" ? event.content : JSON.stringify(event.content);
        break;
      case "CUSTOM":
        if (event.name === STEP_DISCARDED) this._discard([...(event.value?.messageIds || []), ...(event.value?.toolCallIds || [])]);
        break;
      case "RUN_FINISHED":
        this.runState = { cancelled: "cancelled", interrupt: "interrupted" }[event.outcome?.type] ?? "finished";
        this.usage = sumUsage(event.usage);
        // Tool calls waiting for a person: their cards ask, until a resumed run brings their results.
        for (const interrupt of event.outcome?.type === "interrupt" ? event.outcome.interrupts : []) {
          const tool = this.item(interrupt.toolCallId);
          if (tool) {
            tool.interrupt = { id: interrupt.id, message: interrupt.message ?? "", expiresAt: interrupt.expiresAt ?? null };
            tool.decision = null;
            tool.version += 1;
          }
        }
        break;
      case "RUN_ERROR":
        this.runState = "error";
        this.error = { code: event.code || "error", message: event.message };
        item = this._add({ id: `${this.runId}.error`, kind: "error", ...this.error, done: true });
        break;
      default:
        break;
    }
    this._touch(item);
  }

  /** A failure outside the event log (the run could not start, the stream failed): shown like a RUN_ERROR. */
  fail(code, message) {
    this.runState = "error";
    this.error = { code, message };
    this._touch(this._add({ id: `${this.runId ?? "start"}.${this.version}.error`, kind: "error", code, message, done: true }));
  }

  /** A step attempt cut off (a retry, a cancel): its output stays visible but marked as not kept. */
  _discard(ids) {
    for (const id of ids) {
      const item = this.item(id);
      if (item) {
        item.discarded = true;
        item.version += 1;
      }
    }
  }
}

function sumUsage(usage) {
  if (!Array.isArray(usage)) return null;
  const total = {};
  for (const entry of usage) {
    for (const [name, value] of Object.entries(entry)) {
      if (typeof value === "number") total[name] = (total[name] || 0) + value;
    }
  }
  return total;
}
