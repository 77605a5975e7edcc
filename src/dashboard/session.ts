// What this tab keeps, and where: sessionStorage only (gone when the tab closes, never shared with
// other tabs, never sent anywhere by the browser on its own, unlike a cookie). Nothing goes in
// localStorage, IndexedDB or a cookie.

const TOKEN = "clawkeep.token";
const SESSION = "clawkeep.session_token_id";
const PASSPHRASE = "clawkeep.e2ee_passphrase";

export const token = () => sessionStorage.getItem(TOKEN);
/** `sessionTokenId`: set when the token came from the challenge login, so logout revokes it. */
export function signIn(t: string, sessionTokenId?: string) {
  sessionStorage.setItem(TOKEN, t);
  if (sessionTokenId) sessionStorage.setItem(SESSION, sessionTokenId);
}
export const sessionTokenId = () => sessionStorage.getItem(SESSION);

export const passphrase = () => sessionStorage.getItem(PASSPHRASE);
export const setPassphrase = (p: string) => sessionStorage.setItem(PASSPHRASE, p);
export const forgetPassphrase = () => sessionStorage.removeItem(PASSPHRASE);

/** Logout: everything this tab held, token and passphrase alike. */
export const wipe = () => sessionStorage.clear();
