import { api, enc, listAgents, type Agent } from "./api.js";
import { clear, copy, field, h, statusLine, table, when } from "./dom.js";

// Agents: register, disable, erase; the gateway each one is reached at, and whether it answers.

interface Gateway {
  gateway_url: string | null;
}

export async function agentsPage(view: HTMLElement) {
  const say = statusLine();
  const list = h("div", {});
  const secretBox = h("div", {});

  const refresh = async () => {
    const agents = await listAgents();
    const gateways = await Promise.all(agents.map((a) => api<Gateway>("GET", `/v1/agents/${enc(a.name)}/gateway`).catch(() => ({ gateway_url: null }))));
    clear(
      list,
      agents.length === 0
        ? h("p", {}, "No agents yet.")
        : table(
            ["Agent", "Status", "Created", "Gateway", "Actions"],
            agents.map((a, i) => [h("strong", {}, a.name), a.status, when(a.created_at), gatewayCell(a, gateways[i]!.gateway_url, refresh), actions(a)]),
            "Your agents",
          ),
    );
  };

  function actions(a: Agent) {
    const toggle = h(
      "button",
      {
        type: "button",
        onclick: () =>
          void run(async () => {
            await api("POST", `/v1/agents/${enc(a.name)}/${a.status === "active" ? "disable" : "enable"}`);
            say.say(`${a.name} is ${a.status === "active" ? "disabled: its handshakes and gateway are refused" : "enabled again"}.`, "ok");
          }),
      },
      a.status === "active" ? `Disable ${a.name}` : `Enable ${a.name}`,
    );
    // Erasure cannot be undone, so it needs the name typed out, not just a click.
    const confirmInput = h("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    const del = h("button", { type: "button", class: "danger", disabled: true }, `Delete ${a.name}`);
    confirmInput.addEventListener("input", () => (del.disabled = confirmInput.value !== a.name));
    del.addEventListener("click", () =>
      void run(async () => {
        const r = await api<{ versions: number; epochs_destroyed: number }>("DELETE", `/v1/agents/${enc(a.name)}`);
        say.say(`${a.name} is erased: ${r.versions} secret versions destroyed with their keys.`, "ok");
      }),
    );
    const danger = h("details", {}, h("summary", {}, "Delete…"), h("p", {}, "Deleting erases every secret of this agent cryptographically: nobody, including the operator, can get them back."), field(`Type ${a.name} to confirm`, confirmInput), del);
    return h("div", { class: "row" }, toggle, danger);
  }

  function gatewayCell(a: Agent, url: string | null, after: () => Promise<void>) {
    const out = statusLine();
    const input = h("input", { type: "url", value: url ?? "", placeholder: "https://gateway.example:3000" });
    const save = h("button", { type: "button", onclick: () => void run(async () => void (await api("PUT", `/v1/agents/${enc(a.name)}/gateway`, { body: { url: input.value.trim() } })), after) }, "Save gateway");
    const health = h(
      "button",
      {
        type: "button",
        onclick: async () => {
          out.say("Checking…");
          try {
            const r = await api<{ ok: boolean; status: number; latency_ms: number }>("GET", `/v1/agents/${enc(a.name)}/health`);
            out.say(r.ok ? `healthy (HTTP ${r.status}, ${r.latency_ms} ms)` : `unhealthy (HTTP ${r.status})`, r.ok ? "ok" : "error");
          } catch (e) {
            out.say((e as Error).message, "error");
          }
        },
      },
      `Check health of ${a.name}`,
    );
    return h("div", {}, url ? h("code", {}, url) : h("em", {}, "none"), h("details", {}, h("summary", {}, "Set…"), field(`Gateway URL of ${a.name}`, input), save), url ? health : null, out);
  }

  async function run(f: () => Promise<void>, after = refresh) {
    try {
      await f();
      await after();
    } catch (e) {
      say.say((e as Error).message, "error");
    }
  }

  const nameInput = h("input", { type: "text", pattern: "[a-z0-9][a-z0-9-]{0,62}", required: true, autocomplete: "off", spellcheck: "false" });
  const create = h(
    "form",
    {
      onsubmit: (ev) => {
        ev.preventDefault();
        void run(async () => {
          const r = await api<Agent & { agent_secret: string }>("POST", "/v1/agents", { body: { name: nameInput.value.trim() } });
          nameInput.value = "";
          showSecretOnce(r);
        });
      },
    },
    field("New agent name", nameInput, "Lower-case letters, digits and dashes."),
    h("button", { type: "submit" }, "Create agent"),
  );

  // The agent secret exists in a response exactly once; this box is its only copy in the page,
  // and dismissing it removes it from the DOM.
  function showSecretOnce(r: Agent & { agent_secret: string }) {
    const copied = statusLine();
    const secret = h("output", { id: "agent-secret", class: "secret" }, r.agent_secret);
    clear(
      secretBox,
      h(
        "div",
        { class: "once", role: "region", "aria-label": "New agent secret" },
        h("h2", {}, `Agent ${r.name} created`),
        h("p", {}, "Give these to the agent (CLAWKEEP_AGENT_ID and CLAWKEEP_AGENT_SECRET). The secret is shown now and never again."),
        h("p", {}, "Agent id: ", h("code", {}, r.agent_id)),
        secret,
        h("div", { class: "row" }, h("button", { type: "button", onclick: () => void copy(r.agent_secret, copied.say) }, "Copy secret"), h("button", { type: "button", onclick: () => clear(secretBox) }, "I have stored it")),
        copied,
      ),
    );
    secretBox.querySelector("button")?.focus();
  }

  view.append(h("section", { "aria-label": "Create an agent" }, create), secretBox, say, list);
  await refresh();
}
