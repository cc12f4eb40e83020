// logger: writes N numbered lines to stderr (N from the first argument,
// default 10).
const std = @import("std");

pub fn main(init: std.process.Init.Minimal) !void {
    var it = try init.args.iterateAllocator(std.heap.wasm_allocator);
    _ = it.skip();
    const n = if (it.next()) |s| try std.fmt.parseInt(u64, s, 10) else 10;
    var i: u64 = 1;
    while (i <= n) : (i += 1) {
        std.debug.print("line {d:0>8}: the quick brown fox jumps over the lazy dog\n", .{i});
    }
}
