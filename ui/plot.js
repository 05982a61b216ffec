// The figure component of ui/plot.py: loads plotly.js once per tab (a script tag, so
// the browser can keep it compiled), then draws each figure the server sends into the
// same element with Plotly.react, one update after another.
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
  const config = Object.assign(
    { displaylogo: false, responsive: true, showSendToCloud: false, showEditInChartStudio: false },
    JSON.parse(data.config),
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
  el.onfullscreenchange = () => plotly.then((P) =>
    P.relayout(el, { height: document.fullscreenElement === el ? window.innerHeight : height }));
  const draw = (P) =>
    P.react(el, { data: fig.data, layout: fig.layout, frames: fig.frames || [], config }).then(() => P);
  // one update at a time per figure, in the order the reruns sent them
  el.__queue = (el.__queue || plotly).catch(() => plotly).then(draw);
  el.__queue.catch((err) => { el.textContent = "This figure could not be drawn: " + err.message; });
  return () => plotly.then((P) => P.purge(el));
}
