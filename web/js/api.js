// Reading: at most one request in flight, the latest input always sent last; answers and errors go to result.js.
import { MESSAGES } from './messages.js';
import { exportDrawing, updateButtons } from './pad.js';
import { revealAnswer, showError, showReading, showResult } from './result.js';
import { setPhase, state } from './state.js';

export const API = { digit: '/api/v1/predict', number: '/api/v1/read' };
// While the pen is down the drawing is read when it rests this long (ms), and always at a stroke's end: a digit
// costs about a request per stroke, where a reading every 200 ms of drawing cost a dozen.
const LIVE_PAUSE = 150;
const REQUEST_TIMEOUT = 30000;

// The drawing changed: read it now (end of a stroke) or once the pen rests (while drawing).
export function changed(now) {
  state.revision += 1;
  setPhase('loading');
  updateButtons();
  clearTimeout(state.liveTimer);
  state.liveTimer = 0;
  if (now) {
    request({ kind: 'drawing' });
  } else {
    state.liveTimer = setTimeout(() => {
      state.liveTimer = 0;
      request({ kind: 'drawing' });
    }, LIVE_PAUSE);
  }
}

// Read this input in the current mode, after the request in flight if there is one.
export function request(job) {
  job.mode = state.mode;
  state.queued = job; // a newer job replaces one that has not been sent yet
  setPhase('loading');
  pump();
}

// Forget the readings not sent yet and drop the answer of the one in flight: its input is gone.
export function cancelReadings() {
  clearTimeout(state.liveTimer);
  state.liveTimer = 0;
  state.queued = null;
  state.reveal = false;
  state.sourceId += 1;
  state.revision += 1;
}

async function pump() {
  if (state.inFlight || !state.queued) return;
  const job = state.queued;
  state.queued = null;
  state.inFlight = true;
  const jobSource = state.sourceId;
  const jobRevision = state.revision;
  let outcome;
  try {
    let init;
    if (job.kind === 'drawing') {
      init = { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: exportDrawing() };
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
  state.inFlight = false;
  if (jobSource === state.sourceId) {
    const latest = jobRevision === state.revision && !state.queued && !state.liveTimer;
    if (outcome.ok) {
      if (outcome.kind === 'number') showReading(outcome.data, job);
      else showResult(outcome.data);
      if (latest) setPhase('done');
    } else if (latest) {
      showError(outcome.code, outcome.message, outcome.fields);
      setPhase('error');
    }
    // A failed reading of a drawing that has changed since is not worth a message: a newer one is coming.
    // The answer to a sample or an upload may be off screen (on a phone the samples sit below it): show it.
    if (latest && state.reveal) {
      state.reveal = false;
      revealAnswer();
    }
  }
  pump();
}

function isAnswer(data, kind) {
  if (!data) return false;
  if (kind === 'number') return typeof data.text === 'string' && Array.isArray(data.digits) && Boolean(data.image);
  return Number.isInteger(data.digit) && Array.isArray(data.probabilities);
}

// An answer, or an error: its code (one the page has words for), the server's message and the error's fields.
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
  return { ok: false, code, message, fields: data && typeof data === 'object' ? data : {} };
}
