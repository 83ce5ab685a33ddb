// The open tab's watch: a tick every `every_ms` asks the server whether anything changed (one
// small query); the chat is redrawn only when something did. A hidden tab does not tick, and
// catches up at once when it is shown again.
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const every = Math.max(250, (data && data.every_ms) || 1000);
  // Called again when the server sends new data (a new pace): one timer per element, always.
  const previous = parentElement.__studioWatch;
  if (previous) previous();
  let count = (previous && previous.count) || 0;
  const tick = () => {
    if (!document.hidden) setTriggerValue("tick", ++count);
  };
  const timer = setInterval(tick, every);
  const shown = () => {
    if (!document.hidden) tick();
  };
  document.addEventListener("visibilitychange", shown);
  const stop = () => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", shown);
    stop.count = count;
    parentElement.__studioWatch = null;
  };
  parentElement.__studioWatch = stop;
  return stop;
}
