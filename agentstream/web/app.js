/**
 * The chat page: sends messages, streams runs into a Transcript, renders it, and keeps it (with
 * its cursor) in sessionStorage so a reload mid-run resumes after the last event it showed.
 *
 * `?transport=fetch` streams with fetch instead of EventSource.
 *
 * It declares one client-side tool, `browser_info`, which the browser answers itself: when the
 * model calls it, the run waits until the page posts the result.
 */

import { AgentStreamClient, AgentStreamError, backoffDelay } from "./agentstream.js";
import { renderMarkdown } from "./markdown.js";
import { Transcript } from "./transcript.js";

const STORAGE_KEY = "agentstream.chat";
const transport = new URLSearchParams(location.search).get("transport") === "fetch" ? "fetch" : "eventsource";
const client = new AgentStreamClient({ baseUrl: new URL("../", location.href).href });

const $ = (selector) => document.querySelector(selector);
const view = {
  transcript: $("#transcript"),
  connection: $("#connection"),
  threadId: $("#thread-id"),
  runInfo: $("#run-info"),
  composer: $("#composer"),
  prompt: $("#prompt"),
  send: $("#send"),
  cancel: $("#cancel"),
  newChat: $("#new-chat"),
};

/** Tools the browser answers: their declarations go with every run, their answers to tool-results. */
const BROWSER_TOOLS = {
  browser_info: {
    description: "The user's browser: local time, time zone, language and screen size.",
    parameters: { type: "object", properties: {} },
    run() {
      const { timeZone } = Intl.DateTimeFormat().resolvedOptions();
      return {
        localTime: new Date().toLocaleString(navigator.language, { timeZone }),
        timeZone,
        language: navigator.language,
        screen: `${screen.width}x${screen.height}`,
      };
    },
  },
};
const toolDeclarations = Object.entries(BROWSER_TOOLS).map(([name, tool]) => ({
  name,
  description: tool.description,
  parameters: tool.parameters,
}));
const answered = new Set();

let transcript = new Transcript(load());
let stream = null;
let renderQueued = false;
let saveQueued = false;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

function save() {
  saveQueued = false;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(transcript));
}

function queueSave() {
  if (!saveQueued) {
    saveQueued = true;
    queueMicrotask(save);
  }
}

function setConnection(state) {
  view.connection.dataset.state = state;
  view.connection.querySelector(".label").textContent = state;
}

// -- rendering -----------------------------------------------------------------------------

function queueRender() {
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(render);
  }
}

function render() {
  renderQueued = false;
  const seen = new Set();
  let previous = null;
  for (const item of transcript.items) {
    seen.add(item.id);
    let element = view.transcript.querySelector(`[data-id="${CSS.escape(item.id)}"]`);
    if (!element) {
      element = createItem(item);
      view.transcript.insertBefore(element, previous ? previous.nextSibling : view.transcript.firstChild);
    }
    if (element.dataset.version !== String(item.version)) {
      updateItem(element, item);
      element.dataset.version = String(item.version);
    }
    previous = element;
  }
  for (const element of [...view.transcript.children]) {
    if (!seen.has(element.dataset.id)) element.remove();
  }
  renderStatus();
  view.transcript.scrollTop = view.transcript.scrollHeight;
}

