import { enc, listAgents, wsProtocols } from "./api.js";
import { append, clear, field, h, statusLine } from "./dom.js";
import { openGatewayUi } from "./gateway-ui.js";
import * as session from "./session.js";

// Chat with an agent through the pipe: a WebSocket to /v1/agents/:name/gateway/<path> on this
// origin, the token as a Sec-WebSocket-Protocol entry (docs/formats.md §18). Clawkeep relays the
// frames without reading or keeping them; nothing of the conversation is stored by the page.

export async function chatPage(view: HTMLElement) {
  const agents = (await listAgents()).filter((a) => a.status === "active");
  const say = statusLine();
  const agentSel = h("select", {}, ...agents.map((a) => h("option", { value: a.name }, a.name)));
  const pathIn = h("input", { type: "text", value: "/", spellcheck: "false", autocomplete: "off" });
  const log = h("ol", { class: "chat", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const msgIn = h("input", { type: "text", autocomplete: "off", disabled: true });
  const send = h("button", { type: "submit", disabled: true }, "Send");
  const connectBtn = h("button", { type: "button" }, "Connect");
  let ws: WebSocket | null = null;

  const line = (who: string, text: string) => {
    log.append(h("li", { class: who }, h("strong", {}, `${who}: `), text));
    log.lastElementChild?.scrollIntoView({ block: "end" });
  };
  const setOpen = (open: boolean) => {
    msgIn.disabled = !open;
    send.disabled = !open;
    connectBtn.textContent = open ? "Disconnect" : "Connect";
  };

  connectBtn.addEventListener("click", () => {
    if (ws) return ws.close(1000);
    const p = pathIn.value.startsWith("/") ? pathIn.value : `/${pathIn.value}`;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/agents/${enc(agentSel.value)}/gateway${p}`;
    clear(log);
    say.say(`Connecting to ${agentSel.value}…`);
    const sock = new WebSocket(url, wsProtocols(session.token() ?? ""));
    ws = sock;
    sock.binaryType = "arraybuffer";
    sock.onopen = () => {
      say.say(`Connected to ${agentSel.value} through Clawkeep.`, "ok");
      setOpen(true);
      msgIn.focus();
    };
    sock.onmessage = (ev) => line("agent", typeof ev.data === "string" ? ev.data : `(binary, ${(ev.data as ArrayBuffer).byteLength} bytes)`);
    sock.onclose = (ev) => {
      if (ws === sock) ws = null;
      setOpen(false);
      say.say(ev.code === 1000 ? "Disconnected." : `Connection closed (${ev.code}${ev.code === 1008 ? ": access was revoked" : ev.code === 1006 ? ": refused or dropped — is the agent's gateway set and up?" : ""}).`, ev.code === 1000 ? "" : "error");
    };
  });

  const form = h(
    "form",
    {
      onsubmit: (ev) => {
        ev.preventDefault();
        if (!ws || ws.readyState !== WebSocket.OPEN || msgIn.value === "") return;
        ws.send(msgIn.value);
        line("you", msgIn.value);
        msgIn.value = "";
      },
    },
    field("Message", msgIn),
    send,
  );

  const uiSay = statusLine();
  const openUi = h(
    "button",
    {
      type: "button",
      onclick: () =>
        void openGatewayUi(agentSel.value).then(
          () => uiSay.say(`Opened ${agentSel.value}'s gateway UI in a new tab.`, "ok"),
          (e: Error) => uiSay.say(e.message, "error"),
        ),
    },
    "Open the gateway's web UI",
  );

  append(
    view,
    agents.length === 0 ? h("p", {}, "No active agents.") : null,
    h("div", { class: "row" }, field("Agent", agentSel), field("Gateway path", pathIn, "The WebSocket path on the agent's gateway, e.g. / or /ws.")),
    h("div", { class: "row" }, connectBtn),
    say,
    log,
    form,
    h(
      "section",
      { "aria-labelledby": "gwui" },
      h("h2", { id: "gwui" }, "The gateway's own web UI"),
      h("p", {}, "Opens the agent gateway's pages through Clawkeep in a new tab. Your token is added to its requests by this site's service worker, never put in a link. That page runs on this site's origin: open only a gateway you trust. Its own WebSocket cannot carry your token; use the chat above for live traffic."),
      openUi,
      uiSay,
    ),
  );
  return () => ws?.close(1000);
}
