"""OrthoCanvas: three orthogonal planes drawn on HTML canvases, with crosshair, clicks and keys.

An anywidget whose JavaScript is inline below (no CDN, no build step). Python sends each plane as raw
RGBA bytes (a binary websocket buffer, no PNG encoding); the browser draws it scaled to millimetres,
draws the crosshair itself and turns clicks, drags, wheel turns and key presses into a new
``position`` (slice, row, column), which Python answers with the one plane that changed.

Keys (with the canvas focused; click it first): Up/Right next slice, Down/Left previous, PageUp /
PageDown ten slices, Home/End first/last; the plane under the mouse (or last clicked) scrolls.

Python also sends the neighbouring slices of the active plane ahead of need (custom messages, kept
in a small cache in the page), so scrolling slice by slice repaints without waiting for the kernel;
a jump to a slice not sent yet waits for the kernel's frame. Fast key presses may be merged by ipywidgets' message throttling (only the latest position is
rendered), so holding a key never queues up stale frames.

In the page, ``el.dataset.frames`` counts frames drawn, ``el.dataset.rendered`` holds the JSON
plane -> index of the frames on screen, and ``el.dataset.lastLatency`` holds the last
keydown -> repaint time in milliseconds (read by the browser tests and bench/bench_widgets.py).
"""

from __future__ import annotations

import anywidget
import traitlets as t

__all__ = ["OrthoCanvas", "PLANE_AXES"]

#: plane -> (fixed axis, display x axis, display y axis, y flipped) matching medwb.viz.plane_slice
PLANE_AXES: dict[str, tuple[int, int, int, bool]] = {
    "axial": (0, 2, 1, False),
    "coronal": (1, 2, 0, True),
    "sagittal": (2, 1, 0, True),
}