function createItem(item) {
  if (item.kind === "reasoning") {
    const details = document.createElement("details");
    details.className = "reasoning";
    details.append(document.createElement("summary"), Object.assign(document.createElement("div"), { className: "content" }));
    details.dataset.id = item.id;
    return details;
  }
  const element = document.createElement("div");
  element.dataset.id = item.id;
  if (item.kind === "error") {
    // Part of the transcript, so it stays when the next run replaces the status line.
    element.className = "error-card";
    element.setAttribute("role", "alert");
    element.append(
      Object.assign(document.createElement("strong"), { textContent: "This run failed" }),
      Object.assign(document.createElement("code"), { className: "error-code" }),
      Object.assign(document.createElement("div"), { className: "error-message" }),
    );
    return element;
  }
  if (item.kind === "tool") {
    element.className = "tool";
    const head = Object.assign(document.createElement("div"), { className: "tool-head" });
    head.append(
      Object.assign(document.createElement("span"), { className: "tool-name", textContent: item.name }),
      Object.assign(document.createElement("code"), { className: "tool-args" }),
    );
    if (item.name in BROWSER_TOOLS) {
      head.append(Object.assign(document.createElement("span"), { className: "tool-where", textContent: "answered by this browser" }));
    }
    const approval = Object.assign(document.createElement("div"), { className: "tool-approval", hidden: true });
    const approve = Object.assign(document.createElement("button"), { type: "button", className: "approve", textContent: "Approve" });
    const reject = Object.assign(document.createElement("button"), { type: "button", className: "reject", textContent: "Reject" });
    approve.addEventListener("click", () => decide(item.id, true));
    reject.addEventListener("click", () => decide(item.id, false));
    approval.append(Object.assign(document.createElement("span"), { className: "approval-question" }), approve, reject);
    element.append(head, approval, Object.assign(document.createElement("div"), { className: "tool-result" }));
    return element;
  }
  element.className = `msg ${item.kind}`;
  element.append(Object.assign(document.createElement("div"), { className: "content" }));
  return element;
}

function updateItem(element, item) {
  const content = element.querySelector(".content");
  if (item.kind === "assistant") {
    content.replaceChildren(renderMarkdown(item.text));
  } else if (item.kind === "reasoning") {
    element.querySelector("summary").textContent = item.done ? "Reasoning" : "Thinking…";
    content.textContent = item.text;
  } else if (item.kind === "error") {
    element.querySelector(".error-code").textContent = item.code;
    element.querySelector(".error-message").textContent = item.message;
  } else if (item.kind === "tool") {
    element.querySelector(".tool-args").textContent = item.args;
    element.querySelector(".tool-result").textContent = item.result ?? "";
    const asking = Boolean(item.interrupt) && item.result === null;
    const approval = element.querySelector(".tool-approval");
    approval.hidden = !asking;
    approval.querySelector(".approval-question").textContent = item.decision ? `${item.decision}…` : "Run this tool?";
    for (const button of approval.querySelectorAll("button")) button.disabled = Boolean(item.decision);
    element.dataset.status = asking ? "awaiting-approval" : item.result === null ? "running" : "done";
  } else {
    content.textContent = item.text;
  }
  element.dataset.done = String(Boolean(item.done));
  element.classList.toggle("discarded", Boolean(item.discarded));
  element.title = item.discarded ? "discarded: this step was cut off and is not part of the conversation" : "";
}

function renderStatus() {
  document.body.dataset.runState = transcript.runState;
  view.threadId.textContent = transcript.threadId || "new";
  view.cancel.disabled = !transcript.running;
  // A thread waiting for approval takes no new message until the tool cards are answered.
  view.send.disabled = transcript.running || transcript.awaitingApproval.length > 0;
  const usage = transcript.usage;
  const tokens = usage ? ` · ${usage.inputTokens ?? 0} in / ${usage.outputTokens ?? 0} out tokens` : "";
  const info = {
    idle: "",
    running: "answering…",
    finished: `finished${tokens}`,
    cancelled: `cancelled${tokens}`,
    interrupted: "waiting for your approval",
    error: transcript.error ? `error: ${transcript.error.code}: ${transcript.error.message}` : "error",
  }[transcript.runState];
  view.runInfo.textContent = `${info}${transcript.cursor ? ` · last event ${transcript.cursor}` : ""}`;
}

// -- streaming -----------------------------------------------------------------------------

function follow(run, after) {
  stream?.close();
  stream = client.streamRun(run, {
    after,
    transport,
    onEvent(event, id) {
      transcript.apply(event, id);
      if (event.type === "TOOL_CALL_END") answerBrowserTools();
      queueSave();
      queueRender();
    },
    onStatus: setConnection,
    onEnd() {
      queueRender();
    },
    onError(error) {
      transcript.fail(error.code || error.name, serverMessage(error));
      queueSave();
      queueRender();
    },
  });
}

