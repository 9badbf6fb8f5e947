// What the page says, in plain words: a title and a hint for each error, and the words that change with the mode.

const RETRY = ['The upload didn’t come through.', 'Please try again.'];
const RELOAD = ['The page and the server don’t agree.', 'Reload the page and try again.'];
const OUR_SIDE = ['Something went wrong on our side.', 'Please try again in a moment.'];

// Every code the server answers (server/errors.py CODES; tests/test_error_codes.py keeps the two in step).
const SERVER_MESSAGES = {
  no_digit: ['No digit found — draw or upload a digit.', 'The image looks blank: nothing stands out from the background.'],
  too_complex: ['That’s too much to read as one number.', 'Write just the number, or crop the picture close around it.'],
  invalid_image: [
    'That file isn’t an image we can read.',
    'Try a PNG, JPEG, WebP, GIF, BMP or TIFF picture of one digit.',
  ],
  unsupported_media_type: ['That kind of file isn’t supported.', 'Try a PNG, JPEG, WebP, GIF, BMP or TIFF image.'],
  too_large: ['That image is too large.', 'Try a smaller picture or a screenshot of the digit.'],
  invalid_multipart: RETRY,
  missing_image: RETRY,
  length_required: RETRY,
  rate_limited: ['That’s a lot of corrections at once.', 'Please wait a minute before sending another.'],
  upload_timeout: ['The upload took too long.', 'Check your connection and try again.'],
  request_timeout: ['The server stopped waiting for the request.', 'Check your connection and try again.'],
  bad_request: RELOAD,
  not_found: RELOAD,
  method_not_allowed: RELOAD,
  internal_error: OUR_SIDE,
};

// Failures the page finds itself, without a code from the server.
const PAGE_MESSAGES = {
  not_a_file: ['That wasn’t an image file.', 'Save the picture first, then drop, paste or choose the file.'],
  network: ['Can’t reach the server.', 'Check your connection and try again.'],
  timeout: ['The server took too long to answer.', 'Please try again in a moment.'],
  server: OUR_SIDE,
  unknown: ['Something went wrong.', 'Please try again.'],
};

export const MESSAGES = { ...SERVER_MESSAGES, ...PAGE_MESSAGES };

export const TEXT = {
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

// A size in bytes, in the unit people read it in.
export function formatBytes(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${Number((n / 1024 / 1024).toFixed(1))} MB`;
}

// The limit an error's JSON names (limit_bytes, limit_pixels or limit_seconds) as a sentence, or ''.
export function limitText(fields) {
  const given = (n) => Number.isFinite(n) && n > 0;
  if (given(fields.limit_bytes)) return `The limit is ${formatBytes(fields.limit_bytes)}.`;
  if (given(fields.limit_pixels)) return `The limit is ${Number((fields.limit_pixels / 1e6).toFixed(1))} megapixels.`;
  if (given(fields.limit_seconds)) return `The limit is ${fields.limit_seconds} seconds.`;
  return '';
}
