import { api, type AuditEvent } from "./api.js";
import { clear, h, statusLine, table, when } from "./dom.js";
import type { Ctx } from "./main.js";
import { commandOf, describe } from "./support.js";

// The user's audit events, a page at a time (the API pages forward from a sequence number, so
// "Newer"/"Older" keep the cursors of the pages already seen), and the chain's verification.

const PAGE = 50;

export async function auditPage(view: HTMLElement, ctx: Ctx) {
  const verify = statusLine();
  const say = statusLine();
  const list = h("div", {});
  const cursors: number[] = [0];
  let next: number | null = null;
  const older = h("button", { type: "button", disabled: true }, "Previous page");
  const newer = h("button", { type: "button", disabled: true }, "Next page");
  const pos = h("span", {});

  const load = async () => {
    const after = cursors[cursors.length - 1]!;
    const r = await api<{ events: AuditEvent[]; next: number | null }>("GET", `/v1/audit?after=${after}&limit=${PAGE}`);
    next = r.next;
    older.disabled = cursors.length === 1;
    newer.disabled = next === null;
    pos.textContent = ` Page ${cursors.length} `;
    clear(
      list,
      r.events.length === 0
        ? h("p", {}, "No events.")
        : table(
            ["#", "Time", "Actor", "Action", "Target", "Outcome", "Details"],
            r.events.map((e) => [e.seq, when(e.time), e.actor, e.action, e.target, e.outcome, commandOf(e) !== null ? h("span", {}, h("code", {}, commandOf(e)!), " ", describe(e)) : describe(e)]),
            "Audit events, oldest first",
          ),
    );
  };
  older.addEventListener("click", () => {
    cursors.pop();
    void load().catch((e: Error) => say.say(e.message, "error"));
  });
  newer.addEventListener("click", () => {
    if (next === null) return;
    cursors.push(next);
    void load().catch((e: Error) => say.say(e.message, "error"));
  });

  const check = async () => {
    verify.say("Verifying the chain…");
    try {
      if (ctx.me.user.admin) {
        const r = await api<{ ok: boolean; count: number; seq?: number; reason?: string }>("GET", "/v1/audit/verify");
        verify.say(r.ok ? `Chain verified: ${r.count} events, every hash and MAC intact.` : `Chain BROKEN at event ${r.seq}: ${r.reason}`, r.ok ? "ok" : "error");
        return;
      }
      // A user is told whether the chain that holds their events is intact and when it was
      // checked; its length and where it breaks are the operator's (they tell of every user).
      const r = await api<{ ok: boolean; verified_at: string }>("GET", "/v1/audit/verify");
      verify.say(
        r.ok
          ? `Chain verified at ${new Date(r.verified_at).toLocaleString()}: every hash and MAC intact.`
          : `Chain BROKEN (checked ${new Date(r.verified_at).toLocaleString()}): the audit log was altered. Tell your operator; they can see where.`,
        r.ok ? "ok" : "error",
      );
    } catch (e) {
      verify.say((e as Error).message, "error");
    }
  };

  view.append(
    h("section", { "aria-label": "Chain verification" }, h("div", { class: "row" }, h("button", { type: "button", onclick: () => void check() }, "Verify the chain")), verify),
    say,
    list,
    h("nav", { class: "row", "aria-label": "Audit pages" }, older, pos, newer),
  );
  await check();
  await load();
}
