// CopilotKit's runtime in front of agentstream, with agentstream's log as the only store.
//
//   import { CopilotRuntime, createCopilotRuntimeHandler } from "@copilotkit/runtime/v2";
//   import { agentstreamAgents, AgentStreamRunner } from "./agentstream-runner.mjs";
//
//   const api = "https://<your-app>.azurewebsites.net/api";
//   const runtime = new CopilotRuntime({ agents: await agentstreamAgents(api), runner: new AgentStreamRunner(api) });
//
// The runtime's default runner (InMemoryAgentRunner) keeps each thread's events in the runtime's
// own memory, so a page refreshed after the runtime restarted, or served by another instance,
// finds nothing to re-attach to. This runner keeps nothing: `connect` asks agentstream's AG-UI
// endpoint to join the thread (a run under way is hydrated: RUN_STARTED, a MESSAGES_SNAPSHOT, the
// open message re-opened, then the live tail; an idle thread replays its conversation), `stop`
// cancels the run, and `isRunning` reads the thread's status.
import { HttpAgent } from "@ag-ui/client";
import { AgentRunner } from "@copilotkit/runtime/v2";
import { Observable } from "rxjs";

// One HttpAgent per agent the app serves (GET {api}/agents), under the agent's name.
export async function agentstreamAgents(api, { headers = {} } = {}) {
  const response = await fetch(`${api}/agents`, { headers });
  if (!response.ok) throw new Error(`GET ${api}/agents answered ${response.status}: ${await response.text()}`);
  const { agents } = await response.json();
  return Object.fromEntries(
    agents.map((agent) => [
      agent.name,
      new HttpAgent({ url: agentUrl(api, agent.name), agentId: agent.name, description: agent.description, headers }),
    ]),
  );
}

function agentUrl(api, name) {
  return `${api}/agents/${encodeURIComponent(name)}/ag-ui`;
}

// The events an agent run emits, as the Observable CopilotKit's runtime streams to the browser.
function eventsOf(agent, input) {
  return new Observable((subscriber) => {
    agent
      .runAgent(input, { onEvent: ({ event }) => subscriber.next(event) })
      .then(() => subscriber.complete())
      .catch((error) => subscriber.error(error));
    return () => agent.abortRun();
  });
}

export class AgentStreamRunner extends AgentRunner {
  constructor(api, { headers = {} } = {}) {
    super();
    this.api = api;
    this.headers = headers;
  }

  run({ agent, input }) {
    return eventsOf(agent, input);
  }

  connect({ threadId, agentId }) {
    // No new messages: agentstream joins the thread instead of starting a run.
    const agent = new HttpAgent({ url: agentUrl(this.api, agentId), threadId, headers: this.headers });
    return eventsOf(agent, { threadId, runId: crypto.randomUUID(), messages: [], tools: [], context: [] });
  }

  async isRunning({ threadId }) {
    return (await this.activeRun(threadId)) !== null;
  }

  async stop({ threadId, runId }) {
    const active = await this.activeRun(threadId);
    if (active === null || (runId !== undefined && runId !== active)) return false;
    const url = `${this.api}/agent/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(active)}/cancel`;
    const response = await fetch(url, { method: "POST", headers: this.headers });
    return response.status === 202 || response.status === 200;
  }

  async activeRun(threadId) {
    const response = await fetch(`${this.api}/agent/threads/${encodeURIComponent(threadId)}`, { headers: this.headers });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`agentstream answered ${response.status}: ${await response.text()}`);
    return (await response.json()).active_run_id;
  }
}
