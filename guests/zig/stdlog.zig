// stdlog: logs through Zig's std.log (default and scoped), whose default
// handler writes `level: msg` and `level(scope): msg` to stderr.
const std = @import("std");

pub const std_options: std.Options = .{ .log_level = .debug };

const net = std.log.scoped(.net);

pub fn main() void {
    std.log.err("disk full", .{});
    std.log.warn("low memory: {d} KiB", .{512});
    std.log.info("started", .{});
    net.warn("slow peer {s}", .{"10.0.0.7"});
    net.debug("retry {d}", .{3});
}
