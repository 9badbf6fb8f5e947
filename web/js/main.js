// Digit reader: wires the page's modules together and starts it. No dependencies and no build step;
// runs under the server's CSP (no inline script or style).
import { API, changed } from './api.js';
import { initCorrections } from './corrections.js';
import { $ } from './dom.js';
import { initInputs, loadSamples, readFile, startOver } from './inputs.js';
import { TEXT } from './messages.js';
import { fitCanvas, initPad } from './pad.js';
import { initResult } from './result.js';
import { setPhase, state } from './state.js';

const canvas = $('draw-canvas');
const source = $('source');
const inputTitle = $('input-title');
const placeholder = $('placeholder');
const modelLine = $('model-line');
const modeInputs = Array.from(document.querySelectorAll('input[name="mode"]'));

// One digit or a whole number: the pad changes shape, so a drawing is dropped; an uploaded image is read again.
function setMode(next) {
  if (!(next in API)) return;
  const file = state.currentFile;
  const label = source.textContent;
  state.mode = next;
  document.body.dataset.mode = next;
  const text = TEXT[next];
  inputTitle.textContent = text.title;
  canvas.setAttribute('aria-label', text.pad);
  placeholder.textContent = text.placeholder;
  for (const input of modeInputs) input.checked = input.value === next;
  startOver();
  fitCanvas();
  if (file) readFile(file, label);
}

// The footer names the model and its test accuracy, from the model card; it is optional.
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

initResult();
initPad({ changed, startOver });
initInputs();
for (const input of modeInputs) {
  input.addEventListener('change', () => {
    if (input.checked) setMode(input.value);
  });
}
if (typeof ResizeObserver === 'function') new ResizeObserver(fitCanvas).observe(canvas);
window.addEventListener('resize', fitCanvas);
setMode(modeInputs.find((input) => input.checked)?.value || 'digit'); // browsers restore the choice on reload
setPhase('idle');
loadSamples();
loadModelCard();
initCorrections();
