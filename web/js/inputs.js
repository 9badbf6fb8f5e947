// The input being read: an image chosen, dropped or pasted, or sample digits; and starting over without one.
import { cancelReadings, changed, request } from './api.js';
import { $, reducedMotion } from './dom.js';
import { TEXT, formatBytes } from './messages.js';
import { PEN, padAspect, paint, redraw, stopReplay, updateButtons } from './pad.js';
import { resetResult, revealAnswer, showError } from './result.js';
import { setPhase, state } from './state.js';

const SAMPLE_GAP = 0.04; // in number mode, samples are written this far apart (fraction of the pad's width)
const NUMBER_SAMPLE_HEIGHT = 0.6; // in number mode, a sample's box as a fraction of the pad's height
const SAMPLE_MARGIN = 0.15; // samples are drawn inside this margin of the pad
const REPLAY_MS = 550; // how long a sample takes to draw itself

const dropzone = $('dropzone');
const fileInput = $('upload-input');
const preview = $('preview');
const previewName = $('preview-name');
const source = $('source');
const samplesBox = $('samples');

// Forget the input and the answer.
export function startOver() {
  stopReplay();
  cancelReadings();
  state.strokes = [];
  state.current = null;
  state.activePointer = null;
  clearPreview();
  resetResult();
  redraw();
  setPhase('idle');
  updateButtons();
}

function clearPreview() {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = null;
  state.currentFile = null;
  preview.hidden = true;
  preview.removeAttribute('src');
  previewName.textContent = TEXT[state.mode].upload;
  dropzone.classList.remove('has-preview');
}

// Show an image in the drop zone, named `label` (else its file name), and read it.
export function readFile(file, label) {
  startOver();
  state.currentFile = file;
  state.previewUrl = URL.createObjectURL(file);
  preview.src = state.previewUrl;
  preview.hidden = false;
  dropzone.classList.add('has-preview');
  const name = label || file.name || 'image';
  previewName.textContent = `${name} · ${formatBytes(file.size)}`;
  source.textContent = name;
  updateButtons();
  request({ kind: 'file', file });
  showAnswerSoon();
}

// A sample or an upload is read where the answer may be off screen (on a phone, below it): bring the answer into
// view now, and again when it comes, in case the page has moved.
function showAnswerSoon() {
  state.reveal = true;
  revealAnswer();
}

function pickFile(files) {
  const list = Array.from(files || []);
  return list.find((f) => f.type.startsWith('image/')) || list[0] || null;
}

const carriesFiles = (event) =>
  Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes('Files');

// Wire the file chooser, drag and drop (anywhere on the page) and paste.
export function initInputs() {
  preview.addEventListener('error', () => {
    preview.hidden = true; // not a picture the browser can show; the server will say what it makes of it
  });

  fileInput.addEventListener('change', () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) readFile(file);
    fileInput.value = ''; // choosing the same file again still reads it
  });

  document.addEventListener('dragstart', () => {
    state.internalDrag = true;
  });
  document.addEventListener('dragend', () => {
    state.internalDrag = false;
  });
  document.addEventListener('dragenter', (event) => {
    if (state.internalDrag) return;
    event.preventDefault();
    if (!carriesFiles(event)) return;
    state.dragDepth += 1;
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragover', (event) => {
    if (state.internalDrag || !event.dataTransfer) return;
    event.preventDefault(); // accept the drop, so the browser does not open the file instead
    event.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    state.dragDepth = Math.max(0, state.dragDepth - 1);
    if (!state.dragDepth) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (event) => {
    state.dragDepth = 0;
    document.body.classList.remove('dragging');
    if (state.internalDrag || !event.dataTransfer) return;
    event.preventDefault();
    const file = pickFile(event.dataTransfer.files);
    if (file) {
      readFile(file);
    } else {
      // A link or a picture dragged from another page: say what to do rather than nothing.
      showError('not_a_file');
      setPhase('error');
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
}

// ---- Samples ------------------------------------------------------------------------------------

const toPad = ([x, y]) => [SAMPLE_MARGIN + x * (1 - 2 * SAMPLE_MARGIN), SAMPLE_MARGIN + y * (1 - 2 * SAMPLE_MARGIN)];

// Number mode: the sample's strokes just right of what is drawn, or null when the pad is full.
function placeAfterInk(paths) {
  const aspect = padAspect();
  const xs = paths.flat().map(([x]) => x);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const scaleX = NUMBER_SAMPLE_HEIGHT / aspect;
  const inkRight = state.strokes.flat().reduce((right, [x]) => Math.max(right, x), -Infinity);
  const left = Number.isFinite(inkRight) ? inkRight + SAMPLE_GAP : SAMPLE_MARGIN / aspect;
  if (left + (x1 - x0) * scaleX > 1 - SAMPLE_MARGIN / aspect) return null;
  const top = (1 - NUMBER_SAMPLE_HEIGHT) / 2;
  return paths.map((stroke) => stroke.map(([x, y]) => [left + (x - x0) * scaleX, top + y * NUMBER_SAMPLE_HEIGHT]));
}

// Number mode: write the sample after the digits already there, so samples spell a number.
function appendSample(paths) {
  stopReplay();
  if (state.previewUrl) startOver();
  let placed = placeAfterInk(paths);
  if (!placed) {
    startOver(); // the pad is full: start a new number
    placed = placeAfterInk(paths);
  }
  state.strokes.push(...placed);
  source.textContent = 'your drawing';
  redraw();
  changed(true);
  showAnswerSoon();
}

// Digit mode: the sample draws itself on an empty pad, point by point, and is read as it goes.
function playSample(digit, paths) {
  if (state.mode === 'number') {
    appendSample(paths);
    return;
  }
  startOver();
  showAnswerSoon();
  const target = paths.map((stroke) => stroke.map(toPad));
  source.textContent = `sample ${digit}`;
  if (reducedMotion.matches) {
    state.strokes = target;
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
      if (index === 0) state.strokes.push([]);
      state.strokes[state.strokes.length - 1].push(target[s][index]);
    }
    redraw();
    if (drawn < total) {
      state.replay = requestAnimationFrame(step);
      changed(false);
    } else {
      state.replay = 0;
      changed(true);
    }
  };
  state.replay = requestAnimationFrame(step);
  setPhase('loading');
}

// A button with a thumbnail for each sample digit in samples.json; the block hides if they cannot be loaded.
export async function loadSamples() {
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
