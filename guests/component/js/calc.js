// calc: the JavaScript component guest of `--invoke`. A library of
// functions taking and returning WIT values (numbers, strings, lists,
// records, options, results); `greet` also writes a line to stderr.
export function add(a, b) {
  return (a + b) | 0;
}

export function greet(name, times) {
  console.error(`greeting ${name} ${times} times`);
  return Array.from({ length: times }, (_, i) => `hello ${name} #${i + 1}`);
}

export function reset() {}

export const math = {
  addPoints(a, b) {
    return { x: a.x + b.x, y: a.y + b.y };
  },
  divide(a, b) {
    if (b === 0) {
      throw 'division by zero';
    }
    return a / b;
  },
  describe() {
    return 'math';
  },
};

export const text = {
  firstWord(s) {
    const word = s.trim().split(/\s+/)[0];
    return word ? word : undefined;
  },
  describe() {
    return 'text';
  },
};
