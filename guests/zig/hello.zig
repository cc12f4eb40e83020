// hello: one line to stdout, one to stderr, exit 0.
const std = @import("std");

pub fn main() void {
    writeFd(1, "hello from zig\n");
    std.debug.print("hello from zig on stderr\n", .{});
}

// One fd_write, straight through WASI: Zig's std I/O API changes between
// releases, this call does not.
fn writeFd(fd: std.os.wasi.fd_t, text: []const u8) void {
    var written: usize = 0;
    const iov = [_]std.os.wasi.ciovec_t{.{ .base = text.ptr, .len = text.len }};
    _ = std.os.wasi.fd_write(fd, &iov, iov.len, &written);
}
