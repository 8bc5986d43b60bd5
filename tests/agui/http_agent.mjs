// Drives agentstream's AG-UI endpoint with @ag-ui/client's HttpAgent, the reference TypeScript client.
// Usage: node http_agent.mjs <scenario> <json options>. Prints one JSON object: what the agent saw.
// HttpAgent verifies every stream it reads (RUN_STARTED first, deltas inside START/END, ...):
// a verification error rejects runAgent and this script exits non-zero with the message.
import { HttpAgent } from "@ag-ui/client";

const [scenario, raw] = process.argv.slice(2);
const options = JSON.parse(raw);

function recorder(into) {
  return { onEvent: ({ event }) => { into.push(event); } };
}

// One run: the user's message, optionally with frontend tools answered by `answers` (tool name → result).
async function run() {
  const agent = new HttpAgent({ url: options.url, threadId: options.threadId, initialMessages: options.messages });
  const runs = [];
  for (let round = 0; round < 4; round += 1) {
    const events = [];
    const result = await agent.runAgent({ tools: options.tools ?? [] }, recorder(events));
    runs.push({ events, newMessages: result.newMessages });
    const finished = events.at(-1);
    const pending = finished.outcome?.pendingToolCallIds ?? [];
    if (pending.length === 0) break;
    for (const id of pending) {
      const call = agent.messages.flatMap((m) => m.toolCalls ?? []).find((c) => c.id === id);
      agent.addMessage({ id: `${id}.answer`, role: "tool", toolCallId: id, content: options.answers[call.function.name] });
    }
  }
  return { runs, messages: agent.messages };
}

// A client that loses its connection mid-run and calls runAgent() again with what it had: the
// endpoint joins it to the running run (hydration) and it ends with the full conversation.
async function reconnect() {
  const agent = new HttpAgent({ url: options.url, threadId: options.threadId, initialMessages: options.messages });
  const first = [];
  let contents = 0;
  let dropped;
  const dropping = {
    onEvent: ({ event }) => {
      first.push(event);
      if (event.type === "TEXT_MESSAGE_CONTENT" && ++contents === options.dropAfter) {
        dropped = JSON.parse(JSON.stringify(agent.messages));
        agent.abortRun();
      }
    },
  };
  let firstError = null;
  try {
    await agent.runAgent({}, dropping);
  } catch (error) {
    firstError = String(error?.message ?? error);
  }
  const second = [];
  await agent.runAgent({}, recorder(second));
  return { first, firstError, dropped, second, messages: agent.messages };
}

// A run that outlasts one response (STREAM_MAX_SECONDS): each response ends without a terminal
// event, runAgent() resolves, and calling it again joins the run where it is, until it finishes.
async function follow() {
  const agent = new HttpAgent({ url: options.url, threadId: options.threadId, initialMessages: options.messages });
  const responses = [];
  while (responses.length < options.maxResponses) {
    const events = [];
    await agent.runAgent({}, recorder(events));
    responses.push(events);
    if (events.at(-1)?.type === "RUN_FINISHED") break;
  }
  return { responses, messages: agent.messages };
}

const scenarios = { run, reconnect, follow };
try {
  const output = await scenarios[scenario]();
  process.stdout.write(JSON.stringify(output));
} catch (error) {
  process.stderr.write(`HttpAgent failed: ${error?.stack ?? error}\n`);
  process.exit(1);
}
