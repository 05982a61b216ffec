// The figure component of ui/plot.py: loads plotly.js once per tab (a script tag, so
// the browser can keep it compiled), then draws each figure the server sends into the
// same element, one update after another: with Plotly.react, or, where only some
// scatter traces' points moved, by moving those points (Plotly.animate, no replot).
export default function ({ data, parentElement }) {
  const el = parentElement.querySelector(".diffusion-figure");
  const plotly = window.__diffusionPlotly ??= new Promise((ok, fail) => {
    if (window.Plotly) return ok(window.Plotly);
    const s = document.createElement("script");
    s.src = data.src;
    s.onload = () => ok(window.Plotly);
    s.onerror = () => fail(new Error("plotly.js did not load from " + data.src));
    document.head.appendChild(s);
  });
  const fig = JSON.parse(data.spec);
  const height = fig.layout.height || 450;
  el.style.minHeight = height + "px";
  el.setAttribute("data-figure", data.name);
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", data.label);
  // one config object per config text: Plotly.react compares configs key by key, and a
  // new full-screen handler each time would make every update a whole new plot
  if (el.__configText !== data.config) {
    el.__configText = data.config;
    el.__config = makeConfig(JSON.parse(data.config), el);
  }
  const config = el.__config;
  el.onfullscreenchange = () => plotly.then((P) =>
    P.relayout(el, { height: document.fullscreenElement === el ? window.innerHeight : height }));
  const draw = (P) => {
    const snap = snapshot(fig, data.config); // before plotly.js writes into the figure
    const moved = pointsOnly(el.__snap, snap);
    el.__snap = snap;
    el.dataset.drawn = moved ? "points" : "react"; // how the last update was drawn
    if (moved) {
      // only some scatter traces' x/y changed: move their points, no replot
      const update = { data: moved.map((i) => ({ x: fig.data[i].x, y: fig.data[i].y })), traces: moved };
      const now = { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" };
      return P.animate(el, update, now).then(() => P);
    }
    return P.react(el, { data: fig.data, layout: fig.layout, frames: fig.frames || [], config }).then(() => P);
  };
  // one update at a time per figure, in the order the reruns sent them
  el.__queue = (el.__queue || plotly).catch(() => plotly).then(draw);
  el.__queue.catch((err) => { el.textContent = "This figure could not be drawn: " + err.message; });
  return () => plotly.then((P) => P.purge(el));
}

// The figure as text, taken before plotly.js sees it: its layout and config, and each
// trace's points (x/y) and the rest of it.
function snapshot(fig, config) {
  return {
    layout: JSON.stringify(fig.layout) + config,
    frames: (fig.frames || []).length,
    types: fig.data.map((t) => t.type || "scatter"),
    points: fig.data.map((t) => JSON.stringify([t.x, t.y])),
    rest: fig.data.map(({ x, y, ...others }) => JSON.stringify(others)),
  };
}

// The indices of the traces whose points moved, when nothing else of the figure changed
// (the same layout, config and traces, no frames, only the x/y of scatter traces differ);
// else null, and the figure is drawn again with Plotly.react.
function pointsOnly(before, after) {
  if (!before || before.rest.length !== after.rest.length) return null;
  if (before.frames || after.frames || before.layout !== after.layout) return null;
  const moved = [];
  for (let i = 0; i < after.rest.length; i++) {
    if (before.rest[i] !== after.rest[i]) return null;
    if (before.points[i] === after.points[i]) continue;
    if (after.types[i] !== "scatter") return null;
    moved.push(i);
  }
  return moved.length ? moved : null;
}

// plotly.js's config: the server's (the camera button's format and file name) over the
// app's defaults, without selection tools, with a full-screen button on the modebar.
function makeConfig(given, el) {
  const config = Object.assign(
    { displaylogo: false, responsive: true, showSendToCloud: false, showEditInChartStudio: false },
    given,
  );
  // no selection tools: a selection does nothing here
  config.modeBarButtonsToRemove = [
    ...(config.modeBarButtonsToRemove || []), "lasso2d", "select2d", "sendDataToCloud",
  ];
  if (config.displayModeBar !== false) {
    config.modeBarButtonsToAdd = [{
      name: "Full screen",
      title: "Full screen",
      icon: {
        width: 512,
        height: 512,
        path: "M0 0h192v64H64v128H0zM320 0h192v192h-64V64H320zM0 320h64v128h128v64H0z" +
          "M448 320h64v192H320v-64h128z",
      },
      click: () => (document.fullscreenElement ? document.exitFullscreen() : el.requestFullscreen()),
    }];
  }
  return config;
}
