// exit: exits with the code given as the first argument.
const std = @import("std");

pub fn main(init: std.process.Init.Minimal) !void {
    var it = try init.args.iterateAllocator(std.heap.wasm_allocator);
    _ = it.skip();
    const code = if (it.next()) |s| try std.fmt.parseInt(u8, s, 10) else 0;
    std.process.exit(code);
}
