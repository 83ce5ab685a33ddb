// Sign-in (st.login) always comes back to the site's root. So the sign-in page keeps the link
// being opened in this tab's sessionStorage ("save"), and the first page of the signed-in
// session opens it again ("go"). Only a path on this site is ever followed.
const KEY = "studio-return-to";

export default function (component) {
  const { data } = component;
  const here = window.location.pathname + window.location.search;
  try {
    if (data && data.do === "save") {
      window.sessionStorage.setItem(KEY, here);
      return;
    }
    const saved = window.sessionStorage.getItem(KEY);
    window.sessionStorage.removeItem(KEY);
    if (saved && saved.startsWith("/") && !saved.startsWith("//") && saved !== here) {
      window.location.replace(saved);
    }
  } catch (error) {
    // storage blocked: the person simply stays on the page they are on
  }
}
