// A demo visitor's key: random, kept in this browser's localStorage (never in the URL), sent to
// the server once per page session so each browser is a person of its own.
const KEY = "studio-visitor";

function fresh() {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes); // works without https, unlike crypto.randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export default function (component) {
  const { setStateValue } = component;
  let token = null;
  try {
    token = window.localStorage.getItem(KEY);
    if (!token) {
      token = fresh();
      window.localStorage.setItem(KEY, token);
    }
  } catch (error) {
    token = fresh(); // storage blocked: a visitor for this page only
  }
  setStateValue("token", token); // asked once per page session: the server then knows it
}
