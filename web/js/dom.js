// The page's elements, looked up by id.
export const $ = (id) => document.getElementById(id);
