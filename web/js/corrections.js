// "That's wrong": beside each answer (one digit, or each digit of a number) say what it really is and, by an
// explicit press each time, send it to be kept. Offered only when the server says corrections are on.
import { $ } from './dom.js';
import { MESSAGES } from './messages.js';

const ENDPOINT = '/api/v1/corrections';

const panel = $('correct');
const list = $('correct-digits');
const sendButton = $('correct-send');
const status = $('correct-status');
let offered = { items: [], model: '' }; // the answer on show: each digit's 28×28 input and the model's digit
let enabled = false;

// Ask the server whether it keeps corrections (GET /healthz says so); without a yes the panel stays hidden.
export async function initCorrections() {
  try {
    const response = await fetch('/healthz', { headers: { Accept: 'application/json' } });
    const health = response.ok ? await response.json() : null;
    enabled = Boolean(health && health.corrections === true);
  } catch {
    enabled = false;
  }
  document.body.dataset.corrections = enabled ? 'on' : 'off';
  sendButton.addEventListener('click', send);
  if (enabled && offered.items.length) render();
}

// A new answer: one choice per digit, none made yet.
export function offerCorrections(items, model) {
  offered = { items: items.filter((item) => isPng(item.input)), model: typeof model === 'string' ? model : '' };
  status.textContent = '';
  delete status.dataset.outcome;
  render();
}

// The answer is gone: nothing to correct.
export function withdrawCorrections() {
  offered = { items: [], model: '' };
  list.replaceChildren();
  panel.hidden = true;
}

const isPng = (value) => typeof value === 'string' && value.startsWith('data:image/png;base64,');

function render() {
  const many = offered.items.length > 1;
  list.replaceChildren(
    ...offered.items.map((item, i) => {
      const row = document.createElement('li');
      row.className = 'correct-digit';
      const seen = document.createElement('img');
      seen.width = 28;
      seen.height = 28;
      seen.src = item.input;
      seen.alt = many ? `Digit ${i + 1} as the model saw it` : 'The digit as the model saw it';
      const label = document.createElement('label');
      const name = many ? `Digit ${i + 1}, read as ${item.digit}, is really` : `Read as ${item.digit}, it is really`;
      label.append(name, ' ');
      const select = document.createElement('select');
      select.dataset.testid = 'correct-select';
      select.dataset.index = String(i);
      select.append(new Option('—', ''));
      for (let d = 0; d < 10; d += 1) {
        if (d !== item.digit) select.append(new Option(String(d), String(d)));
      }
      select.addEventListener('change', updateSend);
      label.append(select);
      row.append(seen, label);
      return row;
    }),
  );
  panel.hidden = !enabled || !offered.items.length;
  updateSend();
}

function chosen() {
  return Array.from(list.querySelectorAll('select'))
    .filter((select) => select.value !== '')
    .map((select) => ({ item: offered.items[Number(select.dataset.index)], label: Number(select.value) }));
}

function updateSend() {
  sendButton.disabled = chosen().length === 0;
}

// The one place anything is sent: this button, pressed. Each corrected digit is one POST.
async function send() {
  const picks = chosen();
  if (!picks.length) return;
  sendButton.disabled = true;
  status.textContent = 'Sending…';
  let failure = null;
  for (const { item, label } of picks) {
    const body = { image: item.input, label, predicted: item.digit, model: offered.model };
    try {
      const response = await fetch(ENDPOINT, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        failure = data && typeof data.code === 'string' && data.code in MESSAGES ? data.code : 'unknown';
        break;
      }
    } catch {
      failure = 'network';
      break;
    }
  }
  if (failure) {
    const [title, hint] = MESSAGES[failure];
    status.textContent = `Not sent: ${title} ${hint}`;
    status.dataset.outcome = 'error';
    updateSend();
    return;
  }
  status.textContent = picks.length > 1 ? `Thank you: ${picks.length} corrections kept.` : 'Thank you: correction kept.';
  status.dataset.outcome = 'sent';
  for (const select of list.querySelectorAll('select')) select.value = '';
  updateSend();
}
