// logger: writes N numbered lines to stderr (N from the first argument,
// default 10).
const n: i32 = process.argv.length > 1 ? I32.parseInt(process.argv[1]) : 10;
for (let i: i32 = 1; i <= n; i++) {
  process.stderr.write("line " + i.toString() + ": the quick brown fox jumps over the lazy dog\n");
}
