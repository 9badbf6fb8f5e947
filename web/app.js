// Digit reader: the drawing pad, uploads, samples and the result panel.
// No dependencies; runs under the server's CSP (no inline script or style).
'use strict';

(() => {
  const API = { digit: '/api/v1/predict', number: '/api/v1/read' };
  const PEN = 1 / 13; // line width as a fraction of the pad's height (MNIST: ~2.5 px strokes on a 20 px digit)
  const INK = '#111111';
  const EXPORT_SIDE = 280; // px, the exported drawing's height whatever the screen; its width follows the pad
  const SAMPLE_GAP = 0.04; // in number mode, samples are written this far apart (fraction of the pad's width)
  const FIGURE_MAX_HEIGHT = 320; // px; an uploaded number is shown at most this tall with its boxes
  const NUMBER_SAMPLE_HEIGHT = 0.6; // in number mode, a sample's box as a fraction of the pad's height
  const LIVE_DELAY = 200; // ms between live readings while drawing
  const SAMPLE_MARGIN = 0.15; // samples are drawn inside this margin of the pad
  const REPLAY_MS = 550; // how long a sample takes to draw itself
  const REQUEST_TIMEOUT = 30000;
  const MESSAGES = {
    no_digit: ['No digit found — draw or upload a digit.', 'The image looks blank: nothing stands out from the background.'],
    invalid_image: [
      'That file isn’t an image we can read.',
      'Try a PNG, JPEG, WebP, GIF, BMP or TIFF picture of one digit.',
    ],
    unsupported_media_type: ['That kind of file isn’t supported.', 'Try a PNG, JPEG, WebP, GIF, BMP or TIFF image.'],
    too_large: ['That image is too large.', 'Try a smaller picture or a screenshot of the digit.'],
    invalid_multipart: ['The upload didn’t come through.', 'Please try again.'],
    missing_image: ['The upload didn’t come through.', 'Please try again.'],
    not_a_file: ['That wasn’t an image file.', 'Save the picture first, then drop, paste or choose the file.'],
    network: ['Can’t reach the server.', 'Check your connection and try again.'],
    timeout: ['The server took too long to answer.', 'Please try again in a moment.'],
    server: ['Something went wrong on our side.', 'Please try again in a moment.'],
    unknown: ['Something went wrong.', 'Please try again.'],
  };

  const TEXT = {
    digit: {
      title: 'Draw a digit',
      pad: 'Drawing pad: draw one digit here with a mouse, finger or pen',
      upload: 'A photo or scan of one digit: PNG, JPEG, WebP, GIF, BMP or TIFF',
      placeholder: 'Draw or upload a digit to see what the model reads.',
    },
    number: {
      title: 'Draw a number',
      pad: 'Drawing pad: write a number here, digit by digit, with a mouse, finger or pen',
      upload: 'A photo or scan of a number: PNG, JPEG, WebP, GIF, BMP or TIFF',
      placeholder: 'Write a number, such as a year, or upload a picture of one.',
    },
  };

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const canvas = $('draw-canvas');
  const ctx = canvas.getContext('2d');
  const pad = $('pad');
  const undoButton = $('undo');
  const clearButton = $('clear');
  const fileInput = $('upload-input');
  const dropzone = $('dropzone');
  const preview = $('preview');
  const previewName = $('preview-name');
  const result = $('result');
  const source = $('source');
  const prediction = $('prediction');
  const confidence = $('confidence');
  const runnerUp = $('runner-up');
  const errorBox = $('error');
  const barsList = $('probabilities');
  const modelInput = $('model-input');
  const samplesBox = $('samples');
  const modelLine = $('model-line');
  const inputTitle = $('input-title');
  const placeholder = $('placeholder');
  const confidenceLabel = document.querySelector('.confidence-label');
  const padBoxes = $('pad-boxes');
  const reading = $('reading');
  const readingDigits = $('reading-digits');
  const readingFigure = $('reading-figure');
  const readingFrame = $('reading-frame');
  const readingImage = $('reading-image');
  const readingBoxes = $('reading-boxes');
  const modeInputs = Array.from(document.querySelectorAll('input[name="mode"]'));
  const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

  // ---- State ------------------------------------------------------------------------------------

  let strokes = []; // each stroke: an array of [x, y] in 0..1 of the pad's side
  let activePointer = null;
  let current = null; // the stroke being drawn
  let replay = 0; // requestAnimationFrame id of a sample being drawn
  let sourceId = 0; // bumps when the input is replaced or reset: older answers are dropped
  let revision = 0; // bumps on every change of the input
  let queued = null; // the next request to send: {kind: 'drawing'} or {kind: 'file', file}
  let inFlight = false;
  let liveTimer = 0;
  let previewUrl = null;
  let currentFile = null; // the uploaded image, read again when the mode changes
  let hasResult = false;
  let mode = 'digit'; // 'digit': /predict, one digit; 'number': /read, every digit left to right

  function setState(state) {
    body.dataset.state = state;
    result.dataset.state = state;
    result.setAttribute('aria-busy', String(state === 'loading'));
  }

  // ---- Drawing ----------------------------------------------------------------------------------

  function paint(target, width, height, list, lineWidth) {
    target.lineCap = 'round';
    target.lineJoin = 'round';
    target.strokeStyle = INK;
    target.fillStyle = INK;
    target.lineWidth = lineWidth;
    for (const stroke of list) {
      if (!stroke.length) continue;
      const [x0, y0] = stroke[0];
      if (stroke.length === 1) {
        target.beginPath();
        target.arc(x0 * width, y0 * height, lineWidth / 2, 0, 2 * Math.PI);
        target.fill();
        continue;
      }
      // Quadratic curves through the midpoints: smooth lines from jittery pointer samples.
      target.beginPath();
      target.moveTo(x0 * width, y0 * height);
      for (let i = 1; i < stroke.length - 1; i += 1) {
        const [x, y] = stroke[i];
        const [nx, ny] = stroke[i + 1];
        target.quadraticCurveTo(x * width, y * height, ((x + nx) / 2) * width, ((y + ny) / 2) * height);
      }
      const [xn, yn] = stroke[stroke.length - 1];
      target.lineTo(xn * width, yn * height);
      target.stroke();
    }
  }

  function redraw() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    paint(ctx, canvas.width, canvas.height, strokes, canvas.height * PEN);
    pad.classList.toggle('has-ink', strokes.length > 0);
  }

  let redrawPending = false;
  function scheduleRedraw() {
    if (redrawPending) return;
    redrawPending = true;
    requestAnimationFrame(() => {
      redrawPending = false;
      redraw();
    });
  }

  function fitCanvas() {
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * dpr));
    const height = Math.max(1, Math.round(rect.height * dpr));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    redraw();
  }

  /** The pad's width over its height: 1 for a digit, wider for a number. */
  function padAspect() {
    const rect = canvas.getBoundingClientRect();
    return rect.height > 0 ? rect.width / rect.height : 1;
  }

  /** The size of the exported drawing: EXPORT_SIDE high, as wide as the pad's shape. */
  function exportSize() {
    return { width: Math.round(EXPORT_SIDE * padAspect()), height: EXPORT_SIDE };
  }

  /** The drawing as a PNG: dark ink on white, EXPORT_SIDE high, the same pen as on screen. */
  function exportDrawing() {
    const { width, height } = exportSize();
    const out = document.createElement('canvas');
    out.width = width;
    out.height = height;
    const c = out.getContext('2d');
    c.fillStyle = '#ffffff';
    c.fillRect(0, 0, width, height);
    paint(c, width, height, strokes, height * PEN);
    return new Promise((resolve, reject) => {
      out.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the drawing could not be encoded'))), 'image/png');
    });
  }

  function pointOf(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height];
  }

  function addPoint(point) {
    const last = current[current.length - 1];
    if (last && Math.hypot(point[0] - last[0], point[1] - last[1]) < 0.002) return;
    current.push(point);
  }

  canvas.addEventListener('pointerdown', (event) => {
    if (activePointer !== null) return;
    if (event.pointerType === 'mouse' && event.button !== 0) return;
    event.preventDefault();
    stopReplay();
    try {
      canvas.setPointerCapture(event.pointerId);
    } catch {
      // Capture is a nicety: strokes leaving the pad still end on pointerup elsewhere.
    }
    if (previewUrl) startOver(); // a new drawing replaces an uploaded image
    activePointer = event.pointerId;
    current = [pointOf(event)];
    strokes.push(current);
    source.textContent = 'your drawing';
    scheduleRedraw();
    changed(false);
  });

  canvas.addEventListener('pointermove', (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) addPoint(pointOf(e));
    scheduleRedraw();
    changed(false);
  });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    current = null;
    redraw();
    changed(true);
  }
  canvas.addEventListener('pointerup', endStroke);
  canvas.addEventListener('pointercancel', endStroke);
  canvas.addEventListener('lostpointercapture', endStroke);
  // Belt and braces for touch screens that ignore touch-action: the page must not scroll or zoom under the pen.
  for (const type of ['touchstart', 'touchmove']) {
    canvas.addEventListener(type, (event) => event.preventDefault(), { passive: false });
  }
  canvas.addEventListener('contextmenu', (event) => event.preventDefault());

  // ---- Controls ---------------------------------------------------------------------------------

  function updateButtons() {
    undoButton.disabled = strokes.length === 0;
    clearButton.disabled = strokes.length === 0 && !previewUrl && !hasResult && errorBox.hidden;
  }

  /** Forget the input and the answer. */
  function startOver() {
    stopReplay();
    clearTimeout(liveTimer);
    liveTimer = 0;
    queued = null;
    sourceId += 1;
    revision += 1;
    strokes = [];
    current = null;
    activePointer = null;
    clearPreview();
    resetResult();
    redraw();
    setState('idle');
    updateButtons();
  }

  function undo() {
    if (activePointer !== null) return;
    const wasReplaying = stopReplay();
    strokes.pop();
    if (!strokes.length) {
      startOver();
      return;
    }
    redraw();
    if (wasReplaying) source.textContent = 'your drawing';
    changed(true);
  }

  undoButton.addEventListener('click', undo);
  clearButton.addEventListener('click', startOver);
  document.addEventListener('keydown', (event) => {
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey && key === 'z') {
      event.preventDefault();
      undo();
    }
  });

  // ---- Reading: at most one request in flight, the latest input always sent last --------------

  /** The drawing changed: read it now (end of a stroke) or soon (while drawing). */
  function changed(now) {
    revision += 1;
    setState('loading');
    updateButtons();
    if (now) {
      clearTimeout(liveTimer);
      liveTimer = 0;
      request({ kind: 'drawing' });
    } else if (!liveTimer) {
      liveTimer = setTimeout(() => {
        liveTimer = 0;
        request({ kind: 'drawing' });
      }, LIVE_DELAY);
    }
  }

  function request(job) {
    job.mode = mode;
    queued = job; // a newer job replaces one that has not been sent yet
    setState('loading');
    pump();
  }

  async function pump() {
    if (inFlight || !queued) return;
    const job = queued;
    queued = null;
    inFlight = true;
    const jobSource = sourceId;
    const jobRevision = revision;
    let outcome;
    try {
      let init;
      if (job.kind === 'drawing') {
        init = { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: await exportDrawing() };
      } else {
        const form = new FormData();
        form.append('image', job.file, job.file.name || 'image');
        init = { method: 'POST', body: form };
      }
      init.headers = { ...init.headers, Accept: 'application/json' };
      if (typeof AbortSignal.timeout === 'function') init.signal = AbortSignal.timeout(REQUEST_TIMEOUT);
      outcome = await readResponse(await fetch(API[job.mode], init), job.mode);
    } catch (err) {
      outcome = { ok: false, code: err && err.name === 'TimeoutError' ? 'timeout' : 'network' };
    }
    inFlight = false;
    if (jobSource === sourceId) {
      const latest = jobRevision === revision && !queued && !liveTimer;
      if (outcome.ok) {
        if (outcome.kind === 'number') showReading(outcome.data, job);
        else showResult(outcome.data);
        if (latest) setState('done');
      } else if (latest) {
        showError(outcome.code, outcome.message);
        setState('error');
      }
      // A failed reading of a drawing that has changed since is not worth a message: a newer one is coming.
    }
    pump();
  }

  function isAnswer(data, kind) {
    if (!data) return false;
    if (kind === 'number') return typeof data.text === 'string' && Array.isArray(data.digits) && Boolean(data.image);
    return Number.isInteger(data.digit) && Array.isArray(data.probabilities);
  }

  async function readResponse(response, kind) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.ok && isAnswer(data, kind)) {
      return { ok: true, data, kind };
    }
    let code = data && typeof data.code === 'string' ? data.code : null;
    if (!code || !(code in MESSAGES)) {
      if (response.status === 413) code = 'too_large';
      else if (response.status === 415) code = 'unsupported_media_type';
      else if (response.status >= 500) code = 'server';
      else code = code || 'unknown';
    }
    const message = data && typeof data.message === 'string' ? data.message : `HTTP ${response.status}`;
    return { ok: false, code, message };
  }

  // ---- The answer -------------------------------------------------------------------------------

  const bars = [];
  for (let digit = 0; digit < 10; digit += 1) {
    const item = document.createElement('li');
    item.className = 'bar';
    item.dataset.digit = String(digit);
    const label = document.createElement('span');
    label.className = 'bar-label';
    label.innerHTML = `<span class="visually-hidden">Digit </span>${digit}<span class="visually-hidden">: </span>`;
    const track = document.createElement('span');
    track.className = 'bar-track';
    track.setAttribute('aria-hidden', 'true');
    const fill = document.createElement('span');
    fill.className = 'bar-fill';
    track.append(fill);
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = '–';
    item.append(label, track, value);
    barsList.append(item);
    bars.push({ item, fill, value });
  }

  function percent(p) {
    if (p > 0 && p < 0.0005) return '<0.1%';
    const text = (p * 100).toFixed(1);
    return `${text.endsWith('.0') ? text.slice(0, -2) : text}%`;
  }

  /** The parts both answers share: the big text, a confidence and an optional runner-up line. */
  function showAnswer(text, certainty, label, alternative) {
    hasResult = true;
    errorBox.hidden = true;
    errorBox.textContent = '';
    prediction.textContent = text;
    confidence.textContent = percent(certainty);
    confidenceLabel.textContent = label;
    runnerUp.textContent = alternative;
    result.classList.add('has-answer');
    updateButtons();
  }

  function showResult(data) {
    const second = Array.isArray(data.top) ? data.top[1] : null;
    showAnswer(
      String(data.digit),
      data.confidence,
      'confidence',
      second && second.probability >= 0.05 ? `Could also be a ${second.digit} (${percent(second.probability)})` : '',
    );
    data.probabilities.forEach((p, digit) => {
      const bar = bars[digit];
      if (!bar) return;
      bar.item.dataset.probability = String(p);
      bar.item.classList.toggle('winner', digit === data.digit);
      bar.fill.style.setProperty('--p', String(Math.max(0, Math.min(1, p))));
      bar.value.textContent = percent(p);
    });
    if (isDataUrl(data.input)) {
      modelInput.src = data.input;
      modelInput.hidden = false;
    }
  }

  const isDataUrl = (value) => typeof value === 'string' && value.startsWith('data:image/png;base64,');

  /** A whole number: the text, each digit with its confidence and 28×28 input, and a box around each. */
  function showReading(data, job) {
    const digits = data.digits;
    const least = digits.reduce((a, d) => (d.confidence < a.confidence ? d : a), digits[0]);
    const position = digits.indexOf(least);
    const order = least.probabilities.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]);
    const [p2, d2] = order[1];
    const which = digits.length > 1 ? `Digit ${position + 1} of ${digits.length}` : 'It';
    showAnswer(
      data.text,
      least.confidence,
      digits.length > 1 ? 'confidence in the least certain digit' : 'confidence',
      p2 >= 0.05 ? `${which} could also be a ${d2} (${percent(p2)})` : '',
    );
    readingDigits.replaceChildren(
      ...digits.map((d, i) => {
        const item = document.createElement('li');
        item.className = 'reading-digit';
        item.dataset.digit = String(d.digit);
        const seen = document.createElement('img');
        seen.width = 28;
        seen.height = 28;
        seen.alt = `Digit ${i + 1} as the model saw it`;
        if (isDataUrl(d.input)) seen.src = d.input;
        const value = document.createElement('span');
        value.className = 'reading-value';
        value.textContent = String(d.digit);
        const sure = document.createElement('span');
        sure.className = 'reading-confidence';
        sure.textContent = percent(d.confidence);
        item.append(seen, value, sure);
        return item;
      }),
    );
    reading.hidden = false;
    if (job.kind === 'drawing') {
      drawBoxes(padBoxes, digits, data.image);
      readingFigure.hidden = true;
    } else {
      padBoxes.replaceChildren();
      readingImage.src = previewUrl;
      const { width, height } = data.image;
      readingFrame.style.aspectRatio = `${width} / ${height}`;
      readingFrame.style.width = `min(100%, ${Math.round((FIGURE_MAX_HEIGHT * width) / height)}px)`; // tall images stay short
      drawBoxes(readingBoxes, digits, data.image);
      readingFigure.hidden = false;
    }
  }

  /** A labelled box per digit, placed in percent of the image so it scales with it. */
  function drawBoxes(container, digits, size) {
    container.replaceChildren(
      ...digits.map((d) => {
        const [x, y, w, h] = d.box;
        const box = document.createElement('div');
        box.className = 'box';
        box.dataset.digit = String(d.digit);
        box.style.left = `${(100 * x) / size.width}%`;
        box.style.top = `${(100 * y) / size.height}%`;
        box.style.width = `${(100 * w) / size.width}%`;
        box.style.height = `${(100 * h) / size.height}%`;
        const label = document.createElement('span');
        label.className = 'box-label';
        label.textContent = String(d.digit);
        box.append(label);
        return box;
      }),
    );
  }

  function resetResult() {
    hasResult = false;
    prediction.textContent = '';
    confidence.textContent = '';
    runnerUp.textContent = '';
    errorBox.hidden = true;
    errorBox.textContent = '';
    for (const bar of bars) {
      delete bar.item.dataset.probability;
      bar.item.classList.remove('winner');
      bar.fill.style.setProperty('--p', '0');
      bar.value.textContent = '–';
    }
    modelInput.hidden = true;
    modelInput.removeAttribute('src');
    reading.hidden = true;
    readingDigits.replaceChildren();
    readingFigure.hidden = true;
    readingImage.removeAttribute('src');
    padBoxes.replaceChildren();
    readingBoxes.replaceChildren();
    result.classList.remove('has-answer');
    if (!strokes.length && !previewUrl) source.textContent = '';
  }

  function showError(code, serverMessage) {
    resetResult();
    const [title, hint] = MESSAGES[code] || MESSAGES.unknown;
    const strong = document.createElement('strong');
    strong.textContent = title;
    const detail = document.createElement('span');
    detail.className = 'error-detail';
    detail.textContent = hint;
    if (code === 'too_large' && serverMessage) {
      // "... over the limit of 10,485,760 bytes." -> "The limit is 10 MB."
      const limit = /limit of ([\d,]+) bytes/.exec(serverMessage);
      if (limit) detail.textContent = `The limit is ${formatBytes(Number(limit[1].replace(/,/g, '')))}. ${hint}`;
    } else if (serverMessage && (code === 'server' || code === 'unknown')) {
      detail.textContent = `${hint} (${serverMessage})`; // e.g. the request id to quote
    }
    errorBox.replaceChildren(strong, ' ', detail);
    errorBox.dataset.code = code;
    errorBox.hidden = false;
    updateButtons();
  }

  // ---- Uploads: file chooser, drag and drop, paste ---------------------------------------------

  function clearPreview() {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    currentFile = null;
    preview.hidden = true;
    preview.removeAttribute('src');
    previewName.textContent = TEXT[mode].upload;
    dropzone.classList.remove('has-preview');
  }

  function readFile(file, label) {
    startOver();
    currentFile = file;
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    preview.hidden = false;
    dropzone.classList.add('has-preview');
    const name = label || file.name || 'image';
    previewName.textContent = `${name} · ${formatBytes(file.size)}`;
    source.textContent = name;
    updateButtons();
    request({ kind: 'file', file });
  }

  function formatBytes(n) {
    if (n < 1024) return `${n} bytes`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    return `${Number((n / 1024 / 1024).toFixed(1))} MB`;
  }

  preview.addEventListener('error', () => {
    preview.hidden = true; // not a picture the browser can show; the server will say what it makes of it
  });

  fileInput.addEventListener('change', () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) readFile(file);
    fileInput.value = ''; // choosing the same file again still reads it
  });

  function pickFile(files) {
    const list = Array.from(files || []);
    return list.find((f) => f.type.startsWith('image/')) || list[0] || null;
  }

  // Drags that start on this page (selected text, the thumbnails) are not uploads.
  let internalDrag = false;
  document.addEventListener('dragstart', () => {
    internalDrag = true;
  });
  document.addEventListener('dragend', () => {
    internalDrag = false;
  });
  const carriesFiles = (event) =>
    Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes('Files');
  let dragDepth = 0;
  document.addEventListener('dragenter', (event) => {
    if (internalDrag) return;
    event.preventDefault();
    if (!carriesFiles(event)) return;
    dragDepth += 1;
    body.classList.add('dragging');
  });
  document.addEventListener('dragover', (event) => {
    if (internalDrag || !event.dataTransfer) return;
    event.preventDefault(); // accept the drop, so the browser does not open the file instead
    event.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) body.classList.remove('dragging');
  });
  document.addEventListener('drop', (event) => {
    dragDepth = 0;
    body.classList.remove('dragging');
    if (internalDrag || !event.dataTransfer) return;
    event.preventDefault();
    const file = pickFile(event.dataTransfer.files);
    if (file) {
      readFile(file);
    } else {
      // A link or a picture dragged from another page: say what to do rather than nothing.
      showError('not_a_file');
      setState('error');
    }
  });

  document.addEventListener('paste', (event) => {
    const items = Array.from((event.clipboardData && event.clipboardData.items) || []);
    const files = items.filter((item) => item.kind === 'file').map((item) => item.getAsFile());
    const file = pickFile(files.filter(Boolean));
    if (!file) return; // text: nothing for us
    event.preventDefault();
    readFile(file, file.type.startsWith('image/') ? 'pasted image' : file.name);
  });

  // ---- Samples ----------------------------------------------------------------------------------

  const toPad = ([x, y]) => [SAMPLE_MARGIN + x * (1 - 2 * SAMPLE_MARGIN), SAMPLE_MARGIN + y * (1 - 2 * SAMPLE_MARGIN)];

  function stopReplay() {
    if (!replay) return false;
    cancelAnimationFrame(replay);
    replay = 0;
    return true;
  }

  /** Number mode: the sample's strokes just right of what is drawn, or null when the pad is full. */
  function placeAfterInk(paths) {
    const aspect = padAspect();
    const xs = paths.flat().map(([x]) => x);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const scaleX = NUMBER_SAMPLE_HEIGHT / aspect;
    const inkRight = strokes.flat().reduce((right, [x]) => Math.max(right, x), -Infinity);
    const left = Number.isFinite(inkRight) ? inkRight + SAMPLE_GAP : SAMPLE_MARGIN / aspect;
    if (left + (x1 - x0) * scaleX > 1 - SAMPLE_MARGIN / aspect) return null;
    const top = (1 - NUMBER_SAMPLE_HEIGHT) / 2;
    return paths.map((stroke) => stroke.map(([x, y]) => [left + (x - x0) * scaleX, top + y * NUMBER_SAMPLE_HEIGHT]));
  }

  /** Number mode: write the sample after the digits already there, so samples spell a number. */
  function appendSample(paths) {
    stopReplay();
    if (previewUrl) startOver();
    let placed = placeAfterInk(paths);
    if (!placed) {
      startOver(); // the pad is full: start a new number
      placed = placeAfterInk(paths);
    }
    strokes.push(...placed);
    source.textContent = 'your drawing';
    redraw();
    changed(true);
  }

  function playSample(digit, paths) {
    if (mode === 'number') {
      appendSample(paths);
      return;
    }
    startOver();
    const target = paths.map((stroke) => stroke.map(toPad));
    source.textContent = `sample ${digit}`;
    if (reducedMotion.matches) {
      strokes = target;
      redraw();
      changed(true);
      return;
    }
    const total = target.reduce((n, stroke) => n + stroke.length, 0);
    const started = performance.now();
    let drawn = 0;
    const step = (now) => {
      const want = Math.min(total, Math.ceil(((now - started) / REPLAY_MS) * total));
      for (; drawn < want; drawn += 1) {
        let index = drawn;
        let s = 0;
        while (index >= target[s].length) {
          index -= target[s].length;
          s += 1;
        }
        if (index === 0) strokes.push([]);
        strokes[strokes.length - 1].push(target[s][index]);
      }
      redraw();
      if (drawn < total) {
        replay = requestAnimationFrame(step);
        changed(false);
      } else {
        replay = 0;
        changed(true);
      }
    };
    replay = requestAnimationFrame(step);
    setState('loading');
  }

  async function loadSamples() {
    let digits;
    try {
      const response = await fetch('/static/samples.json', { headers: { Accept: 'application/json' } });
      digits = (await response.json()).digits;
    } catch {
      digits = null;
    }
    if (!digits) {
      samplesBox.closest('.samples-block').hidden = true;
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    for (const digit of Object.keys(digits).sort()) {
      const paths = digits[digit];
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sample';
      button.dataset.digit = digit;
      button.setAttribute('aria-label', `Sample digit ${digit}`);
      button.title = `Draw a sample ${digit}`;
      const thumb = document.createElement('canvas');
      thumb.width = Math.round(56 * dpr);
      thumb.height = thumb.width;
      thumb.setAttribute('aria-hidden', 'true');
      paint(
        thumb.getContext('2d'),
        thumb.width,
        thumb.height,
        paths.map((stroke) => stroke.map(toPad)),
        thumb.height * PEN,
      );
      button.append(thumb);
      button.addEventListener('click', () => playSample(digit, paths));
      samplesBox.append(button);
    }
  }

  // ---- The model card ---------------------------------------------------------------------------

  async function loadModelCard() {
    try {
      const response = await fetch('/api/v1/model', { headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      const card = await response.json();
      if (!card || typeof card.version !== 'string') return;
      const accuracy = card.test && typeof card.test.accuracy === 'number' ? card.test.accuracy : null;
      modelLine.textContent =
        `Model ${card.version}` + (accuracy === null ? '' : ` · ${(accuracy * 100).toFixed(2)}% on the MNIST test set`);
    } catch {
      // The footer line is optional.
    }
  }

  // ---- Mode: one digit or a whole number -------------------------------------------------------

  function setMode(next) {
    if (!(next in API)) return;
    const file = currentFile;
    const label = source.textContent;
    mode = next;
    body.dataset.mode = next;
    const text = TEXT[next];
    inputTitle.textContent = text.title;
    canvas.setAttribute('aria-label', text.pad);
    placeholder.textContent = text.placeholder;
    for (const input of modeInputs) input.checked = input.value === next;
    startOver(); // the pad changes shape, so a drawing does not carry over; an uploaded image is read again
    fitCanvas();
    if (file) readFile(file, label);
  }

  for (const input of modeInputs) {
    input.addEventListener('change', () => {
      if (input.checked) setMode(input.value);
    });
  }

  // ---- Start ------------------------------------------------------------------------------------

  if (typeof ResizeObserver === 'function') new ResizeObserver(fitCanvas).observe(canvas);
  window.addEventListener('resize', fitCanvas);
  setMode(modeInputs.find((input) => input.checked)?.value || 'digit'); // browsers restore the choice on reload
  setState('idle');
  loadSamples();
  loadModelCard();
})();
