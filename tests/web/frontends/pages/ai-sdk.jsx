// A chat page as the AI SDK docs build one: useChat with resume: true, the chat loaded from the
// server on open. `?chat=<id>` names the chat, `?api=<url>` the agent's chat route.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport } from "ai";
import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(location.search);
const chatId = params.get("chat");
const api = params.get("api");

function Chat({ initialMessages }) {
  const [input, setInput] = useState("");
  const { messages, sendMessage, status, error } = useChat({
    id: chatId,
    messages: initialMessages,
    resume: true,
    transport: new DefaultChatTransport({ api }),
  });
  useEffect(() => {
    document.body.dataset.status = status;
  }, [status]);
  return (
    <main>
      {messages.map((message) => (
        <div key={message.id} className={`msg ${message.role}`} data-id={message.id}>
          {message.parts.map((part, index) =>
            part.type === "text" ? (
              <p key={index} className="text">{part.text}</p>
            ) : part.type.startsWith("tool-") ? (
              <p key={index} className="tool" data-state={part.state}>{JSON.stringify(part.output ?? null)}</p>
            ) : null,
          )}
        </div>
      ))}
      {error ? <p id="error">{String(error.message)}</p> : null}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          sendMessage({ text: input });
          setInput("");
        }}
      >
        <input id="prompt" value={input} onChange={(event) => setInput(event.target.value)} />
        <button id="send" type="submit">Send</button>
      </form>
    </main>
  );
}

async function loadChat() {
  const response = await fetch(`${api}/${chatId}`);
  return response.status === 404 ? [] : (await response.json()).messages;
}

loadChat().then((messages) => createRoot(document.getElementById("root")).render(<Chat initialMessages={messages} />));