/** The server's own words for an error answer; the card shows its code beside them. */
function serverMessage(error) {
  return error.body?.error?.message ?? error.message;
}

/** Answer every call to a browser tool that has ended and has no result yet (again after a reload). */
async function answerBrowserTools() {
  const { threadId, runId } = transcript;
  const waiting = transcript.items.filter(
    (item) => item.kind === "tool" && item.name in BROWSER_TOOLS && item.done && item.result === null && !item.discarded,
  );
  for (const item of waiting) {
    if (answered.has(item.id)) continue;
    answered.add(item.id);
    let result;
    try {
      result = { toolCallId: item.id, content: BROWSER_TOOLS[item.name].run(JSON.parse(item.args || "{}")) };
    } catch (error) {
      result = { toolCallId: item.id, content: `Error: ${error.message}`, error: error.message };
    }
    sendToolResult(threadId, runId, result, 0);
  }
}

/** Post one answer, retrying after network errors and 5xx until the server takes it or says why not. */
async function sendToolResult(threadId, runId, result, attempt) {
  try {
    await client.sendToolResults(threadId, runId, [result]);
  } catch (error) {
    const retry = !(error instanceof AgentStreamError) || error.status >= 500 || error.status === 429;
    if (retry && transcript.runId === runId && transcript.running) {
      setTimeout(() => sendToolResult(threadId, runId, result, attempt + 1), backoffDelay(attempt));
    } else if (error.code !== "tool_call_answered") {
      // tool_call_answered: this page answered before a reload. Anything else ends the run's wait on the server.
      console.warn("tool result not taken", error);
    }
  }
}

/** Record a decision on a tool card; once every waiting call has one, resume the thread with them all. */
function decide(toolCallId, approved) {
  const item = transcript.item(toolCallId);
  if (!item?.interrupt || item.decision) return;
  item.decision = approved ? "approved" : "rejected";
  item.version += 1;
  queueSave();
  queueRender();
  const waiting = transcript.awaitingApproval;
  if (waiting.some((tool) => !tool.decision)) return;
  const resume = waiting.map((tool) => ({
    interruptId: tool.interrupt.id,
    status: "resolved",
    payload: { approved: tool.decision === "approved" },
  }));
  start({ threadId: transcript.threadId, resume });
}

function send(message) {
  return start({ message, threadId: transcript.threadId || undefined, tools: toolDeclarations });
}

async function start(request) {
  view.send.disabled = true;
  try {
    const run = await client.startRun(request);
    transcript.threadId = run.thread_id;
    transcript.runId = run.run_id;
    // Servers with stream tokens need it again to resume after a reload.
    transcript.streamToken = run.stream_token ?? null;
    transcript.runState = "running";
    save();
    follow(run, transcript.cursor);
  } catch (error) {
    // The run never started: say why, and leave the composer usable (and the tool cards answerable).
    for (const tool of transcript.awaitingApproval) {
      tool.decision = null;
      tool.version += 1;
    }
    transcript.fail(error.code || "request_failed", serverMessage(error));
    queueSave();
  }
  queueRender();
}

view.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = view.prompt.value.trim();
  if (!message || transcript.running) return;
  view.prompt.value = "";
  send(message);
});

view.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    view.composer.requestSubmit();
  }
});

view.cancel.addEventListener("click", async () => {
  if (!transcript.running || !transcript.runId) return;
  view.cancel.disabled = true;
  try {
    await client.cancel(transcript.threadId, transcript.runId);
  } catch (error) {
    view.runInfo.textContent = `cancel failed: ${error.message}`;
  }
});

view.newChat.addEventListener("click", () => {
  stream?.close();
  answered.clear();
  sessionStorage.removeItem(STORAGE_KEY);
  transcript = new Transcript();
  setConnection("idle");
  render();
});

addEventListener("pagehide", save);

render();
if (transcript.running && transcript.threadId && transcript.runId) {
  // A reload mid-run: pick up after the last event the saved transcript holds.
  follow(
    { thread_id: transcript.threadId, run_id: transcript.runId, stream_token: transcript.streamToken },
    transcript.cursor,
  );
  answerBrowserTools();
}
