// Two versions over each other with a handle to slide between them. Everything happens in the
// browser: moving the handle sends nothing to the server.
const instances = new WeakMap();

function build(root) {
  const stage = document.createElement("div");
  stage.className = "stage";
  const under = document.createElement("img");
  const over = document.createElement("img");
  over.className = "over";
  const line = document.createElement("div");
  line.className = "line";
  stage.append(under, over, line);
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = "100";
  slider.value = "50";
  slider.setAttribute("aria-label", "Slide between the two versions");
  const captions = document.createElement("div");
  captions.className = "captions";
  const left = document.createElement("span");
  const right = document.createElement("span");
  captions.append(left, right);
  root.append(stage, slider, captions);

  function show(at) {
    over.style.clipPath = `inset(0 ${100 - at}% 0 0)`;
    line.style.left = `${at}%`;
    slider.value = String(at);
  }
  slider.addEventListener("input", () => show(Number(slider.value)));
  let dragging = false;
  function follow(event) {
    const r = stage.getBoundingClientRect();
    show(Math.round(Math.min(100, Math.max(0, ((event.clientX - r.left) / r.width) * 100))));
  }
  stage.addEventListener("pointerdown", (event) => {
    dragging = true;
    stage.setPointerCapture(event.pointerId);
    follow(event);
  });
  stage.addEventListener("pointermove", (event) => dragging && follow(event));
  stage.addEventListener("pointerup", () => (dragging = false));
  show(50);
  return {
    update(data) {
      if (over.src !== data.left) over.src = data.left;
      if (under.src !== data.right) under.src = data.right;
      over.alt = data.left_label || "";
      under.alt = data.right_label || "";
      left.textContent = `◀ ${data.left_label || ""}`;
      right.textContent = `${data.right_label || ""} ▶`;
    },
  };
}

export default function (component) {
  const { data, parentElement } = component;
  let instance = instances.get(parentElement);
  if (!instance) {
    const root = document.createElement("div");
    root.className = "compare";
    parentElement.appendChild(root);
    instance = build(root);
    instances.set(parentElement, instance);
  }
  instance.update(data || {});
  return () => {
    parentElement.querySelector(".compare")?.remove();
    instances.delete(parentElement);
  };
}
