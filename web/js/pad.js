// The drawing pad: strokes from a mouse, finger or pen, drawn smooth; Undo and Clear; the drawing as a PNG.
import { $ } from './dom.js';
import { state } from './state.js';

export const PEN = 1 / 13; // line width as a fraction of the pad's height (MNIST: ~2.5 px strokes on a 20 px digit)
const INK = '#111111';
const EXPORT_SIDE = 280; // px, the exported drawing's height whatever the screen; its width follows the pad

const canvas = $('draw-canvas');
const ctx = canvas.getContext('2d');
const pad = $('pad');
const undoButton = $('undo');
const clearButton = $('clear');
const errorBox = $('error');
const source = $('source');

// Draw strokes (0..1 coordinates) onto a 2D context of the given size.
export function paint(target, width, height, list, lineWidth) {
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

// Draw the pad's strokes again, now.
export function redraw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  paint(ctx, canvas.width, canvas.height, state.strokes, canvas.height * PEN);
  pad.classList.toggle('has-ink', state.strokes.length > 0);
}

function scheduleRedraw() {
  if (state.redrawPending) return;
  state.redrawPending = true;
  requestAnimationFrame(() => {
    state.redrawPending = false;
    redraw();
  });
}

// Size the canvas to its box in device pixels, so strokes are crisp, and redraw.
export function fitCanvas() {
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

// The pad's width over its height: 1 for a digit, wider for a number.
export function padAspect() {
  const rect = canvas.getBoundingClientRect();
  return rect.height > 0 ? rect.width / rect.height : 1;
}

// The drawing as a PNG: dark ink on white, EXPORT_SIDE high and as wide as the pad's shape, the same pen as on screen.
export function exportDrawing() {
  const height = EXPORT_SIDE;
  const width = Math.round(EXPORT_SIDE * padAspect());
  const out = document.createElement('canvas');
  out.width = width;
  out.height = height;
  const c = out.getContext('2d');
  c.fillStyle = '#ffffff';
  c.fillRect(0, 0, width, height);
  paint(c, width, height, state.strokes, height * PEN);
  // Encoded at once (toBlob would wait a task): a stroke's last reading leaves while its pointerup is handled.
  const bytes = atob(out.toDataURL('image/png').split(',')[1]);
  return new Blob([Uint8Array.from(bytes, (ch) => ch.charCodeAt(0))], { type: 'image/png' });
}

// Stop a sample drawing itself; true if one was.
export function stopReplay() {
  if (!state.replay) return false;
  cancelAnimationFrame(state.replay);
  state.replay = 0;
  return true;
}

// Undo needs strokes; Clear needs anything to clear.
export function updateButtons() {
  undoButton.disabled = state.strokes.length === 0;
  clearButton.disabled = state.strokes.length === 0 && !state.previewUrl && !state.hasResult && errorBox.hidden;
}

function pointOf(event) {
  const rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height];
}

// Add a point to the stroke being drawn; false if it is too close to the last to count.
function addPoint(point) {
  const last = state.current[state.current.length - 1];
  if (last && Math.hypot(point[0] - last[0], point[1] - last[1]) < 0.002) return false;
  state.current.push(point);
  return true;
}

// Wire drawing, Undo, Clear and Ctrl+Z; changed(now) reads the drawing, startOver() forgets input and answer.
export function initPad({ changed, startOver }) {
  canvas.addEventListener('pointerdown', (event) => {
    if (state.activePointer !== null) return;
    if (event.pointerType === 'mouse' && event.button !== 0) return;
    event.preventDefault();
    stopReplay();
    try {
      canvas.setPointerCapture(event.pointerId);
    } catch {
      // Capture is a nicety: strokes leaving the pad still end on pointerup elsewhere.
    }
    if (state.previewUrl) startOver(); // a new drawing replaces an uploaded image
    state.reveal = false; // never scroll the page under the pen
    state.activePointer = event.pointerId;
    state.current = [pointOf(event)];
    state.strokes.push(state.current);
    source.textContent = 'your drawing';
    scheduleRedraw();
    changed(false);
  });

  canvas.addEventListener('pointermove', (event) => {
    if (event.pointerId !== state.activePointer) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
    let moved = false;
    for (const e of events.length ? events : [event]) moved = addPoint(pointOf(e)) || moved;
    if (!moved) return; // a resting finger's jitter: the pen has paused, and its reading is due
    scheduleRedraw();
    changed(false);
  });

  function endStroke(event) {
    if (event.pointerId !== state.activePointer) return;
    state.activePointer = null;
    state.current = null;
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

  function undo() {
    if (state.activePointer !== null) return;
    const wasReplaying = stopReplay();
    state.strokes.pop();
    if (!state.strokes.length) {
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
}
