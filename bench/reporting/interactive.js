// gdbench's interactive figures: unpacks the page's one embedded copy of plotly.js, then draws each figure
// (a <script type="application/json" class="gd-spec"> beside its <div class="gd-plot">) when it nears the
// viewport, with its controls: the x axis to show and which optimizers (the first few, all, none).
(() => {
  "use strict";
  let plotlyLoaded = null;

  async function loadPlotly() {
    const packed = document.getElementById("gd-plotly").textContent.trim();
    const text = atob(packed);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const code = await new Response(stream).blob();
    performance.mark("gd-plotly-unpacked");
    const url = URL.createObjectURL(new Blob([code], {type: "text/javascript"}));
    await new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new Error("plotly.js did not load"));
      document.head.appendChild(s);
    });
    performance.mark("gd-plotly-loaded");  // the page's cost of plotly.js: unpacked and run
  }

  // Each trace whose x depends on the chosen axis: its x from the axis' arrays; a band (meta.band =
  // the index of its median) gets its median's x there and back, the shape of its y.
  function xFor(spec, key) {
    const alt = spec.xs[key];
    const xs = spec.data.map((t, i) => alt.x[i]);
    spec.data.forEach((t, i) => {
      if (t.meta && t.meta.band !== undefined) {
        const m = xs[t.meta.band];
        xs[i] = m.concat(m.slice().reverse());
      }
    });
    return xs;
  }

  function hoverFor(spec, key) {
    return spec.data.map((t) => (t.meta && t.meta.hover ? t.meta.hover.replace("{X}", spec.xs[key].label) :
      t.hovertemplate));
  }

  function visibleFor(spec, view) {
    return spec.data.map((t) => {
      if (!spec.groups || !spec.groups.includes(t.legendgroup)) return t.visible === undefined ? true : t.visible;
      const on = view === "all" || (view === "top" && spec.top.includes(t.legendgroup));
      return on ? true : "legendonly";
    });
  }

  function button(bar, text, pressed, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-pressed", String(pressed));
    b.addEventListener("click", () => {
      bar.querySelectorAll("button").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
      onClick();
    });
    bar.appendChild(b);
    return b;
  }

  async function draw(holder) {
    if (holder.dataset.drawn) return holder.drawing;
    holder.dataset.drawn = "1";
    holder.drawing = (async () => {
      await (plotlyLoaded = plotlyLoaded || loadPlotly());
      const spec = JSON.parse(holder.querySelector("script.gd-spec").textContent);
      const plot = holder.querySelector(".gd-plot");
      const keys = Object.keys(spec.xs || {});
      if (keys.length) {
        const xs = xFor(spec, keys[0]);
        const hover = hoverFor(spec, keys[0]);
        spec.data.forEach((t, i) => { if (xs[i] !== null) t.x = xs[i]; t.hovertemplate = hover[i]; });
      }
      if (spec.groups) {
        const vis = visibleFor(spec, "top");
        spec.data.forEach((t, i) => { t.visible = vis[i]; });
      }
      const controls = holder.querySelector(".gd-controls");
      if (keys.length > 1) {
        const bar = document.createElement("span");
        bar.className = "gd-x";
        bar.append("x axis: ");
        keys.forEach((key, k) => button(bar, spec.xs[key].title, k === 0, () => {
          const xs = xFor(spec, key);
          const idx = xs.map((x, i) => i).filter((i) => xs[i] !== null);
          Plotly.restyle(plot, {x: idx.map((i) => xs[i]), hovertemplate: idx.map((i) => hoverFor(spec, key)[i])},
                         idx);
          const axes = {};
          (spec.xaxes || ["xaxis"]).forEach((a) => {
            axes[a + ".title.text"] = spec.xs[key].title;
            axes[a + ".type"] = spec.xs[key].type;
            axes[a + ".autorange"] = true;
          });
          Plotly.relayout(plot, axes);
        }).dataset.x = key);
        controls.appendChild(bar);
      }
      if (spec.groups && spec.groups.length > spec.top.length) {
        const bar = document.createElement("span");
        bar.className = "gd-view";
        bar.append("optimizers: ");
        [["top", `first ${spec.top.length}`], ["all", `all ${spec.groups.length}`], ["none", "none"]].forEach(
          ([view, text]) => button(bar, text, view === "top", () => Plotly.restyle(plot, {visible: visibleFor(spec, view)}))
            .dataset.view = view);
        controls.appendChild(bar);
      }
      await Plotly.newPlot(plot, spec.data, spec.layout,
                           {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]});
      if (spec.links) {
        plot.on("plotly_click", (ev) => {
          const p = ev.points[0];
          const links = p && p.data.meta && p.data.meta.links;
          if (links && links[p.pointIndex]) window.location.href = links[p.pointIndex];
        });
      }
      holder.dataset.ready = "1";
      if (!performance.getEntriesByName("gd-first-figure").length) performance.mark("gd-first-figure");
    })();
    return holder.drawing;
  }

  function drawAll() {
    return Promise.all([...document.querySelectorAll(".gd-figure")].map(draw));
  }

  window.gdbench = {drawAll};
  const start = () => {
    const seen = new IntersectionObserver((entries) => entries.forEach((e) => {
      if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); }
    }), {rootMargin: "600px"});
    document.querySelectorAll(".gd-figure").forEach((f) => seen.observe(f));
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
