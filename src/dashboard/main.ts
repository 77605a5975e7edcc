import { api, ApiError, whenUnauthorized, type Me } from "./api.js";
import { clear, field, h, statusLine } from "./dom.js";
import * as session from "./session.js";
import { agentsPage } from "./agents.js";
import { secretsPage } from "./secrets.js";
import { supportPage } from "./support.js";
import { auditPage } from "./audit.js";
import { chatPage } from "./chat.js";
import { forgetGatewayUi } from "./gateway-ui.js";

// The dashboard's shell: sign-in, navigation and logout. Pages are picked by the URL fragment
// (#/agents…), which never leaves the browser and never carries anything but a page name.

export interface Ctx {
  me: Me;
}
type Page = (view: HTMLElement, ctx: Ctx) => Promise<(() => void) | void>;

const PAGES: [hash: string, title: string, page: Page][] = [
  ["#/agents", "Agents", agentsPage],
  ["#/secrets", "Secrets", secretsPage],
  ["#/support", "Support access", supportPage],
  ["#/audit", "Audit log", auditPage],
  ["#/chat", "Chat", chatPage],
];

const root = document.getElementById("app")!;
let cleanup: (() => void) | void = undefined;

function loginView(notice?: string) {
  const say = statusLine();
  if (notice) say.say(notice, "error");
  const tokenInput = h("input", { type: "password", name: "token", autocomplete: "off", spellcheck: "false", required: true });
  const form = h(
    "form",
    {
      onsubmit: (ev) => {
        ev.preventDefault();
        void (async () => {
          const t = tokenInput.value.trim();
          try {
            await api<Me>("GET", "/v1/whoami", { token: t });
          } catch (e) {
            return say.say(e instanceof ApiError && e.status === 401 ? "This token is not valid (wrong, expired or revoked)." : (e as Error).message, "error");
          }
          tokenInput.value = "";
          session.signIn(t);
          await start();
        })();
      },
    },
    field("API token", tokenInput, "A ck_… token (clawkeep token create). It stays in this tab only and is forgotten when you log out or close the tab."),
    h("button", { type: "submit" }, "Sign in"),
  );

  // The challenge login (seed 003): the secret half stays in this page's memory; only the
  // challenge id travels in the Telegram link.
  const tg = statusLine();
  const linkBox = h("div", {});
  let polling = 0;
  const tgButton = h("button", {
    type: "button",
    onclick: () =>
      void (async () => {
        window.clearInterval(polling);
        try {
          const c = await api<{ challenge_id: string; challenge_secret: string; deep_link: string; expires_at: string }>("POST", "/v1/auth/challenge", { body: {} });
          clear(linkBox, h("p", {}, "Open this link in Telegram and tap Start: ", h("a", { href: c.deep_link, target: "_blank", rel: "noopener noreferrer", id: "tg-link" }, "sign in with Telegram")));
          tg.say("Waiting for Telegram…");
          const poll = async () => {
            try {
              const r = await api<{ token: string; user: { name: string } }>("POST", "/v1/auth/verify", { body: { challenge_id: c.challenge_id, challenge_secret: c.challenge_secret } });
              window.clearInterval(polling);
              const me = await api<Me>("GET", "/v1/whoami", { token: r.token });
              session.signIn(r.token, me.token_id);
              await start();
            } catch (e) {
              if (e instanceof ApiError && e.code === "challenge_pending") return;
              window.clearInterval(polling);
              tg.say((e as Error).message, "error");
            }
          };
          polling = window.setInterval(() => void poll(), 1500);
        } catch (e) {
          tg.say((e as Error).message, "error");
        }
      })(),
  }, "Sign in with Telegram");

  clear(
    root,
    h(
      "main",
      { class: "login", id: "view" },
      h("h1", {}, "Clawkeep"),
      h("p", {}, "Your keep for agent secrets. The server never sees your end-to-end encrypted values or your passphrase: they are sealed and opened in this browser."),
      h("section", { "aria-labelledby": "login-token" }, h("h2", { id: "login-token" }, "Sign in with a token"), form, say),
      h("section", { "aria-labelledby": "login-tg" }, h("h2", { id: "login-tg" }, "Or with the challenge login"), tgButton, linkBox, tg),
    ),
  );
  tokenInput.focus();
}

async function logout() {
  const id = session.sessionTokenId();
  // A login session ends for good; a pasted API token is the user's own (their CLI may use it),
  // so it is only forgotten here.
  if (id) await api("DELETE", `/v1/tokens/${encodeURIComponent(id)}`).catch(() => undefined);
  await forgetGatewayUi();
  session.wipe();
  cleanup?.();
  location.hash = "";
  loginView("You are logged out: this tab no longer holds your token or passphrase.");
}

async function start() {
  if (!session.token()) return loginView();
  let me: Me;
  try {
    me = await api<Me>("GET", "/v1/whoami");
  } catch (e) {
    session.wipe();
    return loginView(e instanceof ApiError && e.status === 401 ? "Your session has ended: sign in again." : (e as Error).message);
  }
  const view = h("main", { id: "view", tabindex: "-1" });
  const nav = h("nav", { "aria-label": "Dashboard" }, h("ul", {}, ...PAGES.map(([hash, title]) => h("li", {}, h("a", { href: hash }, title)))));
  clear(
    root,
    h("header", {}, h("span", { class: "brand" }, "Clawkeep"), nav, h("span", { class: "who" }, `${me.user.name}${me.user.admin ? " (admin)" : ""}`), h("button", { type: "button", id: "logout", onclick: () => void logout() }, "Log out")),
    view,
  );
  const route = async () => {
    cleanup?.();
    cleanup = undefined;
    delete view.dataset.ready;
    const entry = PAGES.find(([hash]) => location.hash.startsWith(hash)) ?? PAGES[0]!;
    for (const a of nav.querySelectorAll("a")) a.toggleAttribute("aria-current", a.getAttribute("href") === entry[0]);
    document.title = `${entry[1]} · Clawkeep`;
    clear(view, h("h1", {}, entry[1]));
    try {
      cleanup = await entry[2](view, { me });
    } catch (e) {
      view.append(h("p", { role: "alert", class: "status error" }, (e as Error).message));
    }
    view.dataset.ready = entry[0];
    view.focus();
  };
  window.onhashchange = () => void route();
  await route();
}

whenUnauthorized((msg) => {
  void forgetGatewayUi();
  session.wipe();
  cleanup?.();
  loginView(msg);
});
void start();
