// The objects decoded YAML mappings become: no prototype, so a key such as "constructor" or
// "toString" is only ever the user's own, and V8's fast mode with one hidden class per shape.

/**
 * A new, empty, prototype-free object to fill. The prototype goes first: an object detached after
 * filling gets a hidden class of its own, and Object.freeze then copies it again, for every object
 * (a third of the loaded heap at 10,000 resources). Object.create(null) would start in dictionary mode.
 */
export function nullRecord<T = unknown>(): Record<string, T> {
  return Object.setPrototypeOf({}, null) as Record<string, T>;
}
