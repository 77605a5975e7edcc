import { api, enc, listAgents, type Agent, type AuditEvent } from "./api.js";
import { clear, duration, field, h, statusLine, table, when } from "./dom.js";

// Support access (seed 001 §2): "Support Access: OFF [Grant access - expires in 24h]", per agent,
// with a live countdown and an immediate revoke; below it, every support event the audit log holds
// for that agent, with the command text of each command run in a support session.

interface Grant {
  id: string;
  operator: string;
  public_key: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  verified: boolean;
}

const DURATIONS: [string, number][] = [
  ["1 hour", 3600],
  ["4 hours", 4 * 3600],
  ["24 hours", 24 * 3600],
  ["3 days", 3 * 86400],
  ["7 days", 7 * 86400],
];

/** Support events are read generically: any action naming support, any metadata field naming a command. */
export const isSupportEvent = (e: AuditEvent) => /support/i.test(e.action);
export function commandOf(e: AuditEvent): string | null {
  const m = e.metadata;
  for (const k of ["command", "original_command", "ssh_original_command", "cmd"]) if (typeof m[k] === "string") return m[k];
  return null;
}
// An event that names its agent's id belongs to that agent only: a deleted agent's events keep its
// name, and must not show up under a later agent of the same name.
const aboutAgent = (e: AuditEvent, a: Agent) =>
  typeof e.metadata.agent_id === "string" ? e.metadata.agent_id === a.agent_id : e.target === `agent/${a.name}` || e.target.startsWith(`agent/${a.name}/`) || e.metadata.agent === a.name;

/** The user's whole audit trail, oldest first, a page of 1000 at a time (capped). */
async function allEvents(cap = 20_000): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let after = 0;
  while (out.length < cap) {
    const r = await api<{ events: AuditEvent[]; next: number | null }>("GET", `/v1/audit?after=${after}&limit=1000`);
    out.push(...r.events);
    if (r.next === null) break;
    after = r.next;
  }
  return out;
}

// Ids that say nothing to a reader of the log (the grant is named by its operator).
const QUIET = new Set(["grant_id", "agent_id", "record_id", "kind", "command", "original_command", "ssh_original_command", "cmd"]);

export function describe(e: AuditEvent): string {
  const m = e.metadata;
  const parts = Object.entries(m)
    .filter(([k]) => !QUIET.has(k))
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return parts.join(", ");
}

export async function supportPage(view: HTMLElement) {
  const [agents, op] = await Promise.all([listAgents(), api<{ operator: string; public_key: string | null }>("GET", "/v1/support/operator")]);
  const say = statusLine();
  const timers: number[] = [];
  const body = h("div", {});
  view.append(
    h("p", {}, "Let the operator's support staff into one agent's machine over SSH, for a limited time. Every command they run is recorded in your audit log and shown here. You can revoke at any moment."),
    say,
    body,
  );

  const render = async () => {
    timers.splice(0).forEach((t) => window.clearInterval(t));
    const events = (await allEvents()).filter(isSupportEvent);
    const sections = await Promise.all(agents.filter((a) => a.status === "active").map(async (a) => section(a, (await api<{ grants: Grant[] }>("GET", `/v1/agents/${enc(a.name)}/support-access`)).grants, events.filter((e) => aboutAgent(e, a)))));
    clear(body, agents.length === 0 ? h("p", {}, "No agents yet.") : null, ...sections);
  };

  function section(a: Agent, grants: Grant[], events: AuditEvent[]) {
    const active = grants.filter((g) => !g.revoked_at && g.verified && Date.parse(g.expires_at) > Date.now());
    const headId = `support-${a.name}`;
    const state = h("p", { class: active.length ? "on" : "off" }, `Support Access: ${active.length ? "ON" : "OFF"}`);
    const controls = h("div", {});
    if (active.length) {
      for (const g of active) {
        const left = h("span", { class: "countdown", role: "timer", "aria-live": "off" }, duration(Date.parse(g.expires_at) - Date.now()));
        timers.push(window.setInterval(() => {
          const ms = Date.parse(g.expires_at) - Date.now();
          left.textContent = duration(ms);
          if (ms <= 0) void render();
        }, 1000));
        controls.append(
          h(
            "div",
            { class: "row" },
            h("span", {}, `${g.operator} (${g.public_key.split(" ")[0]} …${g.public_key.slice(-12)}) — expires in `, left, ` (${when(g.expires_at)})`),
            h("button", { type: "button", class: "danger", onclick: () => void act(async () => void (await api("DELETE", `/v1/agents/${enc(a.name)}/support-access/${enc(g.id)}`)), `Support access to ${a.name} revoked.`) }, `Revoke access to ${a.name} now`),
          ),
        );
      }
    } else {
      const dur = h("select", {}, ...DURATIONS.map(([label, s]) => h("option", { value: s, selected: s === 86400 }, label)));
      const key = h("textarea", { rows: 2, spellcheck: "false", value: op.public_key ?? "", readonly: op.public_key !== null });
      controls.append(
        h(
          "form",
          {
            onsubmit: (ev) => {
              ev.preventDefault();
              const ttl = Number(dur.value);
              void act(async () => void (await api("POST", `/v1/agents/${enc(a.name)}/support-access`, { body: { public_key: key.value.trim(), operator: op.operator, ttl_seconds: ttl } })), `Support access to ${a.name} granted.`);
            },
          },
          field(`Operator key for ${a.name}`, key, op.public_key ? `The operator's key (${op.operator}), as configured on this server.` : "Paste the SSH public key the operator gave you."),
          field(`Expires after (${a.name})`, dur),
          h("button", { type: "submit" }, `Grant access to ${a.name}`),
        ),
      );
    }
    const log = events.length
      ? table(["Time", "Event", "Actor", "Command", "Details"], events.map((e) => [when(e.time), e.action, e.actor, commandOf(e) !== null ? h("code", {}, commandOf(e)!) : "", describe(e)]), `Support log of ${a.name}`)
      : h("p", {}, "No support activity recorded for this agent.");
    return h("section", { class: "card", "aria-labelledby": headId }, h("h2", { id: headId }, a.name), state, controls, log);
  }

  async function act(f: () => Promise<void>, done: string) {
    try {
      await f();
      say.say(done, "ok");
      await render();
    } catch (e) {
      say.say((e as Error).message, "error");
    }
  }

  await render();
  return () => timers.forEach((t) => window.clearInterval(t));
}