_ESM = r"""
const PLANES = {axial: [0, 2, 1, false], coronal: [1, 2, 0, true], sagittal: [2, 1, 0, true]};
const NAMES = ["axial", "coronal", "sagittal"];

function render({ model, el: host }) {
  const el = document.createElement("div");
  el.className = "medwb-ortho";
  el.tabIndex = 0;
  el.style.cssText = "display:flex;flex-direction:row;gap:6px;flex-wrap:wrap;outline:none;" +
    "align-items:flex-start;width:fit-content";
  host.append(el);
  const views = {};
  let active = model.get("active") || "axial";
  let pending = null;
  let frames = 0;
  const shown = {};
  for (const name of NAMES) {
    const wrap = document.createElement("div");
    wrap.style.cssText = "display:inline-flex;flex:none;flex-direction:column;align-items:center;background:#000;padding:2px";
    const canvas = document.createElement("canvas");
    canvas.className = "medwb-ortho-" + name;
    canvas.dataset.plane = name;
    canvas.style.cssText = "cursor:crosshair;display:block";
    const label = document.createElement("div");
    label.style.cssText = "color:#ddd;font:11px monospace;padding:1px 0";
    wrap.append(canvas, label);
    el.append(wrap);
    views[name] = { wrap, canvas, label, bitmap: document.createElement("canvas") };
  }

  function size(name) { return (model.get("sizes") || {})[name] || [0, 0]; }

  function putBitmap(name, dv, h, w) {
    if (!dv || !h || !w || dv.byteLength !== h * w * 4) return false;
    const v = views[name];
    const px = new Uint8ClampedArray(dv.buffer, dv.byteOffset, dv.byteLength);
    v.bitmap.width = w;
    v.bitmap.height = h;
    v.bitmap.getContext("2d").putImageData(new ImageData(px, w, h), 0, 0);
    v.shape = [h, w];
    return true;
  }

  function loadBitmap(name) {
    const [h, w] = size(name);
    return putBitmap(name, model.get(name), h, w);
  }

  // Frames Python sends ahead (neighbours of the current slice), keyed "plane:index"; cleared when
  // the rendering settings change (version). A key press whose frame is here repaints at once.
  const cache = new Map();
  model.on("msg:custom", (msg, buffers) => {
    if (!msg || msg.type !== "frames" || msg.version !== model.get("version")) return;
    msg.frames.forEach((f, i) => {
      const key = f.plane + ":" + f.index;
      cache.delete(key);
      cache.set(key, { h: f.h, w: f.w, data: buffers[i] });
    });
    while (cache.size > 240) cache.delete(cache.keys().next().value);
    el.dataset.cached = String(cache.size);
  });
  model.on("change:version", () => cache.clear());

  function frameDone(name, index) {
    frames += 1;
    el.dataset.frames = String(frames);
    shown[name] = index;
    el.dataset.rendered = JSON.stringify(shown);
    if (pending && pending.plane === name && index === pending.index) {
      const ms = performance.now() - pending.t0;
      el.dataset.lastLatency = ms.toFixed(2);
      el.dataset.latencies = (el.dataset.latencies ? el.dataset.latencies + "," : "") + ms.toFixed(2);
      pending = null;
    }
  }

  function paint(name) {
    const v = views[name];
    const [h, w] = v.shape || size(name);
    if (!h || !w) return;
    const [mmY, mmX] = (model.get("pixel_mm") || {})[name] || [1, 1];
    const k = model.get("px_per_mm");
    const W = Math.max(1, Math.round(w * mmX * k)), H = Math.max(1, Math.round(h * mmY * k));
    if (v.canvas.width !== W) v.canvas.width = W;
    if (v.canvas.height !== H) v.canvas.height = H;
    const ctx = v.canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(v.bitmap, 0, 0, W, H);
    const pos = model.get("position"), shape = model.get("shape");
    const [fixed, ax, ay, flip] = PLANES[name];
    if (model.get("crosshair")) {
      const xi = pos[ax], yi = flip ? shape[ay] - 1 - pos[ay] : pos[ay];
      const cx = Math.floor((xi + 0.5) * W / w) + 0.5, cy = Math.floor((yi + 0.5) * H / h) + 0.5;
      ctx.strokeStyle = model.get("crosshair_color");
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(cx, 0); ctx.lineTo(cx, H); ctx.moveTo(0, cy); ctx.lineTo(W, cy);
      ctx.stroke();
    }
    v.wrap.style.outline = name === active ? "1px solid #0a84ff" : "none";
    v.label.textContent = `${name} ${pos[fixed] + 1}/${shape[fixed]}` +
      ((model.get("labels") || {})[name] ? " · " + model.get("labels")[name] : "");
  }

  function paintAll() { for (const n of NAMES) paint(n); }

  function setPosition(pos) {
    const shape = model.get("shape");
    const p = pos.map((v, i) => Math.max(0, Math.min(shape[i] - 1, Math.round(v))));
    model.set("position", p);
    model.set("active", active);
    model.save_changes();
    paintAll();
    return p;
  }

  function pointToIndex(name, e) {
    const v = views[name];
    const [h, w] = size(name);
    const rect = v.canvas.getBoundingClientRect();
    const [, ax, ay, flip] = PLANES[name];
    const shape = model.get("shape");
    const xi = Math.floor((e.clientX - rect.left) / rect.width * w);
    let yi = Math.floor((e.clientY - rect.top) / rect.height * h);
    if (flip) yi = shape[ay] - 1 - yi;
    const pos = model.get("position").slice();
    pos[ax] = xi; pos[ay] = yi;
    return pos;
  }

  function step(delta, t0) {
    const [fixed] = PLANES[active];
    const pos = model.get("position").slice();
    const before = pos[fixed];
    pos[fixed] += delta;
    const p = setPosition(pos);
    if (p[fixed] === before) return;
    pending = { plane: active, index: p[fixed], t0 };
    const hit = cache.get(active + ":" + p[fixed]);
    if (hit && putBitmap(active, hit.data, hit.h, hit.w)) {
      paint(active);
      frameDone(active, p[fixed]);
    }
  }

  for (const name of NAMES) {
    const c = views[name].canvas;
    c.addEventListener("mousedown", (e) => {
      active = name; el.focus({ preventScroll: true });
      setPosition(pointToIndex(name, e));
      e.preventDefault();
    });
    c.addEventListener("mousemove", (e) => {
      if (e.buttons === 1) setPosition(pointToIndex(name, e));
    });
    c.addEventListener("mouseenter", () => { active = name; paintAll(); });
    c.addEventListener("wheel", (e) => {
      active = name;
      step(e.deltaY < 0 ? 1 : -1, performance.now());
      e.preventDefault();
    }, { passive: false });
  }

  el.addEventListener("keydown", (e) => {
    const t0 = performance.now();
    const shape = model.get("shape");
    const [fixed] = PLANES[active];
    const pos = model.get("position");
    const moves = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10,
                    Home: -pos[fixed], End: shape[fixed] - 1 - pos[fixed] };
    if (e.key in moves) {
      step(moves[e.key], t0);
    } else if (e.key === "a" || e.key === "c" || e.key === "s") {
      active = { a: "axial", c: "coronal", s: "sagittal" }[e.key];
      model.set("active", active); model.save_changes(); paintAll();
    } else {
      return;
    }
    // keep JupyterLab's notebook shortcuts (arrows move between cells) from seeing these keys
    e.preventDefault();
    e.stopPropagation();
  });

  function onFrame(name) {
    // a frame for a slice the user has already scrolled past would flash back: skip it
    const index = (model.get("rendered") || {})[name];
    if (index !== model.get("position")[PLANES[name][0]]) return;
    if (!loadBitmap(name)) return;
    paint(name);
    frameDone(name, index);
  }

  const handlers = NAMES.map((n) => [n, () => onFrame(n)]);
  for (const [n, f] of handlers) model.on("change:" + n, f);
  const repaint = () => paintAll();
  model.on("change:position", repaint);
  model.on("change:crosshair", repaint);
  model.on("change:px_per_mm", repaint);
  model.on("change:labels", repaint);
  model.on("change:active", () => { active = model.get("active"); paintAll(); });
  for (const n of NAMES) { loadBitmap(n); shown[n] = (model.get("rendered") || {})[n]; }
  paintAll();
  el.dataset.frames = "0";
  el.dataset.ready = "1";
  model.send({ type: "ready" });  // frames sent ahead before this view existed were lost: resend
  return () => {
    for (const [n, f] of handlers) model.off("change:" + n, f);
    model.off("change:position", repaint);
    el.remove();
  };
}
export default { render };
"""


