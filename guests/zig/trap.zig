// trap: reaches @trap() (wasm `unreachable`) after writing to stderr.
const std = @import("std");

pub fn main() void {
    std.debug.print("about to trap\n", .{});
    explode();
}

noinline fn explode() noreturn {
    @trap();
}
