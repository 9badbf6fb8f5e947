// The page's elements, looked up by id.
export const $ = (id) => document.getElementById(id);

// The reader asked for less motion: no animated drawing or scrolling.
export const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');
