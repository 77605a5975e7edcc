import { isE2ee, openE2eeText, sealE2ee, serializeE2ee } from "../crypto/e2ee/index.js";
import { api, ApiError, enc, listAgents } from "./api.js";
import { clear, copy, field, h, statusLine, table, when } from "./dom.js";
import * as session from "./session.js";

// Secrets: the list shows names, versions and dates only; a value appears only when asked for,
// one at a time. E2EE values are sealed and opened here with the same src/crypto/e2ee module the
// CLI and `agent run` use, bound to "AGENT/NAME": what the server stores is the envelope.

interface Row {
  agent: string;
  name: string;
  version: number;
  versions: number;
  updated_at: string;
}
interface Version {
  version: number;
  created_at: string;
  size: number;
  deleted: boolean;
  mode?: string;
}
interface Value {
  version: number;
  encoding: "utf8" | "base64";
  value: string;
  mode?: string;
}

const b64utf8 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

export async function secretsPage(view: HTMLElement) {
  const say = statusLine();
  const list = h("div", {});
  const agents = await listAgents();

  // The Encryption Master Key prompt (seed 002): asked once per tab, kept in sessionStorage.
  const passBox = h("section", { "aria-labelledby": "e2ee-h" });
  function renderPass() {
    const p1 = h("input", { type: "password", autocomplete: "off" });
    const p2 = h("input", { type: "password", autocomplete: "off" });
    const passSay = statusLine();
    clear(
      passBox,
      h("h2", { id: "e2ee-h" }, "End-to-end encryption"),
      h("p", { class: "warn" }, "Your Encryption Master Key (passphrase) never leaves this browser. Clawkeep cannot recover it: if you lose it, every value sealed with it is lost for good."),
      session.passphrase()
        ? h("p", {}, "Passphrase set for this tab. ", h("button", { type: "button", onclick: () => (session.forgetPassphrase(), renderPass()) }, "Forget passphrase"))
        : h(
            "form",
            {
              onsubmit: (ev) => {
                ev.preventDefault();
                if (p1.value.length < 8) return passSay.say("Use at least 8 characters (a long passphrase is better).", "error");
                if (p1.value !== p2.value) return passSay.say("The two entries differ.", "error");
                session.setPassphrase(p1.value);
                renderPass();
              },
            },
            field("Encryption Master Key", p1, "Kept in this tab's sessionStorage until you log out or close the tab. Use the same one as the agent's ENCRYPTION_SECRET."),
            field("Repeat it", p2),
            h("button", { type: "submit" }, "Use this passphrase"),
            passSay,
          ),
    );
  }
  renderPass();

  const needPass = () => {
    const p = session.passphrase();
    if (!p) {
      passBox.querySelector("input")?.focus();
      throw new Error("Enter your Encryption Master Key first (above).");
    }
    return p;
  };

  // Password mode needs the user's credential password, set once (Argon2id verifier only).
  function setPasswordForm() {
    const a = h("input", { type: "password", autocomplete: "new-password" });
    const b = h("input", { type: "password", autocomplete: "new-password" });
    const go = h("button", { type: "button" }, "Set credential password");
    go.addEventListener("click", () =>
      void (async () => {
        if (a.value.length < 8 || a.value !== b.value) return say.say("Use at least 8 characters, the same twice.", "error");
        try {
          await api("PUT", "/v1/credential-password", { body: { password: a.value } });
          a.value = b.value = "";
          say.say("Credential password set: enter it below whenever you store or reveal a password-mode value.", "ok");
          pwField.replaceChildren(field("Credential password", pwIn));
        } catch (e) {
          say.say((e as Error).message, "error");
        }
      })(),
    );
    return h("div", {}, h("p", { class: "warn" }, "Password mode needs your credential password, set once. The server keeps only a verifier: a lost password means lost values."), field("New credential password", a), field("Repeat the credential password", b), go);
  }

  // Put
  const agentSel = h("select", { required: true }, ...agents.map((a) => h("option", { value: a.name }, a.name)));
  const nameIn = h("input", { type: "text", required: true, pattern: "[A-Za-z_][A-Za-z0-9_]{0,127}", autocomplete: "off", spellcheck: "false" });
  const valueIn = h("textarea", { rows: 3, required: true, autocomplete: "off", spellcheck: "false" });
  const modeSel = h("select", {}, h("option", { value: "e2ee" }, "End-to-end (sealed in this browser)"), h("option", { value: "platform" }, "Platform-managed"), h("option", { value: "password" }, "Password-derived"));
  const pwIn = h("input", { type: "password", autocomplete: "off" });
  const pwSet = (await api<{ set: boolean }>("GET", "/v1/credential-password")).set;
  const pwField = h("div", {}, pwSet ? field("Credential password", pwIn, "Sent once in a request header to seal the value; never stored.") : setPasswordForm());
  const syncMode = () => (pwField.hidden = modeSel.value !== "password");
  modeSel.addEventListener("change", syncMode);
  syncMode();
  const putForm = h(
    "form",
    {
      onsubmit: (ev) => {
        ev.preventDefault();
        void (async () => {
          const agent = agentSel.value;
          const name = nameIn.value.trim();
          try {
            let value = valueIn.value;
            const headers: Record<string, string> = {};
            if (modeSel.value === "e2ee") value = serializeE2ee(await sealE2ee(needPass(), value, { context: `${agent}/${name}` }));
            if (modeSel.value === "password") {
              headers["x-clawkeep-credential-mode"] = "password";
              headers["x-clawkeep-credential-password"] = b64utf8(pwIn.value);
            }
            const r = await api<{ version: number }>("PUT", `/v1/secrets/${enc(agent)}/${enc(name)}`, { body: { value, encoding: "utf8" }, headers });
            valueIn.value = "";
            pwIn.value = "";
            say.say(`Stored ${agent}/${name} version ${r.version}${modeSel.value === "e2ee" ? " (sealed in this browser: the server holds only the envelope)" : ""}.`, "ok");
            await refresh();
          } catch (e) {
            say.say((e as Error).message, "error");
          }
        })();
      },
    },
    h("h2", {}, "Store a value"),
    field("Agent", agentSel),
    field("Name", nameIn, "An environment variable name, e.g. OPENAI_API_KEY."),
    field("Value", valueIn),
    field("Mode", modeSel),
    pwField,
    h("button", { type: "submit", disabled: agents.length === 0 }, "Store"),
    agents.length === 0 ? h("p", {}, "Create an agent first: values belong to an agent.") : null,
  );

  // Reveal: one value at a time, into an output the user can hide again.
  function revealer(r: Row) {
    const out = h("output", { class: "secret", "aria-live": "polite" });
    const pw = h("input", { type: "password", autocomplete: "off" });
    const pwBox = h("div", { hidden: true }, field(`Credential password for ${r.agent}/${r.name}`, pw));
    const open = async () => {
      try {
        const headers: Record<string, string> = pw.value ? { "x-clawkeep-credential-password": b64utf8(pw.value) } : {};
        const v = await api<Value>("GET", `/v1/secrets/${enc(r.agent)}/${enc(r.name)}`, { headers });
        pw.value = "";
        pwBox.hidden = true;
        let text = v.encoding === "utf8" ? v.value : `(binary, base64) ${v.value}`;
        let note = v.mode === "password" ? "password mode" : "platform-managed";
        if (v.encoding === "utf8" && isE2ee(v.value)) {
          const pass = needPass();
          try {
            text = await openE2eeText(pass, v.value, { context: `${r.agent}/${r.name}` });
            note = "end-to-end: opened in this browser";
          } catch (e) {
            throw new Error("This end-to-end value does not open with the passphrase of this tab: forget it and enter the right one.", { cause: e });
          }
        }
        clear(out, h("code", {}, text), ` (v${v.version}, ${note}) `, h("button", { type: "button", onclick: () => void copy(text, say.say) }, "Copy"), h("button", { type: "button", onclick: () => clear(out) }, "Hide"));
      } catch (e) {
        if (e instanceof ApiError && (e.code === "credential_password_required" || e.code === "credential_password_invalid")) {
          pwBox.hidden = false;
          pw.focus();
          say.say(e.code === "credential_password_invalid" ? "Wrong credential password." : "This value is in password mode: enter your credential password, then Reveal again.", "error");
        } else say.say((e as Error).message, "error");
      }
    };
    const versions = h("div", {});
    const showVersions = async () => {
      const v = await api<{ versions: Version[] }>("GET", `/v1/secrets/${enc(r.agent)}/${enc(r.name)}/versions`);
      clear(versions, table(["Version", "Created", "Size", "Mode", ""], v.versions.map((x) => [x.version, when(x.created_at), `${x.size} B`, x.mode ?? "", x.deleted ? "deleted" : ""]), `Versions of ${r.agent}/${r.name}`));
    };
    return h(
      "div",
      {},
      h("div", { class: "row" }, h("button", { type: "button", onclick: () => void open() }, `Reveal ${r.agent}/${r.name}`), h("button", { type: "button", onclick: () => void showVersions().catch((e: Error) => say.say(e.message, "error")) }, `Versions of ${r.agent}/${r.name}`)),
      pwBox,
      out,
      versions,
    );
  }

  const refresh = async () => {
    const rows = (await api<{ secrets: Row[] }>("GET", "/v1/secrets")).secrets;
    clear(list, rows.length === 0 ? h("p", {}, "No secrets yet.") : table(["Agent", "Name", "Latest", "Versions", "Updated", ""], rows.map((r) => [r.agent, h("code", {}, r.name), `v${r.version}`, r.versions, when(r.updated_at), revealer(r)]), "Your secrets (values are never listed)"));
  };

  view.append(passBox, h("section", { "aria-label": "Store a value" }, putForm), say, h("section", { "aria-label": "Secrets" }, list));
  await refresh();
}