class OrthoCanvas(anywidget.AnyWidget):
    """The drawing surface of CaseViewer: set ``shape``, ``sizes``, ``pixel_mm`` and the three RGBA
    frames; read ``position`` (slice, row, column) and ``active`` back.

    Example:
        >>> c = OrthoCanvas(shape=[4, 8, 8], position=[2, 4, 4])
        >>> c.position
        [2, 4, 4]
    """

    _esm = _ESM
    shape = t.List(t.Int(), default_value=[1, 1, 1]).tag(sync=True)
    position = t.List(t.Int(), default_value=[0, 0, 0]).tag(sync=True)
    active = t.Unicode("axial").tag(sync=True)
    axial = t.Bytes(b"").tag(sync=True)
    coronal = t.Bytes(b"").tag(sync=True)
    sagittal = t.Bytes(b"").tag(sync=True)
    #: plane -> [height, width] of its frame in pixels
    sizes = t.Dict().tag(sync=True)
    #: plane -> [mm per frame row, mm per frame column]
    pixel_mm = t.Dict().tag(sync=True)
    #: plane -> the fixed index its current frame shows (lets the page match frames to key presses)
    rendered = t.Dict().tag(sync=True)
    #: plane -> extra label text (e.g. the window)
    labels = t.Dict().tag(sync=True)
    px_per_mm = t.Float(2.0).tag(sync=True)
    crosshair = t.Bool(True).tag(sync=True)
    crosshair_color = t.Unicode("#30d158").tag(sync=True)
    #: bumped whenever the rendering settings change; the page drops frames sent ahead for older ones
    version = t.Int(0).tag(sync=True)

    def send_frames(self, frames: list[tuple[str, int, bytes, int, int]]) -> None:
        """Send frames ahead of need: (plane, index, rgba bytes, height, width) for this ``version``."""
        if frames:
            self.send({"type": "frames", "version": self.version,
                       "frames": [{"plane": p, "index": i, "h": h, "w": w} for p, i, _, h, w in frames]},
                      buffers=[b for _, _, b, _, _ in frames])
