// Boxes and brush strokes drawn over an image. Coordinates go to Python as fractions of the
// image (0..1), so the marks land on the full-size original whatever size this copy is shown at.
const instances = new WeakMap();
const COLOURS = ["rgb(230,30,60)", "rgb(20,120,230)", "rgb(20,170,80)", "rgb(240,150,0)"];
const MAX_MARKS = 12;

function build(root, setStateValue) {
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", "Marking tools");
  const tools = {};
  for (const [tool, label] of [["box", "Box"], ["brush", "Brush"]]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.setAttribute("aria-pressed", tool === "box" ? "true" : "false");
    b.onclick = () => {
      state.tool = tool;
      for (const [t, other] of Object.entries(tools)) other.setAttribute("aria-pressed", t === tool ? "true" : "false");
    };
    tools[tool] = b;
    bar.appendChild(b);
  }
  const undo = document.createElement("button");
  undo.type = "button";
  undo.textContent = "Undo";
  const clear = document.createElement("button");
  clear.type = "button";
  clear.textContent = "Clear";
  const hint = document.createElement("span");
  hint.className = "hint";
  bar.append(undo, clear, hint);

  const stage = document.createElement("div");
  stage.className = "stage";
  const img = document.createElement("img");
  img.alt = "The current image, to draw on";
  const canvas = document.createElement("canvas");
  canvas.setAttribute("aria-label", "Drawing area over the image: drag to draw a box or paint a stroke");
  canvas.tabIndex = 0;
  stage.append(img, canvas);
  root.append(bar, stage);

  const state = { tool: "box", marks: [], drawing: null, src: null };
  const pen = canvas.getContext("2d");

  function fit() {
    canvas.width = img.clientWidth;
    canvas.height = img.clientHeight;
    paint();
  }
  function point(event) {
    const r = canvas.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (event.clientX - r.left) / r.width));
    const y = Math.min(1, Math.max(0, (event.clientY - r.top) / r.height));
    return [Math.round(x * 10000) / 10000, Math.round(y * 10000) / 10000];
  }
  function draw(mark, n) {
    const w = canvas.width, h = canvas.height;
    const colour = COLOURS[(n - 1) % COLOURS.length];
    pen.strokeStyle = colour;
    pen.fillStyle = colour;
    let at;
    if (mark.kind === "box") {
      pen.lineWidth = 3;
      pen.globalAlpha = 1;
      pen.strokeRect(mark.x0 * w, mark.y0 * h, (mark.x1 - mark.x0) * w, (mark.y1 - mark.y0) * h);
      at = [Math.min(mark.x0, mark.x1) * w, Math.min(mark.y0, mark.y1) * h];
    } else {
      pen.lineWidth = Math.max(4, mark.width * w);
      pen.lineCap = "round";
      pen.lineJoin = "round";
      pen.globalAlpha = 0.55;
      pen.beginPath();
      mark.points.forEach(([x, y], i) => (i ? pen.lineTo(x * w, y * h) : pen.moveTo(x * w, y * h)));
      if (mark.points.length === 1) pen.lineTo(mark.points[0][0] * w + 0.1, mark.points[0][1] * h);
      pen.stroke();
      at = [mark.points[0][0] * w, mark.points[0][1] * h];
    }
    pen.globalAlpha = 1;
    if (n) {
      pen.fillRect(at[0], at[1], 20, 20);
      pen.fillStyle = "white";
      pen.font = "bold 14px sans-serif";
      pen.fillText(String(n), at[0] + 6, at[1] + 15);
    }
  }
  function paint() {
    pen.clearRect(0, 0, canvas.width, canvas.height);
    state.marks.forEach((m, i) => draw(m, i + 1));
    if (state.drawing) draw(state.drawing, state.marks.length + 1);
    hint.textContent = state.marks.length
      ? `${state.marks.length} mark${state.marks.length > 1 ? "s" : ""}`
      : "Drag on the image to draw a box, or choose Brush and paint over what to change.";
  }
  function send() {
    setStateValue("marks", state.marks.map((m) => ({ ...m })));
  }
  canvas.addEventListener("pointerdown", (event) => {
    if (state.marks.length >= MAX_MARKS) return;
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = point(event);
    state.drawing =
      state.tool === "box"
        ? { kind: "box", x0: x, y0: y, x1: x, y1: y }
        : { kind: "stroke", points: [[x, y]], width: 0.04 };
    paint();
  });
  canvas.addEventListener("pointermove", (event) => {
    const d = state.drawing;
    if (!d) return;
    const [x, y] = point(event);
    if (d.kind === "box") {
      d.x1 = x;
      d.y1 = y;
    } else if (d.points.length < 2000) {
      d.points.push([x, y]);
    }
    paint();
  });
  function finish() {
    const d = state.drawing;
    state.drawing = null;
    if (!d) return;
    if (d.kind === "box") {
      const box = { kind: "box", x0: Math.min(d.x0, d.x1), y0: Math.min(d.y0, d.y1), x1: Math.max(d.x0, d.x1), y1: Math.max(d.y0, d.y1) };
      if (box.x1 - box.x0 < 0.01 || box.y1 - box.y0 < 0.01) return paint();
      state.marks.push(box);
    } else {
      state.marks.push(d);
    }
    paint();
    send();
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  undo.onclick = () => {
    state.marks.pop();
    paint();
    send();
  };
  clear.onclick = () => {
    state.marks = [];
    paint();
    send();
  };
  img.addEventListener("load", fit);
  const resize = new ResizeObserver(fit);
  resize.observe(img);

  return {
    update(data) {
      if (data.image !== state.src) {
        state.src = data.image;
        img.src = data.image;
      }
      // Python's copy wins after a rerun (for instance a mark dropped there), so both agree.
      if (Array.isArray(data.marks) && JSON.stringify(data.marks) !== JSON.stringify(state.marks)) {
        state.marks = data.marks.map((m) => ({ ...m }));
        paint();
      }
    },
    stop() {
      resize.disconnect();
    },
  };
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let instance = instances.get(parentElement);
  if (!instance) {
    const root = document.createElement("div");
    root.className = "marker";
    parentElement.appendChild(root);
    instance = build(root, setStateValue);
    instances.set(parentElement, instance);
  }
  instance.update(data || {});
  return () => {
    // If Streamlit remounts rather than updates, the next call rebuilds from the marks it passes.
    instance.stop();
    parentElement.querySelector(".marker")?.remove();
    instances.delete(parentElement);
  };
}
