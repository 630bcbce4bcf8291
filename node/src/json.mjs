// JSON text for an event that Lambda's runtime parsed: JSON.stringify first,
// and when the value is too deep for its recursion (a RangeError, at about
// 10,000 levels in Node 20), the same text from a loop with its own stack.
// The guest then answers as it does in the Rust host, which gets Lambda's
// bytes as they are; a function error would be no answer at all.

/** `JSON.stringify(value)` for any depth; `'null'` for `undefined`. */
export function stringify(value) {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return stringifyDeep(value);
  }
}

/** What JSON.stringify writes for a value that is not an object or array. */
const leaf = (v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? JSON.stringify(v) : 'null');
const isContainer = (v) => v !== null && typeof v === 'object';

export function stringifyDeep(value) {
  const out = [];
  // Each frame: the container, its keys (null for an array), the next index.
  const stack = [];
  const open = (v) => {
    if (!isContainer(v)) return out.push(leaf(v));
    const keys = Array.isArray(v) ? null : Object.keys(v).filter((k) => v[k] !== undefined && typeof v[k] !== 'function');
    out.push(keys ? '{' : '[');
    stack.push({ v, keys, i: 0 });
  };
  open(value);
  while (stack.length > 0) {
    const frame = stack.at(-1);
    const length = frame.keys ? frame.keys.length : frame.v.length;
    if (frame.i === length) {
      out.push(frame.keys ? '}' : ']');
      stack.pop();
      continue;
    }
    if (frame.i > 0) out.push(',');
    const i = frame.i++;
    if (frame.keys) {
      out.push(JSON.stringify(frame.keys[i]), ':');
      open(frame.v[frame.keys[i]]);
    } else {
      const item = frame.v[i];
      open(item === undefined || typeof item === 'function' ? null : item);
    }
  }
  return out.join('');
}
