// Drives agentstream's AI SDK chat routes with the `ai` package, as useChat does: its Chat core
// (AbstractChat, what @ai-sdk/react's useChat wraps), DefaultChatTransport and readUIMessageStream.
// Usage: node ai_sdk_client.mjs <scenario> <json options>. Prints one JSON object.
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  lastAssistantMessageIsCompleteWithToolCalls,
  readUIMessageStream,
} from "ai";

const [scenario, raw] = process.argv.slice(2);
const options = JSON.parse(raw);
const api = `${options.url}/api/agents/${options.agent ?? "assistant"}/chat`;

// The state useChat keeps in React, kept in a plain object.
class PlainState {
  constructor() {
    this.messages = [];
    this.status = "ready";
    this.error = undefined;
  }
  pushMessage(message) {
    this.messages = [...this.messages, message];
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(index, message) {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  }
  snapshot(thing) {
    return structuredClone(thing);
  }
}

class Chat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new PlainState() });
  }
}

// A conversation through the Chat core: each message sent in turn; client-side tools answered by
// `answers` (tool name → output) through onToolCall + addToolOutput, sent on automatically.
async function chat() {
  const calls = [];
  const data = [];
  const errors = [];
  const instance = new Chat({
    id: options.chatId,
    transport: new DefaultChatTransport({ api, body: options.tools ? { tools: options.tools } : undefined }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
    onToolCall: ({ toolCall }) => {
      calls.push(toolCall);
      const output = options.answers?.[toolCall.toolName];
      if (output !== undefined) {
        instance.addToolOutput({ tool: toolCall.toolName, toolCallId: toolCall.toolCallId, output });
      }
    },
    onData: (part) => data.push(part),
    onError: (error) => errors.push(String(error?.message ?? error)),
  });
  for (const text of options.texts) {
    await instance.sendMessage({ text });
    // Automatic sends (tool outputs) run after sendMessage resolves: wait for them too.
    while (instance.status !== "ready" && instance.status !== "error") {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return { messages: instance.messages, status: instance.status, errors, calls, data };
}

function userMessage(id, text) {
  return { id, role: "user", parts: [{ type: "text", text }] };
}

async function readAll(stream, onChunk) {
  const chunks = [];
  const tapped = stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk);
        onChunk?.(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  let message;
  for await (const update of readUIMessageStream({ stream: tapped, terminateOnError: true })) {
    message = update;
  }
  return { message, chunks };
}

// The connection cut after `cutAfter` text deltas; reconnectToStream picks the run up again.
async function resume() {
  const transport = new DefaultChatTransport({ api });
  const abort = new AbortController();
  const sent = await transport.sendMessages({
    chatId: options.chatId,
    messages: [userMessage("u1", options.text)],
    trigger: "submit-message",
    messageId: undefined,
    abortSignal: abort.signal,
  });
  const before = [];
  let deltas = 0;
  let partial;
  try {
    for await (const update of readUIMessageStream({
      stream: sent.pipeThrough(
        new TransformStream({
          transform(chunk, controller) {
            before.push(chunk);
            controller.enqueue(chunk);
            if (chunk.type === "text-delta" && ++deltas === options.cutAfter) abort.abort();
          },
        }),
      ),
    })) {
      partial = structuredClone(update);
    }
  } catch (error) {
    if (error?.name !== "AbortError") throw error;
  }
  const resumed = await transport.reconnectToStream({ chatId: options.chatId });
  if (resumed === null) throw new Error("reconnectToStream found no active run to resume");
  const after = await readAll(resumed);
  // The run is over now: nothing left to resume.
  const again = await transport.reconnectToStream({ chatId: options.chatId });
  return { before, partial, after: after.chunks, message: after.message, againIsNull: again === null };
}

// A stop request mid-answer (the AI SDK docs' stop pattern: POST .../stop, then stop()).
async function stop() {
  const transport = new DefaultChatTransport({ api });
  const sent = await transport.sendMessages({
    chatId: options.chatId,
    messages: [userMessage("u1", options.text)],
    trigger: "submit-message",
    messageId: undefined,
  });
  let stopStatus;
  const { message, chunks } = await readAll(sent, (chunk) => {
    if (chunk.type === "text-delta" && stopStatus === undefined) {
      stopStatus = "pending";
      fetch(`${api}/${options.chatId}/stop`, { method: "POST" }).then((r) => {
        stopStatus = r.status;
      });
    }
  });
  return { message, chunks, stopStatus };
}

// A client-side tool answered with addToolOutput; while the follow-up run streams, another client
// resumes the chat: its replay holds the whole UIMessage, the earlier run's share included.
async function resumeContinuation() {
  const instance = new Chat({
    id: options.chatId,
    transport: new DefaultChatTransport({ api, body: { tools: options.tools } }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
  });
  await instance.sendMessage({ text: options.text });
  const call = instance.messages.at(-1).parts.find((p) => p.type === `tool-${options.tools[0].name}`);
  instance.addToolOutput({ tool: options.tools[0].name, toolCallId: call.toolCallId, output: options.output });
  while (instance.status !== "streaming") await new Promise((resolve) => setTimeout(resolve, 2));
  const resumed = await new DefaultChatTransport({ api }).reconnectToStream({ chatId: options.chatId });
  if (resumed === null) throw new Error("the follow-up run ended before the resume");
  const { message, chunks } = await readAll(resumed);
  while (instance.status !== "ready") await new Promise((resolve) => setTimeout(resolve, 10));
  return { resumed: message, chunks, messages: instance.messages };
}

// A tool that waits for approval: the part asks (approval-requested), addToolApprovalResponse answers,
// and the answer is sent on automatically; the run that continues the message runs (or skips) the tool.
async function approve() {
  const instance = new Chat({
    id: options.chatId,
    transport: new DefaultChatTransport({ api }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  await instance.sendMessage({ text: options.text });
  const asked = structuredClone(instance.messages.at(-1));
  const part = asked.parts.find((p) => p.state === "approval-requested");
  if (part === undefined) throw new Error(`no approval was requested: ${JSON.stringify(asked)}`);
  await instance.addToolApprovalResponse({ id: part.approval.id, approved: options.approved });
  const answered = () =>
    instance.messages.at(-1).parts.some((p) => p.toolCallId === part.toolCallId && p.state.startsWith("output-"));
  const deadline = Date.now() + 30_000;
  while (!(answered() && instance.status === "ready") && instance.status !== "error" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { asked, messages: instance.messages, status: instance.status, error: instance.error?.message };
}

const scenarios = { chat, resume, stop, resumeContinuation, approve };
try {
  process.stdout.write(JSON.stringify(await scenarios[scenario]()));
} catch (error) {
  process.stderr.write(`ai client failed: ${error?.stack ?? error}\n`);
  process.exit(1);
}
