// A turn being made: the seconds so far, counted in the browser (the server sends nothing while
// the clock runs, so an open tab stays cheap), against what such a turn usually takes.
export default function (component) {
  const { data, parentElement } = component;
  const previous = parentElement.__studioElapsed;
  if (previous) previous();
  let line = parentElement.querySelector(".elapsed");
  if (!line) {
    line = document.createElement("div");
    line.className = "elapsed";
    line.setAttribute("role", "timer");
    parentElement.append(line);
  }
  const started = Date.now() - 1000 * ((data && data.elapsed_s) || 0);
  const high = (data && data.high_s) || 0;
  const show = () => {
    const s = Math.max(0, Math.round((Date.now() - started) / 1000));
    let text = `${s} s so far`;
    if (high && s > high) text += " (longer than usual)";
    line.textContent = text;
    line.setAttribute("data-elapsed", String(s));
  };
  show();
  const timer = setInterval(show, 1000);
  const stop = () => {
    clearInterval(timer);
    parentElement.__studioElapsed = null;
  };
  parentElement.__studioElapsed = stop;
  return stop;
}
