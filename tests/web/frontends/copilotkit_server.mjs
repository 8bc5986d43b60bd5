// The CopilotKit runtime (Node) in front of a devhost, and the built test pages, on one loopback port.
// Usage: node copilotkit_server.mjs <port> <agentstream api url> <pages dir>. Prints "listening" when ready.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { CopilotRuntime, createCopilotRuntimeHandler } from "@copilotkit/runtime/v2";
import { createCopilotNodeHandler } from "@copilotkit/runtime/v2/node";
import { AgentStreamRunner, agentstreamAgents } from "../../../clients/copilotkit/agentstream-runner.mjs";

const [port, api, pages] = process.argv.slice(2);
const runtime = new CopilotRuntime({ agents: await agentstreamAgents(api), runner: new AgentStreamRunner(api) });
const copilotkit = createCopilotNodeHandler(createCopilotRuntimeHandler({ runtime, basePath: "/api/copilotkit" }));
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

const server = createServer(async (req, res) => {
  const path = new URL(req.url, "http://localhost").pathname;
  if (path.startsWith("/api/copilotkit")) return copilotkit(req, res);
  const file = join(pages, normalize(path).replace(/^(\.\.[/\\])+/, ""));
  try {
    const body = await readFile(file);
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
server.listen(Number(port), "127.0.0.1", () => console.log("listening"));
