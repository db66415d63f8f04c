/*
 * The explorer page: picks or draws an input, shifts it, runs every network with CnnEngine, draws every layer's
 * channels as heatmaps with the class probabilities, and shows the equation of any clicked conv or pooling cell.
 * Everything it needs is in the page (the JSON in #cnnlab-data); it never loads anything.
 */
(() => {
  "use strict";

  const DATA = JSON.parse(document.getElementById("cnnlab-data").textContent);
  const NETWORKS = DATA.networks.map((network) => CnnEngine.prepareNetwork(network));
  const SHAPE = DATA.samples.shape;  // [C, H, W] of the dataset's images
  const [CHANNELS, HEIGHT, WIDTH] = SHAPE;
  const SAMPLE_BYTES = CnnEngine.decodeBytes(DATA.samples.pixels);
  const CLASSES = DATA.classes;
  const KIND_NAMES = { conv: "convolution", relu: "ReLU", pool: "max pooling", flatten: "flatten", linear: "linear" };

  const state = {
    source: { kind: "sample", index: 0 },  // or { kind: "drawing" }
    base: CnnInput.samplePixels(SAMPLE_BYTES, SHAPE, 0),
    dx: 0,
    dy: 0,
    pixels: null,  // base shifted by (dx, dy): the input every network sees
    results: [],  // CnnEngine.forward of every network
    selection: null,  // { network, layer, channel, row, col, term channel }
  };

  // --- small helpers ------------------------------------------------------------------------------------------

  function el(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children)) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  /** A number for a grid cell: 2 decimals (3 for small ones), a real minus sign. */
  function short(v) {
    if (v === -Infinity) return "−∞";
    const digits = Math.abs(v) < 0.1 && v !== 0 ? 3 : 2;
    return v.toFixed(digits).replace("-", "−");
  }

  /** A number in a sentence: 4 significant digits. */
  function num(v) {
    if (v === -Infinity) return "−∞";
    if (v === 0) return "0";
    const text = Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
    return text.replace("-", "−");
  }

  function percent(p) {
    return `${(100 * p).toFixed(1)}%`;
  }

  /** Diverging colour of t in [-1, 1]: blue for negative, white for 0, red for positive. */
  function colour(t) {
    const u = Math.max(-1, Math.min(1, t));
    const [r, g, b] = u >= 0 ? [178, 24, 43] : [33, 102, 172];
    const a = Math.abs(u);
    return [Math.round(255 + (r - 255) * a), Math.round(255 + (g - 255) * a), Math.round(255 + (b - 255) * a)];
  }

  function cssColour(t) {
    const [r, g, b] = colour(t);
    return `rgb(${r}, ${g}, ${b})`;
  }

  /** Largest |v| of an array (1 if all are 0), the half-width of a layer's colour scale. */
  function scaleOf(values) {
    let max = 0;
    for (const v of values) if (Number.isFinite(v)) max = Math.max(max, Math.abs(v));
    return max > 0 ? max : 1;
  }

  function padText(padding) {
    const [[t, b], [l, r]] = padding;
    if (t === b && b === l && l === r) return `padding ${t}`;
    return `padding top ${t}, bottom ${b}, left ${l}, right ${r}`;
  }

  function pairText(name, pair) {
    return pair[0] === pair[1] ? `${name} ${pair[0]}` : `${name} ${pair[0]}×${pair[1]}`;
  }

  function layerText(layer) {
    const shape = layer.output_shape.join(" × ");
    if (layer.kind === "conv" || layer.kind === "pool") {
      const parts = [`${layer.kernel[0]}×${layer.kernel[1]}`, pairText("stride", layer.stride), padText(layer.padding)];
      if (layer.dilation[0] !== 1 || layer.dilation[1] !== 1) parts.push(pairText("dilation", layer.dilation));
      return `${KIND_NAMES[layer.kind]} ${parts.join(", ")} → ${shape}`;
    }
    if (layer.kind === "linear") return `linear ${layer.in_features} → ${layer.out_features}`;
    return `${KIND_NAMES[layer.kind]} → ${shape}`;
  }

  function className(k) {
    return CLASSES[k] !== undefined ? CLASSES[k] : String(k);
  }

  // --- drawing maps into canvases -----------------------------------------------------------------------------

  /** Paint an image in [0, 1] (1 channel: grey, 3: RGB) into a canvas of its size. */
  function paintImage(canvas, pixels, shape) {
    const [C, H, W] = shape;
    canvas.width = W;
    canvas.height = H;
    const context = canvas.getContext("2d");
    const image = context.createImageData(W, H);
    for (let k = 0; k < H * W; k++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = pixels[(C === 3 ? ch : 0) * H * W + k];
        image.data[4 * k + ch] = Math.round(255 * Math.max(0, Math.min(1, v)));
      }
      image.data[4 * k + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }

  /** Paint channel c of a map (or a whole vector as one row) with the diverging colours of the given scale. */
  function paintMap(canvas, tensor, c, scale) {
    const [H, W] = tensor.shape.length === 3 ? tensor.shape.slice(1) : [1, tensor.shape[0]];
    canvas.width = W;
    canvas.height = H;
    const context = canvas.getContext("2d");
    const image = context.createImageData(W, H);
    const offset = tensor.shape.length === 3 ? c * H * W : 0;
    for (let k = 0; k < H * W; k++) {
      const [r, g, b] = colour(tensor.data[offset + k] / scale);
      image.data.set([r, g, b, 255], 4 * k);
    }
    context.putImageData(image, 0, 0);
  }

  /** Display size (CSS pixels) of a map W wide: whole multiples of its pixels, about 56 px wide (80 px when one
   * network has the overview to itself). */
  function tileScale(width) {
    return Math.max(1, Math.round((NETWORKS.length > 1 ? 56 : 80) / width));
  }

  /** Outline rows r0..r1, columns c0..c1 (inclusive) of a tile of H x W pixels. */
  function placeMark(mark, rows, cols, H, W) {
    const r0 = Math.max(0, rows[0]);
    const r1 = Math.min(H - 1, rows[1]);
    const c0 = Math.max(0, cols[0]);
    const c1 = Math.min(W - 1, cols[1]);
    if (r1 < r0 || c1 < c0) {
      mark.hidden = true;
      return;
    }
    mark.hidden = false;
    mark.style.top = `${(100 * r0) / H}%`;
    mark.style.left = `${(100 * c0) / W}%`;
    mark.style.height = `${(100 * (r1 - r0 + 1)) / H}%`;
    mark.style.width = `${(100 * (c1 - c0 + 1)) / W}%`;
  }

  // --- the page's parts ---------------------------------------------------------------------------------------

  const inputCanvas = document.getElementById("input-canvas");
  const inputWrap = inputCanvas.parentElement;
  const inputMark = inputWrap.querySelector(".mark");
  const networkViews = [];

  function buildSamples() {
    const list = document.getElementById("samples");
    for (let k = 0; k < DATA.samples.count; k++) {
      const canvas = el("canvas", { "aria-hidden": "true" });
      paintImage(canvas, CnnInput.samplePixels(SAMPLE_BYTES, SHAPE, k), SHAPE);
      const label = className(DATA.samples.labels[k]);
      const button = el("button", {
        type: "button", class: "sample", "data-sample": k, "aria-pressed": "false",
        "aria-label": `test image ${k + 1}: ${label}`, title: `test image ${k + 1}: ${label}`,
        onclick: () => selectSample(k),
      }, [canvas, el("span", { text: label })]);
      list.append(button);
    }
  }

  function buildNetwork(network, n) {
    const view = { network, bars: [], layers: [] };
    const panel = el("article", { class: "network", "data-network": n, "aria-label": `${network.label}: ${network.model}` });
    panel.append(el("header", {}, [
      el("h3", { text: `${network.label} · ${network.model}` }),
      el("p", { class: "source", text: `${network.parameters.toLocaleString("en")} parameters · ${network.source}` }),
      network.description ? el("details", { class: "description" }, [el("summary", { text: "How it was trained" }), network.description]) : null,
    ]));
    const bars = el("ol", { class: "probs", "aria-label": `${network.label} class probabilities` });
    CLASSES.forEach((name, k) => {
      const fill = el("span", { class: "fill" });
      const value = el("span", { class: "value" });
      const item = el("li", { class: "prob", "data-class": k }, [
        el("span", { class: "name", text: name }), el("span", { class: "track" }, [fill]), value,
      ]);
      view.bars.push({ item, fill, value });
      bars.append(item);
    });
    panel.append(bars);
    const layers = el("div", { class: "layers" });
    network.layers.forEach((layer, index) => {
      const row = el("section", { class: `layer kind-${layer.kind}`, "data-layer": layer.name });
      const scale = el("span", { class: "scale" });
      row.append(el("h4", {}, [el("span", { class: "lname", text: layer.name }), " ", el("span", { class: "ltext", text: layerText(layer) }), " ", scale]));
      const tiles = el("div", { class: "tiles" });
      const entry = { layer, index, row, scale, tiles: [] };
      if (layer.kind === "flatten") {
        const what = index === 0 ? "pixels of the input" : "numbers of the maps above";
        tiles.append(el("p", { class: "note", text: `The ${layer.output_shape[0]} ${what} in a row: channel by channel, each row by row.` }));
      } else if (layer.output_shape.length === 3) {
        const [C, H, W] = layer.output_shape;
        const before = index > 0 ? network.layers[index - 1].kind : null;
        const clickable = layer.kind === "conv" || layer.kind === "pool" || (layer.kind === "relu" && (before === "conv" || before === "pool"));
        for (let c = 0; c < C; c++) {
          const canvas = el("canvas", {
            class: "map", "data-channel": c, tabindex: clickable ? "0" : null, role: clickable ? "button" : "img",
            "aria-label": `${layer.name} channel ${c}, ${H} by ${W}` + (clickable ? ": click a cell, or use the arrow keys, to see its equation" : ""),
          });
          const scalePx = tileScale(W);
          canvas.style.width = `${W * scalePx}px`;
          canvas.style.height = `${H * scalePx}px`;
          const cellMark = el("div", { class: "mark cell", hidden: true });
          const windowMark = el("div", { class: "mark window", hidden: true });
          const wrap = el("div", { class: "tile-wrap" }, [canvas, windowMark, cellMark]);
          tiles.append(el("figure", { class: "tile" }, [wrap, el("figcaption", { text: `${c}` })]));
          entry.tiles.push({ canvas, cellMark, windowMark });
          if (clickable) attachTile(canvas, n, index, c, H, W);
        }
      } else {
        const canvas = el("canvas", { class: "vector", role: "img", "aria-label": `${layer.name}: ${layer.output_shape[0]} values` });
        tiles.append(canvas);
        entry.tiles.push({ canvas });
      }
      row.append(tiles);
      layers.append(row);
      view.layers.push(entry);
    });
    panel.append(layers);
    view.check = el("p", { class: "check" });
    panel.append(view.check);
    document.getElementById("networks").append(panel);
    return view;
  }

  /** A map tile: a click (or Enter, arrow keys) selects one of its cells for the formula view. */
  function attachTile(canvas, n, layerIndex, channel, H, W) {
    canvas.addEventListener("click", (event) => {
      const rect = canvas.getBoundingClientRect();  // the map is the canvas's content box, inside its border
      const x = event.clientX - rect.left - canvas.clientLeft;
      const y = event.clientY - rect.top - canvas.clientTop;
      const col = Math.min(W - 1, Math.max(0, Math.floor((x / canvas.clientWidth) * W)));
      const row = Math.min(H - 1, Math.max(0, Math.floor((y / canvas.clientHeight) * H)));
      select({ network: n, layer: layerIndex, channel, row, col });
    });
    canvas.addEventListener("keydown", (event) => {
      const current = state.selection;
      const here = current && current.network === n && current.layer === layerIndex && current.channel === channel;
      let row = here ? current.row : Math.floor(H / 2);
      let col = here ? current.col : Math.floor(W / 2);
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (event.key in moves) {
        if (here) {
          row = Math.min(H - 1, Math.max(0, row + moves[event.key][0]));
          col = Math.min(W - 1, Math.max(0, col + moves[event.key][1]));
        }
      } else if (event.key !== "Enter" && event.key !== " ") {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
      select({ network: n, layer: layerIndex, channel, row, col });
    });
  }

  // --- input --------------------------------------------------------------------------------------------------

  function selectSample(k) {
    state.source = { kind: "sample", index: k };
    state.base = CnnInput.samplePixels(SAMPLE_BYTES, SHAPE, k);
    update();
  }

  function shiftBy(ddx, ddy) {
    state.dx = Math.max(-(WIDTH - 1), Math.min(WIDTH - 1, state.dx + ddx));
    state.dy = Math.max(-(HEIGHT - 1), Math.min(HEIGHT - 1, state.dy + ddy));
    update();
  }

  function resetShift() {
    state.dx = 0;
    state.dy = 0;
    update();
  }

  function setupShift() {
    for (const button of document.querySelectorAll("[data-shift]")) {
      const [ddx, ddy] = button.dataset.shift.split(",").map(Number);
      button.addEventListener("click", () => shiftBy(ddx, ddy));
    }
    document.getElementById("shift-reset").addEventListener("click", resetShift);
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (target.closest && target.closest("input, textarea, select, canvas.map")) return;
      const moves = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
      if (event.key in moves) {
        event.preventDefault();
        shiftBy(...moves[event.key]);
      } else if (event.key === "0" || event.key === "Home") {
        event.preventDefault();
        resetShift();
      }
    });
  }

  /** Drawing (MNIST only): strokes in white on a 280 x 280 canvas, turned into 28 x 28 by CnnInput.mnistFromInk. */
  function setupDrawing() {
    const panel = document.getElementById("draw-panel");
    if (!DATA.drawable) {
      panel.remove();
      return;
    }
    panel.hidden = false;
    const canvas = document.getElementById("draw-canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });  // its ink is read after every move
    let drawing = false;
    let pending = false;
    const point = (event) => {
      const rect = canvas.getBoundingClientRect();
      return [((event.clientX - rect.left) / rect.width) * canvas.width, ((event.clientY - rect.top) / rect.height) * canvas.height];
    };
    const refresh = () => {
      pending = false;
      const { pixels } = CnnInput.mnistFromInk(CnnInput.canvasInk(canvas), canvas.height, canvas.width);
      state.source = { kind: "drawing" };
      state.base = pixels;
      update();
    };
    const schedule = () => {
      if (!pending) {
        pending = true;
        requestAnimationFrame(refresh);
      }
    };
    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      drawing = true;
      state.dx = 0;
      state.dy = 0;
      const [x, y] = point(event);
      context.strokeStyle = "#fff";
      context.fillStyle = "#fff";
      context.lineWidth = 22;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.beginPath();
      context.arc(x, y, context.lineWidth / 2, 0, 2 * Math.PI);
      context.fill();
      context.beginPath();
      context.moveTo(x, y);
      schedule();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const [x, y] = point(event);
      context.lineTo(x, y);
      context.stroke();
      context.beginPath();
      context.moveTo(x, y);
      schedule();
    });
    const stop = () => {
      if (drawing) {
        drawing = false;
        schedule();
      }
    };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    document.getElementById("draw-clear").addEventListener("click", () => {
      context.clearRect(0, 0, canvas.width, canvas.height);
      state.dx = 0;
      state.dy = 0;
      refresh();
    });
  }

  // --- running and showing ------------------------------------------------------------------------------------

  function update() {
    state.pixels = CnnInput.shiftImage(state.base, SHAPE, state.dx, state.dy);
    state.results = NETWORKS.map((network) => CnnEngine.forward(network, state.pixels));
    paintImage(inputCanvas, state.pixels, SHAPE);
    const label = state.source.kind === "sample" ? DATA.samples.labels[state.source.index] : null;
    const what = state.source.kind === "sample" ? `test image ${state.source.index + 1} (label: ${className(label)})` : "your drawing";
    const moved = state.dx || state.dy ? `, shifted ${state.dx} px right and ${state.dy} px down` : "";
    document.getElementById("input-caption").textContent = `${what}${moved}`;
    document.getElementById("shift-readout").textContent = `dx ${state.dx}, dy ${state.dy}`;
    for (const button of document.querySelectorAll(".sample")) {
      const pressed = state.source.kind === "sample" && Number(button.dataset.sample) === state.source.index;
      button.setAttribute("aria-pressed", pressed ? "true" : "false");
    }
    const verdicts = document.getElementById("verdicts");
    verdicts.replaceChildren();
    networkViews.forEach((view, n) => {
      const probabilities = state.results[n].probabilities;
      const top = probabilities.indexOf(Math.max(...probabilities));
      view.bars.forEach(({ item, fill, value }, k) => {
        const p = probabilities[k];
        item.dataset.probability = String(p);
        item.classList.toggle("top", k === top);
        item.classList.toggle("label", k === label);
        fill.style.width = `${100 * p}%`;
        value.textContent = percent(p);
      });
      const verdict = label === null ? "" : top === label ? " ✓" : ` ✗ (label ${className(label)})`;
      verdicts.append(el("p", { class: `verdict ${label === null ? "" : top === label ? "right" : "wrong"}`, "data-network": n }, [
        el("strong", { text: `${view.network.label}: ` }), `${className(top)} (${percent(probabilities[top])})${verdict}`,
      ]));
      view.layers.forEach((entry) => {
        const out = state.results[n].outputs[entry.index];
        if (entry.layer.kind === "flatten") return;
        const scale = scaleOf(out.data);
        entry.scale.textContent = `colour scale ±${num(scale)}`;
        entry.tiles.forEach((tile, c) => paintMap(tile.canvas, out, c, scale));
        if (out.shape.length === 1) {
          entry.tiles[0].canvas.style.width = `min(100%, ${Math.max(60, 6 * out.shape[0])}px)`;
        }
      });
    });
    showFormula();
  }

  /** The selection's input map, output map and layer, and what kind of equation it has. */
  function resolve(selection) {
    const network = NETWORKS[selection.network];
    const result = state.results[selection.network];
    let index = selection.layer;
    let relu = false;
    if (network.layers[index].kind === "relu") {  // a ReLU cell: the equation of the value it rectifies
      relu = true;
      index -= 1;
    }
    const layer = network.layers[index];
    const input = index === 0 ? result.input : result.outputs[index - 1];
    return { network, result, index, layer, input, output: result.outputs[index], relu };
  }

  /** Receptive field (rows, cols, inclusive) in the image of cell (row, col) of layer `index`'s output. */
  function receptiveField(network, index, row, col) {
    let geometry = [[0, 1, 1], [0, 1, 1]];  // per axis: offset, stride, extent
    for (let k = 0; k <= index; k++) {
      const layer = network.layers[k];
      if (layer.kind !== "conv" && layer.kind !== "pool") continue;
      geometry = geometry.map(([offset, stride, extent], axis) => [
        offset - layer.padding[axis][0] * stride,
        stride * layer.stride[axis],
        extent + (layer.kernel[axis] - 1) * layer.dilation[axis] * stride,
      ]);
    }
    const span = ([offset, stride, extent], j) => [offset + stride * j, offset + stride * j + extent - 1];
    return [span(geometry[0], row), span(geometry[1], col)];
  }

  /** Select a map cell for the formula view (on narrow screens the view opens as a sheet over the page). */
  function select(selection) {
    const previous = state.selection;
    const keepChannel = previous && previous.network === selection.network && previous.layer === selection.layer;
    state.selection = { ...selection, termChannel: keepChannel ? previous.termChannel : 0 };
    showFormula();
    if (window.matchMedia("(max-width: 999px)").matches) {  // keep the cell in sight above the sheet
      const rect = networkViews[selection.network].layers[selection.layer].tiles[selection.channel].canvas.getBoundingClientRect();
      if (rect.bottom > 0.45 * window.innerHeight || rect.top < 0) window.scrollBy(0, rect.top - 0.12 * window.innerHeight);
    }
  }

  function closeFormula() {
    const tile = state.selection && networkViews[state.selection.network].layers[state.selection.layer].tiles[state.selection.channel];
    state.selection = null;
    showFormula();
    if (tile) tile.canvas.focus();
  }

  function clearMarks() {
    for (const mark of document.querySelectorAll(".mark")) mark.hidden = true;
  }

  /** A grid of numbers (rows x cols) for the formula view, coloured on its own scale. */
  function grid(caption, cells, cols, options = {}) {
    const values = cells.map((cell) => cell.value);
    const scale = scaleOf(values);
    const table = el("table", { class: `grid ${options.class || ""}` }, [el("caption", { text: caption })]);
    const body = el("tbody");
    for (let r = 0; r < cells.length / cols; r++) {
      const tr = el("tr");
      for (let c = 0; c < cols; c++) {
        const cell = cells[r * cols + c];
        const td = el("td", {
          class: [cell.padding ? "pad" : "", cell.winner ? "winner" : ""].join(" ").trim() || null,
          title: cell.title || null,
          ...cell.data,
          text: cell.padding && options.padText ? options.padText : short(cell.value),
        });
        if (!cell.padding && Number.isFinite(cell.value)) td.style.background = cssColour(cell.value / scale);
        tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    return table;
  }

  const FORMULA_HINT = document.getElementById("formula-body").innerHTML;

  function showFormula() {
    const body = document.getElementById("formula-body");
    clearMarks();
    const selection = state.selection;
    document.getElementById("formula").classList.toggle("open", Boolean(selection));
    document.body.classList.toggle("sheet-open", Boolean(selection));
    document.getElementById("formula-close").hidden = !selection;
    if (!selection) {
      body.innerHTML = FORMULA_HINT;
      return;
    }
    const view = networkViews[selection.network];
    const { network, index, layer, input, output, relu } = resolve(selection);
    const [C, H, W] = output.shape;
    const { channel: o, row: i, col: j } = selection;
    if (i >= H || j >= W) return;
    // marks: the clicked cell, its window in the layer's input maps, its receptive field in the image
    const clicked = view.layers[selection.layer].tiles[o];
    placeMark(clicked.cellMark, [i, i], [j, j], H, W);
    const [inH, inW] = input.shape.slice(1);
    const windowRows = [CnnEngine.tapPosition(layer, i, j, 0, 0)[0], CnnEngine.tapPosition(layer, i, j, layer.kernel[0] - 1, 0)[0]];
    const windowCols = [CnnEngine.tapPosition(layer, i, j, 0, 0)[1], CnnEngine.tapPosition(layer, i, j, 0, layer.kernel[1] - 1)[1]];
    if (index > 0) {
      view.layers[index - 1].tiles.forEach((tile, c) => {
        if (layer.kind === "conv" || c === o) placeMark(tile.windowMark, windowRows, windowCols, inH, inW);
      });
    }
    const [fieldRows, fieldCols] = receptiveField(network, index, i, j);
    placeMark(inputMark, fieldRows, fieldCols, HEIGHT, WIDTH);
    const from = index === 0 ? "the input" : network.layers[index - 1].name;
    const source = index === 0 ? `the network's input (${input.shape.join(" × ")}: the image, scaled as in training)` : `the output of ${from} (${input.shape.join(" × ")})`;
    const where = `row ${i}, column ${j}`;
    const title = `${network.layers[selection.layer].name} · channel ${o} · ${where}`;
    const parts = [el("h3", { text: `${view.network.label}: ${title}` })];
    const fieldText = `Its receptive field in the image: rows ${fieldRows[0]}–${fieldRows[1]}, columns ${fieldCols[0]}–${fieldCols[1]}` +
      (fieldRows[0] < 0 || fieldCols[0] < 0 || fieldRows[1] >= HEIGHT || fieldCols[1] >= WIDTH ? " (partly padding)." : ".");
    const [S0, S1] = layer.stride;
    const [P0, P1] = [layer.padding[0][0], layer.padding[1][0]];
    const [D0, D1] = layer.dilation;
    const tap = (s, p, d, v, k) => `${v}·${s}${p ? ` − ${p}` : ""} + ${d === 1 ? k : `${k}·${d}`}`;
    let value;
    if (layer.kind === "conv") {
      const cell = CnnEngine.convCell(layer, input, o, i, j);
      value = cell.value;
      const inC = input.shape[0];
      const tc = Math.min(selection.termChannel || 0, inC - 1);
      parts.push(el("p", { class: "eq" }, [
        `y[${o}, ${i}, ${j}] = b[${o}] + Σ`, el("sub", { text: "c" }), " Σ", el("sub", { text: "n" }), " Σ", el("sub", { text: "m" }),
        ` x[c, ${tap(S0, P0, D0, i, "n")}, ${tap(S1, P1, D1, j, "m")}] · W[${o}, c, n, m]`,
      ]));
      parts.push(el("p", { class: "explain", text:
        `x is ${source}, W the ${layer.kernel[0]}×${layer.kernel[1]} kernel of output channel ${o} ` +
        `for each of the ${inC} input channel${inC > 1 ? "s" : ""}; x outside the map is 0 (zero padding). The window reads rows ` +
        `${windowRows[0]}–${windowRows[1]}, columns ${windowCols[0]}–${windowCols[1]} of ${from}. ${fieldText} (assignment 000, equation 4; ` +
        "assignment 004's warm-up: one window times one filter is one output value.)" }));
      if (inC > 1) {
        const picker = el("div", { class: "channels", role: "group", "aria-label": "input channel of the products shown" });
        cell.channelSums.forEach((s, c) => {
          picker.append(el("button", {
            type: "button", class: "channel-sum", "data-channel": c, "data-value": String(s), "aria-pressed": c === tc ? "true" : "false",
            text: `c=${c}: ${num(s)}`, onclick: () => { state.selection.termChannel = c; showFormula(); },
          }));
        });
        parts.push(el("p", { class: "explain", text: "Sum of the products of each input channel (pick one to see its numbers):" }), picker);
      }
      cell.terms.forEach((terms, c) => {
        const K1 = layer.kernel[1];
        const holder = el("div", { class: "grids", "data-channel": c, hidden: c !== tc });
        holder.append(
          grid(`input window x[${c}]`, terms.map((t) => ({ value: t.input, padding: t.padding, title: t.padding ? `padding (row ${t.y}, column ${t.x}): 0` : `x[${c}, ${t.y}, ${t.x}] = ${t.input}` })), K1, { padText: "0" }),
          grid(`kernel W[${o}, ${c}]`, terms.map((t) => ({ value: t.weight, title: `W[${o}, ${c}, ${t.n}, ${t.m}] = ${t.weight}` })), K1),
          grid("products x · W", terms.map((t) => ({
            value: t.product, padding: t.padding, title: `${t.input} × ${t.weight} = ${t.product}`,
            data: { "data-product": String(t.product), "data-channel": c, "data-n": t.n, "data-m": t.m },
          })), K1, { class: "products", padText: "0" }),
        );
        holder.append(el("p", { class: "sum", text: `Σ products of channel ${c} = ${num(cell.channelSums[c])}` }));
        parts.push(holder);
      });
      parts.push(el("p", { class: "total" }, [
        `Σ = ${num(cell.sum)}, plus bias b[${o}] = `, el("span", { "data-role": "bias", "data-value": String(cell.bias), text: num(cell.bias) }),
        ": y = ", el("strong", { "data-role": "value", "data-value": String(cell.value), text: num(cell.value) }),
      ]));
    } else {
      const cell = CnnEngine.poolCell(layer, input, o, i, j);
      value = cell.value;
      const win = cell.cells[cell.winner];
      parts.push(el("p", { class: "eq", text: `y[${o}, ${i}, ${j}] = max over n, m of x[${o}, ${tap(S0, P0, D0, i, "n")}, ${tap(S1, P1, D1, j, "m")}]` }));
      parts.push(el("p", { class: "explain", text:
        `x is ${source}; pooling works on each channel alone, so this is channel ${o} of it, ` +
        `rows ${windowRows[0]}–${windowRows[1]}, columns ${windowCols[0]}–${windowCols[1]}; padding counts as −∞ and never wins, and of equal ` +
        `values the first (row by row) wins, as in PyTorch. ${fieldText}` }));
      parts.push(el("div", { class: "grids" }, [grid(`window of x[${o}]`, cell.cells.map((t, k) => ({
        value: t.input, padding: t.padding, winner: k === cell.winner, title: t.padding ? "padding: −∞" : `x[${o}, ${t.y}, ${t.x}] = ${t.input}`,
        data: { "data-input": String(t.input), "data-winner": k === cell.winner ? "true" : null },
      })), layer.kernel[1], { class: "pool", padText: "−∞" })]));
      parts.push(el("p", { class: "total" }, [
        `The maximum is x[${o}, ${win.y}, ${win.x}] (window row ${win.n}, column ${win.m}): y = `,
        el("strong", { "data-role": "value", "data-value": String(cell.value), text: num(cell.value) }),
      ]));
    }
    if (relu) {
      const rectified = Math.max(0, value);
      parts.push(el("p", { class: "total" }, [
        `then ${network.layers[selection.layer].name}: max(0, ${num(value)}) = `,
        el("strong", { "data-role": "relu", "data-value": String(rectified), text: num(rectified) }),
      ]));
    }
    parts.push(el("p", { class: "explain", text: "Arrow keys on a focused map move the cell (watch the window slide); shifting the input keeps the cell and recomputes." }));
    body.replaceChildren(...parts);
  }

  // --- the self-check against the NumPy engine ----------------------------------------------------------------

  /** For every network: the largest |p_JS - p_NumPy| over the embedded images, and how many it gets right. */
  function selfCheck() {
    return NETWORKS.map((network, n) => {
      let largest = 0;
      let correct = 0;
      const reference = network.reference ? CnnEngine.decodeFloats(network.reference.probabilities, 8) : null;
      for (let k = 0; k < DATA.samples.count; k++) {
        const p = CnnEngine.forward(network, CnnInput.samplePixels(SAMPLE_BYTES, SHAPE, k)).probabilities;
        if (p.indexOf(Math.max(...p)) === DATA.samples.labels[k]) correct += 1;
        if (reference) {
          for (let c = 0; c < p.length; c++) largest = Math.max(largest, Math.abs(p[c] - reference[k * p.length + c]));
        }
      }
      const view = networkViews[n];
      const agree = reference ? ` Computed here in JavaScript; the NumPy engine's probabilities for them differ by at most ${largest.toExponential(1)}.` : "";
      view.check.textContent = `Right on ${correct} of the ${DATA.samples.count} embedded test images.${agree}`;
      return { network: network.label, largestDifference: reference ? largest : null, correct, count: DATA.samples.count };
    });
  }

  // --- start --------------------------------------------------------------------------------------------------

  buildSamples();
  NETWORKS.forEach((network, n) => networkViews.push(buildNetwork(network, n)));
  setupShift();
  setupDrawing();
  document.getElementById("formula-close").addEventListener("click", closeFormula);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.selection) closeFormula();
  });
  update();
  const check = selfCheck();

  /** For tests and the curious (in the browser console): the current state and the engines. */
  window.cnnlabExplorer = {
    state,
    networks: NETWORKS,
    selfCheck: check,
    pixels: () => Array.from(state.pixels),
    selectSample,
    shiftBy,
  };
})();
