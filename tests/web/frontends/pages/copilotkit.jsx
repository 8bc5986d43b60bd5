// A CopilotKit page: the runtime (same origin, /api/copilotkit) fronts agentstream's AG-UI endpoint.
// `?thread=<id>` names the thread, so a reload re-attaches to it. It renders the server tool
// get_weather's result and offers a frontend tool, confirm_booking, that the browser answers.
import { CopilotChat, CopilotKit, useFrontendTool, useRenderTool } from "@copilotkit/react-core/v2";
import "@copilotkit/react-core/v2/styles.css";
import { createRoot } from "react-dom/client";
import { z } from "zod";

const threadId = new URLSearchParams(location.search).get("thread");
window.confirmations = [];

function Tools() {
  useRenderTool(
    {
      name: "get_weather",
      parameters: z.object({ city: z.string() }),
      render: ({ status, result }) => (
        <div className="weather-result" data-status={status}>{status === "complete" ? result : "…"}</div>
      ),
    },
    [],
  );
  useFrontendTool(
    {
      name: "confirm_booking",
      description: "Ask the user to confirm a booking.",
      parameters: z.object({ summary: z.string() }),
      handler: async ({ summary }) => {
        window.confirmations.push(summary);
        return "Confirmed by the user";
      },
    },
    [],
  );
  return null;
}

createRoot(document.getElementById("root")).render(
  <CopilotKit runtimeUrl="/api/copilotkit" useSingleEndpoint={false} agentId="assistant" enableInspector={false}>
    <Tools />
    <CopilotChat agentId="assistant" threadId={threadId} />
  </CopilotKit>,
);
