// The answer: the digit or number, its confidence, the ten probabilities, what the model saw and a box round
// each digit; or what went wrong, in plain words.
import { offerCorrections, withdrawCorrections } from './corrections.js';
import { $, reducedMotion } from './dom.js';
import { MESSAGES, limitText } from './messages.js';
import { updateButtons } from './pad.js';
import { state } from './state.js';

const FIGURE_MAX_HEIGHT = 320; // px; an uploaded number is shown at most this tall with its boxes
const QUOTED = new Set(['internal_error', 'server', 'unknown']); // their server message helps: e.g. a request id

const result = $('result');
const source = $('source');
const answer = document.querySelector('.answer');
const prediction = $('prediction');
const confidence = $('confidence');
const confidenceLabel = document.querySelector('.confidence-label');
const runnerUp = $('runner-up');
const errorBox = $('error');
const barsList = $('probabilities');
const modelInput = $('model-input');
const padBoxes = $('pad-boxes');
const reading = $('reading');
const readingDigits = $('reading-digits');
const readingFigure = $('reading-figure');
const readingFrame = $('reading-frame');
const readingImage = $('reading-image');
const readingBoxes = $('reading-boxes');
const bars = []; // one {item, fill, value} per digit, made by initResult

// Build the ten probability bars.
export function initResult() {
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
}

function percent(p) {
  if (p > 0 && p < 0.0005) return '<0.1%';
  const text = (p * 100).toFixed(1);
  return `${text.endsWith('.0') ? text.slice(0, -2) : text}%`;
}

const isDataUrl = (value) => typeof value === 'string' && value.startsWith('data:image/png;base64,');

// The parts both answers share: the big text, a confidence and an optional runner-up line.
function showAnswer(text, certainty, label, alternative) {
  state.hasResult = true;
  errorBox.hidden = true;
  errorBox.textContent = '';
  prediction.textContent = text;
  confidence.textContent = percent(certainty);
  confidenceLabel.textContent = label;
  runnerUp.textContent = alternative;
  result.classList.add('has-answer');
  updateButtons();
}

// One digit: the answer, the runner-up, ten bars and the 28×28 input.
export function showResult(data) {
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
  offerCorrections([{ input: data.input, digit: data.digit }], data.model);
}

// A whole number: the text, each digit with its confidence and 28×28 input, and a box around each.
export function showReading(data, job) {
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
  offerCorrections(digits, data.model); // each digit: its input and the model's digit
  if (job.kind === 'drawing') {
    drawBoxes(padBoxes, digits, data.skipped ?? [], data.image);
    readingFigure.hidden = true;
  } else {
    padBoxes.replaceChildren();
    readingImage.src = state.previewUrl;
    const { width, height } = data.image;
    readingFrame.style.aspectRatio = `${width} / ${height}`;
    readingFrame.style.width = `min(100%, ${Math.round((FIGURE_MAX_HEIGHT * width) / height)}px)`; // tall images stay short
    drawBoxes(readingBoxes, digits, data.skipped ?? [], data.image);
    readingFigure.hidden = false;
  }
}

// A labelled box per digit, and a dashed one per mark read as none (a separator), placed in percent of the
// image so they scale with it.
function drawBoxes(container, digits, skipped, size) {
  const placed = (className, [x, y, w, h]) => {
    const box = document.createElement('div');
    box.className = className;
    box.style.left = `${(100 * x) / size.width}%`;
    box.style.top = `${(100 * y) / size.height}%`;
    box.style.width = `${(100 * w) / size.width}%`;
    box.style.height = `${(100 * h) / size.height}%`;
    return box;
  };
  const boxes = digits.map((d) => {
    const box = placed('box', d.box);
    box.dataset.digit = String(d.digit);
    const label = document.createElement('span');
    label.className = 'box-label';
    label.textContent = String(d.digit);
    box.append(label);
    return box;
  });
  container.replaceChildren(...boxes, ...skipped.map((m) => placed('mark', m.box)));
}

// Scroll the answer (or the message in its place) into view if it is not wholly on screen.
export function revealAnswer() {
  const target = errorBox.hidden ? answer : errorBox;
  const box = target.getBoundingClientRect();
  if (box.top >= 0 && box.bottom <= window.innerHeight) return;
  target.scrollIntoView({ block: 'nearest', behavior: reducedMotion.matches ? 'auto' : 'smooth' });
}

// Take the answer or the error away.
export function resetResult() {
  state.hasResult = false;
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
  withdrawCorrections();
  if (!state.strokes.length && !state.previewUrl) source.textContent = '';
}

// Say what went wrong: the code's title and hint, with the limit the error's fields name.
export function showError(code, serverMessage, fields = {}) {
  resetResult();
  const [title, hint] = MESSAGES[code] || MESSAGES.unknown;
  const strong = document.createElement('strong');
  strong.textContent = title;
  const detail = document.createElement('span');
  detail.className = 'error-detail';
  detail.textContent = hint;
  const limit = limitText(fields);
  if (limit) {
    detail.textContent = `${limit} ${hint}`; // e.g. "The limit is 10 MB."
  } else if (serverMessage && QUOTED.has(code)) {
    detail.textContent = `${hint} (${serverMessage})`; // e.g. the request id to quote
  }
  errorBox.replaceChildren(strong, ' ', detail);
  errorBox.dataset.code = code;
  errorBox.hidden = false;
  updateButtons();
}
