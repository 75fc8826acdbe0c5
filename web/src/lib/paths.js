/** Reads "a.b.c" from nested objects (auth mode fields may name nested settings, e.g. "oauth.client_id"). */
export function getPath(obj, path) {
  return String(path)
    .split('.')
    .reduce((o, key) => (o && typeof o === 'object' ? o[key] : undefined), obj);
}

/** Sets "a.b.c" in nested objects, making the objects on the way. */
export function setPath(obj, path, value) {
  const keys = String(path).split('.');
  let o = obj;
  for (const key of keys.slice(0, -1)) {
    if (!o[key] || typeof o[key] !== 'object') o[key] = {};
    o = o[key];
  }
  o[keys[keys.length - 1]] = value;
  return obj;
}
