// The page's one mutable state: every module reads and writes it here and keeps nothing else that changes.
import { $ } from './dom.js';

export const state = {
  mode: 'digit', // 'digit': /predict, one digit; 'number': /read, every digit left to right
  strokes: [], // each stroke: an array of [x, y] in 0..1 of the pad's width and height
  current: null, // the stroke being drawn
  activePointer: null, // the pointer drawing it
  redrawPending: false, // a redraw is booked for the next animation frame
  replay: 0, // requestAnimationFrame id of a sample being drawn
  sourceId: 0, // bumps when the input is replaced or reset: older answers are dropped
  revision: 0, // bumps on every change of the input
  queued: null, // the next request to send: {kind: 'drawing'} or {kind: 'file', file}, with its mode
  inFlight: false, // a request is on its way: at most one at a time
  liveTimer: 0, // the pending live reading while drawing
  reveal: false, // bring the answer into view when it comes: the input was a sample or an upload, not the pen
  previewUrl: null, // object URL of the uploaded image
  currentFile: null, // the uploaded image, read again when the mode changes
  hasResult: false, // an answer is shown
  internalDrag: false, // a drag that started on this page (selected text, a thumbnail): not an upload
  dragDepth: 0, // dragenter minus dragleave of a drag carrying files
};

const result = $('result');

// Show the page's phase ('idle', 'loading', 'done' or 'error') to CSS, screen readers and tests.
export function setPhase(phase) {
  document.body.dataset.state = phase;
  result.dataset.state = phase;
  result.setAttribute('aria-busy', String(phase === 'loading'));
}
